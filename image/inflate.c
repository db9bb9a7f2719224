/* image/inflate.c: zlib (RFC 1950) and deflate (RFC 1951) decoder for the PNG reader.
 *
 * One call decodes a whole stream into a caller buffer whose size is known in advance (PNG knows
 * the exact size of its filtered image data), so the output buffer is the sliding window and no
 * state survives between calls. Everything is bounded: output never exceeds dst_cap, input is
 * never read past src + n, and each loop iteration either consumes input bits or ends the stream.
 *
 * Strictness follows zlib, which is what Pillow and libpng use: over-subscribed code sets are
 * rejected; incomplete sets are rejected except the two cases RFC 1951 and zlib allow (a
 * distance code with no codes, or a single code of length 1 in the literal/length or distance
 * set); HLIT > 286 and HDIST > 30 are rejected; the Adler-32 is always verified. Unlike a
 * streaming zlib caller (Pillow), a stream that would produce more than dst_cap bytes is an
 * error, not a silently truncated success.
 *
 * Decoding is table driven. A table entry (uint32) is
 *     bits 0-7   code bits to consume
 *     bits 8-11  flags (JC_INFL_F_*)
 *     bits 12-15 extra bits that follow the code (length and distance symbols), or, for a link
 *                to a subtable, the number of index bits of that subtable
 *     bits 16-31 value: literal byte, length base, distance base, code-length symbol, or the
 *                offset of the subtable
 * The first JC_INFL_LBITS (litlen) / JC_INFL_DBITS (distance) bits of the stream index the root table;
 * longer codes go through one subtable. The bit buffer is 64 bits and is refilled with one
 * 8-byte load while at least 8 input bytes remain, so one refill covers the longest
 * length+distance pair (15+5+15+13 = 48 bits). Near the end of input it is filled byte by byte
 * and padded with zero bytes that are counted (ovr); consuming a padding bit means truncation. */
#include "../jclip_base.h"

#define JC_INFL_LBITS 10u
#define JC_INFL_DBITS 8u
#define JC_INFL_CBITS 7u
/* Table capacities: zlib's enough.c gives 1332 entries for 286 symbols with a 10-bit root and
 * 402 for 30 symbols with an 8-bit root (15-bit codes); the builder also checks the bound. */
#define JC_INFL_LSIZE 1408u
#define JC_INFL_DSIZE 448u
#define JC_INFL_CSIZE 128u

#define JC_INFL_F_LIT 0x100u /* literal byte in value */
#define JC_INFL_F_EOB 0x200u /* end of block */
#define JC_INFL_F_SUB 0x400u /* link to a subtable */
#define JC_INFL_F_BAD 0x800u /* no such code, or a symbol deflate does not define (286/287, 30/31) */

enum { JC_INFL_KIND_LITLEN, JC_INFL_KIND_DIST, JC_INFL_KIND_CODELEN };

static const uint16_t jc_infl_len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                           31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t jc_infl_len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                           2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t jc_infl_dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                            33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                            1025, 1537, 2049, 3073, 4097, 6145,  8193,  12289, 16385, 24577};
static const uint8_t jc_infl_dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                            6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
static const uint8_t jc_infl_clen_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

typedef struct {
    const uint8_t *src, *in, *in_end; /* whole input, next unread byte, end */
    uint64_t bb;                      /* bit buffer: the low bc bits are valid, LSB first */
    unsigned bc;                      /* valid bits in bb */
    unsigned ovr;                     /* zero padding bits added past the end of input (top of bb) */
    uint8_t *out0, *out, *out_end;    /* output start (the window), next byte, end (dst_cap) */
    int fixed_built;                  /* lt/dt hold the fixed-code tables */
    uint32_t lt[JC_INFL_LSIZE];          /* literal/length table */
    uint32_t dt[JC_INFL_DSIZE];          /* distance table */
} jc_infl_state;

static uint64_t jc_infl_load64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

