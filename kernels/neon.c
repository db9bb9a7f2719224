/* kernels/neon.c: NEON kernels for aarch64 (NEON is part of the aarch64 baseline, so there is
 * no run-time check). The GEMM is a 4 x 4 dot-product tile along k (16 accumulators of 4
 * lanes, W rows read in place, no packing); the gates use vector exp/erf with the same
 * approximations as the x86 files; attention uses its scalar twin. Elsewhere this file is
 * empty. */
#include "scalar.c"

#if defined(__aarch64__)
#include <arm_neon.h>

static inline float32x4_t jc_neon_exp(float32x4_t x)
{
    x = vmaxq_f32(vminq_f32(x, vdupq_n_f32(88.3f)), vdupq_n_f32(-87.3f));
    float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

static inline float32x4_t jc_neon_erf(float32x4_t a)
{
    float32x4_t t = vabsq_f32(a), s = vmulq_f32(a, a);
    float32x4_t r = vfmaq_f32(vdupq_n_f32(3.83197126e-4f), vdupq_n_f32(-1.72853470e-5f), t);
    float32x4_t u = vfmaq_f32(vdupq_n_f32(2.42546219e-2f), vdupq_n_f32(-3.88396438e-3f), t);
    r = vfmaq_f32(u, r, s);
    r = vfmaq_f32(vdupq_n_f32(-1.06777877e-1f), r, t);
    r = vfmaq_f32(vdupq_n_f32(-6.34846687e-1f), r, t);
    r = vfmaq_f32(vdupq_n_f32(-1.28717512e-1f), r, t);
    r = vfmaq_f32(vnegq_f32(t), r, t);
    r = vsubq_f32(vdupq_n_f32(1.0f), jc_neon_exp(r));
    uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x80000000u));
    r = vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(r), sign));
    float32x4_t q = vdupq_n_f32(-5.96761703e-4f);
    q = vfmaq_f32(vdupq_n_f32(4.99119423e-3f), q, s);
    q = vfmaq_f32(vdupq_n_f32(-2.67681349e-2f), q, s);
    q = vfmaq_f32(vdupq_n_f32(1.12819925e-1f), q, s);
    q = vfmaq_f32(vdupq_n_f32(-3.76125336e-1f), q, s);
    q = vfmaq_f32(vdupq_n_f32(1.28379166e-1f), q, s);
    q = vfmaq_f32(a, q, a);
    return vbslq_f32(vcgtq_f32(t, vdupq_n_f32(0.927734375f)), r, q);
}

static size_t jc_neon_linear_ws(int M, int K)
{
    (void)M, (void)K;
    return 0;
}

/* Y[m][n] for up to 4 rows x 4 columns; k tail in scalar, added after the vector sum. */
static void jc_neon_tile(float *Y, size_t ldy, const float *X, size_t ldx, const float *W, const float *bias, int K,
                     int m, int mr, int n, int nn)
{
    const float *x[4], *w[4];
    for (int i = 0; i < 4; i++) x[i] = X + (size_t)(m + (i < mr ? i : 0)) * ldx;
    for (int j = 0; j < 4; j++) w[j] = W + (size_t)(n + (j < nn ? j : 0)) * K;
    float32x4_t c[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) c[i][j] = vdupq_n_f32(0);
    int k = 0;
    for (; k + 4 <= K; k += 4) {
        float32x4_t b0 = vld1q_f32(w[0] + k), b1 = vld1q_f32(w[1] + k), b2 = vld1q_f32(w[2] + k), b3 = vld1q_f32(w[3] + k);
        for (int i = 0; i < 4; i++) {
            float32x4_t a = vld1q_f32(x[i] + k);
            c[i][0] = vfmaq_f32(c[i][0], a, b0);
            c[i][1] = vfmaq_f32(c[i][1], a, b1);
            c[i][2] = vfmaq_f32(c[i][2], a, b2);
            c[i][3] = vfmaq_f32(c[i][3], a, b3);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nn; j++) {
            float s = vaddvq_f32(c[i][j]);
            for (int kk = k; kk < K; kk++) s += x[i][kk] * w[j][kk];
            Y[(size_t)(m + i) * ldy + n + j] = s + (bias ? bias[n + j] : 0.0f);
        }
}

static void jc_neon_linear(float *Y, size_t ldy, const float *X, size_t ldx, const float *W, const float *bias, int M,
                       int K, int n0, int n1, float *ws)
{
    (void)ws;
    /* 64 columns at a time keep a W block in cache while every row block passes over it */
    for (int nb = n0; nb < n1; nb += 64) {
        int ne = n1 - nb < 64 ? n1 : nb + 64;
        for (int m = 0; m < M; m += 4)
            for (int n = nb; n < ne; n += 4)
                jc_neon_tile(Y, ldy, X, ldx, W, bias, K, m, M - m < 4 ? M - m : 4, n, ne - n < 4 ? ne - n : 4);
    }
}

static void jc_neon_layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps)
{
    float32x4_t s = vdupq_n_f32(0);
    int i = 0;
    for (; i + 4 <= n; i += 4) s = vaddq_f32(s, vld1q_f32(x + i));
    float sum = vaddvq_f32(s);
    for (; i < n; i++) sum += x[i];
    float mean = sum / (float)n;
    float32x4_t vm = vdupq_n_f32(mean), q = vdupq_n_f32(0);
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t d = vsubq_f32(vld1q_f32(x + i), vm);
        q = vfmaq_f32(q, d, d);
    }
    float var = vaddvq_f32(q);
    for (; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= (float)n;
    float inv = 1.0f / sqrtf(var + eps);
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t d = vmulq_n_f32(vsubq_f32(vld1q_f32(x + i), vm), inv);
        vst1q_f32(y + i, vfmaq_f32(vld1q_f32(b + i), d, vld1q_f32(w + i)));
    }
    for (; i < n; i++) y[i] = (x[i] - mean) * inv * w[i] + b[i];
}

static void jc_neon_geglu(float *u, const float *g, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t z = vld1q_f32(g + i), v = vld1q_f32(g + n + i);
        float32x4_t e = jc_neon_erf(vmulq_n_f32(z, 0.70710678118654752f));
        vst1q_f32(u + i, vmulq_f32(vmulq_f32(vmulq_n_f32(z, 0.5f), vaddq_f32(vdupq_n_f32(1.0f), e)), v));
    }
    for (; i < n; i++) u[i] = 0.5f * g[i] * (1.0f + erff(g[i] * 0.70710678118654752f)) * g[n + i];
}

static void jc_neon_swiglu(float *u, const float *a, const float *b, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t z = vld1q_f32(a + i);
        float32x4_t s = vdivq_f32(z, vaddq_f32(vdupq_n_f32(1.0f), jc_neon_exp(vnegq_f32(z))));
        vst1q_f32(u + i, vmulq_f32(s, vld1q_f32(b + i)));
    }
    if (i < n) jc_scalar_swiglu(u + i, a + i, b + i, n - i);
}

static void jc_neon_add(float *y, const float *x, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
    for (; i < n; i++) y[i] += x[i];
}

static const jc_ops jc_neon_ops = {
    "neon",
    16,
    jc_neon_linear_ws,
    jc_neon_linear,
    NULL, /* weights read in place */
    NULL,
    NULL,
    jc_neon_layernorm,
    jc_scalar_attention_ws,
    jc_scalar_attention,
    jc_neon_geglu,
    jc_neon_swiglu,
    jc_neon_add,
};

#endif /* __aarch64__ */
