/* image/gif.c: GIF 87a/89a decoder producing packed 8-bit RGB, byte-identical to Pillow 9.4's
 * Image.open(f).convert('RGB') (the first frame of an animation).
 *
 * What Pillow does, and so what this does:
 *   - The image is the logical screen, grown to hold the first image if that extends past it
 *     (a 0x0 screen takes the first image's extent). Pixels outside the first image take
 *     index 0, or the transparency index of the first frame's graphic control extension; the
 *     background colour index is never used, and the transparency index is not applied
 *     (convert('RGB') gives that entry's palette colour).
 *   - Colours come from the local table, else the global one; an index past the table (or any
 *     index when there is no table) gives Pillow's default palette entry, gray (i, i, i).
 *   - An image whose x offset and width are both 0 is decoded over the whole screen (Pillow's
 *     tile convention); any other empty image is an error.
 *   - LZW as Pillow's decoder: minimum code sizes 0..12 (0 and 1 never grow the code size), a
 *     first code after a clear larger than the clear code, or a code past the next free one,
 *     is an error; a full table stops growing (deferred clear); literal codes above 255 keep
 *     their low 8 bits. Decoding ends as soon as the last pixel is written, so a missing end
 *     code, block terminator or trailer is fine. The sub-block chain is followed past a zero
 *     terminator (Pillow reads the next block bytes as more data), so data that runs out
 *     before the image is full is an error. An end code before the image is full is skipped,
 *     except when Pillow has already read the whole file by then (it reads 64 KiB at a time
 *     from the image data): then it is an error, like the truncation it signals.
 *   - Unknown bytes between blocks are skipped; a graphic control extension shorter than Pillow
 *     reads (3 bytes, 4 with the transparency flag), an application extension with no data and
 *     a truncated header, colour table or image descriptor are errors.
 * info.frames counts image descriptors the way Pillow's n_frames does. */
#include "../jclip_base.h"
#include "image.h"

#define JC_GIF_TABLE 4096        /* LZW codes are at most 12 bits */
#define JC_GIF_READ_BLOCK 65536u /* Pillow's ImageFile.decodermaxblock */

typedef struct {
    uint32_t w, h;                /* image size (screen grown to the first frame) */
    uint32_t fx, fy, fw, fh;      /* first frame's descriptor */
    int interlace;
    int transparency;             /* first frame's transparency index, -1 when none */
    int any_transparency;         /* some frame has a transparency index */
    int mcs;                      /* LZW minimum code size byte */
    size_t data;                  /* offset of the first frame's first sub-block */
    int frames;
    int version;                  /* 87 or 89 */
    uint8_t pal[256 * 3];         /* table over Pillow's default gray ramp */
} jc_gif_hdr;

/* Skips a chain of sub-blocks starting at *pos (a zero length or the end of data stops it). */
static void jc_gif_skip_blocks(const uint8_t *d, size_t n, size_t *pos)
{
    while (*pos < n && d[*pos]) {
        size_t sz = d[*pos];
        *pos = sz + 1 > n - *pos ? n : *pos + 1 + sz;
    }
    if (*pos < n) (*pos)++;
}

/* Walks blocks from *pos up to the next image descriptor, as Pillow's GifImageFile._seek.
 * Returns 1 with the frame's fields filled (and *pos at its first sub-block), 0 at the trailer
 * or the end of data, negative on an error Pillow raises. first: this is frame 0 (the header's
 * fields and palette are filled only then). */