/* Adler-32 (RFC 1950 section 9). Per 16-byte block, b grows by 16*a plus the position-weighted
 * sum of the bytes, which removes the byte-to-byte dependency of the textbook loop. 5552 (a
 * multiple of 16) is the largest n for which the sums cannot pass 2^32 before the reduction. */
static uint32_t jc_infl_adler32(uint32_t adler, const uint8_t *p, size_t n)
{
    uint32_t a = adler & 0xffff, b = adler >> 16;
    while (n) {
        size_t k = n < 5552 ? n : 5552;
        n -= k;
        for (; k >= 16; k -= 16, p += 16) {
            uint32_t s = 0, w = 0;
            for (unsigned i = 0; i < 16; i++) {
                s += p[i];
                w += (16 - i) * (uint32_t)p[i];
            }
            b += 16 * a + w;
            a += s;
        }
        for (; k; k--) {
            a += *p++;
            b += a;
        }
        a %= 65521u;
        b %= 65521u;
    }
    return b << 16 | a;
}

static uint32_t jc_infl_entry(int kind, unsigned sym, unsigned nbits)
{
    switch (kind) {
    case JC_INFL_KIND_LITLEN:
        if (sym < 256) return nbits | JC_INFL_F_LIT | (uint32_t)sym << 16;
        if (sym == 256) return nbits | JC_INFL_F_EOB;
        if (sym < 286) return nbits | (uint32_t)jc_infl_len_extra[sym - 257] << 12 | (uint32_t)jc_infl_len_base[sym - 257] << 16;
        return nbits | JC_INFL_F_BAD;
    case JC_INFL_KIND_DIST:
        if (sym < 30) return nbits | (uint32_t)jc_infl_dist_extra[sym] << 12 | (uint32_t)jc_infl_dist_base[sym] << 16;
        return nbits | JC_INFL_F_BAD;
    default:
        return nbits | (uint32_t)sym << 16;
    }
}

/* Builds a decoding table from code lengths (each 0..15) of n symbols (n <= 288).
 * Returns 0, or -1 for an over-subscribed set, -2 for a disallowed incomplete set. */
static int jc_infl_build(uint32_t *table, unsigned cap, unsigned root, const uint8_t *lens, unsigned n, int kind)
{
    unsigned count[16] = {0}, offs[17];
    uint16_t sorted[288];
    uint32_t codes[288];
    for (unsigned s = 0; s < n; s++) count[lens[s]]++;
    count[0] = 0;
    int left = 1;
    unsigned ncodes = 0;
    for (unsigned l = 1; l <= 15; l++) {
        left = left * 2 - (int)count[l];
        if (left < 0) return -1;
        ncodes += count[l];
    }
    if (left > 0 && (kind == JC_INFL_KIND_CODELEN || !(ncodes == 0 || (ncodes == 1 && count[1] == 1))))
        return -2;
    offs[1] = 0;
    for (unsigned l = 1; l <= 15; l++) offs[l + 1] = offs[l] + count[l];
    for (unsigned s = 0; s < n; s++)
        if (lens[s]) sorted[offs[lens[s]]++] = (uint16_t)s;
    /* Canonical codes (MSB-first) in sorted order. */
    uint32_t code = 0;
    for (unsigned k = 0; k < ncodes; k++) {
        if (k) code = (code + 1) << (lens[sorted[k]] - lens[sorted[k - 1]]);
        codes[k] = code;
    }
    unsigned rsize = 1u << root, next = rsize;
    for (unsigned i = 0; i < rsize; i++) table[i] = JC_INFL_F_BAD;
    uint32_t cur_prefix = UINT32_MAX, sub_off = 0, sub_bits = 0;
    for (unsigned k = 0; k < ncodes; k++) {
        unsigned sym = sorted[k], len = lens[sym];
        uint32_t rev = 0;
        for (unsigned b = 0; b < len; b++) rev |= ((codes[k] >> b) & 1u) << (len - 1 - b);
        if (len <= root) {
            uint32_t e = jc_infl_entry(kind, sym, len);
            for (uint32_t i = rev; i < rsize; i += 1u << len) table[i] = e;
            continue;
        }
        uint32_t prefix = rev & (rsize - 1);
        if (prefix != cur_prefix) {
            /* Codes sharing their first `root` bits are consecutive in canonical order and grow
             * in length, so the group's last code gives the subtable size. */
            unsigned j = k, maxlen = len;
            while (j + 1 < ncodes && (codes[j + 1] >> (lens[sorted[j + 1]] - root)) == (codes[k] >> (len - root))) {
                j++;
                maxlen = lens[sorted[j]];
            }
            sub_bits = maxlen - root;
            if (next + (1u << sub_bits) > cap) return -1;
            sub_off = next;
            next += 1u << sub_bits;
            for (uint32_t i = 0; i < (1u << sub_bits); i++) table[sub_off + i] = JC_INFL_F_BAD;
            table[prefix] = root | JC_INFL_F_SUB | sub_bits << 12 | sub_off << 16;
            cur_prefix = prefix;
        }
        uint32_t e = jc_infl_entry(kind, sym, len - root);
        for (uint32_t i = rev >> root; i < (1u << sub_bits); i += 1u << (len - root)) table[sub_off + i] = e;
    }
    return 0;
}

