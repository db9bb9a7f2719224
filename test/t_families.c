/* test/t_families.c: the model families beside jina-clip-v1 (ARCHITECTURE-CLIP.md): OpenAI
 * CLIP ViT ("clip") and jina-embeddings-v2 (JinaBERT v2), against the goldens of the official
 * code in ../shared/golden/model/<name>/. jclip returns L2-normalised embeddings, so they are
 * compared with the normalised goldens (*_norm.npy): cosine >= 0.99999 and max |diff| <= 1e-4
 * per vector (t_parity_add of t_model.c).
 *
 * `make test` converts the tiny checkpoints (tiny-b32-s1, jina-v2-tiny-s1, build/models/); the
 * full-size ones (b32-s1, b16-s1, jina-v2-base-s1, about 600 MB each) run only with
 * JCLIP_TEST_FULL_FAMILIES=1, from $JCLIP_TEST_MODELS (`make family-models` makes them). */

/* JCLIP_SKIP_FULL (test-arm64 under qemu): a short run that leaves out the batched repeats of
 * the goldens and the long-text check, which exercise shared code, not the kernel table. */
static int t_fam_short(void) { return getenv("JCLIP_SKIP_FULL") != NULL; }

/* files_rgb224.npy (uint8): the payload and its size; NULL when the file is not such an array. */
static uint8_t *t_fam_npy_u8(const char *path, size_t *n, char **owner)
{
    size_t len;
    char *buf = t_read_file(path, &len);
    *owner = buf;
    if (!buf || len < 12 || memcmp(buf, "\x93NUMPY\x01", 7) != 0) return NULL;
    size_t hl = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8;
    if (10 + hl > len || !strstr(buf + 10, "'descr': '|u1'")) return NULL;
    *n = len - 10 - hl;
    return (uint8_t *)buf + 10 + hl;
}

/* texts.jsonl of a golden: per line the ids and the text. */
enum { T_FAM_MAX_TEXTS = 128 };
typedef struct {
    int n;
    int32_t *ids[T_FAM_MAX_TEXTS];
    size_t len[T_FAM_MAX_TEXTS];
    char *text[T_FAM_MAX_TEXTS];
    size_t text_len[T_FAM_MAX_TEXTS];
} t_fam_texts;

static void t_fam_texts_free(t_fam_texts *T)
{
    for (int i = 0; i < T->n; i++) free(T->ids[i]), free(T->text[i]);
    T->n = 0;
}

static int t_fam_texts_load(const char *name, t_fam_texts *T)
{
    char rel[256], err[256];
    memset(T, 0, sizeof *T);
    snprintf(rel, sizeof rel, "golden/model/%s/texts.jsonl", name);
    size_t len;
    char *jl = t_read_file(t_shared(rel), &len);
    if (!jl) return -1;
    int bad = 0;
    for (char *p = jl; *p && T->n < T_FAM_MAX_TEXTS;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        json_value *v = json_parse(p, n, err, sizeof err);
        p += n + (nl ? 1 : 0);
        json_value *ids = json_get(v, "ids"), *text = json_get(v, "text");
        if (!ids || !text || ids->type != JSON_ARRAY || ids->len == 0) {
            bad++;
            json_free(v);
            continue;
        }
        int i = T->n++;
        T->ids[i] = (int32_t *)malloc(sizeof(int32_t) * ids->len);
        T->text[i] = (char *)malloc(text->len + 1);
        size_t k = 0;
        for (json_value *c = ids->child; c; c = c->next) T->ids[i][k++] = (int32_t)c->num;
        T->len[i] = k;
        memcpy(T->text[i], text->str, text->len);
        T->text[i][text->len] = 0;
        T->text_len[i] = text->len;
        json_free(v);
    }
    free(jl);
    return bad ? -1 : 0;
}

