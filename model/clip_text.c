/* model/clip_text.c: OpenAI CLIP's text tower (ARCHITECTURE-CLIP.md A.4, A.5), and the pre-LN
 * encoder layer it shares with the vision tower (model/clip_vision.c):
 *
 *   x = token_embedding[t_i] + position_embedding[i]          (at most n_pos = 77 tokens)
 *   per layer: x += out_proj(causal_attention(LN1(x)));  x += fc2(quick_gelu(fc1(LN2(x))))
 *   e = the first end-of-text token (text.eot_id, 49407; without one, openai's argmax rule)
 *   embedding = L2(LN_final(x_e) W_text_projection^T)
 *
 * Because the mask is causal, positions after e never change x_e: a pass runs only t[0..e] of
 * each sequence (padding after the end token costs nothing and changes nothing). Tensors: the
 * Hugging Face CLIPModel names text_model.*, text_projection.weight; hyperparameters: text.*,
 * general.architecture "clip". */
#include "model.h"

/* ---- The pre-LN encoder layer of both CLIP towers ----------------------------------------- */

typedef struct {
    const float *ln1_w, *ln1_b;      /* [d_model] layer_norm1 */
    const float *wq, *wk, *wv, *wo;  /* [d_model, d_model] q/k/v/out_proj */
    const float *bq, *bk, *bv, *bo;  /* [d_model] */
    const float *ln2_w, *ln2_b;      /* [d_model] layer_norm2 */
    const float *w1, *b1;            /* mlp.fc1 [d_ff, d_model], [d_ff] */
    const float *w2, *b2;            /* mlp.fc2 [d_model, d_ff], [d_model] */
} jc_clip_layer;

/* The hyperparameters and layers of one CLIP tower's encoder. */
typedef struct {
    int d_model, n_layer, n_head, d_head, d_ff, d_proj;
    float eps;
    jc_clip_layer *layers;  /* [n_layer] */
    const float *proj;      /* [d_proj, d_model] text_projection / visual_projection (no bias) */
} jc_clip_enc;

/* Activations of the encoder over rows tokens (every input of a pass stacked). */
typedef struct {
    float *x;          /* [rows, d_model] residual stream */
    float *h;          /* [rows, d_model] */
    float *q, *k, *v;  /* [rows, d_model] each */
    float *o;          /* [rows, d_model] attention output */
    float *f;          /* [rows, d_ff] MLP hidden */
} jc_clip_bufs;

/* Reads "<tower>.*" sizes (tower: "text" or "vision") into E, checking them. */
static int jc_clip_enc_meta(const jc_file *f, const char *tower, jc_clip_enc *E, char *err, size_t cap)
{
    char key[64];
#define JC_K(name, lo, hi, dst) (snprintf(key, sizeof key, "%s." name, tower), jc_file_meta_int(f, key, lo, hi, dst, err, cap))
    JC_CHECK(JC_K("d_model", 1, 65536, &E->d_model));
    JC_CHECK(JC_K("n_layer", 1, 1024, &E->n_layer));
    JC_CHECK(JC_K("n_head", 1, 256, &E->n_head));
    JC_CHECK(JC_K("d_ff", 1, 1 << 20, &E->d_ff));
#undef JC_K
    snprintf(key, sizeof key, "%s.ln_eps", tower);
    JC_CHECK(jc_file_meta_float(f, key, 0.0f, 1.0f, &E->eps, err, cap));
    JC_CHECK(jc_file_meta_int(f, "general.embed_dim", 1, 65536, &E->d_proj, err, cap));
    if (E->d_model % E->n_head)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: %s d_model %d is not a multiple of n_head %d", tower, E->d_model,
                       E->n_head);
    E->d_head = E->d_model / E->n_head;
    return JCLIP_OK;
}

