/* cli/serve.c: `jclip serve`, an HTTP/1.1 embedding server speaking the OpenAI and Jina
 * /v1/embeddings wire formats, built on the public API (jclip.h) only.
 *
 * Threads:
 *  - the main thread accepts connections (poll on the listening socket and a signal pipe);
 *  - one thread per connection (at most --max-conns) reads requests with deadlines, parses
 *    them (http.c), queues the inputs of an embeddings request and waits for them, then
 *    writes the answer; a slow or idle client only ever holds its own connection thread;
 *  - --workers inference threads, each with its own jclip_ctx on the one shared model, take
 *    queued inputs in batches (dynamic batching: whatever queued while they were busy).
 *    Before embedding a request's next inputs a worker checks that its client is still
 *    connected; the inputs of a client that left are dropped, not computed (499 in the log).
 * Batching never changes a result: images are batched with jclip_embed_images (bitwise the
 * single-image result) and texts with jclip_embed_tokens_batch (bitwise the single-text
 * result, jclip.h). So a vector is the CLI's bit for bit whatever it was batched with. */
#include "../jclip.h"
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int cli_serve(int argc, char **argv);


typedef struct {
    const char *model, *host, *api_key;
    int port, threads, workers, timeout_s, idle_s, max_tokens, batch_images, batch_texts;
    size_t max_body, max_inputs, max_queue, max_conns, max_memory, max_image_bytes, max_text_bytes;
    uint64_t max_pixels;
} srv_cfg;

/* One request's inputs on their way through the queue. Freed by its connection thread, or by
 * the worker that finishes it when the connection stopped waiting (abandoned: /health). */
typedef struct {
    api_req req;
    float *out;      /* [n, dim] */
    int *ntok;       /* tokens per input (texts) */
    size_t pending;  /* inputs not yet embedded */
    int status;      /* first failure: HTTP status, 0 = none */
    char err[400];
    int abandoned;
    int fd;          /* the client's socket, polled before each batch: -1 = none (/health) */
    int cancelled;   /* the client disconnected before all inputs were embedded: no answer */
    pthread_cond_t cv;
} srv_job;

typedef struct { srv_job *j; size_t i; double t; } srv_qent;
typedef struct { srv_qent *v; size_t cap, head, n; } srv_ring;

/* 499 (nginx's "client closed request"): the client disconnected while its inputs were
 * queued; the rest of its inputs were dropped unembedded and no answer was written. */
#define SRV_NCODES 18
static const int srv_codes[SRV_NCODES] = {200, 400, 401, 404, 405, 408, 411, 413, 414, 417, 429, 431, 499, 500, 501, 503, 505, 0};
#define SRV_NB_BATCH 8
static const double srv_b_batch[SRV_NB_BATCH] = {1, 2, 4, 8, 16, 32, 64, 128};
#define SRV_NB_LAT 12
static const double srv_b_lat[SRV_NB_LAT] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

typedef struct { unsigned long long b[SRV_NB_LAT + 1]; double sum; unsigned long long n; } srv_hist;

typedef struct {
    srv_cfg cfg;
    jclip_model *m;
    const char *model_name;
    int dim;
    pthread_mutex_t mu;      /* queue, jobs, memory, metrics, connection count */
    pthread_cond_t qcv;      /* workers: inputs queued or stopping */
    pthread_cond_t ccv;      /* main: a connection ended */
    srv_ring q_text, q_img;
    size_t queued;
    size_t conns, mem_used;
    int workers_stop;
    atomic_int stopping;
    /* metrics */
    unsigned long long req_by_code[SRV_NCODES];
    unsigned long long batch_hist[SRV_NB_BATCH + 1], batches;
    double batch_sum;
    srv_hist h_queue, h_infer, h_request;
    unsigned long long n_texts, n_tokens, n_images, n_failed_inputs;
    unsigned long long n_cancelled, n_dropped_inputs; /* requests, inputs of disconnected clients */
} srv_state;

typedef struct {
    srv_state *S;
    jclip_ctx *ctx;
    pthread_t th;
    int32_t *ids;       /* [batch_texts, max_tokens] */
    float *tmp;         /* [max(batch_texts, batch_images), dim] */
    const int32_t **ptr;
    size_t *lens;
    const void **data;
    size_t *idx;
} srv_worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The metrics slot of an HTTP status (the last slot counts any other). */
static int code_index(int st)
{
    int k = 0;
    while (srv_codes[k] && srv_codes[k] != st) k++;
    return k;
}

static void hist_add(srv_hist *h, double v)
{
    int i = 0;
    while (i < SRV_NB_LAT && v > srv_b_lat[i]) i++;
    h->b[i]++;
    h->sum += v;
    h->n++;
}

/* ---- Queue -------------------------------------------------------------------------------- */

static int ring_init(srv_ring *r, size_t cap)
{
    r->v = (srv_qent *)calloc(cap, sizeof *r->v);
    r->cap = cap;
    return r->v != NULL;
}

static void ring_push(srv_ring *r, srv_qent e) { r->v[(r->head + r->n++) % r->cap] = e; }

static srv_qent ring_pop(srv_ring *r)
{
    srv_qent e = r->v[r->head];
    r->head = (r->head + 1) % r->cap;
    r->n--;
    return e;
}

