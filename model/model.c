/* model/model.c: the tower registry, binding a weight file to towers, and a context's scratch.
 *
 * To add a model family: write its tower files (a jc_tower_desc each, see model/model.h),
 * include them in jclip.c before this file, and list them in jc_tower_registry below. The
 * public API (jclip.c) never names a tower: it asks the model for the tower of an input kind. */
#include "model.h"

/* Every tower jclip knows; a weight file binds those whose architecture it names and whose
 * tensors it carries. */
static const jc_tower_desc *const jc_tower_registry[] = {
    &jc_jina_bert_tower,        /* jina-clip-v1 */
    &jc_eva02_tower,            /* jina-clip-v1 */
    &jc_clip_text_tower,        /* clip */
    &jc_clip_vision_tower,      /* clip */
    &jc_jina_bert_v2_tower,     /* jina-embeddings-v2 */
};

/* The kernel table: the best this CPU supports, or the one JCLIP_ISA names. */
static const jc_ops *jc_select_ops(char *err, size_t cap, int *rc)
{
    const jc_ops *have[8];
    int n = jc_cpu_tables(have, 8);
    const char *want = getenv("JCLIP_ISA");
    *rc = JCLIP_OK;
    if (!want || !*want) return have[0];
    char list[64] = "";
    for (int i = 0; i < n; i++) {
        if (strcmp(want, have[i]->name) == 0) return have[i];
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", have[i]->name);
    }
    *rc = jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "JCLIP_ISA=%s is not available on this CPU (it has: %s)", want, list);
    return NULL;
}

/* tokenizer.type "bpe" (OpenAI CLIP): the vocabulary and special ids tokenizer/bpe.c reads;
 * the text tower itself runs from token ids. */
static int jc_bind_tokenizer_bpe(jclip_model *m, char *err, size_t cap)
{
    const jc_file *f = &m->file;
    int n_vocab, iv;
    JC_CHECK(jc_file_meta_int(f, "tokenizer.n_vocab", 1, m->tower[JC_TOWER_TEXT].n_vocab, &n_vocab, err, cap));
    JC_CHECK(jc_file_meta_int(f, "tokenizer.max_length", 2, 1 << 20, &m->max_length, err, cap));
    jc_bpe_config bc;
    memset(&bc, 0, sizeof bc);
    int n_merges;
    JC_CHECK(jc_file_meta_int(f, "tokenizer.bos_id", 0, n_vocab - 1, &iv, err, cap)); bc.bos_id = iv;
    JC_CHECK(jc_file_meta_int(f, "tokenizer.eos_id", 0, n_vocab - 1, &iv, err, cap)); bc.eos_id = iv;
    JC_CHECK(jc_file_meta_int(f, "tokenizer.bos_normalized", 0, 1, &bc.bos_normalized, err, cap));
    JC_CHECK(jc_file_meta_int(f, "tokenizer.eos_normalized", 0, 1, &bc.eos_normalized, err, cap));
    JC_CHECK(jc_file_meta_int(f, "tokenizer.n_merges", 0, 1 << 24, &n_merges, err, cap));
    bc.max_word_bytes = 1u << 16; /* a longer single piece is refused (JCLIP_ERR_LIMIT) */
    const jc_file_meta *vb = jc_file_find_meta(f, "tokenizer.vocab"), *mb = jc_file_find_meta(f, "tokenizer.merges");
    if (!vb || vb->type != JC_FILE_BLOB) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: missing tokenizer.vocab");
    if (!mb || mb->type != JC_FILE_BLOB) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: missing tokenizer.merges");
    m->tok_type = JC_TOK_BPE;
    m->lowercase = 1;
    return jc_bpe_create((const char *)vb->data, (size_t)vb->n, (uint32_t)n_vocab, mb->data, (size_t)mb->n, (uint32_t)n_merges,
                         &bc, &m->bpe, err, cap);
}

