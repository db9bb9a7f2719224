/* model/jina_bert.c: jina-clip-v1's text tower (ARCHITECTURE.md section 3), a post-LN JinaBERT:
 * BERT without position embeddings, attention biased by symmetric ALiBi, a GEGLU MLP, mean
 * pooling over the non-padding tokens, L2 normalisation. Tensors: text_model.transformer.*,
 * hyperparameters: text.*.
 *
 * jina-embeddings-v2 (model/jina_bert_v2.c) is the same math with separate q, k, v weights:
 * its bind fills wq/wk/wv instead of wqkv and shares everything else here. */
#include "model.h"

typedef struct {
    const float *wqkv;          /* [3*d_model, d_model] rows: q (all heads), k, v; NULL: wq, wk, wv */
    const float *bqkv;          /* [3*d_model] */
    const float *wq, *wk, *wv;  /* [d_model, d_model] each (jina-embeddings-v2), when wqkv is NULL */
    const float *bq, *bk, *bv;  /* [d_model] each */
    const float *wo;            /* [d_model, d_model] attention output projection */
    const float *bo;            /* [d_model] */
    const float *ln1_w, *ln1_b; /* [d_model] post-attention LayerNorm */
    const float *wg;            /* [2*d_ff, d_model]: rows 0..d_ff-1 gated (GELU), d_ff.. linear */
    const float *w2;            /* [d_model, d_ff] */
    const float *b2;            /* [d_model] */
    const float *ln2_w, *ln2_b; /* [d_model] post-MLP LayerNorm */
} jc_bert_layer;

typedef struct {
    int n_vocab, d_model, n_layer, n_head, d_head, d_ff;
    float eps;                      /* LayerNorm epsilon */
    const float *word_emb;          /* [n_vocab, d_model] */
    const float *type_emb;          /* [type_vocab, d_model]; row 0 is used */
    const float *emb_ln_w, *emb_ln_b; /* [d_model] */
    jc_bert_layer *layers;          /* [n_layer] */
    float slopes[64];               /* ALiBi slope per head */
} jc_bert;

/* Activations of one pass over at most max_tok tokens (every text of a batch stacked). */
typedef struct {
    uint8_t *valid; /* [n_tok] 1 for tokens that are not padding: attention keys and pooling */
    float *x;       /* [n_tok, d_model] residual stream */
    float *qkv;     /* [n_tok, 3*d_model]: rows q|k|v (fused weight), or blocks q, k, v of [n_tok, d_model] */
    float *att;     /* [n_tok, d_model] attention output, heads side by side */
    float *tmp;     /* [n_tok, d_model] */
    float *g;       /* [n_tok, 2*d_ff] gated MLP input */
    float *u;       /* [n_tok, d_ff] */
    float *pooled;  /* [d_model] */
} jc_bert_bufs;

/* ALiBi slopes (ofirpress get_alibi_slopes): geometric for a power of two, else the closest
 * power of two plus every other slope of twice that. */
static void jc_alibi_slopes(int n, float *out)
{
    int c = 1;
    while (c * 2 <= n) c *= 2;
    for (int k = 0; k < c; k++) {
        double start = pow(2.0, -pow(2.0, -(log2((double)c) - 3.0)));
        out[k] = (float)pow(start, k + 1);
    }
    for (int k = 0; k < n - c; k++) {
        double start = pow(2.0, -pow(2.0, -(log2((double)(2 * c)) - 3.0)));
        out[c + k] = (float)pow(start, 2 * k + 1);
    }
}

static int jc_bert_present(const jc_file *f) { return jc_file_has_tensors(f, "text_model."); }

/* Allocates t->w and reads the text.* hyperparameters shared by both JinaBERT bindings
 * (jina-clip-v1's fused q/k/v here, jina-embeddings-v2's separate ones in jina_bert_v2.c). */
