/* image/png.c: PNG decoder producing packed 8-bit RGB, byte-identical to Pillow 9.4's
 * Image.open(f).convert('RGB').
 *
 * Supported: every colour type and bit depth of PNG 1.2 (gray 1/2/4/8/16, RGB 8/16, palette
 * 1/2/4/8, gray+alpha 8/16, RGBA 8/16), Adam7, all five filters. Pillow's conversion rules:
 *   - alpha (channel or tRNS) is dropped, never composited;
 *   - gray of 1/2/4 bits is scaled to 0..255 (x255, x85, x17);
 *   - 16-bit samples keep their high byte, except 16-bit gray: Pillow opens it in mode "I" and
 *     convert('RGB') clips the 0..65535 value to 255 (so any value >= 255 becomes 255);
 *   - a palette index with no PLTE entry takes Pillow's default palette entry, the gray ramp
 *     (i, i, i).
 *
 * Deliberately stricter than Pillow (which streams IDAT and stops once the rows are full): the
 * CRC of every chunk is verified, the zlib stream must hold exactly the image data and end
 * with a correct Adler-32, the file must reach IEND, PLTE must come before IDAT, and unknown
 * critical chunks or a compression method other than 0 are refused. Bytes after the end of the
 * zlib stream inside the IDAT run, and anything after IEND, are ignored (as Pillow and libpng
 * do). test/t_png.c lists each corpus file on which this changes the outcome. */
#include "../jclip_base.h"
#include "image.h"

#define JC_PNG_MAX_DIM 0x7fffffffu
/* Deflate cannot expand data more than 1032:1 (a 258-byte match in two 1-bit codes), so image
 * data larger than this multiple of the IDAT bytes is refused before anything is allocated. */
#define JC_PNG_MAX_RATIO 1032u

enum { JC_PNG_GRAY = 0, JC_PNG_RGB = 2, JC_PNG_PAL = 3, JC_PNG_GA = 4, JC_PNG_RGBA = 6 };

typedef struct {
    uint32_t w, h;
    unsigned depth, ctype, interlace;
    unsigned channels; /* samples per pixel in the file */
} jc_png_hdr;

/* Adam7 passes: x0, y0, dx, dy. */
static const uint8_t jc_png_adam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                        {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
static const uint8_t jc_png_signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};

static uint32_t jc_png_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* CRC-32 (ISO 3309, reflected 0xEDB88320) slice-by-8 tables. They are built per decode into
 * the decoder's scratch (2048 entries, a few microseconds) so the library has no mutable globals
 * and no large literal tables. */
static void jc_png_crc_init(uint32_t t[8][256])
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
}

static uint32_t jc_png_crc(const uint32_t t[8][256], const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
            t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    }
    for (; n; n--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff];
    return c ^ 0xffffffffu;
}

