/* model/parallel.c: the building blocks every forward pass is written with.
 *
 * Each one runs on the context's thread pool and splits its work over output columns (linear
 * layers) or rows (row operations) or (sequence, head, query block) items (attention), never
 * over a reduction, so every output element is computed by the same operations whatever the
 * thread count: results are bit-identical for any n_threads.
 *
 *   jc_linear(ctx, Y, X, W, bias, n_rows, d_in, d_out)    Y = X W^T + bias
 *   jc_linear_again(ctx, Y, X, W, bias, n_rows, d_in, d_out)  the same, X unchanged since the
 *                                                         last jc_linear (bf16 / q8: reuses its
 *                                                         converted rows)
 *   jc_quick_gelu_linear(ctx, Y, F, W, bias, ...)         Y = quick_gelu(F) W^T + bias (CLIP's MLP)
 *   jc_geglu_linear(ctx, Y, u, g, W, bias, ...)           Y = u W^T + bias, u = GELU(g[:, :n]) * g[:, n:]
 *   jc_swiglu_layernorm_linear(ctx, Y, a, b, w, bb, eps, W, bias, ...)
 *                                                         Y = a W^T + bias, a = LN(SiLU(a) * b)
 *   jc_attention(ctx, &a)                                 softmax(q k^T * scale - ALiBi) v per head,
 *                                                         optionally causal, optionally one query per input
 *   jc_gather_rows(dst, src, seqs, sel, n)                one row per input, compact (a pooled row)
 *   jc_pool_last_layer(ctx, &a, q, h, tmp, x, Wq, bq, d)  a pooled tower's last layer: queries and
 *                                                         residual rows of the pooled rows only
 *   jc_layernorm_rows(ctx, y, x, w, b, rows, n, eps)      y = LN(x)
 *   jc_add_layernorm_rows(ctx, x, y, w, b, rows, n, eps)  x = LN(x + y)
 *   jc_add_rows(ctx, x, y, rows, n)                       x += y
 *   jc_for_rows(ctx, &task)                               any per-row function (e.g. RoPE)
 */
#include "model.h"

#ifdef JCLIP_BLAS_OPENBLAS
#include <cblas.h>
#endif

/* ---- Row operations ---------------------------------------------------------------------- */

typedef struct jc_rows_task jc_rows_task;
struct jc_rows_task {
    void (*row)(const jc_rows_task *a, int r); /* the operation on row r */
    const jc_ops *ops;
    int rows, n;            /* rows of n floats */
    float *y;               /* the row operated on */
    const float *x;         /* the other operand */
    float *y2;              /* a second row operated on (RoPE: the keys) */
    const float *w, *b;     /* LayerNorm weight and bias */
    float eps;
    const void *user;       /* anything else a tower's row function needs */
    jc_claim claim;
};

static void jc_rows_run(void *arg, int t, int nt)
{
    jc_rows_task *a = (jc_rows_task *)arg;
    (void)t, (void)nt;
    const int per = 8; /* rows per claimed chunk (jc_for_rows runs one chunk inline) */
    for (int c; (c = jc_claim_next(&a->claim)) * per < a->rows;) {
        const int lo = c * per, hi = lo + per < a->rows ? lo + per : a->rows;
        for (int r = lo; r < hi; r++) a->row(a, r);
    }
}

/* Runs a->row on rows [0, a->rows) split between the threads; one chunk's worth (a short
 * text) runs on the caller, saving the other threads a wake-up for nothing. */
static void jc_for_rows(jclip_ctx *ctx, jc_rows_task *a)
{
    a->ops = ctx->ops;
    jc_claim_init(&a->claim);
    if (a->rows <= 8) jc_rows_run(a, 0, 1);
    else jc_pool_run(ctx->pool, jc_rows_run, a);
}

static void jc_rows(jclip_ctx *ctx, void (*row)(const jc_rows_task *, int), int rows, int n, float *y, const float *x,
                    const float *w, const float *b, float eps)
{
    jc_rows_task a;
    memset(&a, 0, sizeof a);
    a.row = row; a.rows = rows; a.n = n;
    a.y = y; a.x = x; a.w = w; a.b = b; a.eps = eps;
    jc_for_rows(ctx, &a);
}

static void jc_row_ln(const jc_rows_task *a, int r)
{
    size_t o = (size_t)r * (size_t)a->n;
    a->ops->layernorm(a->y + o, a->x + o, a->w, a->b, a->n, a->eps);
}