static int jc_bert_config(jc_tower *t, const jc_file *f, int *type_vocab, char *err, size_t cap)
{
    jc_bert *T = (jc_bert *)JCLIP_MALLOC(sizeof *T);
    if (!T) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    memset(T, 0, sizeof *T);
    t->w = T;
    JC_CHECK(jc_file_meta_int(f, "text.vocab_size", 1, 1 << 24, &T->n_vocab, err, cap));
    JC_CHECK(jc_file_meta_int(f, "text.d_model", 1, 65536, &T->d_model, err, cap));
    JC_CHECK(jc_file_meta_int(f, "text.n_layer", 1, 1024, &T->n_layer, err, cap));
    JC_CHECK(jc_file_meta_int(f, "text.n_head", 1, 64, &T->n_head, err, cap));
    JC_CHECK(jc_file_meta_int(f, "text.d_ff", 1, 1 << 20, &T->d_ff, err, cap));
    JC_CHECK(jc_file_meta_float(f, "text.ln_eps", 0.0f, 1.0f, &T->eps, err, cap));
    JC_CHECK(jc_file_meta_int(f, "text.type_vocab_size", 1, 1024, type_vocab, err, cap));
    if (T->d_model % T->n_head)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: text d_model %d is not a multiple of n_head %d", T->d_model, T->n_head);
    T->d_head = T->d_model / T->n_head;
    jc_alibi_slopes(T->n_head, T->slopes);
    t->d_out = T->d_model;
    t->n_vocab = T->n_vocab;
    t->pad_id = 0; /* [PAD]: masked as a key and left out of the mean */
    return JCLIP_OK;
}

static int jc_bert_bind(jc_tower *t, const jc_file *f, char *err, size_t cap)
{
    int type_vocab;
    JC_CHECK(jc_bert_config(t, f, &type_vocab, err, cap));
    jc_bert *T = (jc_bert *)t->w;

    const size_t D = (size_t)T->d_model, F = (size_t)T->d_ff;
    char name[160];
#define JC_T(field, suffix, a, b) \
    (snprintf(name, sizeof name, "text_model.transformer.%s", suffix), jc_file_tensor_f32(f, name, &(field), err, cap, a, b, 0, 0))
    JC_CHECK(JC_T(T->word_emb, "embeddings.word_embeddings.weight", (uint64_t)T->n_vocab, D));
    JC_CHECK(JC_T(T->type_emb, "embeddings.token_type_embeddings.weight", (uint64_t)type_vocab, D));
    JC_CHECK(JC_T(T->emb_ln_w, "emb_ln.weight", D, 0));
    JC_CHECK(JC_T(T->emb_ln_b, "emb_ln.bias", D, 0));
    T->layers = (jc_bert_layer *)JCLIP_MALLOC(sizeof(jc_bert_layer) * (size_t)T->n_layer);
    if (!T->layers) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    for (int l = 0; l < T->n_layer; l++) {
        jc_bert_layer *L = &T->layers[l];
        char sub[96];
#define JC_L(field, suffix, a, b) (snprintf(sub, sizeof sub, "encoder.layers.%d.%s", l, suffix), JC_T(L->field, sub, a, b))
#define JC_W(field, suffix, a, b) /* a linear weight: f32, bf16 or q8 */ \
    (snprintf(sub, sizeof sub, "encoder.layers.%d.%s", l, suffix), snprintf(name, sizeof name, "text_model.transformer.%s", sub), \
     jc_file_tensor_linear(f, name, &(L->field), err, cap, a, b, 0, 0))
        JC_CHECK(JC_W(wqkv, "mixer.Wqkv.weight", 3 * D, D));
        JC_CHECK(JC_L(bqkv, "mixer.Wqkv.bias", 3 * D, 0));
        JC_CHECK(JC_W(wo, "mixer.out_proj.weight", D, D));
        JC_CHECK(JC_L(bo, "mixer.out_proj.bias", D, 0));
        JC_CHECK(JC_L(ln1_w, "norm1.weight", D, 0));
        JC_CHECK(JC_L(ln1_b, "norm1.bias", D, 0));
        JC_CHECK(JC_W(wg, "mlp.gated_layers.weight", 2 * F, D));
        JC_CHECK(JC_W(w2, "mlp.wo.weight", D, F));
        JC_CHECK(JC_L(b2, "mlp.wo.bias", D, 0));
        JC_CHECK(JC_L(ln2_w, "norm2.weight", D, 0));
        JC_CHECK(JC_L(ln2_b, "norm2.bias", D, 0));
#undef JC_L
#undef JC_W
    }
#undef JC_T
    return JCLIP_OK;
}

static void jc_bert_free(jc_tower *t)
{
    jc_bert *T = (jc_bert *)t->w;
    if (T) JCLIP_FREE(T->layers);
    JCLIP_FREE(T);
    t->w = NULL;
}

