/* kernels/avx2.c: AVX2 + FMA kernels for x86-64.
 *
 * Same structure as kernels/avx512.c with 8-float vectors and 16 registers: a 6 x 16
 * micro-kernel (12 ymm accumulators) over X in place and a packed 16-wide W sliver, for every
 * M (a row's outputs are the same bits alone or in any batch), and vector exp/erf for the gates. Compiled
 * in every x86-64 build through target attributes; chosen after cpuid + XGETBV. */
#include "scalar.c"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define JC_AVX2 __attribute__((target("avx2,fma")))
#define JC_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

#define JC_AVX2_MR 6
#define JC_AVX2_NR 16
#define JC_AVX2_KC 256
#define JC_AVX2_MC 504

/* Lane mask with the first n of 8 lanes set (n clamped to [0, 8]). */
JC_AVX2_INLINE __m256i jc_avx2_mask(int n)
{
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

JC_AVX2_INLINE float jc_avx2_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

JC_AVX2_INLINE JC_UNUSED float jc_avx2_hmax(__m256 v) /* unused yet: clang flags it in the amalgamation */
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* In-place 8 x 8 transpose. */
JC_AVX2_INLINE void jc_avx2_tr8(__m256 r[8])
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
JC_AVX2_INLINE __m256 jc_avx2_exp(__m256 x)
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

/* erf(x): the same two-branch approximation as jc_avx512_erf. */
JC_AVX2_INLINE __m256 jc_avx2_erf(__m256 a)
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
    r = _mm256_sub_ps(_mm256_set1_ps(1.0f), jc_avx2_exp(r));
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

/* Bp[k][j] = W[n + j][k0 + k] for j < 16; rows >= N are zero. */
JC_AVX2 static void jc_avx2_pack_b(float *Bp, const float *W, int K, int n, int N, int k0, int kc)
{
    for (int jb = 0; jb < JC_AVX2_NR; jb += 8) {
        int k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                int row = n + jb + i;
                r[i] = row < N ? _mm256_loadu_ps(W + (size_t)row * K + k0 + k) : _mm256_setzero_ps();
            }
            jc_avx2_tr8(r);
            for (int c = 0; c < 8; c++) _mm256_store_ps(Bp + (size_t)(k + c) * JC_AVX2_NR + jb, r[c]);
        }
        for (; k < kc; k++)
            for (int i = 0; i < 8; i++) {
                int row = n + jb + i;
                Bp[(size_t)k * JC_AVX2_NR + jb + i] = row < N ? W[(size_t)row * K + k0 + k] : 0.0f;
            }
    }
}

/* C[i][0..nv) (+)= sum_k x[i * ldx + k] * Bp[k][0..nv) for i < mr; X read in place. */
JC_AVX2_INLINE void jc_avx2_ukr(const int mr, int kc, const float *x, size_t ldx, const float *bp, float *C, size_t ldc,
                        int nv, const float *bias, int first)
{
    const float *xr[JC_AVX2_MR];
#pragma GCC unroll 6
    for (int i = 0; i < JC_AVX2_MR; i++) xr[i] = x + (size_t)(i < mr ? i : 0) * ldx;
    __m256 c[JC_AVX2_MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < JC_AVX2_MR; i++)
        if (i < mr) c[i][0] = c[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 6
        for (int i = 0; i < JC_AVX2_MR; i++)
            if (i < mr) {
                __m256 a = _mm256_broadcast_ss(xr[i] + k);
                c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
                c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
            }
        bp += JC_AVX2_NR;
    }
    __m256i mk[2] = {jc_avx2_mask(nv), jc_avx2_mask(nv - 8)};
    __m256 bv[2];
    for (int j = 0; j < 2; j++)
        bv[j] = (first && bias) ? _mm256_maskload_ps(bias + 8 * j, mk[j]) : _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int i = 0; i < JC_AVX2_MR; i++)
        if (i < mr) {
            float *row = C + (size_t)i * ldc;
            for (int j = 0; j < 2; j++) {
                __m256 add = first ? bv[j] : _mm256_maskload_ps(row + 8 * j, mk[j]);
                _mm256_maskstore_ps(row + 8 * j, mk[j], _mm256_add_ps(c[i][j], add));
            }
        }
}

JC_AVX2 static void jc_avx2_ukr_any(int mr, int kc, const float *x, size_t ldx, const float *bp, float *C, size_t ldc,
                            int nv, const float *bias, int first)
{
    switch (mr) {
    case 6: jc_avx2_ukr(6, kc, x, ldx, bp, C, ldc, nv, bias, first); break;
    case 5: jc_avx2_ukr(5, kc, x, ldx, bp, C, ldc, nv, bias, first); break;
    case 4: jc_avx2_ukr(4, kc, x, ldx, bp, C, ldc, nv, bias, first); break;
    case 3: jc_avx2_ukr(3, kc, x, ldx, bp, C, ldc, nv, bias, first); break;
    case 2: jc_avx2_ukr(2, kc, x, ldx, bp, C, ldc, nv, bias, first); break;
    default: jc_avx2_ukr(1, kc, x, ldx, bp, C, ldc, nv, bias, first); break;
    }
}

static size_t jc_avx2_linear_ws(int M, int K)
{
    (void)M, (void)K;
    return (size_t)JC_AVX2_KC * JC_AVX2_NR + 32;
}

/* The blocked loops of both GEMM forms: Bp_of gives the packed K block of the sliver at
 * column n, from a per-call copy (in place) or from the weights packed at load. */
JC_AVX2_INLINE void jc_avx2_gemm(float *Y, size_t ldy, const float *X, size_t ldx, const float *W, const float *bias, int M,
                         int K, int n0, int n1, float *Bp, int packed)
{
    for (int m0 = 0; m0 < M; m0 += JC_AVX2_MC) {
        int mc = M - m0 < JC_AVX2_MC ? M - m0 : JC_AVX2_MC;
        for (int k0 = 0; k0 < K; k0 += JC_AVX2_KC) {
            int kc = K - k0 < JC_AVX2_KC ? K - k0 : JC_AVX2_KC;
            for (int n = n0; n < n1; n += JC_AVX2_NR) {
                int nv = n1 - n < JC_AVX2_NR ? n1 - n : JC_AVX2_NR;
                const float *bp = Bp;
                if (packed)
                    bp = W + (size_t)(n / JC_AVX2_NR) * JC_AVX2_NR * K + (size_t)k0 * JC_AVX2_NR;
                else
                    jc_avx2_pack_b(Bp, W, K, n, n1, k0, kc);
                for (int m = 0; m < mc; m += JC_AVX2_MR)
                    jc_avx2_ukr_any(mc - m < JC_AVX2_MR ? mc - m : JC_AVX2_MR, kc, X + (size_t)(m0 + m) * ldx + k0, ldx, bp,
                                Y + (size_t)(m0 + m) * ldy + n, ldy, nv, bias ? bias + n : NULL, k0 == 0);
            }
        }
    }
}

JC_AVX2 static void jc_avx2_linear(float *Y, size_t ldy, const float *X, size_t ldx, const float *W, const float *bias,
                           int M, int K, int n0, int n1, float *ws)
{
    jc_avx2_gemm(Y, ldy, X, ldx, W, bias, M, K, n0, n1, jc_align64(ws), 0);
}

/* Packed weights (see kernels.h): [ceil(N/16)][K][16], each sliver laid out as pack_b lays out
 * one K block, so the GEMM reads its K blocks in place; results equal jc_avx2_linear's bit for bit. */
static size_t jc_avx2_pack_size(int N, int K)
{
    return (size_t)((N + JC_AVX2_NR - 1) / JC_AVX2_NR) * JC_AVX2_NR * (size_t)K;
}

JC_AVX2 static void jc_avx2_pack(float *Wp, const float *W, int N, int K, int s0, int s1)
{
    for (int s = s0; s < s1; s++) jc_avx2_pack_b(Wp + (size_t)s * JC_AVX2_NR * K, W, K, s * JC_AVX2_NR, N, 0, K);
}

JC_AVX2 static void jc_avx2_linear_packed(float *Y, size_t ldy, const float *X, size_t ldx, const float *Wp,
                                  const float *bias, int M, int K, int n0, int n1, float *ws)
{
    (void)ws;
    jc_avx2_gemm(Y, ldy, X, ldx, Wp, bias, M, K, n0, n1, NULL, 1);
}

/* ---- row operations ----------------------------------------------------------------------- */

JC_AVX2 static void jc_avx2_layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps)
{
    /* four independent sums per pass, as AVX-512 (one dependent chain was latency-bound) */
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int i = 0;
    for (; i + 32 <= n; i += 32)
        for (int u = 0; u < 4; u++) s[u] = _mm256_add_ps(s[u], _mm256_loadu_ps(x + i + 8 * u));
    for (int u = 0; i < n; i += 8, u++) s[u] = _mm256_add_ps(s[u], _mm256_maskload_ps(x + i, jc_avx2_mask(n - i)));
    float mean = jc_avx2_hsum(_mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]))) / (float)n;
    __m256 vm = _mm256_set1_ps(mean), q[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (i = 0; i + 32 <= n; i += 32)
        for (int u = 0; u < 4; u++) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8 * u), vm);
            q[u] = _mm256_fmadd_ps(d, d, q[u]);
        }
    for (int u = 0; i < n; i += 8, u++) {
        __m256i k = jc_avx2_mask(n - i);
        __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), vm), _mm256_castsi256_ps(k));
        q[u] = _mm256_fmadd_ps(d, d, q[u]);
    }
    float var = jc_avx2_hsum(_mm256_add_ps(_mm256_add_ps(q[0], q[1]), _mm256_add_ps(q[2], q[3]))) / (float)n;
    __m256 inv = _mm256_set1_ps(1.0f / sqrtf(var + eps));
    for (i = 0; i < n; i += 8) {
        __m256i k = jc_avx2_mask(n - i);
        __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), vm), inv);
        _mm256_maskstore_ps(y + i, k, _mm256_fmadd_ps(d, _mm256_maskload_ps(w + i, k), _mm256_maskload_ps(b + i, k)));
    }
}

JC_AVX2 static void jc_avx2_geglu(float *u, const float *g, int n)
{
    for (int i = 0; i < n; i += 8) {
        __m256i k = jc_avx2_mask(n - i);
        __m256 z = _mm256_maskload_ps(g + i, k), v = _mm256_maskload_ps(g + n + i, k);
        __m256 e = jc_avx2_erf(_mm256_mul_ps(z, _mm256_set1_ps(0.70710678118654752f)));
        __m256 h = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), z), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_maskstore_ps(u + i, k, _mm256_mul_ps(h, v));
    }
}

/* SiLU(z) * v = z / (1 + e^-z) * v. */
JC_AVX2_INLINE __m256 jc_avx2_silu_mul(__m256 z, __m256 v)
{
    __m256 e = jc_avx2_exp(_mm256_sub_ps(_mm256_setzero_ps(), z));
    return _mm256_mul_ps(_mm256_div_ps(z, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), v);
}

JC_AVX2 static void jc_avx2_swiglu(float *u, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i += 8) {
        __m256i k = jc_avx2_mask(n - i);
        _mm256_maskstore_ps(u + i, k, jc_avx2_silu_mul(_mm256_maskload_ps(a + i, k), _mm256_maskload_ps(b + i, k)));
    }
}

