/* kernels/kernels.h: the kernel table every tower calls through.
 *
 * One jc_ops table exists per instruction set (kernels/scalar.c, avx2.c, avx512.c, neon.c).
 * Model code never calls an ISA-specific function directly: it calls ops->fn, where ops was
 * chosen once when the model was loaded (jc_cpu_* in kernels/cpu.c, honouring JCLIP_ISA).
 *
 * Contract shared by every implementation (the scalar one is the reference and test oracle):
 *  - Shapes are given in elements; row strides (ld*) in floats.
 *  - Work is split across threads over output rows/columns only, never over the reduction
 *    dimension, and every output element is computed by the same sequence of operations
 *    whatever tile or thread it falls in, so results do not depend on the thread count.
 *  - Rows are independent: row m of a linear layer's output is the same bits whatever M and
 *    whatever the other rows hold (no M-dependent kernel choice), so an input's embedding is
 *    the same alone or inside any batch, in every dtype.
 *  - No function allocates; scratch ("ws") is passed in by the caller, sized by the matching
 *    *_ws function. Scratch pointers need no particular alignment.
 */
#ifndef JC_KERNELS_H
#define JC_KERNELS_H

#include "../jclip_base.h"

/* One head's attention (jc_ops.attention, attention_bf16: the contract is there). */
typedef void (*jc_attention_fn)(float *out, size_t ldo, const float *q, size_t ldq, const float *k, size_t ldk,
                                const float *v, size_t ldv, const uint8_t *key_valid, int L, int d_head, int i0, int i1,
                                float scale, float slope, int causal, float *ws);

