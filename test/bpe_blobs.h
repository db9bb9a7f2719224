/* test/bpe_blobs.h: the CLIP BPE tokenizer's blobs for test code and benchmarks (never part of
 * the library). Builds them from a Hugging Face directory's vocab.json + merges.txt (what
 * convert/convert.py stores), or reads the blob file `convert.py --bpe-blobs` writes.
 * Needs cli/json.h included first. */
#ifndef JCLIP_TEST_BPE_BLOBS_H
#define JCLIP_TEST_BPE_BLOBS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t t_bpe_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t t_bpe_le64(const uint8_t *p) { return t_bpe_le32(p) | (uint64_t)t_bpe_le32(p + 4) << 32; }

/* Whole file into a malloc'd, NUL-terminated buffer; NULL when it cannot be read. */
static char *t_bpe_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        b = (char *)malloc((size_t)n + 1);
        if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    }
    fclose(f);
    if (!b) return NULL;
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

typedef struct t_bpe_blobs {
    char *vocab;       /* n_vocab NUL-terminated entries */
    size_t vocab_len;
    uint8_t *merges;   /* n_merges x (left, right, result) u32 LE */
    size_t merges_len;
    uint32_t n_vocab, n_merges;
    int32_t bos_id, eos_id;
} t_bpe_blobs;

static __attribute__((unused)) void t_bpe_blobs_free(t_bpe_blobs *b)
{
    free(b->vocab);
    free(b->merges);
    memset(b, 0, sizeof *b);
}

static void t_bpe_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* A small string -> id table for the test helper (FNV-1a, open addressing). */
typedef struct { const char **s; size_t *len; uint32_t *slot; uint32_t mask; } t_bpe_map;

static uint32_t t_bpe_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int64_t t_bpe_map_get(const t_bpe_map *m, const char *s, size_t n)
{
    for (uint32_t i = t_bpe_hash(s, n) & m->mask;; i = (i + 1) & m->mask) {
        uint32_t v = m->slot[i];
        if (!v) return -1;
        if (m->len[v - 1] == n && memcmp(m->s[v - 1], s, n) == 0) return v - 1;
    }
}

