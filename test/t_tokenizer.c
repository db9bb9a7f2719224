/* test/t_tokenizer.c: tokenizer suite (included by test/run.c).
 *
 * The BERT WordPiece tokenizer against the Hugging Face `tokenizers` goldens in
 * shared/golden/tokenizer (15000 lines untruncated and truncated to 512, 400 invalid UTF-8 byte
 * strings), plus edge cases: truncation, capacity, limits, speed on huge inputs, bad vocabs. */
#include <time.h>

static const int32_t t_tok_special[] = {0, 100, 101, 102, 103};

static jc_tok_wordpiece_config t_tok_config(void)
{
    jc_tok_wordpiece_config c;
    memset(&c, 0, sizeof c);
    c.unk_id = 100;
    c.cls_id = 101;
    c.sep_id = 102;
    c.pad_id = 0;
    c.lowercase = c.strip_accents = c.tokenize_chinese = c.clean_text = 1;
    c.max_word_chars = 100;
    c.special_ids = t_tok_special;
    c.n_special = sizeof t_tok_special / sizeof t_tok_special[0];
    return c;
}

/* vocab.txt (one token per line) -> NUL-separated blob, in place. */
static char *t_tok_vocab_blob(size_t *len, uint32_t *n)
{
    char *v = t_read_file(t_shared("vocab/bert-base-uncased-vocab.txt"), len);
    if (!v) return NULL;
    *n = 0;
    for (size_t i = 0; i < *len; i++)
        if (v[i] == '\n') { v[i] = '\0'; (*n)++; }
    return v;
}

