/* test/t_bpe.c: the CLIP byte-level BPE tokenizer (suite "bpe", included by test/run.c).
 *
 * Blobs: built here from the Hugging Face files in shared/vocab/clip-vit-base-patch32
 * (vocab.json + merges.txt), or, when $JCLIP_BPE_BLOBS names a file, read from the blob file
 * convert/convert.py --bpe-blobs wrote (test/test_convert.py runs the suite that way), so the
 * goldens also check the converter's blobs. Then: the three clip_bpe goldens (15000 lines
 * untruncated and truncated to 77, 400 invalid UTF-8 byte strings), odd inputs, the linear and
 * heap merge loops against each other, hostile blobs and random mutations of a small one. */

#include "bpe_blobs.h"

static jc_bpe_config t_bpe_config(const t_bpe_blobs *b, uint32_t max_word)
{
    jc_bpe_config c;
    memset(&c, 0, sizeof c);
    c.bos_id = b->bos_id;
    c.eos_id = b->eos_id;
    c.bos_normalized = 1;
    c.eos_normalized = 0;
    c.max_word_bytes = max_word;
    return c;
}

static int t_bpe_make(const t_bpe_blobs *b, uint32_t max_word, jc_bpe **t, jc_bpe_work **w, char *err, size_t cap)
{
    jc_bpe_config c = t_bpe_config(b, max_word);
    *w = NULL;
    int rc = jc_bpe_create(b->vocab, b->vocab_len, b->n_vocab, b->merges, b->merges_len, b->n_merges, &c, t, err, cap);
    if (rc == JCLIP_OK) rc = jc_bpe_work_new(*t, w, err, cap);
    return rc;
}

/* Every line of a golden file through the tokenizer; returns the number of lines. */
static size_t t_bpe_golden(const jc_bpe *t, jc_bpe_work *w, const char *rel, size_t max_tokens, int hex,
                           size_t *identical)
{
    size_t flen = 0, lines = 0, shown = 0;
    *identical = 0;
    char *f = t_read_file(t_shared(rel), &flen);
    if (!f) { T_CHECK(0, "cannot read %s", t_shared(rel)); return 0; }
    enum { CAP = 1 << 20 };
    int32_t *got = (int32_t *)malloc(CAP * sizeof *got);
    char *raw = (char *)malloc(flen + 1);
    char *p = f, *end = f + flen;
    while (got && raw && p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        if (le == p) { p = le + 1; continue; }
        lines++;
        char jerr[128];
        json_value *j = json_parse(p, (size_t)(le - p), jerr, sizeof jerr);
        json_value *text = json_get(j, hex ? "bytes_hex" : "text"), *ids = json_get(j, "ids");
        const char *in = NULL;
        size_t in_len = 0;
        int ok = text && ids && text->type == JSON_STRING && ids->type == JSON_ARRAY;
        if (ok && hex) {
            in_len = text->len / 2;
            for (size_t i = 0; i < in_len && ok; i++) {
                int hi = t_tok_hex(text->str[2 * i]), lo = t_tok_hex(text->str[2 * i + 1]);
                ok = hi >= 0 && lo >= 0;
                raw[i] = (char)(hi * 16 + lo);
            }
            in = raw;
        } else if (ok) {
            in = text->str;
            in_len = text->len;
        }
        size_t n = 0;
        int rc = ok ? jc_bpe_encode(t, w, in, in_len, max_tokens, got, CAP, &n) : JCLIP_ERR_FORMAT;
        int same = ok && rc == JCLIP_OK && n == ids->len;
        size_t k = 0, diff = 0;
        for (json_value *c = ok ? ids->child : NULL; c; c = c->next, k++) {
            if (same && got[k] != (int32_t)c->num) { same = 0; diff = k; }
            if (!same) break;
        }
        if (same) (*identical)++;
        else if (shown++ < 10) {
            fprintf(stderr, "  %s line %zu (rc %d, %zu ids, expected %zu, first diff at %zu): %.80s\n",
                    rel, lines, rc, n, ok ? ids->len : 0, diff, ok && !hex ? text->str : "");
        }
        json_free(j);
        p = le + 1;
    }
    free(got);
    free(raw);
    free(f);
    return lines;
}