typedef struct jc_ops {
    const char *name; /* "scalar", "avx2", "avx512", "neon" */

    /* Output columns per work item: callers split [0, N) between threads in multiples of
     * this (a multiple of the micro-kernel's width, so threads never share a tile). */
    int n_grain;

    /* Floats of per-thread scratch `linear` needs for any problem with at most M rows and a
     * reduction length of at most K (monotone in both). */
    size_t (*linear_ws)(int M, int K);

    /* Linear layer on a column range:
     *   Y[m, n] = sum_k X[m, k] * W[n, k] + (bias ? bias[n] : 0)   for m < M, n0 <= n < n1
     * X: [M, K] with row stride ldx; W: [N, K] row-major (PyTorch nn.Linear weight layout,
     * row stride K, read in place: it may be the memory-mapped file); Y: [M, N] with row
     * stride ldy. Y must not alias X or W. ws: linear_ws(M, K) floats, private to the call. */
    void (*linear)(float *Y, size_t ldy, const float *X, size_t ldx, const float *W,
                   const float *bias, int M, int K, int n0, int n1, float *ws);

    /* Optional weight packing (NULL in tables that read W in place). pack_size: floats of the
     * packed form of an [N, K] weight. pack: writes slivers s0..s1-1 of it (sliver s holds
     * output columns n_grain*s .. n_grain*(s+1)-1; there are ceil(N / n_grain)), so slivers can
     * be packed by several threads. linear_packed: `linear` with Wp, the packed form, in place
     * of W (same contract, n0 a multiple of n_grain; Wp 64-byte aligned). Its results must be
     * bitwise those of `linear`: the towers switch to it mid-life (a model packs a tower on
     * its first pass, while passes on other contexts may still read W in place) and promise
     * outputs that do not change. */
    size_t (*pack_size)(int N, int K);
    void (*pack)(float *Wp, const float *W, int N, int K, int s0, int s1);
    void (*linear_packed)(float *Y, size_t ldy, const float *X, size_t ldx, const float *Wp,
                          const float *bias, int M, int K, int n0, int n1, float *ws);

    /* LayerNorm of one row: y = (x - mean) / sqrt(var + eps) * w + b, biased variance.
     * y may alias x. */
    void (*layernorm)(float *y, const float *x, const float *w, const float *b, int n, float eps);

    /* Floats of scratch `attention` needs for L keys, head size d_head, nq queries per call. */
    size_t (*attention_ws)(int L, int d_head, int nq);

    /* Attention of one head for queries i0 <= i < i1 over all L keys:
     *   s[j]   = (q[i] . k[j]) * scale - slope * |i - j|        (j with key_valid[j] != 0)
     *   out[i] = sum_j softmax(s)[j] * v[j]
     * q, k, v: rows of d_head floats with row strides ldq, ldk, ldv; out: row stride ldo.
     * key_valid: NULL when every key is valid; at least one key must be valid.
     * causal: query i sees only keys j <= i, and its result is bitwise the one of a call for
     * that query alone with L = i + 1 (CLIP's text tower; needs i1 <= L).
     * ws: attention_ws(L, d_head, i1 - i0) floats. */
    jc_attention_fn attention;

    /* The same with both products in bf16, for files whose linear weights are reduced (bf16 /
     * q8), or NULL in the tables without a bf16 dot product worth taking (scalar, AVX2, NEON,
     * and the widened-FMA AVX-512 tables Intel gets); `attention` then serves them:
     *   s[j] = dot_bf16(bf16(q[i] * scale), bf16(k[j])) - slope * |i - j|   (one fmaf)
     *   e[j] = bf16(exp(s[j] - max)),  out[i] = dot_bf16 over key pairs (e, bf16(v)) / sum e
     * (jc_bf16_from_f32 rounding, vdpbf16ps order; the exp may differ from expf by about 1e-6,
     * so an e may round the other way). The reference is jc_scalar_attention_bf16; scratch:
     * attention_ws. Every other property of `attention` holds (masks, ALiBi, causal, a query's
     * result independent of the others). */
    jc_attention_fn attention_bf16;

    /* GEGLU gate: u[i] = GELU_erf(g[i]) * g[n + i] for i < n (g holds 2n values). */
    void (*geglu)(float *u, const float *g, int n);

    /* SwiGLU gate: u[i] = SiLU(a[i]) * b[i] for i < n. u may alias a. */
    void (*swiglu)(float *u, const float *a, const float *b, int n);

    /* QuickGELU in place (CLIP's MLP), y[i] = y[i] * sigmoid(1.702 y[i]), computed as the
     * table's SiLU of z = 1.702f * y[i] (rounded) times (1.0f / 1.702f): bitwise swiglu(y, z, c)
     * with c[i] = 1.0f / 1.702f, in one pass. */
    void (*quick_gelu)(float *y, int n);

    /* y[i] += x[i] for i < n. */
    void (*add)(float *y, const float *x, int n);

    /* ---- Reduced-precision linear layers: bf16 and q8 (see "bf16 and q8 contract" below) ----
     * Both need K % 32 == 0 (the towers' K are 768 and 3072; a caller with another K pads X
     * and W with zeros to the next multiple of 32). Same column split as `linear`: n0 .. n1 in
     * multiples of n_grain, results bit-identical for any split, thread count and M (a row's
     * outputs never depend on the other rows). Packed forms are 64-byte aligned, sizes in
     * BYTES, sliver s = output columns n_grain*s .. n_grain*(s+1)-1 as for fp32; pack_* are
     * NULL in tables that read the weights in place (scalar). linear_*_packed gives bitwise the
     * results of linear_* for every M. */

    /* The instruction choice of this table's bf16 and q8 kernels, e.g. "bf16 vdpbf16ps, q8
     * vpdpbusd" or "bf16 widened+fma, q8 vpmaddwd" (the name stays "avx512" etc. for all). */
    const char *variant;

    /* bf16 row conversion: y[i] = jc_bf16_from_f32(x[i]) for i < n. */
    void (*bf16_row)(uint16_t *y, const float *x, int n);
    /* Floats of per-thread scratch linear_bf16 / linear_bf16_packed need (monotone in M, K). */
    size_t (*linear_bf16_ws)(int M, int K);
    /* Y[m, n] = dot_bf16(Xb[m], Wb[n], K) (+ bias[n]) for m < M, n0 <= n < n1.
     * Xb: [M, K] bf16 (from bf16_row), row stride ldxb elements; Wb: [N, K] bf16 row-major. */
    void (*linear_bf16)(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const uint16_t *Wb,
                        const float *bias, int M, int K, int n0, int n1, float *ws);
    size_t (*pack_bf16_size)(int N, int K);
    void (*pack_bf16)(void *Wp, const uint16_t *Wb, int N, int K, int s0, int s1);
    void (*linear_bf16_packed)(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const void *Wp,
                               const float *bias, int M, int K, int n0, int n1, float *ws);

    /* q8 row quantisation: one activation row x[K] -> its q8 row (jc_q8_row_bytes(K) bytes at
     * xq, 4-byte aligned) with one scale per S blocks of 32 (S = 1, 2 or 4, K % (32 S) == 0),
     * exactly as jc_scalar_q8_row defines it. */
    void (*q8_row)(void *xq, const float *x, int K, int S);
    size_t (*linear_q8_ws)(int M, int K);
    /* Y[m, n] = dot_q8(row m of Xq, Wq[n], Sw[n]) (+ bias[n]). Xq: M q8 rows, jc_q8_row_bytes(K)
     * apart, made by q8_row with the same S; Wq: [N, K] int8 row-major; Sw: [N, K / 32] float
     * block scales (with S > 1 the first of each S is read: the loader checks they are equal). */
    void (*linear_q8)(float *Y, size_t ldy, const void *Xq, const int8_t *Wq, const float *Sw,
                      const float *bias, int M, int K, int S, int n0, int n1, float *ws);
    size_t (*pack_q8_size)(int N, int K);
    void (*pack_q8)(void *Wp, const int8_t *Wq, const float *Sw, int N, int K, int s0, int s1);
    void (*linear_q8_packed)(float *Y, size_t ldy, const void *Xq, const void *Wp, const float *bias,
                             int M, int K, int S, int n0, int n1, float *ws);
} jc_ops;

