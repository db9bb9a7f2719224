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

/* SiLU(z) * v = z / (1 + e^-z) * v. */
static inline float32x4_t jc_neon_silu_mul(float32x4_t z, float32x4_t v)
{
    return vmulq_f32(vdivq_f32(z, vaddq_f32(vdupq_n_f32(1.0f), jc_neon_exp(vnegq_f32(z)))), v);
}

static void jc_neon_swiglu(float *u, const float *a, const float *b, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(u + i, jc_neon_silu_mul(vld1q_f32(a + i), vld1q_f32(b + i)));
    if (i < n) jc_scalar_swiglu(u + i, a + i, b + i, n - i);
}

/* QuickGELU in place: silu_mul(1.702f * y, 1 / 1.702f). */
static void jc_neon_quick_gelu(float *y, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, jc_neon_silu_mul(vmulq_f32(vld1q_f32(y + i), vdupq_n_f32(1.702f)), vdupq_n_f32(1.0f / 1.702f)));
    if (i < n) jc_scalar_quick_gelu(y + i, n - i);
}

static void jc_neon_add(float *y, const float *x, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
    for (; i < n; i++) y[i] += x[i];
}

/* ---- bf16 and q8 linear layers (contract in kernels.h; loops as in kernels/avx512.c) --------
 * Packed slivers of 16 columns (kernels/scalar.c layouts: bf16 k pairs, q8 quads), the same
 * driver for packed and in-place weights (the latter packed per K block into ws).
 *   bf16, BFDOT (FEAT_BF16, HWCAP2_BF16): 4 x 16 tile, c = bfdot(c, W[4 columns x pair], x, lane).
 *         Arm's BFDOT (FPCR.EBF = 0) adds the two products of a pair first and rounds to odd,
 *         so it is not bit-identical to vdpbf16ps: kernels.h states the bound, the suite tests it.
 *   bf16 fallback: the pair split into odd/even fp32 halves, FMLA in vdpbf16ps' order, each
 *         result flushed explicitly when |c| < FLT_MIN: bit-identical to the scalar reference.
 *   q8, SDOT (FEAT_DotProd, HWCAP_ASIMDDP): 2 x 16 tile, 8 SDOTs by lane per block of 32,
 *         int32 sums over a scale block (S blocks), exact.
 *   q8 fallback: SMULL of 2 columns x 4 k with the activation quad, SADALP into int32, pairs
 *         added at the scale block's end (|lane| <= 2 * 128 * 128 per step), exact. */
#define JC_NEONQ_NR 16
#define JC_NEONQ_MC 256
#define JC_NEONQ_KCP 512
#define JC_NEONQ_KCB 32
#define JC_NEONQ_QB (36 * JC_NEONQ_NR)
#define JC_NEON_BF __attribute__((target("arch=armv8.2-a+bf16")))
#define JC_NEON_DOT __attribute__((target("arch=armv8.2-a+dotprod")))

static inline uint32_t jc_neon_ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void jc_neonq_load(float32x4_t c[][4], int mr, const float *C, size_t ldc, int nv, int first)
{
    for (int i = 0; i < mr; i++) {
        if (first || nv < JC_NEONQ_NR) {
            for (int j = 0; j < 4; j++) c[i][j] = vdupq_n_f32(0);
            if (!first) {
                float t[JC_NEONQ_NR] = {0};
                memcpy(t, C + (size_t)i * ldc, sizeof(float) * (size_t)nv);
                for (int j = 0; j < 4; j++) c[i][j] = vld1q_f32(t + 4 * j);
            }
        } else
            for (int j = 0; j < 4; j++) c[i][j] = vld1q_f32(C + (size_t)i * ldc + 4 * j);
    }
}

static inline void jc_neonq_store(float32x4_t c[][4], int mr, float *C, size_t ldc, int nv, const float *bias, int last)
{
    float bv[JC_NEONQ_NR] = {0};
    if (last && bias) memcpy(bv, bias, sizeof(float) * (size_t)nv);
    for (int i = 0; i < mr; i++) {
        float t[JC_NEONQ_NR];
        for (int j = 0; j < 4; j++) vst1q_f32(t + 4 * j, last && bias ? vaddq_f32(c[i][j], vld1q_f32(bv + 4 * j)) : c[i][j]);
        memcpy(C + (size_t)i * ldc, t, sizeof(float) * (size_t)nv);
    }
}

typedef void (*jc_neon_bf_tile_fn)(int mr, int pc, const uint16_t *x, size_t ldx, const uint32_t *bp, float *C,
                               size_t ldc, int nv, const float *bias, int first, int last);

JC_NEON_BF static void jc_neon_bf_tile_x(int mr, int pc, const uint16_t *x, size_t ldx, const uint32_t *bp, float *C,
                                 size_t ldc, int nv, const float *bias, int first, int last)
{
    const uint16_t *xr[4];
    for (int i = 0; i < 4; i++) xr[i] = x + (size_t)(i < mr ? i : 0) * ldx;
    float32x4_t c[4][4];
    jc_neonq_load(c, mr, C, ldc, nv, first);
    for (int p = 0; p < pc; p += 4) { /* pc is a multiple of 16 */
        bfloat16x8_t xv[4];
        for (int i = 0; i < 4; i++) xv[i] = vreinterpretq_bf16_u16(vld1q_u16(xr[i] + 2 * p));
#define JC_NEON_BF_STEP(l)                                                                              \
    do {                                                                                            \
        const uint32_t *b = bp + (size_t)(p + l) * JC_NEONQ_NR;                                          \
        bfloat16x8_t w0 = vreinterpretq_bf16_u32(vld1q_u32(b)), w1 = vreinterpretq_bf16_u32(vld1q_u32(b + 4)); \
        bfloat16x8_t w2 = vreinterpretq_bf16_u32(vld1q_u32(b + 8)), w3 = vreinterpretq_bf16_u32(vld1q_u32(b + 12)); \
        for (int i = 0; i < mr; i++) {                                                              \
            c[i][0] = vbfdotq_laneq_f32(c[i][0], w0, xv[i], l);                                      \
            c[i][1] = vbfdotq_laneq_f32(c[i][1], w1, xv[i], l);                                      \
            c[i][2] = vbfdotq_laneq_f32(c[i][2], w2, xv[i], l);                                      \
            c[i][3] = vbfdotq_laneq_f32(c[i][3], w3, xv[i], l);                                      \
        }                                                                                           \
    } while (0)
        JC_NEON_BF_STEP(0);
        JC_NEON_BF_STEP(1);
        JC_NEON_BF_STEP(2);
        JC_NEON_BF_STEP(3);
#undef JC_NEON_BF_STEP
    }
    jc_neonq_store(c, mr, C, ldc, nv, bias, last);
}