/* QuickGELU in place: silu_mul(1.702f * y, 1 / 1.702f). */
JC_AVX2 static void jc_avx2_quick_gelu(float *y, int n)
{
    for (int i = 0; i < n; i += 8) {
        __m256i k = jc_avx2_mask(n - i);
        __m256 z = _mm256_mul_ps(_mm256_maskload_ps(y + i, k), _mm256_set1_ps(1.702f));
        _mm256_maskstore_ps(y + i, k, jc_avx2_silu_mul(z, _mm256_set1_ps(1.0f / 1.702f)));
    }
}

JC_AVX2 static void jc_avx2_add(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i += 8) {
        __m256i k = jc_avx2_mask(n - i);
        _mm256_maskstore_ps(y + i, k, _mm256_add_ps(_mm256_maskload_ps(y + i, k), _mm256_maskload_ps(x + i, k)));
    }
}

/* ---- attention ---------------------------------------------------------------------------- */

/* Per query: all L scores into ws (8-wide dot products), a vector softmax, then the weighted
 * sum of v rows. Memory is the L-float score row (linear in L). */
static size_t jc_avx2_attention_ws(int L, int d_head, int nq)
{
    (void)d_head, (void)nq;
    return (size_t)L + 8;
}

JC_AVX2 static void jc_avx2_attention(float *out, size_t ldo, const float *q, size_t ldq, const float *k, size_t ldk,
                              const float *v, size_t ldv, const uint8_t *valid, int L, int d, int i0, int i1,
                              float scale, float slope, int causal, float *ws)
{
    if (d % 8 || d > 256) {
        jc_scalar_attention(out, ldo, q, ldq, k, ldk, v, ldv, valid, L, d, i0, i1, scale, slope, causal, ws);
        return;
    }
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* FTZ + DAZ: subnormal probabilities of far ALiBi keys, as AVX-512 */
    const int nv = d / 8;
    for (int i = i0; i < i1; i++) {
        const float *qi = q + (size_t)i * ldq;
        if (causal) L = i + 1; /* exactly the call for this query alone */
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
            float s = jc_avx2_hsum(_mm256_add_ps(a0, a1)) * scale;
            if (slope != 0.0f) s -= slope * (float)(i > j ? i - j : j - i);
            ws[j] = s;
            if (s > mx) mx = s;
        }
        __m256 vmax = _mm256_set1_ps(mx), sum = _mm256_setzero_ps();
        for (int j = 0; j < L; j += 8) {
            __m256i km = jc_avx2_mask(L - j);
            __m256 s = _mm256_maskload_ps(ws + j, km);
            /* invalid keys hold -inf: exp clamps, so zero them explicitly */
            __m256 ok = _mm256_and_ps(_mm256_castsi256_ps(km), _mm256_cmp_ps(s, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ));
            __m256 e = _mm256_and_ps(jc_avx2_exp(_mm256_sub_ps(s, vmax)), ok);
            _mm256_maskstore_ps(ws + j, km, e);
            sum = _mm256_add_ps(sum, e);
        }
        float inv = 1.0f / jc_avx2_hsum(sum);
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
    _mm_setcsr(csr);
}

/* ---- bf16 and q8 linear layers (contract in kernels.h; structure as in kernels/avx512.c) ----
 *
 *   bf16: 4 x 16 tile on packed slivers of 16 columns (k pairs interleaved); the pair is split
 *         into odd/even fp32 halves (and / shift) and accumulated with two FMAs in vdpbf16ps'
 *         order under MXCSR DAZ + FTZ, so the bits equal the scalar reference and AVX-512.
 *   q8:   3 x 16 tile; weights packed as pairs (16 pairs x 16 columns x 2 bytes per block),
 *         sign-extended to 16 bits, vpmaddwd with the activation pair: no vpmaddubsw, so no
 *         saturation: each lane adds two products of magnitude <= 128 * 128, and a scale block
 *         (16 S such lanes, S <= 4) stays below 2^22. Then acc = fma(float(isum), d * sw, acc). */
#define JC_AVX2Q_MC 252
#define JC_AVX2Q_KCP 512
#define JC_AVX2Q_KCB 32
#define JC_AVX2Q_QB (36 * JC_AVX2_NR)

static JC_UNUSED uint32_t jc_avx2_ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

JC_AVX2_INLINE void jc_avx2q_load(__m256 c[][2], int mr, const float *C, size_t ldc, int nv, int first)
{
    __m256i m0 = jc_avx2_mask(nv), m1 = jc_avx2_mask(nv - 8);
    for (int i = 0; i < mr; i++) {
        c[i][0] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(C + (size_t)i * ldc, m0);
        c[i][1] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(C + (size_t)i * ldc + 8, m1);
    }
}

JC_AVX2_INLINE void jc_avx2q_store(__m256 c[][2], int mr, float *C, size_t ldc, int nv, const float *bias, int last)
{
    __m256i mk[2] = {jc_avx2_mask(nv), jc_avx2_mask(nv - 8)};
    for (int j = 0; j < 2; j++) {
        __m256 bv = last && bias ? _mm256_maskload_ps(bias + 8 * j, mk[j]) : _mm256_setzero_ps();
        for (int i = 0; i < mr; i++)
            _mm256_maskstore_ps(C + (size_t)i * ldc + 8 * j, mk[j], last && bias ? _mm256_add_ps(c[i][j], bv) : c[i][j]);
    }
}

JC_AVX2_INLINE void jc_avx2_bf_ukr(const int mr, int pc, const uint16_t *x, size_t ldx, const uint32_t *bp, float *C,
                           size_t ldc, int nv, const float *bias, int first, int last)
{
    const uint16_t *xr[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) xr[i] = x + (size_t)(i < mr ? i : 0) * ldx;
    __m256 c[4][2];
    jc_avx2q_load(c, mr, C, ldc, nv, first);
    const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u);
    for (int p = 0; p < pc; p++) {
        __m256i b0 = _mm256_load_si256((const __m256i *)(const void *)bp), b1 = _mm256_load_si256((const __m256i *)(const void *)(bp + 8));
        __m256 wo0 = _mm256_castsi256_ps(_mm256_and_si256(b0, hi)), we0 = _mm256_castsi256_ps(_mm256_slli_epi32(b0, 16));
        __m256 wo1 = _mm256_castsi256_ps(_mm256_and_si256(b1, hi)), we1 = _mm256_castsi256_ps(_mm256_slli_epi32(b1, 16));
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            if (i < mr) {
                uint32_t v = jc_avx2_ld32(xr[i] + 2 * p);
                __m256 ao = _mm256_castsi256_ps(_mm256_set1_epi32((int)(v & 0xFFFF0000u)));
                __m256 ae = _mm256_castsi256_ps(_mm256_set1_epi32((int)(v << 16)));
                c[i][0] = _mm256_fmadd_ps(ae, we0, _mm256_fmadd_ps(ao, wo0, c[i][0]));
                c[i][1] = _mm256_fmadd_ps(ae, we1, _mm256_fmadd_ps(ao, wo1, c[i][1]));
            }
        bp += JC_AVX2_NR;
    }
    jc_avx2q_store(c, mr, C, ldc, nv, bias, last);
}

JC_AVX2 static void jc_avx2_bf_tile(int mr, int pc, const uint16_t *x, size_t ldx, const uint32_t *bp, float *C, size_t ldc,
                            int nv, const float *bias, int first, int last)
{
    switch (mr) {
    case 4: jc_avx2_bf_ukr(4, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 3: jc_avx2_bf_ukr(3, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 2: jc_avx2_bf_ukr(2, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    default: jc_avx2_bf_ukr(1, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    }
}

static size_t jc_avx2_bf_ws(int M, int K)
{
    (void)M, (void)K;
    return (size_t)JC_AVX2Q_KCP * JC_AVX2_NR + 16;
}

JC_AVX2 static void jc_avx2_bf_drive(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const uint32_t *Wp,
                             const uint16_t *Wb, const float *bias, int M, int K, int n0, int n1, float *ws)
{
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* FTZ + DAZ: vdpbf16ps' rules */
    const int P = K / 2;
    uint32_t *buf = (uint32_t *)(void *)jc_align64(ws);
    for (int m0 = 0; m0 < M; m0 += JC_AVX2Q_MC) {
        int mc = M - m0 < JC_AVX2Q_MC ? M - m0 : JC_AVX2Q_MC;
        for (int p0 = 0; p0 < P; p0 += JC_AVX2Q_KCP) {
            int pc = P - p0 < JC_AVX2Q_KCP ? P - p0 : JC_AVX2Q_KCP;
            for (int n = n0; n < n1; n += JC_AVX2_NR) {
                int nv = n1 - n < JC_AVX2_NR ? n1 - n : JC_AVX2_NR;
                const uint32_t *bp = buf;
                if (Wp)
                    bp = Wp + (size_t)(n / JC_AVX2_NR) * JC_AVX2_NR * P + (size_t)p0 * JC_AVX2_NR;
                else
                    jc_pack_bf16_blk(buf, Wb, K, n, n1, p0, pc, JC_AVX2_NR);
                for (int m = 0; m < mc; m += 4)
                    jc_avx2_bf_tile(mc - m < 4 ? mc - m : 4, pc, Xb + (size_t)(m0 + m) * ldxb + 2 * p0, ldxb, bp,
                                Y + (size_t)(m0 + m) * ldy + n, ldy, nv, bias ? bias + n : NULL, p0 == 0, p0 + pc == P);
            }
        }
    }
    _mm_setcsr(csr);
}

static size_t jc_avx2_bf_pack_size(int N, int K) { return jc_pack_bf16_size_nr(N, K, JC_AVX2_NR); }

static void jc_avx2_bf_pack(void *Wp, const uint16_t *Wb, int N, int K, int s0, int s1)
{
    jc_pack_bf16_nr(Wp, Wb, N, K, s0, s1, JC_AVX2_NR);
}

JC_AVX2 static void jc_avx2_bf_linear(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const uint16_t *Wb,
                              const float *bias, int M, int K, int n0, int n1, float *ws)
{
    jc_avx2_bf_drive(Y, ldy, Xb, ldxb, NULL, Wb, bias, M, K, n0, n1, ws);
}

JC_AVX2 static void jc_avx2_bf_packed(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const void *Wp, const float *bias,
                              int M, int K, int n0, int n1, float *ws)
{
    jc_avx2_bf_drive(Y, ldy, Xb, ldxb, (const uint32_t *)Wp, NULL, bias, M, K, n0, n1, ws);
}

JC_AVX2 static void jc_avx2_bf16_row(uint16_t *y, const float *x, int n)
{
    const __m256i ex = _mm256_set1_epi32(0x7F800000), ab = _mm256_set1_epi32(0x7FFFFFFF);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(const void *)(x + i));
        __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF),
                                                         _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1))));
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, ab), ex);
        __m256i den = _mm256_cmpeq_epi32(_mm256_and_si256(u, ex), _mm256_setzero_si256());
        r = _mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x00400000)), nan);
        r = _mm256_blendv_epi8(r, _mm256_and_si256(u, _mm256_set1_epi32((int)0x80000000u)), den);
        r = _mm256_srli_epi32(r, 16);
        __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128((__m128i *)(void *)(y + i), p);
    }
    for (; i < n; i++) y[i] = jc_bf16_from_f32(x[i]);
}