/* tokenizer.*: the vocabulary and its settings (a text tower's input): WordPiece or BPE. */
static int jc_bind_tokenizer(jclip_model *m, char *err, size_t cap)
{
    const jc_file *f = &m->file;
    if (jc_file_meta_is(f, "tokenizer.type", "bpe")) return jc_bind_tokenizer_bpe(m, err, cap);
    if (!jc_file_meta_is(f, "tokenizer.type", "wordpiece"))
        return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "model file: tokenizer type is neither wordpiece nor bpe");
    m->tok_type = JC_TOK_WORDPIECE;
    int n_vocab, iv;
    jc_tok_wordpiece_config tc;
    memset(&tc, 0, sizeof tc);
    JC_CHECK(jc_file_meta_int(f, "tokenizer.n_vocab", 1, m->tower[JC_TOWER_TEXT].n_vocab, &n_vocab, err, cap));
    JC_CHECK(jc_file_meta_int(f, "tokenizer.unk_id", 0, n_vocab - 1, &iv, err, cap)); tc.unk_id = iv;
    JC_CHECK(jc_file_meta_int(f, "tokenizer.cls_id", 0, n_vocab - 1, &iv, err, cap)); tc.cls_id = iv;
    JC_CHECK(jc_file_meta_int(f, "tokenizer.sep_id", 0, n_vocab - 1, &iv, err, cap)); tc.sep_id = iv;
    JC_CHECK(jc_file_meta_int(f, "tokenizer.pad_id", 0, n_vocab - 1, &iv, err, cap)); tc.pad_id = iv;
    JC_CHECK(jc_file_meta_int(f, "tokenizer.lowercase", 0, 1, &tc.lowercase, err, cap));
    m->lowercase = tc.lowercase;
    JC_CHECK(jc_file_meta_int(f, "tokenizer.strip_accents", 0, 1, &tc.strip_accents, err, cap));
    JC_CHECK(jc_file_meta_int(f, "tokenizer.tokenize_chinese", 0, 1, &tc.tokenize_chinese, err, cap));
    JC_CHECK(jc_file_meta_int(f, "tokenizer.clean_text", 0, 1, &tc.clean_text, err, cap));
    JC_CHECK(jc_file_meta_int(f, "tokenizer.max_word_chars", 1, 1 << 16, &iv, err, cap)); tc.max_word_chars = (uint32_t)iv;
    JC_CHECK(jc_file_meta_int(f, "tokenizer.max_length", 2, 1 << 20, &m->max_length, err, cap));
    const jc_file_meta *sp = jc_file_find_meta(f, "tokenizer.special_ids");
    if (!sp || sp->type != JC_FILE_I32A || sp->n > 64)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: tokenizer.special_ids missing or too long");
    for (uint64_t i = 0; i < sp->n; i++) {
        m->special_ids[i] = (int32_t)jc_file_u32(sp->data + 4 * i);
        if (m->special_ids[i] < 0 || m->special_ids[i] >= n_vocab)
            return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: special token id out of range");
    }
    tc.special_ids = m->special_ids;
    tc.n_special = (size_t)sp->n;
    const jc_file_meta *vb = jc_file_find_meta(f, "tokenizer.vocab");
    if (!vb || vb->type != JC_FILE_BLOB) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: missing tokenizer.vocab");
    return jc_tok_wp_create((const char *)vb->data, (size_t)vb->n, (uint32_t)n_vocab, &tc, &m->tok, err, cap);
}

/* preprocess.*: the image pipeline in front of a vision tower. preprocess.mode picks the crop
 * rounding: "jina-clip" (torchvision, half to even; also when the key is absent, as in files
 * written before it existed) or "clip" (Hugging Face CLIPImageProcessor, floor). */
