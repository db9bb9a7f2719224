/* model/clip_vision.c: OpenAI CLIP's vision tower (ARCHITECTURE-CLIP.md A.4, A.6), a pre-LN
 * ViT (B/32, B/16):
 *
 *   patches = conv(pixels, patch_embedding, stride p), no bias     [grid * grid, d_model]
 *   x = [class_embedding; patches] + position_embedding
 *   x = LN(x; pre_layrnorm)                                         (openai ln_pre)
 *   the encoder layers of model/clip_text.c, without a mask
 *   embedding = L2(LN(x_0; post_layernorm) W_visual_projection^T)  (class token only)
 *
 * Tensors: vision_model.*, visual_projection.weight; hyperparameters: vision.*,
 * general.architecture "clip". The input is [3, image_size, image_size], preprocessed as
 * Hugging Face's CLIPImageProcessor does (preprocess.mode "clip", image/preprocess.c). */
#include "model.h"

typedef struct {
    jc_clip_enc enc;
    int patch, image_size, grid, n_patch, n_tok; /* n_tok = n_patch + 1 (class token first) */
    const float *cls;            /* [d_model] */
    const float *patch_w;        /* [d_model, 3*patch*patch] (conv weight flattened c, ky, kx) */
    const float *pos;            /* [n_tok, d_model] */
    const float *pre_w, *pre_b;  /* [d_model] pre_layrnorm */
    const float *post_w, *post_b; /* [d_model] post_layernorm */
} jc_clip_vis;

typedef struct {
    jc_clip_bufs e;
    float *patches;  /* [n_patch, 3*patch*patch] im2col of one image */
    float *pooled;   /* [n_items, d_model] */
    float *proj;     /* [n_items, d_proj] */
} jc_clip_vis_bufs;

static int jc_clip_vis_present(const jc_file *f) { return jc_file_has_tensors(f, "vision_model."); }

static int jc_clip_vis_bind(jc_tower *t, const jc_file *f, char *err, size_t cap)
{
    jc_clip_vis *V = (jc_clip_vis *)JCLIP_MALLOC(sizeof *V);
    if (!V) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    memset(V, 0, sizeof *V);
    t->w = V;
    JC_CHECK(jc_clip_enc_meta(f, "vision", &V->enc, err, cap));
    JC_CHECK(jc_file_meta_int(f, "vision.patch_size", 1, 256, &V->patch, err, cap));
    JC_CHECK(jc_file_meta_int(f, "vision.image_size", 1, 4096, &V->image_size, err, cap));
    if (V->image_size % V->patch)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: image size %d is not a multiple of the patch size %d", V->image_size,
                       V->patch);
    V->grid = V->image_size / V->patch;
    V->n_patch = V->grid * V->grid;
    V->n_tok = V->n_patch + 1;
    if (V->n_tok > 65536) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: %d patches are too many", V->n_patch);
    const uint64_t D = (uint64_t)V->enc.d_model, P = (uint64_t)V->patch;
    JC_CHECK(jc_file_tensor_f32(f, "vision_model.embeddings.class_embedding", &V->cls, err, cap, D, 0, 0, 0));
    JC_CHECK(jc_file_tensor_linear(f, "vision_model.embeddings.patch_embedding.weight", &V->patch_w, err, cap, D, 3, P, P));
    JC_CHECK(jc_file_tensor_f32(f, "vision_model.embeddings.position_embedding.weight", &V->pos, err, cap, (uint64_t)V->n_tok, D, 0, 0));
    JC_CHECK(jc_file_tensor_f32(f, "vision_model.pre_layrnorm.weight", &V->pre_w, err, cap, D, 0, 0, 0));
    JC_CHECK(jc_file_tensor_f32(f, "vision_model.pre_layrnorm.bias", &V->pre_b, err, cap, D, 0, 0, 0));
    JC_CHECK(jc_file_tensor_f32(f, "vision_model.post_layernorm.weight", &V->post_w, err, cap, D, 0, 0, 0));
    JC_CHECK(jc_file_tensor_f32(f, "vision_model.post_layernorm.bias", &V->post_b, err, cap, D, 0, 0, 0));
    JC_CHECK(jc_clip_enc_bind(f, "vision_model.", "visual_projection.weight", &V->enc, err, cap));
    t->d_out = V->enc.d_proj;
    t->image_size = V->image_size;
    t->image_rows = V->n_tok;
    return JCLIP_OK;
}

static void jc_clip_vis_free(jc_tower *t)
{
    jc_clip_vis *V = (jc_clip_vis *)t->w;
    if (V) jc_clip_enc_free(&V->enc);
    JCLIP_FREE(V);
    t->w = NULL;
}