static void job_free(srv_job *j)
{
    if (!j) return;
    api_free(&j->req);
    free(j->out);
    free(j->ntok);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static srv_job *job_new(srv_state *S, api_req *req)
{
    srv_job *j = (srv_job *)calloc(1, sizeof *j);
    if (!j) return NULL;
    j->req = *req;
    memset(req, 0, sizeof *req);
    size_t n = j->req.n;
    j->out = (float *)malloc(sizeof(float) * (size_t)S->dim * n);
    j->ntok = (int *)calloc(n, sizeof(int));
    if (!j->out || !j->ntok || pthread_cond_init(&j->cv, NULL)) {
        free(j->out); free(j->ntok); api_free(&j->req); free(j);
        return NULL;
    }
    j->pending = n;
    j->fd = -1;
    return j;
}

/* Records a failed input (under S->mu): the first failure names the request's answer. */
static void job_fail(srv_job *j, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void job_fail(srv_job *j, int status, const char *fmt, ...)
{
    if (j->status) return;
    j->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
}

static int status_of(int rc)
{
    switch (rc) {
    case JCLIP_ERR_LIMIT: return 413;
    case JCLIP_ERR_NOMEM: case JCLIP_ERR_THREAD: return 503;
    case JCLIP_ERR_IO: case JCLIP_ERR_CAPACITY: return 500;
    default: return 400;
    }
}

/* Queues all inputs of j, or none: returns 0, or 429 when the queue cannot take them all. */
static int job_submit(srv_state *S, srv_job *j, int bypass)
{
    size_t n = j->req.n;
    double t = now_s();
    pthread_mutex_lock(&S->mu);
    size_t cap = S->cfg.max_queue + (bypass ? 16 : 0);
    if (S->queued + n > cap) { pthread_mutex_unlock(&S->mu); return 429; }
    for (size_t i = 0; i < n; i++) {
        srv_qent e = {j, i, t};
        ring_push(j->req.items[i].kind == API_IMAGE ? &S->q_img : &S->q_text, e);
    }
    S->queued += n;
    pthread_cond_broadcast(&S->qcv);
    pthread_mutex_unlock(&S->mu);
    return 0;
}

/* ---- Workers ------------------------------------------------------------------------------ */

/* Whether the client on fd has closed its end (FIN or reset): checked by a worker before it
 * embeds a request's next inputs, so the queued work of a client that gave up is dropped
 * instead of computed. A client that half-closes (shutdown(SHUT_WR)) after sending its
 * request counts as gone, as with nginx (its 499). Never blocks: a zero-timeout poll. */
static int client_gone(int fd)
{
    if (fd < 0) return 0;
#ifdef POLLRDHUP
    struct pollfd p = {fd, POLLRDHUP, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
#else
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
#endif
}

typedef struct { srv_qent e; int rc; char err[300]; } srv_done;

static void worker_texts(srv_worker *w, srv_qent *es, size_t k, int *st, char (*err)[300])
{
    srv_state *S = w->S;
    const size_t D = (size_t)S->dim, T = (size_t)S->cfg.max_tokens;
    size_t nb = 0;
    for (size_t b = 0; b < k; b++) {
        srv_job *j = es[b].j;
        api_item *it = &j->req.items[es[b].i];
        const int32_t *ids;
        size_t n = 0;
        st[b] = 0;
        if (it->kind == API_TEXT) {
            if (!j->req.truncate) {
                int rc = jclip_tokenize(w->ctx, it->text, it->len, (size_t)1 << 30, NULL, 0, &n);
                if (rc && rc != JCLIP_ERR_CAPACITY) { st[b] = status_of(rc); snprintf(err[b], 300, "input[%zu]: %s", es[b].i, jclip_ctx_error(w->ctx)); continue; }
                if (n > T) {
                    st[b] = 400;
                    snprintf(err[b], 300, "input[%zu]: text of %zu tokens exceeds the limit of %zu tokens (truncate is false)", es[b].i, n, T);
                    continue;
                }
            }
            int32_t *dst = w->ids + b * T;
            int rc = jclip_tokenize(w->ctx, it->text, it->len, T, dst, T, &n);
            if (rc) { st[b] = status_of(rc); snprintf(err[b], 300, "input[%zu]: %s", es[b].i, jclip_ctx_error(w->ctx)); continue; }
            ids = dst;
        } else {
            ids = it->ids;
            n = it->n_ids;
            if (n > T) {
                st[b] = 400;
                snprintf(err[b], 300, "input[%zu]: %zu token ids exceed the limit of %zu", es[b].i, n, T);
                continue;
            }
        }
        j->ntok[es[b].i] = (int)n;
        w->ptr[nb] = ids;
        w->lens[nb] = n;
        w->idx[nb] = b;
        nb++;
    }
    if (!nb) return;
    if (jclip_embed_tokens_batch(w->ctx, w->ptr, w->lens, nb, w->tmp, nb * D) == 0) {
        for (size_t q = 0; q < nb; q++) memcpy(es[w->idx[q]].j->out + es[w->idx[q]].i * D, w->tmp + q * D, D * sizeof(float));
        return;
    }
    /* one of them failed (a bad id): redo one by one, which gives the same bits for the rest */
    for (size_t q = 0; q < nb; q++) {
        size_t b = w->idx[q];
        int rc = jclip_embed_tokens(w->ctx, w->ptr[q], w->lens[q], es[b].j->out + es[b].i * D, D);
        if (rc) { st[b] = status_of(rc); snprintf(err[b], 300, "input[%zu]: %s", es[b].i, jclip_ctx_error(w->ctx)); }
    }
}

static void worker_images(srv_worker *w, srv_qent *es, size_t k, int *st, char (*err)[300])
{
    const size_t D = (size_t)w->S->dim;
    for (size_t b = 0; b < k; b++) {
        api_item *it = &es[b].j->req.items[es[b].i];
        w->data[b] = it->img;
        w->lens[b] = it->img_len;
        st[b] = 0;
    }
    if (jclip_embed_images(w->ctx, w->data, w->lens, k, w->tmp, k * D) == 0) {
        for (size_t b = 0; b < k; b++) memcpy(es[b].j->out + es[b].i * D, w->tmp + b * D, D * sizeof(float));
        return;
    }
    for (size_t b = 0; b < k; b++) {
        int rc = jclip_embed_image(w->ctx, w->data[b], w->lens[b], es[b].j->out + es[b].i * D, D);
        if (rc) { st[b] = status_of(rc); snprintf(err[b], 300, "input[%zu]: %s", es[b].i, jclip_ctx_error(w->ctx)); }
    }
}

static void *worker_main(void *arg)
{
    srv_worker *w = (srv_worker *)arg;
    srv_state *S = w->S;
    size_t B = (size_t)(S->cfg.batch_texts > S->cfg.batch_images ? S->cfg.batch_texts : S->cfg.batch_images);
    srv_qent *es = (srv_qent *)malloc(B * sizeof *es);
    int *st = (int *)malloc(B * sizeof *st);
    char (*err)[300] = (char (*)[300])malloc(B * sizeof *err);
    if (!es || !st || !err) { fprintf(stderr, "jclip serve: worker out of memory\n"); abort(); }
    for (;;) {
        pthread_mutex_lock(&S->mu);
        while (!S->workers_stop && S->queued == 0) pthread_cond_wait(&S->qcv, &S->mu);
        if (S->queued == 0) { pthread_mutex_unlock(&S->mu); break; }
        srv_ring *r;
        if (!S->q_img.n) r = &S->q_text;
        else if (!S->q_text.n) r = &S->q_img;
        else r = S->q_text.v[S->q_text.head].t <= S->q_img.v[S->q_img.head].t ? &S->q_text : &S->q_img;
        int images = r == &S->q_img;
        size_t lim = (size_t)(images ? S->cfg.batch_images : S->cfg.batch_texts), k = 0;
        double t0 = now_s();
        const srv_job *checked = NULL; /* one poll per request per batch */
        while (r->n && k < lim) {
            srv_qent e = ring_pop(r);
            S->queued--;
            hist_add(&S->h_queue, t0 - e.t);
            if (!e.j->status && e.j != checked) {
                checked = e.j;
                if (client_gone(e.j->fd)) {
                    e.j->cancelled = 1;
                    job_fail(e.j, 499, "client closed the connection");
                    S->n_cancelled++;
                }
            }
            if (e.j->status) { /* the request already failed or its client left: skip the work */
                if (e.j->cancelled) S->n_dropped_inputs++;
                if (--e.j->pending == 0) {
                    if (e.j->abandoned) job_free(e.j);
                    else pthread_cond_signal(&e.j->cv);
                    checked = NULL;
                }
                continue;
            }
            es[k++] = e;
        }
        pthread_mutex_unlock(&S->mu);
        if (!k) continue;
        if (images) worker_images(w, es, k, st, err);
        else worker_texts(w, es, k, st, err);
        double t1 = now_s();
        pthread_mutex_lock(&S->mu);
        int bi = 0;
        while (bi < SRV_NB_BATCH && (double)k > srv_b_batch[bi]) bi++;
        S->batch_hist[bi]++;
        S->batches++;
        S->batch_sum += (double)k;
        hist_add(&S->h_infer, t1 - t0);
        for (size_t b = 0; b < k; b++) {
            srv_job *j = es[b].j;
            if (st[b]) { job_fail(j, st[b], "%s", err[b]); S->n_failed_inputs++; }
            else if (images) S->n_images++;
            else { S->n_texts++; S->n_tokens += (unsigned long long)j->ntok[es[b].i]; }
            if (--j->pending == 0) {
                if (j->abandoned) job_free(j);
                else pthread_cond_signal(&j->cv);
            }
        }
        pthread_mutex_unlock(&S->mu);
    }
    free(es);
    free(st);
    free(err);
    return NULL;
}

/* ---- Connections -------------------------------------------------------------------------- */

typedef struct {
    srv_state *S;
    int fd;
    char peer[64];
    char head[HTTP_MAX_HEAD + 1];
    size_t n;          /* bytes in head[] */
    int keep;          /* keep the connection after this answer */
    int status;        /* of the last answer (access log) */
    size_t sent;
} srv_conn;

/* Waits until fd is ready for `ev` or `deadline` passes, in slices so that a stopping server
 * is noticed; idle: give up as soon as the server stops. Returns 1 ready, 0 timeout/stop. */
static int conn_wait(srv_conn *c, short ev, double deadline, int idle)
{
    for (;;) {
        if (idle && atomic_load(&c->S->stopping)) { /* a request that already arrived is answered */
            struct pollfd p0 = {c->fd, ev, 0};
            return poll(&p0, 1, 0) > 0;
        }
        double left = deadline - now_s();
        if (left <= 0) return 0;
        struct pollfd p = {c->fd, ev, 0};
        int ms = left > 0.2 ? 200 : (int)(left * 1000) + 1;
        int r = poll(&p, 1, ms);
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) return 0;
    }
}

static int conn_send_all(srv_conn *c, const char *p, size_t n)
{
    double deadline = now_s() + c->S->cfg.timeout_s;
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) { p += w; n -= (size_t)w; c->sent += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!conn_wait(c, POLLOUT, deadline, 0)) return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

static const char *reason(int st)
{
    switch (st) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

static int respond(srv_conn *c, int st, const char *ctype, const char *body, size_t len, const char *extra)
{
    if (atomic_load(&c->S->stopping)) c->keep = 0;
    char h[512];
    int n = snprintf(h, sizeof h,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n%sServer: jclip/" JCLIP_VERSION "\r\n\r\n",
                     st, reason(st), ctype, len, c->keep ? "keep-alive" : "close", extra ? extra : "");
    c->status = st;
    pthread_mutex_lock(&c->S->mu);
    c->S->req_by_code[code_index(st)]++;
    pthread_mutex_unlock(&c->S->mu);
    if (conn_send_all(c, h, (size_t)n) || conn_send_all(c, body, len)) { c->keep = 0; return -1; }
    return 0;
}

/* An error answer in the request's wire format: OpenAI {"error": {...}}, Jina {"detail": ...}. */
static int respond_error(srv_conn *c, int st, int jina, const char *msg, const char *extra)
{
    sbuf b = {0};
    if (jina) {
        sb_puts(&b, "{\"detail\":");
        sb_json_str(&b, msg, strlen(msg));
        sb_puts(&b, "}");
    } else {
        const char *type = st == 401 ? "authentication_error" : st == 429 ? "rate_limit_error" : st >= 500 ? "server_error" : "invalid_request_error";
        sb_puts(&b, "{\"error\":{\"message\":");
        sb_json_str(&b, msg, strlen(msg));
        sb_printf(&b, ",\"type\":\"%s\",\"param\":null,\"code\":\"%d\"}}", type, st);
    }
    int rc = b.oom ? respond(c, 503, "text/plain", "out of memory\n", 14, NULL)
                   : respond(c, st, "application/json", b.p, b.n, extra);
    free(b.p);
    return rc;
}

static int mem_reserve(srv_state *S, size_t n)
{
    pthread_mutex_lock(&S->mu);
    int ok = S->mem_used <= S->cfg.max_memory && n <= S->cfg.max_memory - S->mem_used;
    if (ok) S->mem_used += n;
    pthread_mutex_unlock(&S->mu);
    return ok;
}

static void mem_release(srv_state *S, size_t n)
{
    pthread_mutex_lock(&S->mu);
    S->mem_used -= n;
    pthread_mutex_unlock(&S->mu);
}

static int key_ok(const srv_state *S, const http_req *rq)
{
    const char *key = S->cfg.api_key;
    if (!key) return 1;
    if (!rq->has_auth || rq->auth_too_long || strncmp(rq->auth, "Bearer ", 7) != 0) return 0;
    const char *got = rq->auth + 7;
    size_t a = strlen(got), b = strlen(key), n = a > b ? a : b;
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < n; i++) /* every byte compared, whatever matches: constant time */
        diff |= (unsigned)((i < a ? (unsigned char)got[i] : 0) ^ (i < b ? (unsigned char)key[i] : 0));
    return diff == 0;
}

static void write_vec(sbuf *b, const float *e, int D, int enc)
{
    if (enc == API_FLOAT) {
        sb_put(b, "[", 1);
        for (int k = 0; k < D; k++) {
            char t[32];
            int n = snprintf(t, sizeof t, k ? ",%.9g" : "%.9g", (double)e[k]);
            sb_put(b, t, (size_t)n);
        }
        sb_put(b, "]", 1);
    } else if (enc == API_BASE64) {
        /* little-endian float32 bytes, as the OpenAI SDKs decode them */
        unsigned char *raw = (unsigned char *)malloc((size_t)D * 4);
        if (!raw) { b->oom = 1; return; }
        for (int k = 0; k < D; k++) {
            uint32_t u;
            memcpy(&u, &e[k], 4);
            raw[4 * k] = (unsigned char)u; raw[4 * k + 1] = (unsigned char)(u >> 8);
            raw[4 * k + 2] = (unsigned char)(u >> 16); raw[4 * k + 3] = (unsigned char)(u >> 24);
        }
        sb_put(b, "\"", 1);
        sb_base64(b, raw, (size_t)D * 4);
        sb_put(b, "\"", 1);
        free(raw);
    } else {
        /* sign bits packed MSB first: ubinary as uint8, binary as int8 (ubinary - 128) */
        sb_put(b, "[", 1);
        for (int k = 0; k < D; k += 8) {
            int v = 0;
            for (int q = 0; q < 8; q++) v = v << 1 | (k + q < D && e[k + q] > 0);
            if (enc == API_BINARY) v -= 128;
            sb_printf(b, k ? ",%d" : "%d", v);
        }
        sb_put(b, "]", 1);
    }
}

static void handle_embeddings(srv_conn *c, const char *body, size_t len)
{
    srv_state *S = c->S;
    api_limits lim = {S->cfg.max_inputs, S->cfg.max_text_bytes, S->cfg.max_image_bytes, (size_t)S->cfg.max_tokens, S->dim};
    api_req rq;
    char msg[512];
    int st = api_parse(body, len, &lim, &rq, msg, sizeof msg);
    if (st) {
        respond_error(c, st, rq.jina, msg, st == 503 ? "Retry-After: 1\r\n" : NULL);
        api_free(&rq);
        return;
    }
    int jina = rq.jina;
    if (rq.n > S->cfg.max_queue) {
        snprintf(msg, sizeof msg, "%zu inputs exceed the queue size of %zu (--max-queue)", rq.n, S->cfg.max_queue);
        respond_error(c, 413, jina, msg, NULL);
        api_free(&rq);
        return;
    }
    /* output vectors + the answer (float: ~16 bytes per number) */
    size_t est = rq.n * (size_t)S->dim * (4 + 16) + 4096;
    if (!mem_reserve(S, est)) {
        respond_error(c, 503, jina, "server memory budget (--max-memory) exhausted; retry later", "Retry-After: 1\r\n");
        api_free(&rq);
        return;
    }
    srv_job *j = job_new(S, &rq);
    if (j) j->fd = c->fd;
    if (!j) {
        api_free(&rq);
        mem_release(S, est);
        respond_error(c, 503, jina, "out of memory", "Retry-After: 1\r\n");
        return;
    }
    if (job_submit(S, j, 0)) {
        job_free(j);
        mem_release(S, est);
        snprintf(msg, sizeof msg, "the server is busy (%zu inputs queued at most); retry later", S->cfg.max_queue);
        respond_error(c, 429, jina, msg, "Retry-After: 1\r\n");
        return;
    }
    pthread_mutex_lock(&S->mu);
    while (j->pending) pthread_cond_wait(&j->cv, &S->mu);
    if (j->cancelled) S->req_by_code[code_index(499)]++;
    pthread_mutex_unlock(&S->mu);
    if (j->cancelled) { /* nobody to answer: log it as nginx does */
        c->status = 499;
        c->keep = 0;
    } else if (j->status) {
        respond_error(c, j->status, jina, j->err, j->status == 503 ? "Retry-After: 1\r\n" : NULL);
    } else {
        sbuf b = {0};
        long long tokens = 0;
        sb_puts(&b, "{\"object\":\"list\",\"data\":[");
        for (size_t i = 0; i < j->req.n; i++) {
            tokens += j->ntok[i];
            sb_printf(&b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
            write_vec(&b, j->out + i * (size_t)S->dim, S->dim, j->req.encoding);
            sb_puts(&b, "}");
        }
        sb_puts(&b, "],\"model\":");
        const char *name = j->req.model[0] ? j->req.model : S->model_name;
        sb_json_str(&b, name, strlen(name));
        sb_printf(&b, ",\"usage\":{\"prompt_tokens\":%lld,\"total_tokens\":%lld}}", tokens, tokens);
        if (b.oom) respond_error(c, 503, jina, "out of memory", "Retry-After: 1\r\n");
        else respond(c, 200, "application/json", b.p, b.n, NULL);
        free(b.p);
    }
    job_free(j);
    mem_release(S, est);
}

/* GET /health: one tiny text through a worker, so a wedged or failing engine shows. */
static void handle_health(srv_conn *c)
{
    srv_state *S = c->S;
    api_req rq;
    memset(&rq, 0, sizeof rq);
    rq.truncate = 1;
    rq.model = (char *)"";
    rq.items = (api_item *)calloc(1, sizeof *rq.items);
    srv_job *j = NULL;
    if (rq.items) {
        rq.n = 1;
        rq.items[0].kind = API_TEXT;
        rq.items[0].text = (char *)"health check";
        rq.items[0].len = 12;
        j = job_new(S, &rq);
    }
    int ok = 0;
    if (j && job_submit(S, j, 1) == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 30;
        pthread_mutex_lock(&S->mu);
        while (j->pending)
            if (pthread_cond_timedwait(&j->cv, &S->mu, &ts) == ETIMEDOUT) break;
        if (j->pending) { j->abandoned = 1; j = NULL; } /* the worker frees it */
        else ok = j->status == 0;
        pthread_mutex_unlock(&S->mu);
    }
    if (ok) {
        double s = 0;
        for (int k = 0; k < S->dim; k++) s += (double)j->out[k] * j->out[k];
        ok = fabs(s - 1) < 1e-3;
    }
    job_free(j);
    if (ok) respond(c, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
    else respond(c, 503, "application/json", "{\"status\":\"unavailable\"}", 24, "Retry-After: 5\r\n");
}

static void handle_models(srv_conn *c)
{
    sbuf b = {0};
    sb_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
    sb_json_str(&b, c->S->model_name, strlen(c->S->model_name));
    sb_printf(&b, ",\"object\":\"model\",\"created\":0,\"owned_by\":\"jclip\",\"dimensions\":%d}]}", c->S->dim);
    if (b.oom) respond(c, 503, "text/plain", "out of memory\n", 14, NULL);
    else respond(c, 200, "application/json", b.p, b.n, NULL);
    free(b.p);
}

static void hist_print(sbuf *b, const char *name, const char *help, const srv_hist *h, const double *bounds, int nb)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long cum = 0;
    for (int i = 0; i < nb; i++) {
        cum += h->b[i];
        sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], cum);
    }
    sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, h->n, name, h->sum, name, h->n);
}