/* Binds prefix + "encoder.layers.N.*" and the projection (proj_name [d_proj, d_model]). */
static int jc_clip_enc_bind(const jc_file *f, const char *prefix, const char *proj_name, jc_clip_enc *E, char *err, size_t cap)
{
    const size_t D = (size_t)E->d_model, F = (size_t)E->d_ff;
    E->layers = (jc_clip_layer *)JCLIP_MALLOC(sizeof(jc_clip_layer) * (size_t)E->n_layer);
    if (!E->layers) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    char name[192];
    for (int l = 0; l < E->n_layer; l++) {
        jc_clip_layer *L = &E->layers[l];
#define JC_L(field, suffix, a, b) \
    (snprintf(name, sizeof name, "%sencoder.layers.%d.%s", prefix, l, suffix), jc_file_tensor_f32(f, name, &L->field, err, cap, a, b, 0, 0))
#define JC_W(field, suffix, a, b) /* a linear weight: f32, bf16 or q8 (listed by jc_clip_enc_weights) */ \
    (snprintf(name, sizeof name, "%sencoder.layers.%d.%s", prefix, l, suffix), jc_file_tensor_linear(f, name, &L->field, err, cap, a, b, 0, 0))
        JC_CHECK(JC_L(ln1_w, "layer_norm1.weight", D, 0));
        JC_CHECK(JC_L(ln1_b, "layer_norm1.bias", D, 0));
        JC_CHECK(JC_W(wq, "self_attn.q_proj.weight", D, D));
        JC_CHECK(JC_L(bq, "self_attn.q_proj.bias", D, 0));
        JC_CHECK(JC_W(wk, "self_attn.k_proj.weight", D, D));
        JC_CHECK(JC_L(bk, "self_attn.k_proj.bias", D, 0));
        JC_CHECK(JC_W(wv, "self_attn.v_proj.weight", D, D));
        JC_CHECK(JC_L(bv, "self_attn.v_proj.bias", D, 0));
        JC_CHECK(JC_W(wo, "self_attn.out_proj.weight", D, D));
        JC_CHECK(JC_L(bo, "self_attn.out_proj.bias", D, 0));
        JC_CHECK(JC_L(ln2_w, "layer_norm2.weight", D, 0));
        JC_CHECK(JC_L(ln2_b, "layer_norm2.bias", D, 0));
        JC_CHECK(JC_W(w1, "mlp.fc1.weight", F, D));
        JC_CHECK(JC_L(b1, "mlp.fc1.bias", F, 0));
        JC_CHECK(JC_W(w2, "mlp.fc2.weight", D, F));
        JC_CHECK(JC_L(b2, "mlp.fc2.bias", D, 0));
#undef JC_L
#undef JC_W
    }
    return jc_file_tensor_linear(f, proj_name, &E->proj, err, cap, (uint64_t)E->d_proj, D, 0, 0);
}

/* The linear weights of an encoder (then its projection) for packing; n: entries so far. */
static int jc_clip_enc_weights(const jc_clip_enc *E, jc_weight *w, int n)
{
    const int D = E->d_model, F = E->d_ff;
    for (int l = 0; l < E->n_layer; l++) {
        const jc_clip_layer *L = &E->layers[l];
        const jc_weight mine[6] = {{L->wq, D, D}, {L->wk, D, D}, {L->wv, D, D},
                                   {L->wo, D, D}, {L->w1, F, D}, {L->w2, D, F}};
        for (int i = 0; i < 6; i++, n++)
            if (w) w[n] = mine[i];
    }
    if (w) w[n] = (jc_weight){E->proj, E->d_proj, D};
    return n + 1;
}

static void jc_clip_enc_carve(const jc_clip_enc *E, size_t rows, jc_arena *a, jc_clip_bufs *b)
{
    const size_t D = (size_t)E->d_model;
    b->x = JC_TAKE_F(a, rows * D);
    b->h = JC_TAKE_F(a, rows * D);
    b->q = JC_TAKE_F(a, rows * D);
    b->k = JC_TAKE_F(a, rows * D);
    b->v = JC_TAKE_F(a, rows * D);
    b->o = JC_TAKE_F(a, rows * D);
    b->f = JC_TAKE_F(a, rows * (size_t)E->d_ff);
}

static size_t jc_clip_enc_kernel_ws(const jc_clip_enc *E, const jc_ops *ops, int rows, int extra_k)
{
    int k = E->d_model > E->d_ff ? E->d_model : E->d_ff;
    if (extra_k > k) k = extra_k;
    size_t lw = ops->linear_ws(rows, k), aw = ops->attention_ws(rows, E->d_head, JC_ATTN_QBLOCK);
    return lw > aw ? lw : aw;
}

