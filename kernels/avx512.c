/* kernels/avx512.c: AVX-512F (+FMA) kernels for x86-64.
 *
 * Compiled in every x86-64 build: each function carries a target attribute, so the file needs
 * no -m flags, and kernels/cpu.c only hands this table out after cpuid and XGETBV say that the
 * CPU and the OS support AVX-512. Every routine has a scalar twin in kernels/scalar.c with the
 * same contract; test/t_kernels.c compares them on odd shapes.
 *
 * GEMM (Y = X W^T + b, W in PyTorch [N, K] layout): BLIS-style blocking. Per K block of
 * JC_AVX512_KC, W is used one NR-wide sliver at a time (k-major, 48 floats per k: packed per
 * call from the mapped file, or read where it lies in the tower's packed copy), and the 8 x 48
 * micro-kernel broadcasts X (read in place) and FMAs W:
 *
 *          k ->                 n ->  (3 zmm = 48 columns)
 *    X   [8 rows x kc]     Bp [kc x 48]          C tile 8 x 48 = 24 zmm accumulators
 *     m0 a a a a ...        b b b | b b b | ...   C[m0] += a(m0,k) * Bp[k][0..47]
 *     ..                                          ...
 *     m7 a a a a ...                              C[m7] += a(m7,k) * Bp[k][0..47]
 *
 * The first K block writes C (+ bias), later ones add to it. Every row of X goes through the
 * same operations whatever M, tile, thread or loop order it lands in, so a row's outputs are
 * the same bits alone or inside any batch (short texts too: they stream the packed slivers
 * once, in the same K blocks). */
#include "scalar.c"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define JC_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define JC_AVX512_INLINE static inline __attribute__((always_inline, target("avx512f,avx2,fma")))

#define JC_AVX512_MR 8
#define JC_AVX512_NR 48
#ifndef JC_AVX512_KC
#define JC_AVX512_KC 1024 /* 256 -> 1024: M = 197 from 89-93% to 93-96% of the FMA probe, M = 512 from 85% to 94% */
#endif
#define JC_AVX512_MC 512
#define JC_AVX512_STREAM_MAX 8 /* X rows up to which the packed form streams each sliver once over all of K */
#ifndef JC_AVX512_PF_HINT
#define JC_AVX512_PF_HINT _MM_HINT_T1 /* to L2: measured 1.5x faster than T0 at M = 8 (L1 would thrash) */
#endif

/* ---- helpers ------------------------------------------------------------------------------ */

/* Pins a vector in a register: without it GCC folds a load that feeds several FMAs into each
 * of them as a memory operand (vfmadd231ps (mem), ...), which turns the short-X kernel's 11
 * loads per 24 FMAs into 28 and makes it load-port bound (88 -> 105 GFLOP/s on one core with
 * the weights in L2, M = 8, K = 768). */
#define JC_AVX512_KEEP(v) __asm__("" : "+v"(v))

JC_AVX512_INLINE __mmask16 jc_avx512_mask(int n) /* first n lanes, n in [0, 16] */
{
    return (__mmask16)(n >= 16 ? 0xFFFF : (1u << (n < 0 ? 0 : n)) - 1u);
}

/* In-place 16 x 16 transpose: r[i][j] -> r[j][i]. */
JC_AVX512_INLINE void jc_avx512_tr16(__m512 r[16])
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
JC_AVX512_INLINE __m512 jc_avx512_exp(__m512 x)
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

/* exp(x) for x <= 0 to about 1e-6 relative, for results rounded to bf16 next (2^-9): one
 * reduction step and a degree-5 polynomial, no clamps (below -87 the scaling gives 0; a lane of
 * x > 0, a key the caller masks out, may give inf, which the mask drops). */
JC_AVX512_INLINE __m512 jc_avx512_exp_bf(__m512 x)
{
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147180559945309f), x);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 120), r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* erf(x): N. Juffa's fp32 approximation (max error ~1 ulp): an odd polynomial below
 * |x| = 0.9277, 1 - exp(poly(|x|)) above, both evaluated and blended. */
JC_AVX512_INLINE __m512 jc_avx512_erf(__m512 a)
{
    __m512 t = _mm512_abs_ps(a), s = _mm512_mul_ps(a, a);
    __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(-1.72853470e-5f), t, _mm512_set1_ps(3.83197126e-4f));
    __m512 u = _mm512_fmadd_ps(_mm512_set1_ps(-3.88396438e-3f), t, _mm512_set1_ps(2.42546219e-2f));
    r = _mm512_fmadd_ps(r, s, u);
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-1.06777877e-1f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-6.34846687e-1f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-1.28717512e-1f));
    r = _mm512_fmadd_ps(r, t, _mm512_sub_ps(_mm512_setzero_ps(), t));
    r = _mm512_sub_ps(_mm512_set1_ps(1.0f), jc_avx512_exp(r));
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

/* Bp[k][j] = W[n + j][k0 + k] for j < NR, k < kc; rows >= N are zero. */
JC_AVX512 static void jc_avx512_pack_b(float *Bp, const float *W, int K, int n, int N, int k0, int kc)
{
    for (int jb = 0; jb < JC_AVX512_NR; jb += 16) {
        for (int k = 0; k < kc; k += 16) {
            __mmask16 km = jc_avx512_mask(kc - k);
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int row = n + jb + i;
                r[i] = row < N ? _mm512_maskz_loadu_ps(km, W + (size_t)row * K + k0 + k) : _mm512_setzero_ps();
            }
            jc_avx512_tr16(r);
            int nk = kc - k < 16 ? kc - k : 16;
            for (int c = 0; c < nk; c++) _mm512_store_ps(Bp + (size_t)(k + c) * JC_AVX512_NR + jb, r[c]);
        }
    }
}

/* ---- GEMM: micro-kernels ------------------------------------------------------------------ */

/* Cursor over the lines of the next W sliver (rows of kc floats, `lines` cache lines each) that
 * the micro-kernels prefetch to L2 while they run on the current one. Issued in a burst before
 * each call, the ~30 prefetches per call filled the miss buffers and stalled the core (80% of
 * the driver's samples sat on the instruction after a prefetch); one every `every` k steps
 * inside the k loop keeps them flowing. */
typedef struct {
    const float *row; /* W row of the next line to prefetch (already offset by k0) */
    size_t K;         /* W row stride */
    int line, lines;  /* next line within the row; lines per row */
    int rows;         /* rows left, this one included */
    int quota, every; /* lines for this call; k steps between two of them */
    int ahead;        /* > 0: streamed sliver: also prefetch the k step `ahead` floats past bp */
} jc_avx512_pf;

JC_AVX512_INLINE void jc_avx512_pf_one(jc_avx512_pf *pf)
{
    if (pf->quota <= 0 || pf->rows <= 0) return;
    _mm_prefetch((const char *)(pf->row + 16 * pf->line), _MM_HINT_T1);
    pf->quota--;
    if (++pf->line == pf->lines) pf->line = 0, pf->row += pf->K, pf->rows--;
}

/* C[i][0..nv) (+)= sum_k x[i * ldx + k] * Bp[k][0..nv) for i < mr; first block adds bias.
 * X is read in place (its rows are in L1/L2 for the whole K block): a packed copy cost 6-7%
 * of a forward pass in transposes. With pf->ahead > 0 (a packed sliver streamed once by a
 * short X, nothing to share between tiles) every k step also prefetches the 3 lines of the
 * step `ahead` floats further on. */
JC_AVX512_INLINE void jc_avx512_ukr(const int mr, int kc, const float *x, size_t ldx, const float *bp, float *C,
                            size_t ldc, int nv, const float *bias, int first, jc_avx512_pf *pf)
{
    int countdown = pf->every;
    const float *xr[JC_AVX512_MR];
#pragma GCC unroll 8
    for (int i = 0; i < JC_AVX512_MR; i++) xr[i] = x + (size_t)(i < mr ? i : 0) * ldx;
    __m512 c[JC_AVX512_MR][3];
#pragma GCC unroll 8
    for (int i = 0; i < JC_AVX512_MR; i++)
        if (i < mr) c[i][0] = c[i][1] = c[i][2] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16), b2 = _mm512_load_ps(bp + 32);
        JC_AVX512_KEEP(b0); /* edge tiles (mr < 8) would fold them into the FMAs */
        JC_AVX512_KEEP(b1);
        JC_AVX512_KEEP(b2);
        if (pf->ahead) {
            _mm_prefetch((const char *)(bp + pf->ahead), JC_AVX512_PF_HINT);
            _mm_prefetch((const char *)(bp + pf->ahead + 16), JC_AVX512_PF_HINT);
            _mm_prefetch((const char *)(bp + pf->ahead + 32), JC_AVX512_PF_HINT);
        }
#pragma GCC unroll 8
        for (int i = 0; i < JC_AVX512_MR; i++)
            if (i < mr) {
                __m512 a = _mm512_set1_ps(xr[i][k]);
                c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
                c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
                c[i][2] = _mm512_fmadd_ps(a, b2, c[i][2]);
            }
        bp += JC_AVX512_NR;
        if (--countdown == 0) {
            countdown = pf->every;
            jc_avx512_pf_one(pf);
        }
    }
    while (pf->quota > 0 && pf->rows > 0) jc_avx512_pf_one(pf); /* the rest of this call's share */
    __mmask16 mk[3] = {jc_avx512_mask(nv), jc_avx512_mask(nv - 16), jc_avx512_mask(nv - 32)};
    __m512 bv[3];
    for (int j = 0; j < 3; j++)
        bv[j] = (first && bias) ? _mm512_maskz_loadu_ps(mk[j], bias + 16 * j) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < JC_AVX512_MR; i++)
        if (i < mr) {
            float *row = C + (size_t)i * ldc;
            for (int j = 0; j < 3; j++) {
                __m512 add = first ? bv[j] : _mm512_maskz_loadu_ps(mk[j], row + 16 * j);
                _mm512_mask_storeu_ps(row + 16 * j, mk[j], _mm512_add_ps(c[i][j], add));
            }
        }
}

JC_AVX512 static void jc_avx512_ukr_any(int mr, int kc, const float *x, size_t ldx, const float *bp, float *C,
                                size_t ldc, int nv, const float *bias, int first, jc_avx512_pf *pf)
{
    switch (mr) {
    case 8: jc_avx512_ukr(8, kc, x, ldx, bp, C, ldc, nv, bias, first, pf); break;
    case 7: jc_avx512_ukr(7, kc, x, ldx, bp, C, ldc, nv, bias, first, pf); break;
    case 6: jc_avx512_ukr(6, kc, x, ldx, bp, C, ldc, nv, bias, first, pf); break;
    case 5: jc_avx512_ukr(5, kc, x, ldx, bp, C, ldc, nv, bias, first, pf); break;
    case 4: jc_avx512_ukr(4, kc, x, ldx, bp, C, ldc, nv, bias, first, pf); break;
    case 3: jc_avx512_ukr(3, kc, x, ldx, bp, C, ldc, nv, bias, first, pf); break;
    case 2: jc_avx512_ukr(2, kc, x, ldx, bp, C, ldc, nv, bias, first, pf); break;
    default: jc_avx512_ukr(1, kc, x, ldx, bp, C, ldc, nv, bias, first, pf); break;
    }
}

/* ---- GEMM: driver ------------------------------------------------------------------------- */

static size_t jc_avx512_linear_ws(int M, int K)
{
    (void)M, (void)K;
    return (size_t)JC_AVX512_KC * JC_AVX512_NR + 32;
}

/* The blocked loops of both GEMM forms. In place (packed = 0), each K block of a 48-wide
 * sliver is packed into Bp (ws) first; with packed weights (see below) it is read where it is.
 * Either way the next block to use (this K block of the next sliver, or the first sliver of the
 * next K block) comes in to L2 a few lines per micro-kernel call: without it, 1 sliver in 8 of
 * an N = 768 GEMM was packed from memory. */
