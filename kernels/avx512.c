/* kernels/avx512.c: AVX-512F (+FMA) kernels for x86-64.
 *
 * Compiled in every x86-64 build: each function carries a target attribute, so the file needs
 * no -m flags, and kernels/cpu.c only hands this table out after cpuid and XGETBV say that the
 * CPU and the OS support AVX-512. Every routine has a scalar twin in kernels/scalar.c with the
 * same contract; test/t_kernels.c compares them on odd shapes.
 *
 * GEMM (Y = X W^T + b, W in PyTorch [N, K] layout, read in place from the mapped file):
 *  - M > JK512_DOT_MAX rows: BLIS-style blocking. Per thread and per K block of JK512_KC, X is
 *    packed into MR-row panels (k-major) and W into one NR-wide sliver at a time (k-major,
 *    48 floats per k, L1 resident); the 8 x 48 micro-kernel broadcasts X and FMAs W:
 *
 *          k ->                 n ->  (3 zmm = 48 columns)
 *    Ap  [8 rows x kc]     Bp [kc x 48]          C tile 8 x 48 = 24 zmm accumulators
 *     m0 a a a a ...        b b b | b b b | ...   C[m0] += a(m0,k) * Bp[k][0..47]
 *     ..                                          ...
 *     m7 a a a a ...                              C[m7] += a(m7,k) * Bp[k][0..47]
 *
 *    The first K block writes C (+ bias), later ones add to it, so every element sums its K
 *    blocks in the same order whatever thread or tile it lands in.
 *  - M <= JK512_DOT_MAX (short texts): memory bound, so no packing: a dot-product kernel reads
 *    up to 8 X rows and 3 W rows along k (24 accumulators), then reduces each accumulator. */
#include "scalar.c"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define JK512 __attribute__((target("avx512f,avx2,fma")))
#define JK512_INLINE static inline __attribute__((always_inline, target("avx512f,avx2,fma")))

#define JK512_MR 8
#define JK512_NR 48
#define JK512_KC 256
#define JK512_MC 512
#define JK512_DOT_MAX 8

/* ---- helpers ------------------------------------------------------------------------------ */

JK512_INLINE __mmask16 jk512_mask(int n) /* first n lanes, n in [0, 16] */
{
    return (__mmask16)(n >= 16 ? 0xFFFF : (1u << (n < 0 ? 0 : n)) - 1u);
}

/* In-place 16 x 16 transpose: r[i][j] -> r[j][i]. */
JK512_INLINE void jk512_tr16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* u[4i + c] = column c of rows 4i..4i+3, per 128-bit lane */
        u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[c], u[c + 4], 0x88);
        __m512 v4 = _mm512_shuffle_f32x4(u[c], u[c + 4], 0xDD);
        __m512 v8 = _mm512_shuffle_f32x4(u[c + 8], u[c + 12], 0x88);
        __m512 v12 = _mm512_shuffle_f32x4(u[c + 8], u[c + 12], 0xDD);
        r[c] = _mm512_shuffle_f32x4(v0, v8, 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(v0, v8, 0xDD);
        r[c + 4] = _mm512_shuffle_f32x4(v4, v12, 0x88);
        r[c + 12] = _mm512_shuffle_f32x4(v4, v12, 0xDD);
    }
}

/* exp(x), Cephes-style: x = n ln2 + r, degree-6 polynomial on |r| <= ln2/2, 2^n by scalef.
 * About 1 ulp on [-104, 88.7]; inputs are clamped to that range (exp(-104) ~ 7e-46). */
JK512_INLINE __m512 jk512_exp(__m512 x)
{
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.7f)), _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 r2 = _mm512_mul_ps(r, r);
    p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* erf(x): N. Juffa's fp32 approximation (max error ~1 ulp): an odd polynomial below
 * |x| = 0.9277, 1 - exp(poly(|x|)) above, both evaluated and blended. */
