/* cli/bench.c: `jclip bench`, end-to-end timings of the embedding calls.
 *
 *   jclip bench [-m MODEL] [--threads N] [--json] [--cases LIST] [--repeat N] [--warmup N]
 *
 * Cases: text-N (one sequence of N token ids), text-NxM (M N-token sequences in one
 * jclip_embed_tokens_batch call), image-1, image-8 (random normalised 3x224x224 pixel tensors
 * through jclip_embed_pixels / _pixels_batch, so decoding and resizing are not timed). The
 * default set suits the model's family: text-8, text-64, text-512, text-64x8, image-1, image-8
 * (jina-clip-v1); text-8, text-77, text-77x8, image-1, image-8 (CLIP, 77 positions); the text
 * cases plus text-2048 for a text-only model (jina-embeddings-v2). Each case runs `warmup` times
 * (default 2, so that the one-time weight packing of a tower's second pass is not timed), then
 * `repeat` times (default: as many as fit in about 2 s, between 3 and 50); it reports the
 * median and minimum wall time, and GFLOP/s computed from the model's sizes (multiply-adds
 * count 2), and cpu_ms: the median process CPU time of a run divided by the thread count (on a
 * shared machine, what a run takes with the cores to itself). The token ids are random in-vocabulary ids framed by [CLS]/[SEP]: timing does not
 * depend on the text, only on the length. Uses only the public API. */
#include "../jclip.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>


typedef struct {
    int t_layers, t_d, t_ff, t_vocab, t_glu; /* t_glu: gated MLP (GEGLU), else fc1/fc2 (CLIP) */
    int v_layers, v_d, v_ff, v_patch, v_image, v_glu;
    int clip;                                /* architecture clip: ids framed by 49406 ... 49407 */
} cb_dims;

/* Model sizes, read back from jclip_model_describe (the only public view of them). */
static int cb_dims_of(const jclip_model *m, cb_dims *d)
{
    char buf[2048];
    memset(d, 0, sizeof *d);
    if (!jclip_model_describe(m, buf, sizeof buf)) return 0;
    const char *t = strstr(buf, "text:"), *v = strstr(buf, "vision:");
    int heads, got = 0;
    char act[32];
    d->clip = strstr(buf, "architecture: clip ") != NULL;
    if (t && sscanf(t, "text: %d layers, d_model %d, %d heads, d_ff %d (%31[^)]), vocab %d", &d->t_layers, &d->t_d, &heads,
                    &d->t_ff, act, &d->t_vocab) == 6)
        got++, d->t_glu = strstr(act, "GLU") != NULL;
    if (v && sscanf(v, "vision: %d layers, d_model %d, %d heads, d_ff %d (%31[^)]), patch %d, image %d", &d->v_layers, &d->v_d,
                    &heads, &d->v_ff, act, &d->v_patch, &d->v_image) == 7)
        got++, d->v_glu = strstr(act, "GLU") != NULL;
    return got > 0;
}

/* The floating-point work of one layer over N rows whose outputs are all needed (nq = N), or
 * only nq of them (a tower pooled on one row computes its last layer's keys and values for
 * every row, the rest for the pooled row alone): what the engine does, so GFLOP/s are honest. */
static double cb_layer_flops(double N, double nq, double D, double F, int glu)
{
    return 2 * N * D * 2 * D + 2 * nq * D * (2 * D + (glu ? 2 : 1) * F) + 2 * nq * F * D + 4 * nq * N * D;
}

/* jina's text towers pool the mean of every row; CLIP's the end token */
static double cb_text_flops(const cb_dims *d, double L)
{
    double D = d->t_d, F = d->t_ff;
    return (d->t_layers - 1) * cb_layer_flops(L, L, D, F, d->t_glu) + cb_layer_flops(L, d->clip ? 1 : L, D, F, d->t_glu);
}

static double cb_image_flops(const cb_dims *d) /* both vision towers pool the class token */
{
    double D = d->v_d, F = d->v_ff, G = (double)(d->v_image / (d->v_patch ? d->v_patch : 1)), N = G * G + 1;
    return (d->v_layers - 1) * cb_layer_flops(N, N, D, F, d->v_glu) + cb_layer_flops(N, 1, D, F, d->v_glu) +
           2 * (N - 1) * 3.0 * d->v_patch * d->v_patch * D;
}

static double cb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Process CPU time: on a shared machine other jobs take time slices, and wall time counts
 * them; CPU time over the thread count is what a run takes with the cores to itself. */
static double cb_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    jclip_ctx *ctx;
    int kind;      /* 0 text, 1 image */
    int len, count;
    int32_t *ids;  /* [count * len] */
    float *pixels; /* [count * n_pix] */
    size_t n_pix;
    float *out;    /* [count * dim] */
    int dim;
} cb_case;