static void handle_metrics(srv_conn *c)
{
    srv_state *S = c->S;
    sbuf b = {0};
    pthread_mutex_lock(&S->mu);
    sb_puts(&b, "# HELP jclip_http_requests_total HTTP answers by status code.\n# TYPE jclip_http_requests_total counter\n");
    for (int k = 0; srv_codes[k]; k++)
        if (S->req_by_code[k]) sb_printf(&b, "jclip_http_requests_total{code=\"%d\"} %llu\n", srv_codes[k], S->req_by_code[k]);
    sb_printf(&b, "# HELP jclip_queue_depth Inputs waiting for a worker.\n# TYPE jclip_queue_depth gauge\njclip_queue_depth %zu\n", S->queued);
    sb_printf(&b, "# HELP jclip_connections Open client connections.\n# TYPE jclip_connections gauge\njclip_connections %zu\n", S->conns);
    sb_printf(&b, "# HELP jclip_memory_reserved_bytes Request memory reserved against --max-memory.\n# TYPE jclip_memory_reserved_bytes gauge\njclip_memory_reserved_bytes %zu\n", S->mem_used);
    sb_puts(&b, "# HELP jclip_batch_size Inputs per tower batch.\n# TYPE jclip_batch_size histogram\n");
    unsigned long long cum = 0;
    for (int i = 0; i < SRV_NB_BATCH; i++) {
        cum += S->batch_hist[i];
        sb_printf(&b, "jclip_batch_size_bucket{le=\"%g\"} %llu\n", srv_b_batch[i], cum);
    }
    sb_printf(&b, "jclip_batch_size_bucket{le=\"+Inf\"} %llu\njclip_batch_size_sum %.0f\njclip_batch_size_count %llu\n", S->batches, S->batch_sum, S->batches);
    hist_print(&b, "jclip_queue_seconds", "Time inputs waited in the queue.", &S->h_queue, srv_b_lat, SRV_NB_LAT);
    hist_print(&b, "jclip_inference_seconds", "Time of one batch in a worker.", &S->h_infer, srv_b_lat, SRV_NB_LAT);
    hist_print(&b, "jclip_request_seconds", "Time from a complete request to its answer (embeddings).", &S->h_request, srv_b_lat, SRV_NB_LAT);
    sb_printf(&b, "# HELP jclip_texts_total Texts embedded.\n# TYPE jclip_texts_total counter\njclip_texts_total %llu\n", S->n_texts);
    sb_printf(&b, "# HELP jclip_tokens_total Tokens embedded.\n# TYPE jclip_tokens_total counter\njclip_tokens_total %llu\n", S->n_tokens);
    sb_printf(&b, "# HELP jclip_images_total Images embedded.\n# TYPE jclip_images_total counter\njclip_images_total %llu\n", S->n_images);
    sb_printf(&b, "# HELP jclip_failed_inputs_total Inputs that failed (bad image, bad token ids).\n# TYPE jclip_failed_inputs_total counter\njclip_failed_inputs_total %llu\n", S->n_failed_inputs);
    sb_printf(&b, "# HELP jclip_cancelled_requests_total Requests whose client disconnected before their inputs were embedded (logged as 499).\n"
                  "# TYPE jclip_cancelled_requests_total counter\njclip_cancelled_requests_total %llu\n", S->n_cancelled);
    sb_printf(&b, "# HELP jclip_dropped_inputs_total Queued inputs dropped unembedded because their client disconnected.\n"
                  "# TYPE jclip_dropped_inputs_total counter\njclip_dropped_inputs_total %llu\n", S->n_dropped_inputs);
    pthread_mutex_unlock(&S->mu);
    if (b.oom) respond(c, 503, "text/plain", "out of memory\n", 14, NULL);
    else respond(c, 200, "text/plain; version=0.0.4", b.p, b.n, NULL);
    free(b.p);
}