static size_t t_bpe_enc(const jc_bpe *t, jc_bpe_work *w, const char *s, size_t len, size_t max_tokens,
                        int32_t *out, int *rc)
{
    size_t n = 0;
    *rc = jc_bpe_encode(t, w, s, len, max_tokens, out, 256, &n);
    return n;
}

static void t_bpe_odd(const jc_bpe *t, jc_bpe_work *w)
{
    int32_t a[256], b2[256];
    int rc;
    size_t n, m;
    const int32_t B = t->cfg.bos_id, E = t->cfg.eos_id;

    n = t_bpe_enc(t, w, "", 0, 77, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 2 && a[0] == B && a[1] == E, "empty text: rc %d, %zu ids", rc, n);
    n = t_bpe_enc(t, w, NULL, 0, 77, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 2, "NULL empty text: rc %d, %zu ids", rc, n);
    n = t_bpe_enc(t, w, " \t\n\r\v\f \xC2\xA0\xE3\x80\x80", 12, 77, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 2, "whitespace only: rc %d, %zu ids", rc, n);
    n = t_bpe_enc(t, w, "\0\0\0", 3, 77, a, &rc);
    T_CHECK(rc == JCLIP_OK && n >= 3 && a[1] != E && a[n - 1] == E, "three NUL bytes: rc %d, %zu ids", rc, n);
    /* "a photo of a cat" in CLIP ids, and the same after NFC/case/space changes */
    n = t_bpe_enc(t, w, "a photo of a cat", 16, 77, a, &rc);
    static const int32_t cat[] = {49406, 320, 1125, 539, 320, 2368, 49407};
    T_CHECK(rc == JCLIP_OK && n == 7 && memcmp(a, cat, sizeof cat) == 0, "a photo of a cat: %zu ids", n);
    m = t_bpe_enc(t, w, "  A\tPHOTO\n\nof A Cat ", 20, 77, b2, &rc);
    T_CHECK(rc == JCLIP_OK && m == n && memcmp(a, b2, n * 4) == 0, "case and whitespace do not matter");
    n = t_bpe_enc(t, w, "caf\xC3\xA9", 5, 77, a, &rc);
    m = t_bpe_enc(t, w, "cafe\xCC\x81", 6, 77, b2, &rc);
    T_CHECK(n == m && memcmp(a, b2, n * 4) == 0, "NFC: e + U+0301 is U+00E9");
    n = t_bpe_enc(t, w, "it's we're 'll", 14, 77, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 7, "contractions: %zu ids", n);
    /* truncation: max_tokens 2, 3 and the prefix property */
    const char *long_text = "the quick brown fox jumps over the lazy dog again and again and again";
    size_t ll = strlen(long_text);
    size_t nf = t_bpe_enc(t, w, long_text, ll, 1000, a, &rc);
    for (size_t mt = 2; mt < nf + 2; mt++) {
        size_t np = t_bpe_enc(t, w, long_text, ll, mt, b2, &rc);
        size_t want = nf < mt ? nf : mt;
        int ok = rc == JCLIP_OK && np == want && b2[np - 1] == E && memcmp(a, b2, (np - 1) * 4) == 0;
        T_CHECK(ok, "max_tokens %zu: %zu ids", mt, np);
    }
    n = t_bpe_enc(t, w, long_text, ll, 1, a, &rc);
    T_CHECK(rc == JCLIP_ERR_ARG, "max_tokens 1 is an argument error");
    /* capacity: a short id buffer reports the needed count */
    size_t need = 0;
    rc = jc_bpe_encode(t, w, long_text, ll, 77, a, 3, &need);
    T_CHECK(rc == JCLIP_ERR_CAPACITY && need == nf && a[0] == B, "capacity: rc %d, need %zu", rc, need);
    /* a long word under the limit, and one over it (but only when it is reached) */
    size_t big = (size_t)w->cap + 10;
    char *word = (char *)malloc(big + 8);
    int32_t *ids = (int32_t *)malloc((big + 2) * sizeof *ids);
    if (word && ids) {
        for (size_t i = 0; i < big; i++) word[i] = "abcdefghij"[(i * 7 + i / 13) % 10];
        size_t k = 0;
        rc = jc_bpe_encode(t, w, word, w->cap, big + 2, ids, big + 2, &k);
        T_CHECK(rc == JCLIP_OK && k > 2 && ids[k - 1] == E, "word of max_word_bytes: rc %d, %zu ids", rc, k);
        rc = jc_bpe_encode(t, w, word, big, big + 2, ids, big + 2, &k);
        T_CHECK(rc == JCLIP_ERR_LIMIT && k == 0, "longer word: rc %d (expected LIMIT)", rc);
        memcpy(word, "a b c ", 6);
        rc = jc_bpe_encode(t, w, word, big, 4, ids, 4, &k);
        T_CHECK(rc == JCLIP_OK && k == 4, "truncation before the long word: rc %d, %zu ids", rc, k);
        /* 3000 combining marks after a letter (zalgo), sorted by class */
        size_t zl = 0;
        word[zl++] = 'a';
        for (int i = 0; i < 3000; i++) {
            static const char *mk[] = {"\xCC\x81", "\xCC\xA3", "\xCD\x85", "\xCC\x88"};
            memcpy(word + zl, mk[i & 3], 2);
            zl += 2;
        }
        rc = jc_bpe_encode(t, w, word, zl, big + 2, ids, big + 2, &k);
        T_CHECK(rc == JCLIP_OK && k > 3, "zalgo: rc %d, %zu ids", rc, k);
    }
    free(word);
    free(ids);
    /* literals: raw <|endoftext|> only exact, <|startoftext|> after lowercasing */
    n = t_bpe_enc(t, w, "x<|endoftext|>y", 15, 77, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 5 && a[2] == E, "raw <|endoftext|>: %zu ids", n);
    n = t_bpe_enc(t, w, "x<|STARTOFTEXT|>y", 17, 77, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 5 && a[2] == B, "normalized <|startoftext|>: %zu ids", n);
    n = t_bpe_enc(t, w, "<|startoftext", 13, 77, a, &rc);
    T_CHECK(rc == JCLIP_OK && n > 3 && a[1] != B, "a literal's prefix at the end is text");
}

