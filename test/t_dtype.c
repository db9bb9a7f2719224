/* test/t_dtype.c: bf16 and q8 weight files (convert.py --dtype) against the float32 file of the
 * same checkpoint: accuracy bars on the golden inputs (token ids, pixel tensors, image files) of
 * the plain and the --realistic tiny jina-clip-v1 checkpoints and of the tiny checkpoints of the
 * other families (OpenAI CLIP tiny-b32-s1, jina-embeddings-v2 jina-v2-tiny-s1: their own golden
 * inputs), thread-count and batch invariance, and what the model says about its dtype.
 * Models: build/models/<ckpt>[-bf16|-q8].jclip (make test). */

typedef struct { const char *ckpt, *dtype; double min_bar, mean_bar; } t_dtype_case;

/* The golden inputs of a checkpoint (ids, pixels, files; a text-only family has texts only). */
enum { T_DTYPE_MAX_TEXTS = 64 };
typedef struct {
    int32_t *ids[T_DTYPE_MAX_TEXTS]; size_t n_ids[T_DTYPE_MAX_TEXTS]; int n_text;
    size_t max_ids;
    t_npy px; size_t n_px, per_px;
    char *files[32]; size_t file_len[32]; int n_files;
} t_dtype_inputs;

/* The golden folder of a checkpoint name: its own (tiny-b32-s1, jina-v2-base-s1, full-s1...)
 * without a "-real" suffix (the --realistic variant shares the plain one's inputs). */
static void t_dtype_golden_of(const char *ckpt, char *out, size_t cap)
{
    snprintf(out, cap, "%s", ckpt);
    size_t n = strlen(out);
    if (n > 5 && strcmp(out + n - 5, "-real") == 0) out[n - 5] = 0;
}

static int t_dtype_load_inputs(t_dtype_inputs *in, const char *golden)
{
    memset(in, 0, sizeof *in);
    char err[256], rel[1024];
    size_t len;
    snprintf(rel, sizeof rel, "golden/model/%s/texts.jsonl", golden);
    char *jl = t_read_file(t_shared(rel), &len);
    if (!jl) return 0;
    for (char *p = jl; *p && in->n_text < T_DTYPE_MAX_TEXTS;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        json_value *v = json_parse(p, n, err, sizeof err);
        p += n + (nl ? 1 : 0);
        json_value *ids = json_get(v, "ids");
        if (ids) {
            int32_t *iv = (int32_t *)malloc(sizeof(int32_t) * (ids->len + 1));
            size_t k = 0;
            for (json_value *c = ids->child; c; c = c->next) iv[k++] = (int32_t)c->num;
            in->ids[in->n_text] = iv, in->n_ids[in->n_text++] = k;
            if (k > in->max_ids) in->max_ids = k;
        }
        json_free(v);
    }
    free(jl);
    snprintf(rel, sizeof rel, "golden/model/%s/pixels.npy", golden);
    FILE *probe = fopen(t_shared(rel), "rb");
    if (!probe) return in->n_text > 0; /* a text-only family */
    fclose(probe);
    if (t_npy_load(t_shared(rel), &in->px) != 0 || in->px.ndim != 4) return 0;
    in->per_px = in->px.shape[1] * in->px.shape[2] * in->px.shape[3];
    in->n_px = in->px.shape[0];
    snprintf(rel, sizeof rel, "golden/model/%s/file_images.txt", golden);
    char *list = t_read_file(t_shared(rel), &len);
    for (char *save = NULL, *line = list ? strtok_r(list, "\n", &save) : NULL; line && in->n_files < 32; line = strtok_r(NULL, "\n", &save)) {
        snprintf(rel, sizeof rel, "testdata/images/%s", line);
        in->files[in->n_files] = t_read_file(t_shared(rel), &in->file_len[in->n_files]);
        if (in->files[in->n_files]) in->n_files++;
    }
    free(list);
    return in->n_text > 0 && in->n_px > 0 && in->n_files > 0;
}

