/* model/pack.c: packed weights.
 *
 * Packed weights: kernel tables with ops->pack (AVX-512) multiply inputs of more than
 * JC_PACK_MIN_ROWS rows from a copy of every linear weight in their own panel layout, which
 * saves the per-call packing (7-16% of a forward pass). The results are bitwise those of the
 * in-place path, so when a tower gets packed never shows in its outputs. A tower is packed at
 * the start of its second such forward pass: a one-shot `jclip image` does not pay for it, a
 * server does once, while passes on other contexts go on in place. The copies stand in for
 * the mapped originals, whose pages are handed back as they are packed (the file stays
 * mapped), so memory use stays about the same. Shorter inputs (short texts, memory bound)
 * keep reading the originals in place.
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

typedef struct jc_packs {
#ifndef JCLIP_NO_THREADS
    atomic_int state[JC_N_TOWERS]; /* per tower: 0 not (yet) packed, 1 packed, 2 being packed, -1 never */
    atomic_int uses[JC_N_TOWERS];  /* forward passes that asked for the packed weights */
#else
    int state[JC_N_TOWERS], uses[JC_N_TOWERS];
#endif
    void *block[JC_N_TOWERS];      /* allocation holding a tower's packed weights */
    jc_weight *ent[JC_N_TOWERS]; /* sorted by src */
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
    if (!m->ops->pack) return JCLIP_OK;
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

/* The packed copy of W as an [N, K] weight, or NULL when W is read in place. A hostile file
 * can point two tensors of different shapes at the same bytes, so the shape must match too. */
static const float *jc_packed(const jclip_model *m, int tower, const float *W, int N, int K)
{
    jc_packs *p = m->packs;
#ifndef JCLIP_NO_THREADS
    if (!p || atomic_load_explicit(&p->state[tower], memory_order_acquire) != 1) return NULL;
#else
    if (!p || p->state[tower] != 1) return NULL;
#endif
    int lo = 0, hi = p->n_ent[tower];
    const jc_weight *e = p->ent[tower];
    while (lo < hi) { /* first entry with src >= W */
        int mid = (lo + hi) / 2;
        if ((uintptr_t)e[mid].src < (uintptr_t)W) lo = mid + 1; else hi = mid;
    }
    for (; lo < p->n_ent[tower] && e[lo].src == W; lo++)
        if (e[lo].N == N && e[lo].K == K) return e[lo].packed;
    return NULL;
}

static int jc_weight_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const jc_weight *)a)->src, y = (uintptr_t)((const jc_weight *)b)->src;
    return x < y ? -1 : x > y;
}

typedef struct {
    const jc_ops *ops;
    jc_weight *ent;
    int n_ent;
    int mapped; /* the weights are a file mapping whose pages can be handed back */
    jc_claim claim;
} jc_pack_task;

/* Hands back the whole pages of [p, p + n floats) of a read-only file mapping (a later read
 * faults them in again from the page cache). */
static void jc_drop_pages(const float *p, size_t n)
{
#if !defined(_WIN32) && defined(MADV_DONTNEED)
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t b = ((uintptr_t)p + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg;
    uintptr_t e = (uintptr_t)(p + n) / (uintptr_t)pg * (uintptr_t)pg;
    if (e > b) madvise((void *)b, e - b, MADV_DONTNEED);
#else
    (void)p, (void)n;
#endif
}

/* Work items: runs of up to 4 slivers within one weight; each hands back the rows it read. */
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
        const jc_weight *w = &a->ent[e];
        int s0 = (c - base) * per, s1 = s0 + per, ns = (w->N + g - 1) / g;
        if (s1 > ns) s1 = ns;
        a->ops->pack(w->packed, w->src, w->N, w->K, s0, s1);
        int r1 = s1 * g < w->N ? s1 * g : w->N;
        if (a->mapped) jc_drop_pages(w->src + (size_t)s0 * g * w->K, (size_t)(r1 - s0 * g) * w->K);
    }
}

/* Packs a tower's weights. Returns 1; 0 when memory is short (the weights stay in place and a
 * later pass tries again); -1 to leave them in place for good (a packed form much larger than
 * the weights, which only a degenerate or hostile model asks for). */
static int jc_pack_tower(const jclip_model *m, jc_pool *pool, jc_packs *p, int tower)
{
    const jc_ops *ops = m->ops;
    const jc_tower *tw = &m->tower[tower];
    int n = tw->desc ? tw->desc->weights(tw, NULL) : 0;
    if (n <= 0) return -1;
    jc_weight *ent = (jc_weight *)JCLIP_MALLOC(sizeof *ent * (size_t)n);
    if (!ent) return 0;
    tw->desc->weights(tw, ent);
    int kept = 0; /* bf16 / q8 weights are not float32: their kernels read them in place */
    for (int i = 0; i < n; i++)
        if (!jc_qweight_of(m, ent[i].src, ent[i].N, ent[i].K)) ent[kept++] = ent[i];
    n = kept;
    if (n == 0) {
        JCLIP_FREE(ent);
        return -1;
    }
    size_t total = 0, src = 0;
    for (int i = 0; i < n; i++) {
        total += (ops->pack_size(ent[i].N, ent[i].K) + 15) / 16 * 16;
        src += (size_t)ent[i].N * (size_t)ent[i].K;
    }
    if (total > 2 * src + ((size_t)1 << 20) || total >= SIZE_MAX / 4 - 64) {
        JCLIP_FREE(ent);
        return -1;
    }
    void *block = JCLIP_MALLOC(total * 4 + 64);
    if (!block) {
        JCLIP_FREE(ent);
        return 0;
    }
    float *dst = (float *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    for (int i = 0; i < n; i++) {
        ent[i].packed = dst;
        dst += (ops->pack_size(ent[i].N, ent[i].K) + 15) / 16 * 16;
    }
    jc_pack_task a;
    a.ops = ops; a.ent = ent; a.n_ent = n; a.mapped = m->mapped;
    jc_claim_init(&a.claim);
    jc_pool_run(pool, jc_pack_run, &a);
    qsort(ent, (size_t)n, sizeof *ent, jc_weight_cmp);
    p->block[tower] = block;
    p->ent[tower] = ent;
    p->n_ent[tower] = n;
    return 1;
}

/* Called at the start of every forward pass of a tower that will multiply more than
 * JC_PACK_MIN_ROWS rows (pool: the caller's threads). One caller wins the right to pack;
 * passes that start meanwhile on other contexts read the weights in place (same results), so
 * nobody waits. */
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
