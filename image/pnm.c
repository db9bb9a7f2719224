/* image/pnm.c: PNM (PBM/PGM/PPM, P1-P6) decoder producing packed 8-bit RGB, byte-identical to
 * Pillow 9.4's Image.open(f).convert('RGB').
 *
 * The header is read token by token as Pillow's PpmImageFile does: white space is
 * " \t\n\v\f\r", '#' starts a comment that runs to the next CR or LF (also inside a token,
 * whose characters then continue after it), a token is at most 10 characters and the pixel
 * data starts right after the one white-space character that ends the last header token.
 * Pillow's conversions:
 *   - P1/P4 are bilevel (1 = black); P2/P5/P3/P6 with maxval 255 are taken as they are;
 *   - other maxvals are scaled to 0..255 with Python's round(v / maxval * 255) (round half to
 *     even, on doubles), binary samples above maxval are clipped;
 *   - gray with maxval > 255 (P2/P5) opens in mode "I", scaled to 0..65535 instead (P5 with
 *     maxval 65535 is taken as it is), and convert('RGB') clips that at 255, so most of such an
 *     image is white;
 *   - plain (ASCII) data: comments are removed first (to and including the CR/LF), a sample
 *     above maxval, a token longer than 10 characters or that is not a number is an error, and
 *     P1 accepts only '0'/'1' (white space optional) in all of the data Pillow reads (1 MiB
 *     blocks up to the last pixel);
 *   - data ending before the last pixel is an error; bytes after it are ignored.
 * P7 (PAM) is refused as Pillow refuses it (image/decode.c names it). */
#include "../jclip_base.h"
#include "image.h"

#define JC_PNM_BLOCK (1u << 20) /* Pillow's ImageFile.SAFEBLOCK: plain data is read in blocks */

typedef struct {
    int kind;         /* 1..6 */
    uint32_t w, h;
    long maxval;      /* 1 for P1/P4 */
    size_t data;      /* offset of the pixel data */
} jc_pnm_hdr;

static int jc_pnm_space(uint8_t c) { return c == ' ' || (c >= 9 && c <= 13); }

/* Python's int() on a token of bytes: optional sign, ASCII digits with single underscores
 * between them. Returns 0 when it is not a number; values saturate at LONG_MAX. */
static int jc_pnm_int(const uint8_t *t, size_t n, long *out)
{
    size_t i = 0;
    int neg = 0, digits = 0;
    long v = 0;
    if (i < n && (t[i] == '+' || t[i] == '-')) neg = t[i++] == '-';
    for (; i < n; i++) {
        if (t[i] == '_') {
            if (!digits || i + 1 >= n || t[i + 1] == '_') return 0;
            continue;
        }
        if (t[i] < '0' || t[i] > '9') return 0;
        v = v > (LONG_MAX - 9) / 10 ? LONG_MAX : v * 10 + (t[i] - '0');
        digits++;
    }
    if (!digits) return 0;
    *out = neg ? -v : v;
    return 1;
}

/* Pillow's _read_token: returns 1 with the token's value, or fails with a message. */
static int jc_pnm_token(const uint8_t *d, size_t n, size_t *pos, long *val, char *err, size_t errcap)
{
    uint8_t tok[12];
    size_t tn = 0, p = *pos;
    while (tn <= 10) {
        if (p >= n) break;
        uint8_t c = d[p++];
        if (jc_pnm_space(c)) {
            if (!tn) continue;
            break;
        }
        if (c == '#') {
            while (p < n && d[p] != '\r' && d[p] != '\n') p++;
            if (p < n) p++;
            continue;
        }
        tok[tn++] = c;
    }
    *pos = p;
    if (tn == 0) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "pnm: file ends inside the header");
    if (tn > 10) return jc_fail(err, errcap, JC_ERR_FORMAT, "pnm: header token longer than 10 characters");
    if (!jc_pnm_int(tok, tn, val)) return jc_fail(err, errcap, JC_ERR_FORMAT, "pnm: a header token is not a number");
    return JC_OK;
}

