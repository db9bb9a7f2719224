/* kernels/avx2.c: AVX2 + FMA kernels for x86-64.
 *
 * Same structure as kernels/avx512.c with 8-float vectors and 16 registers: a 6 x 16
 * micro-kernel (12 ymm accumulators) over packed X panels and a packed 16-wide W sliver,
 * a one-pass streaming dot-product kernel for up to 8 rows, and vector exp/erf for the gates. Compiled
 * in every x86-64 build through target attributes; chosen after cpuid + XGETBV. */
#include "scalar.c"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define JK2 __attribute__((target("avx2,fma")))
#define JK2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

#define JK2_MR 6
#define JK2_NR 16
#define JK2_KC 256
#define JK2_MC 504
#define JK2_DOT_MAX 8

/* Lane mask with the first n of 8 lanes set (n clamped to [0, 8]). */
JK2_INLINE __m256i jk2_mask(int n)
{
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

JK2_INLINE float jk2_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

JK2_INLINE JC_UNUSED float jk2_hmax(__m256 v) /* unused yet: clang flags it in the amalgamation */
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* In-place 8 x 8 transpose. */
JK2_INLINE void jk2_tr8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[c + 4], 0x20);
        r[c + 4] = _mm256_permute2f128_ps(u[c], u[c + 4], 0x31);
    }
}

/* exp(x) as in avx512.c; 2^n is built in the exponent bits, so x is clamped to
 * [-87.3, 88.3] (results below 1.2e-38 are not needed by any caller). */
JK2_INLINE __m256 jk2_exp(__m256 x)
{
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3f)), _mm256_set1_ps(-87.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* erf(x): the same two-branch approximation as jk512_erf. */
JK2_INLINE __m256 jk2_erf(__m256 a)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_andnot_ps(sign, a), s = _mm256_mul_ps(a, a);
    __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(-1.72853470e-5f), t, _mm256_set1_ps(3.83197126e-4f));
    __m256 u = _mm256_fmadd_ps(_mm256_set1_ps(-3.88396438e-3f), t, _mm256_set1_ps(2.42546219e-2f));
    r = _mm256_fmadd_ps(r, s, u);
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-1.06777877e-1f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-6.34846687e-1f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-1.28717512e-1f));
    r = _mm256_fmadd_ps(r, t, _mm256_sub_ps(_mm256_setzero_ps(), t));
    /* exp of r >= -88 only matters above the branch point, where r > -10^2 */
    r = _mm256_sub_ps(_mm256_set1_ps(1.0f), jk2_exp(r));
    r = _mm256_or_ps(r, _mm256_and_ps(a, sign));
    __m256 q = _mm256_set1_ps(-5.96761703e-4f);
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(4.99119423e-3f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-2.67681349e-2f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(1.12819925e-1f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-3.76125336e-1f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(1.28379166e-1f));
    q = _mm256_fmadd_ps(q, a, a);
    return _mm256_blendv_ps(q, r, _mm256_cmp_ps(t, _mm256_set1_ps(0.927734375f), _CMP_GT_OQ));
}

/* ---- GEMM --------------------------------------------------------------------------------- */

/* Ap[p][k][r] = X[m0 + p*MR + r][k0 + k]; rows >= M are zero. */
JK2 static void jk2_pack_a(float *Ap, const float *X, size_t ldx, int m0, int mc, int M, int k0, int kc)
{
    for (int p = 0; p < mc; p += JK2_MR) {
        float *pa = Ap + (size_t)p * kc;
        for (int r = 0; r < JK2_MR; r++) {
            int m = m0 + p + r;
            if (m < M) {
                const float *x = X + (size_t)m * ldx + k0;
                for (int k = 0; k < kc; k++) pa[(size_t)k * JK2_MR + r] = x[k];
            } else {
                for (int k = 0; k < kc; k++) pa[(size_t)k * JK2_MR + r] = 0;
            }
        }
    }
}

/* Bp[k][j] = W[n + j][k0 + k] for j < 16; rows >= N are zero. */
JK2 static void jk2_pack_b(float *Bp, const float *W, int K, int n, int N, int k0, int kc)
{
    for (int jb = 0; jb < JK2_NR; jb += 8) {
        int k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                int row = n + jb + i;
                r[i] = row < N ? _mm256_loadu_ps(W + (size_t)row * K + k0 + k) : _mm256_setzero_ps();
            }
            jk2_tr8(r);
            for (int c = 0; c < 8; c++) _mm256_store_ps(Bp + (size_t)(k + c) * JK2_NR + jb, r[c]);
        }
        for (; k < kc; k++)
            for (int i = 0; i < 8; i++) {
                int row = n + jb + i;
                Bp[(size_t)k * JK2_NR + jb + i] = row < N ? W[(size_t)row * K + k0 + k] : 0.0f;
            }
    }
}

