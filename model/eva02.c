/* model/eva02.c: jina-clip-v1's vision tower (ARCHITECTURE.md section 4), a pre-LN EVA02
 * ViT-B/16: patch embedding, class token and learned positions, attention with 2-D RoPE and a
 * sub-LayerNorm before its output projection, a SwiGLU MLP with its own sub-LayerNorm, and the
 * final LayerNorm of the class token, L2-normalised. Tensors: vision_model.*, hyperparameters:
 * vision.*. */
#include "model.h"

typedef struct {
    const float *ln1_w, *ln1_b; /* [d_model] */
    const float *wq, *wk, *wv;  /* [d_model, d_model] each */
    const float *bq, *bv;       /* [d_model] (k has no bias) */
    const float *lnA_w, *lnA_b; /* inner_attn_ln [d_model] */
    const float *wp, *bp;       /* attention output projection [d_model, d_model], [d_model] */
    const float *ln2_w, *ln2_b; /* [d_model] */
    const float *w1, *b1;       /* [d_ff, d_model], [d_ff] (SiLU-gated) */
    const float *w2, *b2;       /* [d_ff, d_model], [d_ff] */
    const float *lnF_w, *lnF_b; /* ffn_ln [d_ff] */
    const float *w3, *b3;       /* [d_model, d_ff], [d_model] */
} jc_eva_layer;

typedef struct {
    int d_model, n_layer, n_head, d_head, d_ff;
    int patch, image_size, grid, n_patch, n_tok; /* n_tok = n_patch + 1 (class token first) */
    float eps, rope_theta;
    const float *cls;          /* [d_model] */
    const float *pos;          /* [n_tok, d_model] */
    const float *patch_w;      /* [d_model, 3*patch*patch] (conv weight flattened c, ky, kx) */
    const float *patch_b;      /* [d_model] */
    jc_eva_layer *layers;      /* [n_layer] */
    const float *ln_w, *ln_b;  /* [d_model] final LayerNorm */
    float *rope_cos, *rope_sin; /* [n_patch, d_head] 2-D RoPE tables, computed at load */
} jc_eva;

/* Activations of one pass over n images (their rows stacked: n * n_tok rows). */
typedef struct {
    float *x;          /* [rows, d_model] residual stream */
    float *h;          /* [rows, d_model] */
    float *q, *k, *v;  /* [rows, d_model] each */
    float *o;          /* [rows, d_model] attention output */
    float *a, *b;      /* [rows, d_ff] each: SwiGLU halves */
    float *patches;    /* [n_patch, 3*patch*patch] im2col of one image */
} jc_eva_bufs;

/* 2-D RoPE tables (EVA02 VisionRotaryEmbeddingFast): for patch p = (r, c) the first d_head/2
 * channels rotate by row angles, the rest by column angles; frequencies repeat in pairs. */
static void jc_eva_rope_tables(const jc_eva *V, float *cs, float *sn)
{
    int half = V->d_head / 2; /* channels per axis */
    for (int r = 0; r < V->grid; r++)
        for (int c = 0; c < V->grid; c++) {
            int p = r * V->grid + c;
            for (int ch = 0; ch < V->d_head; ch++) {
                int axis_pos = ch < half ? r : c;
                int f = (ch % half) / 2;
                float inv = 1.0f / powf(V->rope_theta, (float)(2 * f) / (float)half);
                float ang = (float)axis_pos * inv;
                cs[(size_t)p * V->d_head + ch] = cosf(ang);
                sn[(size_t)p * V->d_head + ch] = sinf(ang);
            }
        }
}

static int jc_eva_present(const jc_file *f) { return jc_file_has_tensors(f, "vision_model."); }

