/* cli/http.c: HTTP/1.x request heads, the /v1/embeddings request body, and the writers the
 * server answers with (see http.h). Every byte here comes from the network: lengths are
 * checked before use, limits are explicit, nothing reads past the given buffer. */
#include "http.h"
#include "json.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- HTTP head ---------------------------------------------------------------------------- */

static int http_fail(char *msg, size_t cap, int status, const char *reason)
{
    if (msg && cap) snprintf(msg, cap, "%s", reason);
    return -status;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int ieq(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    if (an != bn) return 0;
    for (size_t i = 0; i < an; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
    return 1;
}

/* Does the comma-separated list v[0..n) contain the token `tok` (case-insensitive)? */
static int has_token(const char *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t s = i;
        while (i < n && v[i] != ',') i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e > s && ieq(v + s, e - s, tok)) return 1;
    }
    return 0;
}

static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Finds the end of the line starting at p (LF, optionally preceded by CR); returns the index
 * of the LF or -1. */
static long line_end(const char *buf, size_t len, size_t p)
{
    const char *lf = (const char *)memchr(buf + p, '\n', len - p);
    return lf ? (long)(lf - buf) : -1;
}

int http_parse_head(const char *buf, size_t len, http_req *req, char *msg, size_t msgcap)
{
    memset(req, 0, sizeof *req);
    req->content_length = -1;
    size_t scan = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
    /* tolerate empty lines before the request line (RFC 9112 §2.2) */
    size_t p = 0;
    while (p < scan && (buf[p] == '\r' || buf[p] == '\n') && p < 8) p++;
    long le = line_end(buf, scan, p);
    if (le < 0) {
        if (len >= HTTP_MAX_HEAD) return http_fail(msg, msgcap, 431, "request line too long");
        return 0;
    }
    size_t e = (size_t)le;
    if (e > p && buf[e - 1] == '\r') e--;
    /* METHOD SP target SP HTTP/1.x */
    const char *l = buf + p;
    size_t ln = e - p, i = 0;
    while (i < ln && is_tchar((unsigned char)l[i])) i++;
    if (i == 0 || i >= sizeof req->method || i >= ln || l[i] != ' ') return http_fail(msg, msgcap, 400, "malformed request line");
    memcpy(req->method, l, i);
    req->method[i] = 0;
    size_t t0 = ++i;
    while (i < ln && l[i] != ' ') {
        unsigned char c = (unsigned char)l[i];
        if (c <= 0x20 || c == 0x7f) return http_fail(msg, msgcap, 400, "malformed request target");
        i++;
    }
    if (i == t0 || i >= ln) return http_fail(msg, msgcap, 400, "malformed request line");
    size_t tlen = i - t0, q = 0;
    while (q < tlen && l[t0 + q] != '?' && l[t0 + q] != '#') q++;
    if (q >= sizeof req->path) return http_fail(msg, msgcap, 414, "request target too long");
    memcpy(req->path, l + t0, q);
    req->path[q] = 0;
    i++;
    if (ln - i != 8 || memcmp(l + i, "HTTP/1.", 7) != 0) {
        if (ln - i >= 5 && memcmp(l + i, "HTTP/", 5) == 0) return http_fail(msg, msgcap, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
        return http_fail(msg, msgcap, 400, "malformed request line");
    }
    if (l[i + 7] != '0' && l[i + 7] != '1') return http_fail(msg, msgcap, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    req->minor = l[i + 7] - '0';
    req->keep_alive = req->minor == 1;

    int n_hdr = 0, saw_close = 0, saw_keep = 0;
    p = (size_t)le + 1;
    for (;;) {
        le = line_end(buf, scan, p);
        if (le < 0) {
            if (len >= HTTP_MAX_HEAD) return http_fail(msg, msgcap, 431, "request head larger than 16384 bytes");
            return 0;
        }
        e = (size_t)le;
        if (e > p && buf[e - 1] == '\r') e--;
        if (e == p) { p = (size_t)le + 1; break; } /* blank line: end of head */
        if (++n_hdr > HTTP_MAX_HEADERS) return http_fail(msg, msgcap, 431, "more than 100 header fields");
        const char *h = buf + p;
        size_t hn = e - p, c = 0;
        if (h[0] == ' ' || h[0] == '\t') return http_fail(msg, msgcap, 400, "obsolete header line folding");
        while (c < hn && is_tchar((unsigned char)h[c])) c++;
        if (c == 0 || c >= hn || h[c] != ':') return http_fail(msg, msgcap, 400, "malformed header field");
        size_t v = c + 1;
        while (v < hn && (h[v] == ' ' || h[v] == '\t')) v++;
        size_t ve = hn;
        while (ve > v && (h[ve - 1] == ' ' || h[ve - 1] == '\t')) ve--;
        for (size_t k = v; k < ve; k++) {
            unsigned char ch = (unsigned char)h[k];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return http_fail(msg, msgcap, 400, "control character in a header value");
        }
        const char *val = h + v;
        size_t vn = ve - v;
        if (ieq(h, c, "content-length")) {
            if (vn == 0) return http_fail(msg, msgcap, 400, "empty Content-Length");
            long long x = 0;
            for (size_t k = 0; k < vn; k++) {
                if (val[k] < '0' || val[k] > '9') return http_fail(msg, msgcap, 400, "Content-Length is not a number");
                if (x > (LLONG_MAX - 9) / 10) return http_fail(msg, msgcap, 413, "Content-Length too large");
                x = x * 10 + (val[k] - '0');
            }
            if (req->content_length >= 0 && req->content_length != x) return http_fail(msg, msgcap, 400, "conflicting Content-Length fields");
            req->content_length = x;
        } else if (ieq(h, c, "transfer-encoding")) {
            req->chunked = 1;
        } else if (ieq(h, c, "connection")) {
            if (has_token(val, vn, "close")) saw_close = 1;
            if (has_token(val, vn, "keep-alive")) saw_keep = 1;
        } else if (ieq(h, c, "expect")) {
            if (!ieq(val, vn, "100-continue")) return http_fail(msg, msgcap, 417, "only Expect: 100-continue is supported");
            req->expect_continue = 1;
        } else if (ieq(h, c, "authorization")) {
            req->has_auth = 1;
            if (vn >= sizeof req->auth) req->auth_too_long = 1;
            else { memcpy(req->auth, val, vn); req->auth[vn] = 0; }
        }
        p = (size_t)le + 1;
    }
    if (saw_close) req->keep_alive = 0;
    else if (saw_keep && req->minor == 0) req->keep_alive = 1;
    req->head_len = p;
    if (req->chunked) {
        req->keep_alive = 0;
        return http_fail(msg, msgcap, 411, "chunked request bodies are not accepted: send Content-Length");
    }
    return 1;
}

/* ---- Buffers ------------------------------------------------------------------------------ */

static int sb_grow(sbuf *b, size_t add)
{
    if (b->oom) return 0;
    if (b->cap - b->n > add) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n <= add) {
        if (cap > SIZE_MAX / 2) { b->oom = 1; return 0; }
        cap *= 2;
    }
    char *p = (char *)realloc(b->p, cap);
    if (!p) { b->oom = 1; return 0; }
    b->p = p;
    b->cap = cap;
    return 1;
}

void sb_put(sbuf *b, const void *s, size_t n)
{
    if (!sb_grow(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { sb_put(b, tmp, (size_t)n); return; }
    if (!sb_grow(b, (size_t)n + 1)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void sb_json_str(sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; sb_put(b, e, 2); }
        else if (c == '\n') sb_put(b, "\\n", 2);
        else if (c == '\r') sb_put(b, "\\r", 2);
        else if (c == '\t') sb_put(b, "\\t", 2);
        else if (c < 0x20 || c == 0x7f) { char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}; sb_put(b, e, 6); }
        else sb_put(b, &s[i], 1);
    }
    sb_put(b, "\"", 1);
}

void sb_base64(sbuf *b, const unsigned char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n > SIZE_MAX / 2 || !sb_grow(b, (n + 2) / 3 * 4)) return;
    char *o = b->p + b->n;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        *o++ = tab[v >> 18]; *o++ = tab[(v >> 12) & 63]; *o++ = tab[(v >> 6) & 63]; *o++ = tab[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)s[i] << 16;
        *o++ = tab[v >> 18]; *o++ = tab[(v >> 12) & 63]; *o++ = '='; *o++ = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
        *o++ = tab[v >> 18]; *o++ = tab[(v >> 12) & 63]; *o++ = tab[(v >> 6) & 63]; *o++ = '=';
    }
    b->n = (size_t)(o - b->p);
    b->p[b->n] = 0;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

unsigned char *b64_decode(const char *s, size_t n, size_t *out_len, size_t *bad)
{
    size_t m = n;
    while (m > 0 && s[m - 1] == '=' && n - m < 2) m--;
    if (m % 4 == 1) { *bad = m; return NULL; } /* a lone 6-bit group cannot end a byte */
    unsigned char *o = (unsigned char *)malloc(m / 4 * 3 + 3);
    if (!o) { *bad = SIZE_MAX; return NULL; }
    size_t k = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < m; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) { free(o); *bad = i; return NULL; }
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) { bits -= 8; o[k++] = (unsigned char)(acc >> bits); }
    }
    if (n != m && (m + (n - m)) % 4 != 0) { free(o); *bad = n; return NULL; } /* bad padding */
    *out_len = k;
    return o;
}