static int jc_gif_next_frame(const uint8_t *d, size_t n, size_t *pos, int first, jc_gif_hdr *h, const char **why)
{
    size_t p = *pos;
    int transp = -1;
    for (;;) {
        if (p >= n || d[p] == ';') return 0;
        uint8_t c = d[p++];
        if (c == '!') {
            if (p >= n) { *why = "file ends inside an extension"; return -1; }
            uint8_t label = d[p++];
            /* Pillow's data(): a length byte, then up to that many bytes (short at the end). */
            size_t blen = 0, bstart = p;
            int have = 0;
            if (p < n && d[p]) {
                blen = d[p];
                bstart = p + 1;
                if (blen > n - bstart) blen = n - bstart;
                have = blen > 0;
                p = bstart + blen;
            } else if (p < n) {
                p++;
            }
            if (label == 0xF9) {
                if (!have) { *why = "empty graphic control extension"; return -1; }
                if ((d[bstart] & 1) && blen < 4) { *why = "graphic control extension too short"; return -1; }
                if (blen < 3) { *why = "graphic control extension too short"; return -1; }
                if (d[bstart] & 1) {
                    transp = d[bstart + 3];
                    h->any_transparency = 1;
                }
            } else if (label == 0xFE) {
                /* Pillow reads sub-blocks up to the terminator, which the empty case consumed. */
                if (have) jc_gif_skip_blocks(d, n, &p);
                continue;
            } else if (label == 0xFF && first) {
                if (!have) { *why = "empty application extension"; return -1; }
                if (blen >= 11 && memcmp(d + bstart, "NETSCAPE2.0", 11) == 0) {
                    /* The next sub-block must exist (Pillow takes len() of it). */
                    if (!(p < n && d[p])) { *why = "NETSCAPE2.0 extension without data"; return -1; }
                }
            }
            /* Then Pillow skips sub-blocks up to a terminator. After an empty first sub-block that
             * reads the byte after it as a length, which this reproduces. */
            jc_gif_skip_blocks(d, n, &p);
            continue;
        }
        if (c != ',') continue; /* Pillow skips unknown bytes */
        if (n - p < 9) { *why = "file ends inside an image descriptor"; return -1; }
        const uint8_t *s = d + p;
        p += 9;
        uint32_t x0 = s[0] | (uint32_t)s[1] << 8, y0 = s[2] | (uint32_t)s[3] << 8;
        uint32_t fw = s[4] | (uint32_t)s[5] << 8, fh = s[6] | (uint32_t)s[7] << 8;
        uint8_t flags = s[8];
        if (first) {
            h->fx = x0, h->fy = y0, h->fw = fw, h->fh = fh;
            h->interlace = (flags & 64) != 0;
            h->transparency = transp;
            if (x0 + fw > h->w) h->w = x0 + fw;
            if (y0 + fh > h->h) h->h = y0 + fh;
        }
        if (flags & 128) {
            size_t plen = (size_t)3 << ((flags & 7) + 1);
            size_t got = plen > n - p ? n - p : plen;
            if (got % 3) { *why = "file ends inside a local colour table"; return -1; }
            if (first) { /* replaces the global table: entries past it are the gray ramp again */
                for (unsigned i = 0; i < 256; i++) h->pal[3 * i] = h->pal[3 * i + 1] = h->pal[3 * i + 2] = (uint8_t)i;
                memcpy(h->pal, d + p, got);
            }
            p += got;
        }
        if (p >= n) { *why = "file ends before the LZW code size"; return -1; }
        if (first) h->mcs = d[p];
        p++;
        if (first) h->data = p;
        *pos = p;
        return 1;
    }
}

static int jc_gif_read_header(const uint8_t *d, size_t n, jc_gif_hdr *h, char *err, size_t errcap)
{
    memset(h, 0, sizeof *h);
    if (n < 6) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "gif: file ends inside the signature");
    if (memcmp(d, "GIF87a", 6) != 0 && memcmp(d, "GIF89a", 6) != 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "gif: not GIF87a or GIF89a");
    h->version = d[4] == '7' ? 87 : 89;
    if (n < 13) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "gif: file ends inside the screen descriptor");
    h->w = d[6] | (uint32_t)d[7] << 8;
    h->h = d[8] | (uint32_t)d[9] << 8;
    for (unsigned i = 0; i < 256; i++) h->pal[3 * i] = h->pal[3 * i + 1] = h->pal[3 * i + 2] = (uint8_t)i;
    size_t pos = 13;
    if (d[10] & 128) {
        size_t plen = (size_t)3 << ((d[10] & 7) + 1);
        if (plen > n - pos) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "gif: file ends inside the global colour table");
        memcpy(h->pal, d + pos, plen);
        pos += plen;
    }
    /* The first frame's local table replaces the global one (jc_gif_next_frame copies it over). */
    const char *why = "";
    int r = jc_gif_next_frame(d, n, &pos, 1, h, &why);
    if (r < 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "gif: %s", why);
    if (r == 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "gif: no image in the file");
    if (h->w == 0 || h->h == 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "gif: empty image (%ux%u)", h->w, h->h);
    if (!(h->fx == 0 && h->fw == 0) && (h->fw == 0 || h->fh == 0))
        return jc_fail(err, errcap, JC_ERR_FORMAT, "gif: first image is empty (%ux%u at %u,%u)", h->fw, h->fh, h->fx, h->fy);
    /* Count the remaining frames as Pillow's n_frames: skip this frame's data, find the next. */
    h->frames = 1;
    while (h->frames < INT_MAX) {
        jc_gif_skip_blocks(d, n, &pos);
        jc_gif_hdr tmp;
        tmp.any_transparency = 0;
        if (jc_gif_next_frame(d, n, &pos, 0, &tmp, &why) <= 0) break;
        h->any_transparency |= tmp.any_transparency;
        h->frames++;
    }
    return JC_OK;
}

