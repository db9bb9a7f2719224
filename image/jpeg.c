/* image/jpeg.c: baseline, extended, progressive and arithmetic JPEG decoding to packed RGB.
 *
 * Goal: byte-identical output to Pillow 9.4 `Image.open(f).convert('RGB')`, which runs Pillow's
 * own Python marker walk (JpegImagePlugin._open) and then libjpeg-turbo 2.1.5 with its defaults
 * (islow IDCT, fancy upsampling, block smoothing). The code therefore follows libjpeg-turbo's
 * observable behaviour, including its recovery from corrupt data:
 *  - entropy data that runs into a marker is padded with zero bits ("insufficient data") and the
 *    rest of the restart segment decodes as zero coefficients; restart markers are resynchronised
 *    the way jdmarker.c does;
 *  - bad Huffman codes decode as symbol 0 after 17 bits;
 *  - fatal libjpeg errors (bad tables, bad scan parameters, ...) are errors here too;
 *  - input that ends where libjpeg would ask for more bytes is JC_ERR_TRUNCATED, because
 *    Pillow then raises "image file is truncated". A sequential image whose scan completed is
 *    not an error even without EOI (Pillow ignores a suspended jpeg_finish_decompress).
 * Everything here is static and prefixed jpeg_ so that it lives inside the unity build. */
#include "../jclip_base.h"
#include "image.h"

#define JC_JPEG_MAXC 4          /* Pillow accepts 1, 3 or 4 components */
#define JC_JPEG_MAX_SCANS 10000 /* guards against endless scan sequences in tiny files */

/* Zigzag index -> natural index, with 16 extra entries pointing at 63 exactly like
 * libjpeg's jpeg_natural_order (corrupt run lengths may push k past 63). */
static const uint8_t jc_jpeg_zz[80] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33,
    40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36,
    29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63};

/* The standard Huffman tables of JPEG Annex K.3, which libjpeg-turbo installs for sequential
 * Huffman files that omit DHT (Motion-JPEG): DC luma, DC chroma, AC luma, AC chroma. */
static const struct { uint8_t bits[16]; uint8_t val[162]; } jc_jpeg_std_huff[4] = {
    {{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
     {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b}},
    {{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
     {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b}},
    {{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125},
     {0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06,
      0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08,
      0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72,
      0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
      0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45,
      0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
      0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
      0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
      0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3,
      0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
      0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9,
      0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
      0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4,
      0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa}},
    {{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119},
     {0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41,
      0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91,
      0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1,
      0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
      0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44,
      0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
      0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74,
      0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
      0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a,
      0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
      0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
      0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
      0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4,
      0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa}},
};

/* QM-coder probability estimation state machine of JPEG Annex D, Table D.2:
 * {Qe, next index after MPS, next index after LPS, switch MPS}. Entry 113 is the fixed
 * 0.5 estimate libjpeg uses for sign and refinement bits. */
static const struct { uint16_t qe; uint8_t nmps, nlps, sw; } jc_jpeg_qm[114] = {
    {0x5a1d, 1, 1, 1}, {0x2586, 2, 14, 0}, {0x1114, 3, 16, 0}, {0x080b, 4, 18, 0}, {0x03d8, 5, 20, 0},
    {0x01da, 6, 23, 0}, {0x00e5, 7, 25, 0}, {0x006f, 8, 28, 0}, {0x0036, 9, 30, 0}, {0x001a, 10, 33, 0},
    {0x000d, 11, 35, 0}, {0x0006, 12, 9, 0}, {0x0003, 13, 10, 0}, {0x0001, 13, 12, 0}, {0x5a7f, 15, 15, 1},
    {0x3f25, 16, 36, 0}, {0x2cf2, 17, 38, 0}, {0x207c, 18, 39, 0}, {0x17b9, 19, 40, 0}, {0x1182, 20, 42, 0},
    {0x0cef, 21, 43, 0}, {0x09a1, 22, 45, 0}, {0x072f, 23, 46, 0}, {0x055c, 24, 48, 0}, {0x0406, 25, 49, 0},
    {0x0303, 26, 51, 0}, {0x0240, 27, 52, 0}, {0x01b1, 28, 54, 0}, {0x0144, 29, 56, 0}, {0x00f5, 30, 57, 0},
    {0x00b7, 31, 59, 0}, {0x008a, 32, 60, 0}, {0x0068, 33, 62, 0}, {0x004e, 34, 63, 0}, {0x003b, 35, 32, 0},
    {0x002c, 9, 33, 0}, {0x5ae1, 37, 37, 1}, {0x484c, 38, 64, 0}, {0x3a0d, 39, 65, 0}, {0x2ef1, 40, 67, 0},
    {0x261f, 41, 68, 0}, {0x1f33, 42, 69, 0}, {0x19a8, 43, 70, 0}, {0x1518, 44, 72, 0}, {0x1177, 45, 73, 0},
    {0x0e74, 46, 74, 0}, {0x0bfb, 47, 75, 0}, {0x09f8, 48, 77, 0}, {0x0861, 49, 78, 0}, {0x0706, 50, 79, 0},
    {0x05cd, 51, 48, 0}, {0x04de, 52, 50, 0}, {0x040f, 53, 50, 0}, {0x0363, 54, 51, 0}, {0x02d4, 55, 52, 0},
    {0x025c, 56, 53, 0}, {0x01f8, 57, 54, 0}, {0x01a4, 58, 55, 0}, {0x0160, 59, 56, 0}, {0x0125, 60, 57, 0},
    {0x00f6, 61, 58, 0}, {0x00cb, 62, 59, 0}, {0x00ab, 63, 61, 0}, {0x008f, 32, 61, 0}, {0x5b12, 65, 65, 1},
    {0x4d04, 66, 80, 0}, {0x412c, 67, 81, 0}, {0x37d8, 68, 82, 0}, {0x2fe8, 69, 83, 0}, {0x293c, 70, 84, 0},
    {0x2379, 71, 86, 0}, {0x1edf, 72, 87, 0}, {0x1aa9, 73, 87, 0}, {0x174e, 74, 72, 0}, {0x1424, 75, 72, 0},
    {0x119c, 76, 74, 0}, {0x0f6b, 77, 74, 0}, {0x0d51, 78, 75, 0}, {0x0bb6, 79, 77, 0}, {0x0a40, 48, 77, 0},
    {0x5832, 81, 80, 1}, {0x4d1c, 82, 88, 0}, {0x438e, 83, 89, 0}, {0x3bdd, 84, 90, 0}, {0x34ee, 85, 91, 0},
    {0x2eae, 86, 92, 0}, {0x299a, 87, 93, 0}, {0x2516, 71, 86, 0}, {0x5570, 89, 88, 1}, {0x4ca9, 90, 95, 0},
    {0x44d9, 91, 96, 0}, {0x3e22, 92, 97, 0}, {0x3824, 93, 99, 0}, {0x32b4, 94, 99, 0}, {0x2e17, 86, 93, 0},
    {0x56a8, 96, 95, 1}, {0x4f46, 97, 101, 0}, {0x47e5, 98, 102, 0}, {0x41cf, 99, 103, 0}, {0x3c3d, 100, 104, 0},
    {0x375e, 93, 99, 0}, {0x5231, 102, 105, 0}, {0x4c0f, 103, 106, 0}, {0x4639, 104, 107, 0}, {0x415e, 99, 103, 0},
    {0x5627, 106, 105, 1}, {0x50e7, 107, 108, 0}, {0x4b85, 103, 109, 0}, {0x5597, 109, 110, 0}, {0x504f, 107, 111, 0},
    {0x5a10, 111, 110, 1}, {0x5522, 109, 112, 0}, {0x59eb, 111, 112, 1}, {0x5a1d, 113, 113, 0},
};

/* Derived Huffman table (jdhuff.c semantics): an 8-bit lookahead, then the canonical
 * maxcode/valoff walk for longer codes. look[] holds (length << 8) | symbol, 0 = longer. */
#define JC_JPEG_FAST_BITS 10
typedef struct {
    uint16_t look[256];
    /* Sequential fast path: the next JC_JPEG_FAST_BITS bits give e = fast[bits]: (e >> 8) & 255 =
     * the symbol (AC: run << 4 | size; DC: size), e & 63 = the code length plus the size, i.e.
     * the bits the symbol and its value take together (0: the code is longer). */
    uint32_t fast[1 << JC_JPEG_FAST_BITS];
    int32_t maxcode[18];
    int32_t valoff[18];
    uint8_t val[256];
} jc_jpeg_huff;

typedef struct {
    int id, h, v, tq;
    int dc_tbl, ac_tbl;
    uint32_t bw, bh;      /* blocks covering the component (libjpeg width/height_in_blocks) */
    uint32_t dw, dh;      /* samples of the component (libjpeg downsampled_width/height) */
    size_t cbw, cbh;      /* blocks in the coefficient buffer (rounded up to whole MCUs) */
    int16_t *coef;        /* [cbh][cbw][64] natural order, multi-scan images only */
    uint8_t *plane;       /* [bh*8][pstride] samples after the IDCT */
    size_t pstride;
    int qlatched;         /* quantisation table copied at the component's first scan */
    uint16_t qraw[64];
    int16_t qmul[64];     /* libjpeg-turbo's SIMD build keeps multipliers as short */
    int coef_bits[64];    /* progressive: successive-approximation state, -1 = never coded */
    int prev_bits[64];
} jc_jpeg_comp;

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    char *err;
    size_t errcap;
    /* marker reader (jdmarker.c) */
    int saw_soi, saw_sof, unread;
    int qdef[4];
    uint16_t q[4][64];
    int hdef[8];          /* 0..3 DC tables, 4..7 AC tables */
    uint8_t hbits[8][17];
    uint8_t hval[8][256];
    jc_jpeg_huff hd[8];
    uint8_t arith_L[16], arith_U[16], arith_K[16];
    unsigned restart_interval;
    int jfif, adobe, adobe_transform;
    int progressive, arith;
    uint32_t W, H;
    int nc;
    jc_jpeg_comp c[JC_JPEG_MAXC];
    int hmax, vmax;
    uint32_t mcux, mcuy;  /* MCUs of an interleaved scan */
    int multi;            /* coefficient buffer for the whole image (progressive/non-interleaved) */
    int scans;
    /* current scan */
    int ns, Ss, Se, Ah, Al;
    jc_jpeg_comp *sc[4];
    uint64_t bb;          /* bit buffer, left aligned; bits below bn are zero */
    int bn;
    int insufficient;
    unsigned rtg;         /* restarts to go */
    int next_rst;
    unsigned eobrun;
    int lastdc[4];
    /* arithmetic decoder (jdarith.c) */
    int64_t ac, aa;
    int act;
    int dcctx[4];
    uint8_t dcst[16][64], acst[16][256], fixed_bin;
    int16_t mcu[10][64];  /* one MCU of a single-scan image */
    uint32_t last_good;   /* last iMCU row decoded with data left (libjpeg last_good_iMCU_row) */
    /* output stage: single-scan images are upsampled and converted right behind the decoder,
     * while the rows just written by the IDCT are still in cache */
    uint8_t *rgb;         /* [H][W][3] caller's output */
    uint8_t *rowbufs;     /* [JC_JPEG_MAXC][rowbuf] upsampled rows */
    size_t rowbuf;
    int up[JC_JPEG_MAXC], hx[JC_JPEG_MAXC], vx[JC_JPEG_MAXC], cs;
    uint32_t out_y;       /* next output row to produce */
    const struct jc_jpeg_ycc_s *ycc;
    const jc_jpeg_ops *simd;  /* SIMD pixel stages (kernels/), NULL: the scalar code below */
    int16_t *simd_ws;         /* [jc_jpeg_ws(chroma width)] scratch of simd->ycc_fancy_row */
} jc_jpeg_dec;

/* Forced inlining where it matters: the IDCT's 1-D passes are instantiated with literal zeros
 * for sparse blocks, and the Huffman fast path keeps its bit buffer in registers; gcc declines
 * both by itself. */
#if defined(__GNUC__) || defined(__clang__)
#define JC_JPEG_INLINE static inline __attribute__((always_inline))
#define JC_JPEG_NOINLINE static __attribute__((noinline))
#else
#define JC_JPEG_INLINE static inline
#define JC_JPEG_NOINLINE static
#endif

#define JC_JPEG_FAIL(d, code, ...) jc_fail((d)->err, (d)->errcap, code, __VA_ARGS__)
#define JC_JPEG_TRY(x) do { int jc_jpeg_rc_ = (x); if (jc_jpeg_rc_) return jc_jpeg_rc_; } while (0)

/* ---- Pillow's own marker walk (JpegImagePlugin._open) ------------------------------------
 * Pillow parses the markers in Python before libjpeg sees the file, and rejects some files
 * that libjpeg would accept. This reproduces its acceptance rules and collects the size,
 * layer count, the progressive flag (of the last SOF) and the first Exif APP1. */
typedef struct {
    uint32_t w, h;
    int layers, progressive;
    size_t exif_off, exif_len;
    int have_exif;
} jc_jpeg_pil;

static int jc_jpeg_pil_u16(const uint8_t *p, size_t len, size_t *pos, unsigned *v)
{
    if (*pos + 2 > len) return 0;
    *v = ((unsigned)p[*pos] << 8) | p[*pos + 1];
    *pos += 2;
    return 1;
}

static int jc_jpeg_pil_open(const uint8_t *p, size_t len, jc_jpeg_pil *o, char *err, size_t errcap)
{
    memset(o, 0, sizeof *o);
    if (len < 3 || p[0] != 0xFF || p[1] != 0xD8 || p[2] != 0xFF)
        return jc_fail(err, errcap, JC_ERR_FORMAT, "not a JPEG file (no SOI)");
    size_t pos = 3;
    int b0 = 0xFF;
    for (;;) {
        if (b0 != 0xFF) {
            if (pos >= len) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "no SOS before end of file");
            b0 = p[pos++];
            continue;
        }
        if (pos >= len) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "no SOS before end of file");
        unsigned m = 0xFF00u | p[pos++];
        if (m >= 0xFFC0 && m <= 0xFFFE) {
            int sof = (m >= 0xFFC0 && m <= 0xFFCF && m != 0xFFC4 && m != 0xFFC8 && m != 0xFFCC) || m == 0xFFDE;
            int none = m == 0xFFC8 || (m >= 0xFFD0 && m <= 0xFFD9) || (m >= 0xFFF0 && m <= 0xFFFD);
            if (!none) {
                unsigned n2;
                if (!jc_jpeg_pil_u16(p, len, &pos, &n2))
                    return jc_fail(err, errcap, JC_ERR_TRUNCATED, "marker 0x%04x: no length", m);
                long n = (long)n2 - 2;
                size_t seg = pos, slen = n > 0 ? (size_t)n : 0;
                if (slen > len - pos)
                    return jc_fail(err, errcap, JC_ERR_TRUNCATED, "marker 0x%04x runs past the end", m);
                pos += slen;
                const uint8_t *s = p + seg;
                if (sof) {
                    if (slen < 6) return jc_fail(err, errcap, JC_ERR_FORMAT, "SOF too short");
                    if (s[0] != 8)
                        return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "%d-bit JPEG is not supported", s[0]);
                    o->h = ((uint32_t)s[1] << 8) | s[2];
                    o->w = ((uint32_t)s[3] << 8) | s[4];
                    o->layers = s[5];
                    if (o->layers != 1 && o->layers != 3 && o->layers != 4)
                        return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "JPEG with %d components", o->layers);
                    if (m == 0xFFC2 || m == 0xFFC6 || m == 0xFFCA || m == 0xFFCE) o->progressive = 1;
                } else if (m == 0xFFDB) {
                    size_t k = 0;
                    while (k < slen) {
                        size_t ql = (s[k] >> 4) == 0 ? 65 : 129;
                        if (slen - k < ql) return jc_fail(err, errcap, JC_ERR_FORMAT, "bad quantization table marker");
                        k += ql;
                    }
                } else if (m == 0xFFE1 && !o->have_exif && slen >= 5 && memcmp(s, "Exif\0", 5) == 0) {
                    o->have_exif = 1;
                    o->exif_off = seg;
                    o->exif_len = slen;
                }
            }
            if (m == 0xFFDA) return o->layers ? JC_OK : jc_fail(err, errcap, JC_ERR_FORMAT, "SOS before SOF");
            if (pos >= len) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "no SOS before end of file");
            b0 = p[pos++];
        } else if (m == 0xFFFF) {
            b0 = 0xFF;
        } else if (m == 0xFF00) {
            if (pos >= len) return jc_fail(err, errcap, JC_ERR_TRUNCATED, "no SOS before end of file");
            b0 = p[pos++];
        } else {
            return jc_fail(err, errcap, JC_ERR_FORMAT, "no marker found (0x%04x)", m);
        }
    }
}

