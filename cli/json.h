/* cli/json.h: a small strict JSON reader (RFC 8259) for the CLI's --jsonl input and the tests.
 *
 * json_parse() builds a tree of json_value nodes; json_free() releases it. Strings are decoded
 * to UTF-8 (all escapes, \uXXXX surrogate pairs joined; a lone surrogate becomes U+FFFD) and
 * NUL-terminated, with their byte length in `len` since they may contain U+0000.
 * Nesting is limited to JSON_MAX_DEPTH to bound stack use on hostile input. */
#ifndef JCLIP_CLI_JSON_H
#define JCLIP_CLI_JSON_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 256

enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

typedef struct json_value {
    int type;
    double num;               /* JSON_NUMBER */
    char *str;                /* JSON_STRING: decoded UTF-8, NUL-terminated */
    size_t len;               /* JSON_STRING: bytes in str; ARRAY/OBJECT: number of children */
    char *key;                /* member name when the parent is an object (NUL-terminated) */
    size_t key_len;
    struct json_value *child; /* first element / member */
    struct json_value *next;  /* next sibling */
} json_value;

typedef struct {
    const char *p, *end;
    int depth;
    char *err;
    size_t errcap;
} json__parser;

static void json_free(json_value *v)
{
    while (v) {
        json_value *next = v->next;
        json_free(v->child);
        free(v->str);
        free(v->key);
        free(v);
        v = next;
    }
}

static int json__fail(json__parser *ps, const char *msg)
{
    if (ps->err && ps->errcap) snprintf(ps->err, ps->errcap, "%s", msg);
    return -1;
}

static void json__ws(json__parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static int json__hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static size_t json__utf8(unsigned cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

/* Parses a string starting at the opening quote. The decoded form is never longer than the
 * source (an escape of n chars yields at most n bytes), so one allocation of the raw span
 * suffices. Raw bytes are copied as they are (UTF-8 validity is the consumer's business). */
static int json__string(json__parser *ps, char **out, size_t *out_len)
{
    const char *s = ++ps->p, *q = s;
    while (q < ps->end && *q != '"') {
        if (*q == '\\') q++;
        q++;
    }
    if (q >= ps->end) return json__fail(ps, "unterminated string");
    char *buf = (char *)malloc((size_t)(q - s) + 1);
    if (!buf) return json__fail(ps, "out of memory");
    size_t n = 0;
    const char *p = s;
    while (p < q) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) { free(buf); return json__fail(ps, "control character in string"); }
        if (c != '\\') { buf[n++] = (char)c; p++; continue; }
        p++;
        switch (*p) {
        case '"': buf[n++] = '"'; p++; break;
        case '\\': buf[n++] = '\\'; p++; break;
        case '/': buf[n++] = '/'; p++; break;
        case 'b': buf[n++] = '\b'; p++; break;
        case 'f': buf[n++] = '\f'; p++; break;
        case 'n': buf[n++] = '\n'; p++; break;
        case 'r': buf[n++] = '\r'; p++; break;
        case 't': buf[n++] = '\t'; p++; break;
        case 'u': {
            unsigned cp, lo;
            if (q - p < 5 || !json__hex4(p + 1, &cp)) { free(buf); return json__fail(ps, "bad \\u escape"); }
            p += 5;
            if (cp >= 0xD800 && cp <= 0xDBFF && q - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
                json__hex4(p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD; /* lone surrogate: not representable in UTF-8 */
            }
            n += json__utf8(cp, buf + n);
            break;
        }
        default: free(buf); return json__fail(ps, "bad escape in string");
        }
    }
    buf[n] = 0;
    ps->p = q + 1;
    *out = buf;
    *out_len = n;
    return 0;
}

static int json__value(json__parser *ps, json_value *v);

static int json__number(json__parser *ps, json_value *v)
{
    const char *s = ps->p, *p = s;
    if (p < ps->end && *p == '-') p++;
    if (p >= ps->end || *p < '0' || *p > '9') return json__fail(ps, "bad number");
    if (*p == '0') p++;
    else while (p < ps->end && *p >= '0' && *p <= '9') p++;
    if (p < ps->end && *p == '.') {
        p++;
        if (p >= ps->end || *p < '0' || *p > '9') return json__fail(ps, "bad number");
        while (p < ps->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < ps->end && (*p == '+' || *p == '-')) p++;
        if (p >= ps->end || *p < '0' || *p > '9') return json__fail(ps, "bad number");
        while (p < ps->end && *p >= '0' && *p <= '9') p++;
    }
    char tmp[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof tmp) {
        char *big = (char *)malloc(n + 1);
        if (!big) return json__fail(ps, "out of memory");
        memcpy(big, s, n); big[n] = 0;
        v->num = strtod(big, NULL);
        free(big);
    } else {
        memcpy(tmp, s, n); tmp[n] = 0;
        v->num = strtod(tmp, NULL);
    }
    v->type = JSON_NUMBER;
    ps->p = p;
    return 0;
}

static int json__literal(json__parser *ps, const char *word, int type, json_value *v)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return json__fail(ps, "unexpected token");
    ps->p += n;
    v->type = type;
    return 0;
}

