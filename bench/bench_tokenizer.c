/* bench/bench_tokenizer.c: tokenizer throughput, single thread, on the golden corpus.
 *
 *     make bench-tokenizer                      # or: ./build/bench_tokenizer [-n ROUNDS]
 *
 * Reads the 15000 text lines of $JCLIP_SHARED/golden/tokenizer/clip_bpe.jsonl (2.69 MB of
 * UTF-8: English, accented Latin, Greek, Cyrillic, CJK, Arabic, emoji, long words, ...) into
 * memory, then tokenizes all of them once per round with the BERT WordPiece tokenizer
 * (bert-base-uncased vocab) and the CLIP byte-level BPE tokenizer (clip-vit-base-patch32 vocab
 * and merges), untruncated and truncated to the models' lengths (512 / 77). Prints the best
 * round of N (default 7) as MB/s of input text (1 MB = 10^6 bytes), and the ratio to the
 * Hugging Face tokenizers crate's ~2 MB/s a core on this machine (issue 12). */
#define _POSIX_C_SOURCE 200809L
#include "../jclip.c"
#include "../cli/json.h"
#include "../test/bpe_blobs.h"

#include <time.h>

static double bt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time of this thread: the machine is shared */
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *bt_shared(const char *rel, char *buf, size_t cap)
{
    const char *s = getenv("JCLIP_SHARED");
    snprintf(buf, cap, "%s/%s", (s && *s) ? s : "../shared", rel);
    return buf;
}

typedef struct { char **text; size_t *len; size_t n, bytes; } bt_lines;

static int bt_load(const char *path, bt_lines *L)
{
    size_t flen = 0;
    char *f = t_bpe_read(path, &flen);
    memset(L, 0, sizeof *L);
    if (!f) return 0;
    size_t cap = 1;
    for (size_t i = 0; i < flen; i++) cap += f[i] == '\n';
    L->text = (char **)calloc(cap, sizeof *L->text);
    L->len = (size_t *)calloc(cap, sizeof *L->len);
    char *p = f, *end = f + flen;
    while (L->text && L->len && p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        char jerr[128];
        json_value *j = le > p ? json_parse(p, (size_t)(le - p), jerr, sizeof jerr) : NULL;
        json_value *t = json_get(j, "text");
        if (t && t->type == JSON_STRING && L->n < cap) {
            L->text[L->n] = (char *)malloc(t->len + 1);
            if (L->text[L->n]) {
                memcpy(L->text[L->n], t->str, t->len);
                L->len[L->n] = t->len;
                L->bytes += t->len;
                L->n++;
            }
        }
        json_free(j);
        p = le + 1;
    }
    free(f);
    return L->n > 0;
}

enum { BT_CAP = 1 << 20 };

static double bt_run_wp(const jc_tok_wordpiece *t, const bt_lines *L, size_t max_tokens, int32_t *ids, size_t *total)
{
    double t0 = bt_now();
    *total = 0;
    for (size_t i = 0; i < L->n; i++) {
        size_t n = 0;
        if (jc_tok_wp_encode(t, L->text[i], L->len[i], max_tokens, ids, BT_CAP, &n) == JCLIP_OK) *total += n;
    }
    return bt_now() - t0;
}

static double bt_run_bpe(const jc_bpe *t, jc_bpe_work *w, const bt_lines *L, size_t max_tokens, int32_t *ids,
                         size_t *total)
{
    double t0 = bt_now();
    *total = 0;
    for (size_t i = 0; i < L->n; i++) {
        size_t n = 0;
        if (jc_bpe_encode(t, w, L->text[i], L->len[i], max_tokens, ids, BT_CAP, &n) == JCLIP_OK) *total += n;
    }
    return bt_now() - t0;
}