static inline float32x4_t jc_neon_ftz(float32x4_t c)
{
    uint32x4_t big = vcageq_f32(c, vdupq_n_f32(0x1p-126f));
    return vbslq_f32(big, c, vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(c), vdupq_n_u32(0x80000000u))));
}

static void jc_neon_bf_tile_f(int mr, int pc, const uint16_t *x, size_t ldx, const uint32_t *bp, float *C, size_t ldc,
                          int nv, const float *bias, int first, int last)
{
    const uint16_t *xr[4];
    for (int i = 0; i < 4; i++) xr[i] = x + (size_t)(i < mr ? i : 0) * ldx;
    float32x4_t c[4][4];
    jc_neonq_load(c, mr, C, ldc, nv, first);
    const uint32x4_t hi = vdupq_n_u32(0xFFFF0000u);
    for (int p = 0; p < pc; p++) {
        float32x4_t wo[4], we[4];
        for (int j = 0; j < 4; j++) {
            uint32x4_t b = vld1q_u32(bp + (size_t)p * JC_NEONQ_NR + 4 * j);
            wo[j] = vreinterpretq_f32_u32(vandq_u32(b, hi));
            we[j] = vreinterpretq_f32_u32(vshlq_n_u32(b, 16));
        }
        for (int i = 0; i < mr; i++) {
            uint32_t v = jc_neon_ld32(xr[i] + 2 * p);
            float xo = jc_scalar_bf16_daz((uint16_t)(v >> 16)), xe = jc_scalar_bf16_daz((uint16_t)v);
            for (int j = 0; j < 4; j++) {
                c[i][j] = jc_neon_ftz(vfmaq_n_f32(c[i][j], wo[j], xo));
                c[i][j] = jc_neon_ftz(vfmaq_n_f32(c[i][j], we[j], xe));
            }
        }
    }
    jc_neonq_store(c, mr, C, ldc, nv, bias, last);
}

static size_t jc_neon_bf_ws(int M, int K)
{
    (void)M, (void)K;
    return (size_t)JC_NEONQ_KCP * JC_NEONQ_NR + 16;
}

static void jc_neon_bf_drive(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const uint32_t *Wp, const uint16_t *Wb,
                         const float *bias, int M, int K, int n0, int n1, float *ws, jc_neon_bf_tile_fn tile)
{
    const int P = K / 2;
    uint32_t *buf = (uint32_t *)(void *)jc_align64(ws);
    for (int m0 = 0; m0 < M; m0 += JC_NEONQ_MC) {
        int mc = M - m0 < JC_NEONQ_MC ? M - m0 : JC_NEONQ_MC;
        for (int p0 = 0; p0 < P; p0 += JC_NEONQ_KCP) {
            int pc = P - p0 < JC_NEONQ_KCP ? P - p0 : JC_NEONQ_KCP;
            for (int n = n0; n < n1; n += JC_NEONQ_NR) {
                int nv = n1 - n < JC_NEONQ_NR ? n1 - n : JC_NEONQ_NR;
                const uint32_t *bp = buf;
                if (Wp)
                    bp = Wp + (size_t)(n / JC_NEONQ_NR) * JC_NEONQ_NR * P + (size_t)p0 * JC_NEONQ_NR;
                else
                    jc_pack_bf16_blk(buf, Wb, K, n, n1, p0, pc, JC_NEONQ_NR);
                for (int m = 0; m < mc; m += 4)
                    tile(mc - m < 4 ? mc - m : 4, pc, Xb + (size_t)(m0 + m) * ldxb + 2 * p0, ldxb, bp,
                         Y + (size_t)(m0 + m) * ldy + n, ldy, nv, bias ? bias + n : NULL, p0 == 0, p0 + pc == P);
            }
        }
    }
}

static size_t jc_neon_bf_pack_size(int N, int K) { return jc_pack_bf16_size_nr(N, K, JC_NEONQ_NR); }

static void jc_neon_bf_pack(void *Wp, const uint16_t *Wb, int N, int K, int s0, int s1)
{
    jc_pack_bf16_nr(Wp, Wb, N, K, s0, s1, JC_NEONQ_NR);
}

static void jc_neon_bf_linear_x(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const uint16_t *Wb,
                            const float *bias, int M, int K, int n0, int n1, float *ws)
{
    jc_neon_bf_drive(Y, ldy, Xb, ldxb, NULL, Wb, bias, M, K, n0, n1, ws, jc_neon_bf_tile_x);
}

static void jc_neon_bf_packed_x(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const void *Wp, const float *bias,
                            int M, int K, int n0, int n1, float *ws)
{
    jc_neon_bf_drive(Y, ldy, Xb, ldxb, (const uint32_t *)Wp, NULL, bias, M, K, n0, n1, ws, jc_neon_bf_tile_x);
}

static void jc_neon_bf_linear_f(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const uint16_t *Wb,
                            const float *bias, int M, int K, int n0, int n1, float *ws)
{
    jc_neon_bf_drive(Y, ldy, Xb, ldxb, NULL, Wb, bias, M, K, n0, n1, ws, jc_neon_bf_tile_f);
}

static void jc_neon_bf_packed_f(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const void *Wp, const float *bias,
                            int M, int K, int n0, int n1, float *ws)
{
    jc_neon_bf_drive(Y, ldy, Xb, ldxb, (const uint32_t *)Wp, NULL, bias, M, K, n0, n1, ws, jc_neon_bf_tile_f);
}

static void jc_neon_bf16_row(uint16_t *y, const float *x, int n)
{
    const uint32x4_t ex = vdupq_n_u32(0x7F800000u), ab = vdupq_n_u32(0x7FFFFFFFu);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(x + i));
        uint32x4_t r = vaddq_u32(u, vaddq_u32(vdupq_n_u32(0x7FFF), vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1))));
        uint32x4_t nan = vcgtq_u32(vandq_u32(u, ab), ex);
        uint32x4_t den = vceqq_u32(vandq_u32(u, ex), vdupq_n_u32(0));
        r = vbslq_u32(nan, vorrq_u32(u, vdupq_n_u32(0x00400000u)), r);
        r = vbslq_u32(den, vandq_u32(u, vdupq_n_u32(0x80000000u)), r);
        vst1_u16(y + i, vshrn_n_u32(r, 16));
    }
    for (; i < n; i++) y[i] = jc_bf16_from_f32(x[i]);
}