static void t_dtype_free_inputs(t_dtype_inputs *in)
{
    for (int i = 0; i < in->n_text; i++) free(in->ids[i]);
    for (int i = 0; i < in->n_files; i++) free(in->files[i]);
    free(in->px.data);
    memset(in, 0, sizeof *in);
}

/* Embeds every input (one call each) into out: texts, then pixel tensors, then files. */
static int t_dtype_embed_all(const char *model, int threads, const t_dtype_inputs *in, float **out, int *dim)
{
    char err[512];
    jclip_model *m = NULL;
    jclip_ctx *ctx = NULL;
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.n_threads = threads;
    if (in->max_ids > p.max_tokens) p.max_tokens = in->max_ids; /* jina-embeddings-v2 goldens reach 1425 ids */
    if (jclip_model_load(model, &m, err, sizeof err) || jclip_ctx_create(m, &p, &ctx, err, sizeof err)) {
        T_CHECK(0, "%s: %s", model, err);
        jclip_model_free(m);
        return 0;
    }
    const size_t D = (size_t)jclip_embed_dim(m), n = (size_t)(in->n_text + (int)in->n_px + in->n_files);
    float *o = (float *)malloc(sizeof(float) * D * n);
    int ok = 1;
    size_t r = 0;
    for (int i = 0; i < in->n_text; i++, r++) ok &= jclip_embed_tokens(ctx, in->ids[i], in->n_ids[i], o + r * D, D) == 0;
    for (size_t i = 0; i < in->n_px; i++, r++) ok &= jclip_embed_pixels(ctx, in->px.data + i * in->per_px, in->per_px, o + r * D, D) == 0;
    for (int i = 0; i < in->n_files; i++, r++) ok &= jclip_embed_image(ctx, in->files[i], in->file_len[i], o + r * D, D) == 0;
    T_CHECK(ok, "%s: every input embeds (%s)", model, jclip_ctx_error(ctx));
    jclip_ctx_free(ctx);
    jclip_model_free(m);
    *out = o;
    *dim = (int)D;
    return ok;
}

/* min / mean cosine of rows [r0, r1) of a against b. */
static void t_dtype_cos(const float *a, const float *b, int D, size_t r0, size_t r1, double *mn, double *mean)
{
    *mn = 1, *mean = 0;
    for (size_t r = r0; r < r1; r++) {
        double c, d;
        t_compare(a + r * (size_t)D, b + r * (size_t)D, D, &c, &d);
        if (c < *mn) *mn = c;
        *mean += c / (double)(r1 - r0);
    }
}

/* The checkpoints compared, each on its own golden inputs: the tiny ones in `make test`;
 * JCLIP_DTYPE_CKPTS=full-s1,full-s1-real,b32-s1,jina-v2-base-s1 (after making their
 * build/models/<ckpt>[-bf16|-q8].jclip) measures the full size. */
#define T_DTYPE_CKPTS "tiny-s1,tiny-s1-real,tiny-b32-s1,tiny-b32-s1-real,jina-v2-tiny-s1,jina-v2-tiny-s1-real"