/* Slow-path bit reader for headers: ensures at least 57 bits (real or zero padding). */
static void jc_infl_fill(jc_infl_state *s)
{
    while (s->bc <= 56) {
        if (s->in < s->in_end) s->bb |= (uint64_t)*s->in++ << s->bc;
        else s->ovr += 8;
        s->bc += 8;
    }
}

/* Reads n <= 32 bits; returns -1 when they run past the end of input. */
static int64_t jc_infl_bits(jc_infl_state *s, unsigned n)
{
    jc_infl_fill(s);
    uint32_t v = (uint32_t)(s->bb & ((1ull << n) - 1));
    s->bb >>= n;
    s->bc -= n;
    if (s->bc < s->ovr) return -1;
    return v;
}

/* Drops the bits up to the next byte boundary and turns the bit buffer back into a byte
 * position (bytes held in bb are given back to the input). */
static int jc_infl_align(jc_infl_state *s)
{
    unsigned drop = s->bc & 7u;
    s->bb >>= drop;
    s->bc -= drop;
    if (s->bc < s->ovr) return -1;
    s->in -= (s->bc - s->ovr) >> 3;
    s->bb = 0;
    s->bc = 0;
    s->ovr = 0;
    return 0;
}

static int jc_infl_stored(jc_infl_state *s, char *err, size_t errcap)
{
    if (jc_infl_align(s) || s->in_end - s->in < 4)
        return jc_fail(err, errcap, JC_ERR_TRUNCATED, "deflate: truncated stored block header");
    unsigned len = s->in[0] | (unsigned)s->in[1] << 8, nlen = s->in[2] | (unsigned)s->in[3] << 8;
    if (len != (~nlen & 0xffffu))
        return jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: stored block length %u does not match its complement", len);
    s->in += 4;
    if ((size_t)(s->in_end - s->in) < len) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "deflate: truncated stored block");
    if ((size_t)(s->out_end - s->out) < len)
        return jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: more data than the expected %zu bytes", (size_t)(s->out_end - s->out0));
    memcpy(s->out, s->in, len);
    s->out += len;
    s->in += len;
    return JC_OK;
}

static void jc_infl_fixed_tables(jc_infl_state *s)
{
    uint8_t lens[288 + 32];
    memset(lens, 8, 144);
    memset(lens + 144, 9, 112);
    memset(lens + 256, 7, 24);
    memset(lens + 280, 8, 8);
    memset(lens + 288, 5, 32);
    /* Both sets are complete, so the builder cannot fail. */
    (void)jc_infl_build(s->lt, JC_INFL_LSIZE, JC_INFL_LBITS, lens, 288, JC_INFL_KIND_LITLEN);
    (void)jc_infl_build(s->dt, JC_INFL_DSIZE, JC_INFL_DBITS, lens + 288, 32, JC_INFL_KIND_DIST);
    s->fixed_built = 1;
}