/* The encoder layers over b->x [n_tok, d_model] (inputs as in seqs), in place. Only row
 * pool[s] of each input s is pooled: the last layer, after the keys and values of every row,
 * goes on with those rows alone (each row's arithmetic is its own: the same bits, a layer's
 * products but the keys' and values' saved), and leaves input s's pooled row in row s of b->x
 * (n_layer >= 1, as bind checks). */
static void jc_clip_enc_run(jclip_ctx *ctx, const jc_clip_enc *E, const jc_clip_bufs *b, const jc_seqs *seqs, int n_tok, int causal,
                            const int *pool)
{
    const int D = E->d_model, F = E->d_ff;
    jc_attn at = {b->o, (size_t)D, b->q, b->k, b->v, (size_t)D, (size_t)D, (size_t)D, NULL, seqs,
                  E->n_head, E->d_head, 1.0f / sqrtf((float)E->d_head), NULL, causal, NULL};
    int m = n_tok; /* rows past the attention */
    for (int l = 0; l < E->n_layer; l++) {
        const jc_clip_layer *L = &E->layers[l];
        jc_layernorm_rows(ctx, b->h, b->x, L->ln1_w, L->ln1_b, n_tok, D, E->eps); /* h = LN1(x) */
        if (l < E->n_layer - 1) {
            jc_linear(ctx, b->q, b->h, L->wq, L->bq, n_tok, D, D);                /* q = h Wq + bq */
            jc_linear_again(ctx, b->k, b->h, L->wk, L->bk, n_tok, D, D);          /* k = h Wk + bk */
            jc_linear_again(ctx, b->v, b->h, L->wv, L->bv, n_tok, D, D);          /* v = h Wv + bv */
        } else {
            jc_linear(ctx, b->k, b->h, L->wk, L->bk, n_tok, D, D);                /* k = h Wk + bk */
            jc_linear_again(ctx, b->v, b->h, L->wv, L->bv, n_tok, D, D);          /* v = h Wv + bv */
            at.sel = pool;
            m = jc_pool_last_layer(ctx, &at, b->q, b->h, b->o, b->x, L->wq, L->bq, D); /* q, x = those of the pooled rows */
        }
        jc_attention(ctx, &at);                                                   /* o = softmax(q k^T / sqrt(d_head) [causal]) v */
        jc_linear(ctx, b->h, b->o, L->wo, L->bo, m, D, D);                        /* h = o Wo + bo */
        jc_add_rows(ctx, b->x, b->h, m, D);                                       /* x += h */
        jc_layernorm_rows(ctx, b->h, b->x, L->ln2_w, L->ln2_b, m, D, E->eps);     /* h = LN2(x) */
        jc_linear(ctx, b->f, b->h, L->w1, L->b1, m, D, F);                        /* f = h W1 + b1 */
        jc_quick_gelu_linear(ctx, b->h, b->f, L->w2, L->b2, m, F, D);             /* f = f * sigmoid(1.702 f); h = f W2 + b2 */
        jc_add_rows(ctx, b->x, b->h, m, D);                                       /* x += h */
    }
}

/* out[s] = L2(LN(pooled[s]) Wproj^T) for n rows of pooled [n, d_model] (LN'd in place);
 * tmp: [n, d_proj]. One row per product, so that an input's embedding does not depend on how
 * many others share its pass. */
static void jc_clip_enc_project(jclip_ctx *ctx, const jc_clip_enc *E, float *pooled, const float *ln_w, const float *ln_b, int n,
                                float *tmp, float *out)
{
    jc_layernorm_rows(ctx, pooled, pooled, ln_w, ln_b, n, E->d_model, E->eps);
    for (int s = 0; s < n; s++) {
        float *y = tmp + (size_t)s * E->d_proj;
        jc_linear(ctx, y, pooled + (size_t)s * E->d_model, E->proj, NULL, 1, E->d_model, E->d_proj);
        jc_l2_normalize(out + (size_t)s * E->d_proj, y, E->d_proj);
    }
}