static int jc_bind_preprocess(jclip_model *m, char *err, size_t cap)
{
    const jc_file *f = &m->file;
    int size;
    if (!jc_file_find_meta(f, "preprocess.mode") || jc_file_meta_is(f, "preprocess.mode", "jina-clip"))
        m->pre_mode = JC_PRE_MODE_JINA;
    else if (jc_file_meta_is(f, "preprocess.mode", "clip"))
        m->pre_mode = JC_PRE_MODE_CLIP;
    else
        return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "model file: preprocess.mode is neither \"jina-clip\" nor \"clip\"");
    JC_CHECK(jc_file_meta_int(f, "preprocess.size", 1, 4096, &size, err, cap));
    if (size != m->tower[JC_TOWER_VISION].image_size)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: preprocess.size %d differs from the vision tower's image size %d",
                       size, m->tower[JC_TOWER_VISION].image_size);
    const char *stats[2] = {"preprocess.mean", "preprocess.std"};
    float *dst[2] = {m->mean, m->std};
    for (int s = 0; s < 2; s++) {
        const jc_file_meta *e = jc_file_find_meta(f, stats[s]);
        if (!e || e->type != JC_FILE_F32A || e->n != 3) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: %s must hold 3 floats", stats[s]);
        for (int i = 0; i < 3; i++) {
            uint32_t b = jc_file_u32(e->data + 4 * i);
            memcpy(&dst[s][i], &b, 4);
        }
    }
    if (!(m->std[0] > 0 && m->std[1] > 0 && m->std[2] > 0))
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: preprocess.std must be positive");
    /* image/preprocess.c reproduces the reference pipeline bit for bit for jina-clip-v1's
     * constants (224 px, OpenAI CLIP mean/std), which every jina-clip-v1 checkpoint uses. */
    static const float clip_mean[3] = {(float)0.48145466, (float)0.4578275, (float)0.40821073};
    static const float clip_std[3] = {(float)0.26862954, (float)0.26130258, (float)0.27577711};
    if (size != JC_PRE_SIZE || memcmp(m->mean, clip_mean, sizeof clip_mean) || memcmp(m->std, clip_std, sizeof clip_std))
        return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "model file: only 224-pixel inputs with the OpenAI CLIP mean/std are supported");
    return JCLIP_OK;
}

static int jc_qweight_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const jc_qweight *)a)->src, y = (uintptr_t)((const jc_qweight *)b)->src;
    return x < y ? -1 : x > y;
}

/* "<tower>.q8_block" (optional, default 32): the values per q8 scale block the converter chose
 * for that tower's linear layers, 32, 64 or 128. */
static int jc_q8_block_meta(const jc_file *f, int kind, int *block, char *err, size_t cap)
{
    const char *key = kind == JC_TOWER_TEXT ? "text.q8_block" : "vision.q8_block";
    *block = 32;
    if (!jc_file_find_meta(f, key)) return JCLIP_OK;
    JC_CHECK(jc_file_meta_int(f, key, 32, 128, block, err, cap));
    if (*block != 32 && *block != 64 && *block != 128)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: metadata %s = %d: q8 scale blocks are 32, 64 or 128 values", key, *block);
    return JCLIP_OK;
}

/* Blocks of 32 per scale block of a q8 weight with K inputs in a tower of q8_block `block`: the
 * largest S <= block / 32 (1, 2 or 4) that divides K / 32. convert/convert.py applies the same
 * rule (q8_scale_blocks). */
static int jc_q8_scale_blocks(int block, int K)
{
    int S = block / 32;
    while (S > 1 && (K / 32) % S) S /= 2;
    return S;
}

/* 1 when each row's K/32 block scales Sw [N, K/32] are bitwise equal within every run of S. */
static int jc_q8_scales_repeat(const float *Sw, int N, int K, int S)
{
    const size_t nb = (size_t)N * (size_t)(K / 32);
    for (size_t b = 0; b < nb; b += (size_t)S)
        for (int e = 1; e < S; e++)
            if (memcmp(&Sw[b], &Sw[b + (size_t)e], sizeof *Sw)) return 0;
    return 1;
}

/* Finds which linear weights the file stores as bf16 or q8 (a tower binds them by their data
 * pointer) and indexes them for jc_linear. A file may mix types per tensor; m->dtype names the
 * reduced type when there is one. */