int main(int argc, char **argv)
{
    int rounds = 7;
    for (int a = 1; a < argc; a++)
        if (strcmp(argv[a], "-n") == 0 && a + 1 < argc) rounds = atoi(argv[++a]);
    if (rounds < 1) rounds = 1;
    char path[4096], err[256];
    bt_lines L;
    if (!bt_load(bt_shared("golden/tokenizer/clip_bpe.jsonl", path, sizeof path), &L)) {
        fprintf(stderr, "bench_tokenizer: cannot read %s (set JCLIP_SHARED)\n", path);
        return 1;
    }
    /* WordPiece: bert-base-uncased, as t_tokenizer.c sets it up */
    size_t vlen = 0;
    char *vocab = t_bpe_read(bt_shared("vocab/bert-base-uncased-vocab.txt", path, sizeof path), &vlen);
    if (!vocab) { fprintf(stderr, "bench_tokenizer: cannot read %s\n", path); return 1; }
    uint32_t nv = 0;
    for (size_t i = 0; i < vlen; i++)
        if (vocab[i] == '\n') { vocab[i] = 0; nv++; }
    static const int32_t special[] = {0, 100, 101, 102, 103};
    jc_tok_wordpiece_config c;
    memset(&c, 0, sizeof c);
    c.unk_id = 100; c.cls_id = 101; c.sep_id = 102; c.pad_id = 0;
    c.lowercase = c.strip_accents = c.tokenize_chinese = c.clean_text = 1;
    c.max_word_chars = 100;
    c.special_ids = special;
    c.n_special = 5;
    jc_tok_wordpiece *wp = NULL;
    if (jc_tok_wp_create(vocab, vlen, nv, &c, &wp, err, sizeof err)) { fprintf(stderr, "wordpiece: %s\n", err); return 1; }
    /* BPE: blobs from the CLIP files (what the converter stores) */
    t_bpe_blobs b;
    if (!t_bpe_blobs_from_hf(bt_shared("vocab/clip-vit-base-patch32", path, sizeof path), &b)) {
        fprintf(stderr, "bench_tokenizer: cannot build BPE blobs from %s\n", path);
        return 1;
    }
    jc_bpe_config bc;
    memset(&bc, 0, sizeof bc);
    bc.bos_id = b.bos_id; bc.eos_id = b.eos_id; bc.bos_normalized = 1; bc.max_word_bytes = 1u << 16;
    jc_bpe *bpe = NULL;
    jc_bpe_work *w = NULL;
    if (jc_bpe_create(b.vocab, b.vocab_len, b.n_vocab, b.merges, b.merges_len, b.n_merges, &bc, &bpe, err, sizeof err) ||
        jc_bpe_work_new(bpe, &w, err, sizeof err)) {
        fprintf(stderr, "bpe: %s\n", err);
        return 1;
    }
    int32_t *ids = (int32_t *)malloc(BT_CAP * sizeof *ids);
    if (!ids) return 1;
    printf("corpus: %zu lines, %.2f MB (clip_bpe.jsonl texts); best of %d rounds, one thread\n", L.n,
           L.bytes / 1e6, rounds);
    printf("%-28s %10s %10s %12s\n", "tokenizer", "MB/s", "ids", "vs 2 MB/s");
    struct { const char *name; int bpe; size_t max_tokens; } cases[] = {
        {"wordpiece (untruncated)", 0, BT_CAP}, {"wordpiece (max 512)", 0, 512},
        {"bpe (untruncated)", 1, BT_CAP}, {"bpe (max 77)", 1, 77},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        double best = 1e30;
        size_t total = 0;
        for (int r = 0; r < rounds; r++) {
            double s = cases[k].bpe ? bt_run_bpe(bpe, w, &L, cases[k].max_tokens, ids, &total)
                                    : bt_run_wp(wp, &L, cases[k].max_tokens, ids, &total);
            if (s < best) best = s;
        }
        double mbs = L.bytes / 1e6 / best;
        printf("%-28s %10.1f %10zu %11.1fx\n", cases[k].name, mbs, total, mbs / 2.0);
    }
    free(ids);
    jc_bpe_work_free(w);
    jc_bpe_free(bpe);
    t_bpe_blobs_free(&b);
    jc_tok_wp_free(wp);
    free(vocab);
    for (size_t i = 0; i < L.n; i++) free(L.text[i]);
    free(L.text);
    free(L.len);
    return 0;
}
