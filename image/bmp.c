/* image/bmp.c: BMP decoder producing packed 8-bit RGB, byte-identical to Pillow 9.4's
 * Image.open(f).convert('RGB').
 *
 * Supported as Pillow 9.4 supports them: info headers of 12 (OS/2 1.x), 40, 64 (OS/2 2.x), 108
 * and 124 bytes; 1/4/8-bit palettes, 16-bit 5-5-5, 24-bit, 32-bit BGRX; BI_BITFIELDS with the
 * masks Pillow knows (16-bit 5-5-5 / 5-6-5, 24-bit BGR, six 32-bit layouts; alpha is dropped);
 * BI_RLE8 / BI_RLE4; bottom-up and top-down rows. Pillow's conversions, reproduced here:
 *   - 16-bit channels are expanded as v * 255 / 31 (or / 63), integer division;
 *   - a palette that is exactly the gray ramp (or black, white for two colours) makes Pillow
 *     read the pixels as 8-bit gray (or 1-bit) whatever the file's bit depth says;
 *   - palette indices past the palette give the gray ramp entry (i, i, i);
 *   - a pixel-data offset equal to the end of the header skips 4 bytes per palette colour; an
 *     offset of 0 means "right after the palette"; rows are padded to 4 bytes, the last row's
 *     padding may be missing; data after the pixels is ignored, missing data is an error.
 * RLE follows Pillow's decoder (runs clipped at the row end, absolute runs not clipped, delta
 * fills with index 0, runs aligned on the file's 16-bit boundaries, an image left incomplete
 * is an error) except where Pillow 9.4 contradicts the BMP specification: a delta escape is
 * followed by two bytes (Pillow reads four) and an absolute RLE4 run of n pixels reads
 * (n + 1) / 2 bytes (Pillow reads n / 2). */
#include "../jclip_base.h"
#include "image.h"

/* Pillow's raw modes for the pixel data. */
enum { JC_BMP_PAL, JC_BMP_GRAY8, JC_BMP_BW1, JC_BMP_555, JC_BMP_565, JC_BMP_BGR, JC_BMP_32 };

typedef struct {
    uint32_t w, h;
    int topdown;
    unsigned hsize, bits, compression;
    int raw;              /* JC_BMP_* */
    unsigned rawbits;     /* bits per pixel the raw reader uses */
    int r, g, b;          /* JC_BMP_32: byte of each channel in the 4-byte pixel */
    int alpha;            /* Pillow mode RGBA */
    int rle;              /* 0, 8 or 4 */
    size_t offset;        /* pixel data */
    uint8_t pal[256 * 3]; /* RGB, over the gray ramp */
} jc_bmp_hdr;

static uint32_t jc_bmp_u32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static unsigned jc_bmp_u16(const uint8_t *p) { return p[0] | (unsigned)p[1] << 8; }