JK512_INLINE __m512 jk512_erf(__m512 a)
{
    __m512 t = _mm512_abs_ps(a), s = _mm512_mul_ps(a, a);
    __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(-1.72853470e-5f), t, _mm512_set1_ps(3.83197126e-4f));
    __m512 u = _mm512_fmadd_ps(_mm512_set1_ps(-3.88396438e-3f), t, _mm512_set1_ps(2.42546219e-2f));
    r = _mm512_fmadd_ps(r, s, u);
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-1.06777877e-1f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-6.34846687e-1f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-1.28717512e-1f));
    r = _mm512_fmadd_ps(r, t, _mm512_sub_ps(_mm512_setzero_ps(), t));
    r = _mm512_sub_ps(_mm512_set1_ps(1.0f), jk512_exp(r));
    /* copysign(r, a) */
    r = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(r), _mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u))));
    __m512 q = _mm512_set1_ps(-5.96761703e-4f);
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(4.99119423e-3f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(-2.67681349e-2f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(1.12819925e-1f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(-3.76125336e-1f));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(1.28379166e-1f));
    q = _mm512_fmadd_ps(q, a, a);
    __mmask16 big = _mm512_cmp_ps_mask(t, _mm512_set1_ps(0.927734375f), _CMP_GT_OQ);
    return _mm512_mask_blend_ps(big, q, r);
}

/* ---- GEMM: packing ------------------------------------------------------------------------ */

/* Ap[p][k][r] = X[m0 + p*MR + r][k0 + k] for r < MR, k < kc; rows >= M are zero.
 * Rows are taken 16 at a time (two panels) through one 16 x 16 transpose. */
JK512 static void jk512_pack_a(float *Ap, const float *X, size_t ldx, int m0, int mc, int M, int k0,
                               int kc)
{
    for (int r0 = 0; r0 < mc; r0 += 16) {
        float *pa = Ap + (size_t)r0 * kc; /* panel r0/8, and r0/8+1 right after it */
        for (int k = 0; k < kc; k += 16) {
            __mmask16 km = jk512_mask(kc - k);
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int m = m0 + r0 + i;
                r[i] = m < M ? _mm512_maskz_loadu_ps(km, X + (size_t)m * ldx + k0 + k) : _mm512_setzero_ps();
            }
            jk512_tr16(r);
            int nk = kc - k < 16 ? kc - k : 16;
            for (int c = 0; c < nk; c++) {
                __m512d w = _mm512_castps_pd(r[c]);
                _mm256_storeu_ps(pa + (size_t)(k + c) * JK512_MR, _mm256_castpd_ps(_mm512_castpd512_pd256(w)));
                _mm256_storeu_ps(pa + (size_t)kc * JK512_MR + (size_t)(k + c) * JK512_MR,
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(w, 1)));
            }
        }
    }
}

/* Bp[k][j] = W[n + j][k0 + k] for j < NR, k < kc; rows >= N are zero. */
JK512 static void jk512_pack_b(float *Bp, const float *W, int K, int n, int N, int k0, int kc)
{
    for (int jb = 0; jb < JK512_NR; jb += 16) {
        for (int k = 0; k < kc; k += 16) {
            __mmask16 km = jk512_mask(kc - k);
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int row = n + jb + i;
                r[i] = row < N ? _mm512_maskz_loadu_ps(km, W + (size_t)row * K + k0 + k) : _mm512_setzero_ps();
            }
            jk512_tr16(r);
            int nk = kc - k < 16 ? kc - k : 16;
            for (int c = 0; c < nk; c++) _mm512_store_ps(Bp + (size_t)(k + c) * JK512_NR + jb, r[c]);
        }
    }
}

/* ---- GEMM: micro-kernels ------------------------------------------------------------------ */

/* C[i][0..nv) (+)= sum_k Ap[k][i] * Bp[k][0..nv) for i < mr; first block adds bias. */
JK512_INLINE void jk512_ukr(const int mr, int kc, const float *ap, const float *bp, float *C, size_t ldc,
                            int nv, const float *bias, int first)
{
    __m512 c[JK512_MR][3];
#pragma GCC unroll 8
    for (int i = 0; i < JK512_MR; i++)
        if (i < mr) c[i][0] = c[i][1] = c[i][2] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16), b2 = _mm512_load_ps(bp + 32);