/* The linear and the heap merge loops agree on pieces of every length 1..400. */
static void t_bpe_loops(const jc_bpe *t, jc_bpe_work *w)
{
    static const char *src[] = {"abracadabra", "\xE4\xB8\xAD\xE6\x96\x87", "hellohello", "!!??..", "mississippi",
                                "\xF0\x9F\x98\x80\xF0\x9F\x91\x8D"};
    uint32_t *s1 = (uint32_t *)malloc(400 * 4), *r1 = (uint32_t *)malloc(400 * 4);
    size_t bad = 0, tried = 0;
    for (size_t k = 0; s1 && r1 && k < sizeof src / sizeof src[0]; k++) {
        size_t sl = strlen(src[k]);
        for (uint32_t n = 1; n <= 400; n += (n < 64 ? 1 : 17)) {
            for (uint32_t i = 0; i < n; i++) s1[i] = t->sym[i + 1 == n][(uint8_t)src[k][(i * 3 + i / 5) % sl]];
            memcpy(w->sym, s1, n * 4);
            uint32_t k1 = jc_bpe_merge_linear(t, s1, r1, n);
            uint32_t k2 = jc_bpe_merge_heap(t, w, n);
            tried++;
            if (k1 != k2 || memcmp(s1, w->sym, k1 * 4) != 0) bad++;
        }
    }
    T_CHECK(tried > 100 && bad == 0, "linear vs heap merge loops: %zu of %zu differ", bad, tried);
    free(s1);
    free(r1);
}

/* A small valid vocab: the 512 byte symbols, two merges, the two specials. */
static void t_bpe_small(t_bpe_blobs *b)
{
    memset(b, 0, sizeof *b);
    size_t cap = 512 * 10 + 64;
    b->vocab = (char *)malloc(cap);
    b->merges = (uint8_t *)malloc(24);
    if (!b->vocab || !b->merges) return;
    size_t o = 0;
    for (int last = 0; last < 2; last++)
        for (unsigned x = 0; x < 256; x++) {
            o += jc_tok_utf8_put(jc_bpe_byte_char(x), b->vocab + o);
            if (last) { memcpy(b->vocab + o, "</w>", 4); o += 4; }
            b->vocab[o++] = 0;
        }
    memcpy(b->vocab + o, "ab\0ab</w>\0<|startoftext|>\0<|endoftext|>\0", 40);
    b->vocab_len = o + 40;
    b->n_vocab = 516;
    /* a + b -> ab (512); ab + </w>-less... "ab" + "c</w>"? keep: a + b</w> -> ab</w> (513) */
    t_bpe_put32(b->merges, 'a'); t_bpe_put32(b->merges + 4, 'b'); t_bpe_put32(b->merges + 8, 512);
    t_bpe_put32(b->merges + 12, 'a'); t_bpe_put32(b->merges + 16, 256 + 'b'); t_bpe_put32(b->merges + 20, 513);
    b->n_merges = 2;
    b->merges_len = 24;
    b->bos_id = 514;
    b->eos_id = 515;
}