/* EXIF orientation: TIFF header, IFD0, tag 0x0112 (SHORT). Every offset is bounds-checked;
 * anything malformed simply reports 0. */
static int jc_jpeg_exif_orientation(const uint8_t *s, size_t n)
{
    if (n < 6 + 8) return 0;
    const uint8_t *t = s + 6;
    size_t tl = n - 6;
    int le;
    if (t[0] == 'I' && t[1] == 'I') le = 1;
    else if (t[0] == 'M' && t[1] == 'M') le = 0;
    else return 0;
#define JC_JPEG_RD16(q) (le ? (unsigned)((q)[0] | ((q)[1] << 8)) : (unsigned)(((q)[0] << 8) | (q)[1]))
#define JC_JPEG_RD32(q) (le ? ((uint32_t)(q)[0] | ((uint32_t)(q)[1] << 8) | ((uint32_t)(q)[2] << 16) | ((uint32_t)(q)[3] << 24)) \
                         : (((uint32_t)(q)[0] << 24) | ((uint32_t)(q)[1] << 16) | ((uint32_t)(q)[2] << 8) | (uint32_t)(q)[3]))
    if (JC_JPEG_RD16(t + 2) != 42) return 0;
    uint32_t ifd = JC_JPEG_RD32(t + 4);
    if (ifd > tl || tl - ifd < 2) return 0;
    unsigned cnt = JC_JPEG_RD16(t + ifd);
    for (unsigned i = 0; i < cnt; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e > tl || tl - e < 12) return 0;
        if (JC_JPEG_RD16(t + e) == 0x0112) {
            unsigned type = JC_JPEG_RD16(t + e + 2);
            if (type != 3) return 0;
            unsigned v = JC_JPEG_RD16(t + e + 8);
            return (v >= 1 && v <= 8) ? (int)v : 0;
        }
    }
#undef JC_JPEG_RD16
#undef JC_JPEG_RD32
    return 0;
}

/* ---- libjpeg marker reader ---------------------------------------------------------------- */
static int jc_jpeg_byte(jc_jpeg_dec *d, int *v)
{
    *v = 0;
    if (d->pos >= d->len) return JC_JPEG_FAIL(d, JC_ERR_TRUNCATED, "JPEG data ends inside a marker segment");
    *v = d->p[d->pos++];
    return JC_OK;
}

static int jc_jpeg_u16(jc_jpeg_dec *d, int *v)
{
    int a, b;
    JC_JPEG_TRY(jc_jpeg_byte(d, &a));
    JC_JPEG_TRY(jc_jpeg_byte(d, &b));
    *v = (a << 8) | b;
    return JC_OK;
}

/* next_marker(): skip garbage and fill bytes up to the next marker code. */
static int jc_jpeg_next_marker(jc_jpeg_dec *d)
{
    for (;;) {
        int c;
        JC_JPEG_TRY(jc_jpeg_byte(d, &c));
        while (c != 0xFF) JC_JPEG_TRY(jc_jpeg_byte(d, &c));
        do JC_JPEG_TRY(jc_jpeg_byte(d, &c)); while (c == 0xFF);
        if (c != 0) {
            d->unread = c;
            return JC_OK;
        }
    }
}

static int jc_jpeg_skip_segment(jc_jpeg_dec *d)
{
    int len;
    JC_JPEG_TRY(jc_jpeg_u16(d, &len));
    if (len > 2) {
        if ((size_t)(len - 2) > d->len - d->pos)
            return JC_JPEG_FAIL(d, JC_ERR_TRUNCATED, "marker segment runs past the end of the data");
        d->pos += (size_t)(len - 2);
    }
    return JC_OK;
}

static int jc_jpeg_get_sof(jc_jpeg_dec *d, int prog, int arith)
{
    int len, prec, h, w, n;
    d->progressive = prog;
    d->arith = arith;
    JC_JPEG_TRY(jc_jpeg_u16(d, &len));
    JC_JPEG_TRY(jc_jpeg_byte(d, &prec));
    JC_JPEG_TRY(jc_jpeg_u16(d, &h));
    JC_JPEG_TRY(jc_jpeg_u16(d, &w));
    JC_JPEG_TRY(jc_jpeg_byte(d, &n));
    if (d->saw_sof) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "two SOF markers");
    if (h <= 0 || w <= 0 || n <= 0) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "empty JPEG image (%dx%d, %d components)", w, h, n);
    if (len - 8 != n * 3) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bad SOF length");
    if (n > JC_JPEG_MAXC) return JC_JPEG_FAIL(d, JC_ERR_UNSUPPORTED, "JPEG with %d components", n);
    d->W = (uint32_t)w;
    d->H = (uint32_t)h;
    d->nc = n;
    for (int i = 0; i < n; i++) {
        int id, hv, tq;
        JC_JPEG_TRY(jc_jpeg_byte(d, &id));
        JC_JPEG_TRY(jc_jpeg_byte(d, &hv));
        JC_JPEG_TRY(jc_jpeg_byte(d, &tq));
        d->c[i].id = id;
        d->c[i].h = (hv >> 4) & 15;
        d->c[i].v = hv & 15;
        d->c[i].tq = tq;
    }
    if (prec != 8)
        return JC_JPEG_FAIL(d, JC_ERR_UNSUPPORTED, "%d-bit JPEG is not supported (8-bit only)", prec);
    d->saw_sof = 1;
    return JC_OK;
}

static int jc_jpeg_get_sos(jc_jpeg_dec *d)
{
    int len, n;
    if (!d->saw_sof) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "SOS before SOF");
    JC_JPEG_TRY(jc_jpeg_u16(d, &len));
    JC_JPEG_TRY(jc_jpeg_byte(d, &n));
    if (len != n * 2 + 6 || n < 1 || n > 4) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bad SOS length");
    d->ns = n;
    jc_jpeg_comp *cur[4] = {0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        int cc, t, ci;
        JC_JPEG_TRY(jc_jpeg_byte(d, &cc));
        JC_JPEG_TRY(jc_jpeg_byte(d, &t));
        /* libjpeg's search: cur_comp_info is indexed by component index here, as in
         * jdmarker.c, which is what makes a duplicated component id an error. */
        for (ci = 0; ci < d->nc && ci < 4; ci++)
            if (cc == d->c[ci].id && !cur[ci]) break;
        if (ci >= d->nc || ci >= 4) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "invalid component id %d in SOS", cc);
        cur[i] = &d->c[ci];
        d->c[ci].dc_tbl = (t >> 4) & 15;
        d->c[ci].ac_tbl = t & 15;
        for (int k = 0; k < i; k++)
            if (cur[k] == cur[i]) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "invalid component id %d in SOS", cc);
    }
    for (int i = 0; i < 4; i++) d->sc[i] = cur[i];
    int ss, se, a;
    JC_JPEG_TRY(jc_jpeg_byte(d, &ss));
    JC_JPEG_TRY(jc_jpeg_byte(d, &se));
    JC_JPEG_TRY(jc_jpeg_byte(d, &a));
    d->Ss = ss;
    d->Se = se;
    d->Ah = (a >> 4) & 15;
    d->Al = a & 15;
    d->next_rst = 0;
    d->scans++;
    return JC_OK;
}

static int jc_jpeg_get_dht(jc_jpeg_dec *d)
{
    int len;
    JC_JPEG_TRY(jc_jpeg_u16(d, &len));
    len -= 2;
    while (len > 16) {
        int index, count = 0;
        uint8_t bits[17], val[256];
        JC_JPEG_TRY(jc_jpeg_byte(d, &index));
        bits[0] = 0;
        for (int i = 1; i <= 16; i++) {
            int b;
            JC_JPEG_TRY(jc_jpeg_byte(d, &b));
            bits[i] = (uint8_t)b;
            count += b;
        }
        len -= 17;
        if (count > 256 || count > len) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bogus Huffman table definition");
        memset(val, 0, sizeof val);
        for (int i = 0; i < count; i++) {
            int b;
            JC_JPEG_TRY(jc_jpeg_byte(d, &b));
            val[i] = (uint8_t)b;
        }
        len -= count;
        int slot;
        if (index & 0x10) {
            index -= 0x10;
            if (index < 0 || index >= 4) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bogus DHT index %d", index);
            slot = 4 + index;
        } else {
            if (index >= 4) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bogus DHT index %d", index);
            slot = index;
        }
        d->hdef[slot] = 1;
        memcpy(d->hbits[slot], bits, sizeof bits);
        memcpy(d->hval[slot], val, sizeof val);
    }
    if (len != 0) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bad DHT length");
    return JC_OK;
}

static int jc_jpeg_get_dqt(jc_jpeg_dec *d)
{
    int len;
    JC_JPEG_TRY(jc_jpeg_u16(d, &len));
    len -= 2;
    while (len > 0) {
        int n;
        JC_JPEG_TRY(jc_jpeg_byte(d, &n));
        int prec = n >> 4;
        n &= 15;
        if (n >= 4) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bogus DQT index %d", n);
        d->qdef[n] = 1;
        for (int i = 0; i < 64; i++) {
            int v;
            if (prec) JC_JPEG_TRY(jc_jpeg_u16(d, &v));
            else JC_JPEG_TRY(jc_jpeg_byte(d, &v));
            d->q[n][jc_jpeg_zz[i]] = (uint16_t)v;
        }
        len -= 65;
        if (prec) len -= 64;
    }
    if (len != 0) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bad DQT length");
    return JC_OK;
}

static int jc_jpeg_get_dac(jc_jpeg_dec *d)
{
    int len;
    JC_JPEG_TRY(jc_jpeg_u16(d, &len));
    len -= 2;
    while (len > 0) {
        int index, val;
        JC_JPEG_TRY(jc_jpeg_byte(d, &index));
        JC_JPEG_TRY(jc_jpeg_byte(d, &val));
        len -= 2;
        if (index >= 32) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bogus DAC index %d", index);
        if (index >= 16) {
            d->arith_K[index - 16] = (uint8_t)val;
        } else {
            d->arith_L[index] = (uint8_t)(val & 15);
            d->arith_U[index] = (uint8_t)(val >> 4);
            if (d->arith_L[index] > d->arith_U[index]) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bogus DAC value 0x%x", val);
        }
    }
    if (len != 0) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bad DAC length");
    return JC_OK;
}

/* APP0 (JFIF) and APP14 (Adobe) decide the colour space; other APPn and COM are skipped. */
static int jc_jpeg_get_app(jc_jpeg_dec *d, int marker)
{
    int len;
    JC_JPEG_TRY(jc_jpeg_u16(d, &len));
    len -= 2;
    int want = marker == 0xE0 || marker == 0xEE;
    if (!want) {
        if (len > 0) {
            if ((size_t)len > d->len - d->pos)
                return JC_JPEG_FAIL(d, JC_ERR_TRUNCATED, "APP segment runs past the end of the data");
            d->pos += (size_t)len;
        }
        return JC_OK;
    }
    uint8_t b[14];
    int nr = len >= 14 ? 14 : (len > 0 ? len : 0);
    for (int i = 0; i < nr; i++) {
        int v;
        JC_JPEG_TRY(jc_jpeg_byte(d, &v));
        b[i] = (uint8_t)v;
    }
    if (marker == 0xE0 && nr >= 14 && memcmp(b, "JFIF\0", 5) == 0) d->jfif = 1;
    if (marker == 0xEE && nr >= 12 && memcmp(b, "Adobe", 5) == 0) {
        d->adobe = 1;
        d->adobe_transform = b[11];
    }
    int rest = len - nr;
    if (rest > 0) {
        if ((size_t)rest > d->len - d->pos)
            return JC_JPEG_FAIL(d, JC_ERR_TRUNCATED, "APP segment runs past the end of the data");
        d->pos += (size_t)rest;
    }
    return JC_OK;
}

static void jc_jpeg_soi_reset(jc_jpeg_dec *d)
{
    for (int i = 0; i < 16; i++) {
        d->arith_L[i] = 0;
        d->arith_U[i] = 1;
        d->arith_K[i] = 5;
    }
    d->restart_interval = 0;
    d->jfif = d->adobe = d->adobe_transform = 0;
    d->saw_soi = 1;
}

/* read_markers(): returns 1 at SOS, 2 at EOI (or a negative status). */
static int jc_jpeg_read_markers(jc_jpeg_dec *d)
{
    for (;;) {
        if (d->unread == 0) {
            if (!d->saw_soi) {
                int a, b;
                JC_JPEG_TRY(jc_jpeg_byte(d, &a));
                JC_JPEG_TRY(jc_jpeg_byte(d, &b));
                if (a != 0xFF || b != 0xD8) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "not a JPEG file: starts with 0x%02x 0x%02x", a, b);
                d->unread = b;
            } else {
                JC_JPEG_TRY(jc_jpeg_next_marker(d));
            }
        }
        int m = d->unread;
        switch (m) {
        case 0xD8:
            if (d->saw_soi) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "invalid JPEG file structure: two SOI markers");
            jc_jpeg_soi_reset(d);
            break;
        case 0xC0: case 0xC1: JC_JPEG_TRY(jc_jpeg_get_sof(d, 0, 0)); break;
        case 0xC2: JC_JPEG_TRY(jc_jpeg_get_sof(d, 1, 0)); break;
        case 0xC9: JC_JPEG_TRY(jc_jpeg_get_sof(d, 0, 1)); break;
        case 0xCA: JC_JPEG_TRY(jc_jpeg_get_sof(d, 1, 1)); break;
        case 0xC3: case 0xC5: case 0xC6: case 0xC7: case 0xC8:
        case 0xCB: case 0xCD: case 0xCE: case 0xCF:
            return JC_JPEG_FAIL(d, JC_ERR_UNSUPPORTED, "unsupported JPEG process: SOF type 0x%02x%s", m,
                             m == 0xC3 ? " (lossless)" : "");
        case 0xDA:
            JC_JPEG_TRY(jc_jpeg_get_sos(d));
            d->unread = 0;
            return 1;
        case 0xD9:
            d->unread = 0;
            return 2;
        case 0xCC: JC_JPEG_TRY(jc_jpeg_get_dac(d)); break;
        case 0xC4: JC_JPEG_TRY(jc_jpeg_get_dht(d)); break;
        case 0xDB: JC_JPEG_TRY(jc_jpeg_get_dqt(d)); break;
        case 0xDD: {
            int len, v;
            JC_JPEG_TRY(jc_jpeg_u16(d, &len));
            if (len != 4) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bad DRI length");
            JC_JPEG_TRY(jc_jpeg_u16(d, &v));
            d->restart_interval = (unsigned)v;
            break;
        }
        case 0xD0: case 0xD1: case 0xD2: case 0xD3: case 0xD4: case 0xD5: case 0xD6: case 0xD7: case 0x01:
            break;
        case 0xDC: JC_JPEG_TRY(jc_jpeg_skip_segment(d)); break;
        default:
            if ((m >= 0xE0 && m <= 0xEF)) {
                JC_JPEG_TRY(jc_jpeg_get_app(d, m));
            } else if (m == 0xFE) {
                JC_JPEG_TRY(jc_jpeg_skip_segment(d));
            } else {
                return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "unsupported marker type 0x%02x", m);
            }
        }
        d->unread = 0;
    }
}