/* Bitwise CRC-32 for jc_png_info, which checks only IHDR (17 bytes) and should not build tables. */
static uint32_t jc_png_crc_small(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (; n; n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

/* For info: whether a tRNS chunk comes before the image data, and the frame count of an APNG
 * (acTL), walking chunk headers only (no CRC). */
static void jc_png_scan_info(const uint8_t *data, size_t len, jc_image_info *info)
{
    for (size_t pos = 8; len - pos >= 12;) {
        uint32_t clen = jc_png_be32(data + pos);
        const uint8_t *type = data + pos + 4;
        if (memcmp(type, "IDAT", 4) == 0 || clen > len - pos - 12) return;
        if (memcmp(type, "tRNS", 4) == 0) info->alpha = 1;
        if (memcmp(type, "acTL", 4) == 0 && clen >= 8 && jc_png_be32(data + pos + 8) > 0 && jc_png_be32(data + pos + 8) <= INT_MAX)
            info->frames = (int)jc_png_be32(data + pos + 8);
        pos += 12 + (size_t)clen;
    }
}

/* Checks the signature and the IHDR chunk (which must come first) and fills h and info. */
static int jc_png_read_header(const uint8_t *data, size_t len, jc_png_hdr *h, jc_image_info *info, char *err, size_t errcap)
{
    if (!data || len == 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: empty input");
    size_t sn = len < 8 ? len : 8;
    if (memcmp(data, jc_png_signature, sn) != 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: bad signature");
    if (len < 8 + 8 + 13 + 4) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "png: file ends inside the header (%zu bytes)", len);
    const uint8_t *c = data + 8;
    if (memcmp(c + 4, "IHDR", 4) != 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: first chunk is not IHDR");
    if (jc_png_be32(c) != 13) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: IHDR length %u, expected 13", jc_png_be32(c));
    if (jc_png_crc_small(c + 4, 17) != jc_png_be32(c + 21)) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: IHDR CRC mismatch");
    const uint8_t *b = c + 8;
    h->w = jc_png_be32(b);
    h->h = jc_png_be32(b + 4);
    h->depth = b[8];
    h->ctype = b[9];
    h->interlace = b[12];
    if (h->w == 0 || h->h == 0 || h->w > JC_PNG_MAX_DIM || h->h > JC_PNG_MAX_DIM)
        return jc_fail(err, errcap, JC_ERR_FORMAT, "png: bad dimensions %ux%u", h->w, h->h);
    int ok;
    switch (h->ctype) {
    case JC_PNG_GRAY: ok = h->depth == 1 || h->depth == 2 || h->depth == 4 || h->depth == 8 || h->depth == 16; h->channels = 1; break;
    case JC_PNG_RGB: ok = h->depth == 8 || h->depth == 16; h->channels = 3; break;
    case JC_PNG_PAL: ok = h->depth == 1 || h->depth == 2 || h->depth == 4 || h->depth == 8; h->channels = 1; break;
    case JC_PNG_GA: ok = h->depth == 8 || h->depth == 16; h->channels = 2; break;
    case JC_PNG_RGBA: ok = h->depth == 8 || h->depth == 16; h->channels = 4; break;
    default: return jc_fail(err, errcap, JC_ERR_FORMAT, "png: bad colour type %u", h->ctype);
    }
    if (!ok) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: bit depth %u not allowed for colour type %u", h->depth, h->ctype);
    if (b[10] != 0) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "png: compression method %u", b[10]);
    if (b[11] != 0) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "png: filter method %u", b[11]);
    if (h->interlace > 1) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "png: interlace method %u", h->interlace);
    if (info) {
        static const char *const names[7] = {"gray", "", "rgb", "palette", "gray+alpha", "", "rgba"};
        memset(info, 0, sizeof *info);
        info->format = JC_FORMAT_PNG;
        info->width = h->w;
        info->height = h->h;
        info->components = (int)h->channels;
        info->bit_depth = (int)h->depth;
        info->progressive = (int)h->interlace;
        info->frames = 1;
        info->alpha = (h->ctype & 4) != 0;
        jc_png_scan_info(data, len, info);
        snprintf(info->color, sizeof info->color, "%s", names[h->ctype]);
    }
    return JC_OK;
}

/* Header only: signature and IHDR (CRC checked). info may not be NULL. */
static int jc_png_info(const uint8_t *data, size_t len, jc_image_info *info, char *err, size_t errcap)
{
    jc_png_hdr h;
    if (!info) return jc_fail(err, errcap, JC_ERR_ARG, "png: NULL info");
    return jc_png_read_header(data, len, &h, info, err, errcap);
}

/* Bytes of one filtered row (without its filter byte) of n pixels. */
static int jc_png_rowbytes(const jc_png_hdr *h, uint32_t n, size_t *out)
{
    size_t bits;
    if (!jc_mul(n, (size_t)h->channels * h->depth, &bits) || !jc_add(bits, 7, &bits)) return 0;
    *out = bits / 8;
    return 1;
}

static unsigned jc_png_pass_dim(uint32_t size, unsigned start, unsigned step)
{
    return size > start ? (unsigned)((size - start + step - 1) / step) : 0u;
}

/* Paeth predictor (PNG spec 9.4) without the three distances. With lo = min(a,b), hi = max(a,b)
 * and p = a + b - c, the distances to lo, hi, c are |hi - c|, |c - lo| and |(hi-c) - (c-lo)|, so
 * the spec's choice reduces to comparing t = 3c - a - b with lo and hi: lo when t >= hi, hi when
 * t <= lo, else c (ties give equal values). Checked against the spec's formula for all 2^24
 * inputs. Fewer, independent selects than the textbook form, and both gcc and clang keep them
 * branch-free (the choice is data dependent and unpredictable). */
static inline int jc_png_paeth(int a, int b, int c)
{
    int lo = a < b ? a : b, hi = a < b ? b : a;
    int t = 3 * c - a - b;
    int r = t >= hi ? lo : c;
    return t <= lo ? hi : r;
}

/* Reverses one filter in place. row: n bytes after the filter byte (n is a multiple of B);
 * prev: the reconstructed previous row of the same pass (all zero for the first row); B: bytes
 * per complete pixel (1 for bit depths below 8). One function per B with one variable per
 * channel, so the left (a) and upper-left (c) bytes stay in registers: reading them back from
 * row[] would put a store-to-load forwarding delay on the critical path of Sub, Average and
 * Paeth. The channel steps are written out (JC_PNG_CH) because compilers at -O2 do not unroll a
 * loop over channels and would keep a[]/c[] arrays in memory. */
#define JC_PNG_CH1(X) X(0)
#define JC_PNG_CH2(X) X(0) X(1)
#define JC_PNG_CH3(X) X(0) X(1) X(2)
#define JC_PNG_CH4(X) X(0) X(1) X(2) X(3)
#define JC_PNG_CH6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define JC_PNG_CH8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define JC_PNG_DECL(k) int a##k = 0, c##k = 0;
#define JC_PNG_SUB0(k) a##k = row[k];
#define JC_PNG_SUB(k) a##k = row[i + k] = (uint8_t)(row[i + k] + a##k);
#define JC_PNG_AVG0(k) a##k = row[k] = (uint8_t)(row[k] + (prev[k] >> 1));
#define JC_PNG_AVG(k) a##k = row[i + k] = (uint8_t)(row[i + k] + ((a##k + prev[i + k]) >> 1));
#define JC_PNG_PAE0(k) c##k = prev[k]; a##k = row[k] = (uint8_t)(row[k] + c##k);
#define JC_PNG_PAE(k) { int b = prev[i + k]; a##k = row[i + k] = (uint8_t)(row[i + k] + jc_png_paeth(a##k, b, c##k)); c##k = b; }
#define JC_PNG_DEFINE_UNFILTER(B)                                                                       \
    static void jc_png_unfilter_##B(uint8_t *row, const uint8_t *prev, size_t n, unsigned ft)         \
    {                                                                                              \
        size_t i;                                                                                  \
        JC_PNG_CH##B(JC_PNG_DECL)                                                                        \
        switch (ft) {                                                                              \
        case 1:                                                                                    \
            JC_PNG_CH##B(JC_PNG_SUB0)                                                                    \
            for (i = B; i < n; i += B) { JC_PNG_CH##B(JC_PNG_SUB) }                                      \
            break;                                                                                 \
        case 2:                                                                                    \
            for (i = 0; i < n; i++) row[i] = (uint8_t)(row[i] + prev[i]);                          \
            break;                                                                                 \
        case 3:                                                                                    \
            JC_PNG_CH##B(JC_PNG_AVG0)                                                                    \
            for (i = B; i < n; i += B) { JC_PNG_CH##B(JC_PNG_AVG) }                                      \
            break;                                                                                 \
        case 4:                                                                                    \
            JC_PNG_CH##B(JC_PNG_PAE0)                                                                    \
            for (i = B; i < n; i += B) { JC_PNG_CH##B(JC_PNG_PAE) }                                      \
            break;                                                                                 \
        default: break;                                                                            \
        }                                                                                          \
        (void)c0;                                                                                  \
    }
JC_PNG_DEFINE_UNFILTER(1)
JC_PNG_DEFINE_UNFILTER(2)
JC_PNG_DEFINE_UNFILTER(3)
JC_PNG_DEFINE_UNFILTER(4)
JC_PNG_DEFINE_UNFILTER(6)
JC_PNG_DEFINE_UNFILTER(8)

/* Returns 0 for a filter type other than 0..4. bpp is 1, 2, 3, 4, 6 or 8. */
static int jc_png_unfilter(uint8_t *row, const uint8_t *prev, size_t n, unsigned bpp, unsigned ft)
{
    if (ft > 4) return 0;
    if (ft == 0 || n == 0) return 1;
    switch (bpp) {
    case 1: jc_png_unfilter_1(row, prev, n, ft); break;
    case 2: jc_png_unfilter_2(row, prev, n, ft); break;
    case 3: jc_png_unfilter_3(row, prev, n, ft); break;
    case 4: jc_png_unfilter_4(row, prev, n, ft); break;
    case 6: jc_png_unfilter_6(row, prev, n, ft); break;
    default: jc_png_unfilter_8(row, prev, n, ft); break;
    }
    return 1;
}

/* Converts n reconstructed pixels of one row to packed RGB8 with Pillow's rules (see top). */
static void jc_png_row_rgb(const jc_png_hdr *h, const uint8_t pal[256 * 3], const uint8_t *row, uint32_t n, uint8_t *o)
{
    uint32_t i;
    unsigned d = h->depth;
    switch (h->ctype) {
    case JC_PNG_GRAY:
        if (d == 8) {
            for (i = 0; i < n; i++, o += 3) o[0] = o[1] = o[2] = row[i];
        } else if (d == 16) {
            for (i = 0; i < n; i++, o += 3) o[0] = o[1] = o[2] = row[2 * i] ? 255 : row[2 * i + 1];
        } else {
            unsigned mask = (1u << d) - 1, scale = 255u / mask;
            for (i = 0; i < n; i++, o += 3) {
                size_t bit = (size_t)i * d;
                unsigned v = (row[bit >> 3] >> (8 - d - (bit & 7))) & mask;
                o[0] = o[1] = o[2] = (uint8_t)(v * scale);
            }
        }
        break;
    case JC_PNG_RGB:
        if (d == 8) {
            memcpy(o, row, (size_t)n * 3);
        } else {
            for (i = 0; i < n; i++, o += 3, row += 6) {
                o[0] = row[0];
                o[1] = row[2];
                o[2] = row[4];
            }
        }
        break;
    case JC_PNG_PAL:
        if (d == 8) {
            for (i = 0; i < n; i++, o += 3) memcpy(o, pal + 3 * row[i], 3);
        } else {
            unsigned mask = (1u << d) - 1;
            for (i = 0; i < n; i++, o += 3) {
                size_t bit = (size_t)i * d;
                unsigned v = (row[bit >> 3] >> (8 - d - (bit & 7))) & mask;
                memcpy(o, pal + 3 * v, 3);
            }
        }
        break;
    case JC_PNG_GA: {
        unsigned step = d == 8 ? 2 : 4;
        for (i = 0; i < n; i++, o += 3, row += step) o[0] = o[1] = o[2] = row[0];
        break;
    }
    default: /* JC_PNG_RGBA */
        if (d == 8) {
            for (i = 0; i < n; i++, o += 3, row += 4) {
                o[0] = row[0];
                o[1] = row[1];
                o[2] = row[2];
            }
        } else {
            for (i = 0; i < n; i++, o += 3, row += 8) {
                o[0] = row[0];
                o[1] = row[2];
                o[2] = row[4];
            }
        }
        break;
    }
}

/* What the chunk walk found. */
typedef struct {
    const uint8_t *idat0;  /* data of the first IDAT chunk */
    size_t idat_len;       /* total IDAT data bytes */
    unsigned idat_chunks;  /* number of IDAT chunks */
    size_t run_begin, run_end; /* file offsets of the first IDAT chunk and just past the last */
    int have_plte;
    uint8_t pal[256 * 3];  /* PLTE entries over Pillow's default gray ramp */
} jc_png_walk;

static int jc_png_walk_chunks(const uint8_t *data, size_t len, const jc_png_hdr *h, const uint32_t crct[8][256], jc_png_walk *wk,
                           char *err, size_t errcap)
{
    size_t pos = 8;
    int idat_state = 0; /* 0 before IDAT, 1 inside the IDAT run, 2 after it */
    memset(wk, 0, sizeof *wk);
    for (unsigned i = 0; i < 256; i++) wk->pal[3 * i] = wk->pal[3 * i + 1] = wk->pal[3 * i + 2] = (uint8_t)i;
    for (int first = 1;; first = 0) {
        if (len - pos < 12) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "png: file ends before IEND (offset %zu)", pos);
        const uint8_t *c = data + pos;
        uint32_t clen = jc_png_be32(c);
        const uint8_t *type = c + 4;
        for (int k = 0; k < 4; k++)
            if (!((type[k] >= 'A' && type[k] <= 'Z') || (type[k] >= 'a' && type[k] <= 'z')))
                return jc_fail(err, errcap, JC_ERR_FORMAT, "png: bad chunk type at offset %zu", pos);
        if (clen > JC_PNG_MAX_DIM) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: chunk length %u too large", clen);
        if (clen > len - pos - 12)
            return jc_fail(err, errcap, JC_ERR_TRUNCATED, "png: %.4s chunk of %u bytes runs past the end of the file", (const char *)type, clen);
        if (jc_png_crc(crct, type, (size_t)clen + 4) != jc_png_be32(c + 8 + clen))
            return jc_fail(err, errcap, JC_ERR_FORMAT, "png: %.4s chunk CRC mismatch", (const char *)type);
        const uint8_t *body = c + 8;
        size_t next = pos + 12 + clen;
        int is_idat = memcmp(type, "IDAT", 4) == 0;
        if (idat_state == 1 && !is_idat) {
            idat_state = 2;
            wk->run_end = pos;
        }
        if (first) {
            /* jc_png_read_header has already validated it. */
        } else if (memcmp(type, "IHDR", 4) == 0) {
            return jc_fail(err, errcap, JC_ERR_FORMAT, "png: second IHDR");
        } else if (is_idat) {
            if (idat_state == 2) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: IDAT chunks are not consecutive");
            if (h->ctype == JC_PNG_PAL && !wk->have_plte) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: palette image without PLTE before IDAT");
            if (idat_state == 0) {
                idat_state = 1;
                wk->idat0 = body;
                wk->run_begin = pos;
            }
            wk->idat_len += clen; /* cannot overflow: bounded by len */
            wk->idat_chunks++;
        } else if (memcmp(type, "PLTE", 4) == 0) {
            if (wk->have_plte) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: second PLTE");
            if (idat_state) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: PLTE after IDAT");
            if (clen == 0 || clen % 3 || clen > 768) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: PLTE length %u", clen);
            if (h->ctype == JC_PNG_PAL) memcpy(wk->pal, body, clen);
            wk->have_plte = 1; /* also for gray/RGB files, where PLTE is ignored */
        } else if (memcmp(type, "IEND", 4) == 0) {
            if (idat_state == 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "png: no IDAT chunk");
            if (idat_state == 1) wk->run_end = pos;
            return JC_OK;
        } else if (!(type[0] & 0x20)) {
            return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "png: unknown critical chunk %.4s", (const char *)type);
        }
        /* Ancillary chunks (tRNS, gAMA, iCCP, text, ...) do not change convert('RGB'). */
        pos = next;
    }
}

/* Decodes a PNG into packed RGB8 rows (rgb_cap >= width*height*3). max_pixels: limit on
 * width*height (0 = JC_DEFAULT_MAX_PIXELS). info (may be NULL) is filled once IHDR is read.
 * Scratch memory comes from JCLIP_MALLOC and is freed before return. On failure the contents of
 * rgb are unspecified. */
static int jc_png_decode(const uint8_t *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                      jc_image_info *info, char *err, size_t errcap)
{
    jc_png_hdr h;
    int rc = jc_png_read_header(data, len, &h, info, err, errcap);
    if (rc != JC_OK) return rc;
    if (max_pixels == 0) max_pixels = JC_DEFAULT_MAX_PIXELS;
    if ((uint64_t)h.w * h.h > max_pixels)
        return jc_fail(err, errcap, JC_ERR_LIMIT, "png: %ux%u exceeds the limit of %llu pixels", h.w, h.h, (unsigned long long)max_pixels);
    size_t need;
    if (!jc_mul3(h.w, h.h, 3, &need)) return jc_fail(err, errcap, JC_ERR_LIMIT, "png: image too large for this platform");
    if (!rgb || rgb_cap < need) return jc_fail(err, errcap, JC_ERR_CAPACITY, "png: output needs %zu bytes, capacity %zu", need, rgb_cap);

    /* Size of the filtered data: every non-empty pass row is a filter byte plus its bytes. */
    size_t raw_size = 0, max_rowbytes = 0;
    for (int p = 0; p < (h.interlace ? 7 : 1); p++) {
        uint32_t pw = h.interlace ? jc_png_pass_dim(h.w, jc_png_adam7[p][0], jc_png_adam7[p][2]) : h.w;
        uint32_t ph = h.interlace ? jc_png_pass_dim(h.h, jc_png_adam7[p][1], jc_png_adam7[p][3]) : h.h;
        size_t rb, pass;
        if (pw == 0 || ph == 0) continue;
        if (!jc_png_rowbytes(&h, pw, &rb) || !jc_mul(rb + 1, ph, &pass) || !jc_add(raw_size, pass, &raw_size))
            return jc_fail(err, errcap, JC_ERR_LIMIT, "png: image data size overflows");
        if (rb > max_rowbytes) max_rowbytes = rb;
    }

    struct jc_png_scratch {
        uint32_t crct[8][256];
        jc_png_walk wk;
    } *sc = (struct jc_png_scratch *)JCLIP_MALLOC(sizeof(struct jc_png_scratch));
    uint8_t *raw = NULL, *idat_copy = NULL, *zero = NULL, *tmp = NULL;
    if (!sc) return jc_fail(err, errcap, JC_ERR_NOMEM, "png: out of memory");
    jc_png_crc_init(sc->crct);
    rc = jc_png_walk_chunks(data, len, &h, (const uint32_t(*)[256])sc->crct, &sc->wk, err, errcap);
    if (rc != JC_OK) goto done;
    jc_png_walk *wk = &sc->wk;
    if (raw_size / JC_PNG_MAX_RATIO > wk->idat_len + 1) {
        rc = jc_fail(err, errcap, JC_ERR_TRUNCATED, "png: %zu bytes of IDAT cannot hold %zu bytes of image data", wk->idat_len, raw_size);
        goto done;
    }
    /* Join the IDAT run when it is split over several chunks (all validated by the walk). */
    const uint8_t *z = wk->idat0;
    if (wk->idat_chunks > 1) {
        idat_copy = (uint8_t *)JCLIP_MALLOC(wk->idat_len ? wk->idat_len : 1);
        if (!idat_copy) { rc = jc_fail(err, errcap, JC_ERR_NOMEM, "png: out of memory"); goto done; }
        size_t at = 0;
        for (size_t pos = wk->run_begin; pos < wk->run_end;) {
            uint32_t clen = jc_png_be32(data + pos);
            memcpy(idat_copy + at, data + pos + 8, clen);
            at += clen;
            pos += 12 + (size_t)clen;
        }
        z = idat_copy;
    }
    raw = (uint8_t *)JCLIP_MALLOC(raw_size);
    zero = (uint8_t *)JCLIP_MALLOC(max_rowbytes + 8);
    if (h.interlace) tmp = (uint8_t *)JCLIP_MALLOC((size_t)h.w * 3);
    if (!raw || !zero || (h.interlace && !tmp)) { rc = jc_fail(err, errcap, JC_ERR_NOMEM, "png: out of memory"); goto done; }
    memset(zero, 0, max_rowbytes + 8);
    size_t got = 0;
    rc = jc_infl_zlib(z, wk->idat_len, raw, raw_size, &got, NULL, err, errcap);
    if (rc != JC_OK) goto done;
    if (got != raw_size) {
        rc = jc_fail(err, errcap, JC_ERR_TRUNCATED, "png: image data is %zu bytes, expected %zu", got, raw_size);
        goto done;
    }

    unsigned bpp = (h.channels * h.depth + 7) / 8;
    uint8_t *r = raw;
    for (int p = 0; p < (h.interlace ? 7 : 1); p++) {
        uint32_t pw = h.interlace ? jc_png_pass_dim(h.w, jc_png_adam7[p][0], jc_png_adam7[p][2]) : h.w;
        uint32_t ph = h.interlace ? jc_png_pass_dim(h.h, jc_png_adam7[p][1], jc_png_adam7[p][3]) : h.h;
        if (pw == 0 || ph == 0) continue;
        size_t rb = 0;
        (void)jc_png_rowbytes(&h, pw, &rb); /* checked above */
        const uint8_t *prev = zero;
        for (uint32_t y = 0; y < ph; y++, r += rb + 1) {
            if (!jc_png_unfilter(r + 1, prev, rb, bpp, r[0])) {
                rc = jc_fail(err, errcap, JC_ERR_FORMAT, "png: bad filter type %u (pass %d, row %u)", r[0], p + 1, y);
                goto done;
            }
            prev = r + 1;
            if (!h.interlace) {
                jc_png_row_rgb(&h, wk->pal, r + 1, pw, rgb + (size_t)y * h.w * 3);
            } else {
                jc_png_row_rgb(&h, wk->pal, r + 1, pw, tmp);
                size_t yy = jc_png_adam7[p][1] + (size_t)y * jc_png_adam7[p][3];
                uint8_t *o = rgb + (yy * h.w + jc_png_adam7[p][0]) * 3;
                size_t step = (size_t)jc_png_adam7[p][2] * 3;
                for (uint32_t x = 0; x < pw; x++, o += step) memcpy(o, tmp + 3 * (size_t)x, 3);
            }
        }
    }
    rc = JC_OK;
done:
    JCLIP_FREE(tmp);
    JCLIP_FREE(zero);
    JCLIP_FREE(raw);
    JCLIP_FREE(idat_copy);
    JCLIP_FREE(sc);
    return rc;
}