/* q8 */

JC_AVX2_INLINE void jc_avx2_q8_ukr(const int mr, int S, int b0, int bc, const uint8_t *x, size_t rb, int K, const uint8_t *bp,
                           float *C, size_t ldc, int nv, const float *bias, int first, int last)
{
    const int8_t *q[3];
    const float *d[3];
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++) {
        q[i] = (const int8_t *)(x + (size_t)(i < mr ? i : 0) * rb);
        d[i] = (const float *)(const void *)(q[i] + K);
    }
    __m256 c[3][2];
    jc_avx2q_load(c, mr, C, ldc, nv, first);
    int32_t xp[3][16]; /* a block's activations as pairs of int16 */
    for (int b = b0; b < b0 + bc; b += S) {
        __m256i ia[3][2];
#pragma GCC unroll 3
        for (int i = 0; i < 3; i++) ia[i][0] = ia[i][1] = _mm256_setzero_si256();
        for (int e = 0; e < S; e++) {
            const uint8_t *be = bp + (size_t)e * JC_AVX2Q_QB;
#pragma GCC unroll 3
            for (int i = 0; i < 3; i++)
                if (i < mr) {
                    __m128i raw0 = _mm_loadu_si128((const __m128i *)(const void *)(q[i] + 32 * (b + e)));
                    __m128i raw1 = _mm_loadu_si128((const __m128i *)(const void *)(q[i] + 32 * (b + e) + 16));
                    _mm256_storeu_si256((__m256i *)(void *)xp[i], _mm256_cvtepi8_epi16(raw0));
                    _mm256_storeu_si256((__m256i *)(void *)(xp[i] + 8), _mm256_cvtepi8_epi16(raw1));
                }
#pragma GCC unroll 4
            for (int p = 0; p < 16; p++) {
                __m256i w0 = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(const void *)(be + 32 * p)));
                __m256i w1 = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(const void *)(be + 32 * p + 16)));
#pragma GCC unroll 3
                for (int i = 0; i < 3; i++)
                    if (i < mr) {
                        __m256i a = _mm256_set1_epi32(xp[i][p]);
                        ia[i][0] = _mm256_add_epi32(ia[i][0], _mm256_madd_epi16(w0, a));
                        ia[i][1] = _mm256_add_epi32(ia[i][1], _mm256_madd_epi16(w1, a));
                    }
            }
        }
        const float *sw = (const float *)(const void *)(bp + 32 * JC_AVX2_NR);
        __m256 s0 = _mm256_load_ps(sw), s1 = _mm256_load_ps(sw + 8);
#pragma GCC unroll 3
        for (int i = 0; i < 3; i++)
            if (i < mr) {
                __m256 dd = _mm256_set1_ps(d[i][b]);
                c[i][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[i][0]), _mm256_mul_ps(dd, s0), c[i][0]);
                c[i][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[i][1]), _mm256_mul_ps(dd, s1), c[i][1]);
            }
        bp += (size_t)S * JC_AVX2Q_QB;
    }
    jc_avx2q_store(c, mr, C, ldc, nv, bias, last);
}

JC_AVX2 static void jc_avx2_q8_tile(int mr, int S, int b0, int bc, const uint8_t *x, size_t rb, int K, const uint8_t *bp, float *C,
                            size_t ldc, int nv, const float *bias, int first, int last)
{
    switch (mr) {
    case 3: jc_avx2_q8_ukr(3, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last); break;
    case 2: jc_avx2_q8_ukr(2, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last); break;
    default: jc_avx2_q8_ukr(1, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last); break;
    }
}

static size_t jc_avx2_q8_ws(int M, int K)
{
    (void)M, (void)K;
    return (size_t)JC_AVX2Q_KCB * JC_AVX2Q_QB / 4 + 16;
}

JC_AVX2 static void jc_avx2_q8_drive(float *Y, size_t ldy, const void *Xq, const uint8_t *Wp, const int8_t *Wq,
                             const float *Sw, const float *bias, int M, int K, int S, int n0, int n1, float *ws)
{
    const int B = K / 32;
    const size_t rb = jc_q8_row_bytes(K);
    uint8_t *buf = (uint8_t *)(void *)jc_align64(ws);
    for (int m0 = 0; m0 < M; m0 += JC_AVX2Q_MC) {
        int mc = M - m0 < JC_AVX2Q_MC ? M - m0 : JC_AVX2Q_MC;
        for (int b0 = 0; b0 < B; b0 += JC_AVX2Q_KCB) {
            int bc = B - b0 < JC_AVX2Q_KCB ? B - b0 : JC_AVX2Q_KCB;
            for (int n = n0; n < n1; n += JC_AVX2_NR) {
                int nv = n1 - n < JC_AVX2_NR ? n1 - n : JC_AVX2_NR;
                const uint8_t *bp = buf;
                if (Wp)
                    bp = Wp + ((size_t)(n / JC_AVX2_NR) * B + b0) * JC_AVX2Q_QB;
                else
                    jc_pack_q8_blk(buf, Wq, Sw, K, n, n1, b0, bc, JC_AVX2_NR, 2, 0);
                for (int m = 0; m < mc; m += 3)
                    jc_avx2_q8_tile(mc - m < 3 ? mc - m : 3, S, b0, bc, (const uint8_t *)Xq + (size_t)(m0 + m) * rb, rb, K, bp,
                                Y + (size_t)(m0 + m) * ldy + n, ldy, nv, bias ? bias + n : NULL, b0 == 0, b0 + bc == B);
            }
        }
    }
}

static size_t jc_avx2_q8_pack_size(int N, int K) { return jc_pack_q8_size_nr(N, K, JC_AVX2_NR); }

static void jc_avx2_q8_pack(void *Wp, const int8_t *Wq, const float *Sw, int N, int K, int s0, int s1)
{
    jc_pack_q8_nr(Wp, Wq, Sw, N, K, s0, s1, JC_AVX2_NR, 2, 0);
}

JC_AVX2 static void jc_avx2_q8_linear(float *Y, size_t ldy, const void *Xq, const int8_t *Wq, const float *Sw,
                              const float *bias, int M, int K, int S, int n0, int n1, float *ws)
{
    jc_avx2_q8_drive(Y, ldy, Xq, NULL, Wq, Sw, bias, M, K, S, n0, n1, ws);
}

JC_AVX2 static void jc_avx2_q8_packed(float *Y, size_t ldy, const void *Xq, const void *Wp, const float *bias, int M, int K,
                              int S, int n0, int n1, float *ws)
{
    jc_avx2_q8_drive(Y, ldy, Xq, (const uint8_t *)Wp, NULL, NULL, bias, M, K, S, n0, n1, ws);
}

JC_AVX2 static void jc_avx2_q8_row(void *xq, const float *x, int K, int S)
{
    int8_t *q = (int8_t *)xq;
    float *d = (float *)(void *)(q + K);
    int32_t *s = (int32_t *)(void *)(d + K / 32);
    const __m256 ab = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (int c = 0; c < K / 32; c += S) {
        __m256 m = _mm256_setzero_ps();
        for (int h = 0; h < 4 * S; h++) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + 32 * c + 8 * h), ab), m); /* NaN first: ignored */
        __m128 t = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        t = _mm_max_ps(t, _mm_movehl_ps(t, t));
        t = _mm_max_ss(t, _mm_movehdup_ps(t));
        float amax = _mm_cvtss_f32(t);
        float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        __m256 vi = _mm256_set1_ps(id), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
        for (int b = c; b < c + S; b++) {
            d[b] = amax / 127.0f;
            __m256i r[4], sum = _mm256_setzero_si256();
            for (int h = 0; h < 4; h++) {
                __m256 u = _mm256_mul_ps(_mm256_loadu_ps(x + 32 * b + 8 * h), vi);
                u = _mm256_and_ps(u, _mm256_cmp_ps(u, u, _CMP_ORD_Q)); /* NaN -> 0 */
                u = _mm256_max_ps(_mm256_min_ps(u, hi), lo);
                r[h] = _mm256_cvtps_epi32(u); /* MXCSR rounding: nearest even, as nearbyintf */
                sum = _mm256_add_epi32(sum, r[h]);
            }
            __m256i p01 = _mm256_packs_epi32(r[0], r[1]), p23 = _mm256_packs_epi32(r[2], r[3]);
            __m256i p = _mm256_packs_epi16(p01, p23); /* lanes: 0-3 8-11 16-19 24-27 | 4-7 12-15 20-23 28-31 */
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(void *)(q + 32 * b), p);
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
            s[b] = -128 * _mm_cvtsi128_si32(s4);
        }
    }
}

static const jc_ops jc_avx2_ops = {
    "avx2",
    JC_AVX2_NR,
    jc_avx2_linear_ws,
    jc_avx2_linear,
    jc_avx2_pack_size,
    jc_avx2_pack,
    jc_avx2_linear_packed,
    jc_avx2_layernorm,
    jc_avx2_attention_ws,
    jc_avx2_attention,
    NULL, /* attention_bf16: no bf16 dot product */
    jc_avx2_geglu,
    jc_avx2_swiglu,
    jc_avx2_quick_gelu,
    jc_avx2_add,
    "bf16 widened+fma, q8 vpmaddwd",
    jc_avx2_bf16_row,
    jc_avx2_bf_ws,
    jc_avx2_bf_linear,
    jc_avx2_bf_pack_size,
    jc_avx2_bf_pack,
    jc_avx2_bf_packed,
    jc_avx2_q8_row,
    jc_avx2_q8_ws,
    jc_avx2_q8_linear,
    jc_avx2_q8_pack_size,
    jc_avx2_q8_pack,
    jc_avx2_q8_packed,
};

/* ============================================================================================
 * JPEG decoder stages (scalar twins and the arithmetic they reproduce: image/jpeg.c)
 * ========================================================================================== */

/* pmaddwd constant: (lo, hi) repeated, so that madd(pair(a, b), k) = a * lo + b * hi. */
JC_AVX2_INLINE __m256i jc_avx2_jpeg_k(int16_t lo, int16_t hi)
{
    return _mm256_unpacklo_epi16(_mm256_set1_epi16(lo), _mm256_set1_epi16(hi));
}

/* The 8 column pairs (a[c], b[c]) of two 8 x int16 rows, columns 0-7 in order. */
JC_AVX2_INLINE __m256i jc_avx2_jpeg_pair(__m128i a, __m128i b)
{
    return _mm256_set_m128i(_mm_unpackhi_epi16(a, b), _mm_unpacklo_epi16(a, b));
}

/* One 1-D islow pass over 8 lanes, as jidctint-avx2.asm's dodct computes it: in[0..7] are the
 * 16-bit inputs, o[j] the wrapped 32-bit sums for outputs j = 0..7 before the descale shift
 * (rnd included). Sums in0 +- in4, in7 + in3 and in5 + in1 wrap at 16 bits, the rest at 32. */