JC_AVX512_INLINE void jc_avx512_gemm(float *Y, size_t ldy, const float *X, size_t ldx, const float *W, const float *bias,
                             int M, int K, int n0, int n1, float *Bp, const int packed)
{
    const size_t sl = (size_t)JC_AVX512_NR * K; /* floats per packed sliver */
    for (int m0 = 0; m0 < M; m0 += JC_AVX512_MC) {
        int mc = M - m0 < JC_AVX512_MC ? M - m0 : JC_AVX512_MC;
        for (int k0 = 0; k0 < K; k0 += JC_AVX512_KC) {
            int kc = K - k0 < JC_AVX512_KC ? K - k0 : JC_AVX512_KC;
            int kc2 = K - k0 - JC_AVX512_KC < JC_AVX512_KC ? K - k0 - JC_AVX512_KC : JC_AVX512_KC; /* next K block */
            for (int n = n0; n < n1; n += JC_AVX512_NR) {
                int nv = n1 - n < JC_AVX512_NR ? n1 - n : JC_AVX512_NR;
                const float *bp = Bp;
                jc_avx512_pf pf = {NULL, (size_t)K, 0, 0, 0, 0, 1, 0};
                if (packed) { /* contiguous runs: one "row" of lines */
                    bp = W + (size_t)(n / JC_AVX512_NR) * sl + (size_t)k0 * JC_AVX512_NR;
                    pf.rows = 1;
                    if (n + JC_AVX512_NR < n1)
                        pf.row = bp + sl, pf.lines = kc * JC_AVX512_NR / 16;
                    else if (kc2 > 0)
                        pf.row = W + (size_t)(n0 / JC_AVX512_NR) * sl + (size_t)(k0 + JC_AVX512_KC) * JC_AVX512_NR,
                        pf.lines = kc2 * JC_AVX512_NR / 16;
                    else
                        pf.rows = 0;
                } else { /* the next sliver's W rows, kc floats each */
                    jc_avx512_pack_b(Bp, W, K, n, n1, k0, kc);
                    if (n + JC_AVX512_NR < n1)
                        pf.row = W + (size_t)(n + JC_AVX512_NR) * K + k0, pf.lines = (kc + 15) / 16,
                        pf.rows = n1 - n - JC_AVX512_NR < JC_AVX512_NR ? n1 - n - JC_AVX512_NR : JC_AVX512_NR;
                    else if (kc2 > 0)
                        pf.row = W + (size_t)n0 * K + k0 + JC_AVX512_KC, pf.lines = (kc2 + 15) / 16,
                        pf.rows = n1 - n0 < JC_AVX512_NR ? n1 - n0 : JC_AVX512_NR;
                }
                int tiles = (mc + JC_AVX512_MR - 1) / JC_AVX512_MR;
                int per = (pf.rows * pf.lines + tiles - 1) / tiles;
                pf.every = per > 0 && kc / per > 1 ? kc / per : 1;
                for (int m = 0; m < mc; m += JC_AVX512_MR) {
                    pf.quota = per;
                    jc_avx512_ukr_any(mc - m < JC_AVX512_MR ? mc - m : JC_AVX512_MR, kc, X + (size_t)(m0 + m) * ldx + k0, ldx,
                                  bp, Y + (size_t)(m0 + m) * ldy + n, ldy, nv, bias ? bias + n : NULL, k0 == 0, &pf);
                }
            }
        }
    }
}

JC_AVX512 static void jc_avx512_linear(float *Y, size_t ldy, const float *X, size_t ldx, const float *W,
                               const float *bias, int M, int K, int n0, int n1, float *ws)
{
    jc_avx512_gemm(Y, ldy, X, ldx, W, bias, M, K, n0, n1, jc_align64(ws), 0);
}

/* ---- GEMM on weights packed once at load ------------------------------------------------- */

/* Packed form of W [N, K]: slivers of 48 rows, each stored k-major exactly as pack_b lays out
 * one K block (Bp[k][j] = W[48 s + j][k]), rows past N zero:
 *
 *   Wp [ceil(N/48)][K][48]      sliver s = columns 48 s .. 48 s + 47 of Y
 *
 * A K block of a sliver is then one contiguous run the micro-kernel reads directly: no
 * per-call packing (7-16% of a forward pass), and the weights stream from memory in order. */
static size_t jc_avx512_pack_size(int N, int K)
{
    return (size_t)((N + JC_AVX512_NR - 1) / JC_AVX512_NR) * JC_AVX512_NR * (size_t)K;
}

JC_AVX512 static void jc_avx512_pack(float *Wp, const float *W, int N, int K, int s0, int s1)
{
    for (int s = s0; s < s1; s++) jc_avx512_pack_b(Wp + (size_t)s * JC_AVX512_NR * K, W, K, s * JC_AVX512_NR, N, 0, K);
}

#ifndef JC_AVX512_STREAM_AHEAD
#define JC_AVX512_STREAM_AHEAD (JC_AVX512_NR * 16) /* 16 k steps (3 KB) ahead */
#endif

/* The same sums as jc_avx512_linear (bitwise equal for every M), reading the packed slivers in
 * place. Short X (M <= JC_AVX512_STREAM_MAX: nothing to share between tiles) streams every
 * sliver once, its K blocks in order, prefetching ahead of the micro-kernel. */
JC_AVX512 static void jc_avx512_linear_packed(float *Y, size_t ldy, const float *X, size_t ldx, const float *Wp,
                                      const float *bias, int M, int K, int n0, int n1, float *ws)
{
    (void)ws;
    if (M > JC_AVX512_STREAM_MAX) {
        jc_avx512_gemm(Y, ldy, X, ldx, Wp, bias, M, K, n0, n1, NULL, 1);
        return;
    }
    for (int n = n0; n < n1; n += JC_AVX512_NR) {
        const float *sliver = Wp + (size_t)(n / JC_AVX512_NR) * JC_AVX512_NR * K;
        int nv = n1 - n < JC_AVX512_NR ? n1 - n : JC_AVX512_NR;
        for (int k0 = 0; k0 < K; k0 += JC_AVX512_KC) {
            int kc = K - k0 < JC_AVX512_KC ? K - k0 : JC_AVX512_KC;
            jc_avx512_pf pf = {NULL, 0, 0, 0, 0, 0, 0, JC_AVX512_STREAM_AHEAD};
            jc_avx512_ukr_any(M, kc, X + k0, ldx, sliver + (size_t)k0 * JC_AVX512_NR, Y + n, ldy, nv, bias ? bias + n : NULL,
                              k0 == 0, &pf);
        }
    }
}

/* ---- row operations ----------------------------------------------------------------------- */

JC_AVX512 static void jc_avx512_layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps)
{
    /* four independent sums per pass: one chain of n / 16 dependent adds (4 cycles each) made
     * a row of 768 latency-bound */
    __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int i = 0;
    for (; i + 64 <= n; i += 64)
        for (int u = 0; u < 4; u++) s[u] = _mm512_add_ps(s[u], _mm512_loadu_ps(x + i + 16 * u));
    for (int u = 0; i < n; i += 16, u++) s[u] = _mm512_add_ps(s[u], _mm512_maskz_loadu_ps(jc_avx512_mask(n - i), x + i));
    float mean = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3]))) / (float)n;
    __m512 vm = _mm512_set1_ps(mean), q[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (i = 0; i + 64 <= n; i += 64)
        for (int u = 0; u < 4; u++) {
            __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16 * u), vm);
            q[u] = _mm512_fmadd_ps(d, d, q[u]);
        }
    for (int u = 0; i < n; i += 16, u++) {
        __mmask16 k = jc_avx512_mask(n - i);
        __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + i), vm);
        q[u] = _mm512_fmadd_ps(d, d, q[u]);
    }
    float var = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(q[0], q[1]), _mm512_add_ps(q[2], q[3]))) / (float)n;
    __m512 inv = _mm512_set1_ps(1.0f / sqrtf(var + eps));
    for (i = 0; i < n; i += 16) {
        __mmask16 k = jc_avx512_mask(n - i);
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm), inv);
        __m512 r = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(k, w + i), _mm512_maskz_loadu_ps(k, b + i));
        _mm512_mask_storeu_ps(y + i, k, r);
    }
}

/* GELU(z) * v with the exact (erf) GELU. */
JC_AVX512_INLINE __m512 jc_avx512_gelu_mul(__m512 z, __m512 v)
{
    __m512 e = jc_avx512_erf(_mm512_mul_ps(z, _mm512_set1_ps(0.70710678118654752f)));
    __m512 h = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), z), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
    return _mm512_mul_ps(h, v);
}

JC_AVX512 static void jc_avx512_geglu(float *u, const float *g, int n)
{
    int i = 0;
    for (; i + 32 <= n; i += 32) { /* two independent chains, as in jc_avx512_swiglu */
        __m512 z0 = _mm512_loadu_ps(g + i), z1 = _mm512_loadu_ps(g + i + 16);
        __m512 v0 = _mm512_loadu_ps(g + n + i), v1 = _mm512_loadu_ps(g + n + i + 16);
        _mm512_storeu_ps(u + i, jc_avx512_gelu_mul(z0, v0));
        _mm512_storeu_ps(u + i + 16, jc_avx512_gelu_mul(z1, v1));
    }
    for (; i < n; i += 16) {
        __mmask16 k = jc_avx512_mask(n - i);
        __m512 z = _mm512_maskz_loadu_ps(k, g + i), v = _mm512_maskz_loadu_ps(k, g + n + i);
        _mm512_mask_storeu_ps(u + i, k, jc_avx512_gelu_mul(z, v));
    }
}

/* SiLU(z) * v: z / (1 + e^-z) by a reciprocal estimate (2^-14) and one Newton step (about 1 ulp):
 * vdivps issues once every 10+ cycles and was most of the gate's time. */
JC_AVX512_INLINE __m512 jc_avx512_silu_mul(__m512 z, __m512 v)
{
    __m512 e = jc_avx512_exp(_mm512_sub_ps(_mm512_setzero_ps(), z));
    __m512 den = _mm512_add_ps(_mm512_set1_ps(1.0f), e), r = _mm512_rcp14_ps(den);
    r = _mm512_fmadd_ps(_mm512_fnmadd_ps(den, r, _mm512_set1_ps(1.0f)), r, r);
    return _mm512_mul_ps(_mm512_mul_ps(z, r), v);
}

/* QuickGELU in place: silu_mul(1.702f * y, 1 / 1.702f), two chains as in jc_avx512_swiglu. */
JC_AVX512 static void jc_avx512_quick_gelu(float *y, int n)
{
    const __m512 c = _mm512_set1_ps(1.702f), ic = _mm512_set1_ps(1.0f / 1.702f);
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 z0 = _mm512_mul_ps(_mm512_loadu_ps(y + i), c), z1 = _mm512_mul_ps(_mm512_loadu_ps(y + i + 16), c);
        _mm512_storeu_ps(y + i, jc_avx512_silu_mul(z0, ic));
        _mm512_storeu_ps(y + i + 16, jc_avx512_silu_mul(z1, ic));
    }
    for (; i < n; i += 16) {
        __mmask16 k = jc_avx512_mask(n - i);
        _mm512_mask_storeu_ps(y + i, k, jc_avx512_silu_mul(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, y + i), c), ic));
    }
}

JC_AVX512 static void jc_avx512_swiglu(float *u, const float *a, const float *b, int n)
{
    int i = 0;
    for (; i + 32 <= n; i += 32) { /* two independent chains: one is latency-bound (~80 cycles) */
        __m512 z0 = _mm512_loadu_ps(a + i), z1 = _mm512_loadu_ps(a + i + 16);
        __m512 v0 = _mm512_loadu_ps(b + i), v1 = _mm512_loadu_ps(b + i + 16);
        _mm512_storeu_ps(u + i, jc_avx512_silu_mul(z0, v0));
        _mm512_storeu_ps(u + i + 16, jc_avx512_silu_mul(z1, v1));
    }
    for (; i < n; i += 16) {
        __mmask16 k = jc_avx512_mask(n - i);
        __m512 z = _mm512_maskz_loadu_ps(k, a + i), v = _mm512_maskz_loadu_ps(k, b + i);
        _mm512_mask_storeu_ps(u + i, k, jc_avx512_silu_mul(z, v));
    }
}

JC_AVX512 static void jc_avx512_add(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = jc_avx512_mask(n - i);
        _mm512_mask_storeu_ps(y + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, y + i), _mm512_maskz_loadu_ps(k, x + i)));
    }
}

/* ---- attention ---------------------------------------------------------------------------- */

/* Flash-style attention with an online softmax over chunks of JC_AVX512_AKC keys, computed for
 * tiles of JC_AVX512_QR queries like a GEMM. Per chunk the keys are transposed once into
 * kt[d][KC]; then per query tile:
 *   scores   s[r][j] = (q_r . k_j) * scale - slope * |i_r - j|: 4 x 16 keys x QR queries in
 *            4 * QR zmm accumulators per pass over c (4 kt loads and QR broadcasts feed 4 * QR FMAs)
 *   softmax  per query: max over its valid keys, exp, sum, rescale of its running output
 *   PV       o[r][64 dims] += p[r][j] * v[j]: 4 * QR accumulators per 64 dims
 * Every query's arithmetic is its own (a tile only shares loads), so a query gives the same bits
 * in any tile, any [i0, i1) and with any thread count. Keys a query must not see (invalid, past
 * the chunk's end, or j > i when causal) get probability exactly 0: they add +0 to its sums and
 * 0 * v to its output, and a chunk where it sees no key leaves its state as it was, so a causal
 * query is bitwise the query alone over keys [0, i].
 *
 *   kt  [d][KC]       keys of the chunk transposed (columns past the chunk's end 0)
 *   p   [QR][KC]      scores, then probabilities, of the tile's queries
 *   acc [nq + QR][d]  un-normalised outputs (QR spare rows for a tile's unused queries)
 *   mx, sum [nq + QR]
 */