/* ---- frame and scan setup (jdinput.c) ----------------------------------------------------- */
static uint32_t jc_jpeg_div_up(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }

static int jc_jpeg_initial_setup(jc_jpeg_dec *d, uint64_t max_pixels)
{
    if (d->W > JC_JPEG_MAX_DIMENSION || d->H > JC_JPEG_MAX_DIMENSION)
        return JC_JPEG_FAIL(d, JC_ERR_LIMIT, "maximum supported image dimension is %u pixels", JC_JPEG_MAX_DIMENSION);
    if ((uint64_t)d->W * d->H > max_pixels)
        return JC_JPEG_FAIL(d, JC_ERR_LIMIT, "image of %ux%u pixels exceeds the limit of %llu pixels", d->W, d->H,
                         (unsigned long long)max_pixels);
    d->hmax = d->vmax = 1;
    for (int i = 0; i < d->nc; i++) {
        jc_jpeg_comp *c = &d->c[i];
        if (c->h < 1 || c->h > 4 || c->v < 1 || c->v > 4) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bogus sampling factors");
        if (c->h > d->hmax) d->hmax = c->h;
        if (c->v > d->vmax) d->vmax = c->v;
    }
    d->mcux = jc_jpeg_div_up(d->W, (uint64_t)d->hmax * 8);
    d->mcuy = jc_jpeg_div_up(d->H, (uint64_t)d->vmax * 8);
    for (int i = 0; i < d->nc; i++) {
        jc_jpeg_comp *c = &d->c[i];
        c->bw = jc_jpeg_div_up((uint64_t)d->W * c->h, (uint64_t)d->hmax * 8);
        c->bh = jc_jpeg_div_up((uint64_t)d->H * c->v, (uint64_t)d->vmax * 8);
        c->dw = jc_jpeg_div_up((uint64_t)d->W * c->h, (uint64_t)d->hmax);
        c->dh = jc_jpeg_div_up((uint64_t)d->H * c->v, (uint64_t)d->vmax);
        c->cbw = (size_t)d->mcux * c->h;
        c->cbh = (size_t)d->mcuy * c->v;
        c->qlatched = 0;
        for (int k = 0; k < 64; k++) c->coef_bits[k] = -1;
    }
    return JC_OK;
}

static inline int jc_jpeg_extend(int r, int s) { return r < (1 << (s - 1)) ? r - (1 << s) + 1 : r; }

static int jc_jpeg_build_huff(jc_jpeg_dec *d, int slot, int is_dc)
{
    const uint8_t *bits = d->hbits[slot];
    jc_jpeg_huff *h = &d->hd[slot];
    uint8_t size[257];
    unsigned code[257];
    int p = 0;
    for (int l = 1; l <= 16; l++) {
        int n = bits[l];
        if (p + n > 256) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bogus Huffman table definition");
        while (n--) size[p++] = (uint8_t)l;
    }
    size[p] = 0;
    int nsym = p;
    unsigned cd = 0;
    int si = size[0];
    p = 0;
    while (size[p]) {
        while (size[p] == si) code[p++] = cd++;
        if (cd >= (1u << si)) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bogus Huffman table definition");
        cd <<= 1;
        si++;
    }
    p = 0;
    for (int l = 1; l <= 16; l++) {
        if (bits[l]) {
            h->valoff[l] = p - (int32_t)code[p];
            p += bits[l];
            h->maxcode[l] = (int32_t)code[p - 1];
        } else {
            h->maxcode[l] = -1;
        }
    }
    h->valoff[17] = 0;
    h->maxcode[17] = 0xFFFFF;
    memcpy(h->val, d->hval[slot], 256);
    memset(h->look, 0, sizeof h->look);
    p = 0;
    for (int l = 1; l <= 8; l++)
        for (int i = 1; i <= bits[l]; i++, p++) {
            unsigned lb = code[p] << (8 - l);
            for (int k = 1 << (8 - l); k > 0; k--) h->look[lb++] = (uint16_t)((l << 8) | h->val[p]);
        }
    if (is_dc)
        for (int i = 0; i < nsym; i++)
            if (h->val[i] > 15) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "bogus Huffman table definition");
    memset(h->fast, 0, sizeof h->fast);
    p = 0;
    for (int l = 1; l <= JC_JPEG_FAST_BITS; l++)
        for (int i = 1; i <= bits[l]; i++, p++) {
            int sym = h->val[p];
            unsigned lb = code[p] << (JC_JPEG_FAST_BITS - l);
            for (unsigned k = 0; k < 1u << (JC_JPEG_FAST_BITS - l); k++) h->fast[lb + k] = (uint32_t)(l + (sym & 15)) | (uint32_t)sym << 8;
        }
    return JC_OK;
}

static int jc_jpeg_need_huff(jc_jpeg_dec *d, int slot, int is_dc)
{
    if (!d->hdef[slot]) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "Huffman table 0x%02x was not defined", slot & 3);
    return jc_jpeg_build_huff(d, slot, is_dc);
}

/* ---- Huffman bit reader (jdhuff.c jpeg_fill_bit_buffer) ----------------------------------
 * Same fill policy as libjpeg-turbo on 64-bit hosts (fill to 57 bits, only when a read needs
 * more bits than are buffered), so that the point where it would run off the end of a file
 * that lacks its final marker is the same. */
static int jc_jpeg_fill(jc_jpeg_dec *d, int nbits)
{
    if (!d->unread) {
        while (d->bn < 57) {
            if (d->pos >= d->len) return JC_JPEG_FAIL(d, JC_ERR_TRUNCATED, "JPEG entropy data is truncated");
            int c = d->p[d->pos++];
            if (c == 0xFF) {
                do {
                    if (d->pos >= d->len) return JC_JPEG_FAIL(d, JC_ERR_TRUNCATED, "JPEG entropy data is truncated");
                    c = d->p[d->pos++];
                } while (c == 0xFF);
                if (c == 0) {
                    c = 0xFF;
                } else {
                    d->unread = c;
                    break;
                }
            }
            d->bb |= (uint64_t)c << (56 - d->bn);
            d->bn += 8;
        }
    }
    if (d->unread && nbits > d->bn) {
        /* Hit a marker: libjpeg pads with zero bits (the buffer's low bits already are). */
        d->insufficient = 1;
        d->bn = 57;
    }
    return JC_OK;
}

static inline int jc_jpeg_bits(jc_jpeg_dec *d, int n, int *v)
{
    *v = 0;
    if (d->bn < n) JC_JPEG_TRY(jc_jpeg_fill(d, n));
    *v = n ? (int)(d->bb >> (64 - n)) : 0;
    d->bb <<= n;
    d->bn -= n;
    return JC_OK;
}

/* Decodes one Huffman symbol into *s (0..255); bad codes give 0 like jpeg_huff_decode(). */
static inline int jc_jpeg_huff_sym(jc_jpeg_dec *d, const jc_jpeg_huff *h, int *s)
{
    int l;
    *s = 0;
    if (d->bn < 8) {
        JC_JPEG_TRY(jc_jpeg_fill(d, 0));
        if (d->bn < 8) {
            l = 1;
            goto slow;
        }
    }
    {
        unsigned v = h->look[d->bb >> 56];
        if (v) {
            l = (int)(v >> 8);
            d->bb <<= l;
            d->bn -= l;
            *s = (int)(v & 255);
            return JC_OK;
        }
        l = 9;
    }
slow : {
    int code;
    JC_JPEG_TRY(jc_jpeg_bits(d, l, &code));
    while (code > h->maxcode[l]) {
        int b;
        JC_JPEG_TRY(jc_jpeg_bits(d, 1, &b));
        code = (code << 1) | b;
        l++;
    }
    *s = l > 16 ? 0 : h->val[(code + h->valoff[l]) & 0xFF];
    return JC_OK;
}
}


/* read_restart_marker() + jpeg_resync_to_restart(). */
static int jc_jpeg_read_restart(jc_jpeg_dec *d)
{
    if (!d->unread) JC_JPEG_TRY(jc_jpeg_next_marker(d));
    int want = d->next_rst;
    if (d->unread == 0xD0 + want) {
        d->unread = 0;
    } else {
        for (;;) {
            int m = d->unread, action;
            if (m < 0xC0) action = 2;
            else if (m < 0xD0 || m > 0xD7) action = 3;
            else if (m == 0xD0 + ((want + 1) & 7) || m == 0xD0 + ((want + 2) & 7)) action = 3;
            else if (m == 0xD0 + ((want - 1) & 7) || m == 0xD0 + ((want - 2) & 7)) action = 2;
            else action = 1;
            if (action == 1) { d->unread = 0; break; }
            if (action == 3) break;
            JC_JPEG_TRY(jc_jpeg_next_marker(d));
        }
    }
    d->next_rst = (d->next_rst + 1) & 7;
    return JC_OK;
}

static int jc_jpeg_huff_restart(jc_jpeg_dec *d)
{
    d->bb = 0;
    d->bn = 0;
    JC_JPEG_TRY(jc_jpeg_read_restart(d));
    for (int i = 0; i < 4; i++) d->lastdc[i] = 0;
    d->eobrun = 0;
    d->rtg = d->restart_interval;
    if (!d->unread) d->insufficient = 0;
    return JC_OK;
}

/* ---- sequential Huffman MCU, fast path (the role of jdhuff.c decode_mcu_fast) ---------------
 * Used only when the MCU cannot reach the end of the data (at most 31 + 63 * 31 bits per block,
 * doubled for stuffed bytes, plus the fill's read-ahead), so that fills made earlier than the
 * slow path would make them cannot change where a truncated file fails. Markers are handled by
 * the same fill; once one is hit and the buffer runs low, each read goes through the slow
 * functions, which set the insufficient-data state exactly as before. */
#define JC_JPEG_FAST_MARGIN(nblk) ((size_t)(nblk) * 512 + 64)

/* The bit buffer lives in locals (bb, bn) in the fast path so that it stays in registers; these
 * move it to and from the decoder around calls that use it there. */
#define JC_JPEG_BITS_OUT() (d->bb = bb, d->bn = bn)
#define JC_JPEG_BITS_IN() (bb = d->bb, bn = d->bn)

JC_JPEG_INLINE void jc_jpeg_refill(jc_jpeg_dec *d, uint64_t *bb, int *bn)
{
    if (d->unread) return;
    if (d->pos + 8 <= d->len) {
        const uint8_t *q = d->p + d->pos; /* big-endian load; compilers make this one bswap */
        uint64_t u = (uint64_t)q[0] << 56 | (uint64_t)q[1] << 48 | (uint64_t)q[2] << 40 | (uint64_t)q[3] << 32 |
                     (uint64_t)q[4] << 24 | (uint64_t)q[5] << 16 | (uint64_t)q[6] << 8 | q[7];
        uint64_t t = ~u;
        if (!((t - 0x0101010101010101ull) & ~t & 0x8080808080808080ull)) { /* no 0xFF byte */
            int k = (64 - *bn) >> 3; /* bytes the slow fill would add: up to 57..64 bits */
            if (k > 0) {
                *bb |= (u >> (64 - 8 * k)) << (64 - *bn - 8 * k);
                *bn += 8 * k;
                d->pos += (size_t)k;
            }
            return;
        }
    }
    d->bb = *bb;
    d->bn = *bn;
    (void)jc_jpeg_fill(d, 0); /* cannot fail: the caller checked JC_JPEG_FAST_MARGIN */
    *bb = d->bb;
    *bn = d->bn;
}

/* Looks up the symbol at the top of bb (which holds >= 32 bits) and returns it in the fast
 * table's format: total bits (code + value) | symbol << 8. Codes longer than JC_JPEG_FAST_BITS take
 * the canonical walk; a bad code gives symbol 0 after 17 bits, like jpeg_huff_decode(). */
JC_JPEG_INLINE uint32_t jc_jpeg_fast_sym(uint64_t bb, const jc_jpeg_huff *h)
{
    uint32_t e = h->fast[bb >> (64 - JC_JPEG_FAST_BITS)];
    if (e & 63) return e;
    int l;
    int32_t code;
    for (l = JC_JPEG_FAST_BITS + 1;; l++) {
        code = (int32_t)(bb >> (64 - l));
        if (code <= h->maxcode[l]) break;
    }
    uint32_t sym = l > 16 ? 0 : h->val[(code + h->valoff[l]) & 0xFF];
    return ((uint32_t)l + (sym & 15)) | sym << 8;
}

/* The extended value (jc_jpeg_extend) of the symbol e at the top of bb, 0 for size 0; branch free,
 * since whether a value is negative is as unpredictable as the data. */
JC_JPEG_INLINE int32_t jc_jpeg_fast_val(uint64_t bb, uint32_t e)
{
    uint32_t mask = (1u << ((e >> 8) & 15)) - 1;
    uint32_t v = (uint32_t)(bb >> (64 - (e & 63))) & mask;
    uint32_t neg = (v - ((mask + 1) >> 1)) >> 31; /* v below half the range: negative */
    return (int32_t)v - (int32_t)((0u - neg) & mask);
}

static int jc_jpeg_mcu_huff_fast(jc_jpeg_dec *d, int16_t **blk, const int *memb, int nblk)
{
    uint64_t bb;
    int bn;
    JC_JPEG_BITS_IN();
    for (int b = 0; b < nblk; b++) {
        int ci = memb[b];
        jc_jpeg_comp *c = d->sc[ci];
        const jc_jpeg_huff *dc = &d->hd[c->dc_tbl], *ac = &d->hd[4 + c->ac_tbl];
        int16_t *blkp = blk[b];
        int s, r;
        if (bn < 32) jc_jpeg_refill(d, &bb, &bn);
        if (bn >= 32) {
            uint32_t e = jc_jpeg_fast_sym(bb, dc);
            s = jc_jpeg_fast_val(bb, e);
            bb <<= e & 63;
            bn -= (int)(e & 63);
        } else {
            JC_JPEG_BITS_OUT();
            JC_JPEG_TRY(jc_jpeg_huff_sym(d, dc, &s));
            if (s) {
                JC_JPEG_TRY(jc_jpeg_bits(d, s, &r));
                s = jc_jpeg_extend(r, s);
            }
            JC_JPEG_BITS_IN();
        }
        d->lastdc[ci] = (int)(unsigned)((unsigned)s + (unsigned)d->lastdc[ci]);
        blkp[0] = (int16_t)d->lastdc[ci];
        for (int k = 1; k < 64; k++) {
            if (bn < 32) jc_jpeg_refill(d, &bb, &bn);
            if (bn >= 32) {
                uint32_t e = jc_jpeg_fast_sym(bb, ac);
                int v = jc_jpeg_fast_val(bb, e);
                bb <<= e & 63;
                bn -= (int)(e & 63);
                if (e & 0xF00) {
                    k += (int)(e >> 12) & 15;
                    blkp[jc_jpeg_zz[k]] = (int16_t)v;
                } else {
                    if ((e & 0xF000) != 0xF000) break;
                    k += 15;
                }
                continue;
            }
            JC_JPEG_BITS_OUT();
            JC_JPEG_TRY(jc_jpeg_huff_sym(d, ac, &s));
            r = s >> 4;
            s &= 15;
            if (s) {
                k += r;
                JC_JPEG_TRY(jc_jpeg_bits(d, s, &r));
                blkp[jc_jpeg_zz[k]] = (int16_t)jc_jpeg_extend(r, s);
            } else if (r != 15) {
                JC_JPEG_BITS_IN();
                break;
            } else {
                k += 15;
            }
            JC_JPEG_BITS_IN();
        }
    }
    JC_JPEG_BITS_OUT();
    return JC_OK;
}