static int jc_eva_bind(jc_tower *t, const jc_file *f, char *err, size_t cap)
{
    jc_eva *V = (jc_eva *)JCLIP_MALLOC(sizeof *V);
    if (!V) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    memset(V, 0, sizeof *V);
    t->w = V;
    JC_CHECK(jc_file_meta_int(f, "vision.d_model", 1, 65536, &V->d_model, err, cap));
    JC_CHECK(jc_file_meta_int(f, "vision.n_layer", 1, 1024, &V->n_layer, err, cap));
    JC_CHECK(jc_file_meta_int(f, "vision.n_head", 1, 256, &V->n_head, err, cap));
    JC_CHECK(jc_file_meta_int(f, "vision.d_ff", 1, 1 << 20, &V->d_ff, err, cap));
    JC_CHECK(jc_file_meta_int(f, "vision.patch_size", 1, 256, &V->patch, err, cap));
    JC_CHECK(jc_file_meta_int(f, "vision.image_size", 1, 4096, &V->image_size, err, cap));
    JC_CHECK(jc_file_meta_float(f, "vision.ln_eps", 0.0f, 1.0f, &V->eps, err, cap));
    JC_CHECK(jc_file_meta_float(f, "vision.rope_theta", 1.0f, 1e9f, &V->rope_theta, err, cap));
    if (V->d_model % V->n_head || (V->d_model / V->n_head) % 4)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: vision head width must be a multiple of 4");
    V->d_head = V->d_model / V->n_head;
    if (V->image_size % V->patch)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: image size is not a multiple of the patch size");
    V->grid = V->image_size / V->patch;
    V->n_patch = V->grid * V->grid;
    V->n_tok = V->n_patch + 1;
    t->d_out = V->d_model;
    t->image_size = V->image_size;
    t->image_rows = V->n_tok;

    const size_t D = (size_t)V->d_model, F = (size_t)V->d_ff, P = (size_t)V->patch;
    char name[160];
#define JC_V(field, suffix, a, b, c, d) \
    (snprintf(name, sizeof name, "vision_model.%s", suffix), jc_file_tensor_f32(f, name, &(field), err, cap, a, b, c, d))
    JC_CHECK(JC_V(V->cls, "cls_token", 1, 1, D, 0));
    JC_CHECK(JC_V(V->pos, "pos_embed", 1, (uint64_t)V->n_tok, D, 0));
    JC_CHECK(jc_file_tensor_linear(f, "vision_model.patch_embed.proj.weight", &V->patch_w, err, cap, D, 3, P, P));
    JC_CHECK(JC_V(V->patch_b, "patch_embed.proj.bias", D, 0, 0, 0));
    JC_CHECK(JC_V(V->ln_w, "norm.weight", D, 0, 0, 0));
    JC_CHECK(JC_V(V->ln_b, "norm.bias", D, 0, 0, 0));
    V->layers = (jc_eva_layer *)JCLIP_MALLOC(sizeof(jc_eva_layer) * (size_t)V->n_layer);
    if (!V->layers) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    for (int l = 0; l < V->n_layer; l++) {
        jc_eva_layer *L = &V->layers[l];
        char sub[96];
#define JC_B(field, suffix, a, b) (snprintf(sub, sizeof sub, "blocks.%d.%s", l, suffix), JC_V(L->field, sub, a, b, 0, 0))
#define JC_W(field, suffix, a, b) /* a linear weight: f32, bf16 or q8 */ \
    (snprintf(sub, sizeof sub, "blocks.%d.%s", l, suffix), snprintf(name, sizeof name, "vision_model.%s", sub), \
     jc_file_tensor_linear(f, name, &(L->field), err, cap, a, b, 0, 0))
        JC_CHECK(JC_B(ln1_w, "norm1.weight", D, 0));
        JC_CHECK(JC_B(ln1_b, "norm1.bias", D, 0));
        JC_CHECK(JC_W(wq, "attn.q_proj.weight", D, D));
        JC_CHECK(JC_B(bq, "attn.q_bias", D, 0));
        JC_CHECK(JC_W(wk, "attn.k_proj.weight", D, D));
        JC_CHECK(JC_W(wv, "attn.v_proj.weight", D, D));
        JC_CHECK(JC_B(bv, "attn.v_bias", D, 0));
        JC_CHECK(JC_B(lnA_w, "attn.inner_attn_ln.weight", D, 0));
        JC_CHECK(JC_B(lnA_b, "attn.inner_attn_ln.bias", D, 0));
        JC_CHECK(JC_W(wp, "attn.proj.weight", D, D));
        JC_CHECK(JC_B(bp, "attn.proj.bias", D, 0));
        JC_CHECK(JC_B(ln2_w, "norm2.weight", D, 0));
        JC_CHECK(JC_B(ln2_b, "norm2.bias", D, 0));
        JC_CHECK(JC_W(w1, "mlp.w1.weight", F, D));
        JC_CHECK(JC_B(b1, "mlp.w1.bias", F, 0));
        JC_CHECK(JC_W(w2, "mlp.w2.weight", F, D));
        JC_CHECK(JC_B(b2, "mlp.w2.bias", F, 0));
        JC_CHECK(JC_B(lnF_w, "mlp.ffn_ln.weight", F, 0));
        JC_CHECK(JC_B(lnF_b, "mlp.ffn_ln.bias", F, 0));
        JC_CHECK(JC_W(w3, "mlp.w3.weight", D, F));
        JC_CHECK(JC_B(b3, "mlp.w3.bias", D, 0));
#undef JC_B
#undef JC_W
    }
#undef JC_V
    size_t n_rope;
    if (!jc_mul3((size_t)V->n_patch, (size_t)V->d_head, sizeof(float), &n_rope) ||
        !(V->rope_cos = (float *)JCLIP_MALLOC(n_rope)) || !(V->rope_sin = (float *)JCLIP_MALLOC(n_rope)))
        return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory for the RoPE tables");
    jc_eva_rope_tables(V, V->rope_cos, V->rope_sin);
    return JCLIP_OK;
}