#define JC_AVX512_AKC 256 /* one chunk up to 256 keys (EVA02's 197): L = 197 1.16 -> 1.07 ms a layer, 512 -2% */
#define JC_AVX512_QR 6
#define JC_AVX512_DMAX 256

static size_t jc_avx512_attention_ws(int L, int d_head, int nq)
{
    (void)L;
    if (d_head % 16 || d_head > JC_AVX512_DMAX) return (size_t)L; /* scalar fallback */
    return (size_t)d_head * JC_AVX512_AKC + (size_t)JC_AVX512_QR * JC_AVX512_AKC +
           (size_t)(nq + JC_AVX512_QR) * (d_head + 2) + 32 +
           (size_t)JC_AVX512_QR * (JC_AVX512_DMAX + JC_AVX512_AKC) / 2; /* the bf16 form's qb and pb */
}

/* Scores of the tile's QR queries for NB (1..4) vectors of 16 keys starting at key column jv of
 * kt: s[r][b] = sum_c q_r[c] * kt[c][jv + 16 b], c in order. */
#define JC_AVX512_SCORES(NB)                                                                    \
    do {                                                                                      \
        __m512 sc[JC_AVX512_QR][4];                                                           \
        _Pragma("GCC unroll 8") for (int r = 0; r < JC_AVX512_QR; r++)                        \
            _Pragma("GCC unroll 4") for (int b = 0; b < NB; b++) sc[r][b] = _mm512_setzero_ps(); \
        for (int c = 0; c < d; c++) {                                                         \
            const float *kr = kt + (size_t)c * JC_AVX512_AKC + jv;                             \
            __m512 kv[4];                                                                     \
            _Pragma("GCC unroll 4") for (int b = 0; b < NB; b++) {                            \
                kv[b] = _mm512_load_ps(kr + 16 * b);                                          \
                JC_AVX512_KEEP(kv[b]);                                                        \
            }                                                                                 \
            _Pragma("GCC unroll 8") for (int r = 0; r < JC_AVX512_QR; r++) {                  \
                __m512 qc = _mm512_set1_ps(qr[r][c]);                                         \
                JC_AVX512_KEEP(qc);                                                           \
                _Pragma("GCC unroll 4") for (int b = 0; b < NB; b++)                          \
                    sc[r][b] = _mm512_fmadd_ps(qc, kv[b], sc[r][b]);                          \
            }                                                                                 \
        }                                                                                     \
        _Pragma("GCC unroll 8") for (int r = 0; r < JC_AVX512_QR; r++)                        \
            _Pragma("GCC unroll 4") for (int b = 0; b < NB; b++)                              \
                _mm512_store_ps(p + (size_t)r * JC_AVX512_AKC + jv + 16 * b, sc[r][b]);        \
    } while (0)

/* The softmax step of a tile of jc_avx512_attn (and of its bf16 form) over one chunk: per query r
 * (index qi + r; its state in row[r] of mx / sum), the scores in p[r] scaled and ALiBi-biased, the
 * max over the keys it sees, p[r][j] <- exp(s - max) (+0 for keys it does not see), its running
 * max and sum updated and corr[r] the factor for its running output. bf: each probability is
 * rounded to bf16 (nearest even) before it is summed and stored, so that the bf16 PV product
 * multiplies by exactly the values the sum adds up. */
JC_AVX512_INLINE void jc_avx512_attn_softmax(float *p, __m512 *corr, const int *row, int nr, int qi, int j0, int nbt,
                                     const __mmask16 *vm, int causal, float scale, float slope, float *mx, float *sum,
                                     int one, const int bf)
{
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int r = 0; r < JC_AVX512_QR; r++) {
        const int iu = qi + (r < nr ? r : 0), w = row[r];
        float *pr = p + (size_t)r * JC_AVX512_AKC;
        __m512 m = _mm512_set1_ps(-INFINITY);
        __m512 jd = _mm512_add_ps(_mm512_set1_ps((float)(j0 - iu)), iota); /* j - i, exact */
        for (int b = 0; b < nbt; b++) {
            __mmask16 vq = causal ? vm[b] & jc_avx512_mask(iu - j0 - 16 * b + 1) : vm[b];
            /* bf: the queries come scaled, and the ALiBi term is one fused step */
            __m512 sv = bf ? _mm512_load_ps(pr + 16 * b) : _mm512_mul_ps(_mm512_load_ps(pr + 16 * b), _mm512_set1_ps(scale));
            if (slope != 0.0f) {
                __m512 dist = _mm512_abs_ps(jd);
                sv = bf ? _mm512_fnmadd_ps(_mm512_set1_ps(slope), dist, sv) : _mm512_sub_ps(sv, _mm512_mul_ps(_mm512_set1_ps(slope), dist));
                jd = _mm512_add_ps(jd, _mm512_set1_ps(16.0f));
            }
            _mm512_store_ps(pr + 16 * b, sv);
            m = _mm512_mask_max_ps(m, vq, m, sv);
        }
        float bmax = _mm512_reduce_max_ps(m);
        if (bmax == -INFINITY) { /* no key of this chunk for this query: state unchanged */
            corr[r] = _mm512_set1_ps(1.0f);
            for (int b = 0; b < nbt; b++) _mm512_store_ps(pr + 16 * b, _mm512_setzero_ps());
            continue;
        }
        float mnew = mx[w] > bmax ? mx[w] : bmax;
        float cr = one ? 0.0f : expf(mx[w] - mnew); /* 0 for the first chunk */
        __m512 vmax = _mm512_set1_ps(mnew), ps = _mm512_setzero_ps();
        for (int b = 0; b < nbt; b++) {
            __mmask16 vq = causal ? vm[b] & jc_avx512_mask(iu - j0 - 16 * b + 1) : vm[b];
            __m512 x = _mm512_sub_ps(_mm512_load_ps(pr + 16 * b), vmax);
            __m512 e = _mm512_maskz_mov_ps(vq, bf ? jc_avx512_exp_bf(x) : jc_avx512_exp(x));
            if (bf) { /* e >= 0, finite: round the bits to their upper half, ties to even */
                __m512i u = _mm512_castps_si512(e);
                u = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF),
                                                         _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
                e = _mm512_castsi512_ps(_mm512_and_si512(u, _mm512_set1_epi32((int)0xFFFF0000u)));
            }
            ps = _mm512_add_ps(ps, e);
            _mm512_store_ps(pr + 16 * b, e);
        }
        sum[w] = sum[w] * cr + _mm512_reduce_add_ps(ps);
        mx[w] = mnew;
        corr[r] = _mm512_set1_ps(cr);
    }
}

/* The running state of nq queries (and QR spare rows): max -inf, sum 0, outputs 0 (several
 * chunks only; one chunk's outputs never go through acc). */
JC_AVX512_INLINE void jc_avx512_attn_init(float *acc, float *mx, float *sum, int nq, int d, int one)
{
    for (int i = 0; i < nq + JC_AVX512_QR; i++) {
        mx[i] = -INFINITY;
        sum[i] = 0;
        if (!one)
            for (int c = 0; c < d; c++) acc[(size_t)i * d + c] = 0;
    }
}

/* vm[b]: the valid keys among the chunk's keys 16 b .. 16 b + 15 (of jb from j0). Returns
 * whether there is any. */
JC_AVX512_INLINE int jc_avx512_attn_mask(__mmask16 *vm, const uint8_t *valid, int j0, int jb)
{
    int any = 0;
    for (int b = 0; b < (jb + 15) / 16; b++) {
        unsigned bits = 0;
        for (int l = 0; l < 16; l++) {
            int j = 16 * b + l;
            if (j < jb && (!valid || valid[j0 + j])) bits |= 1u << l;
        }
        vm[b] = (__mmask16)bits;
        any |= bits != 0;
    }
    return any;
}

/* A query tile of nr queries from it (of nq): row[r], the query's row in acc / mx / sum (a
 * spare row past nq for unused ones). Returns the keys of the chunk (jb from j0) the tile
 * computes: causal, the tile's last query sees keys up to its own index, and the keys past it
 * are masked for every query of the tile and need not be computed at all. */
JC_AVX512_INLINE int jc_avx512_attn_tile(int *row, int it, int nr, int nq, int i0, int j0, int jb, int causal)
{
    for (int r = 0; r < JC_AVX512_QR; r++) row[r] = r < nr ? it + r : nq + r;
    return causal && i0 + it + nr - j0 < jb ? i0 + it + nr - j0 : jb;
}

/* A tile's outputs for dims c0 .. c0 + 16 nvc before a chunk's PV: 0 (one chunk), else the
 * running ones times the correction of the new max. */
JC_AVX512_INLINE void jc_avx512_attn_resume(__m512 o[JC_AVX512_QR][4], const float *acc, const __m512 *corr, const int *row,
                                    int c0, int nvc, int d, int one)
{
    _Pragma("GCC unroll 8") for (int r = 0; r < JC_AVX512_QR; r++)
        _Pragma("GCC unroll 4") for (int cb = 0; cb < 4; cb++)
            if (cb < nvc)
                o[r][cb] = one ? _mm512_setzero_ps() : _mm512_mul_ps(_mm512_loadu_ps(acc + (size_t)row[r] * d + c0 + 16 * cb), corr[r]);
}

/* A tile's outputs for dims c0 .. c0 + 16 nvc: with a single chunk (one) final, o / sum, into
 * out; else into acc for the next chunk. */
JC_AVX512_INLINE void jc_avx512_attn_out(float *out, size_t ldo, float *acc, __m512 o[JC_AVX512_QR][4], const int *row,
                                 int nr, int qi, int c0, int nvc, int d, const float *sum, int one)
{
    if (one) {
        for (int r = 0; r < nr; r++) {
            __m512 inv = _mm512_set1_ps(1.0f / sum[row[r]]);
            float *orow = out + (size_t)(qi + r) * ldo + c0;
            _Pragma("GCC unroll 4") for (int cb = 0; cb < 4; cb++)
                if (cb < nvc) _mm512_storeu_ps(orow + 16 * cb, _mm512_mul_ps(o[r][cb], inv));
        }
    } else {
        _Pragma("GCC unroll 8") for (int r = 0; r < JC_AVX512_QR; r++)
            _Pragma("GCC unroll 4") for (int cb = 0; cb < 4; cb++)
                if (cb < nvc) _mm512_storeu_ps(acc + (size_t)row[r] * d + c0 + 16 * cb, o[r][cb]);
    }
}

/* After the last chunk (several chunks only): out[i] = acc[i] / sum[i]. */
JC_AVX512_INLINE void jc_avx512_attn_final(float *out, size_t ldo, const float *acc, const float *sum, int i0, int i1,
                                   int d, int one)
{
    for (int i = i0; i < i1 && !one; i++) {
        __m512 inv = _mm512_set1_ps(1.0f / sum[i - i0]);
        float *o = out + (size_t)i * ldo;
        for (int cb = 0; cb < d / 16; cb++)
            _mm512_storeu_ps(o + 16 * cb, _mm512_mul_ps(_mm512_loadu_ps(acc + (size_t)(i - i0) * d + 16 * cb), inv));
    }
}