JC_AVX2_INLINE void jc_avx2_jpeg_idct_1d(const __m128i in[8], __m256i rnd, __m256i o[8])
{
    __m256i p26 = jc_avx2_jpeg_pair(in[2], in[6]);
    __m256i t3 = _mm256_madd_epi16(p26, jc_avx2_jpeg_k(10703, 4433));   /* i2 F130 + i6 F054 */
    __m256i t2 = _mm256_madd_epi16(p26, jc_avx2_jpeg_k(4433, -10704));  /* i2 F054 + i6 FM130 */
    __m256i t0 = _mm256_add_epi32(_mm256_slli_epi32(_mm256_cvtepi16_epi32(_mm_add_epi16(in[0], in[4])), 13), rnd);
    __m256i t1 = _mm256_add_epi32(_mm256_slli_epi32(_mm256_cvtepi16_epi32(_mm_sub_epi16(in[0], in[4])), 13), rnd);
    __m256i e10 = _mm256_add_epi32(t0, t3), e13 = _mm256_sub_epi32(t0, t3);
    __m256i e11 = _mm256_add_epi32(t1, t2), e12 = _mm256_sub_epi32(t1, t2);
    __m256i p34 = jc_avx2_jpeg_pair(_mm_add_epi16(in[7], in[3]), _mm_add_epi16(in[5], in[1]));
    __m256i z3 = _mm256_madd_epi16(p34, jc_avx2_jpeg_k(-6436, 9633)); /* z3 FM078 + z4 F117 */
    __m256i z4 = _mm256_madd_epi16(p34, jc_avx2_jpeg_k(9633, 6437));  /* z3 F117 + z4 F078 */
    __m256i p71 = jc_avx2_jpeg_pair(in[7], in[1]), p53 = jc_avx2_jpeg_pair(in[5], in[3]);
    __m256i o0 = _mm256_add_epi32(_mm256_madd_epi16(p71, jc_avx2_jpeg_k(-4927, -7373)), z3);  /* i7 FM060 + i1 FM089 */
    __m256i o3 = _mm256_add_epi32(_mm256_madd_epi16(p71, jc_avx2_jpeg_k(-7373, 4926)), z4);   /* i7 FM089 + i1 F060 */
    __m256i o1 = _mm256_add_epi32(_mm256_madd_epi16(p53, jc_avx2_jpeg_k(-4176, -20995)), z4); /* i5 FM050 + i3 FM256 */
    __m256i o2 = _mm256_add_epi32(_mm256_madd_epi16(p53, jc_avx2_jpeg_k(-20995, 4177)), z3);  /* i5 FM256 + i3 F050 */
    o[0] = _mm256_add_epi32(e10, o3);
    o[7] = _mm256_sub_epi32(e10, o3);
    o[1] = _mm256_add_epi32(e11, o2);
    o[6] = _mm256_sub_epi32(e11, o2);
    o[2] = _mm256_add_epi32(e12, o1);
    o[5] = _mm256_sub_epi32(e12, o1);
    o[3] = _mm256_add_epi32(e13, o0);
    o[4] = _mm256_sub_epi32(e13, o0);
}

/* Pass 2 on the transposed pass-1 output and the byte stores.
 *
 *   col[k] = pass-1 column k, rows 0..7 in the 8 lanes
 *   o[j]   = output column j, rows 0..7 (int32)
 *   packs  -> [r0-3 c0-3 | r4-7 c0-3] and [r0-3 c4-7 | r4-7 c4-7] as bytes, then a byte
 *   shuffle and two dword unpacks give [row 0, row 1 | row 4, row 5], [row 2, row 3 | row 6, row 7]. */
JC_AVX2_INLINE void jc_avx2_jpeg_idct_pass2(const __m128i col[8], uint8_t *out, size_t stride)
{
    __m256i o[8];
    jc_avx2_jpeg_idct_1d(col, _mm256_set1_epi32(1 << 17), o);
    for (int j = 0; j < 8; j++) o[j] = _mm256_srai_epi32(o[j], 18);
    __m256i a = _mm256_packs_epi16(_mm256_packs_epi32(o[0], o[1]), _mm256_packs_epi32(o[2], o[3]));
    __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(o[4], o[5]), _mm256_packs_epi32(o[6], o[7]));
    const __m256i bias = _mm256_set1_epi8(-128);
    const __m256i tr = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6,
                                        10, 14, 3, 7, 11, 15);
    a = _mm256_shuffle_epi8(_mm256_xor_si256(a, bias), tr); /* [r0 c0-3, r1 c0-3, r2 .., r3 .. | r4..r7] */
    b = _mm256_shuffle_epi8(_mm256_xor_si256(b, bias), tr);
    __m256i r01 = _mm256_unpacklo_epi32(a, b), r23 = _mm256_unpackhi_epi32(a, b);
    __m128i l01 = _mm256_castsi256_si128(r01), h01 = _mm256_extracti128_si256(r01, 1);
    __m128i l23 = _mm256_castsi256_si128(r23), h23 = _mm256_extracti128_si256(r23, 1);
    /* movq stores: _mm_storeh_pd would be a misaligned double store as far as UBSan knows */
    _mm_storel_epi64((__m128i *)(void *)out, l01);
    _mm_storel_epi64((__m128i *)(void *)(out + stride), _mm_unpackhi_epi64(l01, l01));
    _mm_storel_epi64((__m128i *)(void *)(out + 2 * stride), l23);
    _mm_storel_epi64((__m128i *)(void *)(out + 3 * stride), _mm_unpackhi_epi64(l23, l23));
    _mm_storel_epi64((__m128i *)(void *)(out + 4 * stride), h01);
    _mm_storel_epi64((__m128i *)(void *)(out + 5 * stride), _mm_unpackhi_epi64(h01, h01));
    _mm_storel_epi64((__m128i *)(void *)(out + 6 * stride), h23);
    _mm_storel_epi64((__m128i *)(void *)(out + 7 * stride), _mm_unpackhi_epi64(h23, h23));
}

/* jc_jpeg_ops.idct. Pass 1 runs on the columns (one 8-lane row vector per coefficient row),
 * its 16-bit results are transposed, pass 2 runs on the rows. When coefficient rows 1-7 are
 * all zero, pass 1 is the dequantised row 0 shifted left by 2 in 16 bits (psllw) for every
 * row, as in jidctint-avx2.asm; when row 0 has no AC term either the block is flat. */
static JC_AVX2 void jc_avx2_jpeg_idct(const int16_t *in, const int16_t *q, uint8_t *out, size_t stride)
{
    __m256i ac = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(const void *)(in + 8)),
                                 _mm256_loadu_si256((const __m256i *)(const void *)(in + 24)));
    ac = _mm256_or_si256(ac, _mm256_loadu_si256((const __m256i *)(const void *)(in + 40)));
    ac = _mm256_or_si256(ac, _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(in + 56))));
    __m128i r0 = _mm_mullo_epi16(_mm_loadu_si128((const __m128i *)(const void *)in), _mm_loadu_si128((const __m128i *)(const void *)q));
    __m128i col[8];
    if (_mm256_testz_si256(ac, ac)) {
        __m128i w = _mm_slli_epi16(r0, 2);
        if (_mm_testz_si128(w, _mm_setr_epi16(0, -1, -1, -1, -1, -1, -1, -1))) {
            /* flat: (w0 << 13 + 2^17) >> 18 = floor((w0 + 16) / 32), then + 128, clamped */
            int w0 = (int16_t)_mm_extract_epi16(w, 0);
            int v = (w0 + 16 + 32768) / 32 - 1024 + 128;
            uint8_t px = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            uint64_t fill = 0x0101010101010101ull * px;
            for (int r = 0; r < 8; r++) memcpy(out + (size_t)r * stride, &fill, 8);
            return;
        }
        col[0] = _mm_set1_epi16((int16_t)_mm_extract_epi16(w, 0));
        col[1] = _mm_set1_epi16((int16_t)_mm_extract_epi16(w, 1));
        col[2] = _mm_set1_epi16((int16_t)_mm_extract_epi16(w, 2));
        col[3] = _mm_set1_epi16((int16_t)_mm_extract_epi16(w, 3));
        col[4] = _mm_set1_epi16((int16_t)_mm_extract_epi16(w, 4));
        col[5] = _mm_set1_epi16((int16_t)_mm_extract_epi16(w, 5));
        col[6] = _mm_set1_epi16((int16_t)_mm_extract_epi16(w, 6));
        col[7] = _mm_set1_epi16((int16_t)_mm_extract_epi16(w, 7));
        jc_avx2_jpeg_idct_pass2(col, out, stride);
        return;
    }
    __m128i row[8];
    row[0] = r0;
    for (int r = 1; r < 8; r++)
        row[r] = _mm_mullo_epi16(_mm_loadu_si128((const __m128i *)(const void *)(in + 8 * r)),
                                 _mm_loadu_si128((const __m128i *)(const void *)(q + 8 * r)));
    __m256i o[8];
    jc_avx2_jpeg_idct_1d(row, _mm256_set1_epi32(1 << 10), o);
    for (int j = 0; j < 8; j++) o[j] = _mm256_srai_epi32(o[j], 11);
    /* o[j] = pass-1 row j, columns [0-3 | 4-7]; packssdw saturates like the scalar code. The
     * 16-bit transpose: p01 = [r0 c0-3, r1 c0-3 | r0 c4-7, r1 c4-7], then word and qword
     * unpacks give [col k | col k+4]. */
    __m256i p01 = _mm256_packs_epi32(o[0], o[1]), p23 = _mm256_packs_epi32(o[2], o[3]);
    __m256i p45 = _mm256_packs_epi32(o[4], o[5]), p67 = _mm256_packs_epi32(o[6], o[7]);
    __m256i a0 = _mm256_unpacklo_epi16(p01, p23), a1 = _mm256_unpackhi_epi16(p01, p23);
    __m256i b0 = _mm256_unpacklo_epi16(p45, p67), b1 = _mm256_unpackhi_epi16(p45, p67);
    __m256i x0 = _mm256_unpacklo_epi16(a0, a1), x1 = _mm256_unpackhi_epi16(a0, a1); /* rows 0-3 of cols (0,1), (2,3) */
    __m256i y0 = _mm256_unpacklo_epi16(b0, b1), y1 = _mm256_unpackhi_epi16(b0, b1); /* rows 4-7 */
    __m256i c04 = _mm256_unpacklo_epi64(x0, y0), c15 = _mm256_unpackhi_epi64(x0, y0);
    __m256i c26 = _mm256_unpacklo_epi64(x1, y1), c37 = _mm256_unpackhi_epi64(x1, y1);
    col[0] = _mm256_castsi256_si128(c04);
    col[4] = _mm256_extracti128_si256(c04, 1);
    col[1] = _mm256_castsi256_si128(c15);
    col[5] = _mm256_extracti128_si256(c15, 1);
    col[2] = _mm256_castsi256_si128(c26);
    col[6] = _mm256_extracti128_si256(c26, 1);
    col[3] = _mm256_castsi256_si128(c37);
    col[7] = _mm256_extracti128_si256(c37, 1);
    jc_avx2_jpeg_idct_pass2(col, out, stride);
}