/* ---- sequential Huffman MCU (jdhuff.c decode_mcu_slow) ------------------------------------ */
static int jc_jpeg_mcu_huff(jc_jpeg_dec *d, int16_t **blk, const int *memb, int nblk)
{
    if (d->restart_interval && d->rtg == 0) JC_JPEG_TRY(jc_jpeg_huff_restart(d));
    if (!d->insufficient && d->len - d->pos >= JC_JPEG_FAST_MARGIN(nblk)) {
        JC_JPEG_TRY(jc_jpeg_mcu_huff_fast(d, blk, memb, nblk));
    } else if (!d->insufficient) {
        for (int b = 0; b < nblk; b++) {
            int ci = memb[b];
            jc_jpeg_comp *c = d->sc[ci];
            const jc_jpeg_huff *dc = &d->hd[c->dc_tbl], *ac = &d->hd[4 + c->ac_tbl];
            int16_t *blkp = blk[b];
            int s, r;
            JC_JPEG_TRY(jc_jpeg_huff_sym(d, dc, &s));
            if (s) {
                JC_JPEG_TRY(jc_jpeg_bits(d, s, &r));
                s = jc_jpeg_extend(r, s);
            }
            /* libjpeg lets the predictor wrap (see jdhuff.c); keep that without UB */
            d->lastdc[ci] = (int)(unsigned)((unsigned)s + (unsigned)d->lastdc[ci]);
            blkp[0] = (int16_t)d->lastdc[ci];
            for (int k = 1; k < 64; k++) {
                JC_JPEG_TRY(jc_jpeg_huff_sym(d, ac, &s));
                r = s >> 4;
                s &= 15;
                if (s) {
                    k += r;
                    JC_JPEG_TRY(jc_jpeg_bits(d, s, &r));
                    blkp[jc_jpeg_zz[k]] = (int16_t)jc_jpeg_extend(r, s);
                } else {
                    if (r != 15) break;
                    k += 15;
                }
            }
        }
    }
    if (d->restart_interval) d->rtg--;
    return JC_OK;
}

/* ---- progressive Huffman MCU (jdphuff.c) --------------------------------------------------- */
static int jc_jpeg_mcu_prog(jc_jpeg_dec *d, int16_t **blk, const int *memb, int nblk)
{
    if (d->restart_interval && d->rtg == 0) JC_JPEG_TRY(jc_jpeg_huff_restart(d));
    int Al = d->Al;
    if (d->Ss == 0 && d->Ah == 0) { /* DC first */
        if (!d->insufficient) {
            for (int b = 0; b < nblk; b++) {
                int ci = memb[b], s, r;
                JC_JPEG_TRY(jc_jpeg_huff_sym(d, &d->hd[d->sc[ci]->dc_tbl], &s));
                if (s) {
                    JC_JPEG_TRY(jc_jpeg_bits(d, s, &r));
                    s = jc_jpeg_extend(r, s);
                }
                int last = d->lastdc[ci];
                if ((last >= 0 && s > INT_MAX - last) || (last < 0 && s < INT_MIN - last))
                    return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "DCT coefficient out of range");
                d->lastdc[ci] = last + s;
                blk[b][0] = (int16_t)(uint16_t)((unsigned)d->lastdc[ci] << Al);
            }
        }
    } else if (d->Ss == 0) { /* DC refine: reads bits even without data, like libjpeg */
        for (int b = 0; b < nblk; b++) {
            int bit;
            JC_JPEG_TRY(jc_jpeg_bits(d, 1, &bit));
            if (bit) blk[b][0] = (int16_t)(blk[b][0] | (1 << Al));
        }
    } else if (d->Ah == 0) { /* AC first */
        if (!d->insufficient) {
            if (d->eobrun > 0) {
                d->eobrun--;
            } else {
                const jc_jpeg_huff *h = &d->hd[4 + d->sc[0]->ac_tbl];
                int16_t *bp = blk[0];
                for (int k = d->Ss; k <= d->Se; k++) {
                    int s, r;
                    JC_JPEG_TRY(jc_jpeg_huff_sym(d, h, &s));
                    r = s >> 4;
                    s &= 15;
                    if (s) {
                        k += r;
                        JC_JPEG_TRY(jc_jpeg_bits(d, s, &r));
                        s = jc_jpeg_extend(r, s);
                        bp[jc_jpeg_zz[k]] = (int16_t)(uint16_t)((unsigned)s << Al);
                    } else if (r == 15) {
                        k += 15;
                    } else {
                        unsigned run = 1u << r;
                        if (r) {
                            JC_JPEG_TRY(jc_jpeg_bits(d, r, &r));
                            run += (unsigned)r;
                        }
                        d->eobrun = run - 1;
                        break;
                    }
                }
            }
        }
    } else { /* AC refine */
        if (!d->insufficient) {
            const jc_jpeg_huff *h = &d->hd[4 + d->sc[0]->ac_tbl];
            int16_t *bp = blk[0];
            int p1 = 1 << Al, m1 = (int)(~0u << Al);
            int newnz[64], nnz = 0, k = d->Ss, rc = JC_OK;
            unsigned eob = d->eobrun;
            if (eob == 0) {
                for (; k <= d->Se; k++) {
                    int s, r, bit;
                    if ((rc = jc_jpeg_huff_sym(d, h, &s))) goto undo;
                    r = s >> 4;
                    s &= 15;
                    if (s) {
                        if ((rc = jc_jpeg_bits(d, 1, &bit))) goto undo;
                        s = bit ? p1 : m1;
                    } else if (r != 15) {
                        eob = 1u << r;
                        if (r) {
                            if ((rc = jc_jpeg_bits(d, r, &r))) goto undo;
                            eob += (unsigned)r;
                        }
                        break;
                    }
                    do {
                        int16_t *co = bp + jc_jpeg_zz[k];
                        if (*co != 0) {
                            if ((rc = jc_jpeg_bits(d, 1, &bit))) goto undo;
                            if (bit && (*co & p1) == 0) *co = (int16_t)(*co >= 0 ? *co + p1 : *co + m1);
                        } else {
                            if (--r < 0) break;
                        }
                        k++;
                    } while (k <= d->Se);
                    if (s) {
                        int pos = jc_jpeg_zz[k];
                        bp[pos] = (int16_t)s;
                        newnz[nnz++] = pos;
                    }
                }
            }
            if (eob > 0) {
                for (; k <= d->Se; k++) {
                    int16_t *co = bp + jc_jpeg_zz[k];
                    if (*co != 0) {
                        int bit;
                        if ((rc = jc_jpeg_bits(d, 1, &bit))) goto undo;
                        if (bit && (*co & p1) == 0) *co = (int16_t)(*co >= 0 ? *co + p1 : *co + m1);
                    }
                }
                eob--;
            }
            d->eobrun = eob;
            goto done;
        undo:
            while (nnz > 0) bp[newnz[--nnz]] = 0;
            return rc;
        }
    }
done:
    if (d->restart_interval) d->rtg--;
    return JC_OK;
}

/* ---- arithmetic decoding (jdarith.c) ------------------------------------------------------- */
static int jc_jpeg_arith_byte(jc_jpeg_dec *d, int *v)
{
    *v = 0;
    if (d->pos >= d->len) return JC_JPEG_FAIL(d, JC_ERR_TRUNCATED, "arithmetic-coded data is truncated");
    *v = d->p[d->pos++];
    return JC_OK;
}

/* Returns the decoded bit (0/1) or a negative status. */
static int jc_jpeg_arith_decode(jc_jpeg_dec *d, uint8_t *st)
{
    while (d->aa < 0x8000) {
        if (--d->act < 0) {
            int data = 0;
            if (!d->unread) {
                JC_JPEG_TRY(jc_jpeg_arith_byte(d, &data));
                if (data == 0xFF) {
                    do JC_JPEG_TRY(jc_jpeg_arith_byte(d, &data)); while (data == 0xFF);
                    if (data == 0) {
                        data = 0xFF;
                    } else {
                        d->unread = data;
                        data = 0;
                    }
                }
            }
            d->ac = (d->ac << 8) | data;
            if ((d->act += 8) < 0)
                if (++d->act == 0) d->aa = 0x8000;
        }
        d->aa <<= 1;
    }
    int sv = *st;
    int64_t qe = jc_jpeg_qm[sv & 0x7F].qe;
    int nl = jc_jpeg_qm[sv & 0x7F].nlps | (jc_jpeg_qm[sv & 0x7F].sw << 7);
    int nm = jc_jpeg_qm[sv & 0x7F].nmps;
    int64_t temp = d->aa - qe;
    d->aa = temp;
    temp <<= d->act;
    if (d->ac >= temp) {
        d->ac -= temp;
        if (d->aa < qe) {
            d->aa = qe;
            *st = (uint8_t)((sv & 0x80) ^ nm);
        } else {
            d->aa = qe;
            *st = (uint8_t)((sv & 0x80) ^ nl);
            sv ^= 0x80;
        }
    } else if (d->aa < 0x8000) {
        if (d->aa < qe) {
            *st = (uint8_t)((sv & 0x80) ^ nl);
            sv ^= 0x80;
        } else {
            *st = (uint8_t)((sv & 0x80) ^ nm);
        }
    }
    return sv >> 7;
}

#define JC_JPEG_AD(var, st) do { int jc_jpeg_b_ = jc_jpeg_arith_decode(d, (st)); if (jc_jpeg_b_ < 0) return jc_jpeg_b_; (var) = jc_jpeg_b_; } while (0)

static void jc_jpeg_arith_reset_stats(jc_jpeg_dec *d)
{
    for (int i = 0; i < d->ns; i++) {
        jc_jpeg_comp *c = d->sc[i];
        if (!d->progressive || (d->Ss == 0 && d->Ah == 0)) {
            memset(d->dcst[c->dc_tbl], 0, 64);
            d->lastdc[i] = 0;
            d->dcctx[i] = 0;
        }
        if (!d->progressive || d->Ss) memset(d->acst[c->ac_tbl], 0, 256);
    }
    d->ac = 0;
    d->aa = 0;
    d->act = -16;
}

/* One DC difference (F.1.4.4.1.2) into lastdc[ci]; returns 1 when the "error" state was set. */
static int jc_jpeg_arith_dc(jc_jpeg_dec *d, int ci, int *bad)
{
    int tbl = d->sc[ci]->dc_tbl, bit, sign, m, v;
    uint8_t *st = d->dcst[tbl] + d->dcctx[ci];
    *bad = 0;
    JC_JPEG_AD(bit, st);
    if (bit == 0) {
        d->dcctx[ci] = 0;
        return JC_OK;
    }
    JC_JPEG_AD(sign, st + 1);
    st += 2 + sign;
    JC_JPEG_AD(m, st);
    if (m != 0) {
        st = d->dcst[tbl] + 20;
        for (;;) {
            JC_JPEG_AD(bit, st);
            if (!bit) break;
            if ((m <<= 1) == 0x8000) {
                d->act = -1;
                *bad = 1;
                return JC_OK;
            }
            st += 1;
        }
    }
    if (m < (int)((1L << d->arith_L[tbl]) >> 1)) d->dcctx[ci] = 0;
    else if (m > (int)((1L << d->arith_U[tbl]) >> 1)) d->dcctx[ci] = 12 + sign * 4;
    else d->dcctx[ci] = 4 + sign * 4;
    v = m;
    st += 14;
    while (m >>= 1) {
        JC_JPEG_AD(bit, st);
        if (bit) v |= m;
    }
    v += 1;
    if (sign) v = -v;
    d->lastdc[ci] = (d->lastdc[ci] + v) & 0xffff;
    return JC_OK;
}

/* AC coefficients k = Ss..Se of one block (sequential and first progressive pass). */
static int jc_jpeg_arith_ac(jc_jpeg_dec *d, int tbl, int16_t *bp, int Ss, int Se, int Al)
{
    for (int k = Ss; k <= Se; k++) {
        uint8_t *st = d->acst[tbl] + 3 * (k - 1);
        int bit, sign, m, v;
        JC_JPEG_AD(bit, st);
        if (bit) break;
        for (;;) {
            JC_JPEG_AD(bit, st + 1);
            if (bit) break;
            st += 3;
            k++;
            if (k > Se) {
                d->act = -1;
                return JC_OK;
            }
        }
        JC_JPEG_AD(sign, &d->fixed_bin);
        st += 2;
        JC_JPEG_AD(m, st);
        if (m != 0) {
            JC_JPEG_AD(bit, st);
            if (bit) {
                m <<= 1;
                st = d->acst[tbl] + (k <= d->arith_K[tbl] ? 189 : 217);
                for (;;) {
                    JC_JPEG_AD(bit, st);
                    if (!bit) break;
                    if ((m <<= 1) == 0x8000) {
                        d->act = -1;
                        return JC_OK;
                    }
                    st += 1;
                }
            }
        }
        v = m;
        st += 14;
        while (m >>= 1) {
            JC_JPEG_AD(bit, st);
            if (bit) v |= m;
        }
        v += 1;
        if (sign) v = -v;
        bp[jc_jpeg_zz[k]] = (int16_t)(uint16_t)((unsigned)v << Al);
    }
    return JC_OK;
}