static void t_dtype_accuracy(void)
{
    char list[256];
    const char *env = getenv("JCLIP_DTYPE_CKPTS");
    snprintf(list, sizeof list, "%s", env && *env ? env : T_DTYPE_CKPTS);
    for (char *save = NULL, *ck = strtok_r(list, ",", &save); ck; ck = strtok_r(NULL, ",", &save)) {
        char golden[128], rel[256];
        t_dtype_golden_of(ck, golden, sizeof golden);
        snprintf(rel, sizeof rel, "golden/model/%s/texts.jsonl", golden);
        if (!t_need_shared(rel)) continue;
        t_dtype_inputs in;
        if (!t_dtype_load_inputs(&in, golden)) {
            T_CHECK(0, "cannot read the %s golden inputs", golden);
            t_dtype_free_inputs(&in);
            continue;
        }
        for (int q = 0; q < 2; q++) {
            const t_dtype_case kc = {ck, q ? "q8" : "bf16", q ? 0.995 : 0.999, q ? 0.998 : 0.9995}, *k = &kc;
            char ref_path[1024], name[160];
            snprintf(ref_path, sizeof ref_path, "%s", t_model_path(k->ckpt));
            snprintf(name, sizeof name, "%s-%s", k->ckpt, k->dtype);
            float *ref = NULL, *got = NULL;
            int D = 0, D2 = 0;
            if (!t_dtype_embed_all(ref_path, 0, &in, &ref, &D) || !t_dtype_embed_all(t_model_path(name), 0, &in, &got, &D2) ||
                D != D2) {
                free(ref), free(got);
                continue;
            }
            const size_t t1 = (size_t)in.n_text, p1 = t1 + in.n_px, f1 = p1 + (size_t)in.n_files;
            const char *what[3] = {"texts", "pixels", "files"};
            size_t lo[3] = {0, t1, p1}, hi[3] = {t1, p1, f1};
            for (int g = 0; g < 3; g++) {
                if (lo[g] == hi[g]) continue; /* a text-only family */
                double mn, mean;
                t_dtype_cos(ref, got, D, lo[g], hi[g], &mn, &mean);
                T_NOTE("%-16s %-4s %-6s vs f32: min cosine %.6f, mean %.6f (bars %.4f / %.4f)", k->ckpt, k->dtype, what[g], mn, mean,
                       k->min_bar, k->mean_bar);
                T_CHECK(mn >= k->min_bar && mean >= k->mean_bar, "%s %s %s: min %.6f mean %.6f below the bars", k->ckpt, k->dtype,
                        what[g], mn, mean);
            }
            free(ref), free(got);
        }
        t_dtype_free_inputs(&in);
    }
}

/* The q8 smoothing (convert.py --smooth on, here into f32 files) is exact math: the same
 * checkpoint with and without it gives the same float32 embeddings up to rounding. The CLIP
 * folding (both towers, projections) and jina-clip-v1's (vision), on their golden inputs. */
static void t_dtype_smooth_exact(void)
{
    static const char *const ckpts[] = {"tiny-b32-s1", "tiny-s1"};
    for (size_t i = 0; i < sizeof ckpts / sizeof ckpts[0]; i++) {
        t_dtype_inputs in;
        if (!t_dtype_load_inputs(&in, ckpts[i])) {
            T_CHECK(0, "cannot read the %s golden inputs", ckpts[i]);
            t_dtype_free_inputs(&in);
            continue;
        }
        char ref_path[1024], name[160];
        snprintf(ref_path, sizeof ref_path, "%s", t_model_path(ckpts[i]));
        snprintf(name, sizeof name, "%s-smooth", ckpts[i]);
        float *ref = NULL, *got = NULL;
        int D = 0, D2 = 0;
        if (t_dtype_embed_all(ref_path, 0, &in, &ref, &D) && t_dtype_embed_all(t_model_path(name), 0, &in, &got, &D2) && D == D2) {
            const size_t n = (size_t)in.n_text + in.n_px + (size_t)in.n_files;
            double mn, mean, worst = 0;
            t_dtype_cos(ref, got, D, 0, n, &mn, &mean);
            for (size_t j = 0; j < n * (size_t)D; j++)
                if (fabs((double)ref[j] - got[j]) > worst) worst = fabs((double)ref[j] - got[j]);
            T_NOTE("%-16s f32 smoothed vs not: min cosine %.9f, max |diff| %.2e over %zu embeddings", ckpts[i], mn, worst, n);
            T_CHECK(mn >= 0.999999 && worst <= 1e-5, "%s: smoothing changed the f32 embeddings (min cosine %.9f, max |diff| %.2e)",
                    ckpts[i], mn, worst);
        }
        free(ref), free(got);
        t_dtype_free_inputs(&in);
    }
}

/* A file may mix bf16 and q8 weights (model/model.c sizes the activation rows and kernel
 * scratch for each weight by its own type): the micro CLIP text model with its linear weights
 * alternately q8 and bf16 (tools/make_micro_model.py --dtype mixed, the last one q8) embeds a
 * text of the context's full length (every row of the scratch) close to the same weights in
 * float32 (--wide). Under ASan, a buffer sized by one type is caught here. */
