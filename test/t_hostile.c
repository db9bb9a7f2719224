/* test/t_hostile.c: suite `hostile`: whatever it is given, the library answers with a clear
 * error or a correct result, quickly, and the same from any number of threads.
 *   - replays every committed fuzz crasher (test/crashers/<target>/) through the fuzz target
 *     it was found by (test/fuzz/fz_<target>.c, compiled into the runner);
 *   - the micro model truncated at every length and with every byte flipped (CRC repaired so
 *     the flip reaches the parser): rejected, or loaded and usable;
 *   - every file under testdata/images/malformed/ and PngSuite's x*.png through
 *     jclip_embed_image: an error with a message, or an embedding, within 2 s each;
 *   - invalid UTF-8, 1 MB lines of every awkward kind, a 100k-token text: each within 2 s
 *     (x10 under sanitizers), right ids, and the byte limit honoured;
 *   - four threads sharing one model, each with its own context, embedding texts and pixels
 *     concurrently: bit-identical to one thread (`make tsan-test` runs this under TSan).
 * Allocation-failure injection is a separate binary: test/alloc_fail.c (`make alloc-test`). */
#define FZ_IN_RUNNER 1
#include "fuzz/fz_tokenizer.c"
#include "fuzz/fz_json.c"
#include "fuzz/fz_model.c"
#include "fuzz/fz_image.c"
#include "fuzz/fz_inflate.c"
#include "fuzz/fz_bpe.c"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#ifndef JCLIP_NO_THREADS
#include <pthread.h>
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TH_SLOW 10.0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TH_SLOW 10.0
#endif
#endif
#ifndef TH_SLOW
#define TH_SLOW 1.0
#endif
#define TH_LIMIT_S (2.0 * TH_SLOW)

static double th_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- crashers ------------------------------------------------------------------------------ */

static void th_replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
    char dir[512];
    snprintf(dir, sizeof dir, "test/crashers/%s", target);
    DIR *d = opendir(dir);
    int n = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            size_t len = 0;
            char *buf = t_read_file(path, &len);
            T_CHECK(buf != NULL, "cannot read %s", path);
            if (!buf) continue;
            /* exact-size copy so an over-read is caught by ASan */
            uint8_t *exact = (uint8_t *)malloc(len ? len : 1);
            memcpy(exact, buf, len);
            double t0 = th_now();
            fn(exact, len); /* aborts on a broken invariant; sanitizers catch the rest */
            double dt = th_now() - t0;
            T_CHECK(dt < TH_LIMIT_S, "crasher %s took %.2f s", path, dt);
            free(exact);
            free(buf);
            n++;
        }
        closedir(d);
    }
    T_NOTE("crashers/%s: %d inputs replayed", target, n);
}

/* ---- .jclip files: truncated and byte-flipped ---------------------------------------------- */

static void th_model_files(void)
{
    size_t len = 0;
    const char *path = "build/models/micro.jclip";
    char *file = t_read_file(path, &len);
    T_CHECK(file != NULL, "cannot read %s (make %s)", path, path);
    if (!file) return;
    double t0 = th_now();
    int accepted = 0;
    for (size_t cut = 0; cut < len; cut++) {
        jclip_model *m = NULL;
        char err[512];
        int rc = jclip_model_load_memory(file, cut, &m, err, sizeof err);
        if (rc == 0) { accepted++; jclip_model_free(m); }
        else if (m) accepted++;
    }
    T_CHECK(accepted == 0, "micro model: %d truncations accepted", accepted);
    /* every byte xor 0xFF, and every byte + 1, through the fuzz target (which also loads a copy
     * with file size and CRC repaired, and uses whatever loads) */
    uint8_t *buf = (uint8_t *)malloc(len);
    uint64_t data_off = jc_file_u64((const uint8_t *)file + 56); /* header, metadata, table: every byte */
    size_t n_mut = 0;
    for (size_t pos = 0; pos < len; pos += pos < data_off ? 1 : 499) { /* data: floats only */
        n_mut += 2;
        for (int k = 0; k < 2; k++) {
            memcpy(buf, file, len);
            buf[pos] = k ? (uint8_t)(buf[pos] + 1) : (uint8_t)(buf[pos] ^ 0xFF);
            fz_model(buf, len);
        }
    }
    T_NOTE("micro model: %zu truncations rejected, %zu byte mutations (x2 with CRC repaired) handled, %.2f s",
           len, n_mut, th_now() - t0);
    free(buf);
    free(file);
}