static void jc_clip_enc_free(jc_clip_enc *E)
{
    if (E) JCLIP_FREE(E->layers);
}

/* ---- The text tower ----------------------------------------------------------------------- */

typedef struct {
    jc_clip_enc enc;
    int n_vocab, n_pos, eot_id;
    const float *tok_emb;          /* [n_vocab, d_model] */
    const float *pos_emb;          /* [n_pos, d_model] */
    const float *lnf_w, *lnf_b;    /* [d_model] final_layer_norm */
} jc_clip_text;

typedef struct {
    jc_clip_bufs e;
    float *pooled;  /* [JC_MAX_SEQ, d_model] */
    float *proj;    /* [JC_MAX_SEQ, d_proj] */
} jc_clip_text_bufs;

static int jc_clip_text_present(const jc_file *f) { return jc_file_has_tensors(f, "text_model."); }

static int jc_clip_text_bind(jc_tower *t, const jc_file *f, char *err, size_t cap)
{
    jc_clip_text *T = (jc_clip_text *)JCLIP_MALLOC(sizeof *T);
    if (!T) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    memset(T, 0, sizeof *T);
    t->w = T;
    JC_CHECK(jc_clip_enc_meta(f, "text", &T->enc, err, cap));
    JC_CHECK(jc_file_meta_int(f, "text.vocab_size", 1, 1 << 24, &T->n_vocab, err, cap));
    JC_CHECK(jc_file_meta_int(f, "text.n_pos", 1, 8192, &T->n_pos, err, cap));
    JC_CHECK(jc_file_meta_int(f, "text.eot_id", 0, T->n_vocab - 1, &T->eot_id, err, cap));
    const uint64_t D = (uint64_t)T->enc.d_model;
    JC_CHECK(jc_file_tensor_f32(f, "text_model.embeddings.token_embedding.weight", &T->tok_emb, err, cap, (uint64_t)T->n_vocab, D, 0, 0));
    JC_CHECK(jc_file_tensor_f32(f, "text_model.embeddings.position_embedding.weight", &T->pos_emb, err, cap, (uint64_t)T->n_pos, D, 0, 0));
    JC_CHECK(jc_file_tensor_f32(f, "text_model.final_layer_norm.weight", &T->lnf_w, err, cap, D, 0, 0, 0));
    JC_CHECK(jc_file_tensor_f32(f, "text_model.final_layer_norm.bias", &T->lnf_b, err, cap, D, 0, 0, 0));
    JC_CHECK(jc_clip_enc_bind(f, "text_model.", "text_projection.weight", &T->enc, err, cap));
    t->d_out = T->enc.d_proj;
    t->n_vocab = T->n_vocab;
    t->pad_id = -1;          /* causal: nothing is masked; what follows the end token is ignored */
    t->max_tokens = T->n_pos;
    return JCLIP_OK;
}

static void jc_clip_text_free(jc_tower *t)
{
    jc_clip_text *T = (jc_clip_text *)t->w;
    if (T) jc_clip_enc_free(&T->enc);
    JCLIP_FREE(T);
    t->w = NULL;
}

static int jc_clip_text_weights(const jc_tower *t, jc_weight *w)
{
    return jc_clip_enc_weights(&((const jc_clip_text *)t->w)->enc, w, 0);
}

static void jc_clip_text_carve(const jc_tower *t, int max_tok, int n_items, jc_arena *a, void *bufs)
{
    const jc_clip_text *T = (const jc_clip_text *)t->w;
    jc_clip_text_bufs b;
    (void)n_items; /* a batch shares the max_tok rows */
    jc_clip_enc_carve(&T->enc, (size_t)max_tok, a, &b.e);
    b.pooled = JC_TAKE_F(a, (size_t)JC_MAX_SEQ * (size_t)T->enc.d_model);
    b.proj = JC_TAKE_F(a, (size_t)JC_MAX_SEQ * (size_t)T->enc.d_proj);
    if (bufs) *(jc_clip_text_bufs *)bufs = b;
}