/* q8 */

typedef void (*jc_neon_q8_tile_fn)(int mr, int S, int b0, int bc, const uint8_t *x, size_t rb, int K, const uint8_t *bp,
                               float *C, size_t ldc, int nv, const float *bias, int first, int last);

static inline void jc_neonq_fold(float32x4_t c[4], int32x4_t ia[4], float d, const uint8_t *bp)
{
    const float *sw = (const float *)(const void *)(bp + 32 * JC_NEONQ_NR);
    for (int j = 0; j < 4; j++) c[j] = vfmaq_f32(c[j], vcvtq_f32_s32(ia[j]), vmulq_n_f32(vld1q_f32(sw + 4 * j), d));
}

JC_NEON_DOT static void jc_neon_q8_tile_x(int mr, int S, int b0, int bc, const uint8_t *x, size_t rb, int K, const uint8_t *bp,
                                  float *C, size_t ldc, int nv, const float *bias, int first, int last)
{
    const int8_t *q[2];
    const float *d[2];
    for (int i = 0; i < 2; i++) {
        q[i] = (const int8_t *)(x + (size_t)(i < mr ? i : 0) * rb);
        d[i] = (const float *)(const void *)(q[i] + K);
    }
    float32x4_t c[2][4];
    jc_neonq_load(c, mr, C, ldc, nv, first);
    for (int b = b0; b < b0 + bc; b += S) {
        int32x4_t ia[2][4];
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < 4; j++) ia[i][j] = vdupq_n_s32(0);
        for (int e = 0; e < S; e++) {
            const int8_t *be = (const int8_t *)bp + (size_t)e * JC_NEONQ_QB;
            int8x16_t xv[2][2];
            for (int i = 0; i < mr; i++) {
                xv[i][0] = vld1q_s8(q[i] + 32 * (b + e));
                xv[i][1] = vld1q_s8(q[i] + 32 * (b + e) + 16);
            }
#define JC_NEON_DOT_STEP(g)                                                                              \
    do {                                                                                             \
        const int8_t *w = be + 64 * (g);                                                             \
        int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16), w2 = vld1q_s8(w + 32), w3 = vld1q_s8(w + 48); \
        for (int i = 0; i < mr; i++) {                                                               \
            ia[i][0] = vdotq_laneq_s32(ia[i][0], w0, xv[i][(g) / 4], (g) % 4);                        \
            ia[i][1] = vdotq_laneq_s32(ia[i][1], w1, xv[i][(g) / 4], (g) % 4);                        \
            ia[i][2] = vdotq_laneq_s32(ia[i][2], w2, xv[i][(g) / 4], (g) % 4);                        \
            ia[i][3] = vdotq_laneq_s32(ia[i][3], w3, xv[i][(g) / 4], (g) % 4);                        \
        }                                                                                            \
    } while (0)
            JC_NEON_DOT_STEP(0);
            JC_NEON_DOT_STEP(1);
            JC_NEON_DOT_STEP(2);
            JC_NEON_DOT_STEP(3);
            JC_NEON_DOT_STEP(4);
            JC_NEON_DOT_STEP(5);
            JC_NEON_DOT_STEP(6);
            JC_NEON_DOT_STEP(7);
#undef JC_NEON_DOT_STEP
        }
        for (int i = 0; i < mr; i++) jc_neonq_fold(c[i], ia[i], d[i][b], bp);
        bp += (size_t)S * JC_NEONQ_QB;
    }
    jc_neonq_store(c, mr, C, ldc, nv, bias, last);
}

static void jc_neon_q8_tile_f(int mr, int S, int b0, int bc, const uint8_t *x, size_t rb, int K, const uint8_t *bp, float *C,
                          size_t ldc, int nv, const float *bias, int first, int last)
{
    (void)mr; /* one row per tile */
    const int8_t *q = (const int8_t *)x;
    const float *d = (const float *)(const void *)(q + K);
    (void)rb;
    float32x4_t c[1][4];
    jc_neonq_load(c, 1, C, ldc, nv, first);
    for (int b = b0; b < b0 + bc; b += S) {
        int32x4_t lo[4], hi[4];
        for (int j = 0; j < 4; j++) lo[j] = hi[j] = vdupq_n_s32(0);
        for (int e = 0; e < S; e++) {
            const int8_t *be = (const int8_t *)bp + (size_t)e * JC_NEONQ_QB;
            for (int g = 0; g < 8; g++) {
                int8x8_t xd = vreinterpret_s8_u32(vdup_n_u32(jc_neon_ld32(q + 32 * (b + e) + 4 * g)));
                for (int j = 0; j < 4; j++) {
                    int8x16_t w = vld1q_s8(be + 64 * g + 16 * j);
                    lo[j] = vpadalq_s16(lo[j], vmull_s8(vget_low_s8(w), xd));
                    hi[j] = vpadalq_s16(hi[j], vmull_s8(vget_high_s8(w), xd));
                }
            }
        }
        int32x4_t ia[4];
        for (int j = 0; j < 4; j++) ia[j] = vpaddq_s32(lo[j], hi[j]);
        jc_neonq_fold(c[0], ia, d[b], bp);
        bp += (size_t)S * JC_NEONQ_QB;
    }
    jc_neonq_store(c, 1, C, ldc, nv, bias, last);
}

static size_t jc_neon_q8_ws(int M, int K)
{
    (void)M, (void)K;
    return (size_t)JC_NEONQ_KCB * JC_NEONQ_QB / 4 + 16;
}

static void jc_neon_q8_drive(float *Y, size_t ldy, const void *Xq, const uint8_t *Wp, const int8_t *Wq, const float *Sw,
                         const float *bias, int M, int K, int S, int n0, int n1, float *ws, jc_neon_q8_tile_fn tile, int MR)
{
    const int B = K / 32;
    const size_t rb = jc_q8_row_bytes(K);
    uint8_t *buf = (uint8_t *)(void *)jc_align64(ws);
    for (int m0 = 0; m0 < M; m0 += JC_NEONQ_MC) {
        int mc = M - m0 < JC_NEONQ_MC ? M - m0 : JC_NEONQ_MC;
        for (int b0 = 0; b0 < B; b0 += JC_NEONQ_KCB) {
            int bc = B - b0 < JC_NEONQ_KCB ? B - b0 : JC_NEONQ_KCB;
            for (int n = n0; n < n1; n += JC_NEONQ_NR) {
                int nv = n1 - n < JC_NEONQ_NR ? n1 - n : JC_NEONQ_NR;
                const uint8_t *bp = buf;
                if (Wp)
                    bp = Wp + ((size_t)(n / JC_NEONQ_NR) * B + b0) * JC_NEONQ_QB;
                else
                    jc_pack_q8_blk(buf, Wq, Sw, K, n, n1, b0, bc, JC_NEONQ_NR, 4, 0);
                for (int m = 0; m < mc; m += MR)
                    tile(mc - m < MR ? mc - m : MR, S, b0, bc, (const uint8_t *)Xq + (size_t)(m0 + m) * rb, rb, K, bp,
                         Y + (size_t)(m0 + m) * ldy + n, ldy, nv, bias ? bias + n : NULL, b0 == 0, b0 + bc == B);
            }
        }
    }
}

