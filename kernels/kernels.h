/* kernels/kernels.h: the kernel table every tower calls through.
 *
 * One jk_ops table exists per instruction set (kernels/scalar.c, and the SIMD files that plug
 * in beside it). Model code never calls an ISA-specific function directly: it calls ops->fn,
 * where ops was chosen once when the model was loaded (jk_select, honouring JCLIP_ISA).
 *
 * Contract shared by every implementation (the scalar one is the reference and test oracle):
 *  - Shapes are given in elements; row strides (ld*) in floats.
 *  - Work is split across threads over output rows/columns only, never over the reduction
 *    dimension, so results do not depend on the thread count.
 *  - No function allocates; scratch is passed in by the caller.
 */
#ifndef JCLIP_KERNELS_H
#define JCLIP_KERNELS_H

#include "../jclip_impl.h"

typedef struct jk_ops {
    const char *name; /* "scalar", "avx2", "avx512", "neon" */

    /* Linear layer on a column range:
     *   Y[m, n] = sum_k X[m, k] * W[n, k] + (bias ? bias[n] : 0)   for m < M, n0 <= n < n1
     * X: [M, K] with row stride ldx; W: [N, K] row-major (PyTorch nn.Linear weight layout,
     * row stride K); Y: [M, N] with row stride ldy. Y must not alias X or W. */
    void (*linear)(float *Y, size_t ldy, const float *X, size_t ldx, const float *W,
                   const float *bias, int M, int K, int n0, int n1);

    /* LayerNorm of one row: y = (x - mean) / sqrt(var + eps) * w + b, biased variance.
     * y may alias x. */
    void (*layernorm)(float *y, const float *x, const float *w, const float *b, int n, float eps);

    /* Attention of one head for queries i0 <= i < i1 over all L keys:
     *   s[j]   = (q[i] . k[j]) * scale - slope * |i - j|        (j with key_valid[j] != 0)
     *   out[i] = sum_j softmax(s)[j] * v[j]
     * q, k, v: rows of d_head floats with row strides ldq, ldk, ldv; out: row stride ldo.
     * key_valid: NULL when every key is valid. scratch: at least L floats. */
    void (*attention)(float *out, size_t ldo, const float *q, size_t ldq, const float *k,
                      size_t ldk, const float *v, size_t ldv, const uint8_t *key_valid, int L,
                      int d_head, int i0, int i1, float scale, float slope, float *scratch);

    /* GEGLU gate: u[i] = GELU_erf(g[i]) * g[n + i] for i < n (g holds 2n values). */
    void (*geglu)(float *u, const float *g, int n);

    /* SwiGLU gate: u[i] = SiLU(a[i]) * b[i] for i < n. u may alias a. */
    void (*swiglu)(float *u, const float *a, const float *b, int n);

    /* y[i] += x[i] for i < n. */
    void (*add)(float *y, const float *x, int n);
} jk_ops;

#endif
