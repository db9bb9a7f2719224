/* kernels/pool.c: a small fork-join thread pool owned by each context.
 *
 * jc_pool_run(pool, fn, arg) calls fn(arg, t, n) once for every t in [0, n) where n is the
 * pool's thread count, the calling thread taking t = 0, and returns when all calls are done.
 * Callers share fixed-bound work items through jc_claim, so the split never changes results.
 * Build with -DJCLIP_NO_THREADS for a single-threaded library without pthreads. */
#include "../jclip_base.h"

#ifndef JCLIP_NO_THREADS
#include <pthread.h>
#include <stdatomic.h>
#endif

/* Fork-join handoffs are short (a text forward pass makes ~100 of them, tens of microseconds
 * apart), so both sides first spin on an atomic for about this many polls (tens of
 * microseconds) before sleeping on a condition variable; a sleeping pool costs nothing. */
#ifndef JC_POOL_SPIN
#define JC_POOL_SPIN 20000
#endif

#define JC_MAX_THREADS 256

typedef void (*jc_task_fn)(void *arg, int t, int n);

typedef struct jc_pool {
    int n; /* threads including the caller */
#ifndef JCLIP_NO_THREADS
    pthread_t th[JC_MAX_THREADS];
    int started;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_ulong gen;    /* bumped for every task (release: publishes fn and arg) */
    atomic_int pending;  /* workers still running the current task */
    int sleepers;        /* workers blocked on `wake` (under mu) */
    int caller_sleeps;   /* the caller is blocked on `done` (under mu) */
    atomic_int quit;
    jc_task_fn fn;
    void *arg;
#endif
} jc_pool;

#ifndef JCLIP_NO_THREADS
typedef struct { jc_pool *p; int t; } jc_worker_arg;

static void *jc_worker(void *vp)
{
    jc_pool *p = (jc_pool *)vp;
    unsigned long seen = 0;
    int t;
    pthread_mutex_lock(&p->mu);
    t = ++p->started; /* worker ids 1..n-1 in start order */
    pthread_mutex_unlock(&p->mu);
    for (;;) {
        unsigned long g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int spin = 0; g == seen && spin < JC_POOL_SPIN && !atomic_load_explicit(&p->quit, memory_order_relaxed); spin++)
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->wake, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = g;
        p->fn(p->arg, t, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu); /* the caller may be asleep: wake it under the lock */
            if (p->caller_sleeps) pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}
#endif

static void jc_pool_free(jc_pool *p)
{
    if (!p) return;
#ifndef JCLIP_NO_THREADS
    if (p->n > 1) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->quit, 1);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < p->n - 1; i++) pthread_join(p->th[i], NULL);
        pthread_cond_destroy(&p->wake);
        pthread_cond_destroy(&p->done);
        pthread_mutex_destroy(&p->mu);
    }
#endif
    JCLIP_FREE(p);
}

/* Creates a pool of n_threads (clamped to [1, JC_MAX_THREADS]; always 1 without threads). */
static int jc_pool_create(int n_threads, jc_pool **out)
{
    *out = NULL;
    jc_pool *p = (jc_pool *)JCLIP_MALLOC(sizeof *p);
    if (!p) return JC_ERR_NOMEM;
    memset(p, 0, sizeof *p);
    if (n_threads < 1) n_threads = 1;
    if (n_threads > JC_MAX_THREADS) n_threads = JC_MAX_THREADS;
#ifdef JCLIP_NO_THREADS
    n_threads = 1;
#endif
    p->n = 1;
#ifndef JCLIP_NO_THREADS
    if (n_threads > 1) {
        if (pthread_mutex_init(&p->mu, NULL)) { JCLIP_FREE(p); return JC_ERR_THREAD; }
        if (pthread_cond_init(&p->wake, NULL)) {
            pthread_mutex_destroy(&p->mu);
            JCLIP_FREE(p);
            return JC_ERR_THREAD;
        }
        if (pthread_cond_init(&p->done, NULL)) {
            pthread_cond_destroy(&p->wake);
            pthread_mutex_destroy(&p->mu);
            JCLIP_FREE(p);
            return JC_ERR_THREAD;
        }
        p->n = n_threads;
        for (int i = 0; i < n_threads - 1; i++) {
            if (pthread_create(&p->th[i], NULL, jc_worker, p)) {
                p->n = i + 1; /* join the ones that did start */
                jc_pool_free(p);
                return JC_ERR_THREAD;
            }
        }
    }
#endif
    *out = p;
    return JC_OK;
}

static void jc_pool_run(jc_pool *p, jc_task_fn fn, void *arg)
{
#ifndef JCLIP_NO_THREADS
    if (p->n > 1) {
        /* Workers are idle here (the previous run waited for pending == 0), so the plain
         * fields are theirs to read after the release increment of gen. */
        p->fn = fn;
        p->arg = arg;
        atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
        if (p->sleepers) pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        fn(arg, 0, p->n);
        for (int spin = 0; spin < JC_POOL_SPIN; spin++)
            if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
        pthread_mutex_lock(&p->mu);
        p->caller_sleeps = 1;
        while (atomic_load_explicit(&p->pending, memory_order_acquire)) pthread_cond_wait(&p->done, &p->mu);
        p->caller_sleeps = 0;
        pthread_mutex_unlock(&p->mu);
        return;
    }
#else
    (void)p; /* always one thread */
#endif
    fn(arg, 0, 1);
}

/* Dynamic sharing of independent work items with fixed bounds: every thread claims the next
 * unclaimed item until none is left, so a thread that the OS delays (another job on its core)
 * no longer holds the whole fork-join up. Which thread computes an item never changes its
 * result, so outputs stay bit-identical for any thread count. */
typedef struct {
#ifndef JCLIP_NO_THREADS
    atomic_int next;
#else
    int next;
#endif
} jc_claim;

static void jc_claim_init(jc_claim *c)
{
#ifndef JCLIP_NO_THREADS
    atomic_init(&c->next, 0);
#else
    c->next = 0;
#endif
}

static int jc_claim_next(jc_claim *c)
{
#ifndef JCLIP_NO_THREADS
    return atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
#else
    return c->next++;
#endif
}