static void jc_gif_fill_info(const jc_gif_hdr *h, jc_image_info *info)
{
    memset(info, 0, sizeof *info);
    info->format = JC_FORMAT_GIF;
    info->width = h->w;
    info->height = h->h;
    info->components = 1;
    info->bit_depth = 8;
    info->progressive = h->interlace;
    info->frames = h->frames;
    info->alpha = h->any_transparency;
    snprintf(info->color, sizeof info->color, "palette");
}

/* Header only (walks the blocks to size the image and count frames). */
static JC_UNUSED int jc_gif_info(const uint8_t *data, size_t len, jc_image_info *info, char *err, size_t errcap)
{
    jc_gif_hdr h;
    if (!info) return jc_fail(err, errcap, JC_ERR_ARG, "gif: NULL info");
    if (!data) return jc_fail(err, errcap, JC_ERR_ARG, "gif: NULL data");
    int rc = jc_gif_read_header(data, len, &h, err, errcap);
    if (rc == JC_OK) jc_gif_fill_info(&h, info);
    return rc;
}

/* LZW decoder state (Pillow's GifDecode semantics, see the top of the file). */
typedef struct {
    uint16_t link[JC_GIF_TABLE];
    uint8_t suffix[JC_GIF_TABLE];
    uint8_t stack[JC_GIF_TABLE];
} jc_gif_lzw;

/* Decodes the first frame into rgb (the image is w x h, rgb already filled with the background
 * colour). Returns JC_OK once every pixel of the frame is written. */
static int jc_gif_lzw_decode(const uint8_t *d, size_t n, const jc_gif_hdr *h, jc_gif_lzw *t, uint8_t *rgb, char *err,
                             size_t errcap)
{
    uint32_t xoff = h->fx, yoff = h->fy, xsize = h->fw, ysize = h->fh;
    if (xoff == 0 && xsize == 0) xoff = yoff = 0, xsize = h->w, ysize = h->h;
    const int bits = h->mcs;
    const int clear = 1 << bits, end = clear + 1;
    int next = clear + 2, codesize = bits + 1, codemask = (1 << codesize) - 1;
    int first = 1, lastcode = 0;
    uint8_t lastdata = 0;
    uint32_t bitbuf = 0;
    int bitcount = 0;
    size_t pos = h->data, blockleft = 0;
    size_t avail = n - pos > JC_GIF_READ_BLOCK ? pos + JC_GIF_READ_BLOCK : n; /* what Pillow has read */
    uint32_t x = 0, y = 0, step = h->interlace ? 8 : 1;
    int stage = h->interlace ? 1 : 0;
    uint8_t *row = rgb + ((size_t)yoff * h->w + xoff) * 3;
    for (;;) {
        while (bitcount < codesize) {
            if (blockleft > 0) {
                bitbuf |= (uint32_t)d[pos++] << bitcount;
                bitcount += 8;
                blockleft--;
                continue;
            }
            /* A new sub-block: Pillow waits until its length byte and all its bytes are read. */
            while (pos >= avail || (size_t)d[pos] + 1 > avail - pos) {
                if (avail == n) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "gif: image data ends before the image is complete (row %u of %u)", y, ysize);
                avail = n - avail > JC_GIF_READ_BLOCK ? avail + JC_GIF_READ_BLOCK : n;
            }
            blockleft = d[pos++];
        }
        int c = (int)(bitbuf & (uint32_t)codemask);
        bitbuf >>= codesize;
        bitcount -= codesize;
        if (c == clear) {
            next = clear + 2, codesize = bits + 1, codemask = (1 << codesize) - 1, first = 1;
            continue;
        }
        if (c == end) {
            /* Pillow returns to its read loop here; with the file fully read that is an error. */
            if (avail == n) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "gif: end code before the image is complete (row %u of %u)", y, ysize);
            avail = n - avail > JC_GIF_READ_BLOCK ? avail + JC_GIF_READ_BLOCK : n;
            continue;
        }
        size_t sp = JC_GIF_TABLE; /* the string's tail, stacked right to left */
        if (first) {
            if (c > clear) return jc_fail(err, errcap, JC_ERR_FORMAT, "gif: bad first code %d after a clear code", c);
            lastdata = (uint8_t)c;
            lastcode = c;
            first = 0;
        } else {
            int code = c;
            if (c > next) return jc_fail(err, errcap, JC_ERR_FORMAT, "gif: LZW code %d past the table (%d)", c, next);
            if (c == next) {
                t->stack[--sp] = lastdata;
                c = lastcode;
            }
            while (c >= clear) {
                if (sp == 0 || c >= JC_GIF_TABLE) return jc_fail(err, errcap, JC_ERR_FORMAT, "gif: broken LZW string");
                t->stack[--sp] = t->suffix[c];
                c = t->link[c];
            }
            lastdata = (uint8_t)c;
            if (next < JC_GIF_TABLE) {
                t->suffix[next] = (uint8_t)c;
                t->link[next] = (uint16_t)lastcode;
                if (next == codemask && codesize < 12) {
                    codesize++;
                    codemask = (1 << codesize) - 1;
                }
                next++;
            }
            lastcode = code;
        }
        /* Emit lastdata, then the stacked tail. */
        for (size_t k = sp, head = 1;; head = 0) {
            uint8_t v;
            if (head) v = lastdata;
            else if (k < JC_GIF_TABLE) v = t->stack[k++];
            else break;
            memcpy(row + (size_t)x * 3, h->pal + 3 * (size_t)v, 3);
            if (++x < xsize) continue;
            x = 0;
            y += step;
            while (y >= ysize) {
                if (stage == 1) y = 4, stage = 2;
                else if (stage == 2) step = 4, y = 2, stage = 3;
                else if (stage == 3) step = 2, y = 1, stage = 0;
                else return JC_OK;
            }
            row = rgb + ((size_t)(yoff + y) * h->w + xoff) * 3;
        }
    }
}