static size_t jc_neon_q8_pack_size(int N, int K) { return jc_pack_q8_size_nr(N, K, JC_NEONQ_NR); }

static void jc_neon_q8_pack(void *Wp, const int8_t *Wq, const float *Sw, int N, int K, int s0, int s1)
{
    jc_pack_q8_nr(Wp, Wq, Sw, N, K, s0, s1, JC_NEONQ_NR, 4, 0);
}

static void jc_neon_q8_linear_x(float *Y, size_t ldy, const void *Xq, const int8_t *Wq, const float *Sw, const float *bias,
                            int M, int K, int S, int n0, int n1, float *ws)
{
    jc_neon_q8_drive(Y, ldy, Xq, NULL, Wq, Sw, bias, M, K, S, n0, n1, ws, jc_neon_q8_tile_x, 2);
}

static void jc_neon_q8_packed_x(float *Y, size_t ldy, const void *Xq, const void *Wp, const float *bias, int M, int K,
                            int S, int n0, int n1, float *ws)
{
    jc_neon_q8_drive(Y, ldy, Xq, (const uint8_t *)Wp, NULL, NULL, bias, M, K, S, n0, n1, ws, jc_neon_q8_tile_x, 2);
}

static void jc_neon_q8_linear_f(float *Y, size_t ldy, const void *Xq, const int8_t *Wq, const float *Sw, const float *bias,
                            int M, int K, int S, int n0, int n1, float *ws)
{
    jc_neon_q8_drive(Y, ldy, Xq, NULL, Wq, Sw, bias, M, K, S, n0, n1, ws, jc_neon_q8_tile_f, 1);
}

static void jc_neon_q8_packed_f(float *Y, size_t ldy, const void *Xq, const void *Wp, const float *bias, int M, int K,
                            int S, int n0, int n1, float *ws)
{
    jc_neon_q8_drive(Y, ldy, Xq, (const uint8_t *)Wp, NULL, NULL, bias, M, K, S, n0, n1, ws, jc_neon_q8_tile_f, 1);
}

static void jc_neon_q8_row(void *xq, const float *x, int K, int S)
{
    int8_t *q = (int8_t *)xq;
    float *d = (float *)(void *)(q + K);
    int32_t *s = (int32_t *)(void *)(d + K / 32);
    for (int c = 0; c < K / 32; c += S) {
        float32x4_t m = vdupq_n_f32(0);
        for (int h = 0; h < 8 * S; h++) {
            float32x4_t a = vabsq_f32(vld1q_f32(x + 32 * c + 4 * h));
            m = vmaxq_f32(vbslq_f32(vceqq_f32(a, a), a, vdupq_n_f32(0)), m); /* NaNs (signalling too) ignored */
        }
        float amax = vmaxvq_f32(m);
        float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (int b = c; b < c + S; b++) {
            d[b] = amax / 127.0f;
            int32x4_t sum = vdupq_n_s32(0);
            int16x8_t h16[4];
            for (int h = 0; h < 8; h += 2) {
                int32x4_t r[2];
                for (int e = 0; e < 2; e++) {
                    float32x4_t u = vmulq_n_f32(vld1q_f32(x + 32 * b + 4 * (h + e)), id);
                    u = vbslq_f32(vceqq_f32(u, u), u, vdupq_n_f32(0)); /* NaN -> 0 */
                    u = vmaxq_f32(vminq_f32(u, vdupq_n_f32(127.0f)), vdupq_n_f32(-127.0f));
                    r[e] = vcvtnq_s32_f32(u); /* nearest even */
                    sum = vaddq_s32(sum, r[e]);
                }
                h16[h / 2] = vcombine_s16(vmovn_s32(r[0]), vmovn_s32(r[1]));
            }
            vst1q_s8(q + 32 * b, vcombine_s8(vmovn_s16(h16[0]), vmovn_s16(h16[1])));
            vst1q_s8(q + 32 * b + 16, vcombine_s8(vmovn_s16(h16[2]), vmovn_s16(h16[3])));
            s[b] = -128 * vaddvq_s32(sum);
        }
    }
}

#define JC_NEON_TABLE(var, variant, bf_lin, bf_pk, q8_lin, q8_pk) \
    static const jc_ops var = {                                \
        "neon",                                                \
        16,                                                    \
        jc_neon_linear_ws,                                         \
        jc_neon_linear,                                            \
        NULL, /* fp32 weights read in place */                 \
        NULL,                                                  \
        NULL,                                                  \
        jc_neon_layernorm,                                         \
        jc_scalar_attention_ws,                                \
        jc_scalar_attention,                                   \
        NULL,                                                  \
        jc_neon_geglu,                                             \
        jc_neon_swiglu,                                            \
        jc_neon_quick_gelu,                                        \
        jc_neon_add,                                               \
        variant,                                               \
        jc_neon_bf16_row,                                          \
        jc_neon_bf_ws,                                             \
        bf_lin,                                                \
        jc_neon_bf_pack_size,                                      \
        jc_neon_bf_pack,                                           \
        bf_pk,                                                 \
        jc_neon_q8_row,                                            \
        jc_neon_q8_ws,                                             \
        q8_lin,                                                \
        jc_neon_q8_pack_size,                                      \
        jc_neon_q8_pack,                                           \
        q8_pk,                                                 \
    }

/* The four NEON tables (kernels/cpu.c picks by HWCAP; JCLIP_NO_BF16 / JCLIP_NO_VNNI force the
 * fallbacks), all named "neon". */
JC_NEON_TABLE(jc_neon_ops, "bf16 bfdot, q8 sdot", jc_neon_bf_linear_x, jc_neon_bf_packed_x, jc_neon_q8_linear_x, jc_neon_q8_packed_x);
JC_NEON_TABLE(jc_neon_nobf16_ops, "bf16 widened+fma, q8 sdot", jc_neon_bf_linear_f, jc_neon_bf_packed_f, jc_neon_q8_linear_x,
          jc_neon_q8_packed_x);