static int jc_jpeg_mcu_arith(jc_jpeg_dec *d, int16_t **blk, const int *memb, int nblk)
{
    if (d->restart_interval) {
        if (d->rtg == 0) {
            JC_JPEG_TRY(jc_jpeg_read_restart(d));
            jc_jpeg_arith_reset_stats(d);
            d->rtg = d->restart_interval;
        }
        d->rtg--;
    }
    if (d->progressive && d->Ss == 0 && d->Ah != 0) { /* DC refine ignores the error state */
        for (int b = 0; b < nblk; b++) {
            int bit;
            JC_JPEG_AD(bit, &d->fixed_bin);
            if (bit) blk[b][0] = (int16_t)(blk[b][0] | (1 << d->Al));
        }
        return JC_OK;
    }
    if (d->act == -1) return JC_OK;
    if (!d->progressive || d->Ss == 0) { /* sequential, or progressive DC first */
        for (int b = 0; b < nblk; b++) {
            int ci = memb[b], bad;
            JC_JPEG_TRY(jc_jpeg_arith_dc(d, ci, &bad));
            if (bad) return JC_OK;
            if (d->progressive) {
                blk[b][0] = (int16_t)(uint16_t)((unsigned)d->lastdc[ci] << d->Al);
            } else {
                blk[b][0] = (int16_t)d->lastdc[ci];
                JC_JPEG_TRY(jc_jpeg_arith_ac(d, d->sc[ci]->ac_tbl, blk[b], 1, 63, 0));
                if (d->act == -1) return JC_OK;
            }
        }
        return JC_OK;
    }
    int tbl = d->sc[0]->ac_tbl;
    int16_t *bp = blk[0];
    if (d->Ah == 0) return jc_jpeg_arith_ac(d, tbl, bp, d->Ss, d->Se, d->Al);
    /* AC refine */
    int p1 = 1 << d->Al, m1 = (int)(~0u << d->Al), kex;
    for (kex = d->Se; kex > 0; kex--)
        if (bp[jc_jpeg_zz[kex]]) break;
    for (int k = d->Ss; k <= d->Se; k++) {
        uint8_t *st = d->acst[tbl] + 3 * (k - 1);
        int bit;
        if (k > kex) {
            JC_JPEG_AD(bit, st);
            if (bit) break;
        }
        for (;;) {
            int16_t *co = bp + jc_jpeg_zz[k];
            if (*co) {
                JC_JPEG_AD(bit, st + 2);
                if (bit) *co = (int16_t)(*co < 0 ? *co + m1 : *co + p1);
                break;
            }
            JC_JPEG_AD(bit, st + 1);
            if (bit) {
                JC_JPEG_AD(bit, &d->fixed_bin);
                *co = (int16_t)(bit ? m1 : p1);
                break;
            }
            st += 3;
            k++;
            if (k > d->Se) {
                d->act = -1;
                return JC_OK;
            }
        }
    }
    return JC_OK;
}

/* ---- inverse DCT: libjpeg-turbo's AVX2 islow (jidctint-avx2.asm), which Pillow's x86-64 build
 * runs. In range it equals jidctint.c; on hostile coefficients it differs, and we follow it:
 * the dequantised product keeps its low 16 bits (pmullw), the pair sums in0+in4, in0-in4, in7+in3
 * and in5+in1 wrap at 16 bits (paddw), everything else wraps at 32 bits (pmaddwd/paddd), pass 1
 * saturates to 16 bits (packssdw), pass 2 to a signed byte (packsswb) before +128. When rows 1-7
 * of the coefficients are zero, pass 1 is just (in << 2) wrapped at 16 bits (psllw). ---------- */
#define JC_JPEG_F130 10703  /* FIX(0.541196100) + FIX(0.765366865) */
#define JC_JPEG_F054 4433   /* FIX(0.541196100) */
#define JC_JPEG_FM130 -10704 /* FIX(0.541196100) - FIX(1.847759065) */
#define JC_JPEG_FM078 -6436 /* FIX(1.175875602) - FIX(1.961570560) */
#define JC_JPEG_F117 9633   /* FIX(1.175875602) */
#define JC_JPEG_F078 6437   /* FIX(1.175875602) - FIX(0.390180644) */
#define JC_JPEG_FM060 -4927 /* FIX(0.298631336) - FIX(0.899976223) */
#define JC_JPEG_FM089 -7373 /* -FIX(0.899976223) */
#define JC_JPEG_FM050 -4176 /* FIX(2.053119869) - FIX(2.562915447) */
#define JC_JPEG_FM256 -20995 /* -FIX(2.562915447) */
#define JC_JPEG_F060 4926   /* FIX(1.501321110) - FIX(0.899976223) */
#define JC_JPEG_F050 4177   /* FIX(3.072711026) - FIX(2.562915447) */


/* Arithmetic right shift written so that it does not rely on implementation-defined >>. */
static inline int32_t jc_jpeg_sra(int32_t x, int n) { return x >= 0 ? x >> n : ~(~x >> n); }

static inline uint8_t jc_jpeg_clamp255(int32_t v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* Two's-complement wrap of v to 16 bits, and of an unsigned 32-bit sum to int32, without
 * implementation-defined conversions (compilers reduce both to plain moves). */
static inline int32_t jc_jpeg_w16(int32_t v) { return (int32_t)(((uint32_t)v & 0xFFFFu) ^ 0x8000u) - 0x8000; }
static inline int32_t jc_jpeg_s32(uint32_t u) { return u <= 0x7FFFFFFFu ? (int32_t)u : (int32_t)(u - 0x80000000u) - 0x7FFFFFFF - 1; }
static inline int32_t jc_jpeg_sat16(int32_t v) { return v < -32768 ? -32768 : v > 32767 ? 32767 : v; }
/* pass 2 result: packsswb, then +128 */
static inline uint8_t jc_jpeg_px(uint32_t acc)
{
    int32_t v = jc_jpeg_sra(jc_jpeg_s32(acc), 18) + 128;
    if ((uint32_t)v > 255u) v = v < 0 ? 0 : 255;
    return (uint8_t)v;
}

/* One 1-D pass over 8 16-bit inputs i0..i7, as the AVX2 dodct macro computes it: declares
 * the wrapped 32-bit sums for outputs j = 0..7 before the descale shift (rounding included) as
 * e10 + o3, e11 + o2, e12 + o1, e13 + o0, e13 - o0, e12 - o1, e11 - o2, e10 - o3. A macro, not a
 * function writing an array, so that the results stay in registers. */
#define JC_JPEG_IDCT_1D(i0, i1, i2, i3, i4, i5, i6, i7, rnd)                                                  \
    /* the pmaddwd pairs, each regrouped around a shared product (exact: all wraps at 32 bits) */         \
    uint32_t z1 = (uint32_t)(((i2) + (i6)) * JC_JPEG_F054);                                                   \
    int32_t t3 = jc_jpeg_s32(z1 + (uint32_t)((i2) * (JC_JPEG_F130 - JC_JPEG_F054)));                                \
    int32_t t2 = jc_jpeg_s32(z1 + (uint32_t)((i6) * (JC_JPEG_FM130 - JC_JPEG_F054)));                               \
    uint32_t t0 = (uint32_t)(jc_jpeg_w16((i0) + (i4)) * 8192) + (rnd);                                        \
    uint32_t t1 = (uint32_t)(jc_jpeg_w16((i0) - (i4)) * 8192) + (rnd);                                        \
    uint32_t e10 = t0 + (uint32_t)t3, e13 = t0 - (uint32_t)t3, e11 = t1 + (uint32_t)t2, e12 = t1 - (uint32_t)t2; \
    int32_t z3 = jc_jpeg_w16((i7) + (i3)), z4 = jc_jpeg_w16((i5) + (i1));                                       \
    uint32_t z5 = (uint32_t)((z3 + z4) * JC_JPEG_F117);                                                       \
    uint32_t z3p = z5 + (uint32_t)(z3 * (JC_JPEG_FM078 - JC_JPEG_F117)), z4p = z5 + (uint32_t)(z4 * (JC_JPEG_F078 - JC_JPEG_F117)); \
    uint32_t p71 = (uint32_t)(((i7) + (i1)) * JC_JPEG_FM089), p53 = (uint32_t)(((i5) + (i3)) * JC_JPEG_FM256);    \
    uint32_t o0 = p71 + (uint32_t)((i7) * (JC_JPEG_FM060 - JC_JPEG_FM089)) + z3p;                                \
    uint32_t o1 = p53 + (uint32_t)((i5) * (JC_JPEG_FM050 - JC_JPEG_FM256)) + z4p;                                \
    uint32_t o2 = p53 + (uint32_t)((i3) * (JC_JPEG_F050 - JC_JPEG_FM256)) + z3p;                                 \
    uint32_t o3 = p71 + (uint32_t)((i1) * (JC_JPEG_F060 - JC_JPEG_FM089)) + z4p


/* Pass 1 on one column (dequantised inputs), results saturated to 16 bits into w[r * 8]. */
JC_JPEG_INLINE void jc_jpeg_idct_col(int32_t i0, int32_t i1, int32_t i2, int32_t i3, int32_t i4, int32_t i5, int32_t i6, int32_t i7,
                                 int32_t *w)
{
    JC_JPEG_IDCT_1D(i0, i1, i2, i3, i4, i5, i6, i7, 1u << 10);
    /* Descale all eight, then saturate only if one of them needs it (rare): one test instead
     * of eight clamps, same values. */
    int32_t v0 = jc_jpeg_sra(jc_jpeg_s32(e10 + o3), 11), v7 = jc_jpeg_sra(jc_jpeg_s32(e10 - o3), 11);
    int32_t v1 = jc_jpeg_sra(jc_jpeg_s32(e11 + o2), 11), v6 = jc_jpeg_sra(jc_jpeg_s32(e11 - o2), 11);
    int32_t v2 = jc_jpeg_sra(jc_jpeg_s32(e12 + o1), 11), v5 = jc_jpeg_sra(jc_jpeg_s32(e12 - o1), 11);
    int32_t v3 = jc_jpeg_sra(jc_jpeg_s32(e13 + o0), 11), v4 = jc_jpeg_sra(jc_jpeg_s32(e13 - o0), 11);
#define JC_JPEG_B(v) ((uint32_t)(v) + 32768u)
    if ((JC_JPEG_B(v0) | JC_JPEG_B(v1) | JC_JPEG_B(v2) | JC_JPEG_B(v3) | JC_JPEG_B(v4) | JC_JPEG_B(v5) | JC_JPEG_B(v6) | JC_JPEG_B(v7)) > 65535u) {
        v0 = jc_jpeg_sat16(v0), v1 = jc_jpeg_sat16(v1), v2 = jc_jpeg_sat16(v2), v3 = jc_jpeg_sat16(v3);
        v4 = jc_jpeg_sat16(v4), v5 = jc_jpeg_sat16(v5), v6 = jc_jpeg_sat16(v6), v7 = jc_jpeg_sat16(v7);
    }
#undef JC_JPEG_B
    w[0] = v0;
    w[8] = v1;
    w[16] = v2;
    w[24] = v3;
    w[32] = v4;
    w[40] = v5;
    w[48] = v6;
    w[56] = v7;
}

/* Pass 2 on one row of pass-1 output, 8 samples into o. */
JC_JPEG_INLINE void jc_jpeg_idct_row(int32_t i0, int32_t i1, int32_t i2, int32_t i3, int32_t i4, int32_t i5, int32_t i6, int32_t i7,
                                 uint8_t *o)
{
    JC_JPEG_IDCT_1D(i0, i1, i2, i3, i4, i5, i6, i7, 1u << 17);
    int32_t v0 = jc_jpeg_sra(jc_jpeg_s32(e10 + o3), 18) + 128, v7 = jc_jpeg_sra(jc_jpeg_s32(e10 - o3), 18) + 128;
    int32_t v1 = jc_jpeg_sra(jc_jpeg_s32(e11 + o2), 18) + 128, v6 = jc_jpeg_sra(jc_jpeg_s32(e11 - o2), 18) + 128;
    int32_t v2 = jc_jpeg_sra(jc_jpeg_s32(e12 + o1), 18) + 128, v5 = jc_jpeg_sra(jc_jpeg_s32(e12 - o1), 18) + 128;
    int32_t v3 = jc_jpeg_sra(jc_jpeg_s32(e13 + o0), 18) + 128, v4 = jc_jpeg_sra(jc_jpeg_s32(e13 - o0), 18) + 128;
    if (((uint32_t)v0 | (uint32_t)v1 | (uint32_t)v2 | (uint32_t)v3 | (uint32_t)v4 | (uint32_t)v5 | (uint32_t)v6 | (uint32_t)v7) > 255u) {
        o[0] = jc_jpeg_clamp255(v0), o[1] = jc_jpeg_clamp255(v1), o[2] = jc_jpeg_clamp255(v2), o[3] = jc_jpeg_clamp255(v3);
        o[4] = jc_jpeg_clamp255(v4), o[5] = jc_jpeg_clamp255(v5), o[6] = jc_jpeg_clamp255(v6), o[7] = jc_jpeg_clamp255(v7);
        return;
    }
    o[0] = (uint8_t)v0, o[1] = (uint8_t)v1, o[2] = (uint8_t)v2, o[3] = (uint8_t)v3;
    o[4] = (uint8_t)v4, o[5] = (uint8_t)v5, o[6] = (uint8_t)v6, o[7] = (uint8_t)v7;
}

/* One 8x8 block: coefficients in natural order, q the quantisation table as 16-bit
 * multipliers, 8 rows of 8 samples written at out + r * stride. */
static void jc_jpeg_idct(const int16_t *in, const int16_t *q, uint8_t *out, size_t stride)
{
    int32_t ws[64]; /* pass-1 output [row][col], 16-bit values */
    /* ORs of coefficient rows 1-3 and 4-7, left (columns 0-3) and right (4-7) halves; read back
     * as 16-bit lanes they say which columns have AC terms, independently of byte order. */
    uint64_t l13 = 0, r13 = 0, l47 = 0, r47 = 0, r0;
    for (int k = 8; k < 32; k += 8) {
        uint64_t u, v;
        memcpy(&u, in + k, 8);
        memcpy(&v, in + k + 4, 8);
        l13 |= u;
        r13 |= v;
    }
    for (int k = 32; k < 64; k += 8) {
        uint64_t u, v;
        memcpy(&u, in + k, 8);
        memcpy(&v, in + k + 4, 8);
        l47 |= u;
        r47 |= v;
    }
    memcpy(&r0, in + 4, 8);
    uint64_t hi_cols = r0 | r13 | r47;
    int hi_rows = (l47 | r47) != 0; /* coefficient rows 4-7 nonzero */
    if (!(l13 | r13 | l47 | r47)) {
        /* Rows 1-7 zero: pass 1 is (dequantised << 2) in 16 bits for every row. */
        int32_t w[8];
        for (int c = 0; c < 8; c++) w[c] = jc_jpeg_w16(jc_jpeg_w16(in[c] * q[c]) * 4);
        if (!(w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7])) {
            uint8_t v = jc_jpeg_px((uint32_t)(w[0] * 8192) + (1u << 17));
            for (int r = 0; r < 8; r++) memset(out + (size_t)r * stride, v, 8);
            return;
        }
        uint8_t row[8];
        jc_jpeg_idct_row(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], row);
        for (int r = 0; r < 8; r++) memcpy(out + (size_t)r * stride, row, 8);
        return;
    }
    uint16_t ac[8]; /* nonzero where coefficient column c has AC terms */
    {
        uint64_t lo = l13 | l47, hi = r13 | r47;
        memcpy(ac, &lo, 8);
        memcpy(ac + 4, &hi, 8);
    }
    /* Coefficient columns 1-7 zero: pass-1 columns 1-7 are zero, every output row is flat. */
    int flat = !hi_cols && !(in[1] | in[2] | in[3] | ac[1] | ac[2] | ac[3]);
    /* Sparse blocks (the usual case) skip the zero quarters: with coefficient columns 4-7 zero,
     * pass-1 columns 4-7 are zero too, and zero inputs fold out of the 1-D passes exactly. */
    int ncol = flat ? 1 : hi_cols ? 8 : 4;
    if (!hi_cols && !flat)
        for (int r = 0; r < 8; r++) ws[r * 8 + 4] = ws[r * 8 + 5] = ws[r * 8 + 6] = ws[r * 8 + 7] = 0;
    for (int c = 0; c < ncol; c++) {
        const int16_t *ip = in + c, *qp = q + c;
        int32_t *w = ws + c;
        int32_t i0 = jc_jpeg_w16(ip[0] * qp[0]);
        if (!ac[c]) {
            /* equals the full pass for a zero column: (i0 << 13 + 2^10) >> 11, saturated */
            int32_t v = jc_jpeg_sat16(i0 * 4);
            for (int r = 0; r < 8; r++) w[r * 8] = v;
            continue;
        }
        if (hi_rows)
            jc_jpeg_idct_col(i0, jc_jpeg_w16(ip[8] * qp[8]), jc_jpeg_w16(ip[16] * qp[16]), jc_jpeg_w16(ip[24] * qp[24]), jc_jpeg_w16(ip[32] * qp[32]),
                          jc_jpeg_w16(ip[40] * qp[40]), jc_jpeg_w16(ip[48] * qp[48]), jc_jpeg_w16(ip[56] * qp[56]), w);
        else
            jc_jpeg_idct_col(i0, jc_jpeg_w16(ip[8] * qp[8]), jc_jpeg_w16(ip[16] * qp[16]), jc_jpeg_w16(ip[24] * qp[24]), 0, 0, 0, 0, w);
    }
    if (flat) {
        for (int r = 0; r < 8; r++) memset(out + (size_t)r * stride, jc_jpeg_px((uint32_t)(ws[r * 8] * 8192) + (1u << 17)), 8);
        return;
    }
    for (int r = 0; r < 8; r++) {
        const int32_t *w = ws + r * 8;
        uint8_t *o = out + (size_t)r * stride;
        if (hi_cols)
            jc_jpeg_idct_row(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], o);
        else
            jc_jpeg_idct_row(w[0], w[1], w[2], w[3], 0, 0, 0, 0, o);
    }
}