/* The unroll pragmas below turn arrays into registers when d is a constant (d_head 64); in the
 * generic-d instantiation GCC then sees partly unrolled loops with a run-time bound and warns
 * about array elements past d / 16, which are never read. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
JC_AVX512_INLINE void jc_avx512_attn(float *out, size_t ldo, const float *q, size_t ldq, const float *k, size_t ldk,
                             const float *v, size_t ldv, const uint8_t *valid, int L, const int d, int i0, int i1,
                             float scale, float slope, int causal, float *ws)
{
    const int nq = i1 - i0;
    if (causal && L > i1) L = i1;
    float *kt = jc_align64(ws);
    float *p = kt + (size_t)d * JC_AVX512_AKC;
    float *acc = p + (size_t)JC_AVX512_QR * JC_AVX512_AKC, *mx = acc + (size_t)(nq + JC_AVX512_QR) * d,
          *sum = mx + nq + JC_AVX512_QR;
    /* one chunk (L <= JC_AVX512_AKC): each tile's outputs are final, written to out at once;
     * the same arithmetic as the general path's first chunk (its acc * corr is 0 * 0 = +0, its
     * correction expf(-inf) = 0), so the same bits */
    const int one = L <= JC_AVX512_AKC;
    jc_avx512_attn_init(acc, mx, sum, nq, d, one);
    __mmask16 vm[JC_AVX512_AKC / 16];
    for (int j0 = 0; j0 < L; j0 += JC_AVX512_AKC) {
        const int jb = L - j0 < JC_AVX512_AKC ? L - j0 : JC_AVX512_AKC, nb = (jb + 15) / 16;
        if (!jc_avx512_attn_mask(vm, valid, j0, jb)) continue;
        /* kt[c][j] = k[j0 + j][c] */
        for (int b = 0; b < nb; b++)
            for (int cb = 0; cb < d / 16; cb++) {
                __m512 r[16];
                for (int l = 0; l < 16; l++) {
                    int j = 16 * b + l;
                    r[l] = j < jb ? _mm512_loadu_ps(k + (size_t)(j0 + j) * ldk + 16 * cb) : _mm512_setzero_ps();
                }
                jc_avx512_tr16(r);
                for (int l = 0; l < 16; l++) _mm512_store_ps(kt + (size_t)(16 * cb + l) * JC_AVX512_AKC + 16 * b, r[l]);
            }
        for (int it = 0; it < nq; it += JC_AVX512_QR) {
            const int nr = nq - it < JC_AVX512_QR ? nq - it : JC_AVX512_QR;
            const float *qr[JC_AVX512_QR];
            int row[JC_AVX512_QR];
            const int jbt = jc_avx512_attn_tile(row, it, nr, nq, i0, j0, jb, causal), nbt = (jbt + 15) / 16;
            for (int r = 0; r < JC_AVX512_QR; r++) qr[r] = q + (size_t)(i0 + it + (r < nr ? r : 0)) * ldq;
            for (int jv = 0; jv < 16 * nbt; jv += 64) {
                switch ((16 * nbt - jv) / 16) {
                case 1: JC_AVX512_SCORES(1); break;
                case 2: JC_AVX512_SCORES(2); break;
                case 3: JC_AVX512_SCORES(3); break;
                default: JC_AVX512_SCORES(4); break;
                }
            }
            __m512 corr[JC_AVX512_QR];
            jc_avx512_attn_softmax(p, corr, row, nr, i0 + it, j0, nbt, vm, causal, scale, slope, mx, sum, one, 0);
            /* o[r] = acc[r] * corr[r] + sum_j p[r][j] v[j], 64 dims at a time */
            for (int c0 = 0; c0 < d; c0 += 64) {
                const int nvc = d - c0 < 64 ? (d - c0) / 16 : 4;
                __m512 o[JC_AVX512_QR][4];
                jc_avx512_attn_resume(o, acc, corr, row, c0, nvc, d, one);
                if (nvc == 4) {
                    for (int j = 0; j < jbt; j++) {
                        const float *vj = v + (size_t)(j0 + j) * ldv + c0;
                        __m512 vv[4];
                        _Pragma("GCC unroll 4") for (int cb = 0; cb < 4; cb++) {
                            vv[cb] = _mm512_loadu_ps(vj + 16 * cb);
                            JC_AVX512_KEEP(vv[cb]);
                        }
                        _Pragma("GCC unroll 8") for (int r = 0; r < JC_AVX512_QR; r++) {
                            __m512 pj = _mm512_set1_ps(p[(size_t)r * JC_AVX512_AKC + j]);
                            JC_AVX512_KEEP(pj);
                            _Pragma("GCC unroll 4") for (int cb = 0; cb < 4; cb++) o[r][cb] = _mm512_fmadd_ps(pj, vv[cb], o[r][cb]);
                        }
                    }
                } else {
                    for (int j = 0; j < jbt; j++) {
                        const float *vj = v + (size_t)(j0 + j) * ldv + c0;
                        for (int cb = 0; cb < nvc; cb++) {
                            __m512 vv = _mm512_loadu_ps(vj + 16 * cb);
                            JC_AVX512_KEEP(vv);
                            _Pragma("GCC unroll 8") for (int r = 0; r < JC_AVX512_QR; r++)
                                o[r][cb] = _mm512_fmadd_ps(_mm512_set1_ps(p[(size_t)r * JC_AVX512_AKC + j]), vv, o[r][cb]);
                        }
                    }
                }
                jc_avx512_attn_out(out, ldo, acc, o, row, nr, i0 + it, c0, nvc, d, sum, one);
            }
        }
    }
    jc_avx512_attn_final(out, ldo, acc, sum, i0, i1, d, one);
}
#undef JC_AVX512_SCORES

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

JC_AVX512 static void jc_avx512_attention(float *out, size_t ldo, const float *q, size_t ldq, const float *k,
                                  size_t ldk, const float *v, size_t ldv, const uint8_t *key_valid, int L,
                                  int d_head, int i0, int i1, float scale, float slope, int causal, float *ws)
{
    if (d_head % 16 || d_head > JC_AVX512_DMAX) {
        jc_scalar_attention(out, ldo, q, ldq, k, ldk, v, ldv, key_valid, L, d_head, i0, i1, scale, slope, causal, ws);
        return;
    }
    /* FTZ + DAZ: far keys under ALiBi (slope * |i - j| past 87) have probabilities below
     * FLT_MIN, and Intel cores take a microcode assist for every product with such a subnormal
     * (jina text-512: attention 15.2 -> 8.1 ms a layer). They are flushed to +0 instead; a
     * probability that small changes no sum it is added to. */
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040);
    if (d_head == 64)
        jc_avx512_attn(out, ldo, q, ldq, k, ldk, v, ldv, key_valid, L, 64, i0, i1, scale, slope, causal, ws);
    else
        jc_avx512_attn(out, ldo, q, ldq, k, ldk, v, ldv, key_valid, L, d_head, i0, i1, scale, slope, causal, ws);
    _mm_setcsr(csr);
}

/* ---- bf16 and q8 linear layers (contract in kernels.h) -------------------------------------
 *
 * One driver per dtype, the micro-kernel chosen by the table (extension or fallback). Both
 * read packed slivers of 48 columns (layouts in kernels/scalar.c); `linear_bf16` / `linear_q8`
 * (weights in place) pack each K block of a sliver into ws first and then run the very same
 * loops, so packed and in-place results are bitwise equal. Loops: M blocks of JC_AVX512Q_MC rows,
 * K blocks, slivers, row tiles; a tile's fp32 accumulators go through Y between K blocks
 * (stored and reloaded exactly), the bias is added after the last one. Each output element thus
 * sees the contract's serial sequence whatever M, tile or column range it falls in.
 *
 *   bf16, vdpbf16ps: 8 x 48 tile, 24 zmm accumulators; per k pair 3 W loads (48 columns x 2 k)
 *         and one dword broadcast of X per row:  c[i][j] = vdpbf16ps(c[i][j], W[j], bcast(x_i))
 *   bf16 fallback: 6 x 48, the pair split into odd/even fp32 halves (and / shift), two FMAs in
 *         vdpbf16ps' order under MXCSR DAZ+FTZ (saved and restored around the call).
 *   q8, vpdpbusd (u8 x s8): W packed as u8 = w + 128, X as s8 broadcast; per block of 32 each
 *         int32 accumulator starts at s[b] (-128 * the row's block sum), so after 8 steps it holds
 *         sum q * w exactly; then acc = fma(float(isum), d * sw, acc). 4 x 48 tile.
 *   q8 fallback (AVX512BW): 32 bytes of W (8 columns x 4 k) zero-extended to 16 bits,
 *         vpmaddwd with the sign-extended X quad: every lane sums two products of at most
 *         255 * 128, far from overflow; lane pairs are added at the block's end. 2 x 48 tile. */
#define JC_AVX512Q __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#define JC_AVX512Q_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx2,fma")))
#define JC_AVX512BF __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")))
#define JC_AVX512BF_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")))
#define JC_AVX512VN __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#define JC_AVX512VN_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))

#define JC_AVX512Q_MC 256
#define JC_AVX512Q_KCP 512 /* bf16: k pairs per K block (96 KB of packed sliver) */
#ifndef JC_AVX512Q_KCB
#define JC_AVX512Q_KCB 96 /* q8: blocks of 32 per K block (up to 162 KB of packed sliver), a multiple of S */
#endif
#define JC_AVX512Q_QB (36 * JC_AVX512_NR) /* bytes of one packed q8 block of a sliver */
#ifndef JC_AVX512Q_PFB
#define JC_AVX512Q_PFB (3 * JC_AVX512Q_QB) /* bytes ahead (3 blocks) that the q8 tiles prefetch */
#endif
#ifndef JC_AVX512Q_PFL2 /* q8 bytes ahead (12 blocks, 20 KB) that the q8 tiles also prefetch into L2: a
 * short X streams each sliver from memory once, and L1 prefetches alone kept too few lines in
 * flight (q8 text-8 on one thread: 12.5 -> 7.2-9.5 ms, the memory floor is 8.2) */
#define JC_AVX512Q_PFL2 (12 * JC_AVX512Q_QB)
#endif
#ifndef JC_AVX512Q_PFL2W
#define JC_AVX512Q_PFL2W (JC_AVX512_NR * 96) /* the same for bf16: uint32 ahead (96 k pairs, 18 KB) */
#endif
#ifndef JC_AVX512Q_PF
#define JC_AVX512Q_PF (JC_AVX512_NR * 24) /* uint32 ahead (24 k pairs, 4.5 KB) that the bf16 tiles prefetch */
#endif

static JC_UNUSED uint32_t jc_avx512_ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* tile store: C[i][0..nv) = acc (+ bias after the last K block) */
JC_AVX512Q_INLINE void jc_avx512q_store(__m512 c[][3], int mr, float *C, size_t ldc, int nv, const float *bias, int last)
{
    __mmask16 mk[3] = {jc_avx512_mask(nv), jc_avx512_mask(nv - 16), jc_avx512_mask(nv - 32)};
    for (int j = 0; j < 3; j++) {
        __m512 bv = last && bias ? _mm512_maskz_loadu_ps(mk[j], bias + 16 * j) : _mm512_setzero_ps();
        for (int i = 0; i < mr; i++) {
            __m512 v = last && bias ? _mm512_add_ps(c[i][j], bv) : c[i][j];
            _mm512_mask_storeu_ps(C + (size_t)i * ldc + 16 * j, mk[j], v);
        }
    }
}

JC_AVX512Q_INLINE void jc_avx512q_load(__m512 c[][3], int mr, const float *C, size_t ldc, int nv, int first)
{
    __mmask16 mk[3] = {jc_avx512_mask(nv), jc_avx512_mask(nv - 16), jc_avx512_mask(nv - 32)};
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < 3; j++)
            c[i][j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mk[j], C + (size_t)i * ldc + 16 * j);
}

/* ---- bf16 ---- */

/* dst[p][j] = DAZ pair (Wb[n + j][2 (p0 + p)], ...[+1]) for p < pc, j < 48; rows >= nmax zero. */
JC_AVX512Q static void jc_avx512_bf_pack_blk(uint32_t *dst, const uint16_t *Wb, int K, int n, int nmax, int p0, int pc)
{
    const __m512i ex = _mm512_set1_epi16(0x7F80), sg = _mm512_set1_epi16((short)0x8000);
    for (int jb = 0; jb < JC_AVX512_NR; jb += 16)
        for (int p = 0; p < pc; p += 16) {
            __mmask16 km = jc_avx512_mask(pc - p);
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int row = n + jb + i;
                __m512i v = row < nmax ? _mm512_maskz_loadu_epi32(km, Wb + (size_t)row * K + 2 * (p0 + p)) : _mm512_setzero_si512();
                __mmask32 dn = _mm512_cmpeq_epi16_mask(_mm512_and_si512(v, ex), _mm512_setzero_si512());
                v = _mm512_mask_and_epi32(v, 0xFFFF, v, _mm512_mask_mov_epi16(_mm512_set1_epi16(-1), dn, sg));
                r[i] = _mm512_castsi512_ps(v);
            }
            jc_avx512_tr16(r);
            int np = pc - p < 16 ? pc - p : 16;
            for (int c = 0; c < np; c++) _mm512_store_ps((float *)dst + (size_t)(p + c) * JC_AVX512_NR + jb, r[c]);
        }
}