JC_NEON_TABLE(jc_neon_nodot_ops, "bf16 bfdot, q8 smull", jc_neon_bf_linear_x, jc_neon_bf_packed_x, jc_neon_q8_linear_f,
          jc_neon_q8_packed_f);
JC_NEON_TABLE(jc_neon_plain_ops, "bf16 widened+fma, q8 smull", jc_neon_bf_linear_f, jc_neon_bf_packed_f, jc_neon_q8_linear_f,
          jc_neon_q8_packed_f);

#endif /* __aarch64__ */

/* ============================================================================================
 * WebP lossy (VP8) decoder stages (scalar twins: image/vp8.c, jc_vp8_scalar_ops). The same
 * arithmetic as the AVX2 section of kernels/avx2.c (see there why the saturating byte steps
 * equal the scalar clips); NEON has the signed byte shifts and the RGB store built in.
 * ========================================================================================== */
#if defined(__aarch64__)

#define JC_NEON_S8(x) vreinterpretq_s8_u8(veorq_u8((x), vdupq_n_u8(0x80)))
#define JC_NEON_U8(x) veorq_u8(vreinterpretq_u8_s8(x), vdupq_n_u8(0x80))

/* 0xff where 2 |p0 - q0| + (|p1 - q1| >> 1) <= t (t <= 254: the saturation is exact). */
static inline uint8x16_t jc_neon_vp8_needs(uint8x16_t p1, uint8x16_t p0, uint8x16_t q0, uint8x16_t q1, uint8x16_t t)
{
    const uint8x16_t a = vabdq_u8(p0, q0), b = vshrq_n_u8(vabdq_u8(p1, q1), 1);
    return vcleq_u8(vqaddq_u8(vqaddq_u8(a, a), b), t);
}

static inline int8x16_t jc_neon_vp8_base(int8x16_t p1s, int8x16_t p0s, int8x16_t q0s, int8x16_t q1s, int with)
{
    const int8x16_t d = vqsubq_s8(q0s, p0s);
    int8x16_t a = with ? vqsubq_s8(p1s, q1s) : vdupq_n_s8(0);
    a = vqaddq_s8(a, d);
    a = vqaddq_s8(a, d);
    return vqaddq_s8(a, d);
}

static inline int8x16_t jc_neon_vp8_tap(int8x16_t a, int16_t k)
{
    const int16x8_t r = vdupq_n_s16(63);
    const int16x8_t lo = vshrq_n_s16(vmlaq_n_s16(r, vmovl_s8(vget_low_s8(a)), k), 7);
    const int16x8_t hi = vshrq_n_s16(vmlaq_n_s16(r, vmovl_s8(vget_high_s8(a)), k), 7);
    return vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
}

static inline void jc_neon_vp8_simple(uint8x16_t *v, uint8x16_t t)
{
    const uint8x16_t m = jc_neon_vp8_needs(v[0], v[1], v[2], v[3], t);
    const int8x16_t p1s = JC_NEON_S8(v[0]), p0s = JC_NEON_S8(v[1]), q0s = JC_NEON_S8(v[2]), q1s = JC_NEON_S8(v[3]);
    const int8x16_t a = jc_neon_vp8_base(p1s, p0s, q0s, q1s, 1);
    const int8x16_t a1 = vshrq_n_s8(vqaddq_s8(a, vdupq_n_s8(4)), 3), a2 = vshrq_n_s8(vqaddq_s8(a, vdupq_n_s8(3)), 3);
    v[1] = vbslq_u8(m, JC_NEON_U8(vqaddq_s8(p0s, a2)), v[1]);
    v[2] = vbslq_u8(m, JC_NEON_U8(vqsubq_s8(q0s, a1)), v[2]);
}

static inline void jc_neon_vp8_normal(uint8x16_t *v, uint8x16_t t, uint8x16_t it, uint8x16_t hevt, int outer)
{
    uint8x16_t m = jc_neon_vp8_needs(v[2], v[3], v[4], v[5], t);
    const uint8x16_t d_p = vabdq_u8(v[2], v[3]), d_q = vabdq_u8(v[5], v[4]);
    uint8x16_t in = vmaxq_u8(vabdq_u8(v[0], v[1]), vabdq_u8(v[1], v[2]));
    in = vmaxq_u8(in, vmaxq_u8(vabdq_u8(v[7], v[6]), vabdq_u8(v[6], v[5])));
    in = vmaxq_u8(in, vmaxq_u8(d_p, d_q));
    m = vandq_u8(m, vcleq_u8(in, it));
    const uint8x16_t low = vcleq_u8(vmaxq_u8(d_p, d_q), hevt);
    const uint8x16_t mh = vbicq_u8(m, low), mn = vandq_u8(m, low);
    const int8x16_t p2s = JC_NEON_S8(v[1]), p1s = JC_NEON_S8(v[2]), p0s = JC_NEON_S8(v[3]);
    const int8x16_t q0s = JC_NEON_S8(v[4]), q1s = JC_NEON_S8(v[5]), q2s = JC_NEON_S8(v[6]);
    const int8x16_t a = jc_neon_vp8_base(p1s, p0s, q0s, q1s, 1);
    int8x16_t p0 = vbslq_s8(mh, vqaddq_s8(p0s, vshrq_n_s8(vqaddq_s8(a, vdupq_n_s8(3)), 3)), p0s);
    int8x16_t q0 = vbslq_s8(mh, vqsubq_s8(q0s, vshrq_n_s8(vqaddq_s8(a, vdupq_n_s8(4)), 3)), q0s);
    if (outer) {
        const int8x16_t w1 = jc_neon_vp8_tap(a, 27), w2 = jc_neon_vp8_tap(a, 18), w3 = jc_neon_vp8_tap(a, 9);
        v[1] = JC_NEON_U8(vbslq_s8(mn, vqaddq_s8(p2s, w3), p2s));
        v[2] = JC_NEON_U8(vbslq_s8(mn, vqaddq_s8(p1s, w2), p1s));
        p0 = vbslq_s8(mn, vqaddq_s8(p0s, w1), p0);
        q0 = vbslq_s8(mn, vqsubq_s8(q0s, w1), q0);
        v[5] = JC_NEON_U8(vbslq_s8(mn, vqsubq_s8(q1s, w2), q1s));
        v[6] = JC_NEON_U8(vbslq_s8(mn, vqsubq_s8(q2s, w3), q2s));
    } else {
        const int8x16_t b = jc_neon_vp8_base(p1s, p0s, q0s, q1s, 0);
        const int8x16_t b1 = vshrq_n_s8(vqaddq_s8(b, vdupq_n_s8(4)), 3), b2 = vshrq_n_s8(vqaddq_s8(b, vdupq_n_s8(3)), 3);
        const int8x16_t b3 = vshrq_n_s8(vaddq_s8(b1, vdupq_n_s8(1)), 1);
        v[2] = JC_NEON_U8(vbslq_s8(mn, vqaddq_s8(p1s, b3), p1s));
        p0 = vbslq_s8(mn, vqaddq_s8(p0s, b2), p0);
        q0 = vbslq_s8(mn, vqsubq_s8(q0s, b1), q0);
        v[5] = JC_NEON_U8(vbslq_s8(mn, vqsubq_s8(q1s, b3), q1s));
    }
    v[3] = JC_NEON_U8(p0);
    v[4] = JC_NEON_U8(q0);
}