static int jc_infl_dynamic_tables(jc_infl_state *s, char *err, size_t errcap)
{
    int64_t hlit = jc_infl_bits(s, 5), hdist = jc_infl_bits(s, 5), hclen = jc_infl_bits(s, 4);
    if (hlit < 0 || hdist < 0 || hclen < 0) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "deflate: truncated block header");
    unsigned nlit = (unsigned)hlit + 257, ndist = (unsigned)hdist + 1, nclen = (unsigned)hclen + 4;
    if (nlit > 286 || ndist > 30)
        return jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: too many length or distance symbols (%u, %u)", nlit, ndist);
    uint8_t clens[19] = {0};
    for (unsigned i = 0; i < nclen; i++) {
        int64_t v = jc_infl_bits(s, 3);
        if (v < 0) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "deflate: truncated block header");
        clens[jc_infl_clen_order[i]] = (uint8_t)v;
    }
    uint32_t ct[JC_INFL_CSIZE];
    int r = jc_infl_build(ct, JC_INFL_CSIZE, JC_INFL_CBITS, clens, 19, JC_INFL_KIND_CODELEN);
    if (r) return jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: %s code-length code set", r == -1 ? "over-subscribed" : "incomplete");
    uint8_t lens[286 + 30];
    unsigned total = nlit + ndist, i = 0;
    while (i < total) {
        jc_infl_fill(s);
        uint32_t e = ct[s->bb & (JC_INFL_CSIZE - 1)];
        if (e & JC_INFL_F_BAD) return jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: invalid code-length code");
        s->bb >>= e & 0xff;
        s->bc -= e & 0xff;
        unsigned sym = e >> 16, rep;
        uint8_t val = 0;
        int64_t x;
        if (sym < 16) {
            if (s->bc < s->ovr) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "deflate: truncated block header");
            lens[i++] = (uint8_t)sym;
            continue;
        }
        if (sym == 16) {
            if (i == 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: repeat with no previous length");
            val = lens[i - 1];
            x = jc_infl_bits(s, 2);
            rep = 3 + (unsigned)x;
        } else if (sym == 17) {
            x = jc_infl_bits(s, 3);
            rep = 3 + (unsigned)x;
        } else {
            x = jc_infl_bits(s, 7);
            rep = 11 + (unsigned)x;
        }
        if (x < 0) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "deflate: truncated block header");
        if (rep > total - i) return jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: code lengths repeat past the end");
        memset(lens + i, val, rep);
        i += rep;
    }
    if (lens[256] == 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: missing end-of-block code");
    r = jc_infl_build(s->lt, JC_INFL_LSIZE, JC_INFL_LBITS, lens, nlit, JC_INFL_KIND_LITLEN);
    if (r) return jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: %s literal/length code set", r == -1 ? "over-subscribed" : "incomplete");
    r = jc_infl_build(s->dt, JC_INFL_DSIZE, JC_INFL_DBITS, lens + nlit, ndist, JC_INFL_KIND_DIST);
    if (r) return jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: %s distance code set", r == -1 ? "over-subscribed" : "incomplete");
    s->fixed_built = 0;
    return JC_OK;
}

/* Decodes the symbols of one Huffman block with s->lt / s->dt. The hot loop keeps the reader
 * state in locals: stores through uint8_t * may alias anything, which would otherwise force the
 * compiler to reload the struct fields after every byte written. */
