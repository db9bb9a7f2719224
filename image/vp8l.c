/* image/vp8l.c: WebP lossless (VP8L) bitstream decoder, used by image/webp.c for VP8L frames
 * and for the lossless-compressed alpha planes of ALPH chunks.
 *
 * Format: the WebP Lossless Bitstream Specification (RFC 9649): prefix codes with a colour
 * cache and LZ77 backward references, an optional entropy image selecting one of several code
 * groups per tile, and up to four transforms (predictor, cross-colour, subtract-green, colour
 * indexing) undone in reverse order. The decoder accepts and refuses exactly what libwebp 1.2.4
 * (which Pillow 9.4 links) accepts and refuses:
 *   - a prefix code must be complete, or have exactly one used symbol (a 0-bit code);
 *   - a transform type may appear once; colour cache bits are 1..11;
 *   - a backward reference may not reach before the first pixel nor past the last one;
 *   - reading past the end of the data is an error ("end of stream"). libwebp's reader holds a
 *     64-bit window, so a stream shorter than 8 bytes reads zero bits up to bit 64 before it
 *     counts as ended; the limit below reproduces that.
 *   - alpha planes that use only a colour-indexing transform and single-symbol red, blue and
 *     alpha codes take libwebp's 8-bit path, which accepts a stream that ends inside the
 *     symbol producing the last pixel; every other image must not end early at all.
 * Pixels are ARGB in a uint32 (alpha in the top byte), the layout the transforms work on. */
#include "../jclip_base.h"
#include "image.h"

#define JC_VP8L_MAX_CACHE_BITS 11
#define JC_VP8L_NUM_LIT 256
#define JC_VP8L_NUM_LEN 24
#define JC_VP8L_NUM_DIST 40
#define JC_VP8L_ROOT 8u
#define JC_VP8L_SUB 0x8000u /* table entry: link to a second-level table */
#define JC_VP8L_MAX_DIM 16384u

/* ---- bit reader ------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;     /* bytes shifted into val so far; past len these are zero padding */
    uint64_t val;   /* low nb bits are the next bits of the stream, LSB first */
    unsigned nb;
    uint64_t limit; /* the stream has ended once more than this many bits are consumed */
} jc_lbr;

static void jc_lbr_init(jc_lbr *b, const uint8_t *buf, size_t len)
{
    b->buf = buf;
    b->len = len;
    b->pos = 0;
    b->val = 0;
    b->nb = 0;
    b->limit = (uint64_t)(len < 8 ? 8 : len) * 8;
}

