/* test/alloc_fail.c: allocation-failure injection (SQLite style). A separate binary: it routes
 * the library's allocator (JCLIP_MALLOC/REALLOC/FREE) through counters that fail the Nth
 * allocation, then for every N = 1, 2, ... until an operation needs fewer than N allocations:
 *   - model load (from a file via mmap, and from an unaligned memory buffer: the copy path),
 *   - context creation (1 and 3 threads),
 *   - one text embedding, one token embedding and one pixel embedding (these allocate nothing
 *     but, once per model, the packed copy of a tower's weights on kernels that pack: with
 *     every allocation failing they still succeed, on the weights in place, bit-identically),
 *   - one image embedding from a PNG and a JPEG file (decoder temporaries, and the context's
 *     decode and resize buffers that grow on first use),
 * each failing call must return an error status, set its out pointer to NULL, leave no block
 * allocated (checked here by counting, and by LeakSanitizer when built with ASan: `make
 * alloc-test`), and leave the model usable: a later call gives a bit-identical embedding.
 * Models: build/models/micro.jclip and tiny-s1.jclip ($JCLIP_TEST_MODELS overrides the folder).
 * Last line "N passed, N failed" like the runner. */
#include <stddef.h>
#include <stdint.h>

#define JC_UNUSED_AF __attribute__((unused)) /* the library does not call realloc yet */
static long af_calls;      /* allocations attempted since the last af_arm */
static long af_fail_at;    /* fail the allocation with this 1-based number; 0 = never */
static long af_live;       /* blocks currently allocated by the library */
static long af_failed;     /* allocations refused so far */
static int af_fail_all;    /* refuse every allocation */

static void *af_malloc(size_t n);
static JC_UNUSED_AF void *af_realloc(void *p, size_t n);
static void af_free(void *p);

#define JCLIP_MALLOC(sz) af_malloc(sz)
#define JCLIP_REALLOC(p, sz) af_realloc(p, sz)
#define JCLIP_FREE(p) af_free(p)
#include "../jclip.c"
#include "test.h"

static void *af_malloc(size_t n)
{
    if (af_fail_all) { af_calls++; af_failed++; return NULL; }
    if (af_fail_at && ++af_calls == af_fail_at) { af_failed++; return NULL; }
    if (!af_fail_at) af_calls++;
    void *p = malloc(n);
    if (p) af_live++;
    return p;
}
static JC_UNUSED_AF void *af_realloc(void *p, size_t n)
{
    if (af_fail_at && ++af_calls == af_fail_at) { af_failed++; return NULL; }
    if (!af_fail_at) af_calls++;
    void *q = realloc(p, n);
    if (q && !p) af_live++;
    return q;
}
static void af_free(void *p)
{
    if (p) af_live--;
    free(p);
}
static void af_arm(long n) { af_calls = 0; af_fail_at = n; }

static const char *af_model_path(const char *name)
{
    static char buf[1024];
    const char *dir = getenv("JCLIP_TEST_MODELS");
    snprintf(buf, sizeof buf, "%s/%s.jclip", (dir && *dir) ? dir : "build/models", name);
    return buf;
}

/* Embeds a text, a token list and a pixel tensor with ctx into e[0..3*D). */
static int af_embed_all(jclip_ctx *ctx, const jclip_model *m, float *e, float *pixels, size_t npix)
{
    size_t D = (size_t)jclip_embed_dim(m);
    static const char txt[] = "A photo of a cat, sitting on the red sofa! \xff\xfe caf\xc3\xa9 \xe4\xb8\xad";
    int32_t ids[4] = {101, 1037, 4937, 102};
    int32_t v = (int32_t)m->tower[JC_TOWER_TEXT].n_vocab;
    for (int i = 0; i < 4; i++) ids[i] %= v;
    int rc = jclip_embed_text(ctx, txt, sizeof txt - 1, e, D);
    if (!rc) rc = jclip_embed_tokens(ctx, ids, 4, e + D, D);
    if (!rc) rc = jclip_embed_pixels(ctx, pixels, npix, e + 2 * D, D);
    return rc;
}

