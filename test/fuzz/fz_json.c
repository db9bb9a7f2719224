/* test/fuzz/fz_json.c: the CLI's JSON reader (cli/json.h) on arbitrary bytes. Invariants: a
 * parsed tree is well formed (child counts match, strings NUL-terminated at len, object
 * members have keys) and parsing is deterministic. */
#ifndef FZ_IN_RUNNER
#include "../../jclip.c"
#include "../../cli/json.h"
#endif
#include "fuzz.h"

static size_t fz_json_walk(const json_value *v, int depth, int in_obj)
{
    size_t nodes = 1;
    FZ_ASSERT(depth <= JSON_MAX_DEPTH + 1);
    FZ_ASSERT(v->type >= JSON_NULL && v->type <= JSON_OBJECT);
    FZ_ASSERT(!in_obj || (v->key && v->key[v->key_len] == 0));
    if (v->type == JSON_STRING) FZ_ASSERT(v->str && v->str[v->len] == 0);
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        size_t n = 0;
        for (const json_value *c = v->child; c; c = c->next, n++)
            nodes += fz_json_walk(c, depth + 1, v->type == JSON_OBJECT);
        FZ_ASSERT(n == v->len);
    }
    return nodes;
}

static int fz_json(const uint8_t *data, size_t size)
{
    char err[128];
    json_value *v = json_parse((const char *)data, size, err, sizeof err);
    json_value *w = json_parse((const char *)data, size, err, sizeof err);
    FZ_ASSERT(!v == !w);
    if (v) {
        FZ_ASSERT(fz_json_walk(v, 0, 0) == fz_json_walk(w, 0, 0));
        (void)json_get(v, "text");
    }
    json_free(v);
    json_free(w);
    return 0;
}

#ifndef FZ_IN_RUNNER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_json(data, size); }
#endif