JC_AVX512BF_INLINE void jc_avx512_bf_ukr_x(const int mr, int pc, const uint16_t *x, size_t ldx, const uint32_t *bp, float *C,
                                   size_t ldc, int nv, const float *bias, int first, int last)
{
    const uint16_t *xr[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) xr[i] = x + (size_t)(i < mr ? i : 0) * ldx;
    __m512 c[8][3];
    jc_avx512q_load(c, mr, C, ldc, nv, first);
    for (int p = 0; p < pc; p++) {
        __m512i b0 = _mm512_load_si512(bp), b1 = _mm512_load_si512(bp + 16), b2 = _mm512_load_si512(bp + 32);
        JC_AVX512_KEEP(b0);
        JC_AVX512_KEEP(b1);
        JC_AVX512_KEEP(b2);
        { /* keep the sliver's lines in flight (streamed once for a short X) */
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PF), _MM_HINT_T0);
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PF + 16), _MM_HINT_T0);
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PF + 32), _MM_HINT_T0);
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PFL2W), _MM_HINT_T1);
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PFL2W + 16), _MM_HINT_T1);
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PFL2W + 32), _MM_HINT_T1);
        }
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            if (i < mr) {
                __m512i a = _mm512_set1_epi32((int)jc_avx512_ld32(xr[i] + 2 * p));
                c[i][0] = _mm512_dpbf16_ps(c[i][0], (__m512bh)b0, (__m512bh)a);
                c[i][1] = _mm512_dpbf16_ps(c[i][1], (__m512bh)b1, (__m512bh)a);
                c[i][2] = _mm512_dpbf16_ps(c[i][2], (__m512bh)b2, (__m512bh)a);
            }
        bp += JC_AVX512_NR;
    }
    jc_avx512q_store(c, mr, C, ldc, nv, bias, last);
}

/* Fallback: x holds the tile's activations pre-split into fp32 (odd, even) pairs, xs[i][p][2]
 * (row stride ldx floats), broadcast from memory straight into the FMAs. */
JC_AVX512Q_INLINE void jc_avx512_bf_ukr_f(const int mr, int pc, const float *xs, size_t ldx, const uint32_t *bp, float *C,
                                  size_t ldc, int nv, const float *bias, int first, int last)
{
    const float *xr[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) xr[i] = xs + (size_t)(i < mr ? i : 0) * ldx;
    __m512 c[8][3];
    jc_avx512q_load(c, mr, C, ldc, nv, first);
    const __m512i hi = _mm512_set1_epi32((int)0xFFFF0000u);
    for (int p = 0; p < pc; p++) {
        __m512 wo[3], we[3];
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++) {
            __m512i b = _mm512_load_si512(bp + 16 * j);
            wo[j] = _mm512_castsi512_ps(_mm512_and_si512(b, hi));
            we[j] = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
            JC_AVX512_KEEP(wo[j]);
            JC_AVX512_KEEP(we[j]);
        }
        {
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PF), _MM_HINT_T0);
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PF + 16), _MM_HINT_T0);
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PF + 32), _MM_HINT_T0);
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PFL2W), _MM_HINT_T1);
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PFL2W + 16), _MM_HINT_T1);
            _mm_prefetch((const char *)(bp + JC_AVX512Q_PFL2W + 32), _MM_HINT_T1);
        }
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            if (i < mr) {
                __m512 ao = _mm512_set1_ps(xr[i][2 * p]), ae = _mm512_set1_ps(xr[i][2 * p + 1]);
#pragma GCC unroll 3
                for (int j = 0; j < 3; j++) {
                    c[i][j] = _mm512_fmadd_ps(ao, wo[j], c[i][j]);
                    c[i][j] = _mm512_fmadd_ps(ae, we[j], c[i][j]);
                }
            }
        bp += JC_AVX512_NR;
    }
    jc_avx512q_store(c, mr, C, ldc, nv, bias, last);
}

typedef void (*jc_avx512_bf_ukr_fn)(int mr, int pc, const uint16_t *x, size_t ldx, const uint32_t *bp, float *C,
                                size_t ldc, int nv, const float *bias, int first, int last);