static void jc_eva_free(jc_tower *t)
{
    jc_eva *V = (jc_eva *)t->w;
    if (V) {
        JCLIP_FREE(V->layers);
        JCLIP_FREE(V->rope_cos);
        JCLIP_FREE(V->rope_sin);
    }
    JCLIP_FREE(V);
    t->w = NULL;
}

static int jc_eva_weights(const jc_tower *t, jc_weight *w)
{
    const jc_eva *V = (const jc_eva *)t->w;
    const int D = V->d_model, F = V->d_ff;
    int n = 0;
    if (w) w[n] = (jc_weight){V->patch_w, D, 3 * V->patch * V->patch};
    n++;
    for (int l = 0; l < V->n_layer; l++) {
        const jc_eva_layer *L = &V->layers[l];
        const jc_weight mine[7] = {{L->wq, D, D}, {L->wk, D, D}, {L->wv, D, D}, {L->wp, D, D},
                                   {L->w1, F, D}, {L->w2, F, D}, {L->w3, D, F}};
        for (int i = 0; i < 7; i++, n++)
            if (w) w[n] = mine[i];
    }
    return n;
}

/* The MLP runs on blocks of at most this many rows: its two [rows, d_ff] intermediates then stay
 * in L2 between the products and the gate (the q8 GEMM streams the weights per 256 rows anyway),
 * and a batch of images needs them only this large. */
#ifndef JC_EVA_MLP_ROWS
#define JC_EVA_MLP_ROWS 256
#endif

static void jc_eva_carve(const jc_tower *t, int max_tok, int n_items, jc_arena *a, void *bufs)
{
    const jc_eva *V = (const jc_eva *)t->w;
    const size_t rows = (size_t)n_items * (size_t)V->n_tok, D = (size_t)V->d_model, F = (size_t)V->d_ff;
    const size_t mlp_rows = rows < JC_EVA_MLP_ROWS ? rows : JC_EVA_MLP_ROWS; /* the MLP's blocks */
    jc_eva_bufs b;
    (void)max_tok;
    b.x = JC_TAKE_F(a, rows * D);
    b.h = JC_TAKE_F(a, rows * D);
    b.q = JC_TAKE_F(a, rows * D);
    b.k = JC_TAKE_F(a, rows * D);
    b.v = JC_TAKE_F(a, rows * D);
    b.o = JC_TAKE_F(a, rows * D);
    b.a = JC_TAKE_F(a, mlp_rows * F);
    b.b = JC_TAKE_F(a, mlp_rows * F);
    b.patches = JC_TAKE_F(a, (size_t)V->n_patch * 3 * (size_t)V->patch * (size_t)V->patch);
    if (bufs) *(jc_eva_bufs *)bufs = b;
}

static size_t jc_eva_kernel_ws(const jc_tower *t, const jc_ops *ops, int max_tok)
{
    const jc_eva *V = (const jc_eva *)t->w;
    int k = V->d_model > V->d_ff ? V->d_model : V->d_ff;
    if (3 * V->patch * V->patch > k) k = 3 * V->patch * V->patch;
    (void)max_tok;
    size_t lw = ops->linear_ws(V->n_tok, k), aw = ops->attention_ws(V->n_tok, V->d_head, JC_ATTN_QBLOCK);
    return lw > aw ? lw : aw;
}

