/* kernels/kernels.h: the kernel table every tower calls through.
 *
 * One jc_ops table exists per instruction set (kernels/scalar.c, avx2.c, avx512.c, neon.c).
 * Model code never calls an ISA-specific function directly: it calls ops->fn, where ops was
 * chosen once when the model was loaded (jk_cpu_* in kernels/cpu.c, honouring JCLIP_ISA).
 *
 * Contract shared by every implementation (the scalar one is the reference and test oracle):
 *  - Shapes are given in elements; row strides (ld*) in floats.
 *  - Work is split across threads over output rows/columns only, never over the reduction
 *    dimension, and every output element is computed by the same sequence of operations
 *    whatever tile or thread it falls in, so results do not depend on the thread count.
 *  - No function allocates; scratch ("ws") is passed in by the caller, sized by the matching
 *    *_ws function. Scratch pointers need no particular alignment.
 */
#ifndef JC_KERNELS_H
#define JC_KERNELS_H

#include "../jclip_base.h"

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
     * of W (same contract, n0 a multiple of n_grain; Wp 64-byte aligned). For M > 8 its
     * results must be bitwise those of `linear`: the towers switch to it mid-life (a model
     * packs a tower on its second pass) and promise outputs that do not change. */
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
     * ws: attention_ws(L, d_head, i1 - i0) floats. */
    void (*attention)(float *out, size_t ldo, const float *q, size_t ldq, const float *k,
                      size_t ldk, const float *v, size_t ldv, const uint8_t *key_valid, int L,
                      int d_head, int i0, int i1, float scale, float slope, float *ws);

    /* GEGLU gate: u[i] = GELU_erf(g[i]) * g[n + i] for i < n (g holds 2n values). */
    void (*geglu)(float *u, const float *g, int n);

    /* SwiGLU gate: u[i] = SiLU(a[i]) * b[i] for i < n. u may alias a. */
    void (*swiglu)(float *u, const float *a, const float *b, int n);

    /* y[i] += x[i] for i < n. */
    void (*add)(float *y, const float *x, int n);
} jc_ops;

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

#endif