static void t_dtype_mixed(void)
{
    const char *text = "cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat";
    float e[2][64];
    int D[2] = {0, 0};
    const char *names[2] = {"micro-clip-mixed", "micro-clip-wide"};
    for (int i = 0; i < 2; i++) {
        char err[512];
        jclip_model *m = NULL;
        jclip_ctx *ctx = NULL;
        jclip_ctx_params p;
        jclip_ctx_params_default(&p);
        p.max_tokens = 16; /* the micro model's positions: the text fills every row */
        if (jclip_model_load(t_model_path(names[i]), &m, err, sizeof err) || jclip_ctx_create(m, &p, &ctx, err, sizeof err)) {
            T_CHECK(0, "%s: %s", names[i], err);
            jclip_model_free(m);
            return;
        }
        D[i] = jclip_embed_dim(m);
        T_CHECK(D[i] > 0 && D[i] <= 64 && jclip_embed_text(ctx, text, strlen(text), e[i], 64) == 0, "%s embeds a text: %s", names[i],
                jclip_ctx_error(ctx));
        if (i == 0) T_CHECK(strcmp(jclip_model_dtype(m), "f32") != 0, "%s has reduced-precision weights", names[i]);
        jclip_ctx_free(ctx);
        jclip_model_free(m);
    }
    double c = 0, d = 0;
    if (D[0] == D[1] && D[0] > 0) t_compare(e[0], e[1], D[0], &c, &d);
    T_NOTE("micro CLIP mixed bf16/q8 vs f32: cosine %.6f", c);
    T_CHECK(D[0] == D[1] && c >= 0.99, "mixed bf16/q8 file against float32: cosine %.6f", c);
}

/* Bitwise the same for 1 and 2 threads, and alone or in a batch (every text, short ones too,
 * and every image), for each dtype. */
static void t_dtype_invariance(const t_dtype_inputs *in)
{
    static const char *const models[] = {"tiny-s1-real", "tiny-s1-real-bf16", "tiny-s1-real-q8"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        float *one = NULL, *two = NULL;
        int D = 0, D2 = 0;
        char path[1024];
        snprintf(path, sizeof path, "%s", t_model_path(models[i]));
        if (!t_dtype_embed_all(path, 1, in, &one, &D) || !t_dtype_embed_all(path, 2, in, &two, &D2)) {
            free(one), free(two);
            continue;
        }
        const size_t n = (size_t)(in->n_text + (int)in->n_px + in->n_files);
        T_CHECK(memcmp(one, two, sizeof(float) * (size_t)D * n) == 0, "%s: 1 and 2 threads give the same bits", models[i]);

        char err[512];
        jclip_model *m = NULL;
        jclip_ctx *ctx = NULL;
        if (jclip_model_load(path, &m, err, sizeof err) || jclip_ctx_create(m, NULL, &ctx, err, sizeof err)) {
            T_CHECK(0, "%s: %s", path, err);
        } else {
            float *batch = (float *)malloc(sizeof(float) * (size_t)D * n);
            int rc = jclip_embed_tokens_batch(ctx, (const int32_t *const *)in->ids, in->n_ids, (size_t)in->n_text, batch,
                                              (size_t)D * (size_t)in->n_text);
            int same = rc == 0;
            for (int t = 0; same && t < in->n_text; t++)
                same = memcmp(batch + (size_t)t * D, two + (size_t)t * D, sizeof(float) * (size_t)D) == 0;
            T_CHECK(same, "%s: texts alone and in a batch give the same bits", models[i]);
            rc = jclip_embed_pixels_batch(ctx, in->px.data, in->n_px, batch, (size_t)D * in->n_px);
            T_CHECK(rc == 0 && memcmp(batch, two + (size_t)in->n_text * D, sizeof(float) * (size_t)D * in->n_px) == 0,
                    "%s: images alone and in a batch give the same bits", models[i]);
            free(batch);
        }
        jclip_ctx_free(ctx);
        jclip_model_free(m);
        free(one), free(two);
    }
}