JK2_INLINE void jk2_ukr(const int mr, int kc, const float *ap, const float *bp, float *C, size_t ldc, int nv,
                        const float *bias, int first)
{
    __m256 c[JK2_MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < JK2_MR; i++)
        if (i < mr) c[i][0] = c[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 6
        for (int i = 0; i < JK2_MR; i++)
            if (i < mr) {
                __m256 a = _mm256_broadcast_ss(ap + i);
                c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
                c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
            }
        ap += JK2_MR;
        bp += JK2_NR;
    }
    __m256i mk[2] = {jk2_mask(nv), jk2_mask(nv - 8)};
    __m256 bv[2];
    for (int j = 0; j < 2; j++)
        bv[j] = (first && bias) ? _mm256_maskload_ps(bias + 8 * j, mk[j]) : _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int i = 0; i < JK2_MR; i++)
        if (i < mr) {
            float *row = C + (size_t)i * ldc;
            for (int j = 0; j < 2; j++) {
                __m256 add = first ? bv[j] : _mm256_maskload_ps(row + 8 * j, mk[j]);
                _mm256_maskstore_ps(row + 8 * j, mk[j], _mm256_add_ps(c[i][j], add));
            }
        }
}

JK2 static void jk2_ukr_any(int mr, int kc, const float *ap, const float *bp, float *C, size_t ldc, int nv,
                            const float *bias, int first)
{
    switch (mr) {
    case 6: jk2_ukr(6, kc, ap, bp, C, ldc, nv, bias, first); break;
    case 5: jk2_ukr(5, kc, ap, bp, C, ldc, nv, bias, first); break;
    case 4: jk2_ukr(4, kc, ap, bp, C, ldc, nv, bias, first); break;
    case 3: jk2_ukr(3, kc, ap, bp, C, ldc, nv, bias, first); break;
    case 2: jk2_ukr(2, kc, ap, bp, C, ldc, nv, bias, first); break;
    default: jk2_ukr(1, kc, ap, bp, C, ldc, nv, bias, first); break;
    }
}

/* Short X (M <= JK2_DOT_MAX rows, a short text): memory bound, so W is read in place, once,
 * in blocks of R consecutive rows, while the next block is prefetched to L2 one cache line per
 * row every 16 floats (the pace at which the block is consumed). R depends on the rows so that
 * mr * R accumulators + R W vectors + 1 X vector fit in the 16 ymm registers in one pass:
 *
 *   mr:  1-2  3-4  5-6  7-8
 *   R:    4    2    2    1      (accumulators: <= 8, 8, 12, 8)
 *
 *        k ->  (8 floats per step)
 *   W n+0 [==========]        X m0 [==========]     c[m][j] += X[m] * W[n+j]
 *     ..  (R rows)        x     ..  (mr rows)
 *   prefetch: W[n+R .. n+2R), same pace */