static void jc_row_add_ln(const jc_rows_task *a, int r)
{
    float *y = a->y + (size_t)r * (size_t)a->n;
    a->ops->add(y, a->x + (size_t)r * (size_t)a->n, a->n);
    a->ops->layernorm(y, y, a->w, a->b, a->n, a->eps);
}

static void jc_row_add(const jc_rows_task *a, int r)
{
    a->ops->add(a->y + (size_t)r * (size_t)a->n, a->x + (size_t)r * (size_t)a->n, a->n);
}

static void jc_row_geglu(const jc_rows_task *a, int r)
{
    a->ops->geglu(a->y + (size_t)r * (size_t)a->n, a->x + (size_t)r * 2 * (size_t)a->n, a->n);
}

static void jc_row_swiglu_ln(const jc_rows_task *a, int r)
{
    float *y = a->y + (size_t)r * (size_t)a->n;
    a->ops->swiglu(y, y, a->x + (size_t)r * (size_t)a->n, a->n);
    a->ops->layernorm(y, y, a->w, a->b, a->n, a->eps);
}

/* y = LN(x), rows of n (y may be x). */
static void jc_layernorm_rows(jclip_ctx *ctx, float *y, const float *x, const float *w, const float *b, int rows, int n,
                              float eps)
{
    jc_rows(ctx, jc_row_ln, rows, n, y, x, w, b, eps);
}

/* x = LN(x + y): a post-LN residual. */
static void jc_add_layernorm_rows(jclip_ctx *ctx, float *x, const float *y, const float *w, const float *b, int rows,
                                  int n, float eps)
{
    jc_rows(ctx, jc_row_add_ln, rows, n, x, y, w, b, eps);
}

/* x += y: a pre-LN residual. */
static void jc_add_rows(jclip_ctx *ctx, float *x, const float *y, int rows, int n)
{
    jc_rows(ctx, jc_row_add, rows, n, x, y, NULL, NULL, 0);
}

/* QuickGELU, z * sigmoid(1.702 z), as SiLU(1.702 z) / 1.702: the kernel table's vector SiLU. */
static void jc_row_quick_gelu(const jc_rows_task *a, int r)
{
    a->ops->quick_gelu(a->y + (size_t)r * (size_t)a->n, a->n);
}

/* out = v / max(||v||, 1e-12) */
static void jc_l2_normalize(float *out, const float *v, int n)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)v[i] * v[i];
    float norm = (float)sqrt(ss);
    if (norm < 1e-12f) norm = 1e-12f;
    for (int i = 0; i < n; i++) out[i] = v[i] / norm;
}

/* ---- Linear layers ----------------------------------------------------------------------- */

typedef struct {
    const jc_ops *ops;
    float *Y; size_t ldy;
    const float *X; size_t ldx;
    const float *W, *bias;
    int M, K, N;
    float *ws; size_t ws_stride;
    int packed; /* W is the packed copy (ops->linear_packed) */
    jc_claim claim;
} jc_linear_task;

/* Columns per claimed chunk of an [M, N] GEMM on n threads: about 2 (M <= 8) or 4 slivers of
 * n_grain columns, with the chunk count rounded up to a multiple of n so that the threads end
 * together (CLIP's N = 512 is 11 slivers: 4 + 4 + 3 left one thread 7 slivers against 4; now
 * 3 + 3 + 3 + 2, at worst 6 against 5). Any split at grain multiples gives the same bits. */
static int jc_chunk_cols(int M, int N, int grain, int n)
{
    int grains = (N + grain - 1) / grain, per = M <= 8 ? 2 : 4, chunks = (grains + per - 1) / per;
    if (n > 1) chunks = (chunks + n - 1) / n * n;
    if (chunks > grains) chunks = grains;
    return (grains + chunks - 1) / chunks * grain;
}