static int jc_model_index_weights(jclip_model *m, char *err, size_t cap)
{
    int total = 0;
    for (int k = 0; k < JC_N_TOWERS; k++)
        if (m->tower[k].desc) total += m->tower[k].desc->weights(&m->tower[k], NULL);
    m->dtype = JC_DT_F32;
    if (total <= 0) return JCLIP_OK;
    jc_weight *w = (jc_weight *)JCLIP_MALLOC(sizeof *w * (size_t)total);
    m->qw = (jc_qweight *)JCLIP_MALLOC(sizeof *m->qw * (size_t)total);
    if (!w || !m->qw) {
        JCLIP_FREE(w);
        return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    }
    int n = 0, end[JC_N_TOWERS], block[JC_N_TOWERS];
    for (int k = 0; k < JC_N_TOWERS; k++) {
        if (m->tower[k].desc) n += m->tower[k].desc->weights(&m->tower[k], w + n);
        end[k] = n;
        if (jc_q8_block_meta(&m->file, k, &block[k], err, cap) != JCLIP_OK) {
            JCLIP_FREE(w);
            return JCLIP_ERR_FORMAT;
        }
    }
    for (int i = 0, k = 0; i < n; i++) {
        while (i >= end[k]) k++;
        /* The tensor behind the pointer. A hostile table may alias one data offset under several
         * names; were their types to differ, the first match could say f32 for a q8 weight the
         * tower bound by another name, and jc_linear would read 4 bytes a value past its end. */
        const jc_file_tensor *t = NULL;
        for (uint32_t j = 0; j < m->file.n_tensors; j++) {
            const jc_file_tensor *c = &m->file.tensors[j];
            if ((const void *)c->data != (const void *)w[i].src || c->nbytes == 0) continue;
            if (t && c->dtype != t->dtype) {
                JCLIP_FREE(w);
                return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensors %.*s and %.*s share their data but not their type", (int)t->name_len,
                               t->name, (int)c->name_len, c->name);
            }
            if (!t) t = c;
        }
        if (!t || t->dtype == JC_DT_F32) continue;
        if (w[i].K % 32 || (uint64_t)w[i].N != t->dims[0]) {
            int K = w[i].K;
            JCLIP_FREE(w);
            return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %.*s: %s weights need K %% 32 == 0 (K = %d)", (int)t->name_len, t->name,
                           jc_file_dtype_name(t->dtype), K);
        }
        jc_qweight q = {w[i].src, t->dtype, w[i].N, w[i].K, 1};
        if (t->dtype == JC_DT_Q8) {
            q.S = jc_q8_scale_blocks(block[k], q.K);
            if (!jc_q8_scales_repeat((const float *)(const void *)((const int8_t *)q.src + (size_t)q.N * (size_t)q.K), q.N, q.K, q.S)) {
                JCLIP_FREE(w);
                return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %.*s: its q8 scales differ within blocks of %d values, as "
                               "%s.q8_block = %d declares", (int)t->name_len, t->name, 32 * q.S, k == JC_TOWER_TEXT ? "text" : "vision",
                               block[k]);
            }
        }
        m->qw[m->n_qw++] = q;
        if (w[i].K > m->qw_kmax) m->qw_kmax = w[i].K;
        m->dtype = t->dtype;
    }
    JCLIP_FREE(w);
    qsort(m->qw, (size_t)m->n_qw, sizeof *m->qw, jc_qweight_cmp);
    return JCLIP_OK;
}