static inline uint64_t jc_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
           (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

/* Leaves at least 56 valid bits in val. */
static inline void jc_lbr_fill(jc_lbr *b)
{
    if (b->nb >= 56) return;
    if (b->len >= 8 && b->pos <= b->len - 8) {
        b->val |= jc_le64(b->buf + b->pos) << b->nb;
        unsigned n = (63 - b->nb) >> 3;
        b->pos += n;
        b->nb += n << 3;
    } else {
        while (b->nb <= 56) {
            uint64_t c = b->pos < b->len ? b->buf[b->pos] : 0;
            b->val |= c << b->nb;
            b->pos++;
            b->nb += 8;
        }
    }
}

static inline int jc_lbr_eos(const jc_lbr *b)
{
    return (uint64_t)b->pos * 8 - b->nb > b->limit;
}

/* n <= 24 bits; the caller has filled (at most 56 bits between fills). */
static inline uint32_t jc_lbr_take(jc_lbr *b, unsigned n)
{
    uint32_t v = (uint32_t)(b->val & ((1u << n) - 1u));
    b->val >>= n;
    b->nb -= n;
    return v;
}

static inline uint32_t jc_lbr_read(jc_lbr *b, unsigned n)
{
    jc_lbr_fill(b);
    return jc_lbr_take(b, n);
}

/* Decodes one symbol (at most 15 bits); the caller has filled. */
static inline unsigned jc_lbr_sym(jc_lbr *b, const uint32_t *t)
{
    uint32_t e = t[b->val & 0xffu];
    if (e & JC_VP8L_SUB) {
        b->val >>= JC_VP8L_ROOT;
        b->nb -= JC_VP8L_ROOT;
        e = t[(e >> 16) + (b->val & ((1u << ((e >> 8) & 0xfu)) - 1u))];
    }
    unsigned n = e & 0xffu;
    b->val >>= n;
    b->nb -= n;
    return e >> 16;
}

/* ---- prefix codes ------------------------------------------------------------------------- */

/* Table size needed for code lengths lens[0..n) (each 0..15), or 0 when they do not form a
 * valid code: none used, over-subscribed, or incomplete with more than one used symbol. */
static size_t jc_vp8l_table_size(const uint8_t *lens, unsigned n, unsigned *nused, uint16_t count[16])
{
    unsigned used = 0;
    for (int l = 0; l < 16; l++) count[l] = 0;
    for (unsigned s = 0; s < n; s++) {
        count[lens[s]]++;
        used += lens[s] != 0;
    }
    *nused = used;
    if (used == 0) return 0;
    if (used == 1) return 1u << JC_VP8L_ROOT;
    int32_t left = 1;
    for (int l = 1; l < 16; l++) {
        left = 2 * left - count[l];
        if (left < 0) return 0;
    }
    if (left != 0) return 0;
    /* Second-level tables: one per 8-bit prefix of the codes longer than 8 bits, sized by the
     * longest code under that prefix. Codes are canonical: consecutive codes of one length,
     * the first code of length l being (first(l-1) + count(l-1)) << 1. */
    size_t size = 1u << JC_VP8L_ROOT;
    uint8_t maxlen[256];
    memset(maxlen, 0, sizeof maxlen);
    uint32_t code = 0;
    for (int l = 1; l < 16; l++) {
        code <<= 1;
        if (l > 8)
            for (unsigned k = 0; k < count[l]; k++) {
                unsigned p = (unsigned)((code + k) >> (l - 8));
                if (maxlen[p] < l) maxlen[p] = (uint8_t)l;
            }
        code += count[l];
    }
    for (unsigned p = 0; p < 256; p++)
        if (maxlen[p]) size += (size_t)1 << (maxlen[p] - 8);
    return size;
}

static inline uint32_t jc_rev(uint32_t c, unsigned l)
{
    uint32_t r = 0;
    for (unsigned i = 0; i < l; i++, c >>= 1) r = (r << 1) | (c & 1u);
    return r;
}

/* Fills t (jc_vp8l_table_size entries) for a valid code. Entry: symbol << 16 | bits, or for a
 * link: offset << 16 | JC_VP8L_SUB | subbits << 8 | 8. */
static void jc_vp8l_table_fill(uint32_t *t, const uint8_t *lens, unsigned n, unsigned nused, const uint16_t count[16])
{
    if (nused == 1) {
        unsigned s = 0;
        while (!lens[s]) s++;
        for (unsigned i = 0; i < (1u << JC_VP8L_ROOT); i++) t[i] = (uint32_t)s << 16;
        return;
    }
    uint32_t next[16], code = 0;
    for (int l = 1; l < 16; l++) {
        code = (code + count[l - 1] * (l > 1)) << 1;
        next[l] = code;
    }
    /* Sub-table sizes per MSB-first 8-bit prefix, then their offsets. */
    uint8_t maxlen[256];
    uint32_t off[256];
    memset(maxlen, 0, sizeof maxlen);
    for (unsigned s = 0; s < n; s++) {
        unsigned l = lens[s];
        if (l > 8) {
            unsigned p = (unsigned)(next[l] >> (l - 8));
            if (maxlen[p] < l) maxlen[p] = (uint8_t)l;
            next[l]++;
        }
    }
    uint32_t at = 1u << JC_VP8L_ROOT;
    for (unsigned p = 0; p < 256; p++) {
        off[p] = at;
        if (maxlen[p]) {
            unsigned sb = maxlen[p] - 8u;
            t[jc_rev(p, 8)] = at << 16 | JC_VP8L_SUB | sb << 8 | JC_VP8L_ROOT;
            at += 1u << sb;
        }
    }
    code = 0;
    for (int l = 1; l < 16; l++) {
        code = (code + count[l - 1] * (l > 1)) << 1;
        next[l] = code;
    }
    for (unsigned s = 0; s < n; s++) {
        unsigned l = lens[s];
        if (!l) continue;
        uint32_t c = next[l]++;
        if (l <= 8) {
            uint32_t r = jc_rev(c, l);
            for (uint32_t i = r; i < (1u << JC_VP8L_ROOT); i += 1u << l) t[i] = (uint32_t)s << 16 | l;
        } else {
            unsigned p = (unsigned)(c >> (l - 8));
            unsigned sb = maxlen[p] - 8u;
            uint32_t r = jc_rev(c & ((1u << (l - 8)) - 1u), l - 8);
            for (uint32_t i = r; i < (1u << sb); i += 1u << (l - 8)) t[off[p] + i] = (uint32_t)s << 16 | (l - 8);
        }
    }
}

/* One group of five codes: green+length+cache, red, blue, alpha, distance (offsets into the
 * decoder's table pool). */
typedef struct {
    uint32_t off[5];
    int trivial_rba;     /* red, blue and alpha codes are single-symbol (0 bits) ... */
    uint32_t arb;        /* ... with these values (alpha << 24 | red << 16 | blue) */
} jc_vp8l_group;

typedef struct {
    jc_lbr br;
    uint32_t *pool; /* all prefix tables */
    size_t pool_len, pool_cap;
    uint8_t lens[JC_VP8L_NUM_LIT + JC_VP8L_NUM_LEN + (1u << JC_VP8L_MAX_CACHE_BITS)];
    char *err;
    size_t errcap;
} jc_vp8l_dec;

/* What one image stream (the main image or a sub-image) is coded with. */
typedef struct {
    int cache_bits;          /* 0 = no colour cache */
    uint32_t *cache;
    int hbits;               /* entropy image tile bits, 0 = one group */
    uint32_t hxsize;
    uint32_t *himage;        /* group index per tile (already mapped) */
    jc_vp8l_group *groups;
    uint32_t ngroups;
    int red_blue_alpha_trivial; /* every group's red, blue, alpha codes are single-symbol */
} jc_vp8l_codes;

static void jc_vp8l_codes_free(jc_vp8l_codes *c)
{
    JCLIP_FREE(c->cache);
    JCLIP_FREE(c->himage);
    JCLIP_FREE(c->groups);
    memset(c, 0, sizeof *c);
}

static int jc_vp8l_bad(jc_vp8l_dec *d, const char *what)
{
    if (jc_lbr_eos(&d->br)) return jc_fail(d->err, d->errcap, JC_ERR_TRUNCATED, "webp: lossless data ends early (%s)", what);
    return jc_fail(d->err, d->errcap, JC_ERR_FORMAT, "webp: bad lossless data (%s)", what);
}

/* Reads one prefix code of `alphabet` symbols. With store, appends its table to the pool and
 * returns the offset in *off; else only validates it (libwebp reads the codes of unused groups
 * the same way). *single is set when the code has one used symbol. */
static int jc_vp8l_read_code(jc_vp8l_dec *d, unsigned alphabet, int store, uint32_t *off, int *single)
{
    jc_lbr *b = &d->br;
    uint8_t *lens = d->lens;
    memset(lens, 0, alphabet > 256 ? alphabet : 256);
    jc_lbr_fill(b);
    if (jc_lbr_take(b, 1)) { /* simple code: one or two symbols of length 1 */
        unsigned nsym = jc_lbr_take(b, 1) + 1;
        unsigned first8 = jc_lbr_take(b, 1);
        lens[jc_lbr_take(b, first8 ? 8 : 1)] = 1;
        if (nsym == 2) lens[jc_lbr_take(b, 8)] = 1;
    } else {
        static const uint8_t order[19] = {17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
        uint8_t cl[19];
        memset(cl, 0, sizeof cl);
        unsigned ncodes = jc_lbr_take(b, 4) + 4;
        if (ncodes > 19) return jc_vp8l_bad(d, "code length count");
        for (unsigned i = 0; i < ncodes; i++) cl[order[i]] = (uint8_t)jc_lbr_read(b, 3);
        uint16_t cnt[16];
        unsigned used;
        uint32_t ct[256];
        if (jc_vp8l_table_size(cl, 19, &used, cnt) == 0) return jc_vp8l_bad(d, "code length code");
        jc_vp8l_table_fill(ct, cl, 19, used, cnt);
        unsigned max_sym = alphabet;
        if (jc_lbr_read(b, 1)) {
            unsigned nbits = 2 + 2 * jc_lbr_read(b, 3);
            max_sym = 2 + jc_lbr_read(b, nbits);
            if (max_sym > alphabet) return jc_vp8l_bad(d, "code length count");
        }
        unsigned sym = 0, prev = 8;
        while (sym < alphabet) {
            if (max_sym-- == 0) break;
            jc_lbr_fill(b);
            unsigned len = jc_lbr_sym(b, ct);
            if (len < 16) {
                lens[sym++] = (uint8_t)len;
                if (len) prev = len;
            } else {
                static const uint8_t xbits[3] = {2, 3, 7}, xoff[3] = {3, 3, 11};
                unsigned slot = len - 16;
                unsigned rep = jc_lbr_take(b, xbits[slot]) + xoff[slot];
                if (sym + rep > alphabet) return jc_vp8l_bad(d, "code length repeat");
                uint8_t v = len == 16 ? (uint8_t)prev : 0;
                while (rep--) lens[sym++] = v;
            }
            if (jc_lbr_eos(b)) return jc_vp8l_bad(d, "code lengths");
        }
    }
    if (jc_lbr_eos(b)) return jc_vp8l_bad(d, "prefix code");
    uint16_t cnt[16];
    unsigned used;
    size_t need = jc_vp8l_table_size(lens, alphabet, &used, cnt);
    if (need == 0) return jc_vp8l_bad(d, "prefix code");
    *single = used == 1;
    if (!store) return JC_OK;
    if (d->pool_cap - d->pool_len < need) {
        size_t cap = d->pool_cap ? d->pool_cap : 8192;
        while (cap - d->pool_len < need) {
            if (cap > SIZE_MAX / 8) return jc_fail(d->err, d->errcap, JC_ERR_NOMEM, "webp: out of memory");
            cap *= 2;
        }
        uint32_t *np = (uint32_t *)JCLIP_REALLOC(d->pool, cap * sizeof(uint32_t));
        if (!np) return jc_fail(d->err, d->errcap, JC_ERR_NOMEM, "webp: out of memory");
        d->pool = np;
        d->pool_cap = cap;
    }
    if (d->pool_len > UINT32_MAX - need) return jc_fail(d->err, d->errcap, JC_ERR_LIMIT, "webp: prefix tables too large");
    *off = (uint32_t)d->pool_len;
    jc_vp8l_table_fill(d->pool + d->pool_len, lens, alphabet, used, cnt);
    d->pool_len += need;
    return JC_OK;
}

static uint32_t jc_vp8l_sub(uint32_t size, int bits)
{
    return (size + (1u << bits) - 1u) >> bits;
}

static int jc_vp8l_image(jc_vp8l_dec *d, uint32_t w, uint32_t h, uint32_t **out);

/* Reads the colour cache and the prefix codes of an image stream (meta codes only at level 0). */
static int jc_vp8l_read_codes(jc_vp8l_dec *d, uint32_t w, uint32_t h, int level0, jc_vp8l_codes *c)
{
    jc_lbr *b = &d->br;
    int rc;
    memset(c, 0, sizeof *c);
    if (jc_lbr_read(b, 1)) {
        c->cache_bits = (int)jc_lbr_read(b, 4);
        if (c->cache_bits < 1 || c->cache_bits > JC_VP8L_MAX_CACHE_BITS) return jc_vp8l_bad(d, "colour cache size");
    }
    uint32_t max_group = 1;
    uint32_t *used = NULL;
    if (level0 && jc_lbr_read(b, 1)) {
        c->hbits = (int)jc_lbr_read(b, 3) + 2;
        uint32_t hw = jc_vp8l_sub(w, c->hbits), hh = jc_vp8l_sub(h, c->hbits);
        rc = jc_vp8l_image(d, hw, hh, &c->himage);
        if (rc != JC_OK) return rc;
        c->hxsize = hw;
        size_t n = (size_t)hw * hh;
        for (size_t i = 0; i < n; i++) {
            uint32_t g = (c->himage[i] >> 8) & 0xffffu;
            c->himage[i] = g;
            if (g + 1 > max_group) max_group = g + 1;
        }
        /* Map the group numbers in use to 0..ngroups-1, in order of first appearance. */
        used = (uint32_t *)JCLIP_MALLOC(max_group * sizeof(uint32_t));
        if (!used) return jc_fail(d->err, d->errcap, JC_ERR_NOMEM, "webp: out of memory");
        memset(used, 0xff, max_group * sizeof(uint32_t));
        uint32_t ng = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t *m = &used[c->himage[i]];
            if (*m == UINT32_MAX) *m = ng++;
            c->himage[i] = *m;
        }
        c->ngroups = ng;
    } else {
        c->ngroups = 1;
    }
    if (jc_lbr_eos(b)) {
        JCLIP_FREE(used);
        return jc_vp8l_bad(d, "entropy image");
    }
    c->groups = (jc_vp8l_group *)JCLIP_MALLOC(c->ngroups * sizeof(jc_vp8l_group));
    if (!c->groups) {
        JCLIP_FREE(used);
        return jc_fail(d->err, d->errcap, JC_ERR_NOMEM, "webp: out of memory");
    }
    /* libwebp builds every group 0..max_group-1 unless it remaps (more than 1000 groups, or
     * more than pixels); its 8-bit alpha test then looks at every built group. */
    int all_built = !(max_group > 1000 || max_group > w * h);
    c->red_blue_alpha_trivial = 1;
    static const uint16_t alpha_size[5] = {JC_VP8L_NUM_LIT + JC_VP8L_NUM_LEN, JC_VP8L_NUM_LIT, JC_VP8L_NUM_LIT,
                                           JC_VP8L_NUM_LIT, JC_VP8L_NUM_DIST};
    for (uint32_t g = 0; g < max_group; g++) {
        uint32_t slot = used ? used[g] : 0;
        for (int j = 0; j < 5; j++) {
            unsigned asz = alpha_size[j] + (j == 0 && c->cache_bits ? 1u << c->cache_bits : 0u);
            uint32_t off = 0;
            int single = 0;
            rc = jc_vp8l_read_code(d, asz, slot != UINT32_MAX, &off, &single);
            if (rc != JC_OK) {
                JCLIP_FREE(used);
                return rc;
            }
            if (slot != UINT32_MAX) {
                c->groups[slot].off[j] = off;
                if (j == 1) c->groups[slot].trivial_rba = 1, c->groups[slot].arb = 0;
                if (j >= 1 && j <= 3) {
                    jc_vp8l_group *gr = &c->groups[slot];
                    if (!single) gr->trivial_rba = 0;
                    else gr->arb |= (d->pool[off] >> 16) << (j == 1 ? 16 : j == 2 ? 0 : 24);
                }
            }
            if ((slot != UINT32_MAX || all_built) && j >= 1 && j <= 3 && !single) c->red_blue_alpha_trivial = 0;
        }
    }
    JCLIP_FREE(used);
    if (c->cache_bits) {
        c->cache = (uint32_t *)JCLIP_MALLOC(sizeof(uint32_t) << c->cache_bits);
        if (!c->cache) return jc_fail(d->err, d->errcap, JC_ERR_NOMEM, "webp: out of memory");
        memset(c->cache, 0, sizeof(uint32_t) << c->cache_bits);
    }
    return JC_OK;
}

static const uint8_t jc_vp8l_code_to_plane[120] = {
    0x18, 0x07, 0x17, 0x19, 0x28, 0x06, 0x27, 0x29, 0x16, 0x1a, 0x26, 0x2a, 0x38, 0x05, 0x37, 0x39,
    0x15, 0x1b, 0x36, 0x3a, 0x25, 0x2b, 0x48, 0x04, 0x47, 0x49, 0x14, 0x1c, 0x35, 0x3b, 0x46, 0x4a,
    0x24, 0x2c, 0x58, 0x45, 0x4b, 0x34, 0x3c, 0x03, 0x57, 0x59, 0x13, 0x1d, 0x56, 0x5a, 0x23, 0x2d,
    0x44, 0x4c, 0x55, 0x5b, 0x33, 0x3d, 0x68, 0x02, 0x67, 0x69, 0x12, 0x1e, 0x66, 0x6a, 0x22, 0x2e,
    0x54, 0x5c, 0x43, 0x4d, 0x65, 0x6b, 0x32, 0x3e, 0x78, 0x01, 0x77, 0x79, 0x53, 0x5d, 0x11, 0x1f,
    0x64, 0x6c, 0x42, 0x4e, 0x76, 0x7a, 0x21, 0x2f, 0x75, 0x7b, 0x31, 0x3f, 0x63, 0x6d, 0x52, 0x5e,
    0x00, 0x74, 0x7c, 0x41, 0x4f, 0x10, 0x20, 0x62, 0x6e, 0x30, 0x73, 0x7d, 0x51, 0x5f, 0x40, 0x72,
    0x7e, 0x61, 0x6f, 0x50, 0x71, 0x7f, 0x60, 0x70,
};

/* Length or distance value of a prefix symbol (the spec's "LZ77 prefix coding"). */
static inline uint32_t jc_vp8l_copy_value(jc_lbr *b, unsigned sym)
{
    if (sym < 4) return sym + 1;
    unsigned extra = (sym - 2) >> 1;
    uint32_t offset = (2u + (sym & 1u)) << extra;
    return offset + jc_lbr_take(b, extra) + 1;
}

static inline size_t jc_vp8l_plane_dist(uint32_t xsize, uint32_t code)
{
    if (code > 120) return code - 120;
    int dc = jc_vp8l_code_to_plane[code - 1];
    int64_t dist = (int64_t)(dc >> 4) * xsize + (8 - (dc & 0xf));
    return dist >= 1 ? (size_t)dist : 1;
}

#define JC_VP8L_HASH(argb, shift) ((uint32_t)((argb) * 0x1e35a7bdu) >> (shift))

/* Decodes w*h pixels of entropy-coded data into data. alpha8: libwebp's 8-bit alpha path
 * semantics for the end of the stream (see the top of the file). */
static int jc_vp8l_pixels(jc_vp8l_dec *d, const jc_vp8l_codes *c, uint32_t *data, uint32_t w, uint32_t h, int alpha8)
{
    jc_lbr *b = &d->br;
    const uint32_t *pool = d->pool;
    const size_t end = (size_t)w * h;
    size_t pos = 0;
    uint32_t x = 0, y = 0;
    const uint32_t mask = c->hbits ? (1u << c->hbits) - 1u : UINT32_MAX;
    const unsigned cshift = 32u - (unsigned)c->cache_bits;
    uint32_t *cache = c->cache;
    const unsigned cache_limit = JC_VP8L_NUM_LIT + JC_VP8L_NUM_LEN + (c->cache_bits ? 1u << c->cache_bits : 0u);
    const jc_vp8l_group *g = &c->groups[0];
    while (pos < end) {
        if ((x & mask) == 0 && c->himage) g = &c->groups[c->himage[(size_t)(y >> c->hbits) * c->hxsize + (x >> c->hbits)]];
        jc_lbr_fill(b);
        unsigned code = jc_lbr_sym(b, pool + g->off[0]);
        if (code < JC_VP8L_NUM_LIT && g->trivial_rba) {
            uint32_t argb = g->arb | code << 8;
            data[pos++] = argb;
            if (cache) cache[JC_VP8L_HASH(argb, cshift)] = argb;
            if (++x == w) {
                x = 0;
                y++;
            }
        } else if (code < JC_VP8L_NUM_LIT) {
            unsigned r = jc_lbr_sym(b, pool + g->off[1]);
            unsigned bl = jc_lbr_sym(b, pool + g->off[2]);
            jc_lbr_fill(b);
            unsigned a = jc_lbr_sym(b, pool + g->off[3]);
            uint32_t argb = (uint32_t)a << 24 | r << 16 | code << 8 | bl;
            data[pos++] = argb;
            if (cache) cache[JC_VP8L_HASH(argb, cshift)] = argb;
            if (++x == w) {
                x = 0;
                y++;
            }
        } else if (code < JC_VP8L_NUM_LIT + JC_VP8L_NUM_LEN) {
            uint32_t length = jc_vp8l_copy_value(b, code - JC_VP8L_NUM_LIT);
            unsigned dsym = jc_lbr_sym(b, pool + g->off[4]);
            jc_lbr_fill(b);
            size_t dist = jc_vp8l_plane_dist(w, jc_vp8l_copy_value(b, dsym));
            if (!alpha8 && jc_lbr_eos(b)) return jc_vp8l_bad(d, "pixels");
            if (pos < dist || end - pos < length) return jc_vp8l_bad(d, "backward reference");
            uint32_t *dst = data + pos;
            const uint32_t *src = dst - dist;
            if (cache) {
                for (uint32_t i = 0; i < length; i++) {
                    uint32_t v = src[i];
                    dst[i] = v;
                    cache[JC_VP8L_HASH(v, cshift)] = v;
                }
            } else {
                for (uint32_t i = 0; i < length; i++) dst[i] = src[i];
            }
            pos += length;
            x += length;
            while (x >= w) {
                x -= w;
                y++;
            }
            if (pos < end && (x & mask) && c->himage) g = &c->groups[c->himage[(size_t)(y >> c->hbits) * c->hxsize + (x >> c->hbits)]];
        } else if (code < cache_limit) {
            uint32_t argb = cache[code - (JC_VP8L_NUM_LIT + JC_VP8L_NUM_LEN)];
            data[pos++] = argb;
            /* Inserting the looked-up colour leaves the cache unchanged (same key, same value). */
            if (++x == w) {
                x = 0;
                y++;
            }
        } else {
            return jc_vp8l_bad(d, "symbol");
        }
        if (jc_lbr_eos(b)) {
            if (!alpha8 || pos < end) return jc_vp8l_bad(d, "pixels");
        }
    }
    return JC_OK;
}

/* A sub-image (transform data, entropy image): no transforms, no meta codes. */
static int jc_vp8l_image(jc_vp8l_dec *d, uint32_t w, uint32_t h, uint32_t **out)
{
    jc_vp8l_codes c;
    size_t pool_mark = d->pool_len;
    int rc = jc_vp8l_read_codes(d, w, h, 0, &c);
    if (rc == JC_OK) {
        *out = (uint32_t *)JCLIP_MALLOC((size_t)w * h * sizeof(uint32_t));
        if (!*out) rc = jc_fail(d->err, d->errcap, JC_ERR_NOMEM, "webp: out of memory");
    }
    if (rc == JC_OK) {
        rc = jc_vp8l_pixels(d, &c, *out, w, h, 0);
        if (rc != JC_OK) {
            JCLIP_FREE(*out);
            *out = NULL;
        }
    }
    jc_vp8l_codes_free(&c);
    d->pool_len = pool_mark; /* the sub-image's tables are no longer needed */
    return rc;
}

enum { JC_VP8L_PREDICT = 0, JC_VP8L_CROSS = 1, JC_VP8L_SUBGREEN = 2, JC_VP8L_INDEX = 3 };

typedef struct {
    int type, bits;
    uint32_t xsize;  /* width of the image this transform's inverse outputs */
    uint32_t *data;  /* sub-image (predictor modes, multipliers) or the 256-entry palette */
} jc_vp8l_transform;

typedef struct {
    jc_vp8l_transform t[4];
    int n;
    uint32_t xsize;  /* width of the entropy-coded image */
} jc_vp8l_transforms;

static void jc_vp8l_transforms_free(jc_vp8l_transforms *ts)
{
    for (int i = 0; i < ts->n; i++) JCLIP_FREE(ts->t[i].data);
    ts->n = 0;
}

static int jc_vp8l_read_transforms(jc_vp8l_dec *d, uint32_t w, uint32_t h, jc_vp8l_transforms *ts)
{
    jc_lbr *b = &d->br;
    unsigned seen = 0;
    ts->n = 0;
    ts->xsize = w;
    while (jc_lbr_read(b, 1)) {
        int type = (int)jc_lbr_read(b, 2);
        if (seen & (1u << type)) return jc_vp8l_bad(d, "repeated transform");
        seen |= 1u << type;
        jc_vp8l_transform *t = &ts->t[ts->n++];
        t->type = type;
        t->xsize = ts->xsize;
        t->data = NULL;
        t->bits = 0;
        int rc = JC_OK;
        if (type == JC_VP8L_PREDICT || type == JC_VP8L_CROSS) {
            t->bits = (int)jc_lbr_read(b, 3) + 2;
            rc = jc_vp8l_image(d, jc_vp8l_sub(t->xsize, t->bits), jc_vp8l_sub(h, t->bits), &t->data);
        } else if (type == JC_VP8L_INDEX) {
            uint32_t ncol = jc_lbr_read(b, 8) + 1;
            t->bits = ncol > 16 ? 0 : ncol > 4 ? 1 : ncol > 2 ? 2 : 3;
            ts->xsize = jc_vp8l_sub(t->xsize, t->bits);
            uint32_t *pal = NULL;
            rc = jc_vp8l_image(d, ncol, 1, &pal);
            if (rc == JC_OK) {
                t->data = (uint32_t *)JCLIP_MALLOC(256 * sizeof(uint32_t));
                if (!t->data) {
                    rc = jc_fail(d->err, d->errcap, JC_ERR_NOMEM, "webp: out of memory");
                } else {
                    /* Entries are coded as differences to the previous one; past ncol the
                     * palette is transparent black. */
                    memset(t->data, 0, 256 * sizeof(uint32_t));
                    t->data[0] = pal[0];
                    for (uint32_t i = 1; i < ncol; i++) {
                        uint32_t a = pal[i], p = t->data[i - 1];
                        t->data[i] = (((a & 0xff00ff00u) + (p & 0xff00ff00u)) & 0xff00ff00u) |
                                     (((a & 0x00ff00ffu) + (p & 0x00ff00ffu)) & 0x00ff00ffu);
                    }
                }
            }
            JCLIP_FREE(pal);
        }
        if (rc != JC_OK) return rc;
    }
    return JC_OK;
}

static inline uint32_t jc_add_px(uint32_t a, uint32_t b)
{
    return (((a & 0xff00ff00u) + (b & 0xff00ff00u)) & 0xff00ff00u) | (((a & 0x00ff00ffu) + (b & 0x00ff00ffu)) & 0x00ff00ffu);
}

static inline uint32_t jc_avg2(uint32_t a, uint32_t b)
{
    return (((a ^ b) & 0xfefefefeu) >> 1) + (a & b);
}

static inline int jc_clip255(int v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

static inline uint32_t jc_clamp_full(uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t r = 0;
    for (int s = 0; s < 32; s += 8) {
        int v = (int)((a >> s) & 0xff) + (int)((b >> s) & 0xff) - (int)((c >> s) & 0xff);
        r |= (uint32_t)jc_clip255(v) << s;
    }
    return r;
}

static inline uint32_t jc_clamp_half(uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t ave = jc_avg2(a, b), r = 0;
    for (int s = 0; s < 32; s += 8) {
        int x = (int)((ave >> s) & 0xff), y = (int)((c >> s) & 0xff);
        r |= (uint32_t)jc_clip255(x + (x - y) / 2) << s;
    }
    return r;
}

static inline int jc_iabs(int v)
{
    return v < 0 ? -v : v;
}

static inline uint32_t jc_select(uint32_t top, uint32_t left, uint32_t tl)
{
    int s = 0;
    for (int k = 0; k < 32; k += 8) {
        int a = (int)((top >> k) & 0xff), b = (int)((left >> k) & 0xff), c = (int)((tl >> k) & 0xff);
        s += jc_iabs(b - c) - jc_iabs(a - c);
    }
    return s <= 0 ? top : left;
}

/* Predicted value for mode m at a pixel with left neighbour L and the row above T (T[0] above,
 * T[-1] above-left, T[1] above-right). */
static inline uint32_t jc_vp8l_predict(unsigned m, uint32_t L, const uint32_t *T)
{
    switch (m) {
    case 1: return L;
    case 2: return T[0];
    case 3: return T[1];
    case 4: return T[-1];
    case 5: return jc_avg2(jc_avg2(L, T[1]), T[0]);
    case 6: return jc_avg2(L, T[-1]);
    case 7: return jc_avg2(L, T[0]);
    case 8: return jc_avg2(T[-1], T[0]);
    case 9: return jc_avg2(T[0], T[1]);
    case 10: return jc_avg2(jc_avg2(L, T[-1]), jc_avg2(T[0], T[1]));
    case 11: return jc_select(T[0], L, T[-1]);
    case 12: return jc_clamp_full(L, T[0], T[-1]);
    case 13: return jc_clamp_half(L, T[0], T[-1]);
    default: return 0xff000000u; /* 0, and 14/15 as libwebp */
    }
}

static void jc_vp8l_inv_predict(const jc_vp8l_transform *t, uint32_t *px, uint32_t h)
{
    uint32_t w = t->xsize;
    px[0] = jc_add_px(px[0], 0xff000000u);
    for (uint32_t x = 1; x < w; x++) px[x] = jc_add_px(px[x], px[x - 1]);
    uint32_t tiles = jc_vp8l_sub(w, t->bits);
    for (uint32_t y = 1; y < h; y++) {
        uint32_t *row = px + (size_t)y * w;
        const uint32_t *up = row - w;
        const uint32_t *modes = t->data + (size_t)(y >> t->bits) * tiles;
        row[0] = jc_add_px(row[0], up[0]);
        for (uint32_t x = 1; x < w;) {
            /* One mode per tile: the switch is taken once per run of pixels. */
            uint32_t end = ((x >> t->bits) + 1) << t->bits;
            if (end > w) end = w;
            unsigned m = (modes[x >> t->bits] >> 8) & 0xfu;
            switch (m) {
#define JC_PRED_RUN(M)                                                                   \
    case M:                                                                              \
        for (; x < end; x++) row[x] = jc_add_px(row[x], jc_vp8l_predict(M, row[x - 1], up + x)); \
        break;
                JC_PRED_RUN(1) JC_PRED_RUN(2) JC_PRED_RUN(3) JC_PRED_RUN(4) JC_PRED_RUN(5) JC_PRED_RUN(6)
                JC_PRED_RUN(7) JC_PRED_RUN(8) JC_PRED_RUN(9) JC_PRED_RUN(10) JC_PRED_RUN(11) JC_PRED_RUN(12)
                JC_PRED_RUN(13)
#undef JC_PRED_RUN
            default:
                for (; x < end; x++) row[x] = jc_add_px(row[x], 0xff000000u);
                break;
            }
        }
    }
}

static inline int jc_ctd(int8_t t, int8_t c)
{
    return ((int)t * (int)c) >> 5;
}

static void jc_vp8l_inv_cross(const jc_vp8l_transform *t, uint32_t *px, uint32_t h)
{
    uint32_t w = t->xsize, tiles = jc_vp8l_sub(w, t->bits);
    for (uint32_t y = 0; y < h; y++) {
        uint32_t *row = px + (size_t)y * w;
        const uint32_t *m = t->data + (size_t)(y >> t->bits) * tiles;
        for (uint32_t x = 0; x < w; x++) {
            uint32_t code = m[x >> t->bits];
            int8_t g2r = (int8_t)(code & 0xff), g2b = (int8_t)((code >> 8) & 0xff), r2b = (int8_t)((code >> 16) & 0xff);
            uint32_t argb = row[x];
            int8_t green = (int8_t)(argb >> 8);
            int nr = (int)((argb >> 16) & 0xff), nb = (int)(argb & 0xff);
            nr = (nr + jc_ctd(g2r, green)) & 0xff;
            nb = (nb + jc_ctd(g2b, green) + jc_ctd(r2b, (int8_t)nr)) & 0xff;
            row[x] = (argb & 0xff00ff00u) | (uint32_t)nr << 16 | (uint32_t)nb;
        }
    }
}

static void jc_vp8l_inv_subgreen(uint32_t *px, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t a = px[i], g = (a >> 8) & 0xff;
        uint32_t rb = ((a & 0x00ff00ffu) + (g << 16 | g)) & 0x00ff00ffu;
        px[i] = (a & 0xff00ff00u) | rb;
    }
}

/* In place, from the packed width to t->xsize; rows are expanded last to first so no packed
 * value is overwritten before it is read. */
static void jc_vp8l_inv_index(const jc_vp8l_transform *t, uint32_t *px, uint32_t h)
{
    uint32_t w = t->xsize, pw = jc_vp8l_sub(w, t->bits);
    const uint32_t *pal = t->data;
    unsigned bpp = 8u >> t->bits, ppb = 1u << t->bits, bmask = (1u << bpp) - 1u;
    for (uint32_t yy = h; yy-- > 0;) {
        const uint32_t *src = px + (size_t)yy * pw;
        uint32_t *dst = px + (size_t)yy * w;
        for (uint32_t x = w; x-- > 0;) {
            uint32_t packed = (src[x / ppb] >> 8) & 0xff;
            unsigned sh = (x % ppb) * bpp;
            dst[x] = pal[(packed >> sh) & bmask];
        }
    }
}

static int jc_vp8l_decoder_init(jc_vp8l_dec *d, const uint8_t *data, size_t len, char *err, size_t errcap)
{
    memset(d, 0, offsetof(jc_vp8l_dec, lens));
    jc_lbr_init(&d->br, data, len);
    d->err = err;
    d->errcap = errcap;
    return JC_OK;
}

/* Reads the 5-byte VP8L header (signature, size, alpha hint, version). */
static int jc_vp8l_header(const uint8_t *data, size_t len, uint32_t *w, uint32_t *h, int *alpha)
{
    if (len < 5 || data[0] != 0x2f || (data[4] >> 5) != 0) return 0;
    uint32_t bits = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 | (uint32_t)data[4] << 24;
    *w = (bits & 0x3fffu) + 1;
    *h = ((bits >> 14) & 0x3fffu) + 1;
    *alpha = (int)((bits >> 28) & 1u);
    return 1;
}

/* Decodes a VP8L bitstream (from its signature byte; len counts the chunk padding as libwebp
 * does) into an ARGB buffer of exactly w*h pixels (*argb, freed by the caller). */
static int jc_vp8l_decode_argb(const uint8_t *data, size_t len, uint32_t **argb, uint32_t *pw, uint32_t *ph, char *err,
                               size_t errcap)
{
    uint32_t w, h;
    int alpha;
    *argb = NULL;
    if (!jc_vp8l_header(data, len, &w, &h, &alpha)) return jc_fail(err, errcap, JC_ERR_FORMAT, "webp: bad VP8L header");
    jc_vp8l_dec *d = (jc_vp8l_dec *)JCLIP_MALLOC(sizeof(jc_vp8l_dec));
    if (!d) return jc_fail(err, errcap, JC_ERR_NOMEM, "webp: out of memory");
    jc_vp8l_decoder_init(d, data, len, err, errcap);
    (void)jc_lbr_read(&d->br, 8);
    (void)jc_lbr_read(&d->br, 14);
    (void)jc_lbr_read(&d->br, 14);
    (void)jc_lbr_read(&d->br, 4);
    jc_vp8l_transforms ts;
    jc_vp8l_codes c;
    memset(&c, 0, sizeof c);
    uint32_t *px = NULL;
    int rc = jc_vp8l_read_transforms(d, w, h, &ts);
    if (rc == JC_OK) rc = jc_vp8l_read_codes(d, ts.xsize, h, 1, &c);
    if (rc == JC_OK) {
        px = (uint32_t *)JCLIP_MALLOC((size_t)w * h * sizeof(uint32_t));
        if (!px) rc = jc_fail(err, errcap, JC_ERR_NOMEM, "webp: out of memory");
    }
    if (rc == JC_OK) rc = jc_vp8l_pixels(d, &c, px, ts.xsize, h, 0);
    if (rc == JC_OK) {
        for (int i = ts.n - 1; i >= 0; i--) {
            const jc_vp8l_transform *t = &ts.t[i];
            switch (t->type) {
            case JC_VP8L_PREDICT: jc_vp8l_inv_predict(t, px, h); break;
            case JC_VP8L_CROSS: jc_vp8l_inv_cross(t, px, h); break;
            case JC_VP8L_SUBGREEN: jc_vp8l_inv_subgreen(px, (size_t)t->xsize * h); break;
            default: jc_vp8l_inv_index(t, px, h); break;
            }
        }
    }
    jc_vp8l_codes_free(&c);
    jc_vp8l_transforms_free(&ts);
    JCLIP_FREE(d->pool);
    JCLIP_FREE(d);
    if (rc != JC_OK) {
        JCLIP_FREE(px);
        return rc;
    }
    *argb = px;
    *pw = w;
    *ph = h;
    return JC_OK;
}

/* Validates a lossless-compressed alpha plane of w x h (the ALPH payload after its header
 * byte) as libwebp decodes it; the values are not needed, since convert('RGB') drops alpha. */
static int jc_vp8l_check_alpha(const uint8_t *data, size_t len, uint32_t w, uint32_t h, char *err, size_t errcap)
{
    jc_vp8l_dec *d = (jc_vp8l_dec *)JCLIP_MALLOC(sizeof(jc_vp8l_dec));
    if (!d) return jc_fail(err, errcap, JC_ERR_NOMEM, "webp: out of memory");
    jc_vp8l_decoder_init(d, data, len, err, errcap);
    jc_vp8l_transforms ts;
    jc_vp8l_codes c;
    memset(&c, 0, sizeof c);
    uint32_t *px = NULL;
    int rc = jc_vp8l_read_transforms(d, w, h, &ts);
    if (rc == JC_OK) rc = jc_vp8l_read_codes(d, ts.xsize, h, 1, &c);
    if (rc == JC_OK) {
        px = (uint32_t *)JCLIP_MALLOC((size_t)w * h * sizeof(uint32_t));
        if (!px) rc = jc_fail(err, errcap, JC_ERR_NOMEM, "webp: out of memory");
    }
    if (rc == JC_OK) {
        int alpha8 = ts.n == 1 && ts.t[0].type == JC_VP8L_INDEX && c.cache_bits == 0 && c.red_blue_alpha_trivial;
        rc = jc_vp8l_pixels(d, &c, px, ts.xsize, h, alpha8);
    }
    jc_vp8l_codes_free(&c);
    jc_vp8l_transforms_free(&ts);
    JCLIP_FREE(px);
    JCLIP_FREE(d->pool);
    JCLIP_FREE(d);
    return rc;
}