/* Decodes the first frame of a GIF into packed RGB8 (rgb_cap >= width*height*3). max_pixels:
 * limit on width*height (0 = JC_DEFAULT_MAX_PIXELS). info (may be NULL) is filled once the
 * header is read. On failure the contents of rgb are unspecified. */
static JC_UNUSED int jc_gif_decode(const uint8_t *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                                   jc_image_info *info, char *err, size_t errcap)
{
    jc_gif_hdr h;
    if (!data) return jc_fail(err, errcap, JC_ERR_ARG, "gif: NULL data");
    int rc = jc_gif_read_header(data, len, &h, err, errcap);
    if (rc != JC_OK) return rc;
    if (info) jc_gif_fill_info(&h, info);
    if (max_pixels == 0) max_pixels = JC_DEFAULT_MAX_PIXELS;
    if ((uint64_t)h.w * h.h > max_pixels)
        return jc_fail(err, errcap, JC_ERR_LIMIT, "gif: %ux%u exceeds the limit of %llu pixels", h.w, h.h, (unsigned long long)max_pixels);
    size_t need;
    if (!jc_mul3(h.w, h.h, 3, &need)) return jc_fail(err, errcap, JC_ERR_LIMIT, "gif: image too large for this platform");
    if (!rgb || rgb_cap < need) return jc_fail(err, errcap, JC_ERR_CAPACITY, "gif: output needs %zu bytes, capacity %zu", need, rgb_cap);
    if (h.mcs > 12) return jc_fail(err, errcap, JC_ERR_FORMAT, "gif: LZW minimum code size %d (at most 12)", h.mcs);
    /* Background: index 0, or the first frame's transparency index. */
    const uint8_t *bg = h.pal + 3 * (size_t)(h.transparency >= 0 ? h.transparency : 0);
    for (size_t i = 0; i < need; i += 3) memcpy(rgb + i, bg, 3);
    jc_gif_lzw *t = (jc_gif_lzw *)JCLIP_MALLOC(sizeof *t);
    if (!t) return jc_fail(err, errcap, JC_ERR_NOMEM, "gif: out of memory");
    rc = jc_gif_lzw_decode(data, len, &h, t, rgb, err, errcap);
    JCLIP_FREE(t);
    return rc;
}
