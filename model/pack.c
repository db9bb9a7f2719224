/* model/pack.c: packed weights.
 *
 * Kernel tables with packing entries (ops->pack for fp32, pack_bf16 / pack_q8 for the reduced
 * types) multiply from a copy of every linear weight in their own panel layout, which saves the
 * per-call packing (7-16% of an fp32 pass, most of a short reduced-precision one) and lets a
 * short input stream each weight once, in order. The packed kernels give bitwise the results
 * of the in-place ones for every number of rows, so when a tower gets packed never shows in its
 * outputs. A tower is packed at the start of its second forward pass, by that pass's threads;
 * passes that start meanwhile on other contexts go on in place. The copies stand in for the
 * mapped originals, whose pages are handed back as they are packed (the file stays mapped),
 * so memory use stays about the same.
 */
#include "model.h"

/* The bf16 / q8 form of weight W [N, K], or NULL when the file stores it as f32. */
static const jc_qweight *jc_qweight_of(const jclip_model *m, const void *W, int N, int K)
{
    int lo = 0, hi = m->n_qw;
    while (lo < hi) { /* first entry with src >= W */
        int mid = (lo + hi) / 2;
        if ((uintptr_t)m->qw[mid].src < (uintptr_t)W) lo = mid + 1; else hi = mid;
    }
    for (; lo < m->n_qw && m->qw[lo].src == W; lo++)
        if (m->qw[lo].N == N && m->qw[lo].K == K) return &m->qw[lo];
    return NULL;
}

/* One weight of a packed tower: its data in the file (f32, bf16 or q8 as dtype says) and its copy. */
typedef struct {
    const void *src;
    void *packed;
    int dtype, N, K;
} jc_pack_ent;

typedef struct jc_packs {
#ifndef JCLIP_NO_THREADS
    atomic_int state[JC_N_TOWERS]; /* per tower: 0 not (yet) packed, 1 packed, 2 being packed, -1 never */
    atomic_int uses[JC_N_TOWERS];  /* forward passes so far */
#else
    int state[JC_N_TOWERS], uses[JC_N_TOWERS];
#endif
    void *block[JC_N_TOWERS];      /* allocation holding a tower's packed weights */
    jc_pack_ent *ent[JC_N_TOWERS]; /* sorted by src */
    int n_ent[JC_N_TOWERS];
} jc_packs;

static void jc_packs_free(jc_packs *p)
{
    if (!p) return;
    for (int t = 0; t < JC_N_TOWERS; t++) {
        JCLIP_FREE(p->block[t]);
        JCLIP_FREE(p->ent[t]);
    }
    JCLIP_FREE(p);
}

static int jc_packs_new(jclip_model *m, char *err, size_t cap)
{
    if (!m->ops->pack && !m->ops->pack_bf16 && !m->ops->pack_q8) return JCLIP_OK;
    jc_packs *p = (jc_packs *)JCLIP_MALLOC(sizeof *p);
    if (!p) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    memset(p, 0, sizeof *p);
#ifndef JCLIP_NO_THREADS
    for (int t = 0; t < JC_N_TOWERS; t++) {
        atomic_init(&p->state[t], 0);
        atomic_init(&p->uses[t], 0);
    }
#endif
    m->packs = p;
    return JCLIP_OK;
}

/* The packed copy of weight W [N, K] (f32, or the bf16 / q8 data of a jc_qweight) in the running
 * tower, or NULL when W is read in place. A hostile file can point two tensors of different
 * shapes at the same bytes, so the shape must match too. */