/* ---- scans ---------------------------------------------------------------------------------- */
static int jc_jpeg_start_scan(jc_jpeg_dec *d, int *nblk)
{
    if (d->ns == 1) {
        *nblk = 1;
    } else {
        int n = 0;
        for (int i = 0; i < d->ns; i++) n += d->sc[i]->h * d->sc[i]->v;
        if (n > 10) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "sampling factors too large for interleaved scan");
        *nblk = n;
    }
    for (int i = 0; i < d->ns; i++) {
        jc_jpeg_comp *c = d->sc[i];
        if (c->qlatched) continue;
        if (c->tq < 0 || c->tq >= 4 || !d->qdef[c->tq])
            return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "quantization table 0x%02x was not defined", c->tq);
        memcpy(c->qraw, d->q[c->tq], sizeof c->qraw);
        for (int k = 0; k < 64; k++) c->qmul[k] = (int16_t)c->qraw[k];
        c->qlatched = 1;
    }
    if (d->progressive) {
        int is_dc = d->Ss == 0, bad = 0;
        if (is_dc) {
            if (d->Se != 0) bad = 1;
        } else {
            if (d->Ss > d->Se || d->Se > 63) bad = 1;
            if (d->ns != 1) bad = 1;
        }
        if (d->Ah != 0 && d->Al != d->Ah - 1) bad = 1;
        if (d->Al > 13) bad = 1;
        if (bad)
            return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "invalid progressive parameters Ss=%d Se=%d Ah=%d Al=%d", d->Ss, d->Se,
                             d->Ah, d->Al);
        for (int i = 0; i < d->ns; i++) {
            jc_jpeg_comp *c = d->sc[i];
            int lo = d->Ss < 1 ? d->Ss : 1, hi = d->Se > 9 ? d->Se : 9;
            for (int k = lo; k <= hi; k++) c->prev_bits[k] = d->scans > 1 ? c->coef_bits[k] : 0;
            for (int k = d->Ss; k <= d->Se; k++) c->coef_bits[k] = d->Al; /* inconsistencies only warn */
        }
    }
    if (d->arith) {
        jc_jpeg_arith_reset_stats(d);
    } else {
        for (int i = 0; i < d->ns; i++) {
            jc_jpeg_comp *c = d->sc[i];
            if (!d->progressive) {
                if (c->dc_tbl >= 4) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "Huffman table 0x%02x was not defined", c->dc_tbl);
                if (c->ac_tbl >= 4) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "Huffman table 0x%02x was not defined", c->ac_tbl);
                JC_JPEG_TRY(jc_jpeg_need_huff(d, c->dc_tbl, 1));
                JC_JPEG_TRY(jc_jpeg_need_huff(d, 4 + c->ac_tbl, 0));
            } else if (d->Ss == 0) {
                if (d->Ah == 0) {
                    if (c->dc_tbl >= 4) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "Huffman table 0x%02x was not defined", c->dc_tbl);
                    JC_JPEG_TRY(jc_jpeg_need_huff(d, c->dc_tbl, 1));
                }
            } else {
                if (c->ac_tbl >= 4) return JC_JPEG_FAIL(d, JC_ERR_FORMAT, "Huffman table 0x%02x was not defined", c->ac_tbl);
                JC_JPEG_TRY(jc_jpeg_need_huff(d, 4 + c->ac_tbl, 0));
            }
        }
        for (int i = 0; i < 4; i++) d->lastdc[i] = 0;
        d->bb = 0;
        d->bn = 0;
        d->eobrun = 0;
    }
    d->insufficient = 0;
    d->rtg = d->restart_interval;
    return JC_OK;
}

static int jc_jpeg_mcu(jc_jpeg_dec *d, int16_t **blk, const int *memb, int nblk)
{
    if (d->arith) return jc_jpeg_mcu_arith(d, blk, memb, nblk);
    if (d->progressive) return jc_jpeg_mcu_prog(d, blk, memb, nblk);
    return jc_jpeg_mcu_huff(d, blk, memb, nblk);
}

static inline int16_t *jc_jpeg_block(jc_jpeg_comp *c, size_t by, size_t bx) { return c->coef + (by * c->cbw + bx) * 64; }

static void jc_jpeg_idct_to_plane(const jc_jpeg_dec *d, jc_jpeg_comp *c, const int16_t *blk, uint32_t by, uint32_t bx)
{
    if (by >= c->bh || bx >= c->bw) return;
    uint8_t *out = c->plane + (size_t)by * 8 * c->pstride + (size_t)bx * 8;
    if (d->simd) d->simd->idct(blk, c->qmul, out, c->pstride);
    else jc_jpeg_idct(blk, c->qmul, out, c->pstride);
}

static void jc_jpeg_emit_rows(jc_jpeg_dec *d, uint32_t y_end);
static uint32_t jc_jpeg_rows_ready(const jc_jpeg_dec *d, uint32_t n_done, int lone);

/* Decodes the entropy-coded data of the current scan. */
static int jc_jpeg_decode_scan(jc_jpeg_dec *d)
{
    int nblk = 0; /* set by jc_jpeg_start_scan; initialised for gcc -Wmaybe-uninitialized */
    JC_JPEG_TRY(jc_jpeg_start_scan(d, &nblk));
    int16_t *blk[10];
    int memb[10];
    if (d->ns == 1) {
        jc_jpeg_comp *c = d->sc[0];
        memb[0] = 0;
        for (uint32_t by = 0; by < c->bh; by++)
            for (uint32_t bx = 0; bx < c->bw; bx++) {
                if (d->multi) {
                    if (!d->insufficient) d->last_good = by / (uint32_t)c->v;
                    blk[0] = jc_jpeg_block(c, by, bx);
                    JC_JPEG_TRY(jc_jpeg_mcu(d, blk, memb, 1));
                } else {
                    memset(d->mcu[0], 0, sizeof d->mcu[0]);
                    blk[0] = d->mcu[0];
                    JC_JPEG_TRY(jc_jpeg_mcu(d, blk, memb, 1));
                    jc_jpeg_idct_to_plane(d, c, d->mcu[0], by, bx);
                    if (bx + 1 == c->bw) jc_jpeg_emit_rows(d, jc_jpeg_rows_ready(d, by + 1, 1));
                }
            }
        return JC_OK;
    }
    for (uint32_t my = 0; my < d->mcuy; my++)
        for (uint32_t mx = 0; mx < d->mcux; mx++) {
            int b = 0;
            /* one call for the whole MCU: per-block memsets of 128 bytes compile to rep stos,
             * whose start-up cost was a tenth of a 4:2:0 decode */
            if (!d->multi) memset(d->mcu, 0, sizeof d->mcu[0] * (size_t)nblk);
            for (int i = 0; i < d->ns; i++) {
                jc_jpeg_comp *c = d->sc[i];
                for (int yy = 0; yy < c->v; yy++)
                    for (int xx = 0; xx < c->h; xx++) {
                        memb[b] = i;
                        if (d->multi) blk[b] = jc_jpeg_block(c, (size_t)my * c->v + yy, (size_t)mx * c->h + xx);
                        else blk[b] = d->mcu[b];
                        b++;
                    }
            }
            if (d->multi && !d->insufficient) d->last_good = my;
            JC_JPEG_TRY(jc_jpeg_mcu(d, blk, memb, b));
            if (!d->multi) {
                b = 0;
                for (int i = 0; i < d->ns; i++) {
                    jc_jpeg_comp *c = d->sc[i];
                    for (int yy = 0; yy < c->v; yy++)
                        for (int xx = 0; xx < c->h; xx++)
                            jc_jpeg_idct_to_plane(d, c, d->mcu[b++], my * (uint32_t)c->v + (uint32_t)yy, mx * (uint32_t)c->h + (uint32_t)xx);
                }
                if (mx + 1 == d->mcux) jc_jpeg_emit_rows(d, jc_jpeg_rows_ready(d, my + 1, 0));
            }
        }
    return JC_OK;
}

/* ---- block smoothing (jdcoefct.c decompress_smooth_data, libjpeg-turbo 2.1) ----------------
 * When a progressive image ends with AC coefficients still approximate (or missing), libjpeg
 * estimates the low-frequency AC terms of each block from the DC values of its 5x5 neighbours.
 * The neighbour rows follow libjpeg's iMCU-row bookkeeping exactly, including its quirk of
 * reusing the previous row where an iMCU-row boundary hides the row two above or below. */
static int jc_jpeg_smoothing_ok(const jc_jpeg_dec *d)
{
    static const int pos[10] = {0, 1, 8, 16, 9, 2, 3, 10, 17, 24};
    int useful = 0;
    if (!d->progressive) return 0;
    for (int i = 0; i < d->nc; i++) {
        const jc_jpeg_comp *c = &d->c[i];
        if (!c->qlatched) return 0;
        for (int k = 0; k < 10; k++)
            if (c->qraw[pos[k]] == 0) return 0;
        if (c->coef_bits[0] < 0) return 0;
        for (int k = 1; k < 10; k++)
            if (c->coef_bits[k] != 0) useful = 1;
    }
    return useful;
}

static int16_t jc_jpeg_smooth_pred(int64_t num, int64_t q, int Al)
{
    int pred;
    if (num >= 0) {
        pred = (int)(((q << 7) + num) / (q << 8));
        if (Al > 0 && pred >= (1 << Al)) pred = (1 << Al) - 1;
    } else {
        pred = (int)(((q << 7) - num) / (q << 8));
        if (Al > 0 && pred >= (1 << Al)) pred = (1 << Al) - 1;
        pred = -pred;
    }
    return (int16_t)pred;
}

static void jc_jpeg_smooth_component(const jc_jpeg_dec *d, jc_jpeg_comp *c)
{
    int bits_cur[10], bits_prev[10];
    for (int k = 0; k < 10; k++) {
        bits_cur[k] = c->coef_bits[k];
        bits_prev[k] = d->scans > 1 ? c->prev_bits[k] : -1;
    }
    uint32_t total_rows = d->mcuy, last_imcu = total_rows - 1;
    int v = c->v;
    int64_t Q00 = c->qraw[0], Q01 = c->qraw[1], Q10 = c->qraw[8], Q20 = c->qraw[16], Q11 = c->qraw[9], Q02 = c->qraw[2];
    int64_t Q03 = c->qraw[3], Q12 = c->qraw[10], Q21 = c->qraw[17], Q30 = c->qraw[24];
    int16_t ws[64];
    for (uint32_t R = 0; R < total_rows; R++) {
        const int *cb = R > d->last_good ? bits_prev : bits_cur;
        int change_dc = 1;
        for (int k = 1; k < 10; k++)
            if (cb[k] != -1) change_dc = 0;
        int block_rows = v;
        if (R == last_imcu) {
            block_rows = (int)(c->bh % (uint32_t)v);
            if (block_rows == 0) block_rows = v;
        }
        for (int br = 0; br < block_rows; br++) {
            size_t r = (size_t)R * v + br;
            if (r >= c->bh) break;
            size_t rp = (br > 0 || R > 0) ? r - 1 : r;
            size_t rpp = (br > 1 || R > 1) ? r - 2 : rp;
            size_t rn = (br < block_rows - 1 || R < last_imcu) ? r + 1 : r;
            size_t rnn = (br < block_rows - 2 || R + 1 < last_imcu) ? r + 2 : rn;
            size_t rows[5] = {rpp, rp, r, rn, rnn};
            int last_col = (int)c->bw - 1;
            for (int bx = 0; bx <= last_col; bx++) {
                int DC[26];
                for (int yy = 0; yy < 5; yy++)
                    for (int xx = 0; xx < 5; xx++) {
                        int col = bx + xx - 2;
                        col = col < 0 ? 0 : col > last_col ? last_col : col;
                        DC[1 + yy * 5 + xx] = jc_jpeg_block(c, rows[yy], (size_t)col)[0];
                    }
                memcpy(ws, jc_jpeg_block(c, r, (size_t)bx), sizeof ws);
                int Al;
                int64_t num;
                if ((Al = cb[1]) != 0 && ws[1] == 0) {
                    num = Q00 * (change_dc ? (-DC[1] - DC[2] + DC[4] + DC[5] - 3 * DC[6] + 13 * DC[7] - 13 * DC[9] + 3 * DC[10] -
                                              3 * DC[11] + 38 * DC[12] - 38 * DC[14] + 3 * DC[15] - 3 * DC[16] + 13 * DC[17] -
                                              13 * DC[19] + 3 * DC[20] - DC[21] - DC[22] + DC[24] + DC[25])
                                           : (-7 * DC[11] + 50 * DC[12] - 50 * DC[14] + 7 * DC[15]));
                    ws[1] = jc_jpeg_smooth_pred(num, Q01, Al);
                }
                if ((Al = cb[2]) != 0 && ws[8] == 0) {
                    num = Q00 * (change_dc ? (-DC[1] - 3 * DC[2] - 3 * DC[3] - 3 * DC[4] - DC[5] - DC[6] + 13 * DC[7] + 38 * DC[8] +
                                              13 * DC[9] - DC[10] + DC[16] - 13 * DC[17] - 38 * DC[18] - 13 * DC[19] + DC[20] +
                                              DC[21] + 3 * DC[22] + 3 * DC[23] + 3 * DC[24] + DC[25])
                                           : (-7 * DC[3] + 50 * DC[8] - 50 * DC[18] + 7 * DC[23]));
                    ws[8] = jc_jpeg_smooth_pred(num, Q10, Al);
                }
                if ((Al = cb[3]) != 0 && ws[16] == 0) {
                    num = Q00 * (change_dc ? (DC[3] + 2 * DC[7] + 7 * DC[8] + 2 * DC[9] - 5 * DC[12] - 14 * DC[13] - 5 * DC[14] +
                                              2 * DC[17] + 7 * DC[18] + 2 * DC[19] + DC[23])
                                           : (-DC[3] + 13 * DC[8] - 24 * DC[13] + 13 * DC[18] - DC[23]));
                    ws[16] = jc_jpeg_smooth_pred(num, Q20, Al);
                }
                if ((Al = cb[4]) != 0 && ws[9] == 0) {
                    num = Q00 * (change_dc ? (-DC[1] + DC[5] + 9 * DC[7] - 9 * DC[9] - 9 * DC[17] + 9 * DC[19] + DC[21] - DC[25])
                                           : (DC[10] + DC[16] - 10 * DC[17] + 10 * DC[19] - DC[2] - DC[20] + DC[22] - DC[24] +
                                              DC[4] - DC[6] + 10 * DC[7] - 10 * DC[9]));
                    ws[9] = jc_jpeg_smooth_pred(num, Q11, Al);
                }
                if ((Al = cb[5]) != 0 && ws[2] == 0) {
                    num = Q00 * (change_dc ? (2 * DC[7] - 5 * DC[8] + 2 * DC[9] + DC[11] + 7 * DC[12] - 14 * DC[13] + 7 * DC[14] +
                                              DC[15] + 2 * DC[17] - 5 * DC[18] + 2 * DC[19])
                                           : (-DC[11] + 13 * DC[12] - 24 * DC[13] + 13 * DC[14] - DC[15]));
                    ws[2] = jc_jpeg_smooth_pred(num, Q02, Al);
                }
                if (change_dc) {
                    if ((Al = cb[6]) != 0 && ws[3] == 0) {
                        num = Q00 * (DC[7] - DC[9] + 2 * DC[12] - 2 * DC[14] + DC[17] - DC[19]);
                        ws[3] = jc_jpeg_smooth_pred(num, Q03, Al);
                    }
                    if ((Al = cb[7]) != 0 && ws[10] == 0) {
                        num = Q00 * (DC[7] - 3 * DC[8] + DC[9] - DC[17] + 3 * DC[18] - DC[19]);
                        ws[10] = jc_jpeg_smooth_pred(num, Q12, Al);
                    }
                    if ((Al = cb[8]) != 0 && ws[17] == 0) {
                        num = Q00 * (DC[7] - DC[9] - 3 * DC[12] + 3 * DC[14] + DC[17] - DC[19]);
                        ws[17] = jc_jpeg_smooth_pred(num, Q21, Al);
                    }
                    if ((Al = cb[9]) != 0 && ws[24] == 0) {
                        num = Q00 * (DC[7] + 2 * DC[8] + DC[9] - DC[17] - 2 * DC[18] - DC[19]);
                        ws[24] = jc_jpeg_smooth_pred(num, Q30, Al);
                    }
                    num = Q00 * (-2 * DC[1] - 6 * DC[2] - 8 * DC[3] - 6 * DC[4] - 2 * DC[5] - 6 * DC[6] + 6 * DC[7] + 42 * DC[8] +
                                 6 * DC[9] - 6 * DC[10] - 8 * DC[11] + 42 * DC[12] + 152 * DC[13] + 42 * DC[14] - 8 * DC[15] -
                                 6 * DC[16] + 6 * DC[17] + 42 * DC[18] + 6 * DC[19] - 6 * DC[20] - 2 * DC[21] - 6 * DC[22] -
                                 8 * DC[23] - 6 * DC[24] - 2 * DC[25]);
                    ws[0] = jc_jpeg_smooth_pred(num, Q00, 0);
                }
                uint8_t *out = c->plane + r * 8 * c->pstride + (size_t)bx * 8;
                if (d->simd) d->simd->idct(ws, c->qmul, out, c->pstride);
                else jc_jpeg_idct(ws, c->qmul, out, c->pstride);
            }
        }
    }
}