static int cb_run(cb_case *c)
{
    if (c->kind == 0 && c->count > 1) { /* several texts: one batched call, as a server would */
        const int32_t *ids[64];
        size_t n_ids[64];
        for (int i = 0; i < c->count && i < 64; i++) ids[i] = c->ids + (size_t)i * c->len, n_ids[i] = (size_t)c->len;
        return jclip_embed_tokens_batch(c->ctx, ids, n_ids, (size_t)(c->count < 64 ? c->count : 64), c->out,
                                        (size_t)c->count * c->dim);
    }
    if (c->kind == 1 && c->count > 1) /* several images: one batched call */
        return jclip_embed_pixels_batch(c->ctx, c->pixels, (size_t)c->count, c->out, (size_t)c->count * c->dim);
    for (int i = 0; i < c->count; i++) {
        int rc = c->kind == 0
                     ? jclip_embed_tokens(c->ctx, c->ids + (size_t)i * c->len, (size_t)c->len, c->out + (size_t)i * c->dim, (size_t)c->dim)
                     : jclip_embed_pixels(c->ctx, c->pixels + (size_t)i * c->n_pix, c->n_pix, c->out + (size_t)i * c->dim, (size_t)c->dim);
        if (rc) return rc;
    }
    return 0;
}

/* "text-N" or "text-NxM": 1 with *len = N, *count = M (1 when absent). */
static int cb_text_case(const char *tok, int *len, int *count)
{
    int used = 0, used2 = 0;
    *count = 1;
    if (sscanf(tok, "text-%d%n", len, &used) != 1) return 0;
    if (tok[used] == 0) return 1;
    return sscanf(tok + used, "x%d%n", count, &used2) == 1 && tok[used + used2] == 0;
}

static uint32_t cb_rng = 2024;
static uint32_t cb_rand(void)
{
    cb_rng = cb_rng * 1664525u + 1013904223u;
    return cb_rng >> 8;
}

static int cb_usage(FILE *f)
{
    fprintf(f,
            "usage: jclip bench [-m MODEL] [--threads N] [--json] [--cases LIST] [--repeat N] [--warmup N]\n"
            "  -m, --model MODEL   .jclip model (default: $JCLIP_MODEL, else models/jina-clip-v1.jclip)\n"
            "  --threads N         worker threads (default: all cores)\n"
            "  --json              one JSON object per case and line\n"
            "  --cases LIST        comma-separated text-N, text-NxM (M sequences in one call), image-1, image-8\n"
            "                      (default: the set suited to the model: text-77 for CLIP, text-2048 text-only)\n"
            "  --repeat N          timed runs per case (default: about 2 s worth, 3..50)\n"
            "  --warmup N          untimed runs first (default 2: a tower's second pass packs its weights)\n");
    return f == stderr ? 2 : 0;
}