/* ---- malformed images ---------------------------------------------------------------------- */

static int th_is_image(const char *name, const char *prefix)
{
    size_t n = strlen(name);
    if (prefix && strncmp(name, prefix, strlen(prefix)) != 0) return 0;
    return n > 4 && (strcmp(name + n - 4, ".png") == 0 || strcmp(name + n - 4, ".jpg") == 0 ||
                     (n > 5 && strcmp(name + n - 5, ".jpeg") == 0));
}

/* Embeds every image of dir (names starting with prefix when given; one level of
 * subdirectories); counts errors and successes. */
static void th_images_in(jclip_ctx *ctx, const jclip_model *m, const char *dir, const char *prefix, int depth,
                         int *n_err, int *n_ok, double *worst)
{
    DIR *d = opendir(dir);
    if (!d) return;
    size_t D = (size_t)jclip_embed_dim(m);
    float out[64];
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth > 0) th_images_in(ctx, m, path, prefix, depth - 1, n_err, n_ok, worst);
            continue;
        }
        if (!th_is_image(e->d_name, prefix)) continue;
        size_t len = 0;
        char *buf = t_read_file(path, &len);
        if (!buf) continue;
        uint8_t *exact = (uint8_t *)malloc(len ? len : 1);
        memcpy(exact, buf, len);
        free(buf);
        double t0 = th_now();
        int rc = jclip_embed_image(ctx, exact, len, out, D);
        double dt = th_now() - t0;
        if (dt > *worst) *worst = dt;
        T_CHECK(dt < TH_LIMIT_S, "%s took %.2f s", path, dt);
        if (rc == 0) {
            (*n_ok)++;
            double ss = 0;
            for (size_t i = 0; i < D; i++) ss += (double)out[i] * out[i];
            T_CHECK(fabs(ss - 1.0) < 1e-3, "%s: embedding is not unit length", path);
        } else {
            (*n_err)++;
            T_CHECK(rc < 0 && jclip_ctx_error(ctx)[0], "%s: status %d without a message", path, rc);
        }
        free(exact);
    }
    closedir(d);
}

static void th_images(void)
{
    char err[512];
    jclip_model *m = NULL;
    if (jclip_model_load("build/models/micro.jclip", &m, err, sizeof err)) { T_CHECK(0, "%s", err); return; }
    jclip_ctx *ctx = NULL;
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.n_threads = 1;
    if (jclip_ctx_create(m, &p, &ctx, err, sizeof err)) { T_CHECK(0, "%s", err); jclip_model_free(m); return; }
    int n_err = 0, n_ok = 0;
    double worst = 0;
    if (t_need_shared("testdata/images/malformed")) {
        th_images_in(ctx, m, t_shared("testdata/images/malformed"), NULL, 2, &n_err, &n_ok, &worst);
        T_CHECK(n_err + n_ok > 100, "only %d malformed images found", n_err + n_ok);
        T_NOTE("malformed images: %d rejected with a message, %d decoded (tolerated damage), slowest %.3f s",
               n_err, n_ok, worst);
    }
    n_err = n_ok = 0;
    worst = 0;
    if (t_need_shared("testdata/images/pngsuite")) {
        th_images_in(ctx, m, t_shared("testdata/images/pngsuite"), "x", 0, &n_err, &n_ok, &worst);
        T_CHECK(n_err == 14 && n_ok == 0, "PngSuite x*.png: %d rejected, %d accepted (want 14, 0)", n_err, n_ok);
        T_NOTE("PngSuite x*.png: %d rejected with a message, slowest %.3f s", n_err, worst);
    }
    /* limits: pixels and bytes */
    p.max_pixels = 100;
    p.max_image_bytes = 1 << 20;
    jclip_ctx *lim = NULL;
    if (jclip_ctx_create(m, &p, &lim, err, sizeof err) == 0) {
        size_t len = 0;
        char *png = t_read_file(t_shared("testdata/images/pngsuite/basn2c08.png"), &len);
        float out[64];
        if (png) {
            T_CHECK(jclip_embed_image(lim, png, len, out, 64) == JCLIP_ERR_LIMIT && strstr(jclip_ctx_error(lim), "limit"),
                    "32x32 image over a 100-pixel limit: %s", jclip_ctx_error(lim));
            T_CHECK(jclip_embed_image(lim, png, (size_t)(1 << 20) + 1, out, 64) == JCLIP_ERR_LIMIT, "byte limit");
            T_CHECK(jclip_embed_image(ctx, png, len, out, 64) == 0, "basn2c08.png embeds: %s", jclip_ctx_error(ctx));
            free(png);
        }
        jclip_ctx_free(lim);
    }
    jclip_ctx_free(ctx);
    jclip_model_free(m);
}