/* 8 x 8 byte transpose in place (rows <-> columns). */
static inline void jc_neon_vp8_tr8(uint8x8_t r[8])
{
    const uint8x8x2_t t01 = vtrn_u8(r[0], r[1]), t23 = vtrn_u8(r[2], r[3]), t45 = vtrn_u8(r[4], r[5]), t67 = vtrn_u8(r[6], r[7]);
    const uint16x4x2_t u02 = vtrn_u16(vreinterpret_u16_u8(t01.val[0]), vreinterpret_u16_u8(t23.val[0]));
    const uint16x4x2_t u13 = vtrn_u16(vreinterpret_u16_u8(t01.val[1]), vreinterpret_u16_u8(t23.val[1]));
    const uint16x4x2_t u46 = vtrn_u16(vreinterpret_u16_u8(t45.val[0]), vreinterpret_u16_u8(t67.val[0]));
    const uint16x4x2_t u57 = vtrn_u16(vreinterpret_u16_u8(t45.val[1]), vreinterpret_u16_u8(t67.val[1]));
    const uint32x2x2_t v04 = vtrn_u32(vreinterpret_u32_u16(u02.val[0]), vreinterpret_u32_u16(u46.val[0]));
    const uint32x2x2_t v26 = vtrn_u32(vreinterpret_u32_u16(u02.val[1]), vreinterpret_u32_u16(u46.val[1]));
    const uint32x2x2_t v15 = vtrn_u32(vreinterpret_u32_u16(u13.val[0]), vreinterpret_u32_u16(u57.val[0]));
    const uint32x2x2_t v37 = vtrn_u32(vreinterpret_u32_u16(u13.val[1]), vreinterpret_u32_u16(u57.val[1]));
    r[0] = vreinterpret_u8_u32(v04.val[0]);
    r[4] = vreinterpret_u8_u32(v04.val[1]);
    r[2] = vreinterpret_u8_u32(v26.val[0]);
    r[6] = vreinterpret_u8_u32(v26.val[1]);
    r[1] = vreinterpret_u8_u32(v15.val[0]);
    r[5] = vreinterpret_u8_u32(v15.val[1]);
    r[3] = vreinterpret_u8_u32(v37.val[0]);
    r[7] = vreinterpret_u8_u32(v37.val[1]);
}

/* 16 rows of 8 bytes (rows 0-7 at a, 8-15 at b) <-> 8 columns of 16. */
static inline void jc_neon_vp8_cols(const uint8_t *a, const uint8_t *b, ptrdiff_t s, uint8x16_t c[8])
{
    uint8x8_t lo[8], hi[8];
    for (int i = 0; i < 8; i++) {
        lo[i] = vld1_u8(a + i * s);
        hi[i] = vld1_u8(b + i * s);
    }
    jc_neon_vp8_tr8(lo);
    jc_neon_vp8_tr8(hi);
    for (int k = 0; k < 8; k++) c[k] = vcombine_u8(lo[k], hi[k]);
}

static inline void jc_neon_vp8_rows(uint8_t *a, uint8_t *b, ptrdiff_t s, const uint8x16_t c[8])
{
    uint8x8_t lo[8], hi[8];
    for (int k = 0; k < 8; k++) {
        lo[k] = vget_low_u8(c[k]);
        hi[k] = vget_high_u8(c[k]);
    }
    jc_neon_vp8_tr8(lo);
    jc_neon_vp8_tr8(hi);
    for (int i = 0; i < 8; i++) {
        vst1_u8(a + i * s, lo[i]);
        vst1_u8(b + i * s, hi[i]);
    }
}

static inline void jc_neon_vp8_simple_v_at(uint8_t *p, ptrdiff_t s, uint8x16_t t)
{
    uint8x16_t v[4] = {vld1q_u8(p - 2 * s), vld1q_u8(p - s), vld1q_u8(p), vld1q_u8(p + s)};
    jc_neon_vp8_simple(v, t);
    vst1q_u8(p - s, v[1]);
    vst1q_u8(p, v[2]);
}

static inline void jc_neon_vp8_simple_h_at(uint8_t *p, ptrdiff_t s, uint8x16_t t)
{
    uint8x16_t c[8];
    jc_neon_vp8_cols(p - 4, p - 4 + 8 * s, s, c);
    jc_neon_vp8_simple(c + 2, t);
    jc_neon_vp8_rows(p - 4, p - 4 + 8 * s, s, c);
}

static void jc_neon_vp8_simple_v16(uint8_t *p, ptrdiff_t s, int t) { jc_neon_vp8_simple_v_at(p, s, vdupq_n_u8((uint8_t)t)); }
static void jc_neon_vp8_simple_h16(uint8_t *p, ptrdiff_t s, int t) { jc_neon_vp8_simple_h_at(p, s, vdupq_n_u8((uint8_t)t)); }
static void jc_neon_vp8_simple_v16i(uint8_t *p, ptrdiff_t s, int t)
{
    for (int k = 4; k < 16; k += 4) jc_neon_vp8_simple_v_at(p + k * s, s, vdupq_n_u8((uint8_t)t));
}
static void jc_neon_vp8_simple_h16i(uint8_t *p, ptrdiff_t s, int t)
{
    for (int k = 4; k < 16; k += 4) jc_neon_vp8_simple_h_at(p + k, s, vdupq_n_u8((uint8_t)t));
}

