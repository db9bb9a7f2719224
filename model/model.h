/* model/model.h: the model layer's shared types: the tower interface, the model, the context.
 *
 * A model is a set of towers, each of which turns one kind of input into an embedding: a text
 * tower takes token ids, a vision tower takes normalised pixel tensors. Each tower lives in its
 * own file (model/jina_bert.c, model/eva02.c) and describes itself to the shared code with one
 * jc_tower_desc: how to recognise it in a weight file, bind its hyperparameters and weights,
 * list the linear weights the kernels may repack, size and carve its scratch, and run its
 * forward pass. model/model.c holds the registry of descriptions; adding a model family means
 * adding its tower files and one line there. A file may hold any subset of the towers: the
 * context allocates scratch only for those present, and the API refuses the other input kind.
 *
 * The shared building blocks the forward passes are written with (jc_linear, jc_attention,
 * the row operations, jc_arena) are in model/parallel.c; weight packing is in model/pack.c.
 *
 * Dimension names used throughout the layer: n_tok (rows of a pass: tokens or patches of every
 * input stacked), d_model, n_head, d_head, d_ff, n_vocab; images: image_size, patch, grid
 * (patches per side), n_patch (grid * grid). */
#ifndef JC_MODEL_H
#define JC_MODEL_H

#include "../jclip.h"
#include "../jclip_base.h"
#include "../kernels/kernels.h"
#include "file.h"

/* The input kinds, which are also the tower slots of a model. */
enum { JC_TOWER_TEXT = 0, JC_TOWER_VISION = 1, JC_N_TOWERS = 2 };

/* tokenizer.type of a model's text input: WordPiece (jina-clip-v1, jina-embeddings-v2) or
 * CLIP's byte-level BPE, whose vocabulary the file carries for tokenizer/bpe.c. */
enum { JC_TOK_NONE = 0, JC_TOK_WORDPIECE = 1, JC_TOK_BPE = 2 };

#define JC_MAX_SEQ 64        /* inputs per batched forward pass */
#define JC_ATTN_QBLOCK 256   /* queries per attention work item (at most): each item transposes every key once */

#define JC_CHECK(x) do { int rc_ = (x); if (rc_) return rc_; } while (0)

/* ---- Scratch arenas -----------------------------------------------------------------------
 * A tower carves its activations out of one block with the same function that sizes it: with
 * base == NULL, jc_arena_take only counts (and returns NULL), so the size and the layout can
 * never disagree. Every buffer starts on a 64-byte boundary. */
typedef struct { uint8_t *base; size_t used; } jc_arena;

static JC_UNUSED void *jc_arena_take(jc_arena *a, size_t count, size_t elem)
{
    size_t bytes, at = a->used;
    if (at == SIZE_MAX || !jc_mul(count, elem, &bytes) || !jc_add(bytes, 63, &bytes) ||
        !jc_add(at, bytes / 64 * 64, &a->used)) {
        a->used = SIZE_MAX; /* saturates: the size check refuses it */
        return NULL;
    }
    return a->base ? a->base + at : NULL;
}
#define JC_TAKE_F(a, n) ((float *)jc_arena_take((a), (n), sizeof(float)))

/* ---- Towers ------------------------------------------------------------------------------ */

typedef struct jc_tower jc_tower;

/* A linear weight W [N, K] of a tower (nn.Linear layout): its data as the tower binds it. */
typedef struct { const float *src; int N, K; } jc_weight;

/* A linear weight the file stores in reduced precision (JC_DT_BF16 or JC_DT_Q8), found by its
 * data pointer and shape (model/model.c indexes them at load; jc_linear looks them up). S: q8
 * blocks of 32 per scale block (1, 2 or 4: the tower's "<tower>.q8_block" / 32 where K allows,
 * see jc_q8_scale_blocks), 1 for bf16. */
typedef struct { const void *src; int dtype, N, K, S; } jc_qweight;

typedef struct jc_tower_desc {
    const char *name;          /* "JinaBERT text tower", for messages and jclip info */
    const char *architecture;  /* general.architecture of the files that carry it */
    int kind;                  /* JC_TOWER_TEXT or JC_TOWER_VISION: its slot and input kind */

    /* 1 when the file holds this tower (its tensors are there). */
    int (*present)(const jc_file *f);
    /* Reads the hyperparameters and binds every weight (shapes checked) into t->w, which it
     * allocates; fills t->d_out and, for its kind, t->n_vocab or t->image_size. */
    int (*bind)(jc_tower *t, const jc_file *f, char *err, size_t cap);
    void (*free)(jc_tower *t);
    /* The linear weights the kernels may repack: fills w (when not NULL), returns how many. */
    int (*weights)(const jc_tower *t, jc_weight *w);
    /* Carves the activations of a pass over n_items inputs (texts: at most max_tok tokens in
     * all, whatever n_items is; images: n_items images) from a; with a->base == NULL it only
     * counts. bufs: the tower's own buffer struct, or NULL. */
    void (*carve)(const jc_tower *t, int max_tok, int n_items, jc_arena *a, void *bufs);
    /* Floats of per-thread kernel scratch its passes need (ops->linear_ws, attention_ws). */
    size_t (*kernel_ws)(const jc_tower *t, const jc_ops *ops, int max_tok);
    /* One line for jclip_model_describe ("12 layers, d_model 768, ..."); returns snprintf's. */
    int (*describe)(const jc_tower *t, char *buf, size_t cap);

    /* The forward pass of its kind (the other is NULL), over n inputs (n <= JC_MAX_SEQ) at
     * once; writes n L2-normalised embeddings of t->d_out floats to out. Reports errors with
     * jc_ctx_fail. */
    int (*embed_tokens)(jclip_ctx *ctx, const jc_tower *t, const int32_t *ids, const int *len, int n, float *out);
    int (*embed_pixels)(jclip_ctx *ctx, const jc_tower *t, const float *const *pixels, int n, float *out);
} jc_tower_desc;