static void jc_linear_run(void *arg, int t, int n)
{
    jc_linear_task *a = (jc_linear_task *)arg;
    float *ws = a->ws + (size_t)t * a->ws_stride;
    void (*linear)(float *, size_t, const float *, size_t, const float *, const float *, int, int, int, int, float *) =
        a->packed ? a->ops->linear_packed : a->ops->linear;
    if (n == 1) { /* one thread: one call */
        linear(a->Y, a->ldy, a->X, a->ldx, a->W, a->bias, a->M, a->K, 0, a->N, ws);
        return;
    }
    /* column chunks claimed dynamically (kernels give the same result for any split at grain
     * multiples); wider chunks for the packed GEMM, which repacks X once per call */
    int chunk = jc_chunk_cols(a->M, a->N, a->ops->n_grain, n), chunks = (a->N + chunk - 1) / chunk;
    for (int c; (c = jc_claim_next(&a->claim)) < chunks;) {
        int lo = c * chunk, hi = lo + chunk < a->N ? lo + chunk : a->N;
        linear(a->Y, a->ldy, a->X, a->ldx, a->W, a->bias, a->M, a->K, lo, hi, ws);
    }
}

/* Reduced precision: the rows of X are first converted (bf16) or quantised per row and block of
 * 32 (q8) into ctx->xq, each row on its own, so a row's result never depends on the others. */
typedef struct {
    const jc_ops *ops;
    const jc_qweight *q;
    const void *Wp; /* the packed copy of q, or NULL: read in place */
    float *Y;
    const float *bias;
    int M;
    float *ws; size_t ws_stride;
    jc_claim claim;
    uint8_t *xq; size_t xq_stride;
    const jc_rows_task *pre; /* a row operation producing X's row first (its ops set), or NULL */
} jc_qlinear_task;

static void jc_row_to_q(const jc_rows_task *a, int r)
{
    const jc_qlinear_task *t = (const jc_qlinear_task *)a->user;
    uint8_t *dst = t->xq + (size_t)r * t->xq_stride;
    if (t->pre) t->pre->row(t->pre, r); /* the row is still in L1 when it is converted */
    if (t->q->dtype == JC_DT_BF16) a->ops->bf16_row((uint16_t *)(void *)dst, a->x + (size_t)r * (size_t)a->n, a->n);
    else a->ops->q8_row(dst, a->x + (size_t)r * (size_t)a->n, a->n, t->q->S);
}

static void jc_qlinear_run(void *arg, int t, int n)
{
    jc_qlinear_task *a = (jc_qlinear_task *)arg;
    const jc_qweight *q = a->q;
    float *ws = a->ws + (size_t)t * a->ws_stride;
    const int N = q->N, K = q->K, chunk = jc_chunk_cols(a->M, N, a->ops->n_grain, n), chunks = (N + chunk - 1) / chunk;
    for (int c; (c = jc_claim_next(&a->claim)) < chunks;) {
        int lo = c * chunk, hi = lo + chunk < N ? lo + chunk : N;
        if (a->Wp && q->dtype == JC_DT_BF16)
            a->ops->linear_bf16_packed(a->Y, (size_t)N, (const uint16_t *)(const void *)a->xq, (size_t)K, a->Wp, a->bias, a->M,
                                       K, lo, hi, ws);
        else if (a->Wp)
            a->ops->linear_q8_packed(a->Y, (size_t)N, a->xq, a->Wp, a->bias, a->M, K, q->S, lo, hi, ws);
        else if (q->dtype == JC_DT_BF16)
            a->ops->linear_bf16(a->Y, (size_t)N, (const uint16_t *)(const void *)a->xq, (size_t)K, (const uint16_t *)q->src,
                                a->bias, a->M, K, lo, hi, ws);
        else
            a->ops->linear_q8(a->Y, (size_t)N, a->xq, (const int8_t *)q->src,
                              (const float *)(const void *)((const uint8_t *)q->src + (size_t)N * (size_t)K), a->bias, a->M, K,
                              q->S, lo, hi, ws);
    }
}

/* pre: see jc_linear_pre. again: X is unchanged since the last call, whose converted rows xq
 * still holds if that call's X, rows, width, dtype and scale blocks were these. */