static int jc_bmp_read_header(const uint8_t *d, size_t n, jc_bmp_hdr *h, char *err, size_t errcap)
{
    memset(h, 0, sizeof *h);
    if (n < 2 || d[0] != 'B' || d[1] != 'M') return jc_fail(err, errcap, JC_ERR_FORMAT, "bmp: bad signature");
    if (n < 18) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "bmp: file ends inside the file header");
    size_t offset = jc_bmp_u32(d + 10);
    uint32_t hs = jc_bmp_u32(d + 14);
    if (hs != 12 && hs != 40 && hs != 64 && hs != 108 && hs != 124)
        return jc_fail(err, errcap, hs == 56 ? JC_ERR_UNSUPPORTED : JC_ERR_FORMAT, "bmp: unsupported info header size %u", hs);
    if (n - 14 < hs) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "bmp: file ends inside the info header");
    const uint8_t *hd = d + 18; /* header data after its size field */
    size_t pos = 14 + (size_t)hs;
    uint32_t colors = 0, masks[4] = {0, 0, 0, 0};
    unsigned pad;
    h->hsize = hs;
    if (hs == 12) {
        h->w = jc_bmp_u16(hd);
        h->h = jc_bmp_u16(hd + 2);
        h->bits = jc_bmp_u16(hd + 6);
        pad = 3;
    } else {
        h->topdown = hd[7] == 0xFF;
        h->w = jc_bmp_u32(hd);
        h->h = h->topdown ? 0u - jc_bmp_u32(hd + 4) : jc_bmp_u32(hd + 4);
        h->bits = jc_bmp_u16(hd + 10);
        h->compression = jc_bmp_u32(hd + 12);
        colors = jc_bmp_u32(hd + 28);
        pad = 4;
        if (h->compression == 3) {
            if (hs >= 56) {
                for (int k = 0; k < 4; k++) masks[k] = jc_bmp_u32(hd + 36 + 4 * k);
            } else { /* 40-byte header: three masks follow it */
                if (n - pos < 12) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "bmp: file ends inside the bitfield masks");
                for (int k = 0; k < 3; k++) masks[k] = jc_bmp_u32(d + pos + 4 * k);
                pos += 12;
            }
        }
    }
    if (h->w == 0 || h->h == 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "bmp: empty image (%ux%u)", h->w, h->h);
    if (h->bits <= 8 && colors == 0) colors = 1u << h->bits;
    if (offset == 14 + (size_t)hs && h->bits <= 8) offset += 4 * (size_t)colors;
    switch (h->bits) {
    case 1: case 4: case 8: h->raw = JC_BMP_PAL; h->rawbits = h->bits; break;
    case 16: h->raw = JC_BMP_555; h->rawbits = 16; break;
    case 24: h->raw = JC_BMP_BGR; h->rawbits = 24; break;
    case 32: h->raw = JC_BMP_32; h->rawbits = 32; h->r = 2, h->g = 1, h->b = 0; break;
    default: return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "bmp: unsupported bit depth %u", h->bits);
    }
    if (h->compression == 3) {
        static const struct { uint32_t m[4]; int r, g, b, alpha; } l32[] = {
            {{0xFF0000, 0xFF00, 0xFF, 0}, 2, 1, 0, 0},       /* BGRX */
            {{0xFF000000, 0xFF0000, 0xFF00, 0}, 3, 2, 1, 0}, /* XBGR */
            {{0xFF000000, 0xFF0000, 0xFF00, 0xFF}, 3, 2, 1, 1}, /* ABGR */
            {{0xFF, 0xFF00, 0xFF0000, 0xFF000000}, 0, 1, 2, 1}, /* RGBA */
            {{0xFF0000, 0xFF00, 0xFF, 0xFF000000}, 2, 1, 0, 1}, /* BGRA */
            {{0, 0, 0, 0}, 2, 1, 0, 1},                      /* BGRA */
        };
        int ok = 0;
        if (h->bits == 32) {
            for (size_t k = 0; k < sizeof l32 / sizeof l32[0] && !ok; k++)
                if (memcmp(masks, l32[k].m, sizeof masks) == 0) {
                    h->r = l32[k].r, h->g = l32[k].g, h->b = l32[k].b, h->alpha = l32[k].alpha;
                    ok = 1;
                }
        } else if (h->bits == 24) {
            ok = masks[0] == 0xFF0000 && masks[1] == 0xFF00 && masks[2] == 0xFF;
        } else if (h->bits == 16) {
            if (masks[0] == 0xF800 && masks[1] == 0x7E0 && masks[2] == 0x1F) h->raw = JC_BMP_565, ok = 1;
            else ok = masks[0] == 0x7C00 && masks[1] == 0x3E0 && masks[2] == 0x1F;
        }
        if (!ok) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "bmp: unsupported bitfield masks %08x %08x %08x %08x for %u bits",
                                masks[0], masks[1], masks[2], masks[3], h->bits);
    } else if (h->compression == 1 || h->compression == 2) {
        if (h->raw != JC_BMP_PAL) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "bmp: RLE compression with %u bits per pixel", h->bits);
        h->rle = h->compression == 1 ? 8 : 4;
    } else if (h->compression != 0) {
        return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "bmp: unsupported compression %u", h->compression);
    }
    for (unsigned i = 0; i < 256; i++) h->pal[3 * i] = h->pal[3 * i + 1] = h->pal[3 * i + 2] = (uint8_t)i;
    if (h->raw == JC_BMP_PAL) {
        if (colors == 0 || colors > 65536) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "bmp: palette of %u colours", colors);
        size_t want = (size_t)pad * colors, got = want > n - pos ? n - pos : want;
        const uint8_t *p = d + pos;
        /* Pillow's gray test: entry i is (i, i, i) for every colour (0 and 255 for two). */
        int gray = 1;
        for (uint32_t i = 0; i < colors && gray; i++) {
            unsigned v = colors == 2 ? (i ? 255u : 0u) : (i & 255u);
            gray = (size_t)i * pad + 3 <= got && p[i * pad] == v && p[i * pad + 1] == v && p[i * pad + 2] == v;
        }
        if (gray && colors == 2) {
            h->raw = JC_BMP_BW1, h->rawbits = 1;
        } else if (gray) {
            h->raw = JC_BMP_GRAY8, h->rawbits = 8;
        } else {
            if (got / pad > 256) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "bmp: palette of %u colours (at most 256)", colors);
            for (size_t i = 0; i < got / pad; i++) {
                h->pal[3 * i] = p[i * pad + 2];
                h->pal[3 * i + 1] = p[i * pad + 1];
                h->pal[3 * i + 2] = p[i * pad];
            }
        }
        pos += got;
        if (h->rle && h->raw == JC_BMP_BW1) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "bmp: RLE with a black and white palette");
    }
    h->offset = offset ? offset : pos;
    return JC_OK;
}

