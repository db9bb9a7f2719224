/* bench/bench_gemm.c: jclip's GEMM (ops->linear through the thread pool, exactly as the towers
 * call it) against OpenBLAS sgemm at the model's shapes, plus peak probes, all in one run so
 * every figure can be read as a fraction of what this machine gives right now.
 *
 *   make bench-gemm    (links OpenBLAS into this program only)
 *   build/bench_gemm [--threads LIST] [--ms N]
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
    int lo, hi;
    jk_split((int)(p->n / 64), 1, t, n, &lo, &hi);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = (size_t)lo * 64; i < (size_t)hi * 64; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(p->buf + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(p->buf + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(p->buf + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(p->buf + i + 48));
    }
    if (t == 0) p->sink = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static double bg_fma_peak(jk_pool *pool)
{
    bg_probe p = {20000000 / 4, 0, NULL, 0};
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = bg_now();
        jk_pool_run(pool, bg_fma_task, &p);
        double dt = bg_now() - t0, gf = (double)p.iters * 24 * 32 * pool->n / dt / 1e9;
        if (gf > best) best = gf;
    }
    return best;
}

static double bg_read_bw(jk_pool *pool, float *buf, size_t n)
{
    bg_probe p = {0, 0, buf, n};
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = bg_now();
        jk_pool_run(pool, bg_read_task, &p);
        double gbs = n * 4.0 / (bg_now() - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    return best;
}

/* ---- GEMM --------------------------------------------------------------------------------- */

typedef struct {
    const jk_ops *ops;
    float *Y; const float *X, *W, *b;
    int M, N, K;
    float *ws; size_t ws_stride;
} bg_gemm;

static void bg_gemm_task(void *arg, int t, int n)
{
    bg_gemm *g = (bg_gemm *)arg;
    int lo, hi;
    jk_split(g->N, g->ops->n_grain, t, n, &lo, &hi);
    if (lo < hi) g->ops->linear(g->Y, (size_t)g->N, g->X, (size_t)g->K, g->W, g->b, g->M, g->K, lo, hi, g->ws + (size_t)t * g->ws_stride);
}

static int bg_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median GFLOP/s over runs filling about `ms` milliseconds. */
static double bg_time(int which, bg_gemm *g, jk_pool *pool, double ms)
{
    double times[200];
    int n = 0;
    double start = bg_now();
    do {
        double t0 = bg_now();
        if (which == 0)
            jk_pool_run(pool, bg_gemm_task, g);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->M, g->N, g->K, 1.0f, g->X, g->K, g->W, g->K, 0.0f, g->Y, g->N);
        times[n++] = bg_now() - t0;
    } while (n < 200 && (n < 5 || (bg_now() - start) * 1e3 < ms));
    qsort(times, (size_t)n, sizeof times[0], bg_cmp);
    return 2.0 * g->M * g->N * g->K / times[n / 2] / 1e9;
}

int main(int argc, char **argv)
{
    int thr[8] = {1, 2}, n_thr = 2;
    double ms = 400;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_thr = 0;
            for (char *s = strtok(argv[++i], ","); s && n_thr < 8; s = strtok(NULL, ",")) thr[n_thr++] = atoi(s);
        } else if (!strcmp(argv[i], "--ms") && i + 1 < argc) ms = atof(argv[++i]);
    }
    const jk_ops *have[8];
    jk_cpu_tables(have, 8);
    const jk_ops *ops = have[0];
    const char *isa = getenv("JCLIP_ISA");
    if (isa && *isa) {
        int n = jk_cpu_tables(have, 8);
        for (int i = 0; i < n; i++) if (!strcmp(have[i]->name, isa)) ops = have[i];
    }
    static const int shapes[][3] = {
        {197, 2304, 768}, {197, 768, 768}, {197, 2048, 768}, {197, 768, 2048}, /* vision: M N K */
        {8, 2304, 768}, {8, 6144, 768}, {8, 768, 3072},                      /* text-8 */
        {64, 2304, 768}, {64, 6144, 768}, {64, 768, 3072},                   /* text-64 */
        {512, 2304, 768}, {512, 6144, 768}, {512, 768, 3072},                /* text-512 */
    };
    size_t bufn = (size_t)256 << 20; /* 1 GiB of floats for the bandwidth probe */
    float *big = (float *)aligned_alloc(64, bufn * 4);
    for (size_t i = 0; i < bufn; i++) big[i] = 1.0f;
    printf("jclip GEMM vs OpenBLAS, kernels: %s\n", ops->name);
    for (int ti = 0; ti < n_thr; ti++) {
        int T = thr[ti];
        jk_pool *pool = NULL;
        if (jk_pool_create(T, &pool)) return 1;
        openblas_set_num_threads(T);
        double peak = bg_fma_peak(pool), bw = bg_read_bw(pool, big, bufn);
        printf("\nthreads %d: FMA peak %.1f GFLOP/s, read bandwidth %.1f GB/s\n", T, peak, bw);
        printf("%5s %5s %5s %10s %10s %8s %8s\n", "M", "N", "K", "jclip", "openblas", "ratio", "of_peak");
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            bg_gemm g;
            memset(&g, 0, sizeof g);
            g.ops = ops;
            g.M = shapes[s][0], g.N = shapes[s][1], g.K = shapes[s][2];
            g.X = (float *)malloc(sizeof(float) * (size_t)g.M * g.K);
            g.W = (float *)malloc(sizeof(float) * (size_t)g.N * g.K);
            g.b = NULL;
            g.Y = (float *)malloc(sizeof(float) * (size_t)g.M * g.N);
            for (size_t i = 0; i < (size_t)g.M * g.K; i++) ((float *)g.X)[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
            for (size_t i = 0; i < (size_t)g.N * g.K; i++) ((float *)g.W)[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
            g.ws_stride = ops->linear_ws(g.M, g.K) + 16;
            g.ws = (float *)malloc(sizeof(float) * g.ws_stride * (size_t)T);
            double a = bg_time(0, &g, pool, ms), b = bg_time(1, &g, pool, ms);
            printf("%5d %5d %5d %10.1f %10.1f %8.2f %7.0f%%\n", g.M, g.N, g.K, a, b, a / b, 100 * a / peak);
            fflush(stdout);
            free((void *)g.X), free((void *)g.W), free(g.Y), free(g.ws);
        }
        jk_pool_free(pool);
    }
    free(big);
    return 0;
}