/* ---- /v1/embeddings body ------------------------------------------------------------------ */

static int api_fail(char *msg, size_t cap, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int api_fail(char *msg, size_t cap, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (msg && cap) vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return status;
}

static int has_prefix(const char *s, size_t n, const char *pre)
{
    size_t k = strlen(pre);
    if (n < k) return 0;
    for (size_t i = 0; i < k; i++)
        if (lower((unsigned char)s[i]) != pre[i]) return 0;
    return 1;
}

/* An image given as a string: a data: URI (base64 payload) or raw base64. URLs are refused. */
static int api_image(const char *s, size_t n, size_t idx, const api_limits *lim, api_item *it, char *msg, size_t cap)
{
    if (has_prefix(s, n, "http://") || has_prefix(s, n, "https://") || has_prefix(s, n, "ftp://") || has_prefix(s, n, "file:"))
        return api_fail(msg, cap, 400, "input[%zu]: image URLs are not fetched (remote fetching is off in jclip serve); "
                        "send the image bytes as base64 or a data: URI", idx);
    if (has_prefix(s, n, "data:")) {
        const char *comma = (const char *)memchr(s, ',', n);
        if (!comma) return api_fail(msg, cap, 400, "input[%zu]: data URI without a comma", idx);
        size_t hl = (size_t)(comma - s);
        if (hl < 12 || !has_prefix(comma - 7, 7, ";base64"))
            return api_fail(msg, cap, 400, "input[%zu]: only base64 data URIs are accepted (data:image/png;base64,...)", idx);
        n -= hl + 1;
        s = comma + 1;
    }
    if (n == 0) return api_fail(msg, cap, 400, "input[%zu]: empty image", idx);
    if (n / 4 * 3 > lim->max_image_bytes + 3)
        return api_fail(msg, cap, 413, "input[%zu]: image larger than the limit of %zu bytes", idx, lim->max_image_bytes);
    size_t bad = 0;
    it->img = b64_decode(s, n, &it->img_len, &bad);
    if (!it->img) {
        if (bad == SIZE_MAX) return api_fail(msg, cap, 503, "out of memory");
        return api_fail(msg, cap, 400, "input[%zu]: invalid base64 at character %zu", idx, bad);
    }
    if (it->img_len > lim->max_image_bytes)
        return api_fail(msg, cap, 413, "input[%zu]: image larger than the limit of %zu bytes", idx, lim->max_image_bytes);
    it->kind = API_IMAGE;
    return 0;
}

static int api_ids(const json_value *a, size_t idx, const api_limits *lim, api_item *it, char *msg, size_t cap)
{
    if (a->len == 0) return api_fail(msg, cap, 400, "input[%zu]: empty token id list", idx);
    if (a->len > lim->max_ids)
        return api_fail(msg, cap, 400, "input[%zu]: %zu token ids exceed the limit of %zu", idx, a->len, lim->max_ids);
    it->ids = (int32_t *)malloc(sizeof(int32_t) * a->len);
    if (!it->ids) return api_fail(msg, cap, 503, "out of memory");
    size_t k = 0;
    for (const json_value *c = a->child; c; c = c->next) {
        if (c->type != JSON_NUMBER || !(c->num >= 0 && c->num <= 2147483647.0) || c->num != (double)(int32_t)c->num)
            return api_fail(msg, cap, 400, "input[%zu]: token ids must be non-negative integers", idx);
        it->ids[k++] = (int32_t)c->num;
    }
    it->n_ids = k;
    it->kind = API_IDS;
    return 0;
}

static int api_text(const json_value *s, size_t idx, const api_limits *lim, api_item *it, char *msg, size_t cap)
{
    if (s->len > lim->max_text_bytes)
        return api_fail(msg, cap, 413, "input[%zu]: text of %zu bytes exceeds the limit of %zu bytes", idx, s->len, lim->max_text_bytes);
    it->kind = API_TEXT;
    it->text = s->str;
    it->len = s->len;
    return 0;
}

/* A Jina input object: {"text": ...} | {"image": ...} | {"bytes": ...} | {"url": ...}. */
static int api_object(const json_value *o, size_t idx, const api_limits *lim, api_item *it, char *msg, size_t cap)
{
    const json_value *t = json_get(o, "text"), *im = json_get(o, "image"), *by = json_get(o, "bytes"), *u = json_get(o, "url");
    int n = (t != NULL) + (im != NULL) + (by != NULL) + (u != NULL);
    if (n != 1)
        return api_fail(msg, cap, 400, "input[%zu]: an input object needs exactly one of \"text\", \"image\" (\"bytes\", \"url\")", idx);
    const json_value *v = t ? t : im ? im : by ? by : u;
    const char *name = t ? "text" : im ? "image" : by ? "bytes" : "url";
    if (v->type != JSON_STRING) return api_fail(msg, cap, 400, "input[%zu].%s must be a string", idx, name);
    if (t) return api_text(t, idx, lim, it, msg, cap);
    return api_image(v->str, v->len, idx, lim, it, msg, cap);
}

static int api_encoding(const json_value *v, const char *field, int jina_types, int *out, char *msg, size_t cap)
{
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type != JSON_STRING) return api_fail(msg, cap, 400, "\"%s\" must be a string", field);
    static const char *const names[] = {"float", "base64", "binary", "ubinary"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v->str, names[i]) == 0 && (i < 2 || jina_types)) {
            if (*out >= 0 && *out != i) return api_fail(msg, cap, 400, "conflicting encoding fields");
            *out = i;
            return 0;
        }
    sbuf b = {0};
    sb_json_str(&b, v->str, v->len > 40 ? 40 : v->len);
    int st = api_fail(msg, cap, 400, "unknown %s %s: expected float, base64, binary or ubinary", field, b.p ? b.p : "");
    free(b.p);
    return st;
}