static int jc_eva_describe(const jc_tower *t, char *buf, size_t cap)
{
    const jc_eva *V = (const jc_eva *)t->w;
    return snprintf(buf, cap, "%d layers, d_model %d, %d heads, d_ff %d (SwiGLU), patch %d, image %d, 2-D RoPE, CLS pooling",
                    V->n_layer, V->d_model, V->n_head, V->d_ff, V->patch, V->image_size);
}

/* RoPE on row r of q (a->y; NULL: keys only) and of k (a->y2) (rows of images stacked, n_tok
 * each); class-token rows stay. */
static void jc_eva_rope_row(const jc_rows_task *a, int r)
{
    const jc_eva *V = (const jc_eva *)a->user;
    const int p = r % V->n_tok - 1; /* patch index within its image */
    if (p < 0) return;
    const float *cs = V->rope_cos + (size_t)p * V->d_head, *sn = V->rope_sin + (size_t)p * V->d_head;
    float *rows[2] = {a->y ? a->y + (size_t)r * V->d_model : NULL, a->y2 + (size_t)r * V->d_model};
    for (int qk = a->y ? 0 : 1; qk < 2; qk++)
        for (int h = 0; h < V->n_head; h++) {
            float *u = rows[qk] + (size_t)h * V->d_head;
            for (int c = 0; c < V->d_head; c += 2) { /* interleaved pairs */
                float x0 = u[c], x1 = u[c + 1];
                u[c] = x0 * cs[c] - x1 * sn[c];
                u[c + 1] = x1 * cs[c + 1] + x0 * sn[c + 1];
            }
        }
}

/* im2col of one image: one row per patch in (channel, ky, kx) order, the conv weight's. */
static void jc_eva_im2col(const jc_eva *V, const float *pixels, float *patches)
{
    const int P = V->patch, S = V->image_size, kp = 3 * P * P;
    for (int r = 0; r < V->grid; r++)
        for (int c = 0; c < V->grid; c++) {
            float *dst = patches + (size_t)(r * V->grid + c) * kp;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(dst + (ch * P + ky) * P, pixels + ((size_t)ch * S + (size_t)(r * P + ky)) * S + (size_t)c * P,
                           sizeof(float) * (size_t)P);
        }
}

/* The vision tower over n images (pixels[i]: [3, image_size, image_size] normalised floats) at
 * once: every matrix product over all n * n_tok rows, attention within each image. A row's
 * result does not depend on the other rows, so an image embeds bitwise alike alone or in a
 * batch. */