static int json__container(json__parser *ps, json_value *v, int is_obj)
{
    char close = is_obj ? '}' : ']';
    json_value **tail = &v->child;
    v->type = is_obj ? JSON_OBJECT : JSON_ARRAY;
    if (++ps->depth > JSON_MAX_DEPTH) return json__fail(ps, "nesting too deep");
    ps->p++;
    json__ws(ps);
    if (ps->p < ps->end && *ps->p == close) { ps->p++; ps->depth--; return 0; }
    for (;;) {
        json_value *c = (json_value *)calloc(1, sizeof *c);
        if (!c) return json__fail(ps, "out of memory");
        *tail = c;
        tail = &c->next;
        v->len++;
        json__ws(ps);
        if (is_obj) {
            if (ps->p >= ps->end || *ps->p != '"') return json__fail(ps, "expected member name");
            if (json__string(ps, &c->key, &c->key_len)) return -1;
            json__ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') return json__fail(ps, "expected ':'");
            ps->p++;
            json__ws(ps);
        }
        if (json__value(ps, c)) return -1;
        json__ws(ps);
        if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
        if (ps->p < ps->end && *ps->p == close) { ps->p++; ps->depth--; return 0; }
        return json__fail(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int json__value(json__parser *ps, json_value *v)
{
    json__ws(ps);
    if (ps->p >= ps->end) return json__fail(ps, "unexpected end of input");
    switch (*ps->p) {
    case '{': return json__container(ps, v, 1);
    case '[': return json__container(ps, v, 0);
    case '"': v->type = JSON_STRING; return json__string(ps, &v->str, &v->len);
    case 't': return json__literal(ps, "true", JSON_TRUE, v);
    case 'f': return json__literal(ps, "false", JSON_FALSE, v);
    case 'n': return json__literal(ps, "null", JSON_NULL, v);
    default: return json__number(ps, v);
    }
}

/* Parses exactly one JSON value (surrounded by optional whitespace) from text[0..len).
 * Returns the tree (free with json_free) or NULL with a message in err. */
static __attribute__((unused)) json_value *json_parse(const char *text, size_t len, char *err, size_t errcap)
{
    json__parser ps = {text, text + len, 0, err, errcap};
    json_value *v = (json_value *)calloc(1, sizeof *v);
    if (!v) { json__fail(&ps, "out of memory"); return NULL; }
    if (json__value(&ps, v)) { json_free(v); return NULL; }
    json__ws(&ps);
    if (ps.p != ps.end) { json__fail(&ps, "trailing characters after JSON value"); json_free(v); return NULL; }
    return v;
}

/* Member `key` of an object, or NULL. */
static __attribute__((unused)) json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    for (json_value *c = obj->child; c; c = c->next)
        if (c->key_len == strlen(key) && memcmp(c->key, key, c->key_len) == 0) return c;
    return NULL;
}

#endif /* JCLIP_CLI_JSON_H */