/* Byte shuffles that interleave 16 R, G, B samples per 128-bit lane into 48 bytes of RGB:
 * jc_avx2_jpeg_rgb_shuf[m][ch] picks channel ch's bytes of output chunk m (-1: none). */
static const int8_t jc_avx2_jpeg_rgb_shuf[3][3][16] = {
    {{0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1, 5},
     {-1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1},
     {-1, -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1}},
    {{-1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10, -1},
     {5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10},
     {-1, 5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1}},
    {{-1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1, -1},
     {-1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1},
     {10, -1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15}},
};

/* 32-bit madd of 16-bit pairs (a, b) for the 16 lanes of a and b, descaled by 16 and packed
 * back to 16 bits in the same lane order: sra(a * ka + b * kb + add, 16). */
JC_AVX2_INLINE __m256i jc_avx2_jpeg_term(__m256i a, __m256i b, __m256i k, __m256i add)
{
    __m256i lo = _mm256_add_epi32(_mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), k), add);
    __m256i hi = _mm256_add_epi32(_mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), k), add);
    return _mm256_packs_epi32(_mm256_srai_epi32(lo, 16), _mm256_srai_epi32(hi, 16));
}

/* jdcolor.c's fixed-point YCbCr -> RGB of 16 pixels held as 16-bit lanes (any lane order):
 * R = y + sra(FIX(1.402) x_r + 2^15, 16), with FIX(1.402) = 2^16 + 26345;
 * B = y + sra(FIX(1.772) x_b + 2^15, 16), with FIX(1.772) = 2^17 - 14942;
 * G = y + sra(-FIX(0.34414) x_b - FIX(0.71414) x_r + 2^15, 16), with FIX(0.71414) = 2^16 - 18734;
 * the 2^16 multiples leave the shift exactly, the rest fits pmaddwd. Results are not clamped. */
JC_AVX2_INLINE void jc_avx2_jpeg_ycc16(__m256i y, __m256i cb, __m256i cr, __m256i *r, __m256i *g, __m256i *b)
{
    const __m256i c128 = _mm256_set1_epi16(128), two = _mm256_set1_epi16(2), zero = _mm256_setzero_si256();
    __m256i xb = _mm256_sub_epi16(cb, c128), xr = _mm256_sub_epi16(cr, c128);
    __m256i tr = jc_avx2_jpeg_term(xr, two, jc_avx2_jpeg_k(26345, 16384), zero);
    __m256i tb = jc_avx2_jpeg_term(xb, two, jc_avx2_jpeg_k(-14942, 16384), zero);
    __m256i tg = jc_avx2_jpeg_term(xb, xr, jc_avx2_jpeg_k(-22554, 18734), _mm256_set1_epi32(32768));
    *r = _mm256_add_epi16(_mm256_add_epi16(y, xr), tr);
    *g = _mm256_add_epi16(_mm256_sub_epi16(y, xr), tg);
    *b = _mm256_add_epi16(_mm256_add_epi16(y, _mm256_add_epi16(xb, xb)), tb);
}

/* 32 pixels: y as 32 bytes, chroma as 16-bit lanes in unpack order (lo = pixels [0-7 | 16-23],
 * hi = [8-15 | 24-31]), 96 bytes of RGB stored at out. */
JC_AVX2_INLINE void jc_avx2_jpeg_ycc32(__m256i y8, __m256i cb_lo, __m256i cb_hi, __m256i cr_lo, __m256i cr_hi, uint8_t *out)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i rl, gl, bl, rh, gh, bh;
    jc_avx2_jpeg_ycc16(_mm256_unpacklo_epi8(y8, zero), cb_lo, cr_lo, &rl, &gl, &bl);
    jc_avx2_jpeg_ycc16(_mm256_unpackhi_epi8(y8, zero), cb_hi, cr_hi, &rh, &gh, &bh);
    __m256i r = _mm256_packus_epi16(rl, rh), g = _mm256_packus_epi16(gl, gh), b = _mm256_packus_epi16(bl, bh);
    __m256i c[3];
    for (int m = 0; m < 3; m++) {
        __m256i sr = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)jc_avx2_jpeg_rgb_shuf[m][0]));
        __m256i sg = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)jc_avx2_jpeg_rgb_shuf[m][1]));
        __m256i sb = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)jc_avx2_jpeg_rgb_shuf[m][2]));
        c[m] = _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(r, sr), _mm256_shuffle_epi8(g, sg)), _mm256_shuffle_epi8(b, sb));
    }
    /* c[m] = [bytes 16m .. 16m+15 | bytes 48+16m ..] */
    _mm256_storeu_si256((__m256i *)(void *)out, _mm256_permute2x128_si256(c[0], c[1], 0x20));
    _mm256_storeu_si256((__m256i *)(void *)(out + 32), _mm256_permute2x128_si256(c[2], c[0], 0x30));
    _mm256_storeu_si256((__m256i *)(void *)(out + 64), _mm256_permute2x128_si256(c[1], c[2], 0x31));
}

/* 32 pixels of plain (full-resolution) YCbCr. */
JC_AVX2_INLINE void jc_avx2_jpeg_ycc_plain32(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint8_t *out)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i vb = _mm256_loadu_si256((const __m256i *)(const void *)cb), vr = _mm256_loadu_si256((const __m256i *)(const void *)cr);
    jc_avx2_jpeg_ycc32(_mm256_loadu_si256((const __m256i *)(const void *)y), _mm256_unpacklo_epi8(vb, zero), _mm256_unpackhi_epi8(vb, zero),
               _mm256_unpacklo_epi8(vr, zero), _mm256_unpackhi_epi8(vr, zero), out);
}

/* jc_jpeg_ops.ycc_row. The last n % 32 pixels go through padded copies so that no load or
 * store leaves the caller's rows. */
static JC_AVX2 void jc_avx2_jpeg_ycc_row(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint32_t n, uint8_t *rgb)
{
    uint32_t x = 0;
    for (; x + 32 <= n; x += 32) jc_avx2_jpeg_ycc_plain32(y + x, cb + x, cr + x, rgb + 3 * (size_t)x);
    if (x < n) {
        uint8_t ty[32] = {0}, tb[32] = {0}, tr[32] = {0}, to[96];
        uint32_t m = n - x;
        memcpy(ty, y + x, m);
        memcpy(tb, cb + x, m);
        memcpy(tr, cr + x, m);
        jc_avx2_jpeg_ycc_plain32(ty, tb, tr, to);
        memcpy(rgb + 3 * (size_t)x, to, 3 * (size_t)m);
    }
}

/* Chroma sums of one component into s (int16): s[0] = c[0], s[1 + i] = c[i], s[dw + 1] =
 * c[dw - 1], zeros after that up to s[dw + 47], with c[i] = 3 near[i] + far[i] (v2) or near[i]. */
JC_AVX2_INLINE void jc_avx2_jpeg_chroma_sums(const uint8_t *near, const uint8_t *far, uint32_t dw, int v2, int16_t *s)
{
    uint32_t i = 0;
    if (v2) {
        for (; i + 16 <= dw; i += 16) {
            __m256i n = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(near + i)));
            __m256i f = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(far + i)));
            _mm256_storeu_si256((__m256i *)(void *)(s + 1 + i), _mm256_add_epi16(_mm256_add_epi16(n, _mm256_add_epi16(n, n)), f));
        }
        for (; i < dw; i++) s[1 + i] = (int16_t)(near[i] * 3 + far[i]);
    } else {
        for (; i + 16 <= dw; i += 16)
            _mm256_storeu_si256((__m256i *)(void *)(s + 1 + i), _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(near + i))));
        for (; i < dw; i++) s[1 + i] = near[i];
    }
    s[0] = s[1];
    s[dw + 1] = s[dw];
    memset(s + dw + 2, 0, 46 * sizeof *s);
}

/* Upsampled chroma of 32 output pixels from the sums s around chroma sample i (s + i is
 * sample i - 1): even pixel 2i = (3 c[i] + c[i - 1] + be) >> sh, odd 2i + 1 = (3 c[i] + c[i + 1]
 * + bo) >> sh; the unpacks interleave them into pixel order [0-7 | 16-23], [8-15 | 24-31]. */
JC_AVX2_INLINE void jc_avx2_jpeg_fancy16(const int16_t *s, __m256i be, __m256i bo, __m128i sh, __m256i *lo, __m256i *hi)
{
    __m256i p = _mm256_loadu_si256((const __m256i *)(const void *)s);
    __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(s + 1));
    __m256i n = _mm256_loadu_si256((const __m256i *)(const void *)(s + 2));
    __m256i c3 = _mm256_add_epi16(c, _mm256_add_epi16(c, c));
    __m256i ev = _mm256_srl_epi16(_mm256_add_epi16(_mm256_add_epi16(c3, p), be), sh);
    __m256i od = _mm256_srl_epi16(_mm256_add_epi16(_mm256_add_epi16(c3, n), bo), sh);
    /* ev/od lanes hold chroma samples [0-7 | 8-15]: interleaving gives pixels [0-15 | 16-31]
     * split as unpacklo = [0-7 | 16-23], unpackhi = [8-15 | 24-31]. */
    *lo = _mm256_unpacklo_epi16(ev, od);
    *hi = _mm256_unpackhi_epi16(ev, od);
}

/* jc_jpeg_ops.ycc_fancy_row. */
static JC_AVX2 void jc_avx2_jpeg_ycc_fancy_row(const uint8_t *y, const uint8_t *cb0, const uint8_t *cb1, const uint8_t *cr0,
                                       const uint8_t *cr1, uint32_t dw, uint32_t W, int v2, uint8_t *rgb, int16_t *ws)
{
    int16_t *sb = ws, *sr = ws + dw + 48;
    jc_avx2_jpeg_chroma_sums(cb0, cb1, dw, v2, sb);
    jc_avx2_jpeg_chroma_sums(cr0, cr1, dw, v2, sr);
    const __m256i be = _mm256_set1_epi16(v2 ? 8 : 1), bo = _mm256_set1_epi16(v2 ? 7 : 2);
    const __m128i sh = _mm_cvtsi32_si128(v2 ? 4 : 2);
    uint32_t x = 0;
    for (; x + 32 <= W; x += 32) {
        __m256i bl, bh, rl, rh;
        jc_avx2_jpeg_fancy16(sb + x / 2, be, bo, sh, &bl, &bh);
        jc_avx2_jpeg_fancy16(sr + x / 2, be, bo, sh, &rl, &rh);
        jc_avx2_jpeg_ycc32(_mm256_loadu_si256((const __m256i *)(const void *)(y + x)), bl, bh, rl, rh, rgb + 3 * (size_t)x);
    }
    if (x < W) { /* the sums are padded to dw + 48; the luma and RGB tails go through copies */
        uint8_t ty[32] = {0}, to[96];
        uint32_t m = W - x;
        __m256i bl, bh, rl, rh;
        memcpy(ty, y + x, m);
        jc_avx2_jpeg_fancy16(sb + x / 2, be, bo, sh, &bl, &bh);
        jc_avx2_jpeg_fancy16(sr + x / 2, be, bo, sh, &rl, &rh);
        jc_avx2_jpeg_ycc32(_mm256_loadu_si256((const __m256i *)(const void *)ty), bl, bh, rl, rh, to);
        memcpy(rgb + 3 * (size_t)x, to, 3 * (size_t)m);
    }
}