static void jc_qlinear(jclip_ctx *ctx, float *Y, const float *X, const jc_qweight *q, const void *Wp, const float *bias,
                       int n_rows, jc_rows_task *pre, int again)
{
    jc_qlinear_task a;
    a.ops = ctx->ops;
    a.q = q;
    a.Wp = Wp;
    a.Y = Y;
    a.bias = bias;
    a.M = n_rows;
    a.ws = ctx->ws; a.ws_stride = ctx->ws_stride;
    a.xq = ctx->xq;
    a.xq_stride = q->dtype == JC_DT_BF16 ? 2 * (size_t)q->K : jc_q8_row_bytes(q->K);
    a.pre = pre;
    if (pre) pre->ops = ctx->ops;
    if (!(again && !pre && ctx->xq_of == X && ctx->xq_of_rows == n_rows && ctx->xq_of_k == q->K &&
          ctx->xq_of_dtype == q->dtype && ctx->xq_of_s == q->S)) {
        jc_rows_task rows;
        memset(&rows, 0, sizeof rows);
        rows.row = jc_row_to_q, rows.rows = n_rows, rows.n = q->K, rows.x = X, rows.user = &a;
        jc_for_rows(ctx, &rows);
        ctx->xq_of = X, ctx->xq_of_rows = n_rows, ctx->xq_of_k = q->K, ctx->xq_of_dtype = q->dtype, ctx->xq_of_s = q->S;
    }
    jc_claim_init(&a.claim);
    jc_pool_run(ctx->pool, jc_qlinear_run, &a);
}

/* Y [n_rows, d_out] = X [n_rows, d_in] W [d_out, d_in]^T + bias [d_out] (bias may be NULL).
 * W is read in place, or from its packed copy once the running tower is packed (same bits); a weight the
 * file stores as bf16 or q8 goes through that type's kernels (jc_qlinear). pre, if not NULL, is
 * the row operation that makes X (an MLP's gate): with bf16 / q8 weights each row is made and
 * converted in one go, saving a pass over X; with fp32 ones it runs first. Either way X ends up
 * the same. again: see jc_qlinear. */
static void jc_linear_pre(jclip_ctx *ctx, jc_rows_task *pre, int again, float *Y, const float *X, const float *W,
                          const float *bias, int n_rows, int d_in, int d_out)
{
    const jc_qweight *q = ctx->m->n_qw ? jc_qweight_of(ctx->m, W, d_out, d_in) : NULL;
    if (q) {
        jc_qlinear(ctx, Y, X, q, jc_packed(ctx->m, ctx->tower, q->src, d_out, d_in), bias, n_rows, pre, again);
        return;
    }
    ctx->xq_of = NULL; /* the next jc_linear_again cannot reuse rows converted before this layer */
    if (pre) jc_for_rows(ctx, pre);
#ifdef JCLIP_BLAS_OPENBLAS
    /* `make BLAS=openblas`: a comparison build only (see the Makefile); short inputs stay on
     * the streaming kernels, which OpenBLAS does not beat. */
    if (n_rows > 8) {
        openblas_set_num_threads(ctx->pool->n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_rows, d_out, d_in, 1.0f, X, d_in, W, d_in, 0.0f, Y, d_out);
        if (bias)
            for (int i = 0; i < n_rows; i++) ctx->ops->add(Y + (size_t)i * d_out, bias, d_out);
        return;
    }
#endif
    jc_linear_task a;
    a.ops = ctx->ops;
    a.Y = Y; a.ldy = (size_t)d_out;
    a.X = X; a.ldx = (size_t)d_in;
    a.W = W; a.bias = bias;
    a.M = n_rows; a.K = d_in; a.N = d_out;
    a.ws = ctx->ws; a.ws_stride = ctx->ws_stride;
    const float *Wp = (const float *)jc_packed(ctx->m, ctx->tower, W, d_out, d_in);
    a.packed = Wp != NULL;
    if (Wp) a.W = Wp;
    jc_claim_init(&a.claim);
    jc_pool_run(ctx->pool, jc_linear_run, &a);
}

static void jc_linear(jclip_ctx *ctx, float *Y, const float *X, const float *W, const float *bias, int n_rows, int d_in,
                      int d_out)
{
    jc_linear_pre(ctx, NULL, 0, Y, X, W, bias, n_rows, d_in, d_out);
}

static void jc_linear_again(jclip_ctx *ctx, float *Y, const float *X, const float *W, const float *bias, int n_rows,
                            int d_in, int d_out)
{
    jc_linear_pre(ctx, NULL, 1, Y, X, W, bias, n_rows, d_in, d_out);
}