/* Loads a golden .npy of the folder: rows x dim floats, or fails the check. */
static int t_fam_npy(const char *name, const char *file, t_npy *a, size_t rows, int dim)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/model/%s/%s", name, file);
    int ok = t_npy_load(t_shared(rel), a) == 0 && a->ndim == 2 && (rows == 0 || a->shape[0] == rows) && (int)a->shape[1] == dim;
    T_CHECK(ok, "%s: cannot read %s as [%zu, %d]", name, rel, rows, dim);
    return ok;
}

/* Text embeddings from ids (one call each, then one batch call) and from text (when the
 * model's tokenizer is in this build) against text_emb_norm.npy. */
static void t_fam_texts_golden(const char *name, jclip_ctx *ctx, int D)
{
    t_fam_texts T;
    int rc = t_fam_texts_load(name, &T);
    T_CHECK(rc == 0 && T.n > 0, "%s: cannot read texts.jsonl", name);
    t_npy emb = {0};
    if (rc || !t_fam_npy(name, "text_emb_norm.npy", &emb, (size_t)T.n, D)) {
        t_fam_texts_free(&T);
        free(emb.data);
        return;
    }
    float *out = (float *)malloc(sizeof(float) * (size_t)T.n * D);
    t_parity from_ids = {0, 0, 0, 0}, batched = {0, 0, 0, 0}, from_text = {0, 0, 0, 0};
    for (int i = 0; i < T.n; i++) {
        rc = jclip_embed_tokens(ctx, T.ids[i], T.len[i], out, (size_t)D);
        if (rc) T_CHECK(0, "%s text %d from ids: %s", name, i, jclip_ctx_error(ctx));
        else t_parity_add(&from_ids, out, emb.data + (size_t)i * D, D, "ids", i);
    }
    t_parity_report(name, "text from ids", &from_ids);
    rc = t_fam_short() ? -1 : jclip_embed_tokens_batch(ctx, (const int32_t *const *)T.ids, T.len, (size_t)T.n, out, (size_t)T.n * D);
    T_CHECK(rc == 0 || t_fam_short(), "%s: batch of %d id lists: %s", name, T.n, jclip_ctx_error(ctx));
    for (int i = 0; !rc && i < T.n; i++) t_parity_add(&batched, out + (size_t)i * D, emb.data + (size_t)i * D, D, "batch", i);
    if (!rc) t_parity_report(name, "text from ids, batched", &batched);

    /* from text: WordPiece (jina-embeddings-v2) or CLIP's byte-level BPE (tokenizer/bpe.c) */
    int32_t *tok = (int32_t *)malloc(sizeof(int32_t) * 8192);
    size_t nt = 0;
    {
        int same = 0;
        for (int i = 0; i < T.n; i++) {
            rc = jclip_tokenize(ctx, T.text[i], T.text_len[i], 0, tok, 8192, &nt);
            same += rc == 0 && nt == T.len[i] && memcmp(tok, T.ids[i], nt * sizeof(int32_t)) == 0;
            rc = jclip_embed_text(ctx, T.text[i], T.text_len[i], out, (size_t)D);
            if (rc) T_CHECK(0, "%s text %d from text: %s", name, i, jclip_ctx_error(ctx));
            else t_parity_add(&from_text, out, emb.data + (size_t)i * D, D, "text", i);
        }
        T_CHECK(same == T.n, "%s: the tokenizer gives the golden ids on %d/%d lines", name, same, T.n);
        t_parity_report(name, "text from text", &from_text);
    }
    free(tok);
    free(out);
    free(emb.data);
    t_fam_texts_free(&T);
}