/* Binds every registered tower the file carries, then their inputs' tokenizer / preprocessing. */
static int jc_model_bind(jclip_model *m, char *err, size_t cap)
{
    const jc_file *f = &m->file;
    size_t n_arch;
    const char *arch = jc_file_meta_str(f, "general.architecture", &n_arch);
    int known = 0;
    char families[160] = "";
    for (size_t i = 0; i < sizeof jc_tower_registry / sizeof jc_tower_registry[0]; i++) {
        const char *a = jc_tower_registry[i]->architecture;
        known |= arch && strlen(a) == n_arch && memcmp(a, arch, n_arch) == 0;
        int dup = 0; /* each family once, in registry order */
        for (size_t j = 0; j < i; j++) dup |= strcmp(jc_tower_registry[j]->architecture, a) == 0;
        size_t len = strlen(families);
        if (!dup) snprintf(families + len, sizeof families - len, "%s%s", len ? ", " : "", a);
    }
    if (!known)
        return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "model file: architecture %.*s is not supported (this jclip runs %s)",
                       arch ? (int)(n_arch > 64 ? 64 : n_arch) : 7, arch ? arch : "missing", families);
    JC_CHECK(jc_file_meta_int(f, "general.embed_dim", 1, 65536, &m->embed_dim, err, cap));
    int n_towers = 0;
    for (size_t i = 0; i < sizeof jc_tower_registry / sizeof jc_tower_registry[0]; i++) {
        const jc_tower_desc *d = jc_tower_registry[i];
        if (!jc_file_meta_is(f, "general.architecture", d->architecture) || !d->present(f)) continue;
        jc_tower *t = &m->tower[d->kind];
        if (t->desc) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: two towers for one input kind (%s, %s)", t->desc->name, d->name);
        t->desc = d;
        JC_CHECK(d->bind(t, f, err, cap));
        if (t->d_out != m->embed_dim)
            return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: the %s gives %d floats, embed_dim is %d", d->name, t->d_out, m->embed_dim);
        n_towers++;
    }
    if (!n_towers) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: holds no text or vision tower");
    JC_CHECK(jc_model_index_weights(m, err, cap));
    if (m->tower[JC_TOWER_TEXT].desc) JC_CHECK(jc_bind_tokenizer(m, err, cap));
    if (m->tower[JC_TOWER_VISION].desc) JC_CHECK(jc_bind_preprocess(m, err, cap));
    return JCLIP_OK;
}

static void jc_model_unbind(jclip_model *m)
{
    for (int k = 0; k < JC_N_TOWERS; k++)
        if (m->tower[k].desc) m->tower[k].desc->free(&m->tower[k]);
    jc_tok_wp_free(m->tok);
    jc_bpe_free(m->bpe);
    JCLIP_FREE(m->qw);
}

/* ---- Context scratch --------------------------------------------------------------------- */

/* Bytes of tower k's activations for n_items inputs (SIZE_MAX when it overflows). */
static size_t jc_ctx_act_bytes(const jclip_ctx *ctx, int k, int n_items)
{
    const jc_tower *t = &ctx->m->tower[k];
    jc_arena a = {NULL, 0};
    t->desc->carve(t, ctx->max_tok, n_items, &a, NULL);
    return a.used;
}

/* Rows a pass can multiply: the text tower's max_tok, or images * rows per image. */
static size_t jc_ctx_max_rows(const jclip_ctx *ctx, int images)
{
    size_t rows = ctx->m->tower[JC_TOWER_TEXT].desc ? (size_t)ctx->max_tok : 0;
    const jc_tower *tv = &ctx->m->tower[JC_TOWER_VISION];
    if (tv->desc && (size_t)images * (size_t)tv->image_rows > rows) rows = (size_t)images * (size_t)tv->image_rows;
    return rows;
}

/* The bytes of one converted activation row and the kernel scratch (floats per thread) that
 * every reduced-precision weight of the model needs: the largest over all of them, each by its
 * own type, since a file may mix bf16 and q8 weights (a q8 row of K is 1.125 K bytes, a bf16
 * row 2 K: sizing by one type would let the other write past the buffer). */
