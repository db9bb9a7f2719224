/* bench/peers/jclip_compare.c: one jclip model file against another (e.g. q8 against f32 of the
 * same checkpoint) on the golden inputs, in the format of `ort_bench.js compare`, so that run.sh
 * prints jclip's reduced-precision cosines beside ONNX Runtime int8's. Peer benchmark only.
 *
 *   cc -std=c11 -D_GNU_SOURCE -O2 -I. bench/peers/jclip_compare.c jclip.c -o bench/peers/build/jclip_compare -lm -lpthread
 *   bench/peers/build/jclip_compare REF.jclip TEST.jclip GOLDEN_DIR
 *
 * GOLDEN_DIR: texts.jsonl (one {"ids": [...]} per line) and pixels.npy ([M, 3, 224, 224] <f4;
 * optional).
 * The texts run one by one and as one jclip_embed_tokens_batch call, the pixel tensors one by one
 * and as one jclip_embed_pixels_batch call (skipped for a text-only model); each TEST vector is
 * compared with REF's run the same way, and TEST's batched vectors with its own single ones.
 * Build with -std=c11 like the Makefile: GNU mode lets the compiler contract a*b+c into FMAs in
 * the scalar code, which moves the last digits of these cosines. */
#include "jclip.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JC_MAX_TEXTS 256
#define JC_MAX_IDS 20000

typedef struct { float *single, *batch, *isingle, *ibatch; int have_images; } jc_runs;

static void jc_die(const char *what, const char *msg)
{
    fprintf(stderr, "jclip_compare: %s: %s\n", what, msg);
    exit(1);
}

static char *jc_read(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) jc_die(path, "cannot open");
    if (fseek(f, 0, SEEK_END) || (*len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) jc_die(path, "cannot size");
    char *b = malloc((size_t)*len + 1);
    if (!b || fread(b, 1, (size_t)*len, f) != (size_t)*len) jc_die(path, "cannot read");
    b[*len] = 0;
    fclose(f);
    return b;
}