/* pixels.npy -> pixels_emb_norm.npy, one call each and one batch call. */
static void t_fam_pixels_golden(const char *name, jclip_ctx *ctx, int D)
{
    t_npy px = {0}, pe = {0};
    char rel[256];
    snprintf(rel, sizeof rel, "golden/model/%s/pixels.npy", name);
    int ok = t_npy_load(t_shared(rel), &px) == 0 && px.ndim == 4 && t_fam_npy(name, "pixels_emb_norm.npy", &pe, px.shape[0], D);
    T_CHECK(ok, "%s: cannot read the pixel goldens", name);
    if (ok) {
        t_parity one = {0, 0, 0, 0}, bat = {0, 0, 0, 0};
        const size_t per = px.shape[1] * px.shape[2] * px.shape[3], n = px.shape[0];
        float *out = (float *)malloc(sizeof(float) * n * (size_t)D);
        for (size_t i = 0; i < n; i++) {
            int rc = jclip_embed_pixels(ctx, px.data + i * per, per, out, (size_t)D);
            if (rc) T_CHECK(0, "%s pixels %zu: %s", name, i, jclip_ctx_error(ctx));
            else t_parity_add(&one, out, pe.data + i * (size_t)D, D, "pixels", (int)i);
        }
        t_parity_report(name, "image from pixels", &one);
        int rc = t_fam_short() ? -1 : jclip_embed_pixels_batch(ctx, px.data, n, out, n * (size_t)D);
        T_CHECK(rc == 0 || t_fam_short(), "%s: pixel batch: %s", name, jclip_ctx_error(ctx));
        for (size_t i = 0; !rc && i < n; i++) t_parity_add(&bat, out + i * (size_t)D, pe.data + i * (size_t)D, D, "pixels batch", (int)i);
        if (!rc) t_parity_report(name, "image from pixels, batched", &bat);
        free(out);
    }
    free(px.data);
    free(pe.data);
}

/* Image files end to end -> files_emb_norm.npy; the 224x224 crops against files_rgb224.npy. */
static void t_fam_files_golden(const char *name, jclip_ctx *ctx, int D, int mode)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/model/%s/file_images.txt", name);
    size_t len;
    char *list = t_read_file(t_shared(rel), &len);
    t_npy fe = {0};
    int ok = list && t_fam_npy(name, "files_emb_norm.npy", &fe, 0, D);
    T_CHECK(ok, "%s: cannot read the file goldens", name);
    char *rgb_owner = NULL;
    size_t rgb_n = 0;
    snprintf(rel, sizeof rel, "golden/model/%s/files_rgb224.npy", name);
    const uint8_t *rgb224 = ok ? t_fam_npy_u8(t_shared(rel), &rgb_n, &rgb_owner) : NULL;
    const size_t crop_bytes = (size_t)224 * 224 * 3;
    T_CHECK(!ok || (rgb224 && rgb_n == fe.shape[0] * crop_bytes), "%s: cannot read files_rgb224.npy", name);
    if (ok) {
        t_parity par = {0, 0, 0, 0};
        size_t i = 0;
        int crops_same = 0;
        uint8_t *crop = (uint8_t *)malloc(crop_bytes);
        for (char *line = strtok(list, "\n"); line && i < fe.shape[0]; line = strtok(NULL, "\n"), i++) {
            char path[1024];
            snprintf(path, sizeof path, "testdata/images/%s", line);
            size_t flen;
            char *data = t_read_file(t_shared(path), &flen);
            float *out = (float *)malloc(sizeof(float) * (size_t)D);
            int rc = data ? jclip_embed_image(ctx, data, flen, out, (size_t)D) : -1;
            if (rc) T_CHECK(0, "%s file %s: %s", name, line, data ? jclip_ctx_error(ctx) : "cannot read");
            else t_parity_add(&par, out, fe.data + i * (size_t)D, D, line, (int)i);
            /* the crop bytes: decode, resize + crop in this model's mode */
            if (data && rgb224) {
                uint32_t w, h;
                if (jc_decode_into_ctx(ctx, data, flen, &w, &h) == 0) {
                    size_t need = jc_pre_scratch_size(w, h);
                    uint8_t *scratch = (uint8_t *)malloc(need ? need : 1);
                    char err[256];
                    if (jc_pre_resize_crop_mode(ctx->rgb, w, h, mode, crop, scratch, need, err, sizeof err) == 0)
                        crops_same += memcmp(crop, rgb224 + i * crop_bytes, crop_bytes) == 0;
                    free(scratch);
                }
            }
            free(out);
            free(data);
        }
        T_CHECK(i == fe.shape[0], "%s: %zu image paths for %zu golden rows", name, i, fe.shape[0]);
        t_parity_report(name, "image from files", &par);
        if (rgb224) {
            T_NOTE("%s: %d of %zu preprocessed crops byte-identical to files_rgb224.npy", name, crops_same, i);
            T_CHECK((size_t)crops_same == i, "%s: %d of %zu crops byte-identical to Hugging Face's", name, crops_same, i);
        }
        free(crop);
    }
    free(rgb_owner);
    free(list);
    free(fe.data);
}