static void jc_ctx_qw_need(const jclip_ctx *ctx, size_t *row_bytes, size_t *ws)
{
    const jclip_model *m = ctx->m;
    *row_bytes = 0, *ws = 0;
    for (int i = 0; i < m->n_qw; i++) {
        const jc_qweight *q = &m->qw[i];
        const int bf16 = q->dtype == JC_DT_BF16;
        size_t r = bf16 ? 2 * (size_t)q->K : jc_q8_row_bytes(q->K);
        size_t w = bf16 ? ctx->ops->linear_bf16_ws(ctx->max_tok, q->K) : ctx->ops->linear_q8_ws(ctx->max_tok, q->K);
        if (r > *row_bytes) *row_bytes = r;
        if (w > *ws) *ws = w;
    }
}

/* Bytes of converted activations for rows rows of the longest reduced-precision row. */
static size_t jc_ctx_xq_bytes(const jclip_ctx *ctx, size_t rows)
{
    size_t per, ws, n;
    jc_ctx_qw_need(ctx, &per, &ws);
    return jc_mul(rows, per, &n) ? n : SIZE_MAX;
}

/* Floats of one normalised pixel tensor [3, image_size, image_size]. */
static size_t jc_ctx_pixel_floats(const jclip_ctx *ctx)
{
    size_t s = (size_t)ctx->m->tower[JC_TOWER_VISION].image_size;
    return 3 * s * s;
}

/* Allocates the kernel scratch, the activations of one pass of each present tower and the
 * input buffers, after checking the total against max_ctx_bytes: a hostile model file can
 * declare tower sizes whose per-token buffers dwarf the file itself. */
static int jc_ctx_alloc(jclip_ctx *ctx, char *err, size_t cap)
{
    const jclip_model *m = ctx->m;
    size_t ws = 0;
    double total = 0;
    for (int k = 0; k < JC_N_TOWERS; k++) {
        const jc_tower *t = &m->tower[k];
        if (!t->desc) continue;
        size_t w = t->desc->kernel_ws(t, ctx->ops, ctx->max_tok);
        if (w > ws) ws = w;
        total += (double)jc_ctx_act_bytes(ctx, k, 1);
    }
    if (m->n_qw) { /* the reduced-precision kernels' scratch (constant in M: see kernels.h) */
        size_t row, qw;
        jc_ctx_qw_need(ctx, &row, &qw);
        if (qw > ws) ws = qw;
    }
    ctx->ws_stride = ws + 16;
    const jc_tower *tv = &m->tower[JC_TOWER_VISION];
    if (tv->desc) total += 4.0 * (double)jc_ctx_pixel_floats(ctx) + 3.0 * tv->image_size * tv->image_size;
    if (m->tower[JC_TOWER_TEXT].desc) total += 4.0 * ctx->max_tok;
    total += 4.0 * (double)ctx->pool->n * (double)ctx->ws_stride;
    total += (double)jc_ctx_xq_bytes(ctx, jc_ctx_max_rows(ctx, 1));
    if (total > (double)ctx->p.max_ctx_bytes)
        return jc_fail(err, cap, JCLIP_ERR_LIMIT, "context scratch of %.0f MB for %d tokens exceeds max_ctx_bytes (%zu MB)",
                       total / 1048576.0, ctx->max_tok, ctx->p.max_ctx_bytes >> 20);
    size_t n;
    if (!jc_mul3((size_t)ctx->pool->n, ctx->ws_stride, sizeof(float), &n) || !(ctx->ws = (float *)JCLIP_MALLOC(n)))
        return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory allocating kernel scratch");
    for (int k = 0; k < JC_N_TOWERS; k++) {
        if (!m->tower[k].desc) continue;
        size_t bytes = jc_ctx_act_bytes(ctx, k, 1);
        if (bytes == SIZE_MAX || !(ctx->act[k] = (uint8_t *)JCLIP_MALLOC(bytes ? bytes : 1)))
            return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory allocating the %s's scratch (%zu bytes)", m->tower[k].desc->name, bytes);
        ctx->act_items[k] = 1;
    }
    if (m->n_qw) {
        size_t rows = jc_ctx_max_rows(ctx, 1), bytes = jc_ctx_xq_bytes(ctx, rows);
        if (bytes == SIZE_MAX || !(ctx->xq = (uint8_t *)JCLIP_MALLOC(bytes)))
            return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory allocating activation scratch (%zu bytes)", bytes);
        ctx->xq_rows = rows;
    }
    if (m->bpe) JC_CHECK(jc_bpe_work_new(m->bpe, &ctx->bpe_work, err, cap));
    if (m->tower[JC_TOWER_TEXT].desc && !(ctx->ids = (int32_t *)JCLIP_MALLOC(sizeof(int32_t) * (size_t)ctx->max_tok)))
        return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory allocating token ids");
    if (tv->desc) {
        if (!(ctx->pixels = (float *)JCLIP_MALLOC(sizeof(float) * jc_ctx_pixel_floats(ctx))) ||
            !(ctx->crop = (uint8_t *)JCLIP_MALLOC((size_t)tv->image_size * (size_t)tv->image_size * 3)))
            return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory allocating image buffers");
        ctx->pix_items = 1;
    }
    return JCLIP_OK;
}