JC_AVX512BF static void jc_avx512_bf_tile_x(int mr, int pc, const uint16_t *x, size_t ldx, const uint32_t *bp, float *C,
                                    size_t ldc, int nv, const float *bias, int first, int last)
{
    switch (mr) {
    case 8: jc_avx512_bf_ukr_x(8, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 7: jc_avx512_bf_ukr_x(7, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 6: jc_avx512_bf_ukr_x(6, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 5: jc_avx512_bf_ukr_x(5, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 4: jc_avx512_bf_ukr_x(4, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 3: jc_avx512_bf_ukr_x(3, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 2: jc_avx512_bf_ukr_x(2, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    default: jc_avx512_bf_ukr_x(1, pc, x, ldx, bp, C, ldc, nv, bias, first, last); break;
    }
}

JC_AVX512Q static void jc_avx512_bf_tile_f(int mr, int pc, const uint16_t *x, size_t ldx, const uint32_t *bp, float *C,
                                   size_t ldc, int nv, const float *bias, int first, int last)
{
    const float *xs = (const float *)(const void *)x; /* the driver's split copy (ldx in floats) */
    switch (mr) {
    case 8: jc_avx512_bf_ukr_f(8, pc, xs, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 7: jc_avx512_bf_ukr_f(7, pc, xs, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 6: jc_avx512_bf_ukr_f(6, pc, xs, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 5: jc_avx512_bf_ukr_f(5, pc, xs, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 4: jc_avx512_bf_ukr_f(4, pc, xs, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 3: jc_avx512_bf_ukr_f(3, pc, xs, ldx, bp, C, ldc, nv, bias, first, last); break;
    case 2: jc_avx512_bf_ukr_f(2, pc, xs, ldx, bp, C, ldc, nv, bias, first, last); break;
    default: jc_avx512_bf_ukr_f(1, pc, xs, ldx, bp, C, ldc, nv, bias, first, last); break;
    }
}

/* ws: one packed K block of a sliver (in place) + the fallback's split activations of one
 * M x K block (2 floats per k pair and row). */
#define JC_AVX512Q_SPLIT ((size_t)JC_AVX512Q_MC * JC_AVX512Q_KCP * 2)
static size_t jc_avx512_bf_ws(int M, int K)
{
    (void)M, (void)K;
    return (size_t)JC_AVX512Q_KCP * JC_AVX512_NR + JC_AVX512Q_SPLIT + 16;
}

/* Wp: packed slivers, or NULL to pack each K block of Wb (rows < n1) into ws. split (the
 * fallback): the tile function reads X as fp32 odd/even halves, written here per M x K block. */
JC_AVX512Q static void jc_avx512_bf_drive(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const uint32_t *Wp,
                                  const uint16_t *Wb, const float *bias, int M, int K, int n0, int n1, float *ws,
                                  jc_avx512_bf_ukr_fn tile, int MR, int split)
{
    unsigned csr = _mm_getcsr();
    if (split) _mm_setcsr(csr | 0x8040); /* FTZ + DAZ: vdpbf16ps' rules for the FMA fallback */
    const int P = K / 2;
    uint32_t *buf = (uint32_t *)(void *)jc_align64(ws);
    float *xs = (float *)(buf + (size_t)JC_AVX512Q_KCP * JC_AVX512_NR);
    for (int m0 = 0; m0 < M; m0 += JC_AVX512Q_MC) {
        int mc = M - m0 < JC_AVX512Q_MC ? M - m0 : JC_AVX512Q_MC;
        for (int p0 = 0; p0 < P; p0 += JC_AVX512Q_KCP) {
            int pc = P - p0 < JC_AVX512Q_KCP ? P - p0 : JC_AVX512Q_KCP;
            if (split) /* xs[m][p] = (odd, even) as fp32: the high and low halves of the pair */
                for (int m = 0; m < mc; m++) {
                    const uint16_t *xr = Xb + (size_t)(m0 + m) * ldxb + 2 * p0;
                    float *o = xs + (size_t)m * 2 * pc;
                    for (int p = 0; p < pc; p += 16) { /* pc is a multiple of 16 (K % 32 == 0) */
                        __m512i v = _mm512_loadu_si512(xr + 2 * p);
                        __m512 od = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xFFFF0000u)));
                        __m512 ev = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
                        _mm512_storeu_ps(o + 2 * p, _mm512_permutex2var_ps(od, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), ev));
                        _mm512_storeu_ps(o + 2 * p + 16, _mm512_permutex2var_ps(od, _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), ev));
                    }
                }
            for (int n = n0; n < n1; n += JC_AVX512_NR) {
                int nv = n1 - n < JC_AVX512_NR ? n1 - n : JC_AVX512_NR;
                const uint32_t *bp = buf;
                if (Wp)
                    bp = Wp + (size_t)(n / JC_AVX512_NR) * JC_AVX512_NR * P + (size_t)p0 * JC_AVX512_NR;
                else
                    jc_avx512_bf_pack_blk(buf, Wb, K, n, n1, p0, pc);
                for (int m = 0; m < mc; m += MR) {
                    int mr = mc - m < MR ? mc - m : MR;
                    float *y = Y + (size_t)(m0 + m) * ldy + n;
                    const float *b = bias ? bias + n : NULL;
                    if (split)
                        tile(mr, pc, (const uint16_t *)(const void *)(xs + (size_t)m * 2 * pc), (size_t)2 * pc, bp, y, ldy,
                             nv, b, p0 == 0, p0 + pc == P);
                    else
                        tile(mr, pc, Xb + (size_t)(m0 + m) * ldxb + 2 * p0, ldxb, bp, y, ldy, nv, b, p0 == 0, p0 + pc == P);
                }
            }
        }
    }
    if (split) _mm_setcsr(csr);
}

static size_t jc_avx512_bf_pack_size(int N, int K) { return jc_pack_bf16_size_nr(N, K, JC_AVX512_NR); }

JC_AVX512Q static void jc_avx512_bf_pack(void *Wp, const uint16_t *Wb, int N, int K, int s0, int s1)
{
    for (int s = s0; s < s1; s++)
        jc_avx512_bf_pack_blk((uint32_t *)Wp + (size_t)s * JC_AVX512_NR * (K / 2), Wb, K, s * JC_AVX512_NR, N, 0, K / 2);
}

JC_AVX512Q static void jc_avx512_bf_linear_x(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const uint16_t *Wb,
                                     const float *bias, int M, int K, int n0, int n1, float *ws)
{
    jc_avx512_bf_drive(Y, ldy, Xb, ldxb, NULL, Wb, bias, M, K, n0, n1, ws, jc_avx512_bf_tile_x, 8, 0);
}

JC_AVX512Q static void jc_avx512_bf_packed_x(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const void *Wp,
                                     const float *bias, int M, int K, int n0, int n1, float *ws)
{
    jc_avx512_bf_drive(Y, ldy, Xb, ldxb, (const uint32_t *)Wp, NULL, bias, M, K, n0, n1, ws, jc_avx512_bf_tile_x, 8, 0);
}

JC_AVX512Q static void jc_avx512_bf_linear_f(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const uint16_t *Wb,
                                     const float *bias, int M, int K, int n0, int n1, float *ws)
{
    jc_avx512_bf_drive(Y, ldy, Xb, ldxb, NULL, Wb, bias, M, K, n0, n1, ws, jc_avx512_bf_tile_f, 8, 1);
}

JC_AVX512Q static void jc_avx512_bf_packed_f(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const void *Wp,
                                     const float *bias, int M, int K, int n0, int n1, float *ws)
{
    jc_avx512_bf_drive(Y, ldy, Xb, ldxb, (const uint32_t *)Wp, NULL, bias, M, K, n0, n1, ws, jc_avx512_bf_tile_f, 8, 1);
}

/* fp32 -> bf16 as jc_bf16_from_f32, 16 at a time with integer ops (AVX512BW; no BF16 needed). */
JC_AVX512Q static void jc_avx512_bf16_row(uint16_t *y, const float *x, int n)
{
    const __m512i ex = _mm512_set1_epi32(0x7F800000), ab = _mm512_set1_epi32(0x7FFFFFFF);
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = jc_avx512_mask(n - i);
        __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(k, x + i));
        __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF),
                                                         _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
        __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, ab), ex);
        __mmask16 den = _mm512_cmpeq_epi32_mask(_mm512_and_si512(u, ex), _mm512_setzero_si512());
        r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
        r = _mm512_mask_mov_epi32(r, den, _mm512_and_si512(u, _mm512_set1_epi32((int)0x80000000u)));
        _mm256_mask_storeu_epi16(y + i, k, _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
    }
}

/* ---- attention with bf16 products ----
 *
 * jc_avx512_attn with both products in bf16 (vdpbf16ps), for reduced-precision files: the
 * kernel table's attention_bf16 (contract in kernels.h). Same chunks, tiles, softmax and
 * order of operations per query; what changes is the operands:
 *   kt  [d/2][KC]   uint32: lane j of row c2 = the bf16 pair (k[j][2 c2], k[j][2 c2 + 1]),
 *                   made from each key row by vcvtne2ps2bf16 (natural order = pairs of
 *                   channels) and a 16 x 16 dword transpose
 *   vt  [KC/2][d]   uint32: lane c of row j2 = (v[2 j2][c], v[2 j2 + 1][c]), keys past the
 *                   chunk's end 0
 *   qb  [QR][d/2]   the tile's queries times scale, as bf16 pairs
 *   pb  [QR][KC/2]  the probabilities (already bf16 values, jc_avx512_attn_softmax's bf) as
 *                   pairs of keys
 * scores: s[r][b] = vdpbf16ps over c2 in order (already scaled; ALiBi one fnmadd); exp to about
 * 1e-6 (jc_avx512_exp_bf: its result is rounded to bf16 next); PV: o[r][c] = vdpbf16ps over j2
 * in order.
 * A query's arithmetic is still its own (causal queries and single queries at stride 0 keep
 * their bits), and per chunk the conversions cost O(L d), against O(nq L d) products. */
JC_AVX512BF_INLINE __m512i jc_avx512_bf_pairs(__m512 lo, __m512 hi) /* (lo[i], hi[i]) as one dword each */
{
    const __m512i il = _mm512_setr_epi32(0x00100000, 0x00110001, 0x00120002, 0x00130003, 0x00140004, 0x00150005,
                                         0x00160006, 0x00170007, 0x00180008, 0x00190009, 0x001A000A, 0x001B000B,
                                         0x001C000C, 0x001D000D, 0x001E000E, 0x001F000F);
    return _mm512_permutexvar_epi16(il, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

#define JC_AVX512_BF_SCORES(NB)                                                                 \
    do {                                                                                      \
        __m512 sc[JC_AVX512_QR][4];                                                           \
        _Pragma("GCC unroll 8") for (int r = 0; r < JC_AVX512_QR; r++)                        \
            _Pragma("GCC unroll 4") for (int b = 0; b < NB; b++) sc[r][b] = _mm512_setzero_ps(); \
        for (int c2 = 0; c2 < d / 2; c2++) {                                                  \
            const uint32_t *kr = kt + (size_t)c2 * JC_AVX512_AKC + jv;                         \
            __m512i kv[4];                                                                    \
            _Pragma("GCC unroll 4") for (int b = 0; b < NB; b++) {                            \
                kv[b] = _mm512_load_si512(kr + 16 * b);                                       \
                JC_AVX512_KEEP(kv[b]);                                                        \
            }                                                                                 \
            _Pragma("GCC unroll 8") for (int r = 0; r < JC_AVX512_QR; r++) {                  \
                __m512i qc = _mm512_set1_epi32((int)qb[r * (JC_AVX512_DMAX / 2) + c2]);        \
                JC_AVX512_KEEP(qc);                                                           \
                _Pragma("GCC unroll 4") for (int b = 0; b < NB; b++)                          \
                    sc[r][b] = _mm512_dpbf16_ps(sc[r][b], (__m512bh)qc, (__m512bh)kv[b]);     \
            }                                                                                 \
        }                                                                                     \
        _Pragma("GCC unroll 8") for (int r = 0; r < JC_AVX512_QR; r++)                        \
            _Pragma("GCC unroll 4") for (int b = 0; b < NB; b++)                              \
                _mm512_store_ps(p + (size_t)r * JC_AVX512_AKC + jv + 16 * b, sc[r][b]);        \
    } while (0)

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
JC_AVX512BF_INLINE void jc_avx512_attn_bf(float *out, size_t ldo, const float *q, size_t ldq, const float *k, size_t ldk,
                                  const float *v, size_t ldv, const uint8_t *valid, int L, const int d, int i0, int i1,
                                  float scale, float slope, int causal, float *ws)
{
    const int nq = i1 - i0;
    if (causal && L > i1) L = i1;
    uint32_t *kt = (uint32_t *)(void *)jc_align64(ws);
    uint32_t *vt = kt + (size_t)(d / 2) * JC_AVX512_AKC;
    uint32_t *qb = vt + (size_t)(JC_AVX512_AKC / 2) * d;
    uint32_t *pb = qb + (size_t)JC_AVX512_QR * (JC_AVX512_DMAX / 2);
    float *p = (float *)(void *)(pb + (size_t)JC_AVX512_QR * (JC_AVX512_AKC / 2));
    float *acc = p + (size_t)JC_AVX512_QR * JC_AVX512_AKC, *mx = acc + (size_t)(nq + JC_AVX512_QR) * d,
          *sum = mx + nq + JC_AVX512_QR;
    const int one = L <= JC_AVX512_AKC; /* as in jc_avx512_attn */
    jc_avx512_attn_init(acc, mx, sum, nq, d, one);
    __mmask16 vm[JC_AVX512_AKC / 16];
    for (int j0 = 0; j0 < L; j0 += JC_AVX512_AKC) {
        const int jb = L - j0 < JC_AVX512_AKC ? L - j0 : JC_AVX512_AKC, nb = (jb + 15) / 16;
        if (!jc_avx512_attn_mask(vm, valid, j0, jb)) continue;
        for (int b = 0; b < nb; b++) /* kt: 32 channels of 16 keys per transpose */
            for (int c32 = 0; c32 < d / 32 + (d % 32 != 0); c32++) {
                __m512 r[16];
                const int hi = 32 * c32 + 16 < d; /* d % 32 == 16: the last block has 16 channels */
                for (int l = 0; l < 16; l++) {
                    int j = 16 * b + l;
                    const float *kr = k + (size_t)(j0 + j) * ldk + 32 * c32;
                    r[l] = j < jb ? _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi ? _mm512_loadu_ps(kr + 16) : _mm512_setzero_ps(),
                                                                                     _mm512_loadu_ps(kr)))
                                  : _mm512_setzero_ps();
                }
                jc_avx512_tr16(r);
                for (int l = 0; l < (hi ? 16 : 8); l++)
                    _mm512_store_si512(kt + (size_t)(16 * c32 + l) * JC_AVX512_AKC + 16 * b, _mm512_castps_si512(r[l]));
            }
        for (int j2 = 0; j2 < (jb + 1) / 2; j2++) { /* vt */
            const float *va = v + (size_t)(j0 + 2 * j2) * ldv, *vb = va + ldv;
            const int has_b = 2 * j2 + 1 < jb;
            for (int c = 0; c < d; c += 16)
                _mm512_store_si512(vt + (size_t)j2 * d + c,
                                   jc_avx512_bf_pairs(_mm512_loadu_ps(va + c), has_b ? _mm512_loadu_ps(vb + c) : _mm512_setzero_ps()));
        }
        const __m512 vs = _mm512_set1_ps(scale);
        for (int it = 0; it < nq; it += JC_AVX512_QR) {
            const int nr = nq - it < JC_AVX512_QR ? nq - it : JC_AVX512_QR;
            int row[JC_AVX512_QR];
            const int jbt = jc_avx512_attn_tile(row, it, nr, nq, i0, j0, jb, causal), nbt = (jbt + 15) / 16;
            for (int r = 0; r < JC_AVX512_QR; r++) {
                const float *qr = q + (size_t)(i0 + it + (r < nr ? r : 0)) * ldq;
                for (int c = 0; c < d; c += 32) {
                    const int hi = c + 16 < d;
                    _mm512_mask_storeu_epi32(qb + r * (JC_AVX512_DMAX / 2) + c / 2, hi ? 0xFFFF : 0x00FF,
                                             (__m512i)_mm512_cvtne2ps_pbh(hi ? _mm512_mul_ps(_mm512_loadu_ps(qr + c + 16), vs)
                                                                             : _mm512_setzero_ps(),
                                                                          _mm512_mul_ps(_mm512_loadu_ps(qr + c), vs)));
                }
            }
            for (int jv = 0; jv < 16 * nbt; jv += 64) {
                switch ((16 * nbt - jv) / 16) {
                case 1: JC_AVX512_BF_SCORES(1); break;
                case 2: JC_AVX512_BF_SCORES(2); break;
                case 3: JC_AVX512_BF_SCORES(3); break;
                default: JC_AVX512_BF_SCORES(4); break;
                }
            }
            __m512 corr[JC_AVX512_QR];
            jc_avx512_attn_softmax(p, corr, row, nr, i0 + it, j0, nbt, vm, causal, scale, slope, mx, sum, one, 1);
            /* pb[r][j2] = (p[r][2 j2], p[r][2 j2 + 1]): the upper halves of the (bf16-valued) floats */
            const __m512i odd = _mm512_setr_epi32(0x00030001, 0x00070005, 0x000B0009, 0x000F000D, 0x00130011, 0x00170015,
                                                  0x001B0019, 0x001F001D, 0x00230021, 0x00270025, 0x002B0029, 0x002F002D,
                                                  0x00330031, 0x00370035, 0x003B0039, 0x003F003D);
            for (int r = 0; r < JC_AVX512_QR; r++)
                for (int b = 0; b < nbt; b += 2) {
                    const float *pr = p + (size_t)r * JC_AVX512_AKC + 16 * b;
                    __m512i lo = _mm512_castps_si512(_mm512_load_ps(pr)),
                            hi = b + 1 < nbt ? _mm512_castps_si512(_mm512_load_ps(pr + 16)) : _mm512_setzero_si512();
                    _mm512_store_si512(pb + (size_t)r * (JC_AVX512_AKC / 2) + 8 * b, _mm512_permutex2var_epi16(lo, odd, hi));
                }
            const int np = (jbt + 1) / 2;
            for (int c0 = 0; c0 < d; c0 += 64) {
                const int nvc = d - c0 < 64 ? (d - c0) / 16 : 4;
                __m512 o[JC_AVX512_QR][4];
                jc_avx512_attn_resume(o, acc, corr, row, c0, nvc, d, one);
                for (int j2 = 0; j2 < np; j2++) {
                    const uint32_t *vj = vt + (size_t)j2 * d + c0;
                    __m512i vv[4];
                    _Pragma("GCC unroll 4") for (int cb = 0; cb < 4; cb++) if (cb < nvc) {
                        vv[cb] = _mm512_load_si512(vj + 16 * cb);
                        JC_AVX512_KEEP(vv[cb]);
                    }
                    _Pragma("GCC unroll 8") for (int r = 0; r < JC_AVX512_QR; r++) {
                        __m512i pj = _mm512_set1_epi32((int)pb[(size_t)r * (JC_AVX512_AKC / 2) + j2]);
                        JC_AVX512_KEEP(pj);
                        _Pragma("GCC unroll 4") for (int cb = 0; cb < 4; cb++) if (cb < nvc)
                            o[r][cb] = _mm512_dpbf16_ps(o[r][cb], (__m512bh)pj, (__m512bh)vv[cb]);
                    }
                }
                jc_avx512_attn_out(out, ldo, acc, o, row, nr, i0 + it, c0, nvc, d, sum, one);
            }
        }
    }
    jc_avx512_attn_final(out, ldo, acc, sum, i0, i1, d, one);
}
#undef JC_AVX512_BF_SCORES
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

JC_AVX512BF static void jc_avx512_attention_bf16(float *out, size_t ldo, const float *q, size_t ldq, const float *k,
                                         size_t ldk, const float *v, size_t ldv, const uint8_t *key_valid, int L,
                                         int d_head, int i0, int i1, float scale, float slope, int causal, float *ws)
{
    if (d_head % 16 || d_head > JC_AVX512_DMAX) {
        jc_scalar_attention_bf16(out, ldo, q, ldq, k, ldk, v, ldv, key_valid, L, d_head, i0, i1, scale, slope, causal, ws);
        return;
    }
    const unsigned csr = _mm_getcsr(); /* FTZ + DAZ as in jc_avx512_attention */
    _mm_setcsr(csr | 0x8040);
    if (d_head == 64)
        jc_avx512_attn_bf(out, ldo, q, ldq, k, ldk, v, ldv, key_valid, L, 64, i0, i1, scale, slope, causal, ws);
    else
        jc_avx512_attn_bf(out, ldo, q, ldq, k, ldk, v, ldv, key_valid, L, d_head, i0, i1, scale, slope, causal, ws);
    _mm_setcsr(csr);
}

/* ---- q8 ---- */

/* Packs blocks b0 .. b0+bc-1 of the 48 rows from n (rows >= nmax zero) in the q8 layout, quads,
 * w + 128. */
JC_AVX512Q static void jc_avx512_q8_pack_blk(uint8_t *dst, const int8_t *Wq, const float *Sw, int K, int n, int nmax, int b0,
                                     int bc)
{
    for (int b = 0; b < bc; b++) {
        uint8_t *o = dst + (size_t)b * JC_AVX512Q_QB;
        float *so = (float *)(void *)(o + 32 * JC_AVX512_NR);
        for (int jb = 0; jb < JC_AVX512_NR; jb += 16) {
            /* 16 rows x 32 bytes = 16 x 8 dwords: gather quads column-wise */
            __m256i r[16];
            for (int i = 0; i < 16; i++) {
                int row = n + jb + i;
                r[i] = row < nmax ? _mm256_loadu_si256((const __m256i *)(const void *)(Wq + (size_t)row * K + 32 * (b0 + b)))
                                  : _mm256_setzero_si256();
                r[i] = _mm256_xor_si256(r[i], _mm256_set1_epi8((char)0x80));
                so[jb + i] = row < nmax ? Sw[(size_t)row * (K / 32) + b0 + b] : 0.0f;
            }
            uint32_t t[16][8];
            for (int i = 0; i < 16; i++) _mm256_storeu_si256((__m256i *)(void *)t[i], r[i]);
            for (int g = 0; g < 8; g++) {
                __m512i v = _mm512_setr_epi32((int)t[0][g], (int)t[1][g], (int)t[2][g], (int)t[3][g], (int)t[4][g],
                                              (int)t[5][g], (int)t[6][g], (int)t[7][g], (int)t[8][g], (int)t[9][g],
                                              (int)t[10][g], (int)t[11][g], (int)t[12][g], (int)t[13][g],
                                              (int)t[14][g], (int)t[15][g]);
                _mm512_storeu_si512(o + (size_t)g * 4 * JC_AVX512_NR + 4 * jb, v);
            }
        }
    }
}

typedef void (*jc_avx512_q8_ukr_fn)(int mr, int S, int b0, int bc, const uint8_t *x, size_t rb, int K, const uint8_t *bp,
                                float *C, size_t ldc, int nv, const float *bias, int first, int last, int pf);

/* The vpdpbusd tile: up to JC_AVX512Q_MR rows x 48 columns. The int32 accumulators of a scale
 * block (S blocks of 32) live in registers; the fp32 accumulators live in cf (L1) and take one
 * load, fma and store per scale block, which frees the registers for the int32 chains. Each
 * int32 accumulator starts at the sum of the row's s[b] over the scale block (-128 * sum q), so
 * that after its 8 S steps it holds sum q * w exactly. The driver runs 4-row tiles, and one
 * 8-row tile when M <= 8: in the towers 4 x 48 ran 15% faster than the previous register-only
 * 4 x 48 tile, and 6 or 8 rows (more chains) ran slower there, though faster on a GEMM alone
 * (the tile's 8 activation rows and the 41 KB K block of the sliver no longer fit L1
 * together); with M <= 8 the sliver is read once, and one 8-row pass over it saves the second
 * pass of two 4-row tiles. */
/* The 192 bytes at p of a later block: into L1 JC_AVX512Q_PFB ahead, into L2 JC_AVX512Q_PFL2. */
JC_AVX512Q_INLINE void jc_avx512q_prefetch(const uint8_t *p)
{
    for (int o = 0; o < 192; o += 64) {
        _mm_prefetch((const char *)(p + JC_AVX512Q_PFB + o), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + JC_AVX512Q_PFL2 + o), _MM_HINT_T1);
    }
}

#define JC_AVX512Q_MR 8
JC_AVX512VN_INLINE void jc_avx512_q8_ukr_x(const int mr, const int S, int b0, int bc, const uint8_t *x, size_t rb, int K,
                                   const uint8_t *bp, float *C, size_t ldc, int nv, const float *bias, int first, int last,
                                   const int pf)
{
    const int8_t *q[JC_AVX512Q_MR];
    const float *d[JC_AVX512Q_MR];
    const int32_t *s[JC_AVX512Q_MR];
#pragma GCC unroll 8
    for (int i = 0; i < JC_AVX512Q_MR; i++) {
        q[i] = (const int8_t *)(x + (size_t)(i < mr ? i : 0) * rb);
        d[i] = (const float *)(const void *)(q[i] + K);
        s[i] = (const int32_t *)(const void *)(d[i] + K / 32);
    }
    _Alignas(64) float cf[JC_AVX512Q_MR][JC_AVX512_NR];
    const __mmask16 mk[3] = {jc_avx512_mask(nv), jc_avx512_mask(nv - 16), jc_avx512_mask(nv - 32)};
#pragma GCC unroll 8
    for (int i = 0; i < JC_AVX512Q_MR; i++)
        if (i < mr)
#pragma GCC unroll 3
            for (int j = 0; j < 3; j++)
                _mm512_store_ps(cf[i] + 16 * j, first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mk[j], C + (size_t)i * ldc + 16 * j));
    for (int b = b0; b < b0 + bc; b += S) {
        __m512i ia[JC_AVX512Q_MR][3];
#pragma GCC unroll 8
        for (int i = 0; i < JC_AVX512Q_MR; i++)
            if (i < mr) {
                int32_t st = s[i][b];
                for (int e = 1; e < S; e++) st += s[i][b + e];
#pragma GCC unroll 3
                for (int j = 0; j < 3; j++) ia[i][j] = _mm512_set1_epi32(st);
            }
        for (int e = 0; e < S; e++) {
            const uint8_t *be = bp + (size_t)e * JC_AVX512Q_QB;
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++) {
                __m512i w0 = _mm512_load_si512(be + 192 * g), w1 = _mm512_load_si512(be + 192 * g + 64),
                        w2 = _mm512_load_si512(be + 192 * g + 128);
                if (pf) jc_avx512q_prefetch(be + 192 * g);
#pragma GCC unroll 8
                for (int i = 0; i < JC_AVX512Q_MR; i++)
                    if (i < mr) {
                        __m512i a = _mm512_set1_epi32((int)jc_avx512_ld32(q[i] + 32 * (b + e) + 4 * g));
                        ia[i][0] = _mm512_dpbusd_epi32(ia[i][0], w0, a);
                        ia[i][1] = _mm512_dpbusd_epi32(ia[i][1], w1, a);
                        ia[i][2] = _mm512_dpbusd_epi32(ia[i][2], w2, a);
                    }
            }
            if (pf) jc_avx512q_prefetch(be + 32 * JC_AVX512_NR);
        }
        const float *sw = (const float *)(const void *)(bp + 32 * JC_AVX512_NR);
        __m512 s0 = _mm512_load_ps(sw), s1 = _mm512_load_ps(sw + 16), s2 = _mm512_load_ps(sw + 32);
#pragma GCC unroll 8
        for (int i = 0; i < JC_AVX512Q_MR; i++)
            if (i < mr) {
                __m512 dd = _mm512_set1_ps(d[i][b]);
                _mm512_store_ps(cf[i], _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[i][0]), _mm512_mul_ps(dd, s0), _mm512_load_ps(cf[i])));
                _mm512_store_ps(cf[i] + 16, _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[i][1]), _mm512_mul_ps(dd, s1), _mm512_load_ps(cf[i] + 16)));
                _mm512_store_ps(cf[i] + 32, _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[i][2]), _mm512_mul_ps(dd, s2), _mm512_load_ps(cf[i] + 32)));
            }
        bp += (size_t)S * JC_AVX512Q_QB;
    }