static int jc_infl_codes(jc_infl_state *s, char *err, size_t errcap)
{
    const uint8_t *in = s->in, *const in_end = s->in_end;
    uint64_t bb = s->bb;
    unsigned bc = s->bc, ovr = s->ovr;
    uint8_t *out = s->out, *const out0 = s->out0, *const out_end = s->out_end;
    const uint32_t *const lt = s->lt, *const dt = s->dt;
    int rc = JC_OK;
    for (;;) {
        if (in_end - in >= 8) {
            bb |= jc_infl_load64(in) << bc;
            in += (63u - bc) >> 3;
            bc |= 56u;
        } else {
            while (bc <= 56) {
                if (in < in_end) bb |= (uint64_t)*in++ << bc;
                else ovr += 8;
                bc += 8;
            }
        }
        uint32_t e = lt[bb & ((1u << JC_INFL_LBITS) - 1)];
        if (e & JC_INFL_F_SUB) {
            bb >>= JC_INFL_LBITS;
            bc -= JC_INFL_LBITS;
            e = lt[(e >> 16) + (bb & ((1u << ((e >> 12) & 15u)) - 1))];
        }
        if (e & JC_INFL_F_LIT) {
            bb >>= e & 0xff;
            bc -= e & 0xff;
            if (bc < ovr) goto truncated;
            if (out == out_end) goto overflow;
            *out++ = (uint8_t)(e >> 16);
            continue;
        }
        if (e & (JC_INFL_F_EOB | JC_INFL_F_BAD)) {
            if (e & JC_INFL_F_BAD) {
                rc = jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: invalid literal/length code");
                goto done;
            }
            bb >>= e & 0xff;
            bc -= e & 0xff;
            if (bc < ovr) goto truncated;
            goto done;
        }
        unsigned n = e & 0xff, x = (e >> 12) & 15u;
        size_t len = (e >> 16) + ((uint32_t)(bb >> n) & ((1u << x) - 1));
        bb >>= n + x;
        bc -= n + x;
        uint32_t d = dt[bb & ((1u << JC_INFL_DBITS) - 1)];
        if (d & JC_INFL_F_SUB) {
            bb >>= JC_INFL_DBITS;
            bc -= JC_INFL_DBITS;
            d = dt[(d >> 16) + (bb & ((1u << ((d >> 12) & 15u)) - 1))];
        }
        if (d & JC_INFL_F_BAD) {
            rc = jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: invalid distance code");
            goto done;
        }
        n = d & 0xff;
        x = (d >> 12) & 15u;
        size_t dist = (d >> 16) + ((uint32_t)(bb >> n) & ((1u << x) - 1));
        bb >>= n + x;
        bc -= n + x;
        if (bc < ovr) goto truncated;
        if (dist > (size_t)(out - out0)) {
            rc = jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: distance %zu too far back (%zu bytes written)", dist, (size_t)(out - out0));
            goto done;
        }
        size_t room = (size_t)(out_end - out);
        if (len > room) goto overflow;
        const uint8_t *from = out - dist;
        if (room - len >= 8) {
            /* Room for an 8-byte overshoot: copy whole words; the bytes past len are rewritten
             * by later output (or lie beyond the data, inside dst_cap). */
            uint8_t *stop = out + len;
            if (dist >= 8) {
                do {
                    memcpy(out, from, 8);
                    out += 8;
                    from += 8;
                } while (out < stop);
            } else if (dist == 1) {
                memset(out, from[0], len);
            } else {
                /* Period dist < 8: write the first 8 bytes one by one, then copy 8-byte words
                 * from `step` back, a multiple of the period, so every word read is complete. */
                unsigned step = (8u / (unsigned)dist) * (unsigned)dist;
                for (unsigned i = 0; i < 8; i++) out[i] = from[i];
                for (uint8_t *p = out + step; p < stop; p += step) {
                    uint64_t w;
                    memcpy(&w, p - step, 8);
                    memcpy(p, &w, 8);
                }
            }
            out = stop;
        } else {
            for (size_t i = 0; i < len; i++) out[i] = from[i];
            out += len;
        }
    }
truncated:
    rc = jc_fail(err, errcap, JC_ERR_TRUNCATED, "deflate: stream ends inside a block");
    goto done;
overflow:
    rc = jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: more data than the expected %zu bytes", (size_t)(out_end - out0));
done:
    s->in = in;
    s->bb = bb;
    s->bc = bc;
    s->ovr = ovr;
    s->out = out;
    return rc;
}