/* ---- bf16 and q8 contract -------------------------------------------------------------------
 *
 * bf16 (bfloat16: the upper 16 bits of an IEEE fp32):
 *   - jc_bf16_from_f32(x) (activations, and what the converter must write for weights):
 *     round to nearest even on the bit pattern; fp32 zeros and denormals -> signed zero;
 *     infinities kept; NaN -> upper half with the quiet bit set. This is exactly x86's
 *     vcvtne2ps2bf16 (checked bit for bit on random and edge inputs).
 *   - dot_bf16(x, w, K) is a serial fp32 accumulation over k pairs, ODD element first:
 *         acc = +0.0f
 *         for p = 0 .. K/2-1:  acc = F(x[2p+1], w[2p+1], acc);  acc = F(x[2p], w[2p], acc)
 *         result = bias ? acc + bias[n] : acc
 *     F(a, b, c) = FTZ(fmaf(DAZ(a), DAZ(b), DAZ(c))), DAZ/FTZ: |v| < FLT_MIN -> signed zero.
 *     This is exactly one vdpbf16ps lane step (the SDM's pseudocode: two FMAs, DAZ in, FTZ
 *     out, RNE; checked bit for bit), so the AVX-512 BF16 kernels, the widening fallbacks (fp32
 *     FMA in the same order under MXCSR DAZ+FTZ) and the scalar reference give identical bits.
 *     NEON's BFDOT rounds differently (Arm's non-EBF BFDOT sums each pair before adding, with
 *     round-to-odd): it is the one exception, held to |got - ref| <= 2^-21 * K * sum|x w|
 *     (tested), while the NEON widening fallback is bit-identical.
 *
 * q8 (int8 with one fp32 scale per block of 32 along K, like llama.cpp's Q8_0, or per scale block
 * of S blocks of 32, S = 1, 2 or 4, where the converter chose coarser blocks for a tower):
 *   - Weights: Wq[n][k] int8 (any value, -128 included; the converter writes -127..127),
 *     Sw[n][b] fp32, w = Wq * Sw[n][k / 32]; with S > 1 the S scales of a scale block are equal.
 *   - Activation row (jc_q8_row_bytes(K) bytes): int8 q[K], then float d[K/32], then int32
 *     s[K/32] (s[b] = -128 * the sum of q in block b of 32: the correction the u8 x s8
 *     instructions need when the weights are stored as w + 128, ready to be an accumulator's
 *     start value). Per scale block c (values 32 S c .. 32 S c + 32 S - 1):
 *         amax = max |x[k]|  (NaNs ignored)
 *         d[b] = amax / 127.0f for each of its S blocks b;   id = amax > 0 ? 127.0f / amax : 0.0f
 *         v = x[k] * id;  v = NaN ? 0 : clamp(v, -127, 127);  q[k] = nearbyintf(v) (RNE)
 *     (an all-zero block gives d = 0 and q = 0; activations are meant to be finite).
 *   - dot_q8: isum[c] = sum_k q[k] * Wq[n][k] over scale block c, exact in int32
 *     (|isum| <= S * 2^19 <= 2^21, so (float)isum is exact too); with b = S c its first block:
 *         acc = +0.0f
 *         for c = 0 .. K/(32 S)-1:  acc = fmaf((float)isum[c], d[b] * Sw[n][b], acc)
 *         result = bias ? acc + bias[n] : acc
 *     fmaf, not a multiply and an add; d[b] * Sw[n][b] rounded to fp32 first. Every table
 *     matches the scalar reference bit for bit. S = 1 is the plain Q8_0 arithmetic; S = 4
 *     lets the int32 sums run over 128 values, a quarter of the float work per product. */