/* ---- upsampling (jdsample.c) and colour conversion (jdcolor.c + Pillow's convert) --------- */
enum { JC_JPEG_UP_FULL, JC_JPEG_UP_H2V1F, JC_JPEG_UP_H2V1, JC_JPEG_UP_H1V2F, JC_JPEG_UP_H2V2F, JC_JPEG_UP_H2V2, JC_JPEG_UP_INT };

/* jinit_upsampler(): fancy (triangle) filters for 2:1 cases when the component is wider than
 * 2 samples (h1v2 regardless of width), plain replication for other integral factors. */
static int jc_jpeg_pick_upsampler(jc_jpeg_dec *d, const jc_jpeg_comp *c, int *mode, int *hx, int *vx)
{
    int hi = c->h, vi = c->v, ho = d->hmax, vo = d->vmax;
    *hx = *vx = 1;
    if (hi == ho && vi == vo) *mode = JC_JPEG_UP_FULL;
    else if (hi * 2 == ho && vi == vo) *mode = c->dw > 2 ? JC_JPEG_UP_H2V1F : JC_JPEG_UP_H2V1;
    else if (hi == ho && vi * 2 == vo) *mode = JC_JPEG_UP_H1V2F;
    else if (hi * 2 == ho && vi * 2 == vo) *mode = c->dw > 2 ? JC_JPEG_UP_H2V2F : JC_JPEG_UP_H2V2;
    else if (ho % hi == 0 && vo % vi == 0) {
        *mode = JC_JPEG_UP_INT;
        *hx = ho / hi;
        *vx = vo / vi;
    } else {
        return JC_JPEG_FAIL(d, JC_ERR_UNSUPPORTED, "fractional sampling factors are not implemented");
    }
    return JC_OK;
}

/* Produces output row y of component c (W samples) and returns a pointer to it. */
static const uint8_t *jc_jpeg_upsample_row(const jc_jpeg_dec *d, const jc_jpeg_comp *c, int mode, int hx, int vx, uint32_t y,
                                        uint8_t *buf)
{
    const uint32_t W = d->W, dw = c->dw, dh = c->dh;
    const uint8_t *pl = c->plane;
    const size_t ps = c->pstride;
    switch (mode) {
    case JC_JPEG_UP_FULL:
        return pl + (size_t)y * ps;
    case JC_JPEG_UP_H2V1: {
        const uint8_t *in = pl + (size_t)y * ps;
        for (uint32_t x = 0; x < W; x++) buf[x] = in[x >> 1];
        return buf;
    }
    case JC_JPEG_UP_H2V2: {
        const uint8_t *in = pl + (size_t)(y >> 1) * ps;
        for (uint32_t x = 0; x < W; x++) buf[x] = in[x >> 1];
        return buf;
    }
    case JC_JPEG_UP_INT: {
        const uint8_t *in = pl + (size_t)(y / (uint32_t)vx) * ps;
        for (uint32_t x = 0; x < W; x++) buf[x] = in[x / (uint32_t)hx];
        return buf;
    }
    case JC_JPEG_UP_H2V1F: {
        const uint8_t *in = pl + (size_t)y * ps;
        uint8_t *o = buf;
        int v = in[0];
        *o++ = (uint8_t)v;
        *o++ = (uint8_t)((v * 3 + in[1] + 2) >> 2);
        for (uint32_t i = 1; i + 1 < dw; i++) {
            v = in[i] * 3;
            *o++ = (uint8_t)((v + in[i - 1] + 1) >> 2);
            *o++ = (uint8_t)((v + in[i + 1] + 2) >> 2);
        }
        v = in[dw - 1];
        *o++ = (uint8_t)((v * 3 + in[dw - 2] + 1) >> 2);
        *o = (uint8_t)v;
        return buf;
    }
    case JC_JPEG_UP_H1V2F: {
        uint32_t r = y >> 1;
        int odd = (int)(y & 1);
        uint32_t rn = odd ? (r + 1 < dh ? r + 1 : dh - 1) : (r > 0 ? r - 1 : 0);
        const uint8_t *i0 = pl + (size_t)r * ps, *i1 = pl + (size_t)rn * ps;
        int bias = odd ? 2 : 1;
        for (uint32_t x = 0; x < W; x++) buf[x] = (uint8_t)((i0[x] * 3 + i1[x] + bias) >> 2);
        return buf;
    }
    default: { /* JC_JPEG_UP_H2V2F */
        uint32_t r = y >> 1;
        int odd = (int)(y & 1);
        uint32_t rn = odd ? (r + 1 < dh ? r + 1 : dh - 1) : (r > 0 ? r - 1 : 0);
        const uint8_t *i0 = pl + (size_t)r * ps, *i1 = pl + (size_t)rn * ps;
        uint8_t *o = buf;
        int this_ = i0[0] * 3 + i1[0], next = i0[1] * 3 + i1[1], last;
        *o++ = (uint8_t)((this_ * 4 + 8) >> 4);
        *o++ = (uint8_t)((this_ * 3 + next + 7) >> 4);
        last = this_;
        this_ = next;
        for (uint32_t i = 2; i < dw; i++) {
            next = i0[i] * 3 + i1[i];
            *o++ = (uint8_t)((this_ * 3 + last + 8) >> 4);
            *o++ = (uint8_t)((this_ * 3 + next + 7) >> 4);
            last = this_;
            this_ = next;
        }
        *o++ = (uint8_t)((this_ * 3 + last + 8) >> 4);
        *o = (uint8_t)((this_ * 4 + 7) >> 4);
        return buf;
    }
    }
}

enum { JC_JPEG_CS_GRAY, JC_JPEG_CS_YCC, JC_JPEG_CS_RGB, JC_JPEG_CS_CMYK, JC_JPEG_CS_YCCK };

/* default_decompress_parms(): the colour space libjpeg assumes for the file. */
static int jc_jpeg_color_space(const jc_jpeg_dec *d)
{
    if (d->nc == 1) return JC_JPEG_CS_GRAY;
    if (d->nc == 3) {
        if (d->jfif) return JC_JPEG_CS_YCC;
        if (d->adobe) return d->adobe_transform == 0 ? JC_JPEG_CS_RGB : JC_JPEG_CS_YCC;
        if (d->c[0].id == 82 && d->c[1].id == 71 && d->c[2].id == 66) return JC_JPEG_CS_RGB;
        return JC_JPEG_CS_YCC;
    }
    if (d->adobe) return d->adobe_transform == 0 ? JC_JPEG_CS_CMYK : JC_JPEG_CS_YCCK;
    return JC_JPEG_CS_CMYK;
}

/* jdcolor.c tables; lim is its range_limit (sample + 384 -> clamped to 0..255), which turns
 * the clamps into loads instead of branches. The 384 offset is folded into the tables (unsigned,
 * so that y + term indexes lim without sign extension): cr_r, cb_b hold term + 384, and
 * (cb_g + cr_g) >> 16 is the G term + 384 (the 32-bit sum stays within 0 .. 2^31). */
typedef struct jc_jpeg_ycc_s { uint32_t cr_r[256], cb_b[256], cr_g[256], cb_g[256]; uint8_t lim[1024]; } jc_jpeg_ycc;

static void jc_jpeg_ycc_init(jc_jpeg_ycc *t)
{
    for (int i = 0; i < 1024; i++) t->lim[i] = jc_jpeg_clamp255(i - 384);
    for (int i = 0; i < 256; i++) {
        int32_t x = i - 128;
        t->cr_r[i] = (uint32_t)(jc_jpeg_sra(91881 * x + 32768, 16) + 384);  /* FIX(1.40200) */
        t->cb_b[i] = (uint32_t)(jc_jpeg_sra(116130 * x + 32768, 16) + 384); /* FIX(1.77200) */
        t->cr_g[i] = (uint32_t)(-46802 * x + 46802 * 128);               /* -FIX(0.71414), made >= 0 */
        t->cb_g[i] = (uint32_t)(-22554 * x + 32768 + 384 * 65536 - 46802 * 128); /* -FIX(0.34414), + ONE_HALF */
    }
}

/* Pillow's CMYK -> RGB (Convert.c cmyk2rgb) applied to the inverted ("CMYK;I") samples. */
static inline uint8_t jc_jpeg_pil_cmyk(int ci, int nk)
{
    int t = ci * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v <= 0 ? 0 : v < 256 ? v : 255);
}

static void jc_jpeg_convert_row(const jc_jpeg_dec *d, int cs, const jc_jpeg_ycc *t, const uint8_t *const *in, uint8_t *out)
{
    const uint32_t W = d->W;
    switch (cs) {
    case JC_JPEG_CS_GRAY:
        for (uint32_t x = 0; x < W; x++) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[0][x];
        break;
    case JC_JPEG_CS_RGB:
        for (uint32_t x = 0; x < W; x++) {
            out[3 * x] = in[0][x];
            out[3 * x + 1] = in[1][x];
            out[3 * x + 2] = in[2][x];
        }
        break;
    case JC_JPEG_CS_YCC: {
        if (d->simd) {
            d->simd->ycc_row(in[0], in[1], in[2], W, out);
            break;
        }
        const uint8_t *py = in[0], *pcb = in[1], *pcr = in[2], *lim = t->lim;
        for (uint32_t x = 0; x < W; x++) {
            uint32_t y = py[x], cb = pcb[x], cr = pcr[x];
            out[0] = lim[y + t->cr_r[cr]];
            out[1] = lim[y + ((t->cb_g[cb] + t->cr_g[cr]) >> 16)];
            out[2] = lim[y + t->cb_b[cb]];
            out += 3;
        }
        break;
    }
    default: /* CMYK / YCCK: libjpeg gives CMYK, Pillow inverts it and converts to RGB */
        for (uint32_t x = 0; x < W; x++) {
            int c0 = in[0][x], c1 = in[1][x], c2 = in[2][x], k = in[3][x];
            if (cs == JC_JPEG_CS_YCCK) {
                int y = c0, cb = c1, cr = c2;
                c0 = jc_jpeg_clamp255(255 + 384 - (y + (int)t->cr_r[cr]));
                c1 = jc_jpeg_clamp255(255 + 384 - (y + (int)((t->cb_g[cb] + t->cr_g[cr]) >> 16)));
                c2 = jc_jpeg_clamp255(255 + 384 - (y + (int)t->cb_b[cb]));
            }
            int nk = k; /* 255 - (255 - k) after Pillow's inversion */
            out[3 * x] = jc_jpeg_pil_cmyk(255 - c0, nk);
            out[3 * x + 1] = jc_jpeg_pil_cmyk(255 - c1, nk);
            out[3 * x + 2] = jc_jpeg_pil_cmyk(255 - c2, nk);
        }
        break;
    }
}

/* YCbCr with both chroma components fancy-upsampled 2:1 horizontally (h2v1 when v2 == 0, h2v2
 * when v2 == 1): jdsample.c's triangle filters fused with jdcolor.c's conversion, so that the
 * upsampled chroma never goes through a row buffer. With v2, chroma column sums are
 * 3 * near + far; at the row ends the missing neighbour is the sample itself, which gives
 * exactly libjpeg's edge formulas. */
