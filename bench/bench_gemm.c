/* bench/bench_gemm.c: jclip's GEMM (ops->linear through the thread pool, exactly as the towers
 * call it) against OpenBLAS sgemm at the model's shapes, plus peak probes, all in one run so
 * every figure can be read as a fraction of what this machine gives right now.
 *
 *   make bench-gemm    (links OpenBLAS into this program only)
 *   build/bench_gemm [--threads LIST] [--ms N] [--m M (only shapes with M rows)] [--probe (probes only)]
 *   build/bench_gemm --q f32,bf16,q8,q8/128 [--threads LIST] [--ms N] [--m M]: the bf16 / q8 kernels
 *       (packed) at M = 8, 64, 197, 512 x (K, N) in {768x2304, 768x768, 768x3072, 3072x768}, with
 *       the FMA, vdpbf16ps and vpdpbusd peaks (q8/128: one scale per 128 values, S = 4) and the
 *       q8 block step's share of the vpdpbusd peak (the q8 format's ceiling on this CPU);
 *       JCLIP_ISA, JCLIP_NO_BF16, JCLIP_NO_VNNI pick the table
 *
 * The probes need AVX-512 with FMA (the program says so and stops without it); the bf16 and
 * q8 peaks and the block step are measured where the CPU has vdpbf16ps / vpdpbusd.
 *
 * Shapes: Y[M, N] = X[M, K] W[N, K]^T, W in the PyTorch layout. The benchmark is not part of
 * the library: it may print, and it uses intrinsics for the probes. OpenBLAS only uses its
 * AVX-512 kernels with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset: run it as
 * `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE build/bench_gemm`. */
#include "../jclip.c"

#include <cblas.h>
#include <immintrin.h>
#include <time.h>

void openblas_set_num_threads(int);

static double bg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* This machine is shared: other jobs take CPU time slices, so wall times overstate ours. Every
 * figure is therefore given twice: from wall time, and from process CPU time divided by the
 * thread count ("cpu": what the call takes with the cores to itself, provided its threads are
 * balanced). Fractions of a probe always compare like with like, measured in the same run. */
static double bg_pcpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct { double wall, cpu; } bg_t2;

/* ---- peak probes -------------------------------------------------------------------------- */

typedef struct { long iters; double sink; const float *buf; size_t n; } bg_probe;