static void jc_bmp_fill_info(const jc_bmp_hdr *h, jc_image_info *info)
{
    memset(info, 0, sizeof *info);
    info->format = JC_FORMAT_BMP;
    info->width = h->w;
    info->height = h->h;
    int palette = h->raw == JC_BMP_PAL || h->raw == JC_BMP_GRAY8 || h->raw == JC_BMP_BW1;
    info->components = palette ? 1 : h->alpha ? 4 : 3;
    info->bit_depth = (int)h->bits;
    info->frames = 1;
    info->alpha = h->alpha;
    snprintf(info->color, sizeof info->color, "%s",
             h->raw == JC_BMP_PAL ? "palette" : palette ? "gray" : h->alpha ? "rgba" : "rgb");
}

static JC_UNUSED int jc_bmp_info(const uint8_t *data, size_t len, jc_image_info *info, char *err, size_t errcap)
{
    jc_bmp_hdr h;
    if (!info) return jc_fail(err, errcap, JC_ERR_ARG, "bmp: NULL info");
    if (!data) return jc_fail(err, errcap, JC_ERR_ARG, "bmp: NULL data");
    int rc = jc_bmp_read_header(data, len, &h, err, errcap);
    if (rc == JC_OK) jc_bmp_fill_info(&h, info);
    return rc;
}