static int jc_bert_weights(const jc_tower *t, jc_weight *w)
{
    const jc_bert *T = (const jc_bert *)t->w;
    const int D = T->d_model;
    int n = 0;
    for (int l = 0; l < T->n_layer; l++) {
        const jc_bert_layer *L = &T->layers[l];
        const jc_weight fused[4] = {{L->wqkv, 3 * D, D}, {L->wo, D, D},
                                    {L->wg, 2 * T->d_ff, D}, {L->w2, D, T->d_ff}};
        const jc_weight split[6] = {{L->wq, D, D}, {L->wk, D, D}, {L->wv, D, D}, {L->wo, D, D},
                                    {L->wg, 2 * T->d_ff, D}, {L->w2, D, T->d_ff}};
        const jc_weight *mine = L->wqkv ? fused : split;
        for (int i = 0; i < (L->wqkv ? 4 : 6); i++, n++)
            if (w) w[n] = mine[i];
    }
    return n;
}

static void jc_bert_carve(const jc_tower *t, int max_tok, int n_items, jc_arena *a, void *bufs)
{
    const jc_bert *T = (const jc_bert *)t->w;
    const size_t n_tok = (size_t)max_tok, D = (size_t)T->d_model, F = (size_t)T->d_ff;
    jc_bert_bufs b;
    (void)n_items; /* a batch shares the max_tok rows */
    b.valid = (uint8_t *)jc_arena_take(a, n_tok, 1);
    b.x = JC_TAKE_F(a, n_tok * D);
    b.qkv = JC_TAKE_F(a, n_tok * 3 * D);
    b.att = JC_TAKE_F(a, n_tok * D);
    b.tmp = JC_TAKE_F(a, n_tok * D);
    b.g = JC_TAKE_F(a, n_tok * 2 * F);
    b.u = JC_TAKE_F(a, n_tok * F);
    b.pooled = JC_TAKE_F(a, D);
    if (bufs) *(jc_bert_bufs *)bufs = b;
}

static size_t jc_bert_kernel_ws(const jc_tower *t, const jc_ops *ops, int max_tok)
{
    const jc_bert *T = (const jc_bert *)t->w;
    size_t lw = ops->linear_ws(max_tok, T->d_model > T->d_ff ? T->d_model : T->d_ff);
    size_t aw = ops->attention_ws(max_tok, T->d_head, JC_ATTN_QBLOCK);
    return lw > aw ? lw : aw;
}

static int jc_bert_describe(const jc_tower *t, char *buf, size_t cap)
{
    const jc_bert *T = (const jc_bert *)t->w;
    return snprintf(buf, cap, "%d layers, d_model %d, %d heads, d_ff %d (GEGLU), vocab %d, ALiBi, mean pooling",
                    T->n_layer, T->d_model, T->n_head, T->d_ff, T->n_vocab);
}

/* The text tower over n token sequences stacked in ids (sequence s: len[s] ids), at most the
 * context's max_tok ids in all. Every matrix product runs over all rows at once; attention and
 * pooling stay within a sequence. A row's result never depends on the other rows (the kernels
 * compute every row alike, see kernels.h), so a text gives bitwise the same embedding alone or
 * in any batch. */