JK2_INLINE void jk2_dotr(const int mr, const int R, float *Y, size_t ldy, const float *X, size_t ldx,
                         const float *w, int K, int nn, const float *bias, const float *pf)
{
    const float *wr[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) wr[j] = w + (size_t)(j < nn ? j : 0) * K;
    __m256 c[8][4];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            if (i < mr && j < R) c[i][j] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        if (pf && (k & 15) == 0) {
            const char *q = (const char *)(pf + (size_t)R * k);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                if (j < R) _mm_prefetch(q + 64 * j, _MM_HINT_T1);
        }
        __m256 b[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            if (j < R) b[j] = _mm256_loadu_ps(wr[j] + k);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            if (i < mr) {
                __m256 a = _mm256_loadu_ps(X + (size_t)i * ldx + k);
                __asm__("" : "+x"(a)); /* one load feeding R FMAs, not R folded loads */
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    if (j < R) c[i][j] = _mm256_fmadd_ps(a, b[j], c[i][j]);
            }
    }
    if (k < K) {
        __m256i km = jk2_mask(K - k);
        __m256 b[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            if (j < R) b[j] = _mm256_maskload_ps(wr[j] + k, km);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            if (i < mr) {
                __m256 a = _mm256_maskload_ps(X + (size_t)i * ldx + k, km);
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    if (j < R) c[i][j] = _mm256_fmadd_ps(a, b[j], c[i][j]);
            }
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        if (i < mr)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                if (j < R && j < nn) Y[(size_t)i * ldy + j] = jk2_hsum(c[i][j]) + (bias ? bias[j] : 0.0f);
}

JK2 static void jk2_linear_dot(float *Y, size_t ldy, const float *X, size_t ldx, const float *W,
                               const float *bias, int M, int K, int n0, int n1)
{
    const int R = M <= 2 ? 4 : M <= 6 ? 2 : 1;
    for (int n = n0; n < n1; n += R) {
        int nn = n1 - n < R ? n1 - n : R;
        const float *w = W + (size_t)n * K;
        const float *pf = n + R < n1 ? w + (size_t)R * K : NULL;
        float *y = Y + n;
        const float *b = bias ? bias + n : NULL;
        switch (M) {
        case 8: jk2_dotr(8, 1, y, ldy, X, ldx, w, K, nn, b, pf); break;
        case 7: jk2_dotr(7, 1, y, ldy, X, ldx, w, K, nn, b, pf); break;
        case 6: jk2_dotr(6, 2, y, ldy, X, ldx, w, K, nn, b, pf); break;
        case 5: jk2_dotr(5, 2, y, ldy, X, ldx, w, K, nn, b, pf); break;
        case 4: jk2_dotr(4, 2, y, ldy, X, ldx, w, K, nn, b, pf); break;
        case 3: jk2_dotr(3, 2, y, ldy, X, ldx, w, K, nn, b, pf); break;
        case 2: jk2_dotr(2, 4, y, ldy, X, ldx, w, K, nn, b, pf); break;
        default: jk2_dotr(1, 4, y, ldy, X, ldx, w, K, nn, b, pf); break;
        }
    }
}

static size_t jk2_linear_ws(int M, int K)
{
    (void)K;
    size_t mc = M < JK2_MC ? (size_t)(M + JK2_MR - 1) / JK2_MR * JK2_MR : JK2_MC;
    return mc * JK2_KC + (size_t)JK2_KC * JK2_NR + 32;
}

JK2 static void jk2_linear(float *Y, size_t ldy, const float *X, size_t ldx, const float *W, const float *bias,
                           int M, int K, int n0, int n1, float *ws)
{
    if (M <= JK2_DOT_MAX) {
        jk2_linear_dot(Y, ldy, X, ldx, W, bias, M, K, n0, n1);
        return;
    }
    float *Bp = jk_align64(ws);
    float *Ap = Bp + (size_t)JK2_KC * JK2_NR;
    for (int m0 = 0; m0 < M; m0 += JK2_MC) {
        int mc = M - m0 < JK2_MC ? M - m0 : JK2_MC;
        for (int k0 = 0; k0 < K; k0 += JK2_KC) {
            int kc = K - k0 < JK2_KC ? K - k0 : JK2_KC;
            jk2_pack_a(Ap, X, ldx, m0, (mc + JK2_MR - 1) / JK2_MR * JK2_MR, M, k0, kc);
            for (int n = n0; n < n1; n += JK2_NR) {
                int nv = n1 - n < JK2_NR ? n1 - n : JK2_NR;
                jk2_pack_b(Bp, W, K, n, n1, k0, kc);
                for (int m = 0; m < mc; m += JK2_MR)
                    jk2_ukr_any(mc - m < JK2_MR ? mc - m : JK2_MR, kc, Ap + (size_t)m * kc, Bp,
                                Y + (size_t)(m0 + m) * ldy + n, ldy, nv, bias ? bias + n : NULL, k0 == 0);
            }
        }
    }
}

/* ---- row operations ----------------------------------------------------------------------- */

JK2 static void jk2_layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps)
{
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) s = _mm256_add_ps(s, _mm256_maskload_ps(x + i, jk2_mask(n - i)));
    float mean = jk2_hsum(s) / (float)n;
    __m256 vm = _mm256_set1_ps(mean), q = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256i k = jk2_mask(n - i);
        __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), vm), _mm256_castsi256_ps(k));
        q = _mm256_fmadd_ps(d, d, q);
    }
    float var = jk2_hsum(q) / (float)n;
    __m256 inv = _mm256_set1_ps(1.0f / sqrtf(var + eps));
    for (int i = 0; i < n; i += 8) {
        __m256i k = jk2_mask(n - i);
        __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), vm), inv);
        _mm256_maskstore_ps(y + i, k, _mm256_fmadd_ps(d, _mm256_maskload_ps(w + i, k), _mm256_maskload_ps(b + i, k)));
    }
}