/* One row of raw pixels to RGB with Pillow's unpackers. */
static void jc_bmp_row(const jc_bmp_hdr *h, const uint8_t *s, uint8_t *o)
{
    uint32_t w = h->w;
    switch (h->raw) {
    case JC_BMP_PAL:
        for (uint32_t x = 0; x < w; x++, o += 3) {
            unsigned v = h->bits == 8 ? s[x] : h->bits == 4 ? (s[x >> 1] >> (x & 1 ? 0 : 4)) & 15u : (s[x >> 3] >> (7 - (x & 7))) & 1u;
            memcpy(o, h->pal + 3 * v, 3);
        }
        break;
    case JC_BMP_GRAY8:
        for (uint32_t x = 0; x < w; x++, o += 3) o[0] = o[1] = o[2] = s[x];
        break;
    case JC_BMP_BW1:
        for (uint32_t x = 0; x < w; x++, o += 3) o[0] = o[1] = o[2] = (s[x >> 3] >> (7 - (x & 7))) & 1u ? 255 : 0;
        break;
    case JC_BMP_555:
    case JC_BMP_565:
        for (uint32_t x = 0; x < w; x++, o += 3, s += 2) {
            unsigned p = s[0] | (unsigned)s[1] << 8;
            o[2] = (uint8_t)((p & 31) * 255 / 31);
            if (h->raw == JC_BMP_555) {
                o[1] = (uint8_t)(((p >> 5) & 31) * 255 / 31);
                o[0] = (uint8_t)(((p >> 10) & 31) * 255 / 31);
            } else {
                o[1] = (uint8_t)(((p >> 5) & 63) * 255 / 63);
                o[0] = (uint8_t)(((p >> 11) & 31) * 255 / 31);
            }
        }
        break;
    case JC_BMP_BGR:
        for (uint32_t x = 0; x < w; x++, o += 3, s += 3) o[0] = s[2], o[1] = s[1], o[2] = s[0];
        break;
    default: /* JC_BMP_32 */
        for (uint32_t x = 0; x < w; x++, o += 3, s += 4) o[0] = s[h->r], o[1] = s[h->g], o[2] = s[h->b];
        break;
    }
}

/* Uncompressed rows: Pillow's raw decoder reads rowbytes (from the raw mode's bit depth) per
 * row and skips to the file's 4-byte row stride; a stride shorter than a row is an error. */
static int jc_bmp_raw(const uint8_t *d, size_t n, const jc_bmp_hdr *h, uint8_t *rgb, char *err, size_t errcap)
{
    size_t rowbytes, stride;
    if (!jc_mul(h->w, h->rawbits, &rowbytes) || !jc_mul(h->w, h->bits, &stride) || stride > SIZE_MAX - 31)
        return jc_fail(err, errcap, JC_ERR_LIMIT, "bmp: row size overflows");
    rowbytes = (rowbytes + 7) / 8;
    stride = ((stride + 31) >> 3) & ~(size_t)3;
    if (stride < rowbytes) return jc_fail(err, errcap, JC_ERR_FORMAT, "bmp: rows of %zu bytes do not fit the %zu-byte stride", rowbytes, stride);
    size_t need;
    if (!jc_mul(stride, h->h - 1, &need) || !jc_add(need, rowbytes, &need)) return jc_fail(err, errcap, JC_ERR_LIMIT, "bmp: image data size overflows");
    if (h->offset > n || n - h->offset < need)
        return jc_fail(err, errcap, JC_ERR_TRUNCATED, "bmp: pixel data at offset %zu needs %zu bytes, the file has %zu", h->offset, need,
                       h->offset > n ? (size_t)0 : n - h->offset);
    const uint8_t *s = d + h->offset;
    for (uint32_t i = 0; i < h->h; i++, s += stride) {
        uint32_t y = h->topdown ? i : h->h - 1 - i;
        jc_bmp_row(h, s, rgb + (size_t)y * h->w * 3);
    }
    return JC_OK;
}

/* RLE8/RLE4 into an index buffer of w*h (+ slack) bytes, as Pillow's BmpRleDecoder with the
 * two specification fixes (see the top of the file). The indices fill rows in file order. */