#pragma GCC unroll 8
        for (int i = 0; i < JK512_MR; i++)
            if (i < mr) {
                __m512 a = _mm512_set1_ps(ap[i]);
                c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
                c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
                c[i][2] = _mm512_fmadd_ps(a, b2, c[i][2]);
            }
        ap += JK512_MR;
        bp += JK512_NR;
    }
    __mmask16 mk[3] = {jk512_mask(nv), jk512_mask(nv - 16), jk512_mask(nv - 32)};
    __m512 bv[3];
    for (int j = 0; j < 3; j++)
        bv[j] = (first && bias) ? _mm512_maskz_loadu_ps(mk[j], bias + 16 * j) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < JK512_MR; i++)
        if (i < mr) {
            float *row = C + (size_t)i * ldc;
            for (int j = 0; j < 3; j++) {
                __m512 add = first ? bv[j] : _mm512_maskz_loadu_ps(mk[j], row + 16 * j);
                _mm512_mask_storeu_ps(row + 16 * j, mk[j], _mm512_add_ps(c[i][j], add));
            }
        }
}

JK512 static void jk512_ukr_any(int mr, int kc, const float *ap, const float *bp, float *C, size_t ldc,
                                int nv, const float *bias, int first)
{
    switch (mr) {
    case 8: jk512_ukr(8, kc, ap, bp, C, ldc, nv, bias, first); break;
    case 7: jk512_ukr(7, kc, ap, bp, C, ldc, nv, bias, first); break;
    case 6: jk512_ukr(6, kc, ap, bp, C, ldc, nv, bias, first); break;
    case 5: jk512_ukr(5, kc, ap, bp, C, ldc, nv, bias, first); break;
    case 4: jk512_ukr(4, kc, ap, bp, C, ldc, nv, bias, first); break;
    case 3: jk512_ukr(3, kc, ap, bp, C, ldc, nv, bias, first); break;
    case 2: jk512_ukr(2, kc, ap, bp, C, ldc, nv, bias, first); break;
    default: jk512_ukr(1, kc, ap, bp, C, ldc, nv, bias, first); break;
    }
}

/* Dot-product tile for short X: Y[i][n + j] = X[i] . W[n + j] + bias for i < mr, j < nn <= 3. */
JK512_INLINE void jk512_dot(const int mr, float *Y, size_t ldy, const float *X, size_t ldx, const float *W,
                            int K, int n, int nn, const float *bias)
{
    const float *w0 = W + (size_t)n * K;
    const float *w1 = nn > 1 ? w0 + K : w0, *w2 = nn > 2 ? w0 + 2 * (size_t)K : w0;
    __m512 c[8][3];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        if (i < mr) c[i][0] = c[i][1] = c[i][2] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 b0 = _mm512_loadu_ps(w0 + k), b1 = _mm512_loadu_ps(w1 + k), b2 = _mm512_loadu_ps(w2 + k);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            if (i < mr) {
                __m512 a = _mm512_loadu_ps(X + (size_t)i * ldx + k);
                c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
                c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
                c[i][2] = _mm512_fmadd_ps(a, b2, c[i][2]);
            }
    }
    if (k < K) {
        __mmask16 km = jk512_mask(K - k);
        __m512 b0 = _mm512_maskz_loadu_ps(km, w0 + k), b1 = _mm512_maskz_loadu_ps(km, w1 + k),
               b2 = _mm512_maskz_loadu_ps(km, w2 + k);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            if (i < mr) {
                __m512 a = _mm512_maskz_loadu_ps(km, X + (size_t)i * ldx + k);
                c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
                c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
                c[i][2] = _mm512_fmadd_ps(a, b2, c[i][2]);
            }
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        if (i < mr)
            for (int j = 0; j < nn; j++)
                Y[(size_t)i * ldy + n + j] = _mm512_reduce_add_ps(c[i][j]) + (bias ? bias[n + j] : 0.0f);
}