JK2 static void jk2_geglu(float *u, const float *g, int n)
{
    for (int i = 0; i < n; i += 8) {
        __m256i k = jk2_mask(n - i);
        __m256 z = _mm256_maskload_ps(g + i, k), v = _mm256_maskload_ps(g + n + i, k);
        __m256 e = jk2_erf(_mm256_mul_ps(z, _mm256_set1_ps(0.70710678118654752f)));
        __m256 h = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), z), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_maskstore_ps(u + i, k, _mm256_mul_ps(h, v));
    }
}

JK2 static void jk2_swiglu(float *u, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i += 8) {
        __m256i k = jk2_mask(n - i);
        __m256 z = _mm256_maskload_ps(a + i, k), v = _mm256_maskload_ps(b + i, k);
        __m256 e = jk2_exp(_mm256_sub_ps(_mm256_setzero_ps(), z));
        __m256 s = _mm256_div_ps(z, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_maskstore_ps(u + i, k, _mm256_mul_ps(s, v));
    }
}

JK2 static void jk2_add(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i += 8) {
        __m256i k = jk2_mask(n - i);
        _mm256_maskstore_ps(y + i, k, _mm256_add_ps(_mm256_maskload_ps(y + i, k), _mm256_maskload_ps(x + i, k)));
    }
}

/* ---- attention ---------------------------------------------------------------------------- */

/* Per query: all L scores into ws (8-wide dot products), a vector softmax, then the weighted
 * sum of v rows. Memory is the L-float score row (linear in L). */
static size_t jk2_attention_ws(int L, int d_head, int nq)
{
    (void)d_head, (void)nq;
    return (size_t)L + 8;
}

JK2 static void jk2_attention(float *out, size_t ldo, const float *q, size_t ldq, const float *k, size_t ldk,
                              const float *v, size_t ldv, const uint8_t *valid, int L, int d, int i0, int i1,
                              float scale, float slope, float *ws)
{
    if (d % 8 || d > 256) {
        jk_scalar_attention(out, ldo, q, ldq, k, ldk, v, ldv, valid, L, d, i0, i1, scale, slope, ws);
        return;
    }
    const int nv = d / 8;
    for (int i = i0; i < i1; i++) {
        const float *qi = q + (size_t)i * ldq;
        float mx = -INFINITY;
        for (int j = 0; j < L; j++) {
            if (valid && !valid[j]) { ws[j] = -INFINITY; continue; }
            const float *kj = k + (size_t)j * ldk;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            int c = 0;
            for (; c + 16 <= d; c += 16) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + c), _mm256_loadu_ps(kj + c), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + c + 8), _mm256_loadu_ps(kj + c + 8), a1);
            }
            if (c < d) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + c), _mm256_loadu_ps(kj + c), a0);
            float s = jk2_hsum(_mm256_add_ps(a0, a1)) * scale;
            if (slope != 0.0f) s -= slope * (float)(i > j ? i - j : j - i);
            ws[j] = s;
            if (s > mx) mx = s;
        }
        __m256 vmax = _mm256_set1_ps(mx), sum = _mm256_setzero_ps();
        for (int j = 0; j < L; j += 8) {
            __m256i km = jk2_mask(L - j);
            __m256 s = _mm256_maskload_ps(ws + j, km);
            /* invalid keys hold -inf: exp clamps, so zero them explicitly */
            __m256 ok = _mm256_and_ps(_mm256_castsi256_ps(km), _mm256_cmp_ps(s, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ));
            __m256 e = _mm256_and_ps(jk2_exp(_mm256_sub_ps(s, vmax)), ok);
            _mm256_maskstore_ps(ws + j, km, e);
            sum = _mm256_add_ps(sum, e);
        }
        float inv = 1.0f / jk2_hsum(sum);
        __m256 o[32];
        for (int cb = 0; cb < nv; cb++) o[cb] = _mm256_setzero_ps();
        for (int j = 0; j < L; j++) {
            if (ws[j] == 0.0f) continue;
            __m256 p = _mm256_set1_ps(ws[j]);
            const float *vj = v + (size_t)j * ldv;
            for (int cb = 0; cb < nv; cb++) o[cb] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * cb), o[cb]);
        }
        float *oi = out + (size_t)i * ldo;
        for (int cb = 0; cb < nv; cb++) _mm256_storeu_ps(oi + 8 * cb, _mm256_mul_ps(o[cb], _mm256_set1_ps(inv)));
    }
}

static const jk_ops jk_avx2_ops = {
    "avx2",
    JK2_NR,
    jk2_linear_ws,
    jk2_linear,
    NULL, /* weights read in place */
    NULL,
    NULL,
    jk2_layernorm,
    jk2_attention_ws,
    jk2_attention,
    jk2_geglu,
    jk2_swiglu,
    jk2_add,
};

#endif /* x86-64 */