/* Y = quick_gelu(F) W^T + bias; F [n_rows, d_in] is left holding quick_gelu(F). */
static void jc_quick_gelu_linear(jclip_ctx *ctx, float *Y, float *F, const float *W, const float *bias, int n_rows,
                                 int d_in, int d_out)
{
    jc_rows_task pre;
    memset(&pre, 0, sizeof pre);
    pre.row = jc_row_quick_gelu, pre.rows = n_rows, pre.n = d_in, pre.y = F;
    jc_linear_pre(ctx, &pre, 0, Y, F, W, bias, n_rows, d_in, d_out);
}

/* Y = u W^T + bias with u [n_rows, d_in] = GELU(g[:, :d_in]) * g[:, d_in:] (left in u). */
static void jc_geglu_linear(jclip_ctx *ctx, float *Y, float *u, const float *g, const float *W, const float *bias,
                            int n_rows, int d_in, int d_out)
{
    jc_rows_task pre;
    memset(&pre, 0, sizeof pre);
    pre.row = jc_row_geglu, pre.rows = n_rows, pre.n = d_in, pre.y = u, pre.x = g;
    jc_linear_pre(ctx, &pre, 0, Y, u, W, bias, n_rows, d_in, d_out);
}

/* Y = a' W^T + bias with a' = LN(SiLU(a) * b) (left in a), rows of d_in. */
static void jc_swiglu_layernorm_linear(jclip_ctx *ctx, float *Y, float *a, const float *b, const float *lw,
                                       const float *lb, float eps, const float *W, const float *bias, int n_rows,
                                       int d_in, int d_out)
{
    jc_rows_task pre;
    memset(&pre, 0, sizeof pre);
    pre.row = jc_row_swiglu_ln, pre.rows = n_rows, pre.n = d_in, pre.y = a, pre.x = b, pre.w = lw, pre.b = lb;
    pre.eps = eps;
    jc_linear_pre(ctx, &pre, 0, Y, a, W, bias, n_rows, d_in, d_out);
}

/* ---- Attention --------------------------------------------------------------------------- */

/* Inputs stacked in the rows of one pass: input s has len[s] rows from row off[s]. */
typedef struct { int n, off[JC_MAX_SEQ], len[JC_MAX_SEQ]; } jc_seqs;

/* Multi-head attention within each input of a pass. q, k, v, out: [n_tok, n_head * d_head]
 * with row strides ldq, ldk, ldv, ldo (heads side by side). key_valid: per row, or NULL.
 * slopes: ALiBi slope per head (score -= slope * |i - j|), or NULL. causal: query i sees keys
 * 0..i only (CLIP's text tower): the kernel's causal mode, which gives every query bitwise its
 * result alone over keys [0, i], so the result does not depend on the thread split.
 * sel: NULL for every query; else one query per input, its row sel[s] within input s, read from
 * row s of q and written to row s of out (compact: a pooling tower's last layer needs only the
 * pooled row's output, and every query's arithmetic is its own, so that row has the same bits). */
typedef struct {
    float *out; size_t ldo;
    const float *q, *k, *v; size_t ldq, ldk, ldv;
    const uint8_t *key_valid;
    const jc_seqs *seqs;
    int n_head, d_head;
    float scale;
    const float *slopes;
    int causal;
    const int *sel;
} jc_attn;

typedef struct {
    jclip_ctx *ctx;
    const jc_attn *a;
    jc_attention_fn fn;        /* the kernel: ops->attention, or attention_bf16 for a bf16 / q8 file */
    int first[JC_MAX_SEQ + 1]; /* first work item of each input */
    int split;                 /* query blocks per JC_ATTN_QBLOCK queries */
    jc_claim claim;
} jc_attn_task;

/* Query blocks of an input of n_tok: at most JC_ATTN_QBLOCK queries each (every block transposes
 * and streams all keys and values once: one block per 197-token image ran 8% faster than two),
 * `split` times as many when there would be too few items for the threads. */
static int jc_attn_blocks(int n_tok, int split)
{
    int b = (n_tok + JC_ATTN_QBLOCK - 1) / JC_ATTN_QBLOCK * split;
    return b < n_tok ? b : n_tok; /* at least one query per block */
}