/* ---- hostile texts ------------------------------------------------------------------------- */

static uint32_t th_rng(uint32_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 17; *s ^= *s << 5;
    return *s;
}

typedef struct { const char *what; char *text; size_t len; } th_text;

static void th_texts(jclip_ctx *ctx, const jclip_model *m)
{
    const size_t MB = (size_t)1 << 20;
    size_t D = (size_t)jclip_embed_dim(m);
    float *out = (float *)malloc(sizeof(float) * D);
    th_text t[8];
    int nt = 0;
    uint32_t s = 12345;
    /* random bytes: mostly invalid UTF-8 */
    t[nt].what = "1 MB random bytes"; t[nt].len = MB; t[nt].text = (char *)malloc(MB);
    for (size_t i = 0; i < MB; i++) t[nt].text[i] = (char)th_rng(&s);
    nt++;
    /* invalid UTF-8 only: lone continuation bytes, overlongs, surrogates, > U+10FFFF */
    static const char *bad[] = {"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xe2\x82", "\xff"};
    t[nt].what = "1 MB invalid UTF-8"; t[nt].text = (char *)malloc(MB + 8); t[nt].len = 0;
    for (int k = 0; t[nt].len < MB; k++) {
        const char *b = bad[k % 7];
        memcpy(t[nt].text + t[nt].len, b, strlen(b));
        t[nt].len += strlen(b);
    }
    nt++;
    /* one 1 MB word (no spaces) */
    t[nt].what = "1 MB single word"; t[nt].len = MB; t[nt].text = (char *)malloc(MB);
    for (size_t i = 0; i < MB; i++) t[nt].text[i] = (char)('a' + i % 26);
    nt++;
    /* 1 MB of combining marks on one base letter (NFD / strip_accents worst case) */
    t[nt].what = "1 MB combining marks"; t[nt].len = MB; t[nt].text = (char *)malloc(MB);
    t[nt].text[0] = 'e'; t[nt].text[1] = 'e';
    for (size_t i = 2; i + 1 < MB; i += 2) { t[nt].text[i] = (char)0xCC; t[nt].text[i + 1] = (char)0x81; }
    nt++;
    /* 1 MB of "[SEP" almost-specials and specials */
    t[nt].what = "1 MB near-special tokens"; t[nt].len = MB; t[nt].text = (char *)malloc(MB);
    for (size_t i = 0; i < MB; i++) t[nt].text[i] = "[SEP[SEP][CLS[MASK]"[i % 19];
    nt++;
    /* 1 MB of NUL and control characters (all dropped by clean_text): an empty text */
    t[nt].what = "1 MB NUL/control"; t[nt].len = MB; t[nt].text = (char *)malloc(MB);
    for (size_t i = 0; i < MB; i++) t[nt].text[i] = (char)(i % 3 ? 0 : 1);
    nt++;
    /* 100k tokens: "hello, world! " is 4 tokens */
    t[nt].what = "100k-token text"; t[nt].len = 25000 * 14; t[nt].text = (char *)malloc(t[nt].len);
    for (size_t i = 0; i < t[nt].len; i++) t[nt].text[i] = "hello, world! "[i % 14];
    nt++;

    size_t cap = 200000;
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * cap);
    for (int i = 0; i < nt; i++) {
        size_t n = 0;
        double t0 = th_now();
        int rc = jclip_tokenize(ctx, t[i].text, t[i].len, cap, ids, cap, &n);
        double t1 = th_now();
        int rc2 = jclip_embed_text(ctx, t[i].text, t[i].len, out, D);
        double t2 = th_now();
        T_CHECK(rc == 0 && n >= 2 && ids[0] == 101 && ids[n - 1] == 102, "%s: tokenize rc %d n %zu: %s", t[i].what, rc, n, jclip_ctx_error(ctx));
        /* an all-dropped text is [CLS][SEP]: still embeddable */
        T_CHECK(rc2 == 0, "%s: embed rc %d: %s", t[i].what, rc2, jclip_ctx_error(ctx));
        T_CHECK(t1 - t0 < TH_LIMIT_S && t2 - t1 < TH_LIMIT_S, "%s: tokenize %.2f s, embed %.2f s (limit %.0f s)",
                t[i].what, t1 - t0, t2 - t1, TH_LIMIT_S);
        T_NOTE("%-26s %8zu bytes -> %6zu ids: tokenize %.3f s, embed (512) %.3f s", t[i].what, t[i].len, n, t1 - t0, t2 - t1);
        if (i == nt - 1) T_CHECK(n == 100002, "100k-token text gives %zu ids", n);
        if (i == 5) T_CHECK(n == 2, "NUL/control text gives %zu ids (want [CLS][SEP])", n);
    }
    /* the byte limit: a context with max_text_bytes 1000 refuses 1001 bytes */
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.n_threads = 1;
    p.max_text_bytes = 1000;
    jclip_ctx *small = NULL;
    char err[256];
    T_CHECK(jclip_ctx_create(m, &p, &small, err, sizeof err) == 0, "%s", err);
    if (small) {
        size_t n;
        T_CHECK(jclip_embed_text(small, t[2].text, 1001, out, D) == JCLIP_ERR_LIMIT && strstr(jclip_ctx_error(small), "1001"),
                "over-limit text: %s", jclip_ctx_error(small));
        T_CHECK(jclip_tokenize(small, t[2].text, 1000, 0, ids, cap, &n) == 0, "text at the limit is accepted");
        jclip_ctx_free(small);
    }
    for (int i = 0; i < nt; i++) free(t[i].text);
    free(ids);
    free(out);
}