static int jc_clip_vis_weights(const jc_tower *t, jc_weight *w)
{
    const jc_clip_vis *V = (const jc_clip_vis *)t->w;
    if (w) w[0] = (jc_weight){V->patch_w, V->enc.d_model, 3 * V->patch * V->patch};
    return jc_clip_enc_weights(&V->enc, w, 1);
}

static void jc_clip_vis_carve(const jc_tower *t, int max_tok, int n_items, jc_arena *a, void *bufs)
{
    const jc_clip_vis *V = (const jc_clip_vis *)t->w;
    jc_clip_vis_bufs b;
    (void)max_tok;
    jc_clip_enc_carve(&V->enc, (size_t)n_items * (size_t)V->n_tok, a, &b.e);
    b.patches = JC_TAKE_F(a, (size_t)V->n_patch * 3 * (size_t)V->patch * (size_t)V->patch);
    b.pooled = JC_TAKE_F(a, (size_t)n_items * (size_t)V->enc.d_model);
    b.proj = JC_TAKE_F(a, (size_t)n_items * (size_t)V->enc.d_proj);
    if (bufs) *(jc_clip_vis_bufs *)bufs = b;
}

static size_t jc_clip_vis_kernel_ws(const jc_tower *t, const jc_ops *ops, int max_tok)
{
    const jc_clip_vis *V = (const jc_clip_vis *)t->w;
    (void)max_tok;
    int rows = V->n_tok > JC_MAX_SEQ ? V->n_tok : JC_MAX_SEQ;
    return jc_clip_enc_kernel_ws(&V->enc, ops, rows, 3 * V->patch * V->patch);
}

static int jc_clip_vis_describe(const jc_tower *t, char *buf, size_t cap)
{
    const jc_clip_vis *V = (const jc_clip_vis *)t->w;
    return snprintf(buf, cap, "%d layers, d_model %d, %d heads, d_ff %d (quick-GELU), patch %d, image %d, CLS pooling, "
                    "projection %d -> %d",
                    V->enc.n_layer, V->enc.d_model, V->enc.n_head, V->enc.d_ff, V->patch, V->image_size, V->enc.d_model, V->enc.d_proj);
}

/* im2col of one image: one row per patch in (channel, ky, kx) order, the conv weight's. */
static void jc_clip_vis_im2col(const jc_clip_vis *V, const float *pixels, float *patches)
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

/* The vision tower over n images (pixels[i]: [3, image_size, image_size]) at once: every
 * matrix product over all n * n_tok rows, attention within each image. */
static int jc_clip_vis_embed(jclip_ctx *ctx, const jc_tower *t, const float *const *pixels, int n, float *out)
{
    const jc_clip_vis *V = (const jc_clip_vis *)t->w;
    const int D = V->enc.d_model, n_tok = n * V->n_tok;
    jc_clip_vis_bufs b;
    jc_arena arena = {ctx->act[JC_TOWER_VISION], 0};
    jc_clip_vis_carve(t, ctx->max_tok, n, &arena, &b);
    jc_tower_ready(ctx->m, ctx->pool, JC_TOWER_VISION);
    ctx->tower = JC_TOWER_VISION;

    /* x = LN_pre([cls; patches Wpatch] + pos), per image */
    for (int i = 0; i < n; i++) {
        float *xi = b.e.x + (size_t)i * V->n_tok * D;
        jc_clip_vis_im2col(V, pixels[i], b.patches);
        jc_linear(ctx, xi + D, b.patches, V->patch_w, NULL, V->n_patch, 3 * V->patch * V->patch, D);
        memcpy(xi, V->cls, sizeof(float) * (size_t)D);
        for (size_t j = 0; j < (size_t)V->n_tok * D; j++) xi[j] += V->pos[j];
    }
    jc_layernorm_rows(ctx, b.e.x, b.e.x, V->pre_w, V->pre_b, n_tok, D, V->enc.eps);

    jc_seqs seqs;
    seqs.n = n;
    for (int i = 0; i < n; i++) seqs.off[i] = i * V->n_tok, seqs.len[i] = V->n_tok;
    jc_clip_enc_run(ctx, &V->enc, &b.e, &seqs, n_tok, 0, jc_row0); /* pooled on the class token */
    memcpy(b.pooled, b.e.x, sizeof(float) * (size_t)n * (size_t)D);
    jc_clip_enc_project(ctx, &V->enc, b.pooled, V->post_w, V->post_b, n, b.proj, out);
    return JCLIP_OK;
}

static const jc_tower_desc jc_clip_vision_tower = {
    "CLIP vision tower", "clip", JC_TOWER_VISION,
    jc_clip_vis_present, jc_clip_vis_bind, jc_clip_vis_free, jc_clip_vis_weights, jc_clip_vis_carve, jc_clip_vis_kernel_ws,
    jc_clip_vis_describe, NULL, jc_clip_vis_embed,
};