JK512 static void jk512_dot_any(int mr, float *Y, size_t ldy, const float *X, size_t ldx, const float *W,
                                int K, int n, int nn, const float *bias)
{
    switch (mr) {
    case 8: jk512_dot(8, Y, ldy, X, ldx, W, K, n, nn, bias); break;
    case 7: jk512_dot(7, Y, ldy, X, ldx, W, K, n, nn, bias); break;
    case 6: jk512_dot(6, Y, ldy, X, ldx, W, K, n, nn, bias); break;
    case 5: jk512_dot(5, Y, ldy, X, ldx, W, K, n, nn, bias); break;
    case 4: jk512_dot(4, Y, ldy, X, ldx, W, K, n, nn, bias); break;
    case 3: jk512_dot(3, Y, ldy, X, ldx, W, K, n, nn, bias); break;
    case 2: jk512_dot(2, Y, ldy, X, ldx, W, K, n, nn, bias); break;
    default: jk512_dot(1, Y, ldy, X, ldx, W, K, n, nn, bias); break;
    }
}

/* ---- GEMM: driver ------------------------------------------------------------------------- */

static size_t jk512_linear_ws(int M, int K)
{
    (void)K;
    size_t mc = M < JK512_MC ? (size_t)(M + 15) / 16 * 16 : JK512_MC;
    return mc * JK512_KC + (size_t)JK512_KC * JK512_NR + 32;
}

JK512 static void jk512_linear(float *Y, size_t ldy, const float *X, size_t ldx, const float *W,
                               const float *bias, int M, int K, int n0, int n1, float *ws)
{
    if (M <= JK512_DOT_MAX) {
        for (int n = n0; n < n1; n += 3)
            jk512_dot_any(M, Y, ldy, X, ldx, W, K, n, n1 - n < 3 ? n1 - n : 3, bias);
        return;
    }
    float *Bp = jk_align64(ws);
    float *Ap = Bp + (size_t)JK512_KC * JK512_NR;
    for (int m0 = 0; m0 < M; m0 += JK512_MC) {
        int mc = M - m0 < JK512_MC ? M - m0 : JK512_MC;
        for (int k0 = 0; k0 < K; k0 += JK512_KC) {
            int kc = K - k0 < JK512_KC ? K - k0 : JK512_KC;
            jk512_pack_a(Ap, X, ldx, m0, (mc + 15) / 16 * 16, M, k0, kc);
            for (int n = n0; n < n1; n += JK512_NR) {
                int nv = n1 - n < JK512_NR ? n1 - n : JK512_NR;
                jk512_pack_b(Bp, W, K, n, n1, k0, kc);
                for (int m = 0; m < mc; m += JK512_MR)
                    jk512_ukr_any(mc - m < JK512_MR ? mc - m : JK512_MR, kc, Ap + (size_t)m * kc, Bp,
                                  Y + (size_t)(m0 + m) * ldy + n, ldy, nv, bias ? bias + n : NULL, k0 == 0);
            }
        }
    }
}

/* ---- row operations ----------------------------------------------------------------------- */

JK512 static void jk512_layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps)
{
    __m512 s = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(jk512_mask(n - i), x + i));
    float mean = _mm512_reduce_add_ps(s) / (float)n;
    __m512 vm = _mm512_set1_ps(mean), q = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = jk512_mask(n - i);
        __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + i), vm);
        q = _mm512_fmadd_ps(d, d, q);
    }
    float var = _mm512_reduce_add_ps(q) / (float)n;
    __m512 inv = _mm512_set1_ps(1.0f / sqrtf(var + eps));
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = jk512_mask(n - i);
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm), inv);
        __m512 r = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(k, w + i), _mm512_maskz_loadu_ps(k, b + i));
        _mm512_mask_storeu_ps(y + i, k, r);
    }
}

