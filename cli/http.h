/* cli/http.h: the pieces of `jclip serve` that read untrusted bytes and need no socket or
 * model, kept apart so that the tests and the fuzz targets drive them directly:
 *  - http_parse_head: an HTTP/1.x request line and header block;
 *  - api_parse:       the JSON body of POST /v1/embeddings (OpenAI and Jina wire formats);
 *  - base64 and JSON string writers used to answer.
 * Everything here is plain C11 + libc, allocates with malloc and never exits. */
#ifndef JCLIP_CLI_HTTP_H
#define JCLIP_CLI_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* ---- HTTP request head ------------------------------------------------------------------ */
#define HTTP_MAX_HEAD 16384   /* request line + headers, bytes (431 beyond) */
#define HTTP_MAX_HEADERS 100  /* header fields (431 beyond) */

typedef struct {
    char method[16];
    char path[256];           /* target without the query string */
    int minor;                /* HTTP/1.minor */
    long long content_length; /* -1 when absent */
    int chunked;              /* Transfer-Encoding present (refused with 411) */
    int keep_alive;           /* after this request */
    int expect_continue;      /* Expect: 100-continue */
    int has_auth;
    char auth[512];           /* Authorization value (truncated: compared as a whole below) */
    int auth_too_long;
    size_t head_len;          /* bytes of the head incl. the blank line */
} http_req;

/* Parses the head at buf[0..len). Returns 1 when complete (req filled), 0 when more bytes are
 * needed (and none of the limits is exceeded yet), or a negative HTTP status (-400, -431,
 * -505, -411, -413, -501) with a reason in msg. */
int http_parse_head(const char *buf, size_t len, http_req *req, char *msg, size_t msgcap);

/* ---- Growable byte buffer --------------------------------------------------------------- */
typedef struct { char *p; size_t n, cap; int oom; } sbuf;
void sb_put(sbuf *b, const void *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_json_str(sbuf *b, const char *s, size_t n); /* "..." with JSON escapes */
void sb_base64(sbuf *b, const unsigned char *s, size_t n);

/* Decodes base64 (standard or URL-safe alphabet, padding optional, no whitespace) into a new
 * buffer; returns NULL with the offending offset in *bad (or SIZE_MAX when out of memory). */
unsigned char *b64_decode(const char *s, size_t n, size_t *out_len, size_t *bad);

/* ---- POST /v1/embeddings body ----------------------------------------------------------- */
enum { API_TEXT = 0, API_IDS = 1, API_IMAGE = 2 };
enum { API_FLOAT = 0, API_BASE64 = 1, API_BINARY = 2, API_UBINARY = 3 };

typedef struct {
    int kind;
    char *text; size_t len;       /* API_TEXT (points into the parsed JSON, NUL-terminated) */
    int32_t *ids; size_t n_ids;   /* API_IDS (own allocation) */
    unsigned char *img; size_t img_len; /* API_IMAGE (own allocation, decoded bytes) */
} api_item;

typedef struct {
    size_t max_inputs;      /* 413 beyond */
    size_t max_text_bytes;  /* per text; 413 beyond */
    size_t max_image_bytes; /* per decoded image; 413 beyond */
    size_t max_ids;         /* per token-id input; 400 beyond */
    int dim;                /* the model's embedding size: `dimensions` must equal it */
} api_limits;

typedef struct {
    int jina;          /* Jina-style request (objects in input): errors as {"detail": ...} */
    int encoding;      /* API_FLOAT ... */
    int truncate;      /* default 1 */
    char *model;       /* echoed ("" when absent; points into the JSON) */
    api_item *items;
    size_t n;
    void *doc;         /* the parsed JSON (json_value *) */
} api_req;

/* Parses a request body. Returns 0, or an HTTP status (400, 413) with the reason in msg
 * ("input[3]: invalid base64 at byte 17"). api_free releases r in both cases. */
int api_parse(const char *body, size_t len, const api_limits *lim, api_req *r, char *msg, size_t msgcap);
void api_free(api_req *r);

#endif