struct jc_tower {
    const jc_tower_desc *desc; /* NULL: the model has no tower of this kind */
    void *w;                   /* the tower's config and weights (its own struct) */
    int d_out;                 /* embedding floats */
    int n_vocab;               /* text: token ids are in [0, n_vocab) */
    int pad_id;                /* text: the id that is padding (masked out; a sequence of only
                                  padding is refused), or -1 when no id is */
    int max_tokens;            /* text: longest sequence the tower takes (its position table),
                                  0 when only the context's max_tokens bounds it */
    int image_size;            /* vision: pixel tensors are [3, image_size, image_size] */
    int image_rows;            /* vision: rows of one image in a pass (patches + class token) */
};

/* ---- Model and context ------------------------------------------------------------------- */

struct jc_packs;

struct jclip_model {
    jc_file file;               /* the parsed weight file: its bytes, metadata and tensor table */
    int mapped;                 /* file.data is an mmap (munmap on free) */
    void *owned;                /* file.data lies in this heap copy (free on free) */

    int embed_dim;
    jc_tower tower[JC_N_TOWERS];

    /* text input (when there is a text tower) */
    int tok_type;               /* JC_TOK_* of tokenizer.type */
    jc_tok_wordpiece *tok;      /* the WordPiece tokenizer (JC_TOK_WORDPIECE), else NULL */
    jc_bpe *bpe;                /* the byte-level BPE tokenizer (JC_TOK_BPE), else NULL */
    int32_t special_ids[64];
    int max_length;             /* tokenizer's model_max_length */
    int lowercase;              /* uncased vocabulary */

    /* image input (when there is a vision tower): preprocess.* */
    float mean[3], std[3];
    int pre_mode;               /* JC_PRE_MODE_* of preprocess.mode (image/preprocess.c) */

    jc_qweight *qw;             /* [n_qw] reduced-precision linear weights, sorted by src */
    int n_qw;
    int qw_kmax;                /* the longest reduction (K) among them */
    int dtype;                  /* JC_DT_* of the linear weights (f32 when none is reduced) */

    const jc_ops *ops;          /* kernel table chosen at load */
    struct jc_packs *packs;     /* repacked weights (model/pack.c); NULL if ops reads in place */
};

struct jclip_ctx {
    const jclip_model *m;
    const jc_ops *ops;
    jclip_ctx_params p;
    jc_pool *pool;
    char err[512];
    int max_tok;                /* text tokens per pass (all sequences of a batch together) */
    int tower;                  /* JC_TOWER_* of the pass running: which packed weights jc_linear uses */

    float *ws;                  /* [n_threads, ws_stride] per-thread kernel scratch */
    size_t ws_stride;
    uint8_t *xq;                /* activations converted for bf16 / q8 weights: xq_rows rows */
    size_t xq_rows;
    const float *xq_of;         /* what xq holds: the rows, width and dtype it was made from */
    int xq_of_rows, xq_of_k, xq_of_dtype, xq_of_s;
    uint8_t *act[JC_N_TOWERS];  /* tower activations, carved by the tower for act_items inputs */
    int act_items[JC_N_TOWERS];

    /* inputs, owned by the API (jclip.c) */
    int32_t *ids;               /* [max_tok] token ids of a text batch */
    jc_bpe_work *bpe_work;      /* the BPE tokenizer's buffers (models with JC_TOK_BPE) */
    float *pixels;              /* [pix_items, 3, image_size, image_size] normalised images */
    int pix_items;
    uint8_t *rgb; size_t rgb_cap;      /* decoded image, packed RGB8, grown on demand */
    uint8_t *pre; size_t pre_cap;      /* resize scratch (jc_pre_scratch_size), grown on demand */
    uint8_t *crop;                     /* [image_size, image_size, 3] HWC */
};

static int jc_ctx_fail(jclip_ctx *ctx, int code, const char *fmt, ...) JC_PRINTF(3, 4);
static int jc_ctx_fail(jclip_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    return code;
}

#endif /* JC_MODEL_H */
