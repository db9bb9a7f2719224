/* test/fuzz/fz_bpe.c: arbitrary bytes through jc_bpe_encode with the real CLIP vocab and
 * merges ($JCLIP_SHARED/vocab/clip-vit-base-patch32, built into blobs as the converter does).
 * max_word_bytes is 256 so that the piece limit is reached too. The first input byte picks
 * max_tokens (2..257). Invariants: JCLIP_OK or JCLIP_ERR_LIMIT only; <|startoftext|> first,
 * <|endoftext|> last, every id in the vocab, at most 3 len + 2 ids; the truncated encoding is a
 * prefix of the full one; a short id buffer gives JCLIP_ERR_CAPACITY with the same count; a
 * second work memory with a cold piece cache gives the same ids. */
#ifndef FZ_IN_RUNNER
#include "../../jclip.c"
#include "../../cli/json.h"
#endif
#include "fuzz.h"
#include "../bpe_blobs.h"

static jc_bpe *fz_bpe_tok;
static jc_bpe_work *fz_bpe_w1, *fz_bpe_w2;
static t_bpe_blobs fz_bpe_blobs;

static const jc_bpe *fz_bpe_get(void)
{
    if (fz_bpe_tok) return fz_bpe_tok;
    char path[4096], err[256];
    if (!t_bpe_blobs_from_hf(fz_shared("vocab/clip-vit-base-patch32", path, sizeof path), &fz_bpe_blobs)) {
        fprintf(stderr, "fz_bpe: cannot build blobs from %s\n", path);
        abort();
    }
    jc_bpe_config c;
    memset(&c, 0, sizeof c);
    c.bos_id = fz_bpe_blobs.bos_id;
    c.eos_id = fz_bpe_blobs.eos_id;
    c.bos_normalized = 1;
    c.max_word_bytes = 256;
    const t_bpe_blobs *b = &fz_bpe_blobs;
    if (jc_bpe_create(b->vocab, b->vocab_len, b->n_vocab, b->merges, b->merges_len, b->n_merges, &c, &fz_bpe_tok,
                      err, sizeof err) ||
        jc_bpe_work_new(fz_bpe_tok, &fz_bpe_w1, err, sizeof err) || jc_bpe_work_new(fz_bpe_tok, &fz_bpe_w2, err, sizeof err)) {
        fprintf(stderr, "fz_bpe: %s\n", err);
        abort();
    }
    return fz_bpe_tok;
}

static int fz_bpe(const uint8_t *data, size_t size)
{
    const jc_bpe *t = fz_bpe_get();
    enum { BIG = 1 << 16 };
    static int32_t full[BIG], other[BIG], part[258];
    size_t max_small = 2 + (size ? data[0] : 0);
    const char *text = (const char *)data;
    if (size + 2 > BIG) return 0;
    size_t nf = 0, no = 0, np = 0;
    int rc = jc_bpe_encode(t, fz_bpe_w1, text, size, BIG, full, BIG, &nf);
    FZ_ASSERT(rc == JCLIP_OK || rc == JCLIP_ERR_LIMIT);
    /* w1's piece cache is warm from earlier inputs; w2's is emptied: the same ids either way */
    memset(fz_bpe_w2->cache, 0, JC_BPE_CACHE_SLOTS * sizeof *fz_bpe_w2->cache);
    int rc2 = jc_bpe_encode(t, fz_bpe_w2, text, size, BIG, other, BIG, &no);
    FZ_ASSERT(rc2 == rc && no == nf && memcmp(full, other, nf * sizeof(int32_t)) == 0);
    if (rc == JCLIP_OK) {
        /* at most one id per normalized byte: an invalid byte becomes 3 (U+FFFD), and NFC or
         * lowercase at most triple a character (U+0130 -> i + U+0307) */
        FZ_ASSERT(nf >= 2 && nf <= 3 * size + 2);
        FZ_ASSERT(full[0] == t->cfg.bos_id && full[nf - 1] == t->cfg.eos_id);
        for (size_t i = 0; i < nf; i++) FZ_ASSERT(full[i] >= 0 && (uint32_t)full[i] < t->n_vocab);
    } else {
        FZ_ASSERT(nf == 0);
    }
    rc2 = jc_bpe_encode(t, fz_bpe_w1, text, size, max_small, part, sizeof part / sizeof part[0], &np);
    if (rc == JCLIP_OK) {
        FZ_ASSERT(rc2 == JCLIP_OK && np <= max_small && part[np - 1] == t->cfg.eos_id);
        if (nf <= max_small) FZ_ASSERT(np == nf && memcmp(part, full, nf * sizeof(int32_t)) == 0);
        else FZ_ASSERT(np == max_small && memcmp(part, full, (np - 1) * sizeof(int32_t)) == 0);
    } else {
        FZ_ASSERT(rc2 == JCLIP_ERR_LIMIT || (rc2 == JCLIP_OK && np == max_small));
    }
    if (rc2 == JCLIP_OK) {
        size_t n2 = 0;
        int rc3 = jc_bpe_encode(t, fz_bpe_w1, text, size, max_small, part, np - 1, &n2);
        FZ_ASSERT(rc3 == JCLIP_ERR_CAPACITY && n2 == np);
    }
    return 0;
}

#ifndef FZ_IN_RUNNER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_bpe(data, size); }
#endif