static int jc_pnm_read_header(const uint8_t *d, size_t n, jc_pnm_hdr *h, char *err, size_t errcap)
{
    memset(h, 0, sizeof *h);
    /* Magic: up to 6 characters before white space. */
    size_t p = 0, mlen = 0;
    while (p < n && mlen < 6) {
        uint8_t c = d[p++];
        if (jc_pnm_space(c)) break;
        mlen++;
    }
    if (mlen != 2 || d[0] != 'P' || d[1] < '1' || d[1] > '6') return jc_fail(err, errcap, JC_ERR_FORMAT, "pnm: bad magic number");
    h->kind = d[1] - '0';
    long v[3] = {0, 0, 1};
    int ntok = (h->kind == 1 || h->kind == 4) ? 2 : 3;
    for (int k = 0; k < ntok; k++) {
        int rc = jc_pnm_token(d, n, &p, &v[k], err, errcap);
        if (rc != JC_OK) return rc;
    }
    if (v[0] <= 0 || v[1] <= 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "pnm: bad size %ldx%ld", v[0], v[1]);
    if (v[0] > 0x7fffffffL || v[1] > 0x7fffffffL) return jc_fail(err, errcap, JC_ERR_LIMIT, "pnm: size %ldx%ld too large", v[0], v[1]);
    if (v[2] <= 0 || v[2] >= 65536) return jc_fail(err, errcap, JC_ERR_FORMAT, "pnm: maxval %ld not in 1..65535", v[2]);
    h->w = (uint32_t)v[0];
    h->h = (uint32_t)v[1];
    h->maxval = v[2];
    h->data = p;
    return JC_OK;
}

static void jc_pnm_fill_info(const jc_pnm_hdr *h, jc_image_info *info)
{
    memset(info, 0, sizeof *info);
    info->format = JC_FORMAT_PNM;
    info->width = h->w;
    info->height = h->h;
    int color = h->kind == 3 || h->kind == 6;
    info->components = color ? 3 : 1;
    info->bit_depth = (h->kind == 1 || h->kind == 4) ? 1 : h->maxval > 255 ? 16 : 8;
    info->progressive = 0;
    info->frames = 1;
    snprintf(info->color, sizeof info->color, "%s", color ? "rgb" : "gray");
}

static JC_UNUSED int jc_pnm_info(const uint8_t *data, size_t len, jc_image_info *info, char *err, size_t errcap)
{
    jc_pnm_hdr h;
    if (!info) return jc_fail(err, errcap, JC_ERR_ARG, "pnm: NULL info");
    if (!data) return jc_fail(err, errcap, JC_ERR_ARG, "pnm: NULL data");
    int rc = jc_pnm_read_header(data, len, &h, err, errcap);
    if (rc == JC_OK) jc_pnm_fill_info(&h, info);
    return rc;
}

/* Python's round(v / maxval * out_max), clipped to 255 (what every mode becomes in RGB). */
static uint8_t jc_pnm_scale(long v, long maxval, double out_max)
{
    double x = (double)v / (double)maxval * out_max;
    double f = floor(x), r = x - f;
    if (r > 0.5 || (r == 0.5 && fmod(f, 2.0) != 0.0)) f += 1.0;
    return f >= 255.0 ? 255 : f <= 0.0 ? 0 : (uint8_t)f;
}

/* Samples 0..maxval to output bytes for this header (a table: maxval < 65536). */
static void jc_pnm_table(const jc_pnm_hdr *h, uint8_t *tab)
{
    int gray16 = (h->kind == 2 || h->kind == 5) && h->maxval > 255; /* Pillow mode "I" */
    for (long v = 0; v <= h->maxval; v++) tab[v] = jc_pnm_scale(v, h->maxval, gray16 ? 65535.0 : 255.0);
}