/* Reads and answers one request. Returns 0 to keep the connection, -1 to close it. */
static int conn_request(srv_conn *c)
{
    srv_state *S = c->S;
    double idle_deadline = now_s() + S->cfg.idle_s, deadline = 0;
    http_req rq;
    char msg[600];
    int r;
    c->status = 0;
    c->sent = 0;
    c->keep = 0;
    for (;;) {
        r = c->n ? http_parse_head(c->head, c->n, &rq, msg, sizeof msg) : 0;
        if (r) break;
        if (c->n && deadline == 0) deadline = now_s() + S->cfg.timeout_s;
        if (!conn_wait(c, POLLIN, c->n ? deadline : idle_deadline, c->n == 0)) {
            if (c->n == 0) return -1; /* idle keep-alive connection, or the server stops */
            respond_error(c, 408, 0, "request not received in time (--timeout)", NULL);
            return -1;
        }
        ssize_t got = recv(c->fd, c->head + c->n, HTTP_MAX_HEAD - c->n, MSG_DONTWAIT);
        if (got == 0) return -1;
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
            return -1;
        }
        c->n += (size_t)got;
    }
    if (deadline == 0) deadline = now_s() + S->cfg.timeout_s;
    double t_start = now_s();
    const char *M = rq.method[0] ? rq.method : "-", *P = rq.path[0] ? rq.path : "-";
    if (r < 0) {
        c->keep = 0;
        respond_error(c, -r, 0, msg, NULL);
        goto log;
    }
    c->keep = rq.keep_alive;
    if (rq.content_length > 0 && (unsigned long long)rq.content_length > S->cfg.max_body) {
        snprintf(msg, sizeof msg, "request body of %lld bytes exceeds the limit of %zu bytes (--max-body)", rq.content_length, S->cfg.max_body);
        c->keep = 0;
        respond_error(c, 413, 0, msg, NULL);
        goto log;
    }
    size_t cl = rq.content_length > 0 ? (size_t)rq.content_length : 0;
    char *body = NULL;
    if (cl) {
        if (!mem_reserve(S, cl)) {
            c->keep = 0;
            respond_error(c, 503, 0, "server memory budget (--max-memory) exhausted; retry later", "Retry-After: 1\r\n");
            goto log;
        }
        body = (char *)malloc(cl + 1);
        if (!body) {
            mem_release(S, cl);
            c->keep = 0;
            respond_error(c, 503, 0, "out of memory", "Retry-After: 1\r\n");
            goto log;
        }
        if (rq.expect_continue && c->n == rq.head_len) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (conn_send_all(c, cont, sizeof cont - 1)) { free(body); mem_release(S, cl); return -1; }
        }
    }
    /* the body: what already arrived with the head, then the rest */
    size_t have = c->n - rq.head_len < cl ? c->n - rq.head_len : cl;
    if (cl) memcpy(body, c->head + rq.head_len, have);
    memmove(c->head, c->head + rq.head_len + have, c->n - rq.head_len - have);
    c->n -= rq.head_len + have;
    while (have < cl) {
        if (!conn_wait(c, POLLIN, deadline, 0)) {
            c->keep = 0;
            respond_error(c, 408, 0, "request body not received in time (--timeout)", NULL);
            free(body);
            mem_release(S, cl);
            goto log;
        }
        ssize_t got = recv(c->fd, body + have, cl - have, MSG_DONTWAIT);
        if (got == 0) { free(body); mem_release(S, cl); return -1; } /* client gave up: nobody to answer */
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
            free(body);
            mem_release(S, cl);
            return -1;
        }
        have += (size_t)got;
    }
    if (body) body[cl] = 0;

    int is_get = strcmp(M, "GET") == 0, is_post = strcmp(M, "POST") == 0;
    int emb = strcmp(P, "/v1/embeddings") == 0 || strcmp(P, "/embeddings") == 0;
    int models = strcmp(P, "/v1/models") == 0 || strcmp(P, "/models") == 0;
    int health = strcmp(P, "/health") == 0, metrics = strcmp(P, "/metrics") == 0;
    if (!emb && !models && !health && !metrics) {
        snprintf(msg, sizeof msg, "no route %s %s (POST /v1/embeddings, GET /v1/models, /health, /metrics)", M, P);
        respond_error(c, 404, 0, msg, NULL);
    } else if ((emb && !is_post) || (!emb && !is_get)) {
        snprintf(msg, sizeof msg, "%s %s: method not allowed", M, P);
        respond_error(c, 405, 0, msg, emb ? "Allow: POST\r\n" : "Allow: GET\r\n");
    } else if ((emb || models) && !key_ok(S, &rq)) {
        respond_error(c, 401, 0, "missing or wrong API key (Authorization: Bearer KEY)", "WWW-Authenticate: Bearer\r\n");
    } else if (health) handle_health(c);
    else if (metrics) handle_metrics(c);
    else if (models) handle_models(c);
    else {
        handle_embeddings(c, body ? body : "", cl);
        pthread_mutex_lock(&S->mu);
        hist_add(&S->h_request, now_s() - t_start);
        pthread_mutex_unlock(&S->mu);
    }
    free(body);
    if (cl) mem_release(S, cl);