static inline void jc_neon_vp8_v_at(uint8_t *a, uint8_t *b, ptrdiff_t s, int t, int it, int hev, int outer)
{
    uint8x16_t v[8];
    for (int i = 0; i < 8; i++) v[i] = b ? vcombine_u8(vld1_u8(a + (i - 4) * s), vld1_u8(b + (i - 4) * s)) : vld1q_u8(a + (i - 4) * s);
    jc_neon_vp8_normal(v, vdupq_n_u8((uint8_t)t), vdupq_n_u8((uint8_t)it), vdupq_n_u8((uint8_t)hev), outer);
    for (int i = 1; i < 7; i++) {
        if (b) {
            vst1_u8(a + (i - 4) * s, vget_low_u8(v[i]));
            vst1_u8(b + (i - 4) * s, vget_high_u8(v[i]));
        } else {
            vst1q_u8(a + (i - 4) * s, v[i]);
        }
    }
}

static inline void jc_neon_vp8_h_at(uint8_t *a, uint8_t *b, ptrdiff_t s, int t, int it, int hev, int outer)
{
    uint8x16_t c[8];
    jc_neon_vp8_cols(a - 4, b - 4, s, c);
    jc_neon_vp8_normal(c, vdupq_n_u8((uint8_t)t), vdupq_n_u8((uint8_t)it), vdupq_n_u8((uint8_t)hev), outer);
    jc_neon_vp8_rows(a - 4, b - 4, s, c);
}

static void jc_neon_vp8_v16(uint8_t *p, ptrdiff_t s, int t, int it, int hev) { jc_neon_vp8_v_at(p, NULL, s, t, it, hev, 1); }
static void jc_neon_vp8_h16(uint8_t *p, ptrdiff_t s, int t, int it, int hev) { jc_neon_vp8_h_at(p, p + 8 * s, s, t, it, hev, 1); }
static void jc_neon_vp8_v16i(uint8_t *p, ptrdiff_t s, int t, int it, int hev)
{
    for (int k = 4; k < 16; k += 4) jc_neon_vp8_v_at(p + k * s, NULL, s, t, it, hev, 0);
}
static void jc_neon_vp8_h16i(uint8_t *p, ptrdiff_t s, int t, int it, int hev)
{
    for (int k = 4; k < 16; k += 4) jc_neon_vp8_h_at(p + k, p + k + 8 * s, s, t, it, hev, 0);
}
static void jc_neon_vp8_v8(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev) { jc_neon_vp8_v_at(u, v, s, t, it, hev, 1); }
static void jc_neon_vp8_h8(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev) { jc_neon_vp8_h_at(u, v, s, t, it, hev, 1); }
static void jc_neon_vp8_v8i(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev)
{
    jc_neon_vp8_v_at(u + 4 * s, v + 4 * s, s, t, it, hev, 0);
}
static void jc_neon_vp8_h8i(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev)
{
    jc_neon_vp8_h_at(u + 4, v + 4, s, t, it, hev, 0);
}

/* (x * k) >> 8 of 8 u16 lanes holding values <= 255. */
static inline uint16x8_t jc_neon_vp8_mk(uint16x8_t x, uint16_t k)
{
    return vcombine_u16(vshrn_n_u32(vmull_n_u16(vget_low_u16(x), k), 8), vshrn_n_u32(vmull_n_u16(vget_high_u16(x), k), 8));
}

/* 8 pixels of YUV->RGB (y, u, v in u16 lanes) -> r, g, b bytes. B can pass 32767: unsigned, its
 * subtraction saturating at 0. */
static inline void jc_neon_vp8_yuv8(uint16x8_t y, uint16x8_t u, uint16x8_t v, uint8x8_t *r, uint8x8_t *g, uint8x8_t *b)
{
    const int16x8_t yy = vreinterpretq_s16_u16(jc_neon_vp8_mk(y, 19077));
    const int16x8_t rr = vaddq_s16(vsubq_s16(yy, vdupq_n_s16(14234)), vreinterpretq_s16_u16(jc_neon_vp8_mk(v, 26149)));
    const int16x8_t gg = vsubq_s16(vaddq_s16(yy, vdupq_n_s16(8708)),
                                   vreinterpretq_s16_u16(vaddq_u16(jc_neon_vp8_mk(u, 6419), jc_neon_vp8_mk(v, 13320))));
    const uint16x8_t bb = vqsubq_u16(vaddq_u16(jc_neon_vp8_mk(u, 33050), vreinterpretq_u16_s16(yy)), vdupq_n_u16(17685));
    *r = vqshrun_n_s16(rr, 6);
    *g = vqshrun_n_s16(gg, 6);
    *b = vqmovn_u16(vshrq_n_u16(bb, 6));
}

static inline void jc_neon_vp8_row16(const uint8_t *y, uint16x8_t u_odd, uint16x8_t u_even, uint16x8_t v_odd, uint16x8_t v_even,
                                     uint8_t *out)
{
    const uint16x8x2_t uz = vzipq_u16(u_odd, u_even), vz = vzipq_u16(v_odd, v_even);
    const uint8x16_t yv = vld1q_u8(y);
    uint8x8_t r0, g0, b0, r1, g1, b1;
    jc_neon_vp8_yuv8(vmovl_u8(vget_low_u8(yv)), uz.val[0], vz.val[0], &r0, &g0, &b0);
    jc_neon_vp8_yuv8(vmovl_u8(vget_high_u8(yv)), uz.val[1], vz.val[1], &r1, &g1, &b1);
    uint8x16x3_t o;
    o.val[0] = vcombine_u8(r0, r1);
    o.val[1] = vcombine_u8(g0, g1);
    o.val[2] = vcombine_u8(b0, b1);
    vst3q_u8(out, o);
}