/* Decodes raw deflate data (RFC 1951) from s->in into s->out. */
static int jc_infl_deflate(jc_infl_state *s, char *err, size_t errcap)
{
    for (;;) {
        int64_t hdr = jc_infl_bits(s, 3);
        if (hdr < 0) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "deflate: stream ends before its final block");
        int rc;
        switch (hdr >> 1) {
        case 0: rc = jc_infl_stored(s, err, errcap); break;
        case 1:
            if (!s->fixed_built) jc_infl_fixed_tables(s);
            rc = jc_infl_codes(s, err, errcap);
            break;
        case 2:
            rc = jc_infl_dynamic_tables(s, err, errcap);
            if (rc == JC_OK) rc = jc_infl_codes(s, err, errcap);
            break;
        default: return jc_fail(err, errcap, JC_ERR_FORMAT, "deflate: reserved block type 3");
        }
        if (rc != JC_OK) return rc;
        if (hdr & 1) return JC_OK;
    }
}

/* Decodes the zlib stream src[0..n) into dst[0..dst_cap). On success *dst_len is the number of
 * bytes produced and *src_used the bytes of src the stream occupied (header to Adler-32
 * inclusive; bytes after it are left to the caller to judge). Never writes past dst_cap.
 * Returns JC_OK, JC_ERR_FORMAT (corrupt stream, wrong checksum, more output than
 * dst_cap), JC_ERR_UNSUPPORTED (preset dictionary) or JC_ERR_TRUNCATED. */
static int jc_infl_zlib(const uint8_t *src, size_t n, uint8_t *dst, size_t dst_cap, size_t *dst_len, size_t *src_used,
                     char *err, size_t errcap)
{
    if (dst_len) *dst_len = 0;
    if (src_used) *src_used = 0;
    if (n < 2) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "zlib: stream shorter than its header");
    unsigned cmf = src[0], flg = src[1];
    if ((cmf & 15) != 8 || (cmf >> 4) > 7)
        return jc_fail(err, errcap, JC_ERR_FORMAT, "zlib: bad compression method/window 0x%02x", cmf);
    if ((cmf * 256 + flg) % 31 != 0) return jc_fail(err, errcap, JC_ERR_FORMAT, "zlib: header check bits do not match");
    if (flg & 0x20) return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "zlib: preset dictionary (not allowed here)");
    jc_infl_state *s = (jc_infl_state *)JCLIP_MALLOC(sizeof *s);
    if (!s) return jc_fail(err, errcap, JC_ERR_NOMEM, "zlib: out of memory");
    s->src = src;
    s->in = src + 2;
    s->in_end = src + n;
    s->bb = 0;
    s->bc = 0;
    s->ovr = 0;
    s->out0 = s->out = dst;
    s->out_end = dst + dst_cap;
    s->fixed_built = 0;
    int rc = jc_infl_deflate(s, err, errcap);
    if (rc == JC_OK) {
        if (jc_infl_align(s) || s->in_end - s->in < 4) {
            rc = jc_fail(err, errcap, JC_ERR_TRUNCATED, "zlib: stream ends before its Adler-32");
        } else {
            const uint8_t *p = s->in;
            uint32_t want = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
            size_t produced = (size_t)(s->out - dst);
            uint32_t got = jc_infl_adler32(1, dst, produced);
            if (got != want) {
                rc = jc_fail(err, errcap, JC_ERR_FORMAT, "zlib: Adler-32 mismatch (stored %08x, computed %08x)", want, got);
            } else {
                if (dst_len) *dst_len = produced;
                if (src_used) *src_used = (size_t)(p + 4 - src);
            }
        }
    }
    JCLIP_FREE(s);
    return rc;
}