JC_JPEG_INLINE void jc_jpeg_ycc_fancy_row(const jc_jpeg_ycc *t, const uint8_t *py, const uint8_t *b0, const uint8_t *b1,
                                    const uint8_t *r0, const uint8_t *r1, uint32_t dw, uint32_t W, uint8_t *out, int v2)
{
    const int sh = v2 ? 4 : 2;
    const uint32_t bl = v2 ? 8 : 1, br = v2 ? 7 : 2;
#define JC_JPEG_CS(c0, c1, i) (v2 ? (uint32_t)(c0)[i] * 3 + (c1)[i] : (uint32_t)(c0)[i])
#define JC_JPEG_PIX(o, y, cb, cr)                                              \
    do {                                                                    \
        uint32_t cb_ = (cb), cr_ = (cr);                                    \
        (o)[0] = t->lim[(y) + t->cr_r[cr_]];                                \
        (o)[1] = t->lim[(y) + ((t->cb_g[cb_] + t->cr_g[cr_]) >> 16)];       \
        (o)[2] = t->lim[(y) + t->cb_b[cb_]];                                \
    } while (0)
    /* Each step straddles a chroma boundary: output pixels 2i+1 and 2i+2 depend only on the
     * (column-summed) chroma samples i and i+1, so one sample per component is carried. */
    uint32_t cb = JC_JPEG_CS(b0, b1, 0), cr = JC_JPEG_CS(r0, r1, 0);
    JC_JPEG_PIX(out, py[0], (cb * 4 + bl) >> sh, (cr * 4 + bl) >> sh);
    const uint8_t *yp = py + 1;
    uint8_t *o = out + 3;
    for (size_t i = 1; i < dw; i++) {
        uint32_t nb = JC_JPEG_CS(b0, b1, i), nr = JC_JPEG_CS(r0, r1, i);
        uint32_t y0 = yp[0], y1 = yp[1];
        JC_JPEG_PIX(o, y0, (cb * 3 + nb + br) >> sh, (cr * 3 + nr + br) >> sh);
        JC_JPEG_PIX(o + 3, y1, (nb * 3 + cb + bl) >> sh, (nr * 3 + cr + bl) >> sh);
        cb = nb;
        cr = nr;
        yp += 2;
        o += 6;
    }
    if (2 * (size_t)dw - 1 < W) JC_JPEG_PIX(o, yp[0], (cb * 4 + br) >> sh, (cr * 4 + br) >> sh);
#undef JC_JPEG_CS
#undef JC_JPEG_PIX
}

/* The two instantiations, kept out of line so that the row loop gets all the registers. */
JC_JPEG_NOINLINE void jc_jpeg_ycc_h2v2_row(const jc_jpeg_ycc *t, const uint8_t *py, const uint8_t *b0, const uint8_t *b1,
                                     const uint8_t *r0, const uint8_t *r1, uint32_t dw, uint32_t W, uint8_t *out)
{
    jc_jpeg_ycc_fancy_row(t, py, b0, b1, r0, r1, dw, W, out, 1);
}

JC_JPEG_NOINLINE void jc_jpeg_ycc_h2v1_row(const jc_jpeg_ycc *t, const uint8_t *py, const uint8_t *b0, const uint8_t *r0, uint32_t dw,
                                     uint32_t W, uint8_t *out)
{
    jc_jpeg_ycc_fancy_row(t, py, b0, NULL, r0, NULL, dw, W, out, 0);
}

/* Produces output rows out_y .. y_end-1. */
static void jc_jpeg_emit_rows(jc_jpeg_dec *d, uint32_t y_end)
{
    const jc_jpeg_comp *c1 = &d->c[1], *c2 = &d->c[2];
    if (d->nc == 3 && d->cs == JC_JPEG_CS_YCC && d->up[0] == JC_JPEG_UP_FULL && d->up[1] == d->up[2] &&
        (d->up[1] == JC_JPEG_UP_H2V2F || d->up[1] == JC_JPEG_UP_H2V1F) && c1->dw == c2->dw && c1->dh == c2->dh) {
        int v2 = d->up[1] == JC_JPEG_UP_H2V2F;
        for (; d->out_y < y_end; d->out_y++) {
            uint32_t y = d->out_y, r = y, rn = y;
            if (v2) {
                r = y >> 1;
                rn = (y & 1) ? (r + 1 < c1->dh ? r + 1 : c1->dh - 1) : (r > 0 ? r - 1 : 0);
            }
            const uint8_t *py = d->c[0].plane + (size_t)y * d->c[0].pstride;
            uint8_t *out = d->rgb + (size_t)y * d->W * 3;
            if (d->simd)
                d->simd->ycc_fancy_row(py, c1->plane + r * c1->pstride, c1->plane + rn * c1->pstride, c2->plane + r * c2->pstride,
                                       c2->plane + rn * c2->pstride, c1->dw, d->W, v2, out, d->simd_ws);
            else if (v2)
                jc_jpeg_ycc_h2v2_row(d->ycc, py, c1->plane + r * c1->pstride, c1->plane + rn * c1->pstride, c2->plane + r * c2->pstride,
                                  c2->plane + rn * c2->pstride, c1->dw, d->W, out);
            else
                jc_jpeg_ycc_h2v1_row(d->ycc, py, c1->plane + r * c1->pstride, c2->plane + r * c2->pstride, c1->dw, d->W, out);
        }
        return;
    }
    for (; d->out_y < y_end; d->out_y++) {
        const uint8_t *rows[JC_JPEG_MAXC];
        for (int i = 0; i < d->nc; i++)
            rows[i] = jc_jpeg_upsample_row(d, &d->c[i], d->up[i], d->hx[i], d->vx[i], d->out_y, d->rowbufs + d->rowbuf * (size_t)i);
        jc_jpeg_convert_row(d, d->cs, d->ycc, rows, d->rgb + (size_t)d->out_y * d->W * 3);
    }
}

/* Output rows that can be produced once the first n_done iMCU rows of a single-scan image are
 * decoded (of block rows, for a lone component): output row y reads component rows up to
 * floor(y * v / vmax) + 1 (fancy upsampling looks one row ahead). */
static uint32_t jc_jpeg_rows_ready(const jc_jpeg_dec *d, uint32_t n_done, int lone)
{
    uint64_t y_end = d->H;
    for (int i = 0; i < d->nc; i++) {
        const jc_jpeg_comp *c = &d->c[i];
        uint64_t ready = (uint64_t)n_done * 8 * (lone ? 1 : (uint64_t)c->v);
        if (ready >= c->dh) continue;
        uint64_t y = ready ? (ready - 1) * (uint64_t)d->vmax / (uint64_t)c->v : 0;
        if (y < y_end) y_end = y;
    }
    return (uint32_t)y_end;
}

/* ---- driver --------------------------------------------------------------------------------- */
static void jc_jpeg_free_dec(jc_jpeg_dec *d)
{
    if (!d) return;
    for (int i = 0; i < JC_JPEG_MAXC; i++) {
        JCLIP_FREE(d->c[i].coef);
        JCLIP_FREE(d->c[i].plane);
    }
    JCLIP_FREE(d->rowbufs);
    JCLIP_FREE(d->simd_ws);
    JCLIP_FREE(d);
}

static void jc_jpeg_fill_info(const jc_jpeg_dec *d, const jc_jpeg_pil *pil, const uint8_t *data, jc_image_info *info)
{
    static const char *const names[] = {"gray", "ycbcr", "rgb", "cmyk", "ycck"};
    memset(info, 0, sizeof *info);
    info->format = JC_FORMAT_JPEG;
    info->width = d->W;
    info->height = d->H;
    info->components = d->nc;
    info->bit_depth = 8;
    info->frames = 1;
    info->lossy = 1;
    info->progressive = pil->progressive;
    info->arithmetic = d->arith;
    info->exif_orientation = pil->have_exif ? jc_jpeg_exif_orientation(data + pil->exif_off, pil->exif_len) : 0;
    snprintf(info->color, sizeof info->color, "%s", names[jc_jpeg_color_space(d)]);
    size_t n = 0;
    for (int i = 0; i < d->nc && n + 8 < sizeof info->sampling; i++)
        n += (size_t)snprintf(info->sampling + n, sizeof info->sampling - n, "%s%dx%d", i ? "," : "", d->c[i].h, d->c[i].v);
}

/* Reads markers up to the first SOS, the way jpeg_read_header() does for Pillow (an EOI before
 * any SOS makes libjpeg treat what came before as a tables-only datastream and start over). */
static int jc_jpeg_header_until_sos(jc_jpeg_dec *d)
{
    for (;;) {
        int r = jc_jpeg_read_markers(d);
        if (r < 0) return r;
        if (r == 1) return JC_OK;
        d->saw_soi = 0;
        d->saw_sof = 0;
    }
}

static int jc_jpeg_run(const uint8_t *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                    jc_image_info *info, char *err, size_t errcap, int header_only, const jc_jpeg_ops *simd)
{
    if (!data) return jc_fail(err, errcap, JC_ERR_ARG, "no JPEG data");
    jc_jpeg_pil pil;
    JC_JPEG_TRY(jc_jpeg_pil_open(data, len, &pil, err, errcap));
    if (!header_only && (uint64_t)pil.w * pil.h > max_pixels)
        return jc_fail(err, errcap, JC_ERR_LIMIT, "image of %ux%u pixels exceeds the limit of %llu pixels", pil.w, pil.h,
                       (unsigned long long)max_pixels);
    jc_jpeg_dec *d = (jc_jpeg_dec *)JCLIP_MALLOC(sizeof *d);
    if (!d) return jc_fail(err, errcap, JC_ERR_NOMEM, "out of memory");
    memset(d, 0, sizeof *d);
    d->p = data;
    d->len = len;
    d->err = err;
    d->errcap = errcap;
    d->fixed_bin = 113;
    int rc = jc_jpeg_header_until_sos(d);
    if (rc) goto out;
    if (info) jc_jpeg_fill_info(d, &pil, data, info);
    if (header_only) goto out;
    if ((rc = jc_jpeg_initial_setup(d, max_pixels))) goto out;
    if (d->nc != pil.layers || d->W != pil.w || d->H != pil.h) {
        rc = JC_JPEG_FAIL(d, JC_ERR_FORMAT, "inconsistent frame headers");
        goto out;
    }
    size_t need;
    if (!jc_mul3(d->W, d->H, 3, &need)) {
        rc = JC_JPEG_FAIL(d, JC_ERR_LIMIT, "image too large");
        goto out;
    }
    if (!rgb || rgb_cap < need) {
        rc = JC_JPEG_FAIL(d, JC_ERR_CAPACITY, "output needs %zu bytes, capacity is %zu", need, rgb_cap);
        goto out;
    }
    for (int i = 0; i < d->nc; i++)
        if ((rc = jc_jpeg_pick_upsampler(d, &d->c[i], &d->up[i], &d->hx[i], &d->vx[i]))) goto out;
    d->multi = d->progressive || d->ns < d->nc;
    if (!d->arith && !d->progressive) /* jinit_huff_decoder(): standard tables for Motion-JPEG */
        for (int t = 0; t < 4; t++) {
            int slot = (t & 1) ? 4 + (t >> 1) : (t >> 1);
            int std = (t & 1) ? 2 + (t >> 1) : (t >> 1);
            if (d->hdef[slot]) continue;
            d->hdef[slot] = 1;
            memset(d->hbits[slot], 0, 17);
            memset(d->hval[slot], 0, 256);
            memcpy(d->hbits[slot] + 1, jc_jpeg_std_huff[std].bits, 16);
            memcpy(d->hval[slot], jc_jpeg_std_huff[std].val, 162);
        }
    size_t rowbuf = 0;
    jc_jpeg_ycc ycc;
    for (int i = 0; i < d->nc; i++) {
        jc_jpeg_comp *c = &d->c[i];
        size_t pbytes;
        c->pstride = (size_t)c->bw * 8;
        if (!jc_mul(c->pstride, (size_t)c->bh * 8, &pbytes)) {
            rc = JC_JPEG_FAIL(d, JC_ERR_LIMIT, "image too large");
            goto out;
        }
        c->plane = (uint8_t *)JCLIP_MALLOC(pbytes);
        if (!c->plane) {
            rc = JC_JPEG_FAIL(d, JC_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (d->multi) {
            size_t cb;
            if (!jc_mul3(c->cbw, c->cbh, 64 * sizeof(int16_t), &cb)) {
                rc = JC_JPEG_FAIL(d, JC_ERR_LIMIT, "image too large");
                goto out;
            }
            c->coef = (int16_t *)JCLIP_MALLOC(cb);
            if (!c->coef) {
                rc = JC_JPEG_FAIL(d, JC_ERR_NOMEM, "out of memory");
                goto out;
            }
            memset(c->coef, 0, cb);
        }
        if ((size_t)c->dw * 2 + 16 > rowbuf) rowbuf = (size_t)c->dw * 2 + 16;
    }
    if (rowbuf < (size_t)d->W + 16) rowbuf = (size_t)d->W + 16;
    jc_jpeg_ycc_init(&ycc);
    d->ycc = &ycc;
    d->cs = jc_jpeg_color_space(d);
    d->rgb = rgb;
    d->rowbuf = rowbuf;
    d->rowbufs = (uint8_t *)JCLIP_MALLOC(rowbuf * JC_JPEG_MAXC);
    if (!d->rowbufs) {
        rc = JC_JPEG_FAIL(d, JC_ERR_NOMEM, "out of memory");
        goto out;
    }
    d->simd = simd;
    if (simd) {
        size_t ws;
        if (!jc_mul(jc_jpeg_ws(rowbuf), sizeof(int16_t), &ws) || !(d->simd_ws = (int16_t *)JCLIP_MALLOC(ws))) {
            rc = JC_JPEG_FAIL(d, JC_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    for (;;) {
        if ((rc = jc_jpeg_decode_scan(d))) goto out;
        int r = jc_jpeg_read_markers(d);
        if (!d->multi) {
            /* jpeg_finish_decompress(): Pillow ignores a suspension (end of data) here. */
            if (r == 1) {
                rc = JC_JPEG_FAIL(d, JC_ERR_FORMAT, "invalid JPEG file structure: SOS after the only scan");
                goto out;
            }
            if (r < 0 && r != JC_ERR_TRUNCATED) {
                rc = r;
                goto out;
            }
            break;
        }
        if (r < 0) {
            rc = r;
            goto out;
        }
        if (r == 2) break;
        if (d->scans > JC_JPEG_MAX_SCANS) {
            rc = JC_JPEG_FAIL(d, JC_ERR_LIMIT, "more than %d scans", JC_JPEG_MAX_SCANS);
            goto out;
        }
    }
    if (d->multi) {
        int smooth = jc_jpeg_smoothing_ok(d);
        for (int i = 0; i < d->nc; i++) {
            jc_jpeg_comp *c = &d->c[i];
            if (smooth) {
                jc_jpeg_smooth_component(d, c);
                continue;
            }
            if (!c->qlatched) { /* never scanned: libjpeg latches nothing and outputs zeros */
                memset(c->plane, 128, c->pstride * (size_t)c->bh * 8);
                continue;
            }
            for (uint32_t by = 0; by < c->bh; by++)
                for (uint32_t bx = 0; bx < c->bw; bx++) jc_jpeg_idct_to_plane(d, c, jc_jpeg_block(c, by, bx), by, bx);
        }
    }
    jc_jpeg_emit_rows(d, d->H);
    rc = JC_OK;
out:
    jc_jpeg_free_dec(d);
    return rc;
}

/* Reads only the headers up to the first SOS (SOF, APP markers for EXIF/Adobe) and fills info
 * (format = JC_FORMAT_JPEG, width, height, components, bit_depth 8, progressive, arithmetic,
 * exif_orientation, color, sampling like "2x2,1x1,1x1"). */
static JC_UNUSED int jc_jpeg_info(const uint8_t *data, size_t len, jc_image_info *info, char *err, size_t errcap)
{
    if (!info) return jc_fail(err, errcap, JC_ERR_ARG, "info is NULL");
    return jc_jpeg_run(data, len, UINT64_MAX, NULL, 0, info, err, errcap, 1, NULL);
}

/* Decodes to packed 8-bit RGB, row-major, into rgb (capacity rgb_cap bytes, must be >=
 * width*height*3 else JC_ERR_CAPACITY). Scratch memory via JCLIP_MALLOC, all freed before
 * returning (success or error). info may be NULL. */
static JC_UNUSED int jc_jpeg_decode(const uint8_t *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                                 jc_image_info *info, char *err, size_t errcap)
{
    return jc_jpeg_run(data, len, max_pixels, rgb, rgb_cap, info, err, errcap, 0, jc_cpu_jpeg_ops());
}