#pragma GCC unroll 3
    for (int j = 0; j < 3; j++) {
        __m512 bv = last && bias ? _mm512_maskz_loadu_ps(mk[j], bias + 16 * j) : _mm512_setzero_ps();
#pragma GCC unroll 8
        for (int i = 0; i < JC_AVX512Q_MR; i++)
            if (i < mr) {
                __m512 v = _mm512_load_ps(cf[i] + 16 * j);
                _mm512_mask_storeu_ps(C + (size_t)i * ldc + 16 * j, mk[j], last && bias ? _mm512_add_ps(v, bv) : v);
            }
    }
}

JC_AVX512Q_INLINE void jc_avx512_q8_ukr_f(const int mr, int S, int b0, int bc, const uint8_t *x, size_t rb, int K,
                                  const uint8_t *bp, float *C, size_t ldc, int nv, const float *bias, int first, int last)
{
    const int8_t *q[2];
    const float *d[2];
    const int32_t *s[2];
    for (int i = 0; i < 2; i++) {
        q[i] = (const int8_t *)(x + (size_t)(i < mr ? i : 0) * rb);
        d[i] = (const float *)(const void *)(q[i] + K);
        s[i] = (const int32_t *)(const void *)(d[i] + K / 32);
    }
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512 c[2][3];
    jc_avx512q_load(c, mr, C, ldc, nv, first);
    for (int b = b0; b < b0 + bc; b += S) {
        __m512i ia[2][6];
        int32_t st[2] = {0, 0};
        for (int i = 0; i < mr; i++)
            for (int h = 0; h < 6; h++) ia[i][h] = _mm512_setzero_si512();
        for (int e = 0; e < S; e++) {
            const uint8_t *be = bp + (size_t)e * JC_AVX512Q_QB;
            __m512i xw[2];
            for (int i = 0; i < mr; i++) {
                xw[i] = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(q[i] + 32 * (b + e))));
                st[i] += s[i][b + e];
            }
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++) {
                __m512i xb[2];
                for (int i = 0; i < mr; i++) xb[i] = _mm512_permutexvar_epi64(_mm512_set1_epi64(g), xw[i]);
#pragma GCC unroll 6
                for (int h = 0; h < 6; h++) {
                    __m512i w = _mm512_cvtepu8_epi16(_mm256_load_si256((const __m256i *)(const void *)(be + 192 * g + 32 * h)));
                    for (int i = 0; i < mr; i++) ia[i][h] = _mm512_add_epi32(ia[i][h], _mm512_madd_epi16(w, xb[i]));
                }
            }
        }
        const float *sw = (const float *)(const void *)(bp + 32 * JC_AVX512_NR);
        for (int i = 0; i < mr; i++) {
            __m512 dd = _mm512_set1_ps(d[i][b]);
            __m512i corr = _mm512_set1_epi32(st[i]); /* -128 * sum q */
            for (int j = 0; j < 3; j++) {
                __m512i a = ia[i][2 * j], e = ia[i][2 * j + 1];
                __m512i is = _mm512_add_epi32(_mm512_permutex2var_epi32(a, ev, e), _mm512_permutex2var_epi32(a, od, e));
                is = _mm512_add_epi32(is, corr);
                c[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(dd, _mm512_load_ps(sw + 16 * j)), c[i][j]);
            }
        }
        bp += (size_t)S * JC_AVX512Q_QB;
    }
    jc_avx512q_store(c, mr, C, ldc, nv, bias, last);
}

/* pf: the first row tile of a sliver block prefetches its weights (into L2 12 blocks ahead and
 * into L1 3 blocks ahead); the later tiles find them in cache, and their prefetches only took
 * load slots (without them: +4-12% on a GEMM of 64-400 rows). Two functions, not inlined into
 * one: scale blocks of 32 (S = 1, a constant: with S a run-time value those tiles ran 10-15%
 * slower) and of 64 / 128 (S run-time, as fast as a constant 4). A copy per S inside one
 * function made it so large that clang -O1 with the sanitizers (the fuzz builds) took over ten
 * minutes on it. */
#define JC_AVX512Q_TILE_CASES(S, pf)                                                          \
    switch (mr) {                                                                             \
    case 8: jc_avx512_q8_ukr_x(8, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last, pf); break; \
    case 7: jc_avx512_q8_ukr_x(7, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last, pf); break; \
    case 6: jc_avx512_q8_ukr_x(6, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last, pf); break; \
    case 5: jc_avx512_q8_ukr_x(5, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last, pf); break; \
    case 4: jc_avx512_q8_ukr_x(4, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last, pf); break; \
    case 3: jc_avx512_q8_ukr_x(3, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last, pf); break; \
    case 2: jc_avx512_q8_ukr_x(2, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last, pf); break; \
    default: jc_avx512_q8_ukr_x(1, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last, pf); break; \
    }