static const jc_jpeg_ops jc_avx2_jpeg_ops = {
    "avx2",
    jc_avx2_jpeg_idct,
    jc_avx2_jpeg_ycc_row,
    jc_avx2_jpeg_ycc_fancy_row,
};

#endif /* x86-64 */

/* ============================================================================================
 * WebP lossy (VP8) decoder stages (scalar twins: image/vp8.c, jc_vp8_scalar_ops)
 *
 * Loop filter: 16 pixels of an edge per vector, as unsigned bytes; the filter arithmetic runs
 * in the signed domain (x ^ 0x80) with saturating byte adds, which clamps exactly where the
 * scalar code clips (see jc_avx2_vp8_base). Edges across columns ("h") are transposed to
 * columns first:
 *
 *     16 rows x 8 bytes at p - 4      ->   8 vectors p3 p2 p1 p0 | q0 q1 q2 q3 (one per column,
 *     (rows 8-15: the v plane for 8)        16 rows each), filtered, transposed back, stored
 *
 * Upsampling: 8 chroma samples of each of the four neighbour rows in 16-bit lanes give 16
 * output pixels per row, then the 14-bit YUV->RGB in 16-bit lanes.
 * ========================================================================================== */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

JC_AVX2_INLINE __m128i jc_avx2_vp8_absd(__m128i a, __m128i b)
{
    return _mm_or_si128(_mm_subs_epu8(a, b), _mm_subs_epu8(b, a));
}

/* 0xff where a <= b (unsigned bytes). */
JC_AVX2_INLINE __m128i jc_avx2_vp8_le(__m128i a, __m128i b)
{
    return _mm_cmpeq_epi8(_mm_subs_epu8(a, b), _mm_setzero_si128());
}

/* 0xff where 4 |p0 - q0| + |p1 - q1| <= 2 t + 1, computed as 2 |p0 - q0| + (|p1 - q1| >> 1) <= t
 * (the same integers); the saturation at 255 is exact for t <= 254. */
JC_AVX2_INLINE __m128i jc_avx2_vp8_needs(__m128i p1, __m128i p0, __m128i q0, __m128i q1, __m128i t)
{
    const __m128i a = jc_avx2_vp8_absd(p0, q0);
    const __m128i b = _mm_and_si128(_mm_srli_epi16(jc_avx2_vp8_absd(p1, q1), 1), _mm_set1_epi8(0x7f));
    return jc_avx2_vp8_le(_mm_adds_epu8(_mm_adds_epu8(a, a), b), t);
}

/* Signed bytes shifted right arithmetically by n (1 or 3): each byte goes to the top of a
 * 16-bit lane, whose low byte (a copy) cannot reach the result. */
JC_AVX2_INLINE __m128i jc_avx2_vp8_sra(__m128i a, int n)
{
    const __m128i cnt = _mm_cvtsi32_si128(8 + n);
    return _mm_packs_epi16(_mm_sra_epi16(_mm_unpacklo_epi8(a, a), cnt), _mm_sra_epi16(_mm_unpackhi_epi8(a, a), cnt));
}

/* clamp(3 (q0 - p0) + clamp(p1 - q1), -128, 127), or without the p1 - q1 term (with = 0), from
 * signed-domain bytes. The sum grows monotonically from a value in [-128, 127] towards its
 * final value, so saturating each step clamps exactly once, where the scalar clip does; the
 * filters only use the clamped value (the scalar sclip2 of (a + 4) >> 3 saturates there too). */
JC_AVX2_INLINE __m128i jc_avx2_vp8_base(__m128i p1s, __m128i p0s, __m128i q0s, __m128i q1s, int with)
{
    const __m128i d = _mm_subs_epi8(q0s, p0s);
    __m128i a = with ? _mm_subs_epi8(p1s, q1s) : _mm_setzero_si128();
    a = _mm_adds_epi8(a, d);
    a = _mm_adds_epi8(a, d);
    return _mm_adds_epi8(a, d);
}

/* (k a + 63) >> 7 of signed bytes a, back in bytes (|result| <= 27). */
JC_AVX2_INLINE __m128i jc_avx2_vp8_tap(__m128i alo, __m128i ahi, int k)
{
    const __m128i kk = _mm_set1_epi16((short)k), r = _mm_set1_epi16(63);
    return _mm_packs_epi16(_mm_srai_epi16(_mm_add_epi16(_mm_mullo_epi16(alo, kk), r), 7),
                           _mm_srai_epi16(_mm_add_epi16(_mm_mullo_epi16(ahi, kk), r), 7));
}

/* Simple filter of one edge: v[0..3] = p1 p0 q0 q1, p0 and q0 updated. */
JC_AVX2_INLINE void jc_avx2_vp8_simple(__m128i *v, __m128i t)
{
    const __m128i sign = _mm_set1_epi8((char)0x80);
    const __m128i m = jc_avx2_vp8_needs(v[0], v[1], v[2], v[3], t);
    const __m128i p1s = _mm_xor_si128(v[0], sign), p0s = _mm_xor_si128(v[1], sign);
    const __m128i q0s = _mm_xor_si128(v[2], sign), q1s = _mm_xor_si128(v[3], sign);
    const __m128i a = jc_avx2_vp8_base(p1s, p0s, q0s, q1s, 1);
    const __m128i a1 = jc_avx2_vp8_sra(_mm_adds_epi8(a, _mm_set1_epi8(4)), 3);
    const __m128i a2 = jc_avx2_vp8_sra(_mm_adds_epi8(a, _mm_set1_epi8(3)), 3);
    v[1] = _mm_blendv_epi8(v[1], _mm_xor_si128(_mm_adds_epi8(p0s, a2), sign), m);
    v[2] = _mm_blendv_epi8(v[2], _mm_xor_si128(_mm_subs_epi8(q0s, a1), sign), m);
}

/* Normal filter of one edge: v[0..7] = p3 p2 p1 p0 q0 q1 q2 q3. Where the edge needs it, a
 * high-variance pixel pair gets the 2-tap filter (p0, q0), the others the 6-tap (outer: p2..q2)
 * or 4-tap one (inner: p1..q1). */
JC_AVX2_INLINE void jc_avx2_vp8_normal(__m128i *v, __m128i t, __m128i it, __m128i hevt, int outer)
{
    const __m128i sign = _mm_set1_epi8((char)0x80);
    __m128i m = jc_avx2_vp8_needs(v[2], v[3], v[4], v[5], t);
    __m128i in = _mm_max_epu8(jc_avx2_vp8_absd(v[0], v[1]), jc_avx2_vp8_absd(v[1], v[2]));
    in = _mm_max_epu8(in, jc_avx2_vp8_absd(v[7], v[6]));
    in = _mm_max_epu8(in, jc_avx2_vp8_absd(v[6], v[5]));
    const __m128i d_p = jc_avx2_vp8_absd(v[2], v[3]), d_q = jc_avx2_vp8_absd(v[5], v[4]);
    in = _mm_max_epu8(in, _mm_max_epu8(d_p, d_q));
    m = _mm_and_si128(m, jc_avx2_vp8_le(in, it));
    const __m128i low = jc_avx2_vp8_le(_mm_max_epu8(d_p, d_q), hevt); /* not high edge variance */
    const __m128i mh = _mm_andnot_si128(low, m), mn = _mm_and_si128(low, m);
    const __m128i p2s = _mm_xor_si128(v[1], sign), p1s = _mm_xor_si128(v[2], sign), p0s = _mm_xor_si128(v[3], sign);
    const __m128i q0s = _mm_xor_si128(v[4], sign), q1s = _mm_xor_si128(v[5], sign), q2s = _mm_xor_si128(v[6], sign);
    const __m128i a = jc_avx2_vp8_base(p1s, p0s, q0s, q1s, 1);
    __m128i p0 = _mm_blendv_epi8(p0s, _mm_adds_epi8(p0s, jc_avx2_vp8_sra(_mm_adds_epi8(a, _mm_set1_epi8(3)), 3)), mh);
    __m128i q0 = _mm_blendv_epi8(q0s, _mm_subs_epi8(q0s, jc_avx2_vp8_sra(_mm_adds_epi8(a, _mm_set1_epi8(4)), 3)), mh);
    if (outer) {
        const __m128i alo = _mm_cvtepi8_epi16(a), ahi = _mm_cvtepi8_epi16(_mm_srli_si128(a, 8));
        const __m128i w1 = jc_avx2_vp8_tap(alo, ahi, 27), w2 = jc_avx2_vp8_tap(alo, ahi, 18), w3 = jc_avx2_vp8_tap(alo, ahi, 9);
        v[1] = _mm_xor_si128(_mm_blendv_epi8(p2s, _mm_adds_epi8(p2s, w3), mn), sign);
        v[2] = _mm_xor_si128(_mm_blendv_epi8(p1s, _mm_adds_epi8(p1s, w2), mn), sign);
        p0 = _mm_blendv_epi8(p0, _mm_adds_epi8(p0s, w1), mn);
        q0 = _mm_blendv_epi8(q0, _mm_subs_epi8(q0s, w1), mn);
        v[5] = _mm_xor_si128(_mm_blendv_epi8(q1s, _mm_subs_epi8(q1s, w2), mn), sign);
        v[6] = _mm_xor_si128(_mm_blendv_epi8(q2s, _mm_subs_epi8(q2s, w3), mn), sign);
    } else {
        const __m128i b = jc_avx2_vp8_base(p1s, p0s, q0s, q1s, 0);
        const __m128i b1 = jc_avx2_vp8_sra(_mm_adds_epi8(b, _mm_set1_epi8(4)), 3);
        const __m128i b2 = jc_avx2_vp8_sra(_mm_adds_epi8(b, _mm_set1_epi8(3)), 3);
        const __m128i b3 = jc_avx2_vp8_sra(_mm_add_epi8(b1, _mm_set1_epi8(1)), 1);
        v[2] = _mm_xor_si128(_mm_blendv_epi8(p1s, _mm_adds_epi8(p1s, b3), mn), sign);
        p0 = _mm_blendv_epi8(p0, _mm_adds_epi8(p0s, b2), mn);
        q0 = _mm_blendv_epi8(q0, _mm_subs_epi8(q0s, b1), mn);
        v[5] = _mm_xor_si128(_mm_blendv_epi8(q1s, _mm_subs_epi8(q1s, b3), mn), sign);
    }
    v[3] = _mm_xor_si128(p0, sign);
    v[4] = _mm_xor_si128(q0, sign);
}

JC_AVX2_INLINE __m128i jc_avx2_vp8_ld(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)(const void *)p); }
JC_AVX2_INLINE __m128i jc_avx2_vp8_ld64(const uint8_t *p) { return _mm_loadl_epi64((const __m128i *)(const void *)p); }
JC_AVX2_INLINE void jc_avx2_vp8_st(uint8_t *p, __m128i v) { _mm_storeu_si128((__m128i *)(void *)p, v); }
JC_AVX2_INLINE void jc_avx2_vp8_st64(uint8_t *p, __m128i v) { _mm_storel_epi64((__m128i *)(void *)p, v); }

