/* image/webp.c: WebP decoder producing packed 8-bit RGB, byte-identical to Pillow 9.4's
 * Image.open(f).convert('RGB') with Pillow linking libwebp 1.2.4 (libwebpdemux).
 *
 * Pillow opens every WebP, still or animated, through WebPAnimDecoder, so what it accepts is
 * what three libwebp layers accept, and this file follows each of them:
 *   1. WebPGetFeatures on the whole file (RIFF header, VP8X, the chunks before the bitstream,
 *      the VP8/VP8L frame header, the VP8X canvas equal to the image size);
 *   2. WebPDemux, which walks every chunk up to the RIFF end and refuses a file shorter than
 *      its RIFF size, a chunk running past it, a second image in a still file, an animation
 *      frame outside the canvas, a frame with ALPH but no image, VP8X flags outside 0x3e, ...
 *      (bytes after the RIFF end are ignored; chunks after a still image's bitstream are read
 *      only as far as the next chunk header);
 *   3. WebPDecode of the first frame's bytes (ALPH chunk through the image chunk), decoded by
 *      image/vp8.c or image/vp8l.c; the alpha plane of a lossy frame is decoded too, as libwebp
 *      does, so a broken ALPH chunk refuses the file, but its values are not used.
 * The first frame is composited as WebPAnimDecoder composites frame 1: on a canvas of
 * transparent black, at the frame offset, without blending (the first frame is a key frame);
 * the ANIM background colour is ignored. convert('RGB') then drops alpha: RGB values are the
 * decoded ones (libwebp's RGBA output is not premultiplied), black outside the frame.
 * Only the VP8X ALPHA flag decides whether a still image's ALPH chunk is read at all. */
#include "../jclip_base.h"
#include "image.h"

#define JC_WEBP_MAX_CHUNK 0xfffffff6u /* libwebp's MAX_CHUNK_PAYLOAD: ~0u - 8 - 1 */
#define JC_WEBP_F_ANIM 0x02u
#define JC_WEBP_F_ALPHA 0x10u
#define JC_WEBP_F_ALL 0x3eu

enum { JC_WST_OK = 0, JC_WST_MORE = 1, JC_WST_ERR = 2 };