static void t_bpe_hostile(void)
{
    t_bpe_blobs b;
    t_bpe_small(&b);
    T_CHECK(b.vocab && b.merges, "small blobs");
    if (!b.vocab || !b.merges) { t_bpe_blobs_free(&b); return; }
    jc_bpe *t = NULL;
    jc_bpe_work *w = NULL;
    char err[200] = "";
    int rc = t_bpe_make(&b, 64, &t, &w, err, sizeof err);
    T_CHECK(rc == JCLIP_OK, "small tokenizer: %s", err);
    if (rc == JCLIP_OK) {
        int32_t ids[16];
        size_t n = 0;
        rc = jc_bpe_encode(t, w, "ab abab", 7, 16, ids, 16, &n);
        T_CHECK(rc == JCLIP_OK && n == 5 && ids[1] == 513 && ids[2] == 512 && ids[3] == 513,
                "small tokenizer merges: rc %d, %zu ids", rc, n);
    }
    jc_bpe_work_free(w);
    jc_bpe_free(t);

    struct { const char *what; int field; uint32_t val; } cases[] = {
        {"no NUL at the end", 0, 0}, {"one entry too few", 1, 515}, {"one entry too many", 1, 517},
        {"merges length not 12 per merge", 2, 23}, {"merge id out of range", 3, 516},
        {"merge result not the parts joined", 4, 'c'}, {"bos = eos", 5, 515}, {"bos out of range", 5, 516},
        {"eos negative", 6, UINT32_MAX}, {"max_word_bytes 0", 7, 0}, {"max_word_bytes 2^25", 7, 1u << 25},
        {"repeated entry", 8, 0}, {"missing byte symbol", 9, 0}, {"invalid UTF-8 special", 10, 0},
        {"n_merges huge", 11, UINT32_MAX / 12 + 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t_bpe_blobs c = b;
        char vv[8192];
        uint8_t mm[24];
        memcpy(vv, b.vocab, b.vocab_len);
        memcpy(mm, b.merges, 24);
        c.vocab = vv;
        c.merges = mm;
        jc_bpe_config cfg = t_bpe_config(&c, 64);
        switch (cases[i].field) {
        case 0: c.vocab_len--; break;
        case 1: c.n_vocab = cases[i].val; break;
        case 2: c.merges_len = cases[i].val; break;
        case 3: t_bpe_put32(mm + 4, cases[i].val); break;
        case 4: t_bpe_put32(mm + 8, cases[i].val); break;
        case 5: cfg.bos_id = (int32_t)cases[i].val; break;
        case 6: cfg.eos_id = (int32_t)cases[i].val; break;
        case 7: cfg.max_word_bytes = cases[i].val; break;
        case 8: vv[0] = vv[3]; vv[1] = vv[4]; break; /* entry 0 (2 bytes) becomes entry 1 */
        case 9: vv[0] = 'Z'; vv[1] = 'Z'; break;
        case 10: memcpy(vv + b.vocab_len - 14, "\xFF", 1); break;
        case 11: c.n_merges = cases[i].val; break;
        }
        t = NULL;
        err[0] = 0;
        rc = jc_bpe_create(c.vocab, c.vocab_len, c.n_vocab, c.merges, c.merges_len, c.n_merges, &cfg, &t, err, sizeof err);
        T_CHECK(rc != JCLIP_OK && t == NULL && err[0], "%s: rc %d, message \"%s\"", cases[i].what, rc, err);
        jc_bpe_free(t);
    }

    /* Random byte flips of both blobs: clean rejection or a working tokenizer, never a crash. */
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    size_t made = 0, refused = 0;
    for (int it = 0; it < 300; it++) {
        char vv[8192];
        uint8_t mm[24];
        memcpy(vv, b.vocab, b.vocab_len);
        memcpy(mm, b.merges, 24);
        for (int k = 0; k < 1 + it % 4; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(rng >> 33) % (b.vocab_len + 24);
            uint8_t v = (uint8_t)(rng >> 20);
            if (pos < b.vocab_len) vv[pos] = (char)v;
            else mm[pos - b.vocab_len] = v;
        }
        jc_bpe_config cfg = t_bpe_config(&b, 64);
        t = NULL;
        rc = jc_bpe_create(vv, b.vocab_len, b.n_vocab, mm, 24, 2, &cfg, &t, err, sizeof err);
        if (rc != JCLIP_OK) { refused++; continue; }
        made++;
        w = NULL;
        if (jc_bpe_work_new(t, &w, err, sizeof err) == JCLIP_OK) {
            int32_t ids[64];
            size_t n = 0;
            rc = jc_bpe_encode(t, w, "ab <|startoftext|> abab\xFF<|endoftext|>", 37, 64, ids, 64, &n);
            T_CHECK(rc == JCLIP_OK || rc == JCLIP_ERR_LIMIT, "mutated blob encode: rc %d", rc);
            for (size_t k = 0; rc == JCLIP_OK && k < n; k++)
                if (ids[k] < 0 || (uint32_t)ids[k] >= b.n_vocab) { T_CHECK(0, "id %d out of range", (int)ids[k]); break; }
        }
        jc_bpe_work_free(w);
        jc_bpe_free(t);
    }
    T_CHECK(made + refused == 300 && refused > 0, "mutations: %zu made, %zu refused", made, refused);
    t_bpe_blobs_free(&b);
}

static void suite_bpe(void)
{
    t_bpe_hostile();
    const char *blob_file = getenv("JCLIP_BPE_BLOBS");
    t_bpe_blobs b;
    int ok;
    if (blob_file && *blob_file) {
        ok = t_bpe_blobs_from_file(blob_file, &b);
        T_CHECK(ok, "cannot read the converter's blob file %s", blob_file);
        if (ok) T_NOTE("blobs from the converter: %s", blob_file);
    } else {
        if (!t_need_shared("vocab/clip-vit-base-patch32/vocab.json")) return;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", t_shared("vocab/clip-vit-base-patch32"));
        ok = t_bpe_blobs_from_hf(dir, &b);
        T_CHECK(ok, "cannot build blobs from %s", dir);
    }
    if (!ok) return;
    T_CHECK(b.n_vocab == 49408 && b.n_merges == 48894 && b.bos_id == 49406 && b.eos_id == 49407,
            "blobs: %u entries, %u merges, bos %d, eos %d", (unsigned)b.n_vocab, (unsigned)b.n_merges,
            (int)b.bos_id, (int)b.eos_id);
    jc_bpe *t = NULL;
    jc_bpe_work *w = NULL;
    char err[200] = "";
    int rc = t_bpe_make(&b, 1u << 16, &t, &w, err, sizeof err);
    T_CHECK(rc == JCLIP_OK, "jc_bpe_create: %s", err);
    if (rc == JCLIP_OK) {
        static const struct { const char *rel; size_t max_tokens; int hex; } g[] = {
            {"golden/tokenizer/clip_bpe.jsonl", (size_t)1 << 20, 0},
            {"golden/tokenizer/clip_bpe_trunc77.jsonl", 77, 0},
            {"golden/tokenizer/clip_bpe_invalid_utf8.jsonl", (size_t)1 << 20, 1},
        };
        for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
            size_t same = 0;
            clock_t c0 = clock();
            size_t lines = t_bpe_golden(t, w, g[i].rel, g[i].max_tokens, g[i].hex, &same);
            double sec = (double)(clock() - c0) / CLOCKS_PER_SEC;
            T_CHECK(lines > 0 && same == lines, "%s: %zu/%zu identical", g[i].rel, same, lines);
            T_NOTE("%s: %zu/%zu identical (%.2f s)", g[i].rel, same, lines, sec);
        }
        t_bpe_odd(t, w);
        t_bpe_loops(t, w);
    }
    jc_bpe_work_free(w);
    jc_bpe_free(t);
    t_bpe_blobs_free(&b);
}