/* Every golden of one converted checkpoint. */
static void t_fam_golden(const char *name, int has_vision)
{
    char rel[256], err[512];
    snprintf(rel, sizeof rel, "golden/model/%s/texts.jsonl", name);
    if (!t_need_shared(rel)) return;
    jclip_model *m = NULL;
    int rc = jclip_model_load(t_model_path(name), &m, err, sizeof err);
    T_CHECK(rc == 0, "load %s: %s (make test converts it; see README)", t_model_path(name), err);
    if (rc) return;
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.max_tokens = 2048; /* jina-v2 goldens reach 1,425 ids */
    p.max_images = 4;
    jclip_ctx *ctx = NULL;
    rc = jclip_ctx_create(m, &p, &ctx, err, sizeof err);
    T_CHECK(rc == 0, "ctx: %s", err);
    if (!rc) {
        const int D = jclip_embed_dim(m);
        t_fam_texts_golden(name, ctx, D);
        if (has_vision) {
            t_fam_pixels_golden(name, ctx, D);
            t_fam_files_golden(name, ctx, D, m->pre_mode);
        }
    }
    jclip_ctx_free(ctx);
    jclip_model_free(m);
}

/* CLIP's text tower: pooling at the first end token, the causal mask (what follows the end
 * token changes nothing), the 77-position limit, padding ids that are ordinary tokens, the
 * BPE refusal of text while tokenizer/bpe.c is not wired, describe. */