/* One work item = (input, head, block of at most JC_ATTN_QBLOCK queries). */
static void jc_attn_run(void *arg, int t, int n)
{
    jc_attn_task *task = (jc_attn_task *)arg;
    const jc_attn *a = task->a;
    const jc_seqs *sq = a->seqs;
    (void)n;
    float *scratch = task->ctx->ws + (size_t)t * task->ctx->ws_stride;
    int s = 0;
    for (int it; (it = jc_claim_next(&task->claim)) < task->first[sq->n];) {
        while (it >= task->first[s + 1]) s++; /* a thread's claims only grow */
        const int len = sq->len[s], blocks = a->sel ? 1 : jc_attn_blocks(len, task->split);
        const int h = (it - task->first[s]) / blocks, b = (it - task->first[s]) % blocks;
        int i0 = (int)((long long)len * b / blocks), i1 = (int)((long long)len * (b + 1) / blocks);
        size_t c = (size_t)h * (size_t)a->d_head, r = (size_t)sq->off[s];
        const float *q = a->q + r * a->ldq + c;
        float *out = a->out + r * a->ldo + c;
        size_t ldq = a->ldq, ldo = a->ldo;
        if (a->sel) /* the one query: row s of q and out, stride 0 (the kernel reads row i0 only) */
            i0 = a->sel[s], i1 = i0 + 1, q = a->q + (size_t)s * a->ldq + c, out = a->out + (size_t)s * a->ldo + c, ldq = 0, ldo = 0;
        /* causal: query i over keys [0, i], in the kernel (keys past i1 are never needed) */
        task->fn(out, ldo, q, ldq, a->k + r * a->ldk + c, a->ldk, a->v + r * a->ldv + c, a->ldv,
                 a->key_valid ? a->key_valid + r : NULL, a->causal ? i1 : len, a->d_head, i0, i1, a->scale,
                 a->slopes ? a->slopes[h] : 0.0f, a->causal, scratch);
    }
}

/* dst row s = src row sel[s] of input s (its row off[s] + sel[s]), for every input; dst may be
 * src (rows move only towards the front, in order). */
static void jc_gather_rows(float *dst, const float *src, const jc_seqs *seqs, const int *sel, int n)
{
    for (int s = 0; s < seqs->n; s++) {
        const float *from = src + (size_t)(seqs->off[s] + sel[s]) * (size_t)n;
        if (from != dst + (size_t)s * n) memmove(dst + (size_t)s * n, from, sizeof(float) * (size_t)n);
    }
}

/* Row 0 of every input (a class token), as jc_attn's sel. */
static const int jc_row0[JC_MAX_SEQ];

/* The last layer of a tower pooled on row sel[s] of each input, once its keys and values are
 * made from every row of h: only the pooled rows go on, compact (each row's arithmetic is its
 * own, so they keep their bits). q [seqs->n, d] = h[sel] Wq + bq (tmp holds h[sel]), x = x[sel]
 * in place, and the attention set to those queries. Returns the rows that go on. */
static int jc_pool_last_layer(jclip_ctx *ctx, jc_attn *at, float *q, const float *h, float *tmp, float *x, const float *Wq,
                              const float *bq, int d)
{
    const jc_seqs *seqs = at->seqs;
    jc_gather_rows(tmp, h, seqs, at->sel, d);
    jc_linear(ctx, q, tmp, Wq, bq, seqs->n, d, d);
    jc_gather_rows(x, x, seqs, at->sel, d);
    return seqs->n;
}

static void jc_attention(jclip_ctx *ctx, const jc_attn *a)
{
    jc_attn_task task;
    task.ctx = ctx;
    task.a = a;
    /* bf16 and q8 files: both attention products in bf16 where the table has a bf16 dot product
     * (vdpbf16ps: twice the fp32 FMA rate; the cosines to f32 stay within the bars, README
     * "Reduced precision: bf16 and q8 weight files"); f32 files keep fp32 attention, which
     * matches the official code */
    task.fn = ctx->m->dtype != JC_DT_F32 && ctx->ops->attention_bf16 ? ctx->ops->attention_bf16 : ctx->ops->attention;
    task.first[0] = 0;
    /* at least two items per thread where the queries allow it (a split never changes results:
     * each query's arithmetic is its own) */
    for (task.split = 1;; task.split++) {
        for (int s = 0; s < a->seqs->n; s++)
            task.first[s + 1] = task.first[s] + a->n_head * (a->sel ? 1 : jc_attn_blocks(a->seqs->len[s], task.split));
        if (a->sel || task.first[a->seqs->n] >= 2 * ctx->pool->n || task.split >= 16) break;
    }
    jc_claim_init(&task.claim);
    jc_pool_run(ctx->pool, jc_attn_run, &task);
}