/* 16 rows of 8 bytes (rows 0-7 at a, rows 8-15 at b, stride s) -> c[k] = column k of all 16 rows. */
JC_AVX2_INLINE void jc_avx2_vp8_cols(const uint8_t *a, const uint8_t *b, ptrdiff_t s, __m128i c[8])
{
    __m128i x[8], y[8];
    for (int i = 0; i < 4; i++) {
        x[i] = _mm_unpacklo_epi8(jc_avx2_vp8_ld64(a + 2 * i * s), jc_avx2_vp8_ld64(a + (2 * i + 1) * s));
        x[4 + i] = _mm_unpacklo_epi8(jc_avx2_vp8_ld64(b + 2 * i * s), jc_avx2_vp8_ld64(b + (2 * i + 1) * s));
    }
    for (int i = 0; i < 4; i++) { /* y[2i]: columns 0-3 of rows 4i..4i+3, y[2i+1]: columns 4-7 */
        y[2 * i] = _mm_unpacklo_epi16(x[2 * i], x[2 * i + 1]);
        y[2 * i + 1] = _mm_unpackhi_epi16(x[2 * i], x[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) { /* h: columns 4h..4h+3 */
        const __m128i lo0 = _mm_unpacklo_epi32(y[h], y[2 + h]), hi0 = _mm_unpackhi_epi32(y[h], y[2 + h]);
        const __m128i lo1 = _mm_unpacklo_epi32(y[4 + h], y[6 + h]), hi1 = _mm_unpackhi_epi32(y[4 + h], y[6 + h]);
        c[4 * h + 0] = _mm_unpacklo_epi64(lo0, lo1);
        c[4 * h + 1] = _mm_unpackhi_epi64(lo0, lo1);
        c[4 * h + 2] = _mm_unpacklo_epi64(hi0, hi1);
        c[4 * h + 3] = _mm_unpackhi_epi64(hi0, hi1);
    }
}

/* The inverse of jc_avx2_vp8_cols: stores the 16 rows of 8 bytes. */
JC_AVX2_INLINE void jc_avx2_vp8_rows(uint8_t *a, uint8_t *b, ptrdiff_t s, const __m128i c[8])
{
    __m128i x[8], y[8];
    for (int i = 0; i < 4; i++) { /* x[2i]: columns 2i, 2i+1 of rows 0-7; x[2i+1]: rows 8-15 */
        x[2 * i] = _mm_unpacklo_epi8(c[2 * i], c[2 * i + 1]);
        x[2 * i + 1] = _mm_unpackhi_epi8(c[2 * i], c[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) { /* h: rows 8h..8h+7; y[4h + j]: columns 0-3 (j < 2) / 4-7 */
        y[4 * h + 0] = _mm_unpacklo_epi16(x[h], x[2 + h]);     /* rows 8h+0..3, columns 0-3 */
        y[4 * h + 1] = _mm_unpackhi_epi16(x[h], x[2 + h]);     /* rows 8h+4..7 */
        y[4 * h + 2] = _mm_unpacklo_epi16(x[4 + h], x[6 + h]); /* rows 8h+0..3, columns 4-7 */
        y[4 * h + 3] = _mm_unpackhi_epi16(x[4 + h], x[6 + h]);
    }
    for (int h = 0; h < 2; h++) {
        uint8_t *d = h ? b : a;
        for (int q = 0; q < 2; q++) { /* rows 4q..4q+3 of this half */
            const __m128i r01 = _mm_unpacklo_epi32(y[4 * h + q], y[4 * h + 2 + q]);
            const __m128i r23 = _mm_unpackhi_epi32(y[4 * h + q], y[4 * h + 2 + q]);
            jc_avx2_vp8_st64(d + (4 * q + 0) * s, r01);
            jc_avx2_vp8_st64(d + (4 * q + 1) * s, _mm_unpackhi_epi64(r01, r01));
            jc_avx2_vp8_st64(d + (4 * q + 2) * s, r23);
            jc_avx2_vp8_st64(d + (4 * q + 3) * s, _mm_unpackhi_epi64(r23, r23));
        }
    }
}

JC_AVX2_INLINE void jc_avx2_vp8_simple_v_at(uint8_t *p, ptrdiff_t s, __m128i t)
{
    __m128i v[4] = {jc_avx2_vp8_ld(p - 2 * s), jc_avx2_vp8_ld(p - s), jc_avx2_vp8_ld(p), jc_avx2_vp8_ld(p + s)};
    jc_avx2_vp8_simple(v, t);
    jc_avx2_vp8_st(p - s, v[1]);
    jc_avx2_vp8_st(p, v[2]);
}

JC_AVX2_INLINE void jc_avx2_vp8_simple_h_at(uint8_t *p, ptrdiff_t s, __m128i t)
{
    __m128i c[8];
    jc_avx2_vp8_cols(p - 4, p - 4 + 8 * s, s, c);
    jc_avx2_vp8_simple(c + 2, t);
    jc_avx2_vp8_rows(p - 4, p - 4 + 8 * s, s, c);
}

static JC_AVX2 void jc_avx2_vp8_simple_v16(uint8_t *p, ptrdiff_t s, int t)
{
    jc_avx2_vp8_simple_v_at(p, s, _mm_set1_epi8((char)t));
}

static JC_AVX2 void jc_avx2_vp8_simple_h16(uint8_t *p, ptrdiff_t s, int t)
{
    jc_avx2_vp8_simple_h_at(p, s, _mm_set1_epi8((char)t));
}

static JC_AVX2 void jc_avx2_vp8_simple_v16i(uint8_t *p, ptrdiff_t s, int t)
{
    const __m128i tt = _mm_set1_epi8((char)t);
    for (int k = 4; k < 16; k += 4) jc_avx2_vp8_simple_v_at(p + k * s, s, tt);
}

static JC_AVX2 void jc_avx2_vp8_simple_h16i(uint8_t *p, ptrdiff_t s, int t)
{
    const __m128i tt = _mm_set1_epi8((char)t);
    for (int k = 4; k < 16; k += 4) jc_avx2_vp8_simple_h_at(p + k, s, tt);
}

/* Normal filter across the horizontal edge at a (and b: 8 + 8 pixels of u and v when b is not
 * NULL, else 16 pixels of a). */
JC_AVX2_INLINE void jc_avx2_vp8_v_at(uint8_t *a, uint8_t *b, ptrdiff_t s, __m128i t, __m128i it, __m128i hv, int outer)
{
    __m128i v[8];
    for (int i = 0; i < 8; i++)
        v[i] = b ? _mm_unpacklo_epi64(jc_avx2_vp8_ld64(a + (i - 4) * s), jc_avx2_vp8_ld64(b + (i - 4) * s))
                 : jc_avx2_vp8_ld(a + (i - 4) * s);
    jc_avx2_vp8_normal(v, t, it, hv, outer);
    for (int i = 1; i < 7; i++) {
        if (b) {
            jc_avx2_vp8_st64(a + (i - 4) * s, v[i]);
            jc_avx2_vp8_st64(b + (i - 4) * s, _mm_unpackhi_epi64(v[i], v[i]));
        } else {
            jc_avx2_vp8_st(a + (i - 4) * s, v[i]);
        }
    }
}

/* Normal filter across the vertical edge at a (rows 0-7) and b (rows 8-15). */
JC_AVX2_INLINE void jc_avx2_vp8_h_at(uint8_t *a, uint8_t *b, ptrdiff_t s, __m128i t, __m128i it, __m128i hv, int outer)
{
    __m128i c[8];
    jc_avx2_vp8_cols(a - 4, b - 4, s, c);
    jc_avx2_vp8_normal(c, t, it, hv, outer);
    jc_avx2_vp8_rows(a - 4, b - 4, s, c);
}

#define JC_AVX2_VP8_T __m128i tt = _mm_set1_epi8((char)t), ii = _mm_set1_epi8((char)it), hh = _mm_set1_epi8((char)hev)

static JC_AVX2 void jc_avx2_vp8_v16(uint8_t *p, ptrdiff_t s, int t, int it, int hev)
{
    JC_AVX2_VP8_T;
    jc_avx2_vp8_v_at(p, NULL, s, tt, ii, hh, 1);
}

static JC_AVX2 void jc_avx2_vp8_h16(uint8_t *p, ptrdiff_t s, int t, int it, int hev)
{
    JC_AVX2_VP8_T;
    jc_avx2_vp8_h_at(p, p + 8 * s, s, tt, ii, hh, 1);
}

static JC_AVX2 void jc_avx2_vp8_v16i(uint8_t *p, ptrdiff_t s, int t, int it, int hev)
{
    JC_AVX2_VP8_T;
    for (int k = 4; k < 16; k += 4) jc_avx2_vp8_v_at(p + k * s, NULL, s, tt, ii, hh, 0);
}

static JC_AVX2 void jc_avx2_vp8_h16i(uint8_t *p, ptrdiff_t s, int t, int it, int hev)
{
    JC_AVX2_VP8_T;
    for (int k = 4; k < 16; k += 4) jc_avx2_vp8_h_at(p + k, p + k + 8 * s, s, tt, ii, hh, 0);
}

static JC_AVX2 void jc_avx2_vp8_v8(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev)
{
    JC_AVX2_VP8_T;
    jc_avx2_vp8_v_at(u, v, s, tt, ii, hh, 1);
}

static JC_AVX2 void jc_avx2_vp8_h8(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev)
{
    JC_AVX2_VP8_T;
    jc_avx2_vp8_h_at(u, v, s, tt, ii, hh, 1);
}

static JC_AVX2 void jc_avx2_vp8_v8i(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev)
{
    JC_AVX2_VP8_T;
    jc_avx2_vp8_v_at(u + 4 * s, v + 4 * s, s, tt, ii, hh, 0);
}

static JC_AVX2 void jc_avx2_vp8_h8i(uint8_t *u, uint8_t *v, ptrdiff_t s, int t, int it, int hev)
{
    JC_AVX2_VP8_T;
    jc_avx2_vp8_h_at(u + 4, v + 4, s, tt, ii, hh, 0);
}
#undef JC_AVX2_VP8_T

/* 8 pixels of YUV->RGB in 16-bit lanes: y, u, v as value << 8 (for the unsigned high multiplies,
 * which then give exactly (value * k) >> 8); results before packing, clamped by the pack. B can
 * pass 32767, so it is computed unsigned with the subtraction saturating at 0 (= clamp to 0). */
JC_AVX2_INLINE void jc_avx2_vp8_yuv8(__m128i y, __m128i u, __m128i v, __m128i *r, __m128i *g, __m128i *b)
{
    const __m128i yy = _mm_mulhi_epu16(y, _mm_set1_epi16(19077));
    const __m128i rr = _mm_add_epi16(_mm_sub_epi16(yy, _mm_set1_epi16(14234)), _mm_mulhi_epu16(v, _mm_set1_epi16(26149)));
    const __m128i gg = _mm_sub_epi16(_mm_add_epi16(yy, _mm_set1_epi16(8708)),
                                     _mm_add_epi16(_mm_mulhi_epu16(u, _mm_set1_epi16(6419)), _mm_mulhi_epu16(v, _mm_set1_epi16(13320))));
    const __m128i bb = _mm_subs_epu16(_mm_adds_epu16(_mm_mulhi_epu16(u, _mm_set1_epi16((short)33050)), yy), _mm_set1_epi16(17685));
    *r = _mm_srai_epi16(rr, 6);
    *g = _mm_srai_epi16(gg, 6);
    *b = _mm_srli_epi16(bb, 6);
}

/* 16 pixels: y [16] bytes, u and v of pixels 0-7 (lo) and 8-15 (hi) in 16-bit lanes -> 48 bytes. */
JC_AVX2_INLINE void jc_avx2_vp8_rgb16(__m128i y, __m128i ulo, __m128i uhi, __m128i vlo, __m128i vhi, uint8_t *out)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i r0, g0, b0, r1, g1, b1;
    jc_avx2_vp8_yuv8(_mm_unpacklo_epi8(zero, y), _mm_slli_epi16(ulo, 8), _mm_slli_epi16(vlo, 8), &r0, &g0, &b0);
    jc_avx2_vp8_yuv8(_mm_unpackhi_epi8(zero, y), _mm_slli_epi16(uhi, 8), _mm_slli_epi16(vhi, 8), &r1, &g1, &b1);
    const __m128i r = _mm_packus_epi16(r0, r1), g = _mm_packus_epi16(g0, g1), b = _mm_packus_epi16(b0, b1);
    for (int m = 0; m < 3; m++) {
        const __m128i sr = jc_avx2_vp8_ld((const uint8_t *)jc_avx2_jpeg_rgb_shuf[m][0]);
        const __m128i sg = jc_avx2_vp8_ld((const uint8_t *)jc_avx2_jpeg_rgb_shuf[m][1]);
        const __m128i sb = jc_avx2_vp8_ld((const uint8_t *)jc_avx2_jpeg_rgb_shuf[m][2]);
        jc_avx2_vp8_st(out + 16 * m, _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(r, sr), _mm_shuffle_epi8(g, sg)),
                                                 _mm_shuffle_epi8(b, sb)));
    }
}

/* Fancy upsampling of 8 chroma positions x..x+7 of one plane: near/far rows n and f give the
 * 16 samples of output pixels 2x-1 .. 2x+14 of the row next to n (lo: 8 pixels, hi: 8). The
 * sums stay below 2^12: plain 16-bit lanes. */
JC_AVX2_INLINE void jc_avx2_vp8_up8(__m128i d12, __m128i d03, __m128i nl, __m128i n, __m128i *lo, __m128i *hi)
{
    const __m128i odd = _mm_srli_epi16(_mm_add_epi16(d12, nl), 1), even = _mm_srli_epi16(_mm_add_epi16(d03, n), 1);
    *lo = _mm_unpacklo_epi16(odd, even);
    *hi = _mm_unpackhi_epi16(odd, even);
}

JC_AVX2_INLINE void jc_avx2_vp8_sums(const uint8_t *t, const uint8_t *c, __m128i *tl, __m128i *tt, __m128i *l, __m128i *cc,
                                     __m128i *d12, __m128i *d03)
{
    *tl = _mm_cvtepu8_epi16(jc_avx2_vp8_ld64(t - 1));
    *tt = _mm_cvtepu8_epi16(jc_avx2_vp8_ld64(t));
    *l = _mm_cvtepu8_epi16(jc_avx2_vp8_ld64(c - 1));
    *cc = _mm_cvtepu8_epi16(jc_avx2_vp8_ld64(c));
    const __m128i avg = _mm_add_epi16(_mm_add_epi16(_mm_add_epi16(*tl, *tt), _mm_add_epi16(*l, *cc)), _mm_set1_epi16(8));
    const __m128i a = _mm_add_epi16(*tt, *l), b = _mm_add_epi16(*tl, *cc);
    *d12 = _mm_srli_epi16(_mm_add_epi16(avg, _mm_add_epi16(a, a)), 3);
    *d03 = _mm_srli_epi16(_mm_add_epi16(avg, _mm_add_epi16(b, b)), 3);
}

static JC_AVX2 void jc_avx2_vp8_upsample_pair(const uint8_t *top_y, const uint8_t *bot_y, const uint8_t *tu, const uint8_t *tv,
                                              const uint8_t *cu, const uint8_t *cv, uint8_t *td, uint8_t *bd, uint32_t len)
{
    const uint32_t last = (len - 1) >> 1;
    uint32_t x = 1;
    jc_scalar_vp8_up_head(top_y, bot_y, tu, tv, cu, cv, td, bd);
    for (; x + 7 <= last; x += 8) {
        __m128i utl, ut, ul, uc, ud12, ud03, vtl, vt, vl, vc, vd12, vd03, ulo, uhi, vlo, vhi;
        jc_avx2_vp8_sums(tu + x, cu + x, &utl, &ut, &ul, &uc, &ud12, &ud03);
        jc_avx2_vp8_sums(tv + x, cv + x, &vtl, &vt, &vl, &vc, &vd12, &vd03);
        jc_avx2_vp8_up8(ud12, ud03, utl, ut, &ulo, &uhi);
        jc_avx2_vp8_up8(vd12, vd03, vtl, vt, &vlo, &vhi);
        jc_avx2_vp8_rgb16(jc_avx2_vp8_ld(top_y + 2 * x - 1), ulo, uhi, vlo, vhi, td + (2 * (size_t)x - 1) * 3);
        if (bot_y) {
            jc_avx2_vp8_up8(ud03, ud12, ul, uc, &ulo, &uhi);
            jc_avx2_vp8_up8(vd03, vd12, vl, vc, &vlo, &vhi);
            jc_avx2_vp8_rgb16(jc_avx2_vp8_ld(bot_y + 2 * x - 1), ulo, uhi, vlo, vhi, bd + (2 * (size_t)x - 1) * 3);
        }
    }
    jc_scalar_vp8_up_tail(top_y, bot_y, tu, tv, cu, cv, td, bd, x, len); /* the rest as the scalar twin */
}

/* Four int32 vectors transposed as a 4 x 4 matrix. */
JC_AVX2_INLINE void jc_avx2_vp8_tr4(__m128i *a, __m128i *b, __m128i *c, __m128i *d)
{
    const __m128i ab0 = _mm_unpacklo_epi32(*a, *b), ab1 = _mm_unpackhi_epi32(*a, *b);
    const __m128i cd0 = _mm_unpacklo_epi32(*c, *d), cd1 = _mm_unpackhi_epi32(*c, *d);
    *a = _mm_unpacklo_epi64(ab0, cd0);
    *b = _mm_unpackhi_epi64(ab0, cd0);
    *c = _mm_unpacklo_epi64(ab1, cd1);
    *d = _mm_unpackhi_epi64(ab1, cd1);
}

/* One 1-D pass of the VP8 inverse DCT on 4 lanes: x0..x3 -> o0..o3 (dc already rounded). */
JC_AVX2_INLINE void jc_avx2_vp8_idct1(__m128i x0, __m128i x1, __m128i x2, __m128i x3, __m128i *o)
{
    const __m128i k1 = _mm_set1_epi32(20091), k2 = _mm_set1_epi32(35468);
    const __m128i a = _mm_add_epi32(x0, x2), b = _mm_sub_epi32(x0, x2);
    const __m128i m1x1 = _mm_add_epi32(_mm_srai_epi32(_mm_mullo_epi32(x1, k1), 16), x1);
    const __m128i m1x3 = _mm_add_epi32(_mm_srai_epi32(_mm_mullo_epi32(x3, k1), 16), x3);
    const __m128i m2x1 = _mm_srai_epi32(_mm_mullo_epi32(x1, k2), 16), m2x3 = _mm_srai_epi32(_mm_mullo_epi32(x3, k2), 16);
    const __m128i c = _mm_sub_epi32(m2x1, m1x3), d = _mm_add_epi32(m1x1, m2x3);
    o[0] = _mm_add_epi32(a, d);
    o[1] = _mm_add_epi32(b, c);
    o[2] = _mm_sub_epi32(b, c);
    o[3] = _mm_sub_epi32(a, d);
}

/* Adds 4 rows of int32 residuals (already >> 3) to dst and clamps (the int16 pack saturates
 * first, which keeps the sign and the clamp). */
JC_AVX2_INLINE void jc_avx2_vp8_add4x4(uint8_t *dst, const __m128i *r)
{
    __m128i s[4];
    for (int i = 0; i < 4; i++) {
        int32_t w;
        memcpy(&w, dst + i * JC_VP8_BPS, 4);
        s[i] = _mm_add_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(w)), r[i]);
    }
    const __m128i px = _mm_packus_epi16(_mm_packs_epi32(s[0], s[1]), _mm_packs_epi32(s[2], s[3]));
    int32_t w[4];
    _mm_storeu_si128((__m128i *)(void *)w, px);
    for (int i = 0; i < 4; i++) memcpy(dst + i * JC_VP8_BPS, &w[i], 4);
}