/* vocab.json + merges.txt of a Hugging Face CLIP directory -> blobs (what the converter stores). */
static __attribute__((unused)) int t_bpe_blobs_from_hf(const char *dir, t_bpe_blobs *b)
{
    char path[4096];
    size_t jl = 0, ml = 0;
    memset(b, 0, sizeof *b);
    snprintf(path, sizeof path, "%.4000s/vocab.json", dir);
    char *js = t_bpe_read(path, &jl);
    snprintf(path, sizeof path, "%.4000s/merges.txt", dir);
    char *mt = t_bpe_read(path, &ml);
    char jerr[128];
    json_value *j = js ? json_parse(js, jl, jerr, sizeof jerr) : NULL;
    int ok = j && j->type == JSON_OBJECT && mt;
    uint32_t n = ok ? (uint32_t)j->len : 0;
    t_bpe_map m = {0};
    uint32_t slots = 1;
    while (slots < 2 * n + 2) slots <<= 1;
    m.s = (const char **)calloc(n + 1, sizeof *m.s);
    m.len = (size_t *)calloc(n + 1, sizeof *m.len);
    m.slot = (uint32_t *)calloc(slots, sizeof *m.slot);
    m.mask = slots - 1;
    ok = ok && m.s && m.len && m.slot;
    size_t total = 0;
    for (json_value *c = ok ? j->child : NULL; c; c = c->next) {
        if (c->type != JSON_NUMBER || c->num < 0 || c->num >= n || m.s[(uint32_t)c->num]) { ok = 0; break; }
        uint32_t id = (uint32_t)c->num;
        m.s[id] = c->key;
        m.len[id] = c->key_len;
        total += c->key_len + 1;
        uint32_t i = t_bpe_hash(c->key, c->key_len) & m.mask;
        while (m.slot[i]) i = (i + 1) & m.mask;
        m.slot[i] = id + 1;
    }
    if (ok) {
        b->vocab = (char *)malloc(total);
        b->n_vocab = n;
        b->vocab_len = total;
        size_t o = 0;
        for (uint32_t i = 0; b->vocab && i < n; i++) {
            memcpy(b->vocab + o, m.s[i], m.len[i]);
            o += m.len[i];
            b->vocab[o++] = 0;
        }
        /* merges.txt: a "#version" line, then "left right" per line */
        size_t lines = 0;
        for (size_t i = 0; i < ml; i++) lines += mt[i] == '\n';
        b->merges = (uint8_t *)malloc(12 * (lines + 1));
        char *p = mt, *end = mt + ml;
        ok = b->vocab && b->merges;
        while (ok && p < end) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            char *le = nl ? nl : end;
            if (le > p && !(b->n_merges == 0 && *p == '#')) {
                char *sp = memchr(p, ' ', (size_t)(le - p));
                if (!sp) { ok = 0; break; }
                size_t la = (size_t)(sp - p), lb = (size_t)(le - sp - 1);
                char joined[512];
                int64_t a = t_bpe_map_get(&m, p, la), c2 = t_bpe_map_get(&m, sp + 1, lb), r = -1;
                if (la + lb < sizeof joined) {
                    memcpy(joined, p, la);
                    memcpy(joined + la, sp + 1, lb);
                    r = t_bpe_map_get(&m, joined, la + lb);
                }
                if (a < 0 || c2 < 0 || r < 0) { ok = 0; break; }
                uint8_t *q = b->merges + 12 * (size_t)b->n_merges++;
                t_bpe_put32(q, (uint32_t)a);
                t_bpe_put32(q + 4, (uint32_t)c2);
                t_bpe_put32(q + 8, (uint32_t)r);
            }
            p = le + 1;
        }
        b->merges_len = 12 * (size_t)b->n_merges;
        int64_t bos = t_bpe_map_get(&m, "<|startoftext|>", 15), eos = t_bpe_map_get(&m, "<|endoftext|>", 13);
        b->bos_id = (int32_t)bos;
        b->eos_id = (int32_t)eos;
        ok = ok && bos >= 0 && eos >= 0;
    }
    free(m.s);
    free(m.len);
    free(m.slot);
    json_free(j);
    free(js);
    free(mt);
    if (!ok) t_bpe_blobs_free(b);
    return ok;
}

/* The converter's test blob file: "JCBPEBL1", u32 n_vocab, u32 n_merges, i32 bos, i32 eos,
 * u64 vocab bytes, u64 merges bytes, the vocab blob, the merges blob (all little-endian). */
static __attribute__((unused)) int t_bpe_blobs_from_file(const char *path, t_bpe_blobs *b)
{
    size_t len = 0;
    memset(b, 0, sizeof *b);
    uint8_t *f = (uint8_t *)t_bpe_read(path, &len);
    if (!f) return 0;
    int ok = len >= 40 && memcmp(f, "JCBPEBL1", 8) == 0;
    uint64_t vl = ok ? t_bpe_le64(f + 24) : 0, ml = ok ? t_bpe_le64(f + 32) : 0;
    ok = ok && vl <= len && ml <= len && 40 + vl + ml == len;
    if (ok) {
        b->n_vocab = t_bpe_le32(f + 8);
        b->n_merges = t_bpe_le32(f + 12);
        b->bos_id = (int32_t)t_bpe_le32(f + 16);
        b->eos_id = (int32_t)t_bpe_le32(f + 20);
        b->vocab_len = (size_t)vl;
        b->merges_len = (size_t)ml;
        b->vocab = (char *)malloc(vl + 1);
        b->merges = (uint8_t *)malloc(ml + 1);
        ok = b->vocab && b->merges;
        if (ok) {
            memcpy(b->vocab, f + 40, vl);
            memcpy(b->merges, f + 40 + vl, ml);
        }
    }
    free(f);
    if (!ok) t_bpe_blobs_free(b);
    return ok;
}

#endif