JK512 static void jk512_geglu(float *u, const float *g, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = jk512_mask(n - i);
        __m512 z = _mm512_maskz_loadu_ps(k, g + i), v = _mm512_maskz_loadu_ps(k, g + n + i);
        __m512 e = jk512_erf(_mm512_mul_ps(z, _mm512_set1_ps(0.70710678118654752f)));
        __m512 h = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), z), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_mask_storeu_ps(u + i, k, _mm512_mul_ps(h, v));
    }
}

JK512 static void jk512_swiglu(float *u, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = jk512_mask(n - i);
        __m512 z = _mm512_maskz_loadu_ps(k, a + i), v = _mm512_maskz_loadu_ps(k, b + i);
        __m512 e = jk512_exp(_mm512_sub_ps(_mm512_setzero_ps(), z));
        __m512 s = _mm512_div_ps(z, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_mask_storeu_ps(u + i, k, _mm512_mul_ps(s, v));
    }
}

JK512 static void jk512_add(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = jk512_mask(n - i);
        _mm512_mask_storeu_ps(y + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, y + i), _mm512_maskz_loadu_ps(k, x + i)));
    }
}

/* ---- attention ---------------------------------------------------------------------------- */

/* Flash-style attention with an online softmax over key blocks of 64. Per block, the keys are
 * transposed once into kt[d][64] so that 64 scores of a query are 4 zmm accumulators fed by
 * broadcasts of q; the running max, sum and d-wide output of every query live in ws.
 *
 *   kt  [d_head][64]   keys j0..j0+63 transposed (invalid columns 0)
 *   acc [nq][d_head]   un-normalised outputs;  mx, sum [nq]
 */
#define JK512_KB 64
#define JK512_DMAX 256

static size_t jk512_attention_ws(int L, int d_head, int nq)
{
    (void)L;
    if (d_head % 16 || d_head > JK512_DMAX) return (size_t)L; /* scalar fallback */
    return (size_t)d_head * JK512_KB + (size_t)nq * (d_head + 2) + JK512_KB + 32;
}