/* Bytes of one q8 activation row of K values (K % 32 == 0). */
static JC_UNUSED size_t jc_q8_row_bytes(int K) { return (size_t)K + (size_t)(K / 32) * 8; }

/* fp32 -> bf16 as vcvtne2ps2bf16 (see the contract above). */
static JC_UNUSED uint16_t jc_bf16_from_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7F800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);         /* zero, denormal */
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u); /* NaN: quiet */
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static JC_UNUSED float jc_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The JPEG decoder's pixel stages with SIMD versions. The scalar twins, which are the reference,
 * live in image/jpeg.c (jc_jpeg_idct, jc_jpeg_ycc_fancy_row, jc_jpeg_convert_row); the decoder calls
 * through this table when jc_cpu_jpeg_ops() returns one, and every entry gives the same bytes
 * as its twin for every input, hostile coefficients included. */
typedef struct jc_jpeg_ops {
    const char *name;

    /* libjpeg-turbo's AVX2 islow IDCT of one block: in [64] coefficients in natural order,
     * q [64] 16-bit multipliers, 8 rows of 8 samples written at out + r * stride. */
    void (*idct)(const int16_t *in, const int16_t *q, uint8_t *out, size_t stride);

    /* Fixed-point YCbCr -> RGB (jdcolor.c) of n pixels: y, cb, cr [n] -> rgb [n][3]. */
    void (*ycc_row)(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint32_t n, uint8_t *rgb);

    /* One output row whose chroma is fancy-upsampled 2:1 horizontally (v2 = 0: h2v1, chroma
     * rows cb0/cr0; v2 = 1: h2v2, near rows cb0/cr0 and far rows cb1/cr1), then converted:
     * y [W], chroma rows [dw] with W = 2 * dw - 1 or 2 * dw -> rgb [W][3].
     * ws: jpeg_ws(dw) int16 of scratch. */
    void (*ycc_fancy_row)(const uint8_t *y, const uint8_t *cb0, const uint8_t *cb1, const uint8_t *cr0,
                          const uint8_t *cr1, uint32_t dw, uint32_t W, int v2, uint8_t *rgb, int16_t *ws);
} jc_jpeg_ops;

/* int16 of scratch ycc_fancy_row needs for dw chroma samples: two padded rows of sums. */
static JC_UNUSED size_t jc_jpeg_ws(size_t dw) { return 2 * (dw + 48); }