log:
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char tb[32];
        strftime(tb, sizeof tb, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(stderr, "%s %s \"%s %s\" %d %zu %.1fms\n", tb, c->peer, M, P, c->status, c->sent, (now_s() - t_start) * 1e3);
    }
    return c->keep ? 0 : -1;
}

static void *conn_main(void *arg)
{
    srv_conn *c = (srv_conn *)arg;
    srv_state *S = c->S;
    while (conn_request(c) == 0) {}
    shutdown(c->fd, SHUT_WR);
    close(c->fd);
    free(c);
    pthread_mutex_lock(&S->mu);
    S->conns--;
    pthread_cond_broadcast(&S->ccv);
    pthread_mutex_unlock(&S->mu);
    return NULL;
}

/* ---- Start-up, accept loop, shutdown ------------------------------------------------------ */

static int srv_sigpipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int e = errno;
    unsigned char b = (unsigned char)sig;
    if (write(srv_sigpipe[1], &b, 1) < 0) {}
    errno = e;
}

static const char *SERVE_HELP =
    "usage: jclip serve [-m MODEL] [--host 127.0.0.1] [--port 8080] [--threads N] [--api-key KEY] [limits]\n"
    "\n"
    "Serves embeddings over HTTP/1.1 (keep-alive, Content-Length bodies; chunked bodies get 411):\n"
    "  POST /v1/embeddings  OpenAI format (input: string | [strings] | token-id arrays,\n"
    "                       encoding_format float|base64) and Jina format (input: [{\"text\"}|\n"
    "                       {\"image\": base64 or data: URI}], embedding_type float|base64|binary|ubinary)\n"
    "  GET /v1/models, GET /health (runs a tiny embedding; 503 when it fails), GET /metrics\n"
    "Concurrent requests are batched; every vector is bitwise what `jclip text`/`jclip image` give.\n"
    "SIGTERM/SIGINT: stop accepting, answer the requests in flight, exit 0.\n"
    "\n"
    "  -m, --model MODEL     .jclip model (default: $JCLIP_MODEL, else models/jina-clip-v1.jclip)\n"
    "  --host ADDR           address to bind (default 127.0.0.1: loopback only)\n"
    "  --port N              TCP port (default 8080; 0 = any free port, printed at start-up)\n"
    "  -t, --threads N       compute threads in all (default: the CPUs this process may use)\n"
    "  --workers N           inference contexts sharing the threads (default 1)\n"
    "  --api-key KEY         require `Authorization: Bearer KEY` on /v1/* (default $JCLIP_API_KEY;\n"
    "                        /health and /metrics stay public)\n"
    "  --max-body BYTES      largest request body (default 33554432 = 32 MiB; 413 beyond)\n"
    "  --max-inputs N        inputs per request (default 2048; 413 beyond)\n"
    "  --max-queue N         inputs waiting for a worker (default 4096; 429 + Retry-After beyond)\n"
    "  --max-conns N         open connections (default 256; 503 beyond)\n"
    "  --max-memory MB       request memory in all: bodies, vectors, answers (default 2048; 503)\n"
    "  --max-tokens N        tokens per text incl. [CLS]/[SEP] (default 512): longer texts are\n"
    "                        truncated like the CLI, or refused (400) with \"truncate\": false\n"
    "  --max-pixels N        largest decoded image, width*height (default 50000000; 413 beyond)\n"
    "  --max-image-bytes N   largest encoded image (default 16777216; 413 beyond)\n"
    "  --batch-texts N       texts per tower batch (default 64)\n"
    "  --batch-images N      images per tower batch (default 8)\n"
    "  --timeout S           seconds to receive a whole request (default 30; 408 beyond)\n"
    "  --idle-timeout S      seconds a keep-alive connection may stay idle (default 15)\n"
    "\n"
    "Example: jclip serve -m models/jina-clip-v1.jclip --port 8080 &\n"
    "  curl -s localhost:8080/v1/embeddings -H 'Content-Type: application/json' \\\n"
    "       -d '{\"input\": [\"a photo of a cat\"], \"model\": \"jina-clip-v1\"}'\n";