static void t_fam_clip_edges(void)
{
    char err[512];
    jclip_model *m = NULL;
    if (jclip_model_load(t_model_path("tiny-b32-s1"), &m, err, sizeof err)) { T_CHECK(0, "load: %s", err); return; }
    jclip_ctx *c1 = NULL, *c3 = NULL;
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.n_threads = 1;
    T_CHECK(jclip_ctx_create(m, &p, &c1, err, sizeof err) == 0, "ctx: %s", err);
    p.n_threads = 3;
    T_CHECK(jclip_ctx_create(m, &p, &c3, err, sizeof err) == 0, "ctx: %s", err);
    if (!c1 || !c3) { jclip_ctx_free(c1), jclip_ctx_free(c3), jclip_model_free(m); return; }
    const int D = jclip_embed_dim(m);
    T_CHECK(D == 64, "tiny CLIP embed_dim is its projection_dim 64, got %d", D);
    float a[512], b[512];
    int32_t ids[100];
    ids[0] = 49406;
    for (int i = 1; i < 100; i++) ids[i] = 320 + i * 7;
    ids[11] = 49407; /* the end token at 11 */
    T_CHECK(jclip_embed_tokens(c1, ids, 12, a, (size_t)D) == 0, "12 ids: %s", jclip_ctx_error(c1));
    T_CHECK(jclip_embed_tokens(c1, ids, 40, b, (size_t)D) == 0 && memcmp(a, b, sizeof(float) * (size_t)D) == 0,
            "ids after the end token change nothing (causal): %s", jclip_ctx_error(c1));
    T_CHECK(jclip_embed_tokens(c1, ids, 100, b, (size_t)D) == 0 && memcmp(a, b, sizeof(float) * (size_t)D) == 0,
            "a sequence longer than 77 whose end token comes first is fine: %s", jclip_ctx_error(c1));
    T_CHECK(jclip_embed_tokens(c3, ids, 40, b, (size_t)D) == 0 && memcmp(a, b, sizeof(float) * (size_t)D) == 0,
            "1 and 3 threads agree bitwise");
    ids[11] = 500;
    ids[0] = 1; /* no end token, and the largest id (openai's argmax) at 99 */
    int rc = jclip_embed_tokens(c1, ids, 100, b, (size_t)D);
    T_CHECK(rc == JCLIP_ERR_LIMIT && strstr(jclip_ctx_error(c1), "77"), "no end token within 77 positions: rc %d %s", rc,
            jclip_ctx_error(c1));
    /* no end token at all: openai's argmax(ids) rule (the largest id, first of them) */
    int32_t noeot[6] = {49406, 320, 1929, 49406, 12, 5};
    int32_t upto[4] = {49406, 320, 1929, 49406};
    T_CHECK(jclip_embed_tokens(c1, noeot, 6, a, (size_t)D) == 0 && jclip_embed_tokens(c1, upto, 1, b, (size_t)D) == 0 &&
                memcmp(a, b, sizeof(float) * (size_t)D) == 0,
            "without an end token the first largest id is pooled");
    int32_t zeros[4] = {0, 0, 0, 0};
    T_CHECK(jclip_embed_tokens(c1, zeros, 4, a, (size_t)D) == 0, "id 0 is an ordinary CLIP token ('!'), not padding: %s",
            jclip_ctx_error(c1));
    int32_t bad[3] = {49406, 49408, 49407};
    T_CHECK(jclip_embed_tokens(c1, bad, 3, a, (size_t)D) == JCLIP_ERR_ARG && strstr(jclip_ctx_error(c1), "49408"), "id 49408: %s",
            jclip_ctx_error(c1));
    size_t n = 0;
    rc = jclip_tokenize(c1, "a photo of a cat", 16, 0, ids, 100, &n);
    static const int32_t want[7] = {49406, 320, 1125, 539, 320, 2368, 49407}; /* CLIPTokenizerFast */
    T_CHECK(rc == 0 && n == 7 && memcmp(ids, want, sizeof want) == 0, "CLIP text through the byte-level BPE: rc %d, %zu ids %s", rc, n,
            jclip_ctx_error(c1));
    char desc[2048];
    jclip_model_describe(m, desc, sizeof desc);
    T_CHECK(strstr(desc, "architecture: clip") && strstr(desc, "BPE") && strstr(desc, "77") && strstr(desc, "floor") &&
                strstr(desc, "64 floats"), "describe names family, tokenizer, max tokens, preprocessing, dims:\n%s", desc);
    /* images: a 1-pixel-high and a 3-pixel-high image are ordinary images */
    uint8_t rgb[300 * 3 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 29 + 7);
    T_CHECK(jclip_embed_rgb(c1, rgb, 300, 1, a, (size_t)D) == 0 && jclip_embed_rgb(c1, rgb, 300, 3, b, (size_t)D) == 0,
            "1- and 3-pixel-high images embed: %s", jclip_ctx_error(c1));
    jclip_ctx_free(c1);
    jclip_ctx_free(c3);
    jclip_model_free(m);
}