static uint32_t jc_webp_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t jc_webp_le24(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static int jc_webp_tag(const uint8_t *p, const char *t)
{
    return memcmp(p, t, 4) == 0;
}

/* What libwebp's ParseHeadersInternal finds in a buffer. */
typedef struct {
    uint32_t w, h;
    int has_alpha, has_anim, lossless;
    const uint8_t *bits; /* the VP8/VP8L bitstream ... */
    size_t bits_len;     /* ... and every byte after it in the buffer */
    const uint8_t *alpha;
    size_t alpha_len;
} jc_webp_hdr;

/* ParseHeadersInternal. have_all: the whole buffer is present (WebPDecode); want_headers:
 * called for decoding rather than WebPGetFeatures (no early return for an animation, no
 * success on a short VP8X file). */
static int jc_webp_headers(const uint8_t *data, size_t size, int have_all, int want_headers, jc_webp_hdr *h)
{
    uint32_t cw = 0, chh = 0, iw = 0, ih = 0, flags = 0;
    int found_riff = 0, found_vp8x = 0, st = JC_WST_OK;
    size_t riff_size = 0;
    memset(h, 0, sizeof *h);
    if (size < 12) return JC_WST_MORE;
    if (jc_webp_tag(data, "RIFF")) {
        if (!jc_webp_tag(data + 8, "WEBP")) return JC_WST_ERR;
        uint32_t rs = jc_webp_le32(data + 4);
        if (rs < 12 || rs > JC_WEBP_MAX_CHUNK) return JC_WST_ERR;
        if (have_all && rs > size - 8) return JC_WST_MORE;
        riff_size = rs;
        data += 12;
        size -= 12;
    }
    found_riff = riff_size > 0;
    if (size < 8) return JC_WST_MORE;
    if (jc_webp_tag(data, "VP8X")) {
        if (jc_webp_le32(data + 4) != 10) return JC_WST_ERR;
        if (size < 18) return JC_WST_MORE;
        flags = jc_webp_le32(data + 8);
        cw = 1 + jc_webp_le24(data + 12);
        chh = 1 + jc_webp_le24(data + 15);
        if ((uint64_t)cw * chh >= (1ull << 32)) return JC_WST_ERR;
        found_vp8x = 1;
        data += 18;
        size -= 18;
    }
    if (!found_riff && found_vp8x) return JC_WST_ERR;
    h->has_alpha = !!(flags & JC_WEBP_F_ALPHA);
    h->has_anim = !!(flags & JC_WEBP_F_ANIM);
    iw = cw;
    ih = chh;
    if (found_vp8x && h->has_anim && !want_headers) goto done;
    if (size < 4) {
        st = JC_WST_MORE;
        goto done;
    }
    if ((found_riff && found_vp8x) || (!found_riff && !found_vp8x && jc_webp_tag(data, "ALPH"))) {
        /* ParseOptionalChunks: skip to the bitstream, remembering the (last) ALPH chunk. The
         * running total is 32-bit and wraps as libwebp's does. */
        uint32_t total = 4 + 8 + 10;
        for (;;) {
            if (size < 8) {
                st = JC_WST_MORE;
                goto done;
            }
            uint32_t cs = jc_webp_le32(data + 4);
            if (cs > JC_WEBP_MAX_CHUNK) return JC_WST_ERR;
            uint32_t disk = (8u + cs + 1u) & ~1u;
            total += disk;
            if (riff_size > 0 && total > riff_size) return JC_WST_ERR;
            if (jc_webp_tag(data, "VP8 ") || jc_webp_tag(data, "VP8L")) break;
            if (size < disk) {
                st = JC_WST_MORE;
                goto done;
            }
            if (jc_webp_tag(data, "ALPH")) {
                h->alpha = data + 8;
                h->alpha_len = cs;
            }
            data += disk;
            size -= disk;
        }
    }
    if (size < 8) {
        st = JC_WST_MORE;
        goto done;
    }
    size_t compressed;
    if (jc_webp_tag(data, "VP8 ") || jc_webp_tag(data, "VP8L")) {
        uint32_t cs = jc_webp_le32(data + 4);
        if (riff_size >= 12 && cs > riff_size - 12) return JC_WST_ERR;
        if (have_all && cs > size - 8) {
            st = JC_WST_MORE;
            goto done;
        }
        h->lossless = jc_webp_tag(data, "VP8L");
        compressed = cs;
        data += 8;
        size -= 8;
    } else {
        h->lossless = size >= 5 && data[0] == 0x2f && (data[4] >> 5) == 0;
        compressed = size;
    }
    if (compressed > JC_WEBP_MAX_CHUNK) return JC_WST_ERR;
    if (!h->lossless) {
        if (size < 10) {
            st = JC_WST_MORE;
            goto done;
        }
        if (!jc_vp8_info(data, size, compressed, &iw, &ih)) return JC_WST_ERR;
    } else {
        int a;
        if (size < 5) {
            st = JC_WST_MORE;
            goto done;
        }
        if (!jc_vp8l_header(data, size, &iw, &ih, &a)) return JC_WST_ERR;
        h->has_alpha = a;
    }
    if (found_vp8x && (cw != iw || chh != ih)) return JC_WST_ERR;
    h->bits = data;
    h->bits_len = size;
done:
    if (st == JC_WST_OK || (st == JC_WST_MORE && found_vp8x && !want_headers)) {
        h->has_alpha |= h->alpha != NULL;
        h->w = iw;
        h->h = ih;
        return JC_WST_OK;
    }
    return st;
}

/* ---- the demuxer (libwebpdemux's WebPDemux, whole file, no partial data) ------------------- */

typedef struct {
    size_t img_off, img_size;     /* image chunk: offset of its header, header + payload bytes */
    size_t alpha_off, alpha_size; /* ALPH chunk, size 0 when none */
    uint32_t x_off, y_off, w, h;
    int has_alpha, frame_num, complete;
} jc_webp_frame;

typedef struct {
    const uint8_t *buf;
    size_t start, end; /* end: the RIFF end (bytes past it are ignored) */
    uint32_t flags;
    int is_ext, is_anim;
    uint32_t canvas_w, canvas_h;
    int num_frames, anim_chunks;
    int have_first;
    jc_webp_frame first;
    int last_complete; /* the last frame added was complete */
    int valid;         /* every frame added so far passes IsValidExtendedFormat */
} jc_webp_demux;

/* StoreFrame: the ALPH / VP8 / VP8L chunks of one frame, stopping at any other chunk. */
static int jc_dmx_store_frame(jc_webp_demux *m, int frame_num, size_t min_size, jc_webp_frame *f)
{
    int alpha_chunks = 0, image_chunks = 0, st = JC_WST_OK;
    size_t avail = m->end - m->start;
    if (avail < 8 || avail < min_size) return JC_WST_MORE;
    for (;;) {
        size_t cstart = m->start;
        const uint8_t *c = m->buf + cstart;
        uint32_t psize = jc_webp_le32(c + 4);
        if (psize > JC_WEBP_MAX_CHUNK) return JC_WST_ERR;
        uint32_t padded = psize + (psize & 1u);
        m->start += 8;
        avail = m->end - m->start;
        size_t pav = padded > avail ? avail : padded;
        size_t csize = 8 + pav;
        if (padded > avail) return JC_WST_ERR; /* SizeIsInvalid: past the RIFF end */
        int done = 0;
        if (jc_webp_tag(c, "ALPH")) {
            if (alpha_chunks == 0) {
                alpha_chunks++;
                f->alpha_off = cstart;
                f->alpha_size = csize;
                f->has_alpha = 1;
                f->frame_num = frame_num;
                m->start += pav;
            } else {
                done = 1;
            }
        } else if (jc_webp_tag(c, "VP8L") || jc_webp_tag(c, "VP8 ")) {
            if (jc_webp_tag(c, "VP8L") && alpha_chunks > 0) return JC_WST_ERR;
            if (image_chunks == 0) {
                jc_webp_hdr fh;
                int fs = jc_webp_headers(c, csize, 0, 0, &fh);
                if (fs != JC_WST_OK) return JC_WST_ERR;
                image_chunks++;
                f->img_off = cstart;
                f->img_size = csize;
                f->w = fh.w;
                f->h = fh.h;
                f->has_alpha |= fh.has_alpha;
                f->frame_num = frame_num;
                f->complete = 1;
                m->start += pav;
            } else {
                done = 1;
            }
        } else {
            done = 1;
        }
        if (done) {
            m->start -= 8;
            return st;
        }
        if (m->start == m->end) return st;
        if (m->end - m->start < 8) return JC_WST_MORE;
    }
}

static int jc_dmx_add_frame(jc_webp_demux *m, const jc_webp_frame *f)
{
    if (m->num_frames > 0 && !m->last_complete) return 0;
    m->last_complete = f->complete;
    if (!m->have_first) {
        m->first = *f;
        m->have_first = 1;
    }
    /* IsValidExtendedFormat / IsValidSimpleFormat for this frame (the parse only matters when
     * it completes, so an incomplete frame is invalid). */
    if (!f->complete) {
        m->valid = 0;
    } else {
        if (f->alpha_size > 0 && f->alpha_off > f->img_off) m->valid = 0;
        if (m->is_ext) {
            if (!m->is_anim) {
                if (f->x_off != 0 || f->y_off != 0 || f->w != m->canvas_w || f->h != m->canvas_h) m->valid = 0;
            } else if ((uint64_t)f->w + f->x_off > m->canvas_w || (uint64_t)f->h + f->y_off > m->canvas_h) {
                m->valid = 0;
            }
        }
    }
    return 1;
}

static int jc_dmx_single_image(jc_webp_demux *m)
{
    jc_webp_frame f;
    memset(&f, 0, sizeof f);
    if (m->num_frames > 0 || m->have_first) return JC_WST_ERR;
    if (m->end - m->start < 8) return JC_WST_ERR;
    int st = jc_dmx_store_frame(m, 1, 0, &f);
    if (st == JC_WST_ERR) return st;
    if (!(m->flags & JC_WEBP_F_ALPHA) && f.alpha_size > 0) {
        f.alpha_off = 0;
        f.alpha_size = 0;
        f.has_alpha = 0;
    }
    if (!m->is_ext && f.w > 0 && f.h > 0) {
        m->canvas_w = f.w;
        m->canvas_h = f.h;
        if (f.has_alpha) m->flags |= JC_WEBP_F_ALPHA;
    }
    if (!jc_dmx_add_frame(m, &f)) return JC_WST_ERR;
    m->num_frames = 1;
    return st;
}

static int jc_dmx_anmf(jc_webp_demux *m, uint32_t chunk_size)
{
    jc_webp_frame f;
    memset(&f, 0, sizeof f);
    if (16 > m->end - m->start) return JC_WST_ERR;
    if (chunk_size < 16) return JC_WST_ERR;
    uint32_t payload = chunk_size - 16;
    const uint8_t *p = m->buf + m->start;
    f.x_off = 2 * jc_webp_le24(p);
    f.y_off = 2 * jc_webp_le24(p + 3);
    uint32_t w = 1 + jc_webp_le24(p + 6), h = 1 + jc_webp_le24(p + 9);
    m->start += 16;
    if ((uint64_t)w * h >= (1ull << 32)) return JC_WST_ERR;
    f.w = w;
    f.h = h;
    size_t s0 = m->start;
    int st = jc_dmx_store_frame(m, m->num_frames + 1, payload, &f);
    if (st != JC_WST_ERR && m->start - s0 > payload) st = JC_WST_ERR;
    if (st != JC_WST_ERR && m->is_anim && f.frame_num > 0) {
        if (jc_dmx_add_frame(m, &f)) m->num_frames++;
        else st = JC_WST_ERR;
    }
    return st;
}

static int jc_dmx_vp8x(jc_webp_demux *m)
{
    const uint8_t *b = m->buf;
    if (m->end - m->start < 8) return JC_WST_MORE;
    m->is_ext = 1;
    uint32_t vs = jc_webp_le32(b + m->start + 4);
    m->start += 8;
    if (vs > JC_WEBP_MAX_CHUNK || vs < 10) return JC_WST_ERR;
    vs += vs & 1u;
    if (vs > m->end - m->start) return JC_WST_ERR;
    const uint8_t *p = b + m->start;
    m->flags = p[0];
    m->canvas_w = 1 + jc_webp_le24(p + 4);
    m->canvas_h = 1 + jc_webp_le24(p + 7);
    if ((uint64_t)m->canvas_w * m->canvas_h >= (1ull << 32)) return JC_WST_ERR;
    m->start += vs;
    m->is_anim = !!(m->flags & JC_WEBP_F_ANIM);
    if (8 > m->end - m->start) return JC_WST_ERR;
    int st = JC_WST_OK;
    do {
        const uint8_t *c = b + m->start;
        uint32_t cs = jc_webp_le32(c + 4);
        m->start += 8;
        if (cs > JC_WEBP_MAX_CHUNK) return JC_WST_ERR;
        uint32_t padded = cs + (cs & 1u);
        if (padded > m->end - m->start) return JC_WST_ERR;
        if (jc_webp_tag(c, "VP8X")) {
            return JC_WST_ERR;
        } else if (jc_webp_tag(c, "ALPH") || jc_webp_tag(c, "VP8 ") || jc_webp_tag(c, "VP8L")) {
            if (m->anim_chunks > 0 || m->is_anim) return JC_WST_ERR;
            m->start -= 8;
            st = jc_dmx_single_image(m);
        } else if (jc_webp_tag(c, "ANIM")) {
            if (padded < 6) return JC_WST_ERR;
            m->anim_chunks++; /* background colour and loop count are not used */
            m->start += padded;
        } else if (jc_webp_tag(c, "ANMF")) {
            if (m->anim_chunks == 0) return JC_WST_ERR;
            st = jc_dmx_anmf(m, padded);
        } else {
            m->start += padded; /* ICCP, EXIF, XMP, unknown: skipped */
        }
        if (m->start == m->end) break;
        if (m->end - m->start < 8) st = JC_WST_MORE;
    } while (st == JC_WST_OK);
    return st;
}

/* WebPGetFeatures + WebPDemux on the whole file. Fills m and returns JC_OK, or an error. */
static int jc_webp_demux_file(const uint8_t *data, size_t len, jc_webp_demux *m, char *err, size_t errcap)
{
    jc_webp_hdr h;
    memset(m, 0, sizeof *m);
    if (!data || len < 12 || !jc_webp_tag(data, "RIFF") || !jc_webp_tag(data + 8, "WEBP"))
        return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: not a RIFF/WEBP file");
    int st = jc_webp_headers(data, len, 0, 0, &h);
    if (st == JC_WST_MORE) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: file ends inside the headers");
    if (st != JC_WST_OK) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: bad headers");
    if (len < 20) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: file ends inside the headers");
    uint32_t riff = jc_webp_le32(data + 4);
    if (riff < 8 || riff > JC_WEBP_MAX_CHUNK) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: bad RIFF size %u", riff);
    size_t riff_end = (size_t)riff + 8;
    if (len < riff_end)
        return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: file of %zu bytes is shorter than its RIFF size %zu", len, riff_end);
    m->buf = data;
    m->start = 12;
    m->end = riff_end;
    m->valid = 1;
    const uint8_t *c = data + 12;
    if (jc_webp_tag(c, "VP8 ") || jc_webp_tag(c, "VP8L")) st = jc_dmx_single_image(m);
    else if (jc_webp_tag(c, "VP8X")) st = jc_dmx_vp8x(m);
    else return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: first chunk is %.4s, not VP8, VP8L or VP8X", (const char *)c);
    if (st == JC_WST_MORE) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: a chunk runs past the RIFF end");
    if (st != JC_WST_OK) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: bad chunk structure");
    if (!m->have_first) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: no image in the file");
    if (m->is_ext && (m->flags & ~JC_WEBP_F_ALL)) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: bad VP8X flags 0x%x", m->flags);
    if (!m->valid) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: a frame is incomplete or outside the canvas");
    if (m->canvas_w == 0 || m->canvas_h == 0 || m->first.w == 0 || m->first.h == 0)
        return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: empty canvas");
    return JC_OK;
}

static void jc_webp_fill_info(const jc_webp_demux *m, int lossy, jc_image_info *info)
{
    memset(info, 0, sizeof *info);
    info->format = JC_FORMAT_WEBP;
    info->width = m->canvas_w;
    info->height = m->canvas_h;
    info->alpha = !!(m->flags & JC_WEBP_F_ALPHA);
    info->components = info->alpha ? 4 : 3;
    info->bit_depth = 8;
    info->frames = m->num_frames;
    info->lossy = lossy;
    snprintf(info->color, sizeof info->color, "%s", lossy ? "ycbcr" : info->alpha ? "rgba" : "rgb");
    snprintf(info->sampling, sizeof info->sampling, "%s", lossy ? "2x2,1x1,1x1" : "");
}

/* The first frame's bitstream kind, from its image chunk tag. */
static int jc_webp_first_lossy(const jc_webp_demux *m)
{
    return jc_webp_tag(m->buf + m->first.img_off, "VP8 ");
}

/* Header only (the chunk structure is walked, nothing is decoded). info may not be NULL. */
static int jc_webp_info(const uint8_t *data, size_t len, jc_image_info *info, char *err, size_t errcap)
{
    jc_webp_demux m;
    if (!info) return jc_fail(err, errcap, JC_ERR_ARG, "webp: NULL info");
    int rc = jc_webp_demux_file(data, len, &m, err, errcap);
    if (rc != JC_OK) return rc;
    jc_webp_fill_info(&m, jc_webp_first_lossy(&m), info);
    return JC_OK;
}

/* The ALPH payload of a lossy frame, checked as libwebp's ALPHInit / ALPHDecode check it. */
typedef struct {
    const uint8_t *data;
    size_t len;
} jc_webp_alpha;

static int jc_webp_check_alpha(void *ctx, uint32_t w, uint32_t h, char *err, size_t errcap)
{
    const jc_webp_alpha *a = (const jc_webp_alpha *)ctx;
    if (a->len <= 1) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: empty ALPH chunk");
    unsigned hdr = a->data[0];
    unsigned method = hdr & 3u, pre = (hdr >> 4) & 3u, rsrv = hdr >> 6;
    if (method > 1 || pre > 1 || rsrv != 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: bad ALPH header 0x%02x", hdr);
    if (method == 0) {
        if (a->len - 1 < (size_t)w * h) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: ALPH plane truncated");
        return JC_OK;
    }
    return jc_vp8l_check_alpha(a->data + 1, a->len - 1, w, h, err, errcap);
}

/* Decodes the first frame into packed RGB8 rows (rgb_cap >= width*height*3, the canvas size).
 * max_pixels: limit on the canvas width*height (0 = JC_DEFAULT_MAX_PIXELS). info (may be
 * NULL) is filled once the structure is read. On failure the contents of rgb are unspecified. */
static int jc_webp_decode(const uint8_t *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                          jc_image_info *info, char *err, size_t errcap)
{
    jc_webp_demux m;
    int rc = jc_webp_demux_file(data, len, &m, err, errcap);
    if (rc != JC_OK) return rc;
    const jc_webp_frame *f = &m.first;
    int lossy = jc_webp_first_lossy(&m);
    if (info) jc_webp_fill_info(&m, lossy, info);
    if (max_pixels == 0) max_pixels = JC_DEFAULT_MAX_PIXELS;
    if ((uint64_t)m.canvas_w * m.canvas_h > max_pixels)
        return jc_fail(err, errcap, JC_ERR_LIMIT, "webp: %ux%u exceeds the limit of %llu pixels", m.canvas_w, m.canvas_h,
                       (unsigned long long)max_pixels);
    size_t need, stride;
    if (!jc_mul3(m.canvas_w, m.canvas_h, 3, &need) || !jc_mul(m.canvas_w, 3, &stride))
        return jc_fail(err, errcap, JC_ERR_LIMIT, "webp: image too large for this platform");
    if (!rgb || rgb_cap < need) return jc_fail(err, errcap, JC_ERR_CAPACITY, "webp: output needs %zu bytes, capacity %zu", need, rgb_cap);

    /* WebPDecode on the frame's bytes: from its ALPH chunk (if any) to the end of its image chunk. */
    size_t off = f->img_off, plen = f->img_size;
    if (f->alpha_size > 0) {
        plen += f->alpha_size + (f->img_off - (f->alpha_off + f->alpha_size));
        off = f->alpha_off;
    }
    jc_webp_hdr h;
    int st = jc_webp_headers(data + off, plen, 1, 1, &h);
    if (st == JC_WST_MORE) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "webp: frame data truncated");
    if (st != JC_WST_OK) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: bad frame headers");
    if (h.w != f->w || h.h != f->h) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: frame size mismatch");
    if (m.canvas_w != f->w || m.canvas_h != f->h) memset(rgb, 0, need);
    uint8_t *dst = rgb + (size_t)f->y_off * stride + (size_t)f->x_off * 3;
    if (!h.lossless) {
        jc_webp_alpha a = {h.alpha, h.alpha_len};
        return jc_vp8_decode(h.bits, h.bits_len, dst, stride, h.alpha ? jc_webp_check_alpha : NULL, &a, err, errcap);
    }
    uint32_t *argb = NULL, w = 0, hh = 0;
    rc = jc_vp8l_decode_argb(h.bits, h.bits_len, &argb, &w, &hh, err, errcap);
    if (rc != JC_OK) return rc;
    for (uint32_t y = 0; y < hh; y++) {
        const uint32_t *s = argb + (size_t)y * w;
        uint8_t *o = dst + (size_t)y * stride;
        for (uint32_t x = 0; x < w; x++, o += 3) {
            uint32_t v = s[x];
            o[0] = (uint8_t)(v >> 16);
            o[1] = (uint8_t)(v >> 8);
            o[2] = (uint8_t)v;
        }
    }
    JCLIP_FREE(argb);
    return JC_OK;
}