/* Rounds a scratch pointer up to a 64-byte boundary (callers of *_ws get 16 floats slack). */
static JC_UNUSED float *jc_align64(float *p)
{
    return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

/* The WebP lossy (VP8) decoder's pixel stages with SIMD versions. The scalar twins, which are the
 * reference, live in image/vp8.c (jc_vp8_scalar_ops); the decoder calls through this table when
 * jc_cpu_vp8_ops() returns one, and every entry gives the same bytes as its twin for every input.
 *
 * Loop filter (RFC 6386 section 15 with libwebp's arithmetic). "v" entries filter across a
 * horizontal edge (the pixels above and below p, rows `stride` bytes apart), "h" entries across
 * a vertical edge (the pixels left and right of p); 16: a luma edge of 16 pixels, 8: the same
 * edge of both chroma planes u and v (8 pixels each, same stride). The plain entries filter a
 * macroblock edge (6-tap where the edge is smooth), the "i" entries the inner edges: at 4, 8
 * and 12 for luma (in that order), at 4 for chroma. They read up to 4 pixels on each side of an
 * edge. thresh: the edge limit (a pixel pair is filtered when 4|p0-q0| + |p1-q1| <= 2 thresh + 1),
 * 0..254; ithresh: the interior limit, hev: the high-edge-variance threshold, 0..255 each. */
typedef struct jc_vp8_ops {
    const char *name;
    void (*simple_v16)(uint8_t *p, ptrdiff_t stride, int thresh);
    void (*simple_h16)(uint8_t *p, ptrdiff_t stride, int thresh);
    void (*simple_v16i)(uint8_t *p, ptrdiff_t stride, int thresh);
    void (*simple_h16i)(uint8_t *p, ptrdiff_t stride, int thresh);
    void (*v16)(uint8_t *p, ptrdiff_t stride, int thresh, int ithresh, int hev);
    void (*h16)(uint8_t *p, ptrdiff_t stride, int thresh, int ithresh, int hev);
    void (*v16i)(uint8_t *p, ptrdiff_t stride, int thresh, int ithresh, int hev);
    void (*h16i)(uint8_t *p, ptrdiff_t stride, int thresh, int ithresh, int hev);
    void (*v8)(uint8_t *u, uint8_t *v, ptrdiff_t stride, int thresh, int ithresh, int hev);
    void (*h8)(uint8_t *u, uint8_t *v, ptrdiff_t stride, int thresh, int ithresh, int hev);
    void (*v8i)(uint8_t *u, uint8_t *v, ptrdiff_t stride, int thresh, int ithresh, int hev);
    void (*h8i)(uint8_t *u, uint8_t *v, ptrdiff_t stride, int thresh, int ithresh, int hev);

    /* libwebp's "fancy" upsampling and 14-bit YUV->RGB of one output row pair: top_y and bot_y
     * [len] luma rows (bot_y NULL: only the top row), tu/tv the chroma rows above them and cu/cv
     * those below ([(len + 1) / 2] each), RGB rows td and bd [len][3] (bd unused without bot_y).
     * len >= 1. */
    void (*upsample_pair)(const uint8_t *top_y, const uint8_t *bot_y, const uint8_t *tu, const uint8_t *tv,
                          const uint8_t *cu, const uint8_t *cv, uint8_t *td, uint8_t *bd, uint32_t len);

    /* Inverse DCT of one 4x4 block added to the prediction: in [16] coefficients (any int16),
     * dst 4 rows of 4 pixels, JC_VP8_BPS bytes apart. 32-bit arithmetic, products wrapped to
     * 32 bits (MUL(a, k) = (int32)(a * k) >> 16), each pixel clamped to 0..255. idct_dc: the
     * same for a block whose only non-zero coefficient is in[0]. */
    void (*idct)(const int16_t *in, uint8_t *dst);
    void (*idct_dc)(const int16_t *in, uint8_t *dst);
} jc_vp8_ops;

/* Row stride of the VP8 decoder's prediction work buffer (image/vp8.c), the idct's dst. */
#define JC_VP8_BPS 32

#endif