static void jc_neon_vp8_upsample_pair(const uint8_t *top_y, const uint8_t *bot_y, const uint8_t *tu, const uint8_t *tv,
                                      const uint8_t *cu, const uint8_t *cv, uint8_t *td, uint8_t *bd, uint32_t len)
{
    const uint32_t last = (len - 1) >> 1;
    uint32_t x = 1;
    jc_scalar_vp8_up_head(top_y, bot_y, tu, tv, cu, cv, td, bd);
    for (; x + 7 <= last; x += 8) {
        uint16x8_t tl[2], t[2], l[2], c[2], d12[2], d03[2];
        const uint8_t *tp[2] = {tu + x, tv + x}, *cp[2] = {cu + x, cv + x};
        for (int k = 0; k < 2; k++) {
            tl[k] = vmovl_u8(vld1_u8(tp[k] - 1));
            t[k] = vmovl_u8(vld1_u8(tp[k]));
            l[k] = vmovl_u8(vld1_u8(cp[k] - 1));
            c[k] = vmovl_u8(vld1_u8(cp[k]));
            const uint16x8_t avg = vaddq_u16(vaddq_u16(vaddq_u16(tl[k], t[k]), vaddq_u16(l[k], c[k])), vdupq_n_u16(8));
            d12[k] = vshrq_n_u16(vaddq_u16(avg, vshlq_n_u16(vaddq_u16(t[k], l[k]), 1)), 3);
            d03[k] = vshrq_n_u16(vaddq_u16(avg, vshlq_n_u16(vaddq_u16(tl[k], c[k]), 1)), 3);
        }
        jc_neon_vp8_row16(top_y + 2 * x - 1, vshrq_n_u16(vaddq_u16(d12[0], tl[0]), 1), vshrq_n_u16(vaddq_u16(d03[0], t[0]), 1),
                          vshrq_n_u16(vaddq_u16(d12[1], tl[1]), 1), vshrq_n_u16(vaddq_u16(d03[1], t[1]), 1),
                          td + (2 * (size_t)x - 1) * 3);
        if (bot_y)
            jc_neon_vp8_row16(bot_y + 2 * x - 1, vshrq_n_u16(vaddq_u16(d03[0], l[0]), 1), vshrq_n_u16(vaddq_u16(d12[0], c[0]), 1),
                              vshrq_n_u16(vaddq_u16(d03[1], l[1]), 1), vshrq_n_u16(vaddq_u16(d12[1], c[1]), 1),
                              bd + (2 * (size_t)x - 1) * 3);
    }
    jc_scalar_vp8_up_tail(top_y, bot_y, tu, tv, cu, cv, td, bd, x, len); /* the rest as the scalar twin */
}

/* 4 x 4 int32 transpose. */
static inline void jc_neon_vp8_tr4(int32x4_t *a, int32x4_t *b, int32x4_t *c, int32x4_t *d)
{
    const int32x4x2_t ab = vtrnq_s32(*a, *b), cd = vtrnq_s32(*c, *d);
    *a = vcombine_s32(vget_low_s32(ab.val[0]), vget_low_s32(cd.val[0]));
    *b = vcombine_s32(vget_low_s32(ab.val[1]), vget_low_s32(cd.val[1]));
    *c = vcombine_s32(vget_high_s32(ab.val[0]), vget_high_s32(cd.val[0]));
    *d = vcombine_s32(vget_high_s32(ab.val[1]), vget_high_s32(cd.val[1]));
}

static inline void jc_neon_vp8_idct1(int32x4_t x0, int32x4_t x1, int32x4_t x2, int32x4_t x3, int32x4_t *o)
{
    const int32x4_t a = vaddq_s32(x0, x2), b = vsubq_s32(x0, x2);
    const int32x4_t m1x1 = vaddq_s32(vshrq_n_s32(vmulq_n_s32(x1, 20091), 16), x1);
    const int32x4_t m1x3 = vaddq_s32(vshrq_n_s32(vmulq_n_s32(x3, 20091), 16), x3);
    const int32x4_t m2x1 = vshrq_n_s32(vmulq_n_s32(x1, 35468), 16), m2x3 = vshrq_n_s32(vmulq_n_s32(x3, 35468), 16);
    const int32x4_t c = vsubq_s32(m2x1, m1x3), d = vaddq_s32(m1x1, m2x3);
    o[0] = vaddq_s32(a, d);
    o[1] = vaddq_s32(b, c);
    o[2] = vsubq_s32(b, c);
    o[3] = vsubq_s32(a, d);
}

static inline void jc_neon_vp8_add4x4(uint8_t *dst, const int32x4_t *r)
{
    int16x4_t s[4];
    for (int i = 0; i < 4; i++) {
        uint32_t w;
        memcpy(&w, dst + i * JC_VP8_BPS, 4);
        const uint16x8_t px = vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(w)));
        s[i] = vqmovn_s32(vaddq_s32(vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(px))), r[i]));
    }
    const uint8x8_t o01 = vqmovun_s16(vcombine_s16(s[0], s[1])), o23 = vqmovun_s16(vcombine_s16(s[2], s[3]));
    uint32_t w[4] = {vget_lane_u32(vreinterpret_u32_u8(o01), 0), vget_lane_u32(vreinterpret_u32_u8(o01), 1),
                     vget_lane_u32(vreinterpret_u32_u8(o23), 0), vget_lane_u32(vreinterpret_u32_u8(o23), 1)};
    for (int i = 0; i < 4; i++) memcpy(dst + i * JC_VP8_BPS, &w[i], 4);
}

static void jc_neon_vp8_idct(const int16_t *in, uint8_t *dst)
{
    int32x4_t t[4], o[4];
    jc_neon_vp8_idct1(vmovl_s16(vld1_s16(in)), vmovl_s16(vld1_s16(in + 4)), vmovl_s16(vld1_s16(in + 8)), vmovl_s16(vld1_s16(in + 12)), t);
    jc_neon_vp8_tr4(&t[0], &t[1], &t[2], &t[3]);
    jc_neon_vp8_idct1(vaddq_s32(t[0], vdupq_n_s32(4)), t[1], t[2], t[3], o);
    jc_neon_vp8_tr4(&o[0], &o[1], &o[2], &o[3]);
    for (int i = 0; i < 4; i++) o[i] = vshrq_n_s32(o[i], 3);
    jc_neon_vp8_add4x4(dst, o);
}

static void jc_neon_vp8_idct_dc(const int16_t *in, uint8_t *dst)
{
    const int32x4_t v = vdupq_n_s32((in[0] + 4) >> 3);
    const int32x4_t r[4] = {v, v, v, v};
    jc_neon_vp8_add4x4(dst, r);
}
#undef JC_NEON_S8
#undef JC_NEON_U8

static const jc_vp8_ops jc_neon_vp8_ops = {
    "neon",
    jc_neon_vp8_simple_v16, jc_neon_vp8_simple_h16, jc_neon_vp8_simple_v16i, jc_neon_vp8_simple_h16i,
    jc_neon_vp8_v16, jc_neon_vp8_h16, jc_neon_vp8_v16i, jc_neon_vp8_h16i,
    jc_neon_vp8_v8, jc_neon_vp8_h8, jc_neon_vp8_v8i, jc_neon_vp8_h8i,
    jc_neon_vp8_upsample_pair,
    jc_neon_vp8_idct, jc_neon_vp8_idct_dc,
};

#endif /* __aarch64__ */
