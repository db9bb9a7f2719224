/* test/fuzz/fz_tokenizer.c: arbitrary bytes through jc_tok_wp_encode with the real
 * bert-base-uncased vocab ($JCLIP_SHARED/vocab/bert-base-uncased-vocab.txt).
 * Invariants: [CLS] first, [SEP] last, every id in the vocab, n <= max_tokens, the truncated
 * encoding is a prefix of the full one, and a short id buffer gives JCLIP_ERR_CAPACITY with
 * the same count and prefix. The first input byte picks max_tokens (2..257). */
#ifndef FZ_IN_RUNNER
#include "../../jclip.c"
#endif
#include "fuzz.h"

static jc_tok_wordpiece *fz_tok;
static char *fz_tok_vocab;

static jc_tok_wordpiece *fz_tokenizer_get(void)
{
    if (fz_tok) return fz_tok;
    char path[4096], err[256];
    size_t len = 0;
    fz_tok_vocab = fz_read(fz_shared("vocab/bert-base-uncased-vocab.txt", path, sizeof path), &len);
    if (!fz_tok_vocab) { fprintf(stderr, "fz_tokenizer: cannot read %s\n", path); abort(); }
    uint32_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (fz_tok_vocab[i] == '\n') { fz_tok_vocab[i] = 0; n++; }
    static const int32_t special[] = {0, 100, 101, 102, 103};
    jc_tok_wordpiece_config c;
    memset(&c, 0, sizeof c);
    c.unk_id = 100; c.cls_id = 101; c.sep_id = 102; c.pad_id = 0;
    c.lowercase = c.strip_accents = c.tokenize_chinese = c.clean_text = 1;
    c.max_word_chars = 100;
    c.special_ids = special;
    c.n_special = 5;
    if (jc_tok_wp_create(fz_tok_vocab, len, n, &c, &fz_tok, err, sizeof err)) {
        fprintf(stderr, "fz_tokenizer: %s\n", err);
        abort();
    }
    return fz_tok;
}

static int fz_tokenizer(const uint8_t *data, size_t size)
{
    const jc_tok_wordpiece *t = fz_tokenizer_get();
    static int32_t full[1 << 16], part[258];
    size_t max_small = 2 + (size ? data[0] : 0);
    const char *text = (const char *)data;
    size_t nf = 0, np = 0;
    /* full: max_tokens large enough never to truncate (each byte yields at most 3 ids) */
    size_t big = 3 * size + 2 < (size_t)(1 << 16) ? 3 * size + 2 : (size_t)(1 << 16);
    int rc = jc_tok_wp_encode(t, text, size, big, full, big, &nf);
    FZ_ASSERT(rc == JCLIP_OK);
    FZ_ASSERT(nf >= 2 && nf <= big);
    FZ_ASSERT(full[0] == 101 && full[nf - 1] == 102);
    for (size_t i = 0; i < nf; i++) FZ_ASSERT(full[i] >= 0 && (uint32_t)full[i] < t->n_vocab);
    rc = jc_tok_wp_encode(t, text, size, max_small, part, sizeof part / sizeof part[0], &np);
    FZ_ASSERT(rc == JCLIP_OK && np <= max_small && part[np - 1] == 102);
    if (nf <= max_small) FZ_ASSERT(np == nf && memcmp(part, full, nf * sizeof(int32_t)) == 0);
    else FZ_ASSERT(np == max_small && memcmp(part, full, (np - 1) * sizeof(int32_t)) == 0);
    /* capacity path: one id too few */
    size_t n2 = 0;
    rc = jc_tok_wp_encode(t, text, size, max_small, part, np - 1, &n2);
    FZ_ASSERT(rc == JCLIP_ERR_CAPACITY && n2 == np);
    return 0;
}

#ifndef FZ_IN_RUNNER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_tokenizer(data, size); }
#endif