int cli_bench(int argc, char **argv)
{
    const char *model = getenv("JCLIP_MODEL");
    if (!model || !*model) model = "models/jina-clip-v1.jclip";
    const char *cases = NULL;
    int threads = 0, json = 0, repeat = 0, warmup = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && more) model = argv[++i];
        else if (!strcmp(a, "--threads") && more) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--cases") && more) cases = argv[++i];
        else if (!strcmp(a, "--repeat") && more) repeat = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && more) warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) return cb_usage(stdout);
        else {
            fprintf(stderr, "jclip bench: unknown or incomplete option '%s'\n", a);
            return cb_usage(stderr);
        }
    }
    char err[512];
    jclip_model *m = NULL;
    if (jclip_model_load(model, &m, err, sizeof err)) {
        fprintf(stderr, "jclip bench: %s\n", err);
        return 1;
    }
    cb_dims dims;
    int have_dims = cb_dims_of(m, &dims);
    if (!cases) /* the default set of the model's family */
        cases = have_dims && dims.clip ? "text-8,text-77,text-77x8,image-1,image-8"
                : have_dims && !dims.v_d ? "text-8,text-64,text-512,text-64x8,text-2048"
                                         : "text-8,text-64,text-512,text-64x8,image-1,image-8";
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.n_threads = threads;
    { /* a context as long as the longest text case */
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", cases);
        for (char *tok = strtok(tmp, ","); tok; tok = strtok(NULL, ",")) {
            int tl, tn;
            if (cb_text_case(tok, &tl, &tn) && tl > (int)p.max_tokens && tl <= 8192) p.max_tokens = (size_t)tl;
        }
    }
    jclip_ctx *ctx = NULL;
    if (jclip_ctx_create(m, &p, &ctx, err, sizeof err)) {
        fprintf(stderr, "jclip bench: %s\n", err);
        jclip_model_free(m);
        return 1;
    }
    if (threads <= 0) { /* report what "all cores" meant (the library's default) */
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc < 1 ? 1 : (int)nc;
    }
    int status = 0;
    if (!json) printf("%-10s %7s %-7s %-5s %10s %10s %8s %9s %9s\n", "case", "threads", "isa", "dtype", "ms_median", "ms_min", "gflops", "cpu_ms", "rss_mb");
    char list[256];
    snprintf(list, sizeof list, "%s", cases);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        cb_case c;
        memset(&c, 0, sizeof c);
        c.ctx = ctx;
        c.dim = jclip_embed_dim(m);
        double flops = 0;
        int tl = 0, tn = 1;
        if (cb_text_case(tok, &tl, &tn)) {
            if (tl < 2 || tl > 8192 || tn < 1 || tn > 64) {
                fprintf(stderr, "jclip bench: case '%s': lengths 2..8192, counts 1..64\n", tok);
                status = 2;
                continue;
            }
            c.kind = 0;
            c.len = tl;
            c.count = tn;
            flops = have_dims ? c.count * cb_text_flops(&dims, c.len) : 0;
        } else if (!strcmp(tok, "image-1") || !strcmp(tok, "image-8")) {
            c.kind = 1;
            c.count = tok[6] - '0';
            int S = have_dims && dims.v_image ? dims.v_image : 224;
            c.n_pix = 3 * (size_t)S * S;
            flops = have_dims ? c.count * cb_image_flops(&dims) : 0;
        } else {
            fprintf(stderr, "jclip bench: unknown case '%s'\n", tok);
            status = 2;
            continue;
        }
        c.out = (float *)malloc(sizeof(float) * (size_t)c.count * c.dim);
        if (c.kind == 0) c.ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)c.count * c.len);
        else c.pixels = (float *)malloc(sizeof(float) * c.n_pix * (size_t)c.count);
        if (!c.out || (c.kind == 0 ? !c.ids : !c.pixels)) {
            fprintf(stderr, "jclip bench: %s: out of memory\n", tok);
            free(c.out);
            free(c.ids);
            free(c.pixels);
            status = 1;
            continue;
        }
        if (c.kind == 0) {
            int vocab = have_dims && dims.t_vocab > 2000 ? dims.t_vocab : 30000;
            for (int s = 0; s < c.count; s++) {
                int32_t *id = c.ids + (size_t)s * c.len;
                for (int i = 0; i < c.len; i++) id[i] = 1000 + (int32_t)(cb_rand() % (uint32_t)(vocab - 1000 - 8));
                id[0] = dims.clip ? 49406 : 101;           /* [CLS] / <|startoftext|> */
                id[c.len - 1] = dims.clip ? 49407 : 102;   /* [SEP] / <|endoftext|>: CLIP pools there */
            }

        } else {
            for (size_t i = 0; i < c.n_pix * (size_t)c.count; i++) c.pixels[i] = (float)(cb_rand() % 4096) / 1024.0f - 2.0f;
        }
        int rc = 0;
        for (int w = 0; w < warmup && !rc; w++) rc = cb_run(&c);
        double times[64], cpus[64];
        int n = 0;
        if (!rc) {
            double t0 = cb_now_ms(), c0 = cb_cpu_ms();
            rc = cb_run(&c);
            cpus[n] = (cb_cpu_ms() - c0) / threads;
            times[n++] = cb_now_ms() - t0;
            int want = repeat > 0 ? repeat : (int)(2000.0 / (times[0] + 1e-3));
            if (repeat <= 0) want = want < 3 ? 3 : want > 50 ? 50 : want;
            if (want > 64) want = 64;
            while (!rc && n < want) {
                t0 = cb_now_ms(), c0 = cb_cpu_ms();
                rc = cb_run(&c);
                cpus[n] = (cb_cpu_ms() - c0) / threads;
                times[n++] = cb_now_ms() - t0;
            }
        }
        if (rc) {
            fprintf(stderr, "jclip bench: %s: %s\n", tok, jclip_ctx_error(ctx));
            status = 1;
        } else {
            qsort(times, (size_t)n, sizeof times[0], cb_cmp);
            qsort(cpus, (size_t)n, sizeof cpus[0], cb_cmp);
            double med = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
            double cmed = n % 2 ? cpus[n / 2] : 0.5 * (cpus[n / 2 - 1] + cpus[n / 2]);
            double gf = flops / (med * 1e6);
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            double rss = ru.ru_maxrss / 1024.0;
            if (json)
                printf("{\"case\":\"%s\",\"threads\":%d,\"isa\":\"%s\",\"dtype\":\"%s\",\"ms_median\":%.3f,\"ms_min\":%.3f,"
                       "\"gflops\":%.2f,\"cpu_ms\":%.3f,\"runs\":%d,\"peak_rss_mb\":%.1f}\n",
                       tok, threads, jclip_model_isa(m), jclip_model_dtype(m), med, times[0], gf, cmed, n, rss);
            else
                printf("%-10s %7d %-7s %-5s %10.2f %10.2f %8.1f %9.2f %9.1f\n", tok, threads, jclip_model_isa(m), jclip_model_dtype(m), med,
                       times[0], gf, cmed, rss);
            fflush(stdout);
        }
        free(c.out), free(c.ids), free(c.pixels);
    }
    jclip_ctx_free(ctx);
    jclip_model_free(m);
    return status;
}