/* pixels.npy: little-endian float32, C order, 4 dimensions [M, 3, 224, 224]. */
static float *jc_npy(const char *path, size_t *m)
{
    long len;
    char *b = jc_read(path, &len);
    if (len < 12 || memcmp(b, "\x93NUMPY", 6)) jc_die(path, "not .npy");
    size_t hl = b[6] == 1 ? (size_t)(unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8
                          : (size_t)(unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8 | (size_t)(unsigned char)b[10] << 16;
    size_t off = (b[6] == 1 ? 10 : 12) + hl;
    if (off > (size_t)len) jc_die(path, "header past the end");
    char *hdr = b + off - hl; /* the header dict as a string (the magic holds NUL bytes) */
    b[off - 1] = 0;           /* its last byte is the '\n' padding end */
    if (!strstr(hdr, "'<f4'") || strstr(hdr, "'fortran_order': True")) jc_die(path, "want <f4, C order");
    const char *sh = strstr(hdr, "'shape': (");
    if (!sh || sscanf(sh, "'shape': (%zu,", m) != 1) jc_die(path, "no shape");
    const size_t per = 3 * 224 * 224;
    if (*m == 0 || *m > 64 || (size_t)len - off != *m * per * sizeof(float)) jc_die(path, "want [M <= 64, 3, 224, 224]");
    float *px = malloc(*m * per * sizeof(float));
    if (!px) jc_die(path, "out of memory");
    memcpy(px, b + off, *m * per * sizeof(float));
    free(b);
    return px;
}

static void jc_run(const char *path, int32_t **ids, const size_t *n_ids, int nt, const float *px, size_t npx, int D, jc_runs *r)
{
    char err[512];
    jclip_model *m = NULL;
    jclip_ctx *c = NULL;
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    for (int i = 0; i < nt; i++) /* a context as long as the longest text (jina-embeddings-v2: up to 8192) */
        if (n_ids[i] > p.max_tokens && n_ids[i] <= 8192) p.max_tokens = n_ids[i];
    if (jclip_model_load(path, &m, err, sizeof err) || jclip_ctx_create(m, &p, &c, err, sizeof err)) jc_die(path, err);
    if (jclip_embed_dim(m) != D) jc_die(path, "embedding size differs from the reference's");
    const size_t Dz = (size_t)D, per = 3 * 224 * 224;
    r->single = malloc(sizeof(float) * Dz * (size_t)nt), r->batch = malloc(sizeof(float) * Dz * (size_t)nt);
    r->isingle = malloc(sizeof(float) * Dz * (npx + 1)), r->ibatch = malloc(sizeof(float) * Dz * (npx + 1));
    if (!r->single || !r->batch || !r->isingle || !r->ibatch) jc_die(path, "out of memory");
    for (int i = 0; i < nt; i++)
        if (jclip_embed_tokens(c, ids[i], n_ids[i], r->single + (size_t)i * Dz, Dz)) jc_die(path, jclip_ctx_error(c));
    if (jclip_embed_tokens_batch(c, (const int32_t *const *)ids, n_ids, (size_t)nt, r->batch, Dz * (size_t)nt))
        jc_die(path, jclip_ctx_error(c));
    r->have_images = npx > 0 && jclip_embed_pixels(c, px, per, r->isingle, Dz) == 0;
    for (size_t i = 1; r->have_images && i < npx; i++)
        if (jclip_embed_pixels(c, px + i * per, per, r->isingle + i * Dz, Dz)) jc_die(path, jclip_ctx_error(c));
    if (r->have_images && jclip_embed_pixels_batch(c, px, npx, r->ibatch, Dz * npx)) jc_die(path, jclip_ctx_error(c));
    jclip_ctx_free(c);
    jclip_model_free(m);
}

static void jc_line(const char *label, const float *got, const float *want, size_t n, int D)
{
    double mn = 1, mean = 0;
    for (size_t r = 0; r < n; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (int j = 0; j < D; j++) {
            const double a = got[r * (size_t)D + (size_t)j], b = want[r * (size_t)D + (size_t)j];
            ab += a * b, aa += a * a, bb += b * b;
        }
        const double c = ab / (sqrt(aa) * sqrt(bb) + 1e-300);
        mn = c < mn ? c : mn;
        mean += c / (double)n;
    }
    const int same = memcmp(got, want, sizeof(float) * n * (size_t)D) == 0;
    printf("%-44s n=%2zu  min cos %.6f  mean %.6f%s\n", label, n, mn, mean, same ? "  (same bits)" : "");
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: jclip_compare REF.jclip TEST.jclip GOLDEN_DIR\n");
        return 2;
    }
    char path[4096];
    long len;
    snprintf(path, sizeof path, "%s/texts.jsonl", argv[3]);
    char *jl = jc_read(path, &len);
    static int32_t *ids[JC_MAX_TEXTS];
    static size_t n_ids[JC_MAX_TEXTS];
    int nt = 0;
    for (char *p = strstr(jl, "\"ids\""); p && nt < JC_MAX_TEXTS; p = strstr(p, "\"ids\"")) {
        p = strchr(p, '[');
        if (!p) break;
        ids[nt] = malloc(sizeof(int32_t) * JC_MAX_IDS);
        if (!ids[nt]) jc_die(path, "out of memory");
        size_t k = 0;
        for (p++; *p && *p != ']' && k < JC_MAX_IDS;) {
            char *e;
            long v = strtol(p, &e, 10);
            if (e == p) { p++; continue; }
            ids[nt][k++] = (int32_t)v;
            p = e;
        }
        n_ids[nt++] = k;
    }
    if (nt == 0) jc_die(path, "no ids");
    snprintf(path, sizeof path, "%s/pixels.npy", argv[3]);
    size_t npx = 0;
    FILE *probe = fopen(path, "rb");
    float *px = probe ? jc_npy(path, &npx) : NULL; /* text-only goldens have none */
    if (probe) fclose(probe);

    char err[512];
    jclip_model *m = NULL;
    if (jclip_model_load(argv[1], &m, err, sizeof err)) jc_die(argv[1], err);
    const int D = jclip_embed_dim(m);
    jclip_model_free(m);
    jc_runs a, b;
    jc_run(argv[1], ids, n_ids, nt, px, npx, D, &a);
    jc_run(argv[2], ids, n_ids, nt, px, npx, D, &b);
    printf("%s vs %s (golden inputs of %s)\n", argv[2], argv[1], argv[3]);
    jc_line("texts one by one", b.single, a.single, (size_t)nt, D);
    jc_line("texts as one batch", b.batch, a.batch, (size_t)nt, D);
    if (a.have_images && b.have_images) {
        jc_line("images one by one", b.isingle, a.isingle, npx, D);
        jc_line("images as one batch", b.ibatch, a.ibatch, npx, D);
    }
    jc_line("test alone vs in the batch: texts", b.batch, b.single, (size_t)nt, D);
    if (b.have_images) jc_line("test alone vs in the batch: images", b.ibatch, b.isingle, npx, D);
    return 0;
}