static void af_model(const char *name)
{
    char err[512];
    const char *path = af_model_path(name);
    size_t flen = 0;
    char *file = t_read_file(path, &flen);
    T_CHECK(file != NULL, "cannot read %s (make test-models %s)", path, "build/models/micro.jclip");
    if (!file) return;
    /* unaligned copy, so load_memory takes its copying path */
    char *unaligned = (char *)malloc(flen + 1);
    memcpy(unaligned + ((uintptr_t)unaligned % 64 == 0 ? 1 : 0), file, flen);
    const char *mem = unaligned + ((uintptr_t)unaligned % 64 == 0 ? 1 : 0);

    /* reference run without failures */
    af_arm(0);
    jclip_model *m = NULL;
    jclip_ctx *ctx = NULL;
    int rc = jclip_model_load(path, &m, err, sizeof err);
    T_CHECK(rc == 0, "%s: %s", name, err);
    if (rc) { free(file); free(unaligned); return; }
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.n_threads = 1;
    rc = jclip_ctx_create(m, &p, &ctx, err, sizeof err);
    T_CHECK(rc == 0, "ctx: %s", err);
    size_t D = (size_t)jclip_embed_dim(m), S = (size_t)m->tower[JC_TOWER_VISION].image_size, npix = 3 * S * S;
    float *pixels = (float *)malloc(sizeof(float) * npix);
    for (size_t i = 0; i < npix; i++) pixels[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    float *ref = (float *)malloc(sizeof(float) * 3 * D), *got = (float *)malloc(sizeof(float) * 3 * D);
    T_CHECK(af_embed_all(ctx, m, ref, pixels, npix) == 0, "reference embeddings: %s", jclip_ctx_error(ctx));
    jclip_ctx_free(ctx);
    jclip_model_free(m);
    T_CHECK(af_live == 0, "%s: %ld blocks live after a clean load/free", name, af_live);

    /* 1. model load, from file and from memory */
    for (int from_mem = 0; from_mem < 2; from_mem++) {
        long n, bad = 0;
        for (n = 1; n < 100000; n++) {
            af_arm(n);
            m = (jclip_model *)(uintptr_t)1;
            rc = from_mem ? jclip_model_load_memory(mem, flen, &m, err, sizeof err)
                          : jclip_model_load(path, &m, err, sizeof err);
            if (af_calls < n) break; /* needed fewer than n allocations: success expected */
            if (!(rc == JCLIP_ERR_NOMEM && m == NULL && af_live == 0 && strstr(err, "memory"))) {
                if (bad++ < 5) fprintf(stderr, "  %s load%s fail #%ld: rc %d, model %p, %ld live, \"%s\"\n", name,
                                       from_mem ? "_memory" : "", n, rc, (void *)m, af_live, err);
            }
            if (rc == 0) jclip_model_free(m);
        }
        T_CHECK(rc == 0 && m, "%s: load succeeds once no allocation fails: %s", name, err);
        T_CHECK(bad == 0, "%s: %ld of %ld failed allocations in load%s misreported or leaked", name, bad, n - 1,
                from_mem ? "_memory" : "");
        T_NOTE("%s: model load%s: %ld allocations, each failed in turn: NOMEM, nothing leaked", name,
               from_mem ? "_memory" : "", n - 1);
        /* the model loaded after all those failures works and agrees bit for bit */
        af_arm(0);
        rc = jclip_ctx_create(m, &p, &ctx, err, sizeof err);
        T_CHECK(rc == 0 && af_embed_all(ctx, m, got, pixels, npix) == 0 &&
                memcmp(got, ref, sizeof(float) * 3 * D) == 0, "%s: embeddings after load failures", name);
        jclip_ctx_free(ctx);
        jclip_model_free(m);
    }

    /* 2. context creation (1 and 3 threads), the model shared and untouched by the failures */
    af_arm(0);
    rc = jclip_model_load(path, &m, err, sizeof err);
    T_CHECK(rc == 0, "%s", err);
    for (int threads = 1; threads <= 3; threads += 2) {
        long base = af_live; /* the model's blocks (more once its weights are packed) */
        p.n_threads = threads;
        long n, bad = 0;
        for (n = 1; n < 100000; n++) {
            af_arm(n);
            ctx = (jclip_ctx *)(uintptr_t)1;
            rc = jclip_ctx_create(m, &p, &ctx, err, sizeof err);
            if (af_calls < n) break;
            if (!(rc == JCLIP_ERR_NOMEM && ctx == NULL && af_live == base)) {
                if (bad++ < 5) fprintf(stderr, "  %s ctx fail #%ld: rc %d, ctx %p, %ld live\n", name, n, rc, (void *)ctx, af_live - base);
            }
            if (rc == 0) jclip_ctx_free(ctx);
        }
        T_CHECK(rc == 0, "%s: ctx_create succeeds once no allocation fails: %s", name, err);
        T_CHECK(bad == 0, "%s: %ld of %ld failed allocations in ctx_create misreported or leaked", name, bad, n - 1);
        T_NOTE("%s: ctx_create (%d threads): %ld allocations, each failed in turn: NOMEM, nothing leaked", name,
               threads, n - 1);
        /* 3. embeddings: the context owns every buffer; the model's one-time weight packing
         * (second pass of a tower, first context here) may allocate, and without memory the
         * weights stay in place: same results. Once packed, nothing allocates at all. */
        if (threads == 1) {
            long live0 = af_live;
            af_arm(0);
            af_fail_all = 1;
            rc = af_embed_all(ctx, m, got, pixels, npix);
            if (!rc) rc = af_embed_all(ctx, m, got, pixels, npix);
            af_fail_all = 0;
            T_CHECK(rc == 0 && af_live == live0 && memcmp(got, ref, sizeof(float) * 3 * D) == 0,
                    "%s: embeddings succeed, identical, with every allocation failing (%ld refused)", name, af_calls);
            rc = af_embed_all(ctx, m, got, pixels, npix); /* packs now, where the kernels pack */
            T_CHECK(rc == 0 && memcmp(got, ref, sizeof(float) * 3 * D) == 0, "%s: embeddings identical after packing", name);
        }
        af_arm(1); /* the first allocation would fail */
        rc = af_embed_all(ctx, m, got, pixels, npix);
        T_CHECK(rc == 0 && af_calls == 0, "%s: embeddings allocate nothing (%ld allocations, rc %d)", name, af_calls, rc);
        T_CHECK(memcmp(got, ref, sizeof(float) * 3 * D) == 0, "%s: %d-thread embeddings identical after ctx failures", name, threads);
        af_arm(0);
        jclip_ctx_free(ctx);
    }
    /* 4. image embeddings: decoder scratch and the context's growing buffers */
    static const char *imgs[4] = {"testdata/images/pngsuite/basn2c08.png", "testdata/images/pngsuite/basi3p08.png",
                                  "testdata/images/photos/skimage_camera.png", "testdata/images/photos/skimage_rocket.jpg"};
    for (int k = 0; k < 4; k++) {
        size_t ilen = 0;
        char *img = t_read_file(t_shared(imgs[k]), &ilen);
        T_CHECK(img != NULL, "cannot read %s", t_shared(imgs[k]));
        if (!img) continue;
        p.n_threads = 1;
        af_arm(0);
        float *e0 = (float *)malloc(sizeof(float) * D), *e1 = (float *)malloc(sizeof(float) * D);
        T_CHECK(jclip_ctx_create(m, &p, &ctx, err, sizeof err) == 0 && jclip_embed_image(ctx, img, ilen, e0, D) == 0,
                "%s: reference image embedding: %s", imgs[k], ctx ? jclip_ctx_error(ctx) : err);
        jclip_ctx_free(ctx);
        long n, bad = 0;
        for (n = 1; n < 100000; n++) {
            af_arm(0);
            if (jclip_ctx_create(m, &p, &ctx, err, sizeof err)) { bad++; break; }
            long live0 = af_live;
            af_arm(n);
            rc = jclip_embed_image(ctx, img, ilen, e1, D);
            long calls = af_calls;
            if (calls >= n && !(rc == JCLIP_ERR_NOMEM && af_live - live0 <= 2 && strstr(jclip_ctx_error(ctx), "memory"))) {
                /* <= 2: the context keeps a decode/resize buffer that did grow */
                if (bad++ < 5) fprintf(stderr, "  %s image fail #%ld: rc %d, %ld live, \"%s\"\n", name, n, rc, af_live - live0, jclip_ctx_error(ctx));
            }
            af_arm(0);
            /* the same context recovers: a retry succeeds and matches */
            int rc2 = jclip_embed_image(ctx, img, ilen, e1, D);
            if (rc2 != 0 || memcmp(e0, e1, sizeof(float) * D) != 0) {
                if (bad++ < 5) fprintf(stderr, "  %s image retry after fail #%ld: rc %d\n", name, n, rc2);
            }
            jclip_ctx_free(ctx);
            if (calls < n) break;
        }
        T_CHECK(bad == 0, "%s: %ld of %ld failed allocations in embed_image(%s) misreported, leaked or not recovered", name, bad,
                n - 1, imgs[k]);
        T_NOTE("%s: embed_image %s: %ld allocations, each failed in turn: NOMEM, context recovers", name, imgs[k], n - 1);
        free(e0); free(e1); free(img);
    }
    jclip_model_free(m);
    T_CHECK(af_live == 0, "%s: %ld blocks live at the end", name, af_live);
    free(ref); free(got); free(pixels); free(file); free(unaligned);
}

int main(int argc, char **argv)
{
    if (argc > 1) for (int i = 1; i < argc; i++) af_model(argv[i]);
    else { af_model("micro"); af_model("tiny-s1"); }
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}
