/* kernels/scalar.c: portable reference kernels (the test oracle for every SIMD table).
 * Plain C11, no intrinsics; written so that compilers can still vectorise the inner loops. */
#ifndef JC_SCALAR_C
#define JC_SCALAR_C
#include "kernels.h"

/* Dot product with 8 independent partial sums: keeps the reduction order fixed (so results
 * are reproducible) while letting the compiler use vector registers. */
static float jc_scalar_dot(const float *a, const float *b, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int u = 0; u < 8; u++) acc[u] += a[k + u] * b[k + u];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

/* Tile: 4 rows of X against one row of W at a time, so each W row is read from cache once per
 * 4 outputs.
 *           k ->
 *   X  m0 [........]        W  n [........]
 *      m1 [........]   x
 *      m2 [........]          -> Y[m0..m3, n]
 *      m3 [........]
 */
static size_t jc_scalar_linear_ws(int M, int K)
{
    (void)M, (void)K;
    return 0;
}

static void jc_scalar_linear(float *Y, size_t ldy, const float *X, size_t ldx, const float *W,
                             const float *bias, int M, int K, int n0, int n1, float *ws)
{
    (void)ws;
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        const float *x0 = X + (size_t)m * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
        for (int n = n0; n < n1; n++) {
            const float *w = W + (size_t)n * K;
            float b = bias ? bias[n] : 0.0f;
            Y[(size_t)m * ldy + n] = jc_scalar_dot(x0, w, K) + b;
            Y[(size_t)(m + 1) * ldy + n] = jc_scalar_dot(x1, w, K) + b;
            Y[(size_t)(m + 2) * ldy + n] = jc_scalar_dot(x2, w, K) + b;
            Y[(size_t)(m + 3) * ldy + n] = jc_scalar_dot(x3, w, K) + b;
        }
    }
    for (; m < M; m++) {
        const float *x = X + (size_t)m * ldx;
        for (int n = n0; n < n1; n++)
            Y[(size_t)m * ldy + n] = jc_scalar_dot(x, W + (size_t)n * K, K) + (bias ? bias[n] : 0.0f);
    }
}

static void jc_scalar_layernorm(float *y, const float *x, const float *w, const float *b, int n,
                                float eps)
{
    /* Two passes in double: mean, then the biased variance of the deviations. */
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) {
        double d = x[i] - mean;
        var += d * d;
    }
    var /= n;
    float inv = (float)(1.0 / sqrt(var + eps));
    float fm = (float)mean;
    for (int i = 0; i < n; i++) y[i] = (x[i] - fm) * inv * w[i] + b[i];
}

static size_t jc_scalar_attention_ws(int L, int d_head, int nq)
{
    (void)d_head, (void)nq;
    return (size_t)L;
}

static void jc_scalar_attention(float *out, size_t ldo, const float *q, size_t ldq,
                                const float *k, size_t ldk, const float *v, size_t ldv,
                                const uint8_t *key_valid, int L, int d_head, int i0, int i1,
                                float scale, float slope, float *scratch)
{
    for (int i = i0; i < i1; i++) {
        const float *qi = q + (size_t)i * ldq;
        float mx = -INFINITY;
        for (int j = 0; j < L; j++) {
            if (key_valid && !key_valid[j]) continue;
            float s = jc_scalar_dot(qi, k + (size_t)j * ldk, d_head) * scale;
            if (slope != 0.0f) s -= slope * (float)(i > j ? i - j : j - i);
            scratch[j] = s;
            if (s > mx) mx = s;
        }
        float sum = 0;
        for (int j = 0; j < L; j++) {
            if (key_valid && !key_valid[j]) continue;
            float e = expf(scratch[j] - mx);
            scratch[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        float *o = out + (size_t)i * ldo;
        for (int c = 0; c < d_head; c++) o[c] = 0;
        for (int j = 0; j < L; j++) {
            if (key_valid && !key_valid[j]) continue;
            const float *vj = v + (size_t)j * ldv;
            float p = scratch[j] * inv;
            for (int c = 0; c < d_head; c++) o[c] += p * vj[c];
        }
    }
}

static void jc_scalar_geglu(float *u, const float *g, int n)
{
    for (int i = 0; i < n; i++) {
        float z = g[i];
        u[i] = 0.5f * z * (1.0f + erff(z * 0.70710678118654752f)) * g[n + i];
    }
}

static void jc_scalar_swiglu(float *u, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++) {
        float z = a[i];
        u[i] = z / (1.0f + expf(-z)) * b[i];
    }
}

static void jc_scalar_add(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i++) y[i] += x[i];
}

static const jc_ops jc_scalar_ops = {
    "scalar",
    16,
    jc_scalar_linear_ws,
    jc_scalar_linear,
    NULL, /* weights read in place */
    NULL,
    NULL,
    jc_scalar_layernorm,
    jc_scalar_attention_ws,
    jc_scalar_attention,
    jc_scalar_geglu,
    jc_scalar_swiglu,
    jc_scalar_add,
};

#endif /* JC_SCALAR_C */