static const void *jc_packed(const jclip_model *m, int tower, const void *W, int N, int K)
{
    jc_packs *p = m->packs;
#ifndef JCLIP_NO_THREADS
    if (!p || atomic_load_explicit(&p->state[tower], memory_order_acquire) != 1) return NULL;
#else
    if (!p || p->state[tower] != 1) return NULL;
#endif
    int lo = 0, hi = p->n_ent[tower];
    const jc_pack_ent *e = p->ent[tower];
    while (lo < hi) { /* first entry with src >= W */
        int mid = (lo + hi) / 2;
        if ((uintptr_t)e[mid].src < (uintptr_t)W) lo = mid + 1; else hi = mid;
    }
    for (; lo < p->n_ent[tower] && e[lo].src == W; lo++)
        if (e[lo].N == N && e[lo].K == K) return e[lo].packed;
    return NULL;
}

static int jc_pack_ent_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const jc_pack_ent *)a)->src, y = (uintptr_t)((const jc_pack_ent *)b)->src;
    return x < y ? -1 : x > y;
}

/* Bytes of the packed form of e (0: this table reads such weights in place), and of one row
 * of e in the file. */
static size_t jc_pack_bytes(const jc_ops *ops, const jc_pack_ent *e)
{
    if (e->dtype == JC_DT_BF16) return ops->pack_bf16 ? ops->pack_bf16_size(e->N, e->K) : 0;
    if (e->dtype == JC_DT_Q8) return ops->pack_q8 ? ops->pack_q8_size(e->N, e->K) : 0;
    return ops->pack ? ops->pack_size(e->N, e->K) * sizeof(float) : 0;
}

static size_t jc_row_bytes(const jc_pack_ent *e)
{
    return (size_t)e->K * (e->dtype == JC_DT_BF16 ? 2 : e->dtype == JC_DT_Q8 ? 1 : 4);
}

typedef struct {
    const jc_ops *ops;
    jc_pack_ent *ent;
    int n_ent;
    int mapped; /* the weights are a file mapping whose pages can be handed back */
    jc_claim claim;
} jc_pack_task;

/* Hands back the whole pages of [p, p + n bytes) of a read-only file mapping (a later read
 * faults them in again from the page cache). */
