/* test/fuzz/fz_http.c: `jclip serve`'s readers of network bytes (cli/http.c): the input is one
 * HTTP request as a client would send it; its head goes to http_parse_head and, when that
 * accepts it, the rest to api_parse as the /v1/embeddings body. Invariants: a parsed head lies
 * within the input and parsing is deterministic, every prefix of a complete head asks for more
 * or fails (never "complete" on fewer bytes), a parsed body has 1..max_inputs well-formed
 * inputs whose images respect the byte limit, and a rejected one says why with a 4xx/503. */
#ifndef FZ_IN_RUNNER
#include "../../cli/http.c"
#endif
#include "fuzz.h"

static int fz_http(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    http_req a, b;
    char msg[256];
    int r = http_parse_head(s, size, &a, msg, sizeof msg);
    int r2 = http_parse_head(s, size, &b, msg, sizeof msg);
    FZ_ASSERT(r == r2);
    FZ_ASSERT(r == 0 || r == 1 || (r <= -400 && r >= -505));
    if (r == 1) {
        FZ_ASSERT(a.head_len <= size && a.head_len == b.head_len);
        FZ_ASSERT(a.method[0] && strlen(a.method) < sizeof a.method && strlen(a.path) < sizeof a.path);
        FZ_ASSERT(a.content_length >= -1);
        if (a.head_len > 1) {
            int rp = http_parse_head(s, a.head_len - 1, &b, msg, sizeof msg);
            FZ_ASSERT(rp != 1 || b.head_len <= a.head_len - 1);
        }
    }
    /* the body: after a parsed head, else the whole input */
    size_t off = r == 1 ? a.head_len : 0;
    api_limits lim = {16, 4096, 4096, 512, 128};
    api_req q;
    char m2[512];
    m2[0] = 0;
    int st = api_parse(s + off, size - off, &lim, &q, m2, sizeof m2);
    if (st == 0) {
        FZ_ASSERT(q.n >= 1 && q.n <= lim.max_inputs && q.encoding >= API_FLOAT && q.encoding <= API_UBINARY && q.model);
        for (size_t i = 0; i < q.n; i++) {
            const api_item *it = &q.items[i];
            FZ_ASSERT(it->kind >= API_TEXT && it->kind <= API_IMAGE);
            if (it->kind == API_TEXT) FZ_ASSERT(it->text && it->text[it->len] == 0 && it->len <= lim.max_text_bytes);
            if (it->kind == API_IDS) FZ_ASSERT(it->ids && it->n_ids >= 1 && it->n_ids <= lim.max_ids);
            if (it->kind == API_IMAGE) FZ_ASSERT(it->img && it->img_len >= 1 && it->img_len <= lim.max_image_bytes);
            for (size_t k = 0; it->kind == API_IDS && k < it->n_ids; k++) FZ_ASSERT(it->ids[k] >= 0);
        }
        /* the answer writers on what was parsed */
        sbuf w = {0};
        for (size_t i = 0; i < q.n; i++) {
            if (q.items[i].kind == API_TEXT) sb_json_str(&w, q.items[i].text, q.items[i].len);
            if (q.items[i].kind == API_IMAGE) sb_base64(&w, q.items[i].img, q.items[i].img_len);
        }
        free(w.p);
    } else {
        FZ_ASSERT(st == 400 || st == 413 || st == 503);
        FZ_ASSERT(m2[0] != 0);
    }
    api_free(&q);
    return 0;
}

#ifndef FZ_IN_RUNNER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_http(data, size); }
#endif