static void jc_ctx_free_scratch(jclip_ctx *ctx)
{
    JCLIP_FREE(ctx->ws);
    JCLIP_FREE(ctx->xq);
    jc_bpe_work_free(ctx->bpe_work);
    for (int k = 0; k < JC_N_TOWERS; k++) JCLIP_FREE(ctx->act[k]);
    JCLIP_FREE(ctx->ids);
    JCLIP_FREE(ctx->pixels);
    JCLIP_FREE(ctx->crop);
    JCLIP_FREE(ctx->rgb);
    JCLIP_FREE(ctx->pre);
}

/* Makes room for vision passes over up to `want` images at once (at most max_images and
 * JC_MAX_SEQ): activations plus a pixel tensor per image, grown on the first batch call.
 * Returns how many images a pass can take; 1 (one image at a time, same results) when memory
 * is short. */
static int jc_ctx_image_batch(jclip_ctx *ctx, size_t want)
{
    size_t cap = ctx->p.max_images < JC_MAX_SEQ ? ctx->p.max_images : JC_MAX_SEQ;
    if (want > cap) want = cap;
    if (want < 2) return 1;
    const size_t per = jc_ctx_act_bytes(ctx, JC_TOWER_VISION, 1) + 4 * jc_ctx_pixel_floats(ctx) +
                       jc_ctx_xq_bytes(ctx, (size_t)ctx->m->tower[JC_TOWER_VISION].image_rows); /* bytes per image */
    if (per * want > ctx->p.max_ctx_bytes) want = ctx->p.max_ctx_bytes / per; /* the same cap as the rest */
    if (want < 2) return 1;
    if ((int)want > ctx->act_items[JC_TOWER_VISION]) {
        size_t act = jc_ctx_act_bytes(ctx, JC_TOWER_VISION, (int)want);
        uint8_t *a = act == SIZE_MAX ? NULL : (uint8_t *)JCLIP_MALLOC(act);
        float *p = a ? (float *)JCLIP_MALLOC(sizeof(float) * jc_ctx_pixel_floats(ctx) * want) : NULL;
        size_t rows = jc_ctx_max_rows(ctx, (int)want), xqb = jc_ctx_xq_bytes(ctx, rows);
        uint8_t *xq = p && xqb && rows > ctx->xq_rows ? (uint8_t *)JCLIP_MALLOC(xqb) : NULL;
        if (!p || (xqb && rows > ctx->xq_rows && !xq)) {
            JCLIP_FREE(a);
            JCLIP_FREE(p);
            return 1;
        }
        JCLIP_FREE(ctx->act[JC_TOWER_VISION]);
        JCLIP_FREE(ctx->pixels);
        ctx->act[JC_TOWER_VISION] = a;
        ctx->pixels = p;
        ctx->act_items[JC_TOWER_VISION] = ctx->pix_items = (int)want;
        if (xq) {
            JCLIP_FREE(ctx->xq);
            ctx->xq = xq;
            ctx->xq_rows = rows;
            ctx->xq_of = NULL;
        }
    }
    return (int)want;
}