static void jc_drop_pages(const void *p, size_t n)
{
#if !defined(_WIN32) && defined(MADV_DONTNEED)
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t b = ((uintptr_t)p + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg;
    uintptr_t e = ((uintptr_t)p + n) / (uintptr_t)pg * (uintptr_t)pg;
    if (e > b) madvise((void *)b, e - b, MADV_DONTNEED);
#else
    (void)p, (void)n;
#endif
}

/* Work items: runs of up to 4 slivers within one weight; each hands back the rows it read (a
 * q8 weight's block scales, 1/8 of its bytes, stay). */
static void jc_pack_run(void *arg, int t, int nt)
{
    jc_pack_task *a = (jc_pack_task *)arg;
    (void)t, (void)nt;
    const int per = 4, g = a->ops->n_grain;
    int e = 0, base = 0; /* items before weight e */
    for (int c; (c = jc_claim_next(&a->claim)) >= 0;) {
        while (e < a->n_ent && c >= base + (a->ent[e].N + g * per - 1) / (g * per))
            base += (a->ent[e].N + g * per - 1) / (g * per), e++;
        if (e == a->n_ent) return;
        const jc_pack_ent *w = &a->ent[e];
        int s0 = (c - base) * per, s1 = s0 + per, ns = (w->N + g - 1) / g;
        if (s1 > ns) s1 = ns;
        if (w->dtype == JC_DT_BF16)
            a->ops->pack_bf16(w->packed, (const uint16_t *)w->src, w->N, w->K, s0, s1);
        else if (w->dtype == JC_DT_Q8)
            a->ops->pack_q8(w->packed, (const int8_t *)w->src,
                            (const float *)(const void *)((const uint8_t *)w->src + (size_t)w->N * (size_t)w->K), w->N, w->K,
                            s0, s1);
        else
            a->ops->pack((float *)w->packed, (const float *)w->src, w->N, w->K, s0, s1);
        int r1 = s1 * g < w->N ? s1 * g : w->N;
        if (a->mapped)
            jc_drop_pages((const uint8_t *)w->src + (size_t)s0 * g * jc_row_bytes(w), (size_t)(r1 - s0 * g) * jc_row_bytes(w));
    }
}

/* Packs a tower's weights. Returns 1; 0 when memory is short (the weights stay in place and a
 * later pass tries again); -1 to leave them in place for good (nothing this table packs, or a
 * packed form much larger than the weights, which only a degenerate or hostile model asks for). */
static int jc_pack_tower(const jclip_model *m, jc_pool *pool, jc_packs *p, int tower)
{
    const jc_ops *ops = m->ops;
    const jc_tower *tw = &m->tower[tower];
    int n = tw->desc ? tw->desc->weights(tw, NULL) : 0;
    if (n <= 0) return -1;
    jc_weight *w = (jc_weight *)JCLIP_MALLOC(sizeof *w * (size_t)n);
    jc_pack_ent *ent = (jc_pack_ent *)JCLIP_MALLOC(sizeof *ent * (size_t)n);
    if (!w || !ent) {
        JCLIP_FREE(w);
        JCLIP_FREE(ent);
        return 0;
    }
    tw->desc->weights(tw, w);
    int kept = 0;
    size_t total = 0, src = 0;
    for (int i = 0; i < n; i++) {
        const jc_qweight *q = jc_qweight_of(m, w[i].src, w[i].N, w[i].K);
        jc_pack_ent e = {q ? q->src : (const void *)w[i].src, NULL, q ? q->dtype : JC_DT_F32, w[i].N, w[i].K};
        size_t b = jc_pack_bytes(ops, &e);
        if (!b) continue;
        ent[kept++] = e;
        total += (b + 63) / 64 * 64;
        src += (size_t)e.N * jc_row_bytes(&e);
    }
    JCLIP_FREE(w);
    n = kept;
    if (n == 0 || total > 2 * src + ((size_t)1 << 20) || total >= SIZE_MAX / 2 - 64) {
        JCLIP_FREE(ent);
        return -1;
    }
    void *block = JCLIP_MALLOC(total + 64);
    if (!block) {
        JCLIP_FREE(ent);
        return 0;
    }
    uint8_t *dst = (uint8_t *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    for (int i = 0; i < n; i++) {
        ent[i].packed = dst;
        dst += (jc_pack_bytes(ops, &ent[i]) + 63) / 64 * 64;
    }
    jc_pack_task a;
    a.ops = ops; a.ent = ent; a.n_ent = n; a.mapped = m->mapped;
    jc_claim_init(&a.claim);
    jc_pool_run(pool, jc_pack_run, &a);
    qsort(ent, (size_t)n, sizeof *ent, jc_pack_ent_cmp);
    p->block[tower] = block;
    p->ent[tower] = ent;
    p->n_ent[tower] = n;
    return 1;
}

/* Called at the start of every forward pass of a tower (pool: the caller's threads). The second
 * pass packs: a one-shot `jclip text` or `jclip image` reads the weights in place and does not
 * pay for a copy it would use once. One caller wins the right to pack; passes that start
 * meanwhile on other contexts read the weights in place (same results), so nobody waits. */
static void jc_tower_ready(const jclip_model *m, jc_pool *pool, int tower)
{
    jc_packs *p = m->packs;
    if (!p) return;
#ifndef JCLIP_NO_THREADS
    if (atomic_load_explicit(&p->state[tower], memory_order_acquire)) return;
    if (atomic_fetch_add_explicit(&p->uses[tower], 1, memory_order_relaxed) < 1) return;
    int idle = 0;
    if (!atomic_compare_exchange_strong_explicit(&p->state[tower], &idle, 2, memory_order_acquire, memory_order_relaxed))
        return;
    atomic_store_explicit(&p->state[tower], jc_pack_tower(m, pool, p, tower), memory_order_release);
#else
    if (!p->state[tower] && p->uses[tower]++ >= 1) p->state[tower] = jc_pack_tower(m, pool, p, tower);
#endif
}