static int jc_bmp_rle(const uint8_t *d, size_t n, const jc_bmp_hdr *h, uint8_t *idx, size_t total, char *err, size_t errcap)
{
    size_t pos = h->offset, got = 0, x = 0;
    const size_t w = h->w;
    const int rle4 = h->rle == 4;
    while (got < total) {
        if (pos >= n || n - pos < 2) break;
        unsigned cnt = d[pos], byte = d[pos + 1];
        pos += 2;
        if (cnt) { /* encoded run, clipped at the row end */
            size_t k = x + cnt > w ? (x < w ? w - x : 0) : cnt;
            for (size_t i = 0; i < k && got < total; i++) idx[got++] = rle4 ? (uint8_t)(i & 1 ? byte & 15 : byte >> 4) : (uint8_t)byte;
            x += k;
        } else if (byte == 0) { /* end of line: pad the row with index 0 */
            while (got % w) {
                if (got >= total) break;
                idx[got++] = 0;
            }
            x = 0;
        } else if (byte == 1) { /* end of bitmap */
            break;
        } else if (byte == 2) { /* delta: right, up (two bytes, as the specification says) */
            if (n - pos < 2) break;
            size_t skip = d[pos] + (size_t)d[pos + 1] * w;
            pos += 2;
            for (size_t i = 0; i < skip && got < total; i++) idx[got++] = 0;
            if (got >= total) break;
            x = got % w;
        } else { /* absolute run of `byte` pixels, not clipped */
            size_t want = rle4 ? (byte + 1u) / 2 : byte, avail = n - pos < want ? n - pos : want;
            for (size_t i = 0; i < avail; i++) {
                uint8_t v = d[pos + i];
                if (rle4) {
                    if (got < total) idx[got++] = v >> 4;
                    if (2 * i + 1 < byte && got < total) idx[got++] = v & 15;
                } else if (got < total) {
                    idx[got++] = v;
                }
            }
            pos += avail;
            if (avail < want) break;
            x += byte;
            if (pos & 1) pos++; /* 16-bit alignment in the file, as Pillow */
        }
    }
    if (got < total) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "bmp: RLE data ends after %zu of %zu pixels", got, total);
    return JC_OK;
}

static JC_UNUSED int jc_bmp_decode(const uint8_t *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                                   jc_image_info *info, char *err, size_t errcap)
{
    jc_bmp_hdr *h = NULL;
    if (!data) return jc_fail(err, errcap, JC_ERR_ARG, "bmp: NULL data");
    h = (jc_bmp_hdr *)JCLIP_MALLOC(sizeof *h);
    if (!h) return jc_fail(err, errcap, JC_ERR_NOMEM, "bmp: out of memory");
    uint8_t *idx = NULL;
    int rc = jc_bmp_read_header(data, len, h, err, errcap);
    if (rc != JC_OK) goto done;
    if (info) jc_bmp_fill_info(h, info);
    if (max_pixels == 0) max_pixels = JC_DEFAULT_MAX_PIXELS;
    if ((uint64_t)h->w * h->h > max_pixels) {
        rc = jc_fail(err, errcap, JC_ERR_LIMIT, "bmp: %ux%u exceeds the limit of %llu pixels", h->w, h->h, (unsigned long long)max_pixels);
        goto done;
    }
    size_t need;
    if (!jc_mul3(h->w, h->h, 3, &need)) { rc = jc_fail(err, errcap, JC_ERR_LIMIT, "bmp: image too large for this platform"); goto done; }
    if (!rgb || rgb_cap < need) {
        rc = jc_fail(err, errcap, JC_ERR_CAPACITY, "bmp: output needs %zu bytes, capacity %zu", need, rgb_cap);
        goto done;
    }
    if (!h->rle) {
        rc = jc_bmp_raw(data, len, h, rgb, err, errcap);
        goto done;
    }
    size_t total = need / 3;
    idx = (uint8_t *)JCLIP_MALLOC(total);
    if (!idx) { rc = jc_fail(err, errcap, JC_ERR_NOMEM, "bmp: out of memory"); goto done; }
    rc = jc_bmp_rle(data, len, h, idx, total, err, errcap);
    if (rc != JC_OK) goto done;
    for (uint32_t i = 0; i < h->h; i++) {
        uint32_t y = h->topdown ? i : h->h - 1 - i;
        const uint8_t *s = idx + (size_t)i * h->w;
        uint8_t *o = rgb + (size_t)y * h->w * 3;
        for (uint32_t x = 0; x < h->w; x++, o += 3) memcpy(o, h->pal + 3 * (size_t)s[x], 3);
    }
done:
    JCLIP_FREE(idx);
    JCLIP_FREE(h);
    return rc;
}