/* Binary P4/P5/P6. */
static int jc_pnm_binary(const uint8_t *d, size_t n, const jc_pnm_hdr *h, const uint8_t *tab, uint8_t *rgb, char *err, size_t errcap)
{
    size_t w = h->w, bands = h->kind == 6 ? 3 : 1, in = h->maxval > 255 ? 2 : 1, rowbytes, need;
    if (h->kind == 4) rowbytes = (w + 7) / 8;
    else if (!jc_mul3(w, bands, in, &rowbytes)) return jc_fail(err, errcap, JC_ERR_LIMIT, "pnm: row size overflows");
    if (!jc_mul(rowbytes, h->h, &need)) return jc_fail(err, errcap, JC_ERR_LIMIT, "pnm: image data size overflows");
    if (h->data > n || n - h->data < need)
        return jc_fail(err, errcap, JC_ERR_TRUNCATED, "pnm: pixel data needs %zu bytes, the file has %zu", need, h->data > n ? (size_t)0 : n - h->data);
    const uint8_t *s = d + h->data;
    uint8_t *o = rgb;
    for (uint32_t y = 0; y < h->h; y++, s += rowbytes) {
        if (h->kind == 4) {
            for (size_t x = 0; x < w; x++, o += 3) o[0] = o[1] = o[2] = (s[x >> 3] >> (7 - (x & 7))) & 1 ? 0 : 255;
            continue;
        }
        for (size_t x = 0; x < w; x++, o += 3) {
            for (size_t b = 0; b < bands; b++) {
                long v = in == 1 ? s[(x * bands + b)] : (long)(s[2 * (x * bands + b)] << 8 | s[2 * (x * bands + b) + 1]);
                o[b] = v > h->maxval ? 255 : tab[v]; /* above maxval: Pillow clips at its output maximum */
            }
            if (bands == 1) o[1] = o[2] = o[0];
        }
    }
    return JC_OK;
}

/* Plain P1: Pillow reads 1 MiB blocks, drops comments and white space, and checks that every
 * remaining character of each block it reads is '0' or '1'. */
static int jc_pnm_plain_bits(const uint8_t *d, size_t n, const jc_pnm_hdr *h, uint8_t *rgb, char *err, size_t errcap)
{
    size_t total = (size_t)h->w * h->h, got = 0, p = h->data;
    int in_comment = 0;
    while (got < total) {
        if (p >= n) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "pnm: data ends after %zu of %zu pixels", got, total);
        size_t end = n - p > JC_PNM_BLOCK ? p + JC_PNM_BLOCK : n;
        for (; p < end; p++) {
            uint8_t c = d[p];
            if (in_comment) {
                if (c == '\n' || c == '\r') in_comment = 0;
                continue;
            }
            if (c == '#') { in_comment = 1; continue; }
            if (jc_pnm_space(c)) continue;
            if (c != '0' && c != '1') return jc_fail(err, errcap, JC_ERR_FORMAT, "pnm: invalid character 0x%02x in P1 data", c);
            if (got < total) {
                uint8_t v = c == '1' ? 0 : 255;
                rgb[3 * got] = rgb[3 * got + 1] = rgb[3 * got + 2] = v;
                got++;
            }
        }
    }
    return JC_OK;
}

/* One plain sample token: Pillow's checks, then the scaled value into rgb. */
static int jc_pnm_sample(const jc_pnm_hdr *h, const uint8_t *tab, const uint8_t *tok, size_t tn, uint8_t *rgb, size_t *got,
                         char *err, size_t errcap)
{
    long v;
    if (tn > 10) return jc_fail(err, errcap, JC_ERR_FORMAT, "pnm: data token longer than 10 characters");
    if (!jc_pnm_int(tok, tn, &v) || v < 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "pnm: a data token is not a sample value");
    if (v > h->maxval) return jc_fail(err, errcap, JC_ERR_FORMAT, "pnm: sample %ld above maxval %ld", v, h->maxval);
    if (h->kind == 3) {
        rgb[(*got)++] = tab[v];
    } else {
        rgb[3 * *got] = rgb[3 * *got + 1] = rgb[3 * *got + 2] = tab[v];
        (*got)++;
    }
    return JC_OK;
}