/* A context made for short texts (max_tokens 8) still embeds images of any count: the converted
 * activation rows are sized by the vision tower's rows per image as well (once sized by
 * max_tokens alone for OpenAI CLIP, whose 50 rows a B/32 image needs overflowed them). Same
 * bits as a default context, alone and batched, f32 and reduced precision. */
static void t_dtype_small_ctx(void)
{
    static const char *const models[] = {"tiny-b32-s1", "tiny-b32-s1-q8", "tiny-b32-s1-bf16", "tiny-s1-q8"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        t_dtype_inputs in;
        if (!t_dtype_load_inputs(&in, i < 3 ? "tiny-b32-s1" : "tiny-s1") || in.n_px < 2) {
            T_CHECK(0, "%s: cannot read the golden pixel tensors", models[i]);
            t_dtype_free_inputs(&in);
            continue;
        }
        char err[512];
        jclip_model *m = NULL;
        jclip_ctx *big = NULL, *small = NULL;
        jclip_ctx_params p;
        jclip_ctx_params_default(&p);
        p.max_tokens = 8;
        if (jclip_model_load(t_model_path(models[i]), &m, err, sizeof err) || jclip_ctx_create(m, NULL, &big, err, sizeof err) ||
            jclip_ctx_create(m, &p, &small, err, sizeof err)) {
            T_CHECK(0, "%s: %s", models[i], err);
        } else {
            const size_t D = (size_t)jclip_embed_dim(m), n = in.n_px;
            float *want = (float *)malloc(sizeof(float) * D * n), *got = (float *)malloc(sizeof(float) * D * n);
            int rc = jclip_embed_pixels_batch(big, in.px.data, n, want, D * n);
            int rc2 = jclip_embed_pixels_batch(small, in.px.data, n, got, D * n);
            int same = rc == 0 && rc2 == 0 && memcmp(want, got, sizeof(float) * D * n) == 0;
            const size_t per = in.per_px;
            for (size_t j = 0; same && j < n; j++)
                same = jclip_embed_pixels_batch(small, in.px.data + j * per, 1, got, D) == 0 &&
                       memcmp(got, want + j * D, sizeof(float) * D) == 0;
            T_CHECK(same, "%s: a max_tokens = 8 context embeds %zu images (batched and alone) as a default one (rc %d %d: %s)",
                    models[i], n, rc, rc2, rc2 ? jclip_ctx_error(small) : "");
            free(want), free(got);
        }
        jclip_ctx_free(small);
        jclip_ctx_free(big);
        jclip_model_free(m);
        t_dtype_free_inputs(&in);
    }
}

static void t_dtype_describe(void)
{
    static const char *const models[][2] = {{"tiny-s1", "float32"}, {"tiny-s1-bf16", "bf16"}, {"tiny-s1-q8", "q8"}};
    for (size_t i = 0; i < 3; i++) {
        char err[512], desc[2048];
        jclip_model *m = NULL;
        if (jclip_model_load(t_model_path(models[i][0]), &m, err, sizeof err)) { T_CHECK(0, "%s", err); continue; }
        jclip_model_describe(m, desc, sizeof desc);
        T_CHECK(strstr(desc, models[i][1]) != NULL && strcmp(jclip_model_dtype(m), i == 0 ? "f32" : models[i][1]) == 0,
                "%s: describe and jclip_model_dtype name %s (%s)", models[i][0], models[i][1], jclip_model_dtype(m));
        jclip_model_free(m);
    }
}

/* A tower's q8 scale blocks (model/model.c): the CLIP q8 file declares vision.q8_block = 128,
 * the converter's default for CLIP's vision tower (the tiny tower's K = 192 layers get blocks of
 * 64, its K = 768 layers blocks of 128), and loads; the engine refuses a block size it does not
 * know, and scales that do not repeat as declared. */