__attribute__((target("avx512f,fma"))) static void bg_fma_task(void *arg, int t, int n)
{
    (void)t, (void)n;
    bg_probe *p = (bg_probe *)arg;
    __m512 a[24], x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
    for (int i = 0; i < 24; i++) a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < p->iters; it++)
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    __m512 s = a[0];
    for (int i = 1; i < 24; i++) s = _mm512_add_ps(s, a[i]);
    if (t == 0) p->sink = _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f"))) static void bg_read_task(void *arg, int t, int n)
{
    bg_probe *p = (bg_probe *)arg;
    size_t blocks = p->n / 64, lo = blocks * (size_t)t / (size_t)n, hi = blocks * (size_t)(t + 1) / (size_t)n;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = lo * 64; i < hi * 64; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(p->buf + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(p->buf + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(p->buf + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(p->buf + i + 48));
    }
    if (t == 0) p->sink = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* Best rate over a few runs of a task that does `amount` units of work. */
static bg_t2 bg_best(jc_pool *pool, jc_task_fn fn, void *arg, double amount, int runs)
{
    bg_t2 best = {0, 0};
    for (int r = 0; r < runs; r++) {
        double t0 = bg_now(), c0 = bg_pcpu();
        jc_pool_run(pool, fn, arg);
        double dt = bg_now() - t0, dc = (bg_pcpu() - c0) / pool->n;
        if (amount / dt > best.wall) best.wall = amount / dt;
        if (amount / dc > best.cpu) best.cpu = amount / dc;
    }
    return best;
}

/* ---- GEMM --------------------------------------------------------------------------------- */

typedef struct {
    const jc_ops *ops;
    float *Y; const float *X, *W, *b;
    int M, N, K;
    float *ws; size_t ws_stride;
    const float *Wp; /* packed weights (ops->pack), or NULL */
} bg_gemm;

/* The towers' own parallel GEMM (jc_linear_run: dynamically claimed column chunks). */
static void bg_run_jclip(bg_gemm *g, jc_pool *pool)
{
    jc_linear_task a;
    a.ops = g->ops;
    a.Y = g->Y; a.ldy = (size_t)g->N;
    a.X = g->X; a.ldx = (size_t)g->K;
    a.W = g->W; a.bias = g->b;
    a.M = g->M; a.K = g->K; a.N = g->N;
    a.ws = g->ws; a.ws_stride = g->ws_stride;
    a.packed = g->Wp != NULL;
    if (g->Wp) a.W = g->Wp;
    jc_claim_init(&a.claim);
    jc_pool_run(pool, jc_linear_run, &a);
}

static int bg_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median GFLOP/s (wall and cpu) over runs filling about `ms` milliseconds. With n_w > 1 the
 * weights rotate through n_w copies (ws_all, n_w * N * K floats) so they come from memory, as
 * in a forward pass, instead of from a cache warmed by the previous run. */
static bg_t2 bg_time(int which, bg_gemm *g, jc_pool *pool, double ms, const float *w_all, int n_w, size_t w_stride)
{
    static double tw[200], tc[200];
    int n = 0;
    double start = bg_now();
    do {
        if (n_w > 1) {
            if (which == 2) g->Wp = w_all + (size_t)(n % n_w) * w_stride;
            else g->W = w_all + (size_t)(n % n_w) * w_stride;
        }
        double t0 = bg_now(), c0 = bg_pcpu();
        if (which != 1)
            bg_run_jclip(g, pool);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->M, g->N, g->K, 1.0f, g->X, g->K, g->W, g->K, 0.0f, g->Y, g->N);
        tw[n] = bg_now() - t0;
        tc[n] = (bg_pcpu() - c0) / pool->n;
        n++;
    } while (n < 200 && (n < 5 || (bg_now() - start) * 1e3 < ms));
    qsort(tw, (size_t)n, sizeof tw[0], bg_cmp);
    qsort(tc, (size_t)n, sizeof tc[0], bg_cmp);
    double fl = 2.0 * g->M * g->N * g->K / 1e9;
    bg_t2 r = {fl / tw[n / 2], fl / tc[n / 2]};
    return r;
}

/* ---- bf16 / q8 (--q): the reduced-precision kernels at the towers' shapes -------------------
 * Per shape and dtype: activation conversion (bf16_row / q8_row, rows split over the threads)
 * plus the packed GEMM (column chunks claimed as jc_linear_run does), weights rotating through
 * copies that together exceed the L3, best of the runs. Rates in GFLOP/s (fp32, bf16) or GOP/s
 * (q8, 2 ops per multiply-add), next to the peak of the instruction each dtype runs on
 * (FMA, vdpbf16ps, vpdpbusd: probes below) and the read bandwidth (of_bw: the weight bytes of
 * the call / its time, as a fraction of the probe: 100% is the memory floor). */

/* The instruction probes are written in asm: GCC's register allocation of 24 intrinsic
 * accumulators put stores and moves into the vpdpbusd loop, which then measured half the rate
 * the instruction has (371 instead of ~700 GOP/s a core on a Sapphire Rapids class Xeon). */
#define BG_X12(ins)                                                                              \
    __asm__ volatile(ins " %%zmm30, %%zmm31, %%zmm0\n\t" ins " %%zmm30, %%zmm31, %%zmm1\n\t"     \
                     ins " %%zmm30, %%zmm31, %%zmm2\n\t" ins " %%zmm30, %%zmm31, %%zmm3\n\t"     \
                     ins " %%zmm30, %%zmm31, %%zmm4\n\t" ins " %%zmm30, %%zmm31, %%zmm5\n\t"     \
                     ins " %%zmm30, %%zmm31, %%zmm6\n\t" ins " %%zmm30, %%zmm31, %%zmm7\n\t"     \
                     ins " %%zmm30, %%zmm31, %%zmm8\n\t" ins " %%zmm30, %%zmm31, %%zmm9\n\t"     \
                     ins " %%zmm30, %%zmm31, %%zmm10\n\t" ins " %%zmm30, %%zmm31, %%zmm11\n\t"   \
                     ins " %%zmm30, %%zmm31, %%zmm12\n\t" ins " %%zmm30, %%zmm31, %%zmm13\n\t"   \
                     ins " %%zmm30, %%zmm31, %%zmm14\n\t" ins " %%zmm30, %%zmm31, %%zmm15\n\t"   \
                     ins " %%zmm30, %%zmm31, %%zmm16\n\t" ins " %%zmm30, %%zmm31, %%zmm17\n\t"   \
                     ins " %%zmm30, %%zmm31, %%zmm18\n\t" ins " %%zmm30, %%zmm31, %%zmm19\n\t"   \
                     ins " %%zmm30, %%zmm31, %%zmm20\n\t" ins " %%zmm30, %%zmm31, %%zmm21\n\t"   \
                     ins " %%zmm30, %%zmm31, %%zmm22\n\t" ins " %%zmm30, %%zmm31, %%zmm23\n\t"   \
                     ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",  \
                     "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18",    \
                     "xmm19", "xmm20", "xmm21", "xmm22", "xmm23")

/* 24 instructions per iteration, 24 independent accumulators (zmm0-23; zmm30/31 hold whatever
 * the caller left: the rate does not depend on the values). */
__attribute__((target("avx512f,avx512bf16"))) static void bg_bf16_task(void *arg, int t, int n)
{
    (void)n, (void)t;
    bg_probe *p = (bg_probe *)arg;
    for (long it = 0; it < p->iters; it++) BG_X12("vdpbf16ps");
}

__attribute__((target("avx512f,avx512vnni"))) static void bg_vnni_task(void *arg, int t, int n)
{
    (void)n, (void)t;
    bg_probe *p = (bg_probe *)arg;
    for (long it = 0; it < p->iters; it++) BG_X12("vpdpbusd");
}

/* The q8 block step: what one scale per block of 32 for both operands costs the instruction.
 * Per iteration 12 int32 accumulators (zmm0-11) take 8 vpdpbusd each, as in a 4 x 48 tile's
 * block, and then per accumulator the float step into its fp32 sum (zmm12-23): the q8 format's
 * convert, scale product (activation scale * weight scale) and FMA, or, for comparison, a
 * convert and an FMA alone (what a format with one of the two scales per block would need);
 * each int32 accumulator then restarts from a broadcast, as the tile's do. Measured on Zen 4:
 * the convert runs beside vpdpbusd, the product and the FMA share its pipes. */
#define BG_DP12                                                                                  \
    "vpdpbusd %%zmm30, %%zmm31, %%zmm0\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm1\n\t"                 \
    "vpdpbusd %%zmm30, %%zmm31, %%zmm2\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm3\n\t"                 \
    "vpdpbusd %%zmm30, %%zmm31, %%zmm4\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm5\n\t"                 \
    "vpdpbusd %%zmm30, %%zmm31, %%zmm6\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm7\n\t"                 \
    "vpdpbusd %%zmm30, %%zmm31, %%zmm8\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm9\n\t"                 \
    "vpdpbusd %%zmm30, %%zmm31, %%zmm10\n\tvpdpbusd %%zmm30, %%zmm31, %%zmm11\n\t"
#define BG_DP96 BG_DP12 BG_DP12 BG_DP12 BG_DP12 BG_DP12 BG_DP12 BG_DP12 BG_DP12
#define BG_STEP3(r, f) "vcvtdq2ps %%zmm" #r ", %%zmm24\n\tvmulps %%zmm28, %%zmm29, %%zmm25\n\t"         \
    "vfmadd231ps %%zmm25, %%zmm24, %%zmm" #f "\n\tvpbroadcastd %[s], %%zmm" #r "\n\t"
#define BG_STEP2(r, f) "vcvtdq2ps %%zmm" #r ", %%zmm24\n\tvfmadd231ps %%zmm28, %%zmm24, %%zmm" #f "\n\t" \
    "vpbroadcastd %[s], %%zmm" #r "\n\t"
#define BG_STEPS(S) S(0, 12) S(1, 13) S(2, 14) S(3, 15) S(4, 16) S(5, 17) S(6, 18) S(7, 19) S(8, 20) \
    S(9, 21) S(10, 22) S(11, 23)
#define BG_BLOCK(steps)                                                                          \
    __asm__ volatile(BG_DP96 steps::[s] "m"(start)                                               \
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", \
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", \
                       "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25")

/* 96 vpdpbusd per iteration, then 12 float steps of 3 (the q8 format's) or 2 instructions. */
#define BG_STEP_TASK(name, step)                                                                 \
    __attribute__((target("avx512f,avx512vnni"))) static void name(void *arg, int t, int n)     \
    {                                                                                            \
        (void)n, (void)t;                                                                        \
        bg_probe *p = (bg_probe *)arg;                                                           \
        static const int32_t start = 0;                                                          \
        for (long it = 0; it < p->iters; it++) BG_BLOCK(BG_STEPS(step));                         \
    }
BG_STEP_TASK(bg_step3_task, BG_STEP3)
BG_STEP_TASK(bg_step2_task, BG_STEP2)

typedef struct {
    const jc_ops *ops;
    int dtype; /* 0 f32, 1 bf16, 2 q8, 3 q8 with scale blocks of 128 (S = 4) */
    int M, N, K;
    const float *X; /* fp32 activations [M, K] */
    void *Xc;       /* converted activations (bf16 [M, K] or q8 rows) */
    const void *Wp; /* packed weights (this run's copy) */
    float *Y, *ws;
    size_t ws_stride;
    jc_claim claim;
} bg_q;

static void bg_q_convert(void *arg, int t, int n)
{
    bg_q *q = (bg_q *)arg;
    int m0 = (int)((long)q->M * t / n), m1 = (int)((long)q->M * (t + 1) / n);
    for (int m = m0; m < m1; m++) {
        if (q->dtype == 1) q->ops->bf16_row((uint16_t *)q->Xc + (size_t)m * q->K, q->X + (size_t)m * q->K, q->K);
        else q->ops->q8_row((uint8_t *)q->Xc + (size_t)m * jc_q8_row_bytes(q->K), q->X + (size_t)m * q->K, q->K, q->dtype == 3 ? 4 : 1);
    }
}

static void bg_q_gemm(void *arg, int t, int n)
{
    bg_q *q = (bg_q *)arg;
    float *ws = q->ws + (size_t)t * q->ws_stride;
    int chunk = n == 1 ? q->N : (q->M <= 8 ? 2 : 4) * q->ops->n_grain, chunks = (q->N + chunk - 1) / chunk;
    for (int c; (c = jc_claim_next(&q->claim)) < chunks;) {
        int lo = c * chunk, hi = lo + chunk < q->N ? lo + chunk : q->N;
        if (q->dtype == 0)
            q->ops->linear_packed(q->Y, (size_t)q->N, q->X, (size_t)q->K, (const float *)q->Wp, NULL, q->M, q->K, lo, hi, ws);
        else if (q->dtype == 1)
            q->ops->linear_bf16_packed(q->Y, (size_t)q->N, (const uint16_t *)q->Xc, (size_t)q->K, q->Wp, NULL, q->M, q->K,
                                       lo, hi, ws);
        else
            q->ops->linear_q8_packed(q->Y, (size_t)q->N, q->Xc, q->Wp, NULL, q->M, q->K, q->dtype == 3 ? 4 : 1, lo, hi, ws);
    }
}

/* 1 when name is one of the comma-separated items of list. */
static int bg_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == 0)) return 1;
    return 0;
}