static int jc_eva_embed(jclip_ctx *ctx, const jc_tower *t, const float *const *pixels, int n, float *out)
{
    const jc_eva *V = (const jc_eva *)t->w;
    const int d_model = V->d_model, d_ff = V->d_ff, n_tok = n * V->n_tok;
    jc_eva_bufs b;
    jc_arena arena = {ctx->act[JC_TOWER_VISION], 0};
    jc_eva_carve(t, ctx->max_tok, n, &arena, &b);
    jc_tower_ready(ctx->m, ctx->pool, JC_TOWER_VISION);
    ctx->tower = JC_TOWER_VISION;

    /* x = [cls; patches Wpatch + b] + pos, per image */
    for (int i = 0; i < n; i++) {
        float *xi = b.x + (size_t)i * V->n_tok * d_model;
        jc_eva_im2col(V, pixels[i], b.patches);
        jc_linear(ctx, xi + d_model, b.patches, V->patch_w, V->patch_b, V->n_patch, 3 * V->patch * V->patch, d_model);
        memcpy(xi, V->cls, sizeof(float) * (size_t)d_model);
        for (size_t j = 0; j < (size_t)V->n_tok * d_model; j++) xi[j] += V->pos[j];
    }

    jc_seqs seqs;
    seqs.n = n;
    for (int i = 0; i < n; i++) seqs.off[i] = i * V->n_tok, seqs.len[i] = V->n_tok;
    jc_attn at = {b.o, (size_t)d_model, b.q, b.k, b.v, (size_t)d_model, (size_t)d_model, (size_t)d_model, NULL, &seqs,
                  V->n_head, V->d_head, 1.0f / sqrtf((float)V->d_head), NULL, 0, NULL};
    jc_rows_task rope;
    memset(&rope, 0, sizeof rope);
    rope.row = jc_eva_rope_row, rope.rows = n_tok, rope.y2 = b.k, rope.user = V;
    int m = n_tok; /* rows past the attention: all, then (last layer, n_layer >= 1) the class tokens */
    for (int l = 0; l < V->n_layer; l++) {
        const jc_eva_layer *L = &V->layers[l];
        jc_layernorm_rows(ctx, b.h, b.x, L->ln1_w, L->ln1_b, n_tok, d_model, V->eps);       /* h = LN1(x) */
        if (l < V->n_layer - 1) {
            jc_linear(ctx, b.q, b.h, L->wq, L->bq, n_tok, d_model, d_model);                 /* q = h Wq + bq */
            jc_linear_again(ctx, b.k, b.h, L->wk, NULL, n_tok, d_model, d_model);            /* k = h Wk */
            jc_linear_again(ctx, b.v, b.h, L->wv, L->bv, n_tok, d_model, d_model);           /* v = h Wv + bv */
            rope.y = b.q;
        } else { /* the last layer: past the keys and values, the class tokens alone (7% of the work saved) */
            jc_linear(ctx, b.k, b.h, L->wk, NULL, n_tok, d_model, d_model);                  /* k = h Wk */
            jc_linear_again(ctx, b.v, b.h, L->wv, L->bv, n_tok, d_model, d_model);           /* v = h Wv + bv */
            at.sel = jc_row0, rope.y = NULL;                                                 /* class tokens need no RoPE */
            m = jc_pool_last_layer(ctx, &at, b.q, b.h, b.o, b.x, L->wq, L->bq, d_model);     /* q, x = those of the class tokens */
        }
        jc_for_rows(ctx, &rope);                                                             /* q, k = RoPE(q, k) */
        jc_attention(ctx, &at);                                                              /* o = softmax(q k^T / sqrt(d_head)) v */
        jc_layernorm_rows(ctx, b.o, b.o, L->lnA_w, L->lnA_b, m, d_model, V->eps);            /* o = LN_attn(o) */
        jc_linear(ctx, b.h, b.o, L->wp, L->bp, m, d_model, d_model);                         /* h = o Wp + bp */
        jc_add_rows(ctx, b.x, b.h, m, d_model);                                              /* x = x + h */
        jc_layernorm_rows(ctx, b.h, b.x, L->ln2_w, L->ln2_b, m, d_model, V->eps);           /* h = LN2(x) */
        for (int r0 = 0; r0 < m; r0 += JC_EVA_MLP_ROWS) { /* the MLP in blocks of rows (see JC_EVA_MLP_ROWS) */
            const int nr = m - r0 < JC_EVA_MLP_ROWS ? m - r0 : JC_EVA_MLP_ROWS;
            float *h = b.h + (size_t)r0 * d_model; /* the block's rows of h: input, then output */
            jc_linear(ctx, b.a, h, L->w1, L->b1, nr, d_model, d_ff);                          /* a = h W1 + b1 */
            jc_linear_again(ctx, b.b, h, L->w2, L->b2, nr, d_model, d_ff);                    /* b = h W2 + b2 */
            jc_swiglu_layernorm_linear(ctx, h, b.a, b.b, L->lnF_w, L->lnF_b, V->eps, L->w3, L->b3, nr, d_ff,
                                       d_model); /* a = LN_ffn(SiLU(a) * b); h = a W3 + b3 */
        }
        jc_add_rows(ctx, b.x, b.h, m, d_model);                                              /* x = x + h */
    }
    for (int i = 0; i < n; i++) { /* embedding = L2(LN(x[cls])) */
        ctx->ops->layernorm(b.h, b.x + (size_t)i * d_model, V->ln_w, V->ln_b, d_model, V->eps);
        jc_l2_normalize(out + (size_t)i * t->d_out, b.h, d_model);
    }
    return JCLIP_OK;
}

static const jc_tower_desc jc_eva02_tower = {
    "EVA02 vision tower", "jina-clip-v1", JC_TOWER_VISION,
    jc_eva_present, jc_eva_bind, jc_eva_free, jc_eva_weights, jc_eva_carve, jc_eva_kernel_ws, jc_eva_describe,
    NULL, jc_eva_embed,
};