int api_parse(const char *body, size_t len, const api_limits *lim, api_req *r, char *msg, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->truncate = 1;
    r->model = (char *)"";
    char jerr[128];
    json_value *doc = json_parse(body, len, jerr, sizeof jerr);
    if (!doc) return api_fail(msg, cap, 400, "request body is not valid JSON: %s", jerr);
    r->doc = doc;
    if (doc->type != JSON_OBJECT) return api_fail(msg, cap, 400, "request body must be a JSON object");
    const json_value *in = json_get(doc, "input");
    /* the wire format: Jina when input holds objects */
    if (in && in->type == JSON_ARRAY)
        for (const json_value *c = in->child; c; c = c->next)
            if (c->type == JSON_OBJECT) r->jina = 1;
    const json_value *v = json_get(doc, "model");
    if (v && v->type != JSON_NULL) {
        if (v->type != JSON_STRING) return api_fail(msg, cap, 400, "\"model\" must be a string");
        r->model = v->str;
    }
    int enc = -1;
    int st = api_encoding(json_get(doc, "encoding_format"), "encoding_format", 1, &enc, msg, cap);
    if (!st) st = api_encoding(json_get(doc, "embedding_type"), "embedding_type", 1, &enc, msg, cap);
    if (!st) st = api_encoding(json_get(doc, "encoding_type"), "encoding_type", 1, &enc, msg, cap);
    if (st) return st;
    r->encoding = enc < 0 ? API_FLOAT : enc;
    v = json_get(doc, "dimensions");
    if (v && v->type != JSON_NULL) {
        /* range first: converting an out-of-range double to an integer is undefined */
        if (v->type != JSON_NUMBER || !(v->num >= -1e15 && v->num <= 1e15) || v->num != (double)(long long)v->num)
            return api_fail(msg, cap, 400, "\"dimensions\" must be an integer");
        if ((long long)v->num != lim->dim)
            return api_fail(msg, cap, 400, "dimensions %lld is not supported: this model's embeddings have %d dimensions "
                            "(jina-clip-v1 is not trained for truncated embeddings)", (long long)v->num, lim->dim);
    }
    v = json_get(doc, "normalized");
    if (v && v->type != JSON_NULL) {
        if (v->type != JSON_TRUE && v->type != JSON_FALSE) return api_fail(msg, cap, 400, "\"normalized\" must be true or false");
        if (v->type == JSON_FALSE)
            return api_fail(msg, cap, 400, "normalized=false is not supported: jclip returns L2-normalised embeddings only");
    }
    v = json_get(doc, "truncate");
    if (v && v->type != JSON_NULL) {
        if (v->type != JSON_TRUE && v->type != JSON_FALSE) return api_fail(msg, cap, 400, "\"truncate\" must be true or false");
        r->truncate = v->type == JSON_TRUE;
    }
    v = json_get(doc, "late_chunking");
    if (v && v->type != JSON_NULL) {
        if (v->type != JSON_TRUE && v->type != JSON_FALSE) return api_fail(msg, cap, 400, "\"late_chunking\" must be true or false");
        if (v->type == JSON_TRUE) return api_fail(msg, cap, 400, "late_chunking is not supported by jclip serve");
    }
    v = json_get(doc, "task");
    if (v && v->type != JSON_NULL && v->type != JSON_STRING) return api_fail(msg, cap, 400, "\"task\" must be a string");

    if (!in) return api_fail(msg, cap, 400, "missing field \"input\"");
    size_t n = in->type == JSON_ARRAY ? in->len : 1;
    if (in->type != JSON_STRING && in->type != JSON_ARRAY)
        return api_fail(msg, cap, 400, "\"input\" must be a string or an array");
    if (n == 0) return api_fail(msg, cap, 400, "\"input\" is empty");
    /* an array of numbers is one token-id sequence */
    int all_num = in->type == JSON_ARRAY && in->child->type == JSON_NUMBER;
    if (all_num) n = 1;
    if (n > lim->max_inputs)
        return api_fail(msg, cap, 413, "%zu inputs exceed the limit of %zu per request", n, lim->max_inputs);
    r->items = (api_item *)calloc(n, sizeof *r->items);
    if (!r->items) return api_fail(msg, cap, 503, "out of memory");
    r->n = n;
    if (in->type == JSON_STRING) return api_text(in, 0, lim, &r->items[0], msg, cap);
    if (all_num) return api_ids(in, 0, lim, &r->items[0], msg, cap);
    size_t i = 0;
    for (const json_value *c = in->child; c; c = c->next, i++) {
        api_item *it = &r->items[i];
        if (c->type == JSON_STRING) st = api_text(c, i, lim, it, msg, cap);
        else if (c->type == JSON_ARRAY) st = api_ids(c, i, lim, it, msg, cap);
        else if (c->type == JSON_OBJECT) st = api_object(c, i, lim, it, msg, cap);
        else if (c->type == JSON_NUMBER) st = api_fail(msg, cap, 400, "input[%zu]: token ids and texts cannot be mixed in one array", i);
        else st = api_fail(msg, cap, 400, "input[%zu] must be a string, a token id array or an object", i);
        if (st) return st;
    }
    return 0;
}

void api_free(api_req *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].ids);
        free(r->items[i].img);
    }
    free(r->items);
    json_free((json_value *)r->doc);
    memset(r, 0, sizeof *r);
}