static size_t jc_clip_text_kernel_ws(const jc_tower *t, const jc_ops *ops, int max_tok)
{
    const jc_clip_text *T = (const jc_clip_text *)t->w;
    int rows = max_tok > JC_MAX_SEQ ? max_tok : JC_MAX_SEQ; /* the projection runs over up to JC_MAX_SEQ rows */
    return jc_clip_enc_kernel_ws(&T->enc, ops, rows, 0);
}

static int jc_clip_text_describe(const jc_tower *t, char *buf, size_t cap)
{
    const jc_clip_text *T = (const jc_clip_text *)t->w;
    return snprintf(buf, cap, "%d layers, d_model %d, %d heads, d_ff %d (quick-GELU), vocab %d, %d positions, causal, "
                    "end-token pooling, projection %d -> %d",
                    T->enc.n_layer, T->enc.d_model, T->enc.n_head, T->enc.d_ff, T->n_vocab, T->n_pos, T->enc.d_model, T->enc.d_proj);
}

/* The pooled position of ids[0..n): the first end-of-text token; without one, the first
 * largest id (openai's argmax(ids), which is the same whenever the end token is there and is
 * the largest id of the vocabulary, as in CLIP's). */
static int jc_clip_text_eot(const jc_clip_text *T, const int32_t *ids, int n)
{
    int best = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] == T->eot_id) return i;
        if (ids[i] > ids[best]) best = i;
    }
    return best;
}

/* The text tower over n sequences stacked in ids (sequence s: len[s] ids): each runs up to its
 * pooled token only, all stacked in one pass. */
static int jc_clip_text_embed(jclip_ctx *ctx, const jc_tower *t, const int32_t *ids, const int *len, int n, float *out)
{
    const jc_clip_text *T = (const jc_clip_text *)t->w;
    const int D = T->enc.d_model;
    jc_clip_text_bufs b;
    jc_arena arena = {ctx->act[JC_TOWER_TEXT], 0};
    jc_clip_text_carve(t, ctx->max_tok, n, &arena, &b);

    jc_seqs seqs;
    int n_tok = 0, off = 0;
    seqs.n = n;
    for (int s = 0; s < n; off += len[s], s++) {
        for (int i = 0; i < len[s]; i++)
            if (ids[off + i] < 0 || ids[off + i] >= T->n_vocab)
                return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "token id %d at position %d is outside the vocabulary [0, %d)", ids[off + i], i,
                                   T->n_vocab);
        if (len[s] < 1) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "empty token sequence");
        int e = jc_clip_text_eot(T, ids + off, len[s]);
        if (e >= T->n_pos)
            return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "the end-of-text token is at position %d, past the %d positions of this model", e,
                               T->n_pos);
        seqs.off[s] = n_tok;
        seqs.len[s] = e + 1;
        /* x_i = token_embedding[t_i] + position_embedding[i], for i <= e */
        for (int i = 0; i <= e; i++) {
            const float *te = T->tok_emb + (size_t)ids[off + i] * D, *pe = T->pos_emb + (size_t)i * D;
            float *x = b.e.x + (size_t)(n_tok + i) * D;
            for (int c = 0; c < D; c++) x[c] = te[c] + pe[c];
        }
        n_tok += e + 1;
    }
    jc_tower_ready(ctx->m, ctx->pool, JC_TOWER_TEXT);
    ctx->tower = JC_TOWER_TEXT;

    int last[JC_MAX_SEQ]; /* the end token: the last row of each sequence */
    for (int s = 0; s < n; s++) last[s] = seqs.len[s] - 1;
    jc_clip_enc_run(ctx, &T->enc, &b.e, &seqs, n_tok, 1, last);
    memcpy(b.pooled, b.e.x, sizeof(float) * (size_t)n * (size_t)D);
    jc_clip_enc_project(ctx, &T->enc, b.pooled, T->lnf_w, T->lnf_b, n, b.proj, out);
    return JCLIP_OK;
}

static const jc_tower_desc jc_clip_text_tower = {
    "CLIP text tower", "clip", JC_TOWER_TEXT,
    jc_clip_text_present, jc_clip_text_bind, jc_clip_text_free, jc_clip_text_weights, jc_clip_text_carve, jc_clip_text_kernel_ws,
    jc_clip_text_describe, jc_clip_text_embed, NULL,
};