/* jina-embeddings-v2: a text-only model; ALiBi slopes of ARCHITECTURE-CLIP.md B.5; long texts. */
static void t_fam_jina_v2_edges(void)
{
    float s[64];
    static const float want12[12] = {0.5f, 0.25f, 0.125f, 0.0625f, 0.03125f, 0.015625f, 0.0078125f, 0.00390625f,
                                     0.70710677f, 0.35355338f, 0.17677669f, 0.088388346f};
    static const float want4[4] = {0.25f, 0.0625f, 0.015625f, 0.00390625f};
    jc_alibi_slopes(12, s);
    T_CHECK(memcmp(s, want12, sizeof want12) == 0, "ALiBi slopes of 12 heads (non-power-of-two rule)");
    jc_alibi_slopes(4, s);
    T_CHECK(memcmp(s, want4, sizeof want4) == 0, "ALiBi slopes of 4 heads");
    char err[512];
    jclip_model *m = NULL;
    if (jclip_model_load(t_model_path("jina-v2-tiny-s1"), &m, err, sizeof err)) { T_CHECK(0, "load: %s", err); return; }
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.max_tokens = 8192;
    jclip_ctx *c = NULL;
    T_CHECK(jclip_ctx_create(m, &p, &c, err, sizeof err) == 0, "ctx of 8192 tokens: %s", err);
    if (c && t_fam_short()) T_NOTE("jina-v2 long text skipped (JCLIP_SKIP_FULL)");
    if (c && !t_fam_short()) {
        const int D = jclip_embed_dim(m);
        T_CHECK(D == 128, "tiny jina-v2 embed_dim 128, got %d", D);
        float *a = (float *)malloc(sizeof(float) * (size_t)D);
        size_t len;
        char *jpg = t_read_file(t_shared("testdata/images/photos/skimage_rocket.jpg"), &len);
        int rc = jpg ? jclip_embed_image(c, jpg, len, a, (size_t)D) : -1;
        T_CHECK(rc == JCLIP_ERR_UNSUPPORTED && strstr(jclip_ctx_error(c), "no vision tower"), "text-only model refuses images: %s",
                jclip_ctx_error(c));
        free(jpg);
        /* 8192 tokens: the longest input the model card allows */
        const size_t want = 8192;
        size_t big = 60000;
        char *txt = (char *)malloc(big + 1);
        for (size_t i = 0; i < big; i++) txt[i] = "lorem ipsum dolor sit amet "[i % 27];
        txt[big] = 0;
        int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * 8192);
        size_t n = 0;
        rc = jclip_tokenize(c, txt, big, want, ids, 8192, &n);
        T_CHECK(rc == 0 && n == want && ids[want - 1] == 102, "long text truncated to %zu ids with [SEP] last (n %zu)", want, n);
        rc = jclip_embed_tokens(c, ids, n, a, (size_t)D);
        double norm = 0;
        for (int i = 0; i < D; i++) norm += (double)a[i] * a[i];
        T_CHECK(rc == 0 && fabs(norm - 1) < 1e-5, "%zu-token text embeds: %s", want, jclip_ctx_error(c));
        char desc[2048];
        jclip_model_describe(m, desc, sizeof desc);
        T_CHECK(strstr(desc, "jina-embeddings-v2") && strstr(desc, "WordPiece") && strstr(desc, "8192") && strstr(desc, "no vision tower"),
                "describe: %s", desc);
        free(ids);
        free(txt);
        free(a);
    }
    jclip_ctx_free(c);
    jclip_model_free(m);
}

static void suite_families(void)
{
    t_fam_clip_edges();
    t_fam_jina_v2_edges();
    t_fam_golden("tiny-b32-s1", 1);
    t_fam_golden("jina-v2-tiny-s1", 0);
    if (getenv("JCLIP_TEST_FULL_FAMILIES") && atoi(getenv("JCLIP_TEST_FULL_FAMILIES")) > 0) {
        t_fam_golden("b32-s1", 1);
        t_fam_golden("b16-s1", 1);
        t_fam_golden("jina-v2-base-s1", 0);
    } else {
        T_NOTE("full-size families (b32-s1, b16-s1, jina-v2-base-s1) skipped: set JCLIP_TEST_FULL_FAMILIES=1");
    }
}
