/* kernels/pool.c: a small fork-join thread pool owned by each context.
 *
 * jk_pool_run(pool, fn, arg) calls fn(arg, t, n) once for every t in [0, n) where n is the
 * pool's thread count, the calling thread taking t = 0, and returns when all calls are done.
 * Callers split work by output ranges derived from (t, n) only, so the split is deterministic.
 * Build with -DJCLIP_NO_THREADS for a single-threaded library without pthreads. */
#include "../jclip_impl.h"

#ifndef JCLIP_NO_THREADS
#include <pthread.h>
#endif

#define JK_MAX_THREADS 256

typedef void (*jk_task_fn)(void *arg, int t, int n);

typedef struct jk_pool {
    int n; /* threads including the caller */
#ifndef JCLIP_NO_THREADS
    pthread_t th[JK_MAX_THREADS];
    int started;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    unsigned long gen;  /* bumped for every task */
    int pending;        /* workers still running the current task */
    int quit;
    jk_task_fn fn;
    void *arg;
#endif
} jk_pool;

#ifndef JCLIP_NO_THREADS
typedef struct { jk_pool *p; int t; } jk_worker_arg;

static void *jk_worker(void *vp)
{
    jk_pool *p = (jk_pool *)vp;
    unsigned long seen = 0;
    int t;
    pthread_mutex_lock(&p->mu);
    t = ++p->started; /* worker ids 1..n-1 in start order */
    for (;;) {
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        jk_task_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, t, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}
#endif

static void jk_pool_free(jk_pool *p)
{
    if (!p) return;
#ifndef JCLIP_NO_THREADS
    if (p->n > 1) {
        pthread_mutex_lock(&p->mu);
        p->quit = 1;
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

/* Creates a pool of n_threads (clamped to [1, JK_MAX_THREADS]; always 1 without threads). */
static int jk_pool_create(int n_threads, jk_pool **out)
{
    *out = NULL;
    jk_pool *p = (jk_pool *)JCLIP_MALLOC(sizeof *p);
    if (!p) return JCLIP_ERR_NOMEM;
    memset(p, 0, sizeof *p);
    if (n_threads < 1) n_threads = 1;
    if (n_threads > JK_MAX_THREADS) n_threads = JK_MAX_THREADS;
#ifdef JCLIP_NO_THREADS
    n_threads = 1;
#endif
    p->n = 1;
#ifndef JCLIP_NO_THREADS
    if (n_threads > 1) {
        if (pthread_mutex_init(&p->mu, NULL)) { JCLIP_FREE(p); return JCLIP_ERR_THREAD; }
        if (pthread_cond_init(&p->wake, NULL)) {
            pthread_mutex_destroy(&p->mu);
            JCLIP_FREE(p);
            return JCLIP_ERR_THREAD;
        }
        if (pthread_cond_init(&p->done, NULL)) {
            pthread_cond_destroy(&p->wake);
            pthread_mutex_destroy(&p->mu);
            JCLIP_FREE(p);
            return JCLIP_ERR_THREAD;
        }
        p->n = n_threads;
        for (int i = 0; i < n_threads - 1; i++) {
            if (pthread_create(&p->th[i], NULL, jk_worker, p)) {
                p->n = i + 1; /* join the ones that did start */
                jk_pool_free(p);
                return JCLIP_ERR_THREAD;
            }
        }
    }
#endif
    *out = p;
    return JCLIP_OK;
}

static void jk_pool_run(jk_pool *p, jk_task_fn fn, void *arg)
{
#ifndef JCLIP_NO_THREADS
    if (p->n > 1) {
        pthread_mutex_lock(&p->mu);
        p->fn = fn;
        p->arg = arg;
        p->pending = p->n - 1;
        p->gen++;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        fn(arg, 0, p->n);
        pthread_mutex_lock(&p->mu);
        while (p->pending) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
        return;
    }
#else
    (void)p; /* always one thread */
#endif
    fn(arg, 0, 1);
}

/* The [lo, hi) share of `total` items for thread t of n, in whole multiples of `grain`. */
static void jk_split(int total, int grain, int t, int n, int *lo, int *hi)
{
    int chunks = (total + grain - 1) / grain;
    int c0 = (int)((long long)chunks * t / n), c1 = (int)((long long)chunks * (t + 1) / n);
    *lo = c0 * grain < total ? c0 * grain : total;
    *hi = c1 * grain < total ? c1 * grain : total;
}