/* ---- threads ------------------------------------------------------------------------------- */

#define TH_N 4
#define TH_TEXTS 6
static const char *const th_inputs[TH_TEXTS] = {
    "a photo of a cat", "A dog running on the beach at sunset.", "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xff\xfe",
    "[CLS] [SEP] [MASK] hello", "", "the quick brown fox jumps over the lazy dog, again and again and again"};

typedef struct {
    const jclip_model *m;
    int pool_threads;
    const float *pixels; size_t npix;
    float *out; /* [(TH_TEXTS + 1) * D] */
    int rc;
    char err[600];
} th_job;

static void *th_worker(void *arg)
{
    th_job *j = (th_job *)arg;
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.n_threads = j->pool_threads;
    jclip_ctx *ctx = NULL;
    j->rc = jclip_ctx_create(j->m, &p, &ctx, j->err, sizeof j->err);
    if (j->rc) return NULL;
    size_t D = (size_t)jclip_embed_dim(j->m);
    for (int r = 0; r < 2 && !j->rc; r++) { /* twice: the second pass must not differ either */
        for (int i = 0; i < TH_TEXTS && !j->rc; i++)
            j->rc = jclip_embed_text(ctx, th_inputs[i], strlen(th_inputs[i]), j->out + (size_t)i * D, D);
        if (!j->rc) j->rc = jclip_embed_pixels(ctx, j->pixels, j->npix, j->out + (size_t)TH_TEXTS * D, D);
    }
    if (j->rc) snprintf(j->err, sizeof j->err, "%s", jclip_ctx_error(ctx));
    jclip_ctx_free(ctx);
    return NULL;
}