JK512_INLINE void jk512_attn(float *out, size_t ldo, const float *q, size_t ldq, const float *k, size_t ldk,
                             const float *v, size_t ldv, const uint8_t *valid, int L, const int d, int i0, int i1,
                             float scale, float slope, float *ws)
{
    const int nv = d / 16, nq = i1 - i0;
    float *kt = jk_align64(ws);
    float *p = kt + (size_t)d * JK512_KB; /* [64] probabilities of the current query */
    float *acc = p + JK512_KB, *mx = acc + (size_t)nq * d, *sum = mx + nq;
    for (int i = 0; i < nq; i++) {
        mx[i] = -INFINITY;
        sum[i] = 0;
        for (int c = 0; c < d; c++) acc[(size_t)i * d + c] = 0;
    }
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int j0 = 0; j0 < L; j0 += JK512_KB) {
        int jb = L - j0 < JK512_KB ? L - j0 : JK512_KB;
        __mmask16 vm[4];
        int any = 0;
        for (int b = 0; b < 4; b++) {
            unsigned bits = 0;
            for (int l = 0; l < 16; l++) {
                int j = 16 * b + l;
                if (j < jb && (!valid || valid[j0 + j])) bits |= 1u << l;
            }
            vm[b] = (__mmask16)bits;
            any |= bits != 0;
        }
        if (!any) continue;
        /* kt[c][j] = k[j0 + j][c] */
        for (int b = 0; b < 4; b++)
            for (int cb = 0; cb < nv; cb++) {
                __m512 r[16];
                for (int l = 0; l < 16; l++) {
                    int j = 16 * b + l;
                    r[l] = j < jb ? _mm512_loadu_ps(k + (size_t)(j0 + j) * ldk + 16 * cb) : _mm512_setzero_ps();
                }
                jk512_tr16(r);
                for (int l = 0; l < 16; l++) _mm512_store_ps(kt + (size_t)(16 * cb + l) * JK512_KB + 16 * b, r[l]);
            }
        for (int i = i0; i < i1; i++) {
            const float *qi = q + (size_t)i * ldq;
            __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            for (int c = 0; c < d; c++) {
                __m512 qc = _mm512_set1_ps(qi[c]);
                const float *kr = kt + (size_t)c * JK512_KB;
                for (int b = 0; b < 4; b++) s[b] = _mm512_fmadd_ps(qc, _mm512_load_ps(kr + 16 * b), s[b]);
            }
            __m512 m4 = _mm512_set1_ps(-INFINITY);
            for (int b = 0; b < 4; b++) {
                s[b] = _mm512_mul_ps(s[b], _mm512_set1_ps(scale));
                if (slope != 0.0f) {
                    __m512 dist = _mm512_abs_ps(_mm512_sub_ps(_mm512_set1_ps((float)i),
                                                              _mm512_add_ps(_mm512_set1_ps((float)(j0 + 16 * b)), iota)));
                    s[b] = _mm512_sub_ps(s[b], _mm512_mul_ps(_mm512_set1_ps(slope), dist));
                }
                m4 = _mm512_mask_max_ps(m4, vm[b], m4, s[b]);
            }
            float *ai = acc + (size_t)(i - i0) * d;
            float bmax = _mm512_reduce_max_ps(m4);
            float mnew = mx[i - i0] > bmax ? mx[i - i0] : bmax;
            float corr = expf(mx[i - i0] - mnew); /* 0 for the first block */
            __m512 vmax = _mm512_set1_ps(mnew), ps = _mm512_setzero_ps();
            for (int b = 0; b < 4; b++) {
                __m512 e = _mm512_maskz_mov_ps(vm[b], jk512_exp(_mm512_sub_ps(s[b], vmax)));
                ps = _mm512_add_ps(ps, e);
                _mm512_store_ps(p + 16 * b, e);
            }
            sum[i - i0] = sum[i - i0] * corr + _mm512_reduce_add_ps(ps);
            mx[i - i0] = mnew;
            __m512 o[JK512_DMAX / 16];
            __m512 vc = _mm512_set1_ps(corr);
            for (int cb = 0; cb < nv; cb++) o[cb] = _mm512_mul_ps(_mm512_loadu_ps(ai + 16 * cb), vc);
            for (int j = 0; j < jb; j++) {
                __m512 pj = _mm512_set1_ps(p[j]);
                const float *vj = v + (size_t)(j0 + j) * ldv;
                for (int cb = 0; cb < nv; cb++) o[cb] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj + 16 * cb), o[cb]);
            }
            for (int cb = 0; cb < nv; cb++) _mm512_storeu_ps(ai + 16 * cb, o[cb]);
        }
    }
    for (int i = i0; i < i1; i++) {
        __m512 inv = _mm512_set1_ps(1.0f / sum[i - i0]);
        float *o = out + (size_t)i * ldo;
        for (int cb = 0; cb < nv; cb++)
            _mm512_storeu_ps(o + 16 * cb, _mm512_mul_ps(_mm512_loadu_ps(acc + (size_t)(i - i0) * d + 16 * cb), inv));
    }
}

JK512 static void jk512_attention(float *out, size_t ldo, const float *q, size_t ldq, const float *k,
                                  size_t ldk, const float *v, size_t ldv, const uint8_t *key_valid, int L,
                                  int d_head, int i0, int i1, float scale, float slope, float *ws)
{
    if (d_head == 64)
        jk512_attn(out, ldo, q, ldq, k, ldk, v, ldv, key_valid, L, 64, i0, i1, scale, slope, ws);
    else if (d_head % 16 == 0 && d_head <= JK512_DMAX)
        jk512_attn(out, ldo, q, ldq, k, ldk, v, ldv, key_valid, L, d_head, i0, i1, scale, slope, ws);
    else
        jk_scalar_attention(out, ldo, q, ldq, k, ldk, v, ldv, key_valid, L, d_head, i0, i1, scale, slope, ws);
}

static const jk_ops jk_avx512_ops = {
    "avx512",
    JK512_NR,
    jk512_linear_ws,
    jk512_linear,
    jk512_layernorm,
    jk512_attention_ws,
    jk512_attention,
    jk512_geglu,
    jk512_swiglu,
    jk512_add,
};

#endif /* x86-64 */