static void t_dtype_q8_block(void)
{
    size_t len = 0;
    char *file = t_read_file(t_model_path("tiny-b32-s1-q8"), &len);
    if (!file) {
        T_CHECK(0, "cannot read %s", t_model_path("tiny-b32-s1-q8"));
        return;
    }
    uint8_t *buf = (uint8_t *)malloc(len); /* copied by the loader: not 64-byte aligned on purpose */
    memcpy(buf, file, len);
    static const char key[] = "vision.q8_block";
    uint8_t *p = (uint8_t *)memmem(buf, len, key, sizeof key - 1), *val = p ? p + sizeof key : NULL;
    uint64_t v = 0;
    if (val) memcpy(&v, val, 8);
    T_CHECK(p && p[sizeof key - 1] == JC_FILE_U64 && v == 128, "tiny-b32-s1-q8 declares vision.q8_block = 128 (found %d, %llu)",
            p != NULL, (unsigned long long)v);
    if (!p) goto done;
    char err[512];
    jclip_model *m = NULL;
    int rc = jclip_model_load_memory(buf, len, &m, err, sizeof err);
    T_CHECK(rc == 0, "tiny-b32-s1-q8 from memory: %s", err);
    if (rc == 0) { /* text: scales per 32; vision: per 64 (K = 192) and per 128 (K = 768) */
        char desc[2048];
        jclip_model_describe(m, desc, sizeof desc);
        T_CHECK(strstr(desc, "a float32 scale per 32 weights for ") && strstr(desc, ", 64 weights for ") &&
                    strstr(desc, ", 128 weights for "), "describe names the scale blocks: %s", desc);
    }
    jclip_model_free(m), m = NULL;
    /* an unknown block size, with the metadata checksum fixed up */
    uint64_t meta_off, meta_size, tab_size, bad = 96;
    memcpy(&meta_off, buf + 24, 8), memcpy(&meta_size, buf + 32, 8), memcpy(&tab_size, buf + 48, 8);
    memcpy(val, &bad, 8);
    uint32_t crc = jc_file_crc32(buf + meta_off, (size_t)(meta_size + tab_size));
    memcpy(buf + 64, &crc, 4);
    rc = jclip_model_load_memory(buf, len, &m, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_FORMAT && strstr(err, "vision.q8_block"), "vision.q8_block = 96 is refused (rc %d: %s)", rc, rc ? err : "");
    jclip_model_free(m), m = NULL;
    memcpy(buf, file, len);
    /* scales that differ inside a block of 128: the second scale of a vision q8 weight's row */
    jc_file jf;
    memset(&jf, 0, sizeof jf);
    jf.data = buf, jf.size = len;
    int changed = 0;
    if (jc_file_parse(&jf, err, sizeof err) == 0)
        for (uint32_t i = 0; i < jf.n_tensors && !changed; i++) {
            const jc_file_tensor *t = &jf.tensors[i];
            if (t->dtype != JC_DT_Q8 || t->name_len < 13 || memcmp(t->name, "vision_model.", 13)) continue;
            uint64_t N = t->dims[0], K = t->nbytes * 32 / 36 / N;
            float *sw = (float *)(void *)((uint8_t *)t->data + N * K), s1;
            memcpy(&s1, &sw[1], 4);
            s1 = s1 * 2.0f + 1.0f;
            memcpy(&sw[1], &s1, 4);
            changed = 1;
        }
    jc_file_free(&jf);
    T_CHECK(changed, "tiny-b32-s1-q8 has a q8 vision weight");
    rc = jclip_model_load_memory(buf, len, &m, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_FORMAT && strstr(err, "scales differ"), "a q8 scale breaking its block of 128 is refused (rc %d: %s)", rc,
            rc ? err : "");
    jclip_model_free(m);
done:
    free(buf), free(file);
}

static void suite_dtype(void)
{
    if (!t_need_shared("golden/model/tiny-s1/texts.jsonl")) return;
    t_dtype_inputs in;
    if (!t_dtype_load_inputs(&in, "tiny-s1")) {
        T_CHECK(0, "cannot read the tiny-s1 golden inputs");
        t_dtype_free_inputs(&in);
        return;
    }
    t_dtype_describe();
    t_dtype_accuracy();
    t_dtype_smooth_exact();
    t_dtype_mixed();
    t_dtype_q8_block();
    t_dtype_small_ctx();
    t_dtype_invariance(&in);
    t_dtype_free_inputs(&in);
}