static int t_tok_hex(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Runs every line of a golden file through the tokenizer; returns the number of lines. */
static size_t t_tok_golden(const jc_tok_wordpiece *t, const char *rel, size_t max_tokens, int hex,
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
        int rc = ok ? jc_tok_wp_encode(t, in, in_len, max_tokens, got, CAP, &n) : JCLIP_ERR_FORMAT;
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

/* Encodes a NUL-terminated string; returns n_out, ids in out (cap 64). */
static size_t t_tok_enc(const jc_tok_wordpiece *t, const char *s, size_t len, size_t max_tokens,
                        int32_t *out, int *rc)
{
    size_t n = 0;
    *rc = jc_tok_wp_encode(t, s, len, max_tokens, out, 64, &n);
    return n;
}

static int t_tok_eq(const int32_t *a, size_t n, const int32_t *b, size_t m)
{
    return n == m && memcmp(a, b, n * sizeof *a) == 0;
}

static void t_tok_edges(const jc_tok_wordpiece *t, const char *vocab, size_t vlen, uint32_t nv)
{
    int32_t a[64], b[64];
    int rc;
    size_t n, m;

    n = t_tok_enc(t, "", 0, 512, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 2 && a[0] == 101 && a[1] == 102, "empty text -> [CLS][SEP]");
    n = t_tok_enc(t, NULL, 0, 512, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 2, "NULL text of length 0 is empty");
    n = t_tok_enc(t, " \t\r\n\x01\xff", 6, 512, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 2, "whitespace, control and invalid bytes only -> [CLS][SEP]");

    /* "hello world" = 7592 2088 in bert-base-uncased; accents and case go away. */
    static const int32_t hw[] = {101, 7592, 2088, 102};
    n = t_tok_enc(t, "Hello WORLD", 11, 512, a, &rc);
    T_CHECK(rc == JCLIP_OK && t_tok_eq(a, n, hw, 4), "hello world");
    const char *hw2 = "H\xc3\xa9llo\xe2\x80\x8b W\xc3\x96RLD";
    n = t_tok_enc(t, hw2, strlen(hw2), 512, a, &rc);
    T_CHECK(rc == JCLIP_OK && t_tok_eq(a, n, hw, 4), "accented hello world (with ZWSP) folds");

    /* Special literals match before normalization and split words; lowercase ones do not. */
    n = t_tok_enc(t, "hello[SEP]world", 15, 512, a, &rc);
    static const int32_t sp[] = {101, 7592, 102, 2088, 102};
    T_CHECK(rc == JCLIP_OK && t_tok_eq(a, n, sp, 5), "[SEP] literal inside a word");
    n = t_tok_enc(t, "[sep]", 5, 512, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 5 && a[1] == 1031 && a[3] == 1033, "[sep] is not special (%zu ids)", n);
    n = t_tok_enc(t, "[SE\xffP]", 6, 512, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 5, "[SE<invalid>P] is not special but cleans to [ sep ]");
    n = t_tok_enc(t, "a\xff" "b", 3, 512, a, &rc);
    m = t_tok_enc(t, "ab", 2, 512, b, &rc);
    T_CHECK(t_tok_eq(a, n, b, m), "an invalid byte vanishes and joins the word");
    n = t_tok_enc(t, "a\0b", 3, 512, a, &rc);
    T_CHECK(t_tok_eq(a, n, b, m), "U+0000 is dropped");

    /* Word length limit: 100 chars are split, 101 chars are one [UNK]. */
    char w[128];
    memset(w, 'a', sizeof w);
    n = t_tok_enc(t, w, 100, 512, a, &rc);
    T_CHECK(rc == JCLIP_OK && n > 3 && a[1] != 100, "100-char word is split (%zu ids)", n);
    n = t_tok_enc(t, w, 101, 512, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 3 && a[1] == 100, "101-char word is [UNK]");
    /* A word that cannot be matched to its end is one [UNK]: U+2603 SNOWMAN is not in the vocab. */
    n = t_tok_enc(t, "hello\xe2\x98\x83", 8, 512, a, &rc);
    T_CHECK(rc == JCLIP_OK && n == 3 && a[1] == 100, "unmatchable word -> [UNK]");

    /* Truncation keeps [SEP]; capacity errors still report the full length. */
    const char *txt = "the quick brown fox jumps over the lazy dog";
    size_t full = t_tok_enc(t, txt, strlen(txt), 512, a, &rc);
    T_CHECK(rc == JCLIP_OK && full == 11, "quick brown fox: 11 ids (%zu)", full);
    n = t_tok_enc(t, txt, strlen(txt), 2, b, &rc);
    T_CHECK(rc == JCLIP_OK && n == 2 && b[0] == 101 && b[1] == 102, "max_tokens 2 -> [CLS][SEP]");
    n = t_tok_enc(t, txt, strlen(txt), 5, b, &rc);
    T_CHECK(rc == JCLIP_OK && n == 5 && memcmp(a, b, 4 * sizeof *a) == 0 && b[4] == 102,
            "max_tokens 5 -> first 4 ids + [SEP]");
    n = t_tok_enc(t, txt, strlen(txt), 11, b, &rc);
    T_CHECK(rc == JCLIP_OK && t_tok_eq(a, full, b, n), "max_tokens == length is untouched");
    memset(b, 0x55, sizeof b);
    rc = jc_tok_wp_encode(t, txt, strlen(txt), 512, b, 3, &n);
    T_CHECK(rc == JCLIP_ERR_CAPACITY && n == full && memcmp(a, b, 3 * sizeof *a) == 0 &&
                b[3] == 0x55555555,
            "capacity 3: error, full length, first 3 ids, nothing past cap");
    rc = jc_tok_wp_encode(t, txt, strlen(txt), 512, NULL, 0, &n);
    T_CHECK(rc == JCLIP_ERR_CAPACITY && n == full, "size query with NULL ids");
    rc = jc_tok_wp_encode(t, txt, strlen(txt), 1, a, 64, &n);
    T_CHECK(rc == JCLIP_ERR_ARG, "max_tokens 1 rejected");
    rc = jc_tok_wp_encode(t, txt, strlen(txt), 512, a, 64, NULL);
    T_CHECK(rc == JCLIP_ERR_ARG, "NULL n_out rejected");

    /* UTF-8 decoder: maximal subparts. */
    static const struct { const char *s; size_t n, used; uint32_t cp; } u8[] = {
        {"\xe0\x80", 2, 1, 0xFFFD},     {"\xe0\xa0", 2, 2, 0xFFFD}, {"\xed\xa0\x80", 3, 1, 0xFFFD},
        {"\xf4\x90\x80\x80", 4, 1, 0xFFFD}, {"\xf0\x9f\x98", 3, 3, 0xFFFD}, {"\xf0\x9f\x98\x80", 4, 4, 0x1F600},
        {"\xc2\x80", 2, 2, 0x80},       {"\xc1\xbf", 2, 1, 0xFFFD}, {"\xef\xbf\xbd", 3, 3, 0xFFFD},
        {"\xf5", 1, 1, 0xFFFD},         {"\xe2\x82\xac", 3, 3, 0x20AC},
    };
    int u8ok = 1;
    for (size_t i = 0; i < sizeof u8 / sizeof u8[0]; i++) {
        uint32_t cp;
        size_t used = jc_tok_utf8_next((const uint8_t *)u8[i].s, u8[i].n, &cp);
        if (used != u8[i].used || cp != u8[i].cp) {
            u8ok = 0;
            fprintf(stderr, "  utf8 case %zu: used %zu cp %X\n", i, used, (unsigned)cp);
        }
    }
    T_CHECK(u8ok, "UTF-8 maximal-subpart decoding");

    /* Huge inputs: a 1 MB word, a 1 MB line of mixed text, 100k words untruncated. */
    enum { BIG = 1 << 20 };
    char *big = (char *)malloc(BIG);
    int32_t *ids = (int32_t *)malloc(200000 * sizeof *ids);
    if (big && ids) {
        clock_t c0 = clock();
        memset(big, 'x', BIG);
        n = 0;
        rc = jc_tok_wp_encode(t, big, BIG, 1 << 20, ids, 200000, &n);
        T_CHECK(rc == JCLIP_OK && n == 3 && ids[1] == 100, "1 MB single word -> [UNK]");
        double s1 = (double)(clock() - c0) / CLOCKS_PER_SEC;
        /* 1 MB of pseudo-random bytes: valid and invalid UTF-8, specials, CJK, punctuation. */
        uint32_t r = 12345;
        static const char *frag[] = {"caf\xc3\xa9 ", "[SEP]", "\xe4\xb8\xad", "!", " ", "\xff",
                                     "\xce\xa3", "un", "aff", "able", "\xe2\x80\x8b", "\xcc\x81"};
        size_t pos = 0;
        while (pos < BIG) {
            r = r * 1103515245u + 12345u;
            const char *fr = frag[(r >> 16) % (sizeof frag / sizeof frag[0])];
            size_t fl = strlen(fr);
            if (pos + fl > BIG) break;
            memcpy(big + pos, fr, fl);
            pos += fl;
        }
        c0 = clock();
        rc = jc_tok_wp_encode(t, big, pos, 1 << 20, ids, 200000, &n);
        double s2 = (double)(clock() - c0) / CLOCKS_PER_SEC;
        T_CHECK((rc == JCLIP_OK || rc == JCLIP_ERR_CAPACITY) && n > 100000, "1 MB mixed line (%zu ids)", n);
        /* 100k words */
        pos = 0;
        for (size_t i = 0; i < 100002; i++) {
            static const char *wd[] = {"the ", "quick ", "brown ", "fox ", "unaffable ", "jumps "};
            size_t fl = strlen(wd[i % 6]);
            memcpy(big + pos, wd[i % 6], fl);
            pos += fl;
        }
        c0 = clock();
        rc = jc_tok_wp_encode(t, big, pos, 1 << 20, ids, 200000, &n);
        int rc3 = rc;
        double s3 = (double)(clock() - c0) / CLOCKS_PER_SEC;
        /* 16667 repeats of the 6 words: each repeat gives what one alone gives, less 2. */
        size_t one = t_tok_enc(t, big, 36, 1 << 20, a, &rc);
        T_CHECK(rc3 == JCLIP_OK && n == 16667 * (one - 2) + 2, "100k words -> %zu ids (one repeat %zu)",
                n, one);
        T_CHECK(s1 < 1.0 && s2 < 1.0 && s3 < 1.0, "huge inputs are fast (%.3f %.3f %.3f s)", s1, s2, s3);
        T_NOTE("1 MB word %.3f s, 1 MB mixed line %.3f s, 100k words %.3f s", s1, s2, s3);
    } else {
        T_CHECK(0, "out of memory");
    }
    free(big);
    free(ids);

    /* Bad vocab blobs and configs are rejected (never crash). */
    jc_tok_wordpiece_config c = t_tok_config();
    jc_tok_wordpiece *x = NULL;
    char err[160];
    int bad = 0;
    bad += jc_tok_wp_create(vocab, vlen - 1, nv, &c, &x, err, sizeof err) == JCLIP_ERR_FORMAT; /* no final NUL */
    bad += jc_tok_wp_create(vocab, vlen, nv + 1, &c, &x, err, sizeof err) == JCLIP_ERR_FORMAT; /* too few */
    bad += jc_tok_wp_create(vocab, vlen, nv - 1, &c, &x, err, sizeof err) == JCLIP_ERR_FORMAT; /* too many */
    bad += jc_tok_wp_create(vocab, vlen, 0, &c, &x, err, sizeof err) == JCLIP_ERR_FORMAT;
    bad += jc_tok_wp_create(vocab, 0, nv, &c, &x, err, sizeof err) == JCLIP_ERR_FORMAT;
    bad += jc_tok_wp_create("a\0b\0", 4, 0xFFFFFFFFu, &c, &x, err, sizeof err) == JCLIP_ERR_FORMAT;
    bad += jc_tok_wp_create("a\0b\0", 4, 2, &c, &x, err, sizeof err) == JCLIP_ERR_FORMAT; /* ids out of range */
    c.sep_id = -1;
    bad += jc_tok_wp_create(vocab, vlen, nv, &c, &x, err, sizeof err) == JCLIP_ERR_FORMAT;
    c = t_tok_config();
    int32_t sbad[] = {101, 40000};
    c.special_ids = sbad;
    c.n_special = 2;
    bad += jc_tok_wp_create(vocab, vlen, nv, &c, &x, err, sizeof err) == JCLIP_ERR_FORMAT;
    c = t_tok_config();
    c.max_word_chars = JC_TOK_WP_WORD_CAP + 1;
    bad += jc_tok_wp_create(vocab, vlen, nv, &c, &x, err, sizeof err) == JCLIP_ERR_ARG;
    c = t_tok_config();
    bad += jc_tok_wp_create(NULL, 10, nv, &c, &x, err, sizeof err) == JCLIP_ERR_ARG;
    bad += jc_tok_wp_create(vocab, vlen, nv, NULL, &x, err, sizeof err) == JCLIP_ERR_ARG;
    /* An empty special literal, and a special literal that is invalid UTF-8. */
    int32_t s0[] = {0};
    c.special_ids = s0;
    c.n_special = 1;
    bad += jc_tok_wp_create("\0b\0c\0d\0", 8, 4, &c, &x, err, sizeof err) == JCLIP_ERR_FORMAT;
    bad += jc_tok_wp_create("\xff\0b\0c\0d\0", 9, 4, &c, &x, err, sizeof err) == JCLIP_ERR_FORMAT;
    T_CHECK(bad == 14 && x == NULL, "bad vocab blobs / configs rejected (%d/14)", bad);

    /* A tiny vocab with its own ids and no specials: config ids are honored, "##" pieces work,
     * a repeated entry maps to its last id, and the toggles turn normalization steps off. */
    static const char tiny[] = "[UNK]\0[CLS]\0[SEP]\0ab\0##c\0ab\0\xc3\x89\0e\0";
    c = t_tok_config();
    c.unk_id = 0; c.cls_id = 1; c.sep_id = 2; c.pad_id = 0;
    c.special_ids = NULL; c.n_special = 0;
    int tiny_rc = jc_tok_wp_create(tiny, sizeof tiny - 1, 8, &c, &x, err, sizeof err);
    T_CHECK(tiny_rc == JCLIP_OK, "tiny vocab: %s", tiny_rc ? err : "ok");
    if (tiny_rc == JCLIP_OK) {
        static const int32_t e1[] = {1, 5, 4, 7, 0, 0, 0, 2};
        n = t_tok_enc(x, "ABC \xc3\x89 [SEP]", 12, 64, a, &rc);
        T_CHECK(rc == JCLIP_OK && t_tok_eq(a, n, e1, 8), "tiny vocab encode (%zu ids)", n);
        jc_tok_wp_free(x);
        c.strip_accents = 0;
        c.lowercase = 0;
        tiny_rc = jc_tok_wp_create(tiny, sizeof tiny - 1, 8, &c, &x, err, sizeof err);
        static const int32_t e2[] = {1, 0, 6, 2};
        n = t_tok_enc(x, "ABC \xc3\x89", 6, 64, a, &rc);
        T_CHECK(tiny_rc == JCLIP_OK && rc == JCLIP_OK && t_tok_eq(a, n, e2, 4),
                "no lowercase / no strip_accents (%zu ids)", n);
        jc_tok_wp_free(x);
    }
}

static void suite_tokenizer(void)
{
    if (!t_need_shared("vocab/bert-base-uncased-vocab.txt") ||
        !t_need_shared("golden/tokenizer/bert_wordpiece.jsonl"))
        return;
    size_t vlen = 0;
    uint32_t nv = 0;
    char *vocab = t_tok_vocab_blob(&vlen, &nv);
    T_CHECK(vocab && nv == 30522, "vocab blob: %u entries", (unsigned)nv);
    if (!vocab) return;
    jc_tok_wordpiece_config cfg = t_tok_config();
    jc_tok_wordpiece *t = NULL;
    char err[160] = "";
    int rc = jc_tok_wp_create(vocab, vlen, nv, &cfg, &t, err, sizeof err);
    T_CHECK(rc == JCLIP_OK && t, "jc_tok_wp_create: %s", err);
    if (rc == JCLIP_OK) {
        static const struct { const char *rel; size_t max_tokens; int hex; } g[] = {
            {"golden/tokenizer/bert_wordpiece.jsonl", (size_t)1 << 20, 0},
            {"golden/tokenizer/bert_wordpiece_trunc512.jsonl", 512, 0},
            {"golden/tokenizer/bert_wordpiece_invalid_utf8.jsonl", (size_t)1 << 20, 1},
        };
        for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
            size_t same = 0;
            clock_t c0 = clock();
            size_t lines = t_tok_golden(t, g[i].rel, g[i].max_tokens, g[i].hex, &same);
            double sec = (double)(clock() - c0) / CLOCKS_PER_SEC;
            T_CHECK(lines > 0 && same == lines, "%s: %zu/%zu identical", g[i].rel, same, lines);
            T_NOTE("%s: %zu/%zu identical (%.2f s)", g[i].rel, same, lines, sec);
        }
        t_tok_edges(t, vocab, vlen, nv);
    }
    jc_tok_wp_free(t);
    free(vocab);
}