/* Plain P2/P3: comments removed (to and including CR/LF), then white-space separated numbers.
 * Pillow reads 1 MiB blocks and keeps a token cut by a block's end as a "half token" that it
 * never clears: when the data runs out before the image is full, it appends that token again
 * and again until the image is full (so a file whose last number has no white space after it
 * repeats that number). This reproduces it. */
static int jc_pnm_plain(const uint8_t *d, size_t n, const jc_pnm_hdr *h, const uint8_t *tab, uint8_t *rgb, char *err, size_t errcap)
{
    size_t total = (size_t)h->w * h->h * (h->kind == 3 ? 3 : 1), got = 0, p = h->data;
    size_t boundary = n - p > JC_PNM_BLOCK ? p + JC_PNM_BLOCK : n;
    uint8_t tok[12], half[12];
    size_t tn = 0, halfn = 0;
    int rc;
    while (got < total) {
        if (p >= boundary) { /* end of one of Pillow's blocks */
            if (tn > 10) return jc_fail(err, errcap, JC_ERR_FORMAT, "pnm: data token longer than 10 characters");
            if (tn) memcpy(half, tok, halfn = tn);
            if (p < n) {
                boundary = n - p > JC_PNM_BLOCK ? p + JC_PNM_BLOCK : n;
                continue;
            }
            if (tn && (rc = jc_pnm_sample(h, tab, tok, tn, rgb, &got, err, errcap)) != JC_OK) return rc;
            if (!halfn && got < total)
                return jc_fail(err, errcap, JC_ERR_TRUNCATED, "pnm: data ends after %zu of %zu samples", got, total);
            while (got < total)
                if ((rc = jc_pnm_sample(h, tab, half, halfn, rgb, &got, err, errcap)) != JC_OK) return rc;
            break;
        }
        uint8_t c = d[p++];
        if (c == '#') {
            while (p < n && d[p] != '\n' && d[p] != '\r') p++;
            if (p < n) p++;
            continue;
        }
        if (!jc_pnm_space(c)) {
            if (tn < 11) tok[tn++] = c;
            continue;
        }
        if (tn && (rc = jc_pnm_sample(h, tab, tok, tn, rgb, &got, err, errcap)) != JC_OK) return rc;
        tn = 0;
    }
    return JC_OK;
}

static JC_UNUSED int jc_pnm_decode(const uint8_t *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                                   jc_image_info *info, char *err, size_t errcap)
{
    jc_pnm_hdr h;
    if (!data) return jc_fail(err, errcap, JC_ERR_ARG, "pnm: NULL data");
    int rc = jc_pnm_read_header(data, len, &h, err, errcap);
    if (rc != JC_OK) return rc;
    if (info) jc_pnm_fill_info(&h, info);
    if (max_pixels == 0) max_pixels = JC_DEFAULT_MAX_PIXELS;
    if ((uint64_t)h.w * h.h > max_pixels)
        return jc_fail(err, errcap, JC_ERR_LIMIT, "pnm: %ux%u exceeds the limit of %llu pixels", h.w, h.h, (unsigned long long)max_pixels);
    size_t need;
    if (!jc_mul3(h.w, h.h, 3, &need)) return jc_fail(err, errcap, JC_ERR_LIMIT, "pnm: image too large for this platform");
    if (!rgb || rgb_cap < need) return jc_fail(err, errcap, JC_ERR_CAPACITY, "pnm: output needs %zu bytes, capacity %zu", need, rgb_cap);
    if (h.kind == 1) return jc_pnm_plain_bits(data, len, &h, rgb, err, errcap);
    uint8_t *tab = NULL;
    if (h.kind != 4) {
        tab = (uint8_t *)JCLIP_MALLOC((size_t)h.maxval + 1);
        if (!tab) return jc_fail(err, errcap, JC_ERR_NOMEM, "pnm: out of memory");
        jc_pnm_table(&h, tab);
    }
    rc = h.kind <= 3 ? jc_pnm_plain(data, len, &h, tab, rgb, err, errcap) : jc_pnm_binary(data, len, &h, tab, rgb, err, errcap);
    JCLIP_FREE(tab);
    return rc;
}