static int jc_bert_embed(jclip_ctx *ctx, const jc_tower *t, const int32_t *ids, const int *len, int n, float *out)
{
    const jc_bert *T = (const jc_bert *)t->w;
    const int d_model = T->d_model, d_ff = T->d_ff;
    const int32_t pad = t->pad_id;
    jc_bert_bufs b;
    jc_arena arena = {ctx->act[JC_TOWER_TEXT], 0};
    jc_bert_carve(t, ctx->max_tok, n, &arena, &b);

    jc_seqs seqs;
    int n_tok = 0;
    seqs.n = n;
    for (int s = 0; s < n; s++) {
        int n_valid = 0;
        seqs.off[s] = n_tok;
        seqs.len[s] = len[s];
        for (int i = n_tok; i < n_tok + len[s]; i++) {
            if (ids[i] < 0 || ids[i] >= T->n_vocab)
                return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "token id %d at position %d is outside the vocabulary [0, %d)", ids[i],
                                   i - n_tok, T->n_vocab);
            b.valid[i] = ids[i] != pad;
            n_valid += b.valid[i];
        }
        if (n_valid == 0) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "every token is padding (id %d): nothing to embed", pad);
        n_tok += len[s];
    }
    jc_tower_ready(ctx->m, ctx->pool, JC_TOWER_TEXT);
    ctx->tower = JC_TOWER_TEXT;

    /* x = LN(word_emb[id] + type_emb[0]) */
    float *x = b.x;
    for (int i = 0; i < n_tok; i++) {
        const float *we = T->word_emb + (size_t)ids[i] * d_model;
        for (int c = 0; c < d_model; c++) x[(size_t)i * d_model + c] = we[c] + T->type_emb[c];
    }
    jc_layernorm_rows(ctx, x, x, T->emb_ln_w, T->emb_ln_b, n_tok, d_model, T->eps);

    /* q, k, v: interleaved rows of one fused product, or three blocks of [n_tok, d_model] */
    const int fused = T->layers[0].wqkv != NULL;
    float *q = b.qkv, *k = fused ? b.qkv + d_model : b.qkv + (size_t)n_tok * d_model,
          *v = fused ? b.qkv + 2 * d_model : b.qkv + 2 * (size_t)n_tok * d_model;
    const size_t ld = fused ? 3 * (size_t)d_model : (size_t)d_model;
    jc_attn at = {b.att, (size_t)d_model, q, k, v, ld, ld, ld, b.valid, &seqs, T->n_head, T->d_head,
                  1.0f / sqrtf((float)T->d_head), T->slopes, 0, NULL};
    for (int l = 0; l < T->n_layer; l++) {
        const jc_bert_layer *L = &T->layers[l];
        if (fused) {
            jc_linear(ctx, b.qkv, x, L->wqkv, L->bqkv, n_tok, d_model, 3 * d_model); /* q, k, v = x Wqkv + b */
        } else {
            jc_linear(ctx, q, x, L->wq, L->bq, n_tok, d_model, d_model);             /* q = x Wq + bq */
            jc_linear_again(ctx, k, x, L->wk, L->bk, n_tok, d_model, d_model);       /* k = x Wk + bk */
            jc_linear_again(ctx, v, x, L->wv, L->bv, n_tok, d_model, d_model);       /* v = x Wv + bv */
        }
        jc_attention(ctx, &at);                                                     /* att = softmax(q k^T / sqrt(d_head) - ALiBi) v */
        jc_linear(ctx, b.tmp, b.att, L->wo, L->bo, n_tok, d_model, d_model);        /* tmp = att Wo + b */
        jc_add_layernorm_rows(ctx, x, b.tmp, L->ln1_w, L->ln1_b, n_tok, d_model, T->eps); /* x = LN(x + tmp) */
        jc_linear(ctx, b.g, x, L->wg, NULL, n_tok, d_model, 2 * d_ff);               /* g = x Wg */
        jc_geglu_linear(ctx, b.tmp, b.u, b.g, L->w2, L->b2, n_tok, d_ff, d_model);  /* u = GELU(g_gate) * g_lin; tmp = u W2 + b */
        jc_add_layernorm_rows(ctx, x, b.tmp, L->ln2_w, L->ln2_b, n_tok, d_model, T->eps); /* x = LN(x + tmp) */
    }

    /* per sequence: mean over the non-padding tokens, then L2 */
    for (int s = 0; s < n; s++) {
        int n_valid = 0;
        const int i0 = seqs.off[s], i1 = seqs.off[s] + seqs.len[s];
        for (int i = i0; i < i1; i++) n_valid += b.valid[i];
        for (int c = 0; c < d_model; c++) {
            double sum = 0;
            for (int i = i0; i < i1; i++)
                if (b.valid[i]) sum += x[(size_t)i * d_model + c];
            b.pooled[c] = (float)(sum / n_valid);
        }
        jc_l2_normalize(out + (size_t)s * t->d_out, b.pooled, d_model);
    }
    return JCLIP_OK;
}

static const jc_tower_desc jc_jina_bert_tower = {
    "JinaBERT text tower", "jina-clip-v1", JC_TOWER_TEXT,
    jc_bert_present, jc_bert_bind, jc_bert_free, jc_bert_weights, jc_bert_carve, jc_bert_kernel_ws, jc_bert_describe,
    jc_bert_embed, NULL,
};