static int serve_usage(const char *fmt, const char *a)
{
    fprintf(stderr, "jclip serve: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, " (see: jclip serve --help)\n");
    return 2;
}

static int num_arg(const char *a, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "jclip serve: %s needs an integer in [%lld, %lld], got '%s' (see: jclip serve --help)\n", a, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_serve(int argc, char **argv)
{
    srv_cfg cfg = {0};
    cfg.host = "127.0.0.1";
    cfg.port = 8080;
    cfg.workers = 1;
    cfg.timeout_s = 30;
    cfg.idle_s = 15;
    cfg.max_tokens = 512;
    cfg.batch_images = 8;
    cfg.batch_texts = 64;
    cfg.max_body = (size_t)32 << 20;
    cfg.max_inputs = 2048;
    cfg.max_queue = 4096;
    cfg.max_conns = 256;
    cfg.max_memory = (size_t)2048 << 20;
    cfg.max_image_bytes = (size_t)16 << 20;
    cfg.max_text_bytes = (size_t)1 << 20;
    cfg.max_pixels = 50000000;
    const char *env_key = getenv("JCLIP_API_KEY");
    if (env_key && *env_key) cfg.api_key = env_key;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { fputs(SERVE_HELP, stdout); return 0; }
        if (i + 1 >= argc) return serve_usage("unknown option or missing value: '%s'", a);
        const char *v = argv[++i];
        long long x = 0;
#define NUM(flag, lo, hi, dst) else if (strcmp(a, flag) == 0) { if (num_arg(a, v, lo, hi, &x)) return 2; dst = x; }
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) cfg.model = v;
        else if (strcmp(a, "--host") == 0) cfg.host = v;
        else if (strcmp(a, "--api-key") == 0) cfg.api_key = v;
        NUM("--port", 0, 65535, cfg.port)
        NUM("-t", 1, 256, cfg.threads)
        NUM("--threads", 1, 256, cfg.threads)
        NUM("--workers", 1, 64, cfg.workers)
        NUM("--max-body", 1, (long long)1 << 32, cfg.max_body)
        NUM("--max-inputs", 1, 1 << 20, cfg.max_inputs)
        NUM("--max-queue", 1, 1 << 24, cfg.max_queue)
        NUM("--max-conns", 1, 1 << 16, cfg.max_conns)
        NUM("--max-memory", 16, (long long)1 << 24, cfg.max_memory)
        NUM("--max-tokens", 2, 8192, cfg.max_tokens)
        NUM("--max-pixels", 1, (long long)1 << 40, cfg.max_pixels)
        NUM("--max-image-bytes", 16, (long long)1 << 32, cfg.max_image_bytes)
        NUM("--batch-texts", 1, 64, cfg.batch_texts)
        NUM("--batch-images", 1, 64, cfg.batch_images)
        NUM("--timeout", 1, 3600, cfg.timeout_s)
        NUM("--idle-timeout", 1, 3600, cfg.idle_s)
        else return serve_usage("unknown option '%s'", a);
#undef NUM
    }
    cfg.max_memory = cfg.max_memory << 20;
    if (cfg.api_key && !*cfg.api_key) cfg.api_key = NULL;
    if (!cfg.model) {
        const char *env = getenv("JCLIP_MODEL");
        cfg.model = (env && *env) ? env : "models/jina-clip-v1.jclip";
    }
    char why[160] = "";
    int auto_threads = jclip_default_threads(why, sizeof why);
    if (!cfg.threads) cfg.threads = auto_threads;
    if (cfg.workers > cfg.threads) cfg.workers = cfg.threads;

#if defined(__GLIBC__)
    /* Memory that stays flat whatever the traffic: request bodies and answers (up to
     * --max-body) are large and short-lived, so a fixed mmap threshold hands each back to the
     * system when freed (glibc otherwise raises the threshold to the largest block freed, up to
     * 32 MiB, and keeps such blocks in its heaps). And glibc gives each new thread its own
     * arena up to 8 per CPU, each holding its own free memory: with one thread per connection
     * the resident size would then follow the peak number of connections; 4 arenas suffice,
     * since only connection threads allocate (workers never do after start-up). */
    mallopt(M_MMAP_THRESHOLD, 128 << 10);
    mallopt(M_ARENA_MAX, 4);
#endif
    static srv_state st;
    srv_state *S = &st;
    memset(S, 0, sizeof *S);
    S->cfg = cfg;
    char err[512];
    if (jclip_model_load(cfg.model, &S->m, err, sizeof err)) {
        fprintf(stderr, "jclip: error: %s\n", err);
        return 1;
    }
    S->dim = jclip_embed_dim(S->m);
    const char *slash = strrchr(cfg.model, '/');
    static char name[256];
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : cfg.model);
    char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".jclip") == 0) *dot = 0;
    S->model_name = name;
    if (pthread_mutex_init(&S->mu, NULL) || pthread_cond_init(&S->qcv, NULL) || pthread_cond_init(&S->ccv, NULL) ||
        !ring_init(&S->q_text, cfg.max_queue + 16) || !ring_init(&S->q_img, cfg.max_queue + 16)) {
        fprintf(stderr, "jclip: error: out of memory\n");
        return 1;
    }
    atomic_init(&S->stopping, 0);

    /* the listening socket */
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg.port);
    int gr = getaddrinfo(cfg.host, port, &hints, &ai);
    if (gr) { fprintf(stderr, "jclip: error: cannot resolve --host %s: %s\n", cfg.host, gai_strerror(gr)); return 1; }
    int lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (lfd >= 0) setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, ai->ai_addr, ai->ai_addrlen) || listen(lfd, 512)) {
        fprintf(stderr, "jclip: error: cannot listen on %s:%d: %s\n", cfg.host, cfg.port, strerror(errno));
        freeaddrinfo(ai);
        return 1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    int bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port : ((struct sockaddr_in *)&sa)->sin_port);
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);

    /* signals: SIGTERM/SIGINT through a pipe to the accept loop; only this thread takes them */
    if (pipe(srv_sigpipe)) { perror("jclip: pipe"); return 1; }
    fcntl(srv_sigpipe[1], F_SETFL, O_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);

    /* workers: each its own context on the shared model */
    int per = cfg.threads / cfg.workers;
    if (per < 1) per = 1;
    srv_worker *W = (srv_worker *)calloc((size_t)cfg.workers, sizeof *W);
    if (!W) { fprintf(stderr, "jclip: error: out of memory\n"); return 1; }
    size_t B = (size_t)(cfg.batch_texts > cfg.batch_images ? cfg.batch_texts : cfg.batch_images);
    for (int i = 0; i < cfg.workers; i++) {
        jclip_ctx_params p;
        jclip_ctx_params_default(&p);
        p.n_threads = per;
        p.max_tokens = (size_t)cfg.max_tokens;
        p.max_pixels = cfg.max_pixels;
        p.max_image_bytes = cfg.max_image_bytes;
        p.max_images = (size_t)cfg.batch_images;
        W[i].S = S;
        if (jclip_ctx_create(S->m, &p, &W[i].ctx, err, sizeof err)) { fprintf(stderr, "jclip: error: %s\n", err); return 1; }
        W[i].ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)cfg.batch_texts * (size_t)cfg.max_tokens);
        W[i].tmp = (float *)malloc(sizeof(float) * B * (size_t)S->dim);
        W[i].ptr = (const int32_t **)malloc(sizeof(*W[i].ptr) * B);
        W[i].lens = (size_t *)malloc(sizeof(size_t) * B);
        W[i].data = (const void **)malloc(sizeof(void *) * B);
        W[i].idx = (size_t *)malloc(sizeof(size_t) * B);
        if (!W[i].ids || !W[i].tmp || !W[i].ptr || !W[i].lens || !W[i].data || !W[i].idx ||
            pthread_create(&W[i].th, NULL, worker_main, &W[i])) {
            fprintf(stderr, "jclip: error: cannot start worker %d\n", i);
            return 1;
        }
    }
    struct sigaction sact;
    memset(&sact, 0, sizeof sact);
    sact.sa_handler = on_signal;
    sigaction(SIGTERM, &sact, NULL);
    sigaction(SIGINT, &sact, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sigprocmask(SIG_UNBLOCK, &block, NULL);

    fprintf(stderr, "jclip serve: listening on http://%s%s%s:%d  model %s (dim %d, %s kernels), %d worker%s x %d thread%s "
            "(default %d: %s)%s\n",
            strchr(cfg.host, ':') ? "[" : "", cfg.host, strchr(cfg.host, ':') ? "]" : "", bound, S->model_name, S->dim,
            jclip_model_isa(S->m), cfg.workers, cfg.workers == 1 ? "" : "s", per, per == 1 ? "" : "s", auto_threads, why,
            cfg.api_key ? ", API key required" : "");
    fflush(stderr);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, (size_t)512 << 10);
    for (;;) {
        struct pollfd pf[2] = {{lfd, POLLIN, 0}, {srv_sigpipe[0], POLLIN, 0}};
        int r = poll(pf, 2, -1);
        if (r < 0) { if (errno == EINTR) continue; break; }
        if (pf[1].revents) break;
        if (!(pf[0].revents & POLLIN)) continue;
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) usleep(10000);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&S->mu);
        int full = S->conns >= cfg.max_conns;
        if (!full) S->conns++;
        pthread_mutex_unlock(&S->mu);
        if (full) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 68\r\n"
                                       "Connection: close\r\nRetry-After: 1\r\n\r\n"
                                       "{\"error\":{\"message\":\"too many connections\",\"type\":\"server_error\"}}";
            if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {}
            close(fd);
            pthread_mutex_lock(&S->mu);
            S->req_by_code[code_index(503)]++;
            pthread_mutex_unlock(&S->mu);
            continue;
        }
        srv_conn *c = (srv_conn *)malloc(sizeof *c);
        pthread_t th;
        if (c) {
            memset(c, 0, offsetof(srv_conn, head));
            c->S = S;
            c->fd = fd;
            c->n = 0;
            char host[INET6_ADDRSTRLEN] = "?";
            if (peer.ss_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, host, sizeof host);
            else if (peer.ss_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, host, sizeof host);
            snprintf(c->peer, sizeof c->peer, "%s", host);
        }
        if (!c || pthread_create(&th, &attr, conn_main, c)) {
            free(c);
            close(fd);
            pthread_mutex_lock(&S->mu);
            S->conns--;
            pthread_mutex_unlock(&S->mu);
        }
    }
    pthread_attr_destroy(&attr);

    /* stop: no new connections; requests already begun are finished and answered */
    close(lfd);
    atomic_store(&S->stopping, 1);
    fprintf(stderr, "jclip serve: stopping (finishing requests in flight)\n");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += cfg.timeout_s + 30;
    pthread_mutex_lock(&S->mu);
    while (S->conns)
        if (pthread_cond_timedwait(&S->ccv, &S->mu, &ts) == ETIMEDOUT) break;
    size_t left = S->conns;
    S->workers_stop = 1;
    pthread_cond_broadcast(&S->qcv);
    pthread_mutex_unlock(&S->mu);
    if (left) {
        fprintf(stderr, "jclip serve: %zu connections still busy after the grace period; exiting\n", left);
        return 1;
    }
    for (int i = 0; i < cfg.workers; i++) {
        pthread_join(W[i].th, NULL);
        jclip_ctx_free(W[i].ctx);
        free(W[i].ids); free(W[i].tmp); free(W[i].ptr); free(W[i].lens); free(W[i].data); free(W[i].idx);
    }
    free(W);
    free(S->q_text.v);
    free(S->q_img.v);
    jclip_model_free(S->m);
    close(srv_sigpipe[0]);
    close(srv_sigpipe[1]);
    fprintf(stderr, "jclip serve: stopped\n");
    return 0;
}