static void bg_run_q(const jc_ops *ops, int T, double ms, const char *dtypes, int only_m)
{
    jc_pool *pool = NULL;
    if (jc_pool_create(T, &pool)) return;
    size_t bufn = (size_t)256 << 20; /* 1 GiB of floats: the bandwidth probe, and the weight copies */
    float *big = (float *)aligned_alloc(64, bufn * 4);
    for (size_t i = 0; i < bufn; i++) big[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
    bg_probe pf = {20000000 / 4, 0, NULL, 0}, pr = {0, 0, big, bufn};
    bg_t2 fma = bg_best(pool, bg_fma_task, &pf, (double)pf.iters * 24 * 32 * T / 1e9, 3);
    /* a CPU without vdpbf16ps or vpdpbusd has no such peak (0: "-" in the table) */
    const int has_bf16 = __builtin_cpu_supports("avx512bf16"), has_vnni = __builtin_cpu_supports("avx512vnni");
    bg_t2 bfp = {0, 0}, vnp = {0, 0};
    if (has_bf16) bfp = bg_best(pool, bg_bf16_task, &pf, (double)pf.iters * 24 * 64 * T / 1e9, 3);
    if (has_vnni) vnp = bg_best(pool, bg_vnni_task, &pf, (double)pf.iters * 24 * 128 * T / 1e9, 3);
    bg_t2 bw = bg_best(pool, bg_read_task, &pr, bufn * 4.0 / 1e9, 5);
    printf("\nthreads %d, kernels %s (%s): peaks fp32 FMA %.0f, vdpbf16ps %.0f GFLOP/s, vpdpbusd %.0f GOP/s; "
           "read %.1f GB/s (cpu-time figures, best of runs; 0: the CPU lacks the instruction)\n",
           T, ops->name, ops->variant, fma.cpu, bfp.cpu, vnp.cpu, bw.cpu);
    if (has_vnni) {
        bg_probe ps = {20000000 / 16, 0, NULL, 0};
        bg_t2 st3 = bg_best(pool, bg_step3_task, &ps, (double)ps.iters * 96 * 128 * T / 1e9, 3);
        bg_t2 st2 = bg_best(pool, bg_step2_task, &ps, (double)ps.iters * 96 * 128 * T / 1e9, 3);
        printf("q8 block step, 8 vpdpbusd an accumulator then convert + scale product + FMA (the q8 format): %.0f GOP/s, "
               "%.0f%% of vpdpbusd; then convert + FMA only: %.0f, %.0f%%\n",
               st3.cpu, 100 * st3.cpu / vnp.cpu, st2.cpu, 100 * st2.cpu / vnp.cpu);
    }
    printf("%-5s %5s %5s %5s %9s %9s %8s %8s  %s\n", "dtype", "M", "K", "N", "wall", "cpu", "of_peak", "of_bw", "(G(FL)OP/s)");
    static const int Ms[] = {8, 64, 197, 512}, KN[][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};
    static const char *dn[] = {"f32", "bf16", "q8", "q8/128"};
    for (int dt = 0; dt < 4; dt++) {
        if (!bg_listed(dtypes, dn[dt])) continue;
        for (int mi = 0; mi < 4; mi++) {
            if (only_m && Ms[mi] != only_m) continue;
            for (int s = 0; s < 4; s++) {
                bg_q q;
                memset(&q, 0, sizeof q);
                q.ops = ops, q.dtype = dt, q.M = Ms[mi], q.K = KN[s][0], q.N = KN[s][1];
                size_t nk = (size_t)q.N * q.K;
                float *X = (float *)malloc(sizeof(float) * (size_t)q.M * q.K);
                for (size_t i = 0; i < (size_t)q.M * q.K; i++) X[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
                q.X = X;
                q.Xc = malloc(jc_q8_row_bytes(q.K) * (size_t)q.M + 2 * (size_t)q.M * q.K);
                q.Y = (float *)malloc(sizeof(float) * (size_t)q.M * q.N);
                size_t wsn = dt == 0 ? ops->linear_ws(q.M, q.K) : dt == 1 ? ops->linear_bf16_ws(q.M, q.K) : ops->linear_q8_ws(q.M, q.K);
                const int qs = dt == 3 ? 4 : 1; /* the weights' scales repeat in runs of qs blocks */
                q.ws_stride = wsn + 16;
                q.ws = (float *)malloc(sizeof(float) * q.ws_stride * (size_t)T);
                /* the weights in the dtype, then packed copies rotating through a region > L3 */
                size_t psz = dt == 0 ? ops->pack_size(q.N, q.K) * 4 : dt == 1 ? ops->pack_bf16_size(q.N, q.K) : ops->pack_q8_size(q.N, q.K);
                psz = (psz + 63) / 64 * 64;
                int copies = (int)(((size_t)640 << 20) / (psz > 0 ? psz : 1)); /* 640 MB: past the 260 MB L3 */
                if (copies > 2048) copies = 2048;
                if (copies < 1) copies = 1;
                uint8_t *region = (uint8_t *)aligned_alloc(64, psz * (size_t)copies);
                uint16_t *Wb = dt == 1 ? (uint16_t *)malloc(2 * nk) : NULL;
                int8_t *Wq = dt >= 2 ? (int8_t *)malloc(nk) : NULL;
                float *Sw = dt >= 2 ? (float *)malloc(sizeof(float) * (nk / 32)) : NULL;
                if (Wb) ops->bf16_row(Wb, big, (int)nk);
                if (Wq) {
                    for (size_t i = 0; i < nk; i++) Wq[i] = (int8_t)((i * 2654435761u) >> 25) - 64;
                    for (size_t i = 0; i < nk / 32; i++) Sw[i] = 0.001f * (float)(1 + i / qs % 5);
                }
                int ns = (q.N + ops->n_grain - 1) / ops->n_grain;
                for (int c = 0; c < copies; c++) {
                    void *dst = region + (size_t)c * psz;
                    if (dt == 0) ops->pack((float *)dst, big + (c * nk) % (bufn - nk), q.N, q.K, 0, ns);
                    else if (dt == 1) ops->pack_bf16(dst, Wb, q.N, q.K, 0, ns);
                    else ops->pack_q8(dst, Wq, Sw, q.N, q.K, 0, ns);
                }
                bg_t2 best = {0, 0};
                double start = bg_now();
                int runs = 0;
                do {
                    q.Wp = region + (size_t)(runs % copies) * psz;
                    double t0 = bg_now(), c0 = bg_pcpu();
                    if (dt) jc_pool_run(pool, bg_q_convert, &q);
                    jc_claim_init(&q.claim);
                    jc_pool_run(pool, bg_q_gemm, &q);
                    double dw = bg_now() - t0, dc = (bg_pcpu() - c0) / T;
                    double op = 2.0 * q.M * q.N * q.K / 1e9;
                    if (op / dw > best.wall) best.wall = op / dw;
                    if (op / dc > best.cpu) best.cpu = op / dc;
                    runs++;
                } while (runs < 400 && (runs < 5 || (bg_now() - start) * 1e3 < ms));
                double peak = dt == 0 ? fma.cpu : dt == 1 ? bfp.cpu : vnp.cpu;
                /* weight bytes streamed per call (the packed form) / time, vs the read probe */
                double gbs = (double)(dt == 0 ? 4.0 * nk : dt == 1 ? 2.0 * nk : 1.125 * nk) / (2.0 * q.M * q.N * q.K) * best.cpu;
                printf("%-5s %5d %5d %5d %9.1f %9.1f ", dn[dt], q.M, q.K, q.N, best.wall, best.cpu);
                if (peak > 0) printf("%7.0f%% %7.0f%%\n", 100 * best.cpu / peak, 100 * gbs / bw.cpu);
                else printf("%8s %7.0f%%\n", "-", 100 * gbs / bw.cpu);
                fflush(stdout);
                free(X), free(q.Xc), free(q.Y), free(q.ws), free(region), free(Wb), free(Wq), free(Sw);
            }
        }
    }
    free(big);
    jc_pool_free(pool);
}

int main(int argc, char **argv)
{
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "bench_gemm: its peak probes need AVX-512 with FMA, which this CPU lacks\n");
        return 2;
    }
    int thr[8] = {1, 2}, n_thr = 2, probe_only = 0, only_m = 0;
    const char *qd = NULL; /* --q f32,bf16,q8: the reduced-precision table instead */
    double ms = 400;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_thr = 0;
            for (char *s = strtok(argv[++i], ","); s && n_thr < 8; s = strtok(NULL, ",")) thr[n_thr++] = atoi(s);
        } else if (!strcmp(argv[i], "--ms") && i + 1 < argc) ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--probe")) probe_only = 1;
        else if (!strcmp(argv[i], "--m") && i + 1 < argc) only_m = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--q") && i + 1 < argc) qd = argv[++i];
    }
    const jc_ops *have[8];
    jc_cpu_tables(have, 8);
    const jc_ops *ops = have[0];
    const char *isa = getenv("JCLIP_ISA");
    if (isa && *isa) {
        int n = jc_cpu_tables(have, 8);
        for (int i = 0; i < n; i++) if (!strcmp(have[i]->name, isa)) ops = have[i];
    }
    static const int shapes[][3] = {
        {197, 2304, 768}, {197, 768, 768}, {197, 2048, 768}, {197, 768, 2048}, /* vision: M N K */
        {8, 2304, 768}, {8, 6144, 768}, {8, 768, 3072},                      /* text-8 */
        {64, 2304, 768}, {64, 6144, 768}, {64, 768, 3072},                   /* text-64 */
        {512, 2304, 768}, {512, 6144, 768}, {512, 768, 3072},                /* text-512 */
    };
    if (qd) {
        for (int ti = 0; ti < n_thr; ti++) bg_run_q(ops, thr[ti], ms, qd, only_m);
        return 0;
    }
    size_t bufn = (size_t)256 << 20; /* 1 GiB of floats for the bandwidth probe */
    float *big = (float *)aligned_alloc(64, bufn * 4);
    for (size_t i = 0; i < bufn; i++) big[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
    /* packed copies of the rotating weights, for tables that pack (as the towers do for M > 8) */
    float *bigp = ops->pack ? (float *)aligned_alloc(64, bufn * 4) : NULL;
    printf("jclip GEMM vs OpenBLAS, kernels: %s\n", ops->name);
    printf("wall: from wall-clock time; cpu: from process CPU time / threads (this machine is shared)\n");
    for (int ti = 0; ti < n_thr; ti++) {
        int T = thr[ti];
        jc_pool *pool = NULL;
        if (jc_pool_create(T, &pool)) return 1;
        openblas_set_num_threads(T);
        bg_probe pf = {20000000 / 4, 0, NULL, 0}, pr = {0, 0, big, bufn};
        bg_t2 peak = bg_best(pool, bg_fma_task, &pf, (double)pf.iters * 24 * 32 * T / 1e9, 3);
        bg_t2 bw = bg_best(pool, bg_read_task, &pr, bufn * 4.0 / 1e9, 5);
        printf("\nthreads %d: FMA peak %.1f GFLOP/s wall, %.1f cpu; read bandwidth %.1f GB/s wall, %.1f cpu\n", T,
               peak.wall, peak.cpu, bw.wall, bw.cpu);
        if (probe_only) { jc_pool_free(pool); continue; }
        printf("%5s %5s %5s %9s %9s %9s %9s %7s %7s %8s %8s  %s\n", "M", "N", "K", "jc_wall", "ob_wall", "jc_cpu", "ob_cpu",
               "r_wall", "r_cpu", "of_peak", "of_bw", "weights");
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            if (only_m && shapes[s][0] != only_m) continue;
            bg_gemm g;
            memset(&g, 0, sizeof g);
            g.ops = ops;
            g.M = shapes[s][0], g.N = shapes[s][1], g.K = shapes[s][2];
            g.X = (float *)malloc(sizeof(float) * (size_t)g.M * g.K);
            g.b = NULL;
            g.Y = (float *)malloc(sizeof(float) * (size_t)g.M * g.N);
            for (size_t i = 0; i < (size_t)g.M * g.K; i++) ((float *)g.X)[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
            /* weights streamed from memory as in a forward pass (rotating through the probe buffer) */
            int n_w = (int)(bufn / ((size_t)g.N * g.K));
            g.W = big;
            g.ws_stride = ops->linear_ws(g.M, g.K) + 16;
            g.ws = (float *)malloc(sizeof(float) * g.ws_stride * (size_t)T);
            /* the towers multiply from packed weights from their second pass on, at any M */
            int packed = bigp != NULL;
            size_t psz = packed ? (ops->pack_size(g.N, g.K) + 15) / 16 * 16 : 0;
            int n_p = packed ? (int)(bufn / psz) : 0;
            if (n_p > n_w) n_p = n_w;
            for (int i = 0; i < n_p; i++)
                ops->pack(bigp + (size_t)i * psz, big + (size_t)i * g.N * g.K, g.N, g.K, 0, (g.N + ops->n_grain - 1) / ops->n_grain);
            bg_t2 a = packed ? bg_time(2, &g, pool, ms, bigp, n_p, psz) : bg_time(0, &g, pool, ms, big, n_w, (size_t)g.N * g.K);
            g.Wp = NULL;
            bg_t2 b = bg_time(1, &g, pool, ms, big, n_w, (size_t)g.N * g.K);
            double gbs = 4.0 * g.N * g.K / (2.0 * g.M * g.N * g.K) * a.cpu; /* weight GB/s (cpu) */
            printf("%5d %5d %5d %9.1f %9.1f %9.1f %9.1f %7.2f %7.2f %7.0f%% ", g.M, g.N, g.K, a.wall, b.wall, a.cpu,
                   b.cpu, a.wall / b.wall, a.cpu / b.cpu, 100 * a.cpu / peak.cpu);
            if (g.M <= 64) printf("%7.0f%%", 100 * gbs / bw.cpu); else printf("%8s", "-");
            printf("  %s\n", packed ? "packed" : "in place");
            fflush(stdout);
            free((void *)g.X), free(g.Y), free(g.ws);
        }
        jc_pool_free(pool);
    }
    free(big), free(bigp);
    return 0;
}