static void th_threads(const jclip_model *m)
{
#ifdef JCLIP_NO_THREADS
    (void)m;
    T_NOTE("threads: skipped (JCLIP_NO_THREADS)");
#else
    size_t D = (size_t)jclip_embed_dim(m), S = (size_t)m->tower[JC_TOWER_VISION].image_size, npix = 3 * S * S;
    size_t per = (TH_TEXTS + 1) * D;
    float *pixels = (float *)malloc(sizeof(float) * npix);
    for (size_t i = 0; i < npix; i++) pixels[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    th_job ref;
    memset(&ref, 0, sizeof ref);
    ref.m = m; ref.pool_threads = 1; ref.pixels = pixels; ref.npix = npix;
    ref.out = (float *)malloc(sizeof(float) * per);
    th_worker(&ref);
    T_CHECK(ref.rc == 0, "single-threaded reference: %s", ref.err);
    th_job jobs[TH_N];
    pthread_t th[TH_N];
    int started[TH_N];
    double t0 = th_now();
    for (int i = 0; i < TH_N; i++) {
        jobs[i] = ref;
        jobs[i].pool_threads = 1 + i % 2; /* contexts with 1 and 2 pool threads */
        jobs[i].out = (float *)calloc(per, sizeof(float));
        jobs[i].err[0] = 0;
        started[i] = pthread_create(&th[i], NULL, th_worker, &jobs[i]) == 0;
        T_CHECK(started[i], "pthread_create %d", i);
    }
    int same = 1;
    for (int i = 0; i < TH_N; i++) {
        if (!started[i]) continue;
        pthread_join(th[i], NULL);
        T_CHECK(jobs[i].rc == 0, "thread %d: %s", i, jobs[i].err);
        if (memcmp(jobs[i].out, ref.out, sizeof(float) * per) != 0) same = 0;
        free(jobs[i].out);
    }
    T_CHECK(same, "4 threads sharing one model give bit-identical text and image embeddings");
    T_NOTE("threads: %d contexts on one model, %d texts + 1 image each, twice: identical to one thread (%.2f s)",
           TH_N, TH_TEXTS, th_now() - t0);
    free(ref.out);
    free(pixels);
#endif
}

/* NULL and degenerate arguments to every entry point: a status, never a crash. */
static void th_api_nulls(void)
{
    char err[256], buf[64];
    jclip_image_info info;
    T_CHECK(jclip_model_describe(NULL, buf, sizeof buf) == 0 && buf[0] == 0, "describe(NULL)");
    T_CHECK(jclip_embed_dim(NULL) == 0 && jclip_model_isa(NULL) && jclip_ctx_error(NULL), "NULL model/ctx getters");
    T_CHECK(jclip_model_load(NULL, NULL, err, sizeof err) == JCLIP_ERR_ARG, "load(NULL)");
    T_CHECK(jclip_model_load_memory(NULL, 5, NULL, NULL, 0) == JCLIP_ERR_ARG, "load_memory(NULL)");
    jclip_ctx *c = (jclip_ctx *)(uintptr_t)1;
    T_CHECK(jclip_ctx_create(NULL, NULL, &c, err, sizeof err) == JCLIP_ERR_ARG && c == NULL, "ctx_create(NULL model)");
    float out[4];
    size_t n;
    T_CHECK(jclip_embed_text(NULL, "a", 1, out, 4) == JCLIP_ERR_ARG && jclip_tokenize(NULL, "a", 1, 0, NULL, 0, &n) == JCLIP_ERR_ARG &&
            jclip_embed_image(NULL, "a", 1, out, 4) == JCLIP_ERR_ARG && jclip_embed_pixels(NULL, out, 4, out, 4) == JCLIP_ERR_ARG &&
            jclip_embed_rgb(NULL, (const uint8_t *)"abc", 1, 1, out, 4) == JCLIP_ERR_ARG, "NULL context");
    T_CHECK(jclip_decode_info(NULL, 10, &info, err, sizeof err) == JCLIP_ERR_ARG &&
            jclip_decode_image(NULL, 10, 0, NULL, 0, &info, err, sizeof err) == JCLIP_ERR_ARG, "decode(NULL)");
    T_CHECK(jclip_decode_info("", 0, &info, err, sizeof err) < 0 && jclip_decode_info("\xff\xd8\xff", 3, &info, err, sizeof err) < 0,
            "empty and 3-byte JPEG headers");
    T_CHECK(jclip_preprocess_scratch_size(0, 0) == 0 && jclip_preprocess_scratch_size(0, 5) == 0, "scratch size of an empty image");
    jclip_ctx_free(NULL);
    jclip_model_free(NULL);
}

static void suite_hostile(void)
{
    th_api_nulls();
    th_replay("tokenizer", fz_tokenizer);
    th_replay("json", fz_json);
    th_replay("model", fz_model);
    th_replay("image", fz_image);
    th_replay("inflate", fz_inflate);
    th_replay("bpe", fz_bpe);
    th_images();
    th_model_files();
    char err[512];
    jclip_model *m = NULL;
    const char *path = "build/models/tiny-s1.jclip";
    if (jclip_model_load(path, &m, err, sizeof err)) { T_CHECK(0, "%s", err); return; }
    jclip_ctx *ctx = NULL;
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.n_threads = 2;
    if (jclip_ctx_create(m, &p, &ctx, err, sizeof err) == 0) {
        th_texts(ctx, m);
        jclip_ctx_free(ctx);
    } else {
        T_CHECK(0, "%s", err);
    }
    th_threads(m);
    jclip_model_free(m);
}