__attribute__((noinline)) JC_AVX512VN static void jc_avx512_q8_tile_x1(int mr, int b0, int bc, const uint8_t *x, size_t rb, int K,
                                                               const uint8_t *bp, float *C, size_t ldc, int nv,
                                                               const float *bias, int first, int last, int pf)
{
    if (pf) JC_AVX512Q_TILE_CASES(1, 1)
    else JC_AVX512Q_TILE_CASES(1, 0)
}
__attribute__((noinline)) JC_AVX512VN static void jc_avx512_q8_tile_xs(int mr, int S, int b0, int bc, const uint8_t *x, size_t rb,
                                                               int K, const uint8_t *bp, float *C, size_t ldc, int nv,
                                                               const float *bias, int first, int last, int pf)
{
    if (pf) JC_AVX512Q_TILE_CASES(S, 1)
    else JC_AVX512Q_TILE_CASES(S, 0)
}
#undef JC_AVX512Q_TILE_CASES
JC_AVX512VN static void jc_avx512_q8_tile_x(int mr, int S, int b0, int bc, const uint8_t *x, size_t rb, int K, const uint8_t *bp,
                                    float *C, size_t ldc, int nv, const float *bias, int first, int last, int pf)
{
    if (S == 1) jc_avx512_q8_tile_x1(mr, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last, pf);
    else jc_avx512_q8_tile_xs(mr, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last, pf);
}

JC_AVX512Q static void jc_avx512_q8_tile_f(int mr, int S, int b0, int bc, const uint8_t *x, size_t rb, int K, const uint8_t *bp,
                                   float *C, size_t ldc, int nv, const float *bias, int first, int last, int pf)
{
    (void)pf;
    if (mr == 2) jc_avx512_q8_ukr_f(2, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last);
    else jc_avx512_q8_ukr_f(1, S, b0, bc, x, rb, K, bp, C, ldc, nv, bias, first, last);
}

static size_t jc_avx512_q8_ws(int M, int K)
{
    (void)M, (void)K;
    return (size_t)JC_AVX512Q_KCB * JC_AVX512Q_QB / 4 + 16;
}

JC_AVX512Q static void jc_avx512_q8_drive(float *Y, size_t ldy, const void *Xq, const uint8_t *Wp, const int8_t *Wq,
                                  const float *Sw, const float *bias, int M, int K, int S, int n0, int n1, float *ws,
                                  jc_avx512_q8_ukr_fn tile, int MR)
{
    const int B = K / 32;
    const size_t rb = jc_q8_row_bytes(K);
    uint8_t *buf = (uint8_t *)(void *)jc_align64(ws);
    for (int m0 = 0; m0 < M; m0 += JC_AVX512Q_MC) {
        int mc = M - m0 < JC_AVX512Q_MC ? M - m0 : JC_AVX512Q_MC;
        for (int b0 = 0; b0 < B; b0 += JC_AVX512Q_KCB) {
            int bc = B - b0 < JC_AVX512Q_KCB ? B - b0 : JC_AVX512Q_KCB;
            for (int n = n0; n < n1; n += JC_AVX512_NR) {
                int nv = n1 - n < JC_AVX512_NR ? n1 - n : JC_AVX512_NR;
                const uint8_t *bp = buf;
                if (Wp)
                    bp = Wp + ((size_t)(n / JC_AVX512_NR) * B + b0) * JC_AVX512Q_QB;
                else
                    jc_avx512_q8_pack_blk(buf, Wq, Sw, K, n, n1, b0, bc);
                const int mr = MR == 4 && mc <= 8 ? 8 : MR; /* see jc_avx512_q8_ukr_x */
                for (int m = 0; m < mc; m += mr)
                    tile(mc - m < mr ? mc - m : mr, S, b0, bc, (const uint8_t *)Xq + (size_t)(m0 + m) * rb, rb, K, bp,
                         Y + (size_t)(m0 + m) * ldy + n, ldy, nv, bias ? bias + n : NULL, b0 == 0, b0 + bc == B, m == 0);
            }
        }
    }
}

static size_t jc_avx512_q8_pack_size(int N, int K) { return jc_pack_q8_size_nr(N, K, JC_AVX512_NR); }

JC_AVX512Q static void jc_avx512_q8_pack(void *Wp, const int8_t *Wq, const float *Sw, int N, int K, int s0, int s1)
{
    for (int s = s0; s < s1; s++)
        jc_avx512_q8_pack_blk((uint8_t *)Wp + (size_t)s * (K / 32) * JC_AVX512Q_QB, Wq, Sw, K, s * JC_AVX512_NR, N, 0, K / 32);
}

JC_AVX512Q static void jc_avx512_q8_linear_x(float *Y, size_t ldy, const void *Xq, const int8_t *Wq, const float *Sw,
                                     const float *bias, int M, int K, int S, int n0, int n1, float *ws)
{
    jc_avx512_q8_drive(Y, ldy, Xq, NULL, Wq, Sw, bias, M, K, S, n0, n1, ws, jc_avx512_q8_tile_x, 4);
}

JC_AVX512Q static void jc_avx512_q8_packed_x(float *Y, size_t ldy, const void *Xq, const void *Wp, const float *bias, int M,
                                     int K, int S, int n0, int n1, float *ws)
{
    jc_avx512_q8_drive(Y, ldy, Xq, (const uint8_t *)Wp, NULL, NULL, bias, M, K, S, n0, n1, ws, jc_avx512_q8_tile_x, 4);
}

JC_AVX512Q static void jc_avx512_q8_linear_f(float *Y, size_t ldy, const void *Xq, const int8_t *Wq, const float *Sw,
                                     const float *bias, int M, int K, int S, int n0, int n1, float *ws)
{
    jc_avx512_q8_drive(Y, ldy, Xq, NULL, Wq, Sw, bias, M, K, S, n0, n1, ws, jc_avx512_q8_tile_f, 2);
}

JC_AVX512Q static void jc_avx512_q8_packed_f(float *Y, size_t ldy, const void *Xq, const void *Wp, const float *bias, int M,
                                     int K, int S, int n0, int n1, float *ws)
{
    jc_avx512_q8_drive(Y, ldy, Xq, (const uint8_t *)Wp, NULL, NULL, bias, M, K, S, n0, n1, ws, jc_avx512_q8_tile_f, 2);
}

/* Lane j of the result = max (add: the int32 sum) of the 16 lanes of v[j]: a transposing tree
 * of 15 combines (each two shuffles and the op) instead of 16 separate horizontal reductions. */
JC_AVX512Q_INLINE __m512 jc_avx512_reduce16(__m512 v[16], int add)
{
#define JC_R16_OP(a, b) \
    (add ? _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(a), _mm512_castps_si512(b))) : _mm512_max_ps(a, b))
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) /* 128-bit lanes 0-1: v[2i]'s halves combined, 2-3: v[2i+1]'s */
        v[i] = JC_R16_OP(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44), _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) /* lane L: 4 partials of v[4i + L] */
        v[i] = JC_R16_OP(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x88), _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xDD));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) /* lane L: 2 partials of v[8i + L], then 2 of v[8i + 4 + L] */
        v[i] = JC_R16_OP(_mm512_shuffle_ps(v[2 * i], v[2 * i + 1], 0x44), _mm512_shuffle_ps(v[2 * i], v[2 * i + 1], 0xEE));
    __m512 r = JC_R16_OP(_mm512_shuffle_ps(v[0], v[1], 0x88), _mm512_shuffle_ps(v[0], v[1], 0xDD));
#undef JC_R16_OP
    /* element t of lane L now holds v[4t + L] */
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
}

/* Activation row quantisation as jc_scalar_q8_row: the same divisions, product and RNE, for 16
 * blocks at a time (the maxima, divisions and sums as vectors across the blocks; with S > 1 the
 * maxima of a scale block's S lanes, neighbours within a 128-bit lane, are combined first). */
JC_AVX512Q static void jc_avx512_q8_row(void *xq, const float *x, int K, int S)
{
    int8_t *q = (int8_t *)xq;
    float *d = (float *)(void *)(q + K);
    int32_t *s = (int32_t *)(void *)(d + K / 32);
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    for (int b0 = 0; b0 < K / 32; b0 += 16) {
        const int nb = K / 32 - b0 < 16 ? K / 32 - b0 : 16;
        const __mmask16 kb = jc_avx512_mask(nb);
        __m512 v[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            v[j] = _mm512_setzero_ps();
            if (j < nb) { /* max_ps returns its second operand when the first is NaN: NaNs are ignored */
                const float *xb = x + 32 * (b0 + j);
                v[j] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb)), v[j]);
                v[j] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb + 16)), v[j]);
            }
        }
        __m512 amax = jc_avx512_reduce16(v, 0);
        if (S >= 2) amax = _mm512_max_ps(amax, _mm512_shuffle_ps(amax, amax, 0xB1)); /* lanes 2i, 2i+1 */
        if (S >= 4) amax = _mm512_max_ps(amax, _mm512_shuffle_ps(amax, amax, 0x4E)); /* lanes 4i .. 4i+3 */
        _mm512_mask_storeu_ps(d + b0, kb, _mm512_div_ps(amax, hi));
        _Alignas(64) float id[16];
        _mm512_store_ps(id, _mm512_maskz_div_ps(_mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_GT_OQ), hi, amax));
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            v[j] = _mm512_setzero_ps();
            if (j < nb) {
                const float *xb = x + 32 * (b0 + j);
                __m512i r[2];
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    __m512 t = _mm512_mul_ps(_mm512_loadu_ps(xb + 16 * h), _mm512_set1_ps(id[j]));
                    /* NaN -> 0 (min_ps gives 127 for it, the mask then 0), else clamped */
                    t = _mm512_maskz_max_ps(_mm512_cmp_ps_mask(t, t, _CMP_ORD_Q), _mm512_min_ps(t, hi), lo);
                    r[h] = _mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                    _mm_storeu_si128((__m128i *)(void *)(q + 32 * (b0 + j) + 16 * h), _mm512_cvtepi32_epi8(r[h]));
                }
                v[j] = _mm512_castsi512_ps(_mm512_add_epi32(r[0], r[1]));
            }
        }
        const __m512i sum = _mm512_castps_si512(jc_avx512_reduce16(v, 1));
        _mm512_mask_storeu_epi32(s + b0, kb, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, 7)));
    }
}

/* The four AVX-512 tables: the same fp32 kernels, bf16 with vdpbf16ps or widened, q8 with
 * vpdpbusd or vpmaddwd (kernels/cpu.c picks the best the CPU has; JCLIP_NO_BF16 / JCLIP_NO_VNNI
 * force the fallbacks). All are named "avx512" and give bitwise the same bf16 and q8 results. */
#define JC_AVX512_TABLE(var, variant, attn_bf, bf_lin, bf_pk, q8_lin, q8_pk) \
    static const jc_ops var = {                                   \
        "avx512",                                                 \
        JC_AVX512_NR,                                                 \
        jc_avx512_linear_ws,                                          \
        jc_avx512_linear,                                             \
        jc_avx512_pack_size,                                          \
        jc_avx512_pack,                                               \
        jc_avx512_linear_packed,                                      \
        jc_avx512_layernorm,                                          \
        jc_avx512_attention_ws,                                       \
        jc_avx512_attention,                                          \
        attn_bf,                                                      \
        jc_avx512_geglu,                                              \
        jc_avx512_swiglu,                                             \
        jc_avx512_quick_gelu,                                         \
        jc_avx512_add,                                                \
        variant,                                                  \
        jc_avx512_bf16_row,                                           \
        jc_avx512_bf_ws,                                              \
        bf_lin,                                                   \
        jc_avx512_bf_pack_size,                                       \
        jc_avx512_bf_pack,                                            \
        bf_pk,                                                    \
        jc_avx512_q8_row,                                             \
        jc_avx512_q8_ws,                                              \
        q8_lin,                                                   \
        jc_avx512_q8_pack_size,                                       \
        jc_avx512_q8_pack,                                            \
        q8_pk,                                                    \
    }

JC_AVX512_TABLE(jc_avx512_ops, "bf16 vdpbf16ps, q8 vpdpbusd", jc_avx512_attention_bf16, jc_avx512_bf_linear_x, jc_avx512_bf_packed_x, jc_avx512_q8_linear_x,
            jc_avx512_q8_packed_x);
JC_AVX512_TABLE(jc_avx512_nobf16_ops, "bf16 widened+fma, q8 vpdpbusd", NULL, jc_avx512_bf_linear_f, jc_avx512_bf_packed_f,
            jc_avx512_q8_linear_x, jc_avx512_q8_packed_x);
JC_AVX512_TABLE(jc_avx512_novnni_ops, "bf16 vdpbf16ps, q8 vpmaddwd", jc_avx512_attention_bf16, jc_avx512_bf_linear_x, jc_avx512_bf_packed_x,
            jc_avx512_q8_linear_f, jc_avx512_q8_packed_f);
JC_AVX512_TABLE(jc_avx512_plain_ops, "bf16 widened+fma, q8 vpmaddwd", NULL, jc_avx512_bf_linear_f, jc_avx512_bf_packed_f,
            jc_avx512_q8_linear_f, jc_avx512_q8_packed_f);

#endif /* x86-64 */
