/* model/jina_bert_v2.c: jina-embeddings-v2's text tower (ARCHITECTURE-CLIP.md part B), the
 * JinaBERT v2 encoder of jinaai/jina-embeddings-v2-base-en: post-LN BERT without position
 * embeddings, q/k/v with biases, attention biased by symmetric ALiBi (slopes of B.5, which
 * jc_alibi_slopes computes: the closest power of two, then every other slope of twice that),
 * a GEGLU MLP (GELU on the first half), mean pooling over the non-padding tokens, up to 8192
 * tokens. The math is jina-clip-v1's text tower with separate q, k, v weights, so this file
 * only binds the Hugging Face tensor names (JinaBertModel, no prefix) and reuses
 * model/jina_bert.c's scratch, packing list and forward pass. A text-only family: the file
 * has no vision tower. Hyperparameters: text.*, general.architecture "jina-embeddings-v2". */
#include "model.h"

static int jc_bert2_present(const jc_file *f) { return jc_file_has_tensors(f, "encoder.layer."); }

static int jc_bert2_bind(jc_tower *t, const jc_file *f, char *err, size_t cap)
{
    int type_vocab;
    JC_CHECK(jc_bert_config(t, f, &type_vocab, err, cap));
    jc_bert *T = (jc_bert *)t->w;
    t->max_tokens = 0; /* ALiBi: no position table; the context's max_tokens (<= 8192) bounds it */

    const size_t D = (size_t)T->d_model, F = (size_t)T->d_ff;
    JC_CHECK(jc_file_tensor_f32(f, "embeddings.word_embeddings.weight", &T->word_emb, err, cap, (uint64_t)T->n_vocab, D, 0, 0));
    JC_CHECK(jc_file_tensor_f32(f, "embeddings.token_type_embeddings.weight", &T->type_emb, err, cap, (uint64_t)type_vocab, D, 0, 0));
    JC_CHECK(jc_file_tensor_f32(f, "embeddings.LayerNorm.weight", &T->emb_ln_w, err, cap, D, 0, 0, 0));
    JC_CHECK(jc_file_tensor_f32(f, "embeddings.LayerNorm.bias", &T->emb_ln_b, err, cap, D, 0, 0, 0));
    T->layers = (jc_bert_layer *)JCLIP_MALLOC(sizeof(jc_bert_layer) * (size_t)T->n_layer);
    if (!T->layers) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    memset(T->layers, 0, sizeof(jc_bert_layer) * (size_t)T->n_layer);
    char name[160];
    for (int l = 0; l < T->n_layer; l++) {
        jc_bert_layer *L = &T->layers[l];
#define JC_L(field, suffix, a, b) \
    (snprintf(name, sizeof name, "encoder.layer.%d.%s", l, suffix), jc_file_tensor_f32(f, name, &L->field, err, cap, a, b, 0, 0))
#define JC_W(field, suffix, a, b) /* a linear weight: f32, bf16 or q8 (listed by jc_bert_weights) */ \
    (snprintf(name, sizeof name, "encoder.layer.%d.%s", l, suffix), jc_file_tensor_linear(f, name, &L->field, err, cap, a, b, 0, 0))
        JC_CHECK(JC_W(wq, "attention.self.query.weight", D, D));
        JC_CHECK(JC_L(bq, "attention.self.query.bias", D, 0));
        JC_CHECK(JC_W(wk, "attention.self.key.weight", D, D));
        JC_CHECK(JC_L(bk, "attention.self.key.bias", D, 0));
        JC_CHECK(JC_W(wv, "attention.self.value.weight", D, D));
        JC_CHECK(JC_L(bv, "attention.self.value.bias", D, 0));
        JC_CHECK(JC_W(wo, "attention.output.dense.weight", D, D));
        JC_CHECK(JC_L(bo, "attention.output.dense.bias", D, 0));
        JC_CHECK(JC_L(ln1_w, "attention.output.LayerNorm.weight", D, 0));
        JC_CHECK(JC_L(ln1_b, "attention.output.LayerNorm.bias", D, 0));
        JC_CHECK(JC_W(wg, "mlp.gated_layers.weight", 2 * F, D));
        JC_CHECK(JC_W(w2, "mlp.wo.weight", D, F));
        JC_CHECK(JC_L(b2, "mlp.wo.bias", D, 0));
        JC_CHECK(JC_L(ln2_w, "mlp.layernorm.weight", D, 0));
        JC_CHECK(JC_L(ln2_b, "mlp.layernorm.bias", D, 0));
#undef JC_L
#undef JC_W
    }
    return JCLIP_OK;
}

static int jc_bert2_describe(const jc_tower *t, char *buf, size_t cap)
{
    const jc_bert *T = (const jc_bert *)t->w;
    return snprintf(buf, cap, "%d layers, d_model %d, %d heads, d_ff %d (GEGLU), vocab %d, post-LN, ALiBi, mean pooling",
                    T->n_layer, T->d_model, T->n_head, T->d_ff, T->n_vocab);
}

static const jc_tower_desc jc_jina_bert_v2_tower = {
    "JinaBERT v2 text tower", "jina-embeddings-v2", JC_TOWER_TEXT,
    jc_bert2_present, jc_bert2_bind, jc_bert_free, jc_bert_weights, jc_bert_carve, jc_bert_kernel_ws, jc_bert2_describe,
    jc_bert_embed, NULL,
};