/* The scalar twin's two passes: first over the columns (lanes = columns), a transpose, the
 * second over the rows (lanes = rows), a transpose back to rows of pixels. */
static JC_AVX2 void jc_avx2_vp8_idct(const int16_t *in, uint8_t *dst)
{
    __m128i t[4], o[4];
    jc_avx2_vp8_idct1(_mm_cvtepi16_epi32(jc_avx2_vp8_ld64((const uint8_t *)in)),
                      _mm_cvtepi16_epi32(jc_avx2_vp8_ld64((const uint8_t *)(in + 4))),
                      _mm_cvtepi16_epi32(jc_avx2_vp8_ld64((const uint8_t *)(in + 8))),
                      _mm_cvtepi16_epi32(jc_avx2_vp8_ld64((const uint8_t *)(in + 12))), t);
    jc_avx2_vp8_tr4(&t[0], &t[1], &t[2], &t[3]);
    jc_avx2_vp8_idct1(_mm_add_epi32(t[0], _mm_set1_epi32(4)), t[1], t[2], t[3], o);
    jc_avx2_vp8_tr4(&o[0], &o[1], &o[2], &o[3]);
    for (int i = 0; i < 4; i++) o[i] = _mm_srai_epi32(o[i], 3);
    jc_avx2_vp8_add4x4(dst, o);
}

static JC_AVX2 void jc_avx2_vp8_idct_dc(const int16_t *in, uint8_t *dst)
{
    const __m128i v = _mm_set1_epi32((in[0] + 4) >> 3);
    const __m128i r[4] = {v, v, v, v};
    jc_avx2_vp8_add4x4(dst, r);
}

static const jc_vp8_ops jc_avx2_vp8_ops = {
    "avx2",
    jc_avx2_vp8_simple_v16, jc_avx2_vp8_simple_h16, jc_avx2_vp8_simple_v16i, jc_avx2_vp8_simple_h16i,
    jc_avx2_vp8_v16, jc_avx2_vp8_h16, jc_avx2_vp8_v16i, jc_avx2_vp8_h16i,
    jc_avx2_vp8_v8, jc_avx2_vp8_h8, jc_avx2_vp8_v8i, jc_avx2_vp8_h8i,
    jc_avx2_vp8_upsample_pair,
    jc_avx2_vp8_idct, jc_avx2_vp8_idct_dc,
};

#endif /* x86-64 */
