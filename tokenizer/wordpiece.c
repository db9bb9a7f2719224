/* tokenizer/wordpiece.c: BERT uncased WordPiece, token for token what Hugging Face's
 * BertTokenizerFast (the `tokenizers` crate) produces for bert-base-uncased / jina-clip-v1.
 *
 * Pipeline of jc_tok_wp_encode, in one left-to-right pass over the bytes, with no allocation:
 *   1. UTF-8 decoding; each maximal invalid subpart becomes U+FFFD (WHATWG, Rust
 *      from_utf8_lossy, Python errors="replace").
 *   2. Added special tokens (`[SEP]` ...) are matched on the raw text, leftmost-longest, before
 *      any normalization; the text between two matches is tokenized on its own.
 *   3. BertNormalizer per code point: clean_text (drop U+0000, U+FFFD, control/format; every
 *      whitespace -> ' '), handle_chinese_chars (' ' c ' '), strip_accents (NFD, drop Mn), then
 *      lowercase (char::to_lowercase, no final-sigma rule). Tables: unicode_tables.h.
 *   4. BertPreTokenizer on the normalized code points: whitespace ends a word, a punctuation
 *      char ends a word and is a word of its own.
 *   5. WordPiece per word: greedy longest match first, `##` before non-initial pieces; a word
 *      with more than max_word_chars code points, or one that cannot be matched to the end, is
 *      one [UNK].
 *   6. [CLS] ... [SEP], truncated to max_tokens by keeping the first max_tokens-1 ids + [SEP].
 *
 * NFD's canonical reordering is not done, on purpose: every Mn mark is dropped, so only the
 * order of surviving marks with a non-zero combining class (a few Mc signs such as U+1B44,
 * U+302E, U+1D165..U+1D172) could change, and any word containing one is [UNK] whatever its
 * order unless the vocab has such a code point; bert-base-uncased has none. (Differential runs
 * against the crate on 50000 random texts aimed at these marks: all identical.)
 *
 * Cost: O(len * (longest vocab entry + total bytes of the special literals)), no allocation. */
#include "../jclip_base.h"
#include "unicode_tables.h"

/* Longest word (in normalized code points) that WordPiece can be asked to split: the limit
 * on max_word_chars. Longer words are counted but never stored. */
#define JC_TOK_WP_WORD_CAP 1024u
/* Limits on the added special tokens matched in raw text: keeps matching linear in the text. */
#define JC_TOK_WP_MAX_SPECIAL 64u
#define JC_TOK_WP_MAX_SPECIAL_BYTES 64u

typedef struct jc_tok_wordpiece_config {
    int32_t unk_id, cls_id, sep_id, pad_id; /* 100, 101, 102, 0 for bert-base-uncased */
    int lowercase;                          /* 1 */
    int strip_accents;                      /* 1 */
    int tokenize_chinese;                   /* 1 */
    int clean_text;                         /* 1 */
    uint32_t max_word_chars;                /* 100; at most JC_TOK_WP_WORD_CAP */
    const int32_t *special_ids; /* ids of added special tokens whose literal text (the vocab
                                   string) is matched in raw text */
    size_t n_special;
} jc_tok_wordpiece_config;

typedef struct jc_tok_wp_slot {
    uint32_t id1;  /* vocab id + 1; 0 = empty slot */
    uint32_t hash; /* high 32 bits of the entry's 64-bit hash */
} jc_tok_wp_slot;

typedef struct jc_tok_wordpiece {
    jc_tok_wordpiece_config cfg; /* cfg.special_ids points to special[] below */
    const char *vocab;        /* [vocab_len] NUL-terminated entries, not owned */
    uint32_t n_vocab;
    uint32_t *off;            /* [n_vocab + 1] byte offset of each entry; off[n_vocab] = vocab_len */
    jc_tok_wp_slot *slots;       /* [mask + 1] open-addressing hash table of the entries */
    uint32_t mask;
    uint32_t max_entry_bytes; /* longest entry, in bytes: bounds the WordPiece search */
    int32_t special[JC_TOK_WP_MAX_SPECIAL];
    uint8_t special_first[32]; /* bitmap of the first bytes of the special literals */
} jc_tok_wordpiece;

/* ---- Hashing and vocab lookup ------------------------------------------------------------- */

#define JC_TOK_FNV_OFFSET 14695981039346656037ull
#define JC_TOK_FNV_PRIME 1099511628211ull

static uint64_t jc_tok_fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * JC_TOK_FNV_PRIME;
    return h;
}

/* Table position and check value of a 64-bit hash. */
static uint32_t jc_tok_slot_of(uint64_t h, uint32_t mask) { return (uint32_t)(h ^ (h >> 29)) & mask; }
static uint32_t jc_tok_check_of(uint64_t h) { return (uint32_t)(h >> 32); }

static size_t jc_tok_entry_len(const jc_tok_wordpiece *t, uint32_t id)
{
    return (size_t)(t->off[id + 1] - t->off[id]) - 1;
}

/* Id of the vocab entry equal to prefix (plen bytes, may be 0) followed by p[0..n), whose
 * hash (over the whole string) is h; -1 when none. */
static int32_t jc_tok_lookup(const jc_tok_wordpiece *t, uint64_t h, const char *prefix, size_t plen,
                          const char *p, size_t n)
{
    uint32_t i = jc_tok_slot_of(h, t->mask), check = jc_tok_check_of(h);
    for (;;) {
        const jc_tok_wp_slot *s = &t->slots[i];
        if (!s->id1) return -1;
        if (s->hash == check) {
            uint32_t id = s->id1 - 1;
            const char *e = t->vocab + t->off[id];
            if (jc_tok_entry_len(t, id) == plen + n && memcmp(e, prefix, plen) == 0 &&
                memcmp(e + plen, p, n) == 0)
                return (int32_t)id;
        }
        i = (i + 1) & t->mask;
    }
}

/* ---- UTF-8 ------------------------------------------------------------------------------- */

/* Decodes one code point from s[0..n), n >= 1; returns the number of bytes consumed. An
 * invalid sequence yields U+FFFD for its maximal subpart (at least one byte). */
static size_t jc_tok_utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t b = s[0];
    uint32_t c;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (b < 0x80) { *cp = b; return 1; }
    if (b >= 0xC2 && b <= 0xDF) { need = 1; c = b & 0x1Fu; }
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2; c = b & 0x0Fu;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3; c = b & 0x07u;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else { *cp = 0xFFFD; return 1; }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= n) break;
        uint8_t x = s[i];
        if (x < lo || x > hi) break;
        lo = 0x80; hi = 0xBF;
        c = (c << 6) | (x & 0x3Fu);
    }
    if (i <= need) { *cp = 0xFFFD; return i; }
    *cp = c;
    return need + 1;
}

/* Appends the UTF-8 encoding of a scalar value cp to out; returns its length (1..4). */
static size_t jc_tok_utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* 1 when s[0..n) is valid UTF-8 without U+FFFD. */
static int jc_tok_utf8_clean(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = jc_tok_utf8_next((const uint8_t *)s + i, n - i, &cp);
        if (cp == 0xFFFD) return 0;
        i += k;
    }
    return 1;
}

/* ---- Unicode properties ------------------------------------------------------------------ */

static unsigned jc_tok_uc_class(uint32_t cp)
{
    size_t lo = 0, hi = JC_TOK_UC_N_RANGES; /* last range whose start <= cp */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (jc_tok_uc_range_start[mid] <= cp) lo = mid;
        else hi = mid;
    }
    return jc_tok_uc_range_class[lo];
}

static const jc_tok_uc_mapping *jc_tok_uc_find(uint32_t cp)
{
    size_t lo = 0, hi = JC_TOK_UC_N_MAP;
    if (cp < jc_tok_uc_map[0].cp) return NULL;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (jc_tok_uc_map[mid].cp <= cp) lo = mid;
        else hi = mid;
    }
    return jc_tok_uc_map[lo].cp == cp ? &jc_tok_uc_map[lo] : NULL;
}

/* Expands a packed sequence reference for cp into out (JC_TOK_UC_SEQ_MAX room); returns its length. */
static size_t jc_tok_uc_seq(uint32_t cp, unsigned ref, uint32_t *out)
{
    unsigned n = ref & 7u;
    if (n == JC_TOK_UC_SEQ_KEEP) { out[0] = cp; return 1; }
    for (unsigned i = 0; i < n; i++) out[i] = jc_tok_uc_pool[(ref >> 3) + i];
    return n;
}

/* strip_accents of one code point: NFD, then drop nonspacing marks. */
static size_t jc_tok_strip(uint32_t cp, uint32_t *out)
{
    if (cp - JC_TOK_UC_HANGUL_FIRST < JC_TOK_UC_HANGUL_COUNT) {
        uint32_t s = cp - JC_TOK_UC_HANGUL_FIRST;
        out[0] = 0x1100 + s / (21 * 28);
        out[1] = 0x1161 + (s % (21 * 28)) / 28;
        if (s % 28 == 0) return 2;
        out[2] = 0x11A7 + s % 28;
        return 3;
    }
    const jc_tok_uc_mapping *m = jc_tok_uc_find(cp);
    if (!m) { out[0] = cp; return 1; }
    return jc_tok_uc_seq(cp, m->strip, out);
}

static size_t jc_tok_lower(uint32_t cp, uint32_t *out)
{
    if (cp < 0x80) { out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp; return 1; }
    const jc_tok_uc_mapping *m = jc_tok_uc_find(cp);
    if (!m) { out[0] = cp; return 1; }
    return jc_tok_uc_seq(cp, m->lower, out);
}

/* ---- Create / free ----------------------------------------------------------------------- */

static void jc_tok_wp_free(jc_tok_wordpiece *t)
{
    if (!t) return;
    JCLIP_FREE(t->off);
    JCLIP_FREE(t->slots);
    JCLIP_FREE(t);
}

/* vocab: n_vocab tokens, each a UTF-8 string terminated by a NUL byte, concatenated (id =
 * index); vocab_len bytes in total. The blob is referenced, not copied: it must outlive the
 * tokenizer. The special ids' vocab strings must be 1..JC_TOK_WP_MAX_SPECIAL_BYTES bytes of valid
 * UTF-8 (no U+FFFD); at most JC_TOK_WP_MAX_SPECIAL of them; max_word_chars <= JC_TOK_WP_WORD_CAP.
 * Returns JC_OK and *out, or JC_ERR_ARG / JC_ERR_FORMAT / JC_ERR_NOMEM with a
 * message in err. The tokenizer is immutable: share it between threads freely. */
static int jc_tok_wp_create(const char *vocab, size_t vocab_len, uint32_t n_vocab,
                         const jc_tok_wordpiece_config *cfg, jc_tok_wordpiece **out, char *err,
                         size_t errcap)
{
    if (!out) return jc_fail(err, errcap, JC_ERR_ARG, "tokenizer: out is NULL");
    *out = NULL;
    if (!cfg || (!vocab && vocab_len))
        return jc_fail(err, errcap, JC_ERR_ARG, "tokenizer: NULL vocab or config");
    if (cfg->max_word_chars > JC_TOK_WP_WORD_CAP)
        return jc_fail(err, errcap, JC_ERR_ARG, "tokenizer: max_word_chars %u exceeds %u",
                       (unsigned)cfg->max_word_chars, JC_TOK_WP_WORD_CAP);
    if (cfg->n_special > JC_TOK_WP_MAX_SPECIAL || (cfg->n_special && !cfg->special_ids))
        return jc_fail(err, errcap, JC_ERR_ARG, "tokenizer: %zu special tokens (at most %u)",
                       cfg->n_special, JC_TOK_WP_MAX_SPECIAL);
    if (n_vocab == 0 || vocab_len == 0)
        return jc_fail(err, errcap, JC_ERR_FORMAT, "tokenizer: empty vocab");
    if (vocab_len >= UINT32_MAX || n_vocab > vocab_len || n_vocab > (UINT32_MAX >> 2))
        return jc_fail(err, errcap, JC_ERR_FORMAT,
                       "tokenizer: vocab of %u entries in %zu bytes is out of range",
                       (unsigned)n_vocab, vocab_len);
    if (vocab[vocab_len - 1] != '\0')
        return jc_fail(err, errcap, JC_ERR_FORMAT, "tokenizer: vocab does not end with NUL");
    const int32_t fixed[4] = {cfg->unk_id, cfg->cls_id, cfg->sep_id, cfg->pad_id};
    for (int i = 0; i < 4; i++)
        if (fixed[i] < 0 || (uint32_t)fixed[i] >= n_vocab)
            return jc_fail(err, errcap, JC_ERR_FORMAT, "tokenizer: id %d out of range (%u entries)",
                           (int)fixed[i], (unsigned)n_vocab);

    jc_tok_wordpiece *t = (jc_tok_wordpiece *)JCLIP_MALLOC(sizeof *t);
    if (!t) return jc_fail(err, errcap, JC_ERR_NOMEM, "tokenizer: out of memory");
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    t->vocab = vocab;
    t->n_vocab = n_vocab;

    /* Table of at least twice as many slots as entries: probes stay short. */
    uint32_t slots = 1;
    while (slots < 2 * n_vocab) slots <<= 1;
    t->mask = slots - 1;
    size_t off_bytes, slot_bytes;
    if (!jc_mul((size_t)n_vocab + 1, sizeof *t->off, &off_bytes) ||
        !jc_mul(slots, sizeof *t->slots, &slot_bytes)) {
        jc_tok_wp_free(t);
        return jc_fail(err, errcap, JC_ERR_FORMAT, "tokenizer: vocab too large");
    }
    t->off = (uint32_t *)JCLIP_MALLOC(off_bytes);
    t->slots = (jc_tok_wp_slot *)JCLIP_MALLOC(slot_bytes);
    if (!t->off || !t->slots) {
        jc_tok_wp_free(t);
        return jc_fail(err, errcap, JC_ERR_NOMEM, "tokenizer: out of memory");
    }
    memset(t->slots, 0, slot_bytes);

    /* Split the blob: exactly n_vocab NUL-terminated entries, nothing after the last. */
    uint32_t id = 0;
    size_t start = 0;
    for (size_t i = 0; i < vocab_len; i++) {
        if (vocab[i] != '\0') continue;
        if (id == n_vocab) {
            jc_tok_wp_free(t);
            return jc_fail(err, errcap, JC_ERR_FORMAT, "tokenizer: vocab has more than %u entries",
                           (unsigned)n_vocab);
        }
        t->off[id++] = (uint32_t)start;
        if (i - start > t->max_entry_bytes) t->max_entry_bytes = (uint32_t)(i - start);
        start = i + 1;
    }
    if (id != n_vocab) {
        jc_tok_wp_free(t);
        return jc_fail(err, errcap, JC_ERR_FORMAT, "tokenizer: vocab has %u entries, expected %u",
                       (unsigned)id, (unsigned)n_vocab);
    }
    t->off[n_vocab] = (uint32_t)vocab_len;

    /* Insert every entry; a repeated string maps to its last id (as a vocab file read into a
     * map does). */
    for (id = 0; id < n_vocab; id++) {
        const char *e = vocab + t->off[id];
        size_t n = jc_tok_entry_len(t, id);
        uint64_t h = jc_tok_fnv(JC_TOK_FNV_OFFSET, e, n);
        uint32_t i = jc_tok_slot_of(h, t->mask);
        for (;;) {
            jc_tok_wp_slot *s = &t->slots[i];
            if (!s->id1) { s->id1 = id + 1; s->hash = jc_tok_check_of(h); break; }
            if (s->hash == jc_tok_check_of(h) && jc_tok_entry_len(t, s->id1 - 1) == n &&
                memcmp(vocab + t->off[s->id1 - 1], e, n) == 0) {
                s->id1 = id + 1;
                break;
            }
            i = (i + 1) & t->mask;
        }
    }

    for (size_t k = 0; k < cfg->n_special; k++) {
        int32_t sid = cfg->special_ids[k];
        if (sid < 0 || (uint32_t)sid >= n_vocab) {
            jc_tok_wp_free(t);
            return jc_fail(err, errcap, JC_ERR_FORMAT, "tokenizer: special id %d out of range",
                           (int)sid);
        }
        const char *e = vocab + t->off[sid];
        size_t n = jc_tok_entry_len(t, (uint32_t)sid);
        if (n == 0 || n > JC_TOK_WP_MAX_SPECIAL_BYTES || !jc_tok_utf8_clean(e, n)) {
            jc_tok_wp_free(t);
            return jc_fail(err, errcap, JC_ERR_FORMAT,
                           "tokenizer: special token %d must be 1..%u bytes of valid UTF-8",
                           (int)sid, JC_TOK_WP_MAX_SPECIAL_BYTES);
        }
        t->special[k] = sid;
        uint8_t b = (uint8_t)e[0];
        t->special_first[b >> 3] |= (uint8_t)(1u << (b & 7));
    }
    t->cfg.special_ids = t->special;
    *out = t;
    return JC_OK;
}

/* ---- Encode ------------------------------------------------------------------------------ */

/* Per-call state, on the caller's stack. */
typedef struct jc_tok_wp_state {
    const jc_tok_wordpiece *t;
    int32_t *ids;
    size_t cap;
    size_t n;     /* ids produced so far, [CLS] included */
    size_t limit; /* max_tokens - 1: when n reaches it, the rest of the text cannot matter */
    /* The current word: normalized code points as UTF-8, and each code point's byte offset. */
    size_t nchar;      /* code points in the word (may exceed max_word_chars: then not stored) */
    size_t nbyte;
    uint16_t coff[JC_TOK_WP_WORD_CAP + 1];
    char bytes[JC_TOK_WP_WORD_CAP * 4];
    int32_t pieces[JC_TOK_WP_WORD_CAP];
} jc_tok_wp_state;

static void jc_tok_put(jc_tok_wp_state *st, int32_t id)
{
    if (st->n < st->cap) st->ids[st->n] = id;
    st->n++;
}

static int jc_tok_done(const jc_tok_wp_state *st) { return st->n >= st->limit; }

/* Appends one id of the text; those past the truncation point are dropped. */
static void jc_tok_emit(jc_tok_wp_state *st, int32_t id)
{
    if (!jc_tok_done(st)) jc_tok_put(st, id);
}

/* WordPiece of the current word, then starts a new word. */
static void jc_tok_flush(jc_tok_wp_state *st)
{
    const jc_tok_wordpiece *t = st->t;
    size_t nc = st->nchar;
    if (nc == 0) return;
    st->nchar = 0;
    st->nbyte = 0;
    if (nc > t->cfg.max_word_chars) { jc_tok_emit(st, t->cfg.unk_id); return; }
    size_t np = 0, s = 0;
    while (s < nc) {
        /* Longest entry (with "##" unless at the start) equal to chars [s, e). */
        const char *prefix = s ? "##" : "";
        size_t plen = s ? 2 : 0;
        uint64_t h = jc_tok_fnv(JC_TOK_FNV_OFFSET, prefix, plen);
        int32_t best = -1;
        size_t best_e = s;
        for (size_t e = s + 1; e <= nc; e++) {
            size_t b0 = st->coff[s], b1 = st->coff[e];
            if (plen + (b1 - b0) > t->max_entry_bytes) break;
            h = jc_tok_fnv(h, st->bytes + st->coff[e - 1], b1 - st->coff[e - 1]);
            int32_t id = jc_tok_lookup(t, h, prefix, plen, st->bytes + b0, b1 - b0);
            if (id >= 0) { best = id; best_e = e; }
        }
        if (best < 0) { jc_tok_emit(st, t->cfg.unk_id); return; }
        st->pieces[np++] = best;
        s = best_e;
    }
    for (size_t i = 0; i < np; i++) jc_tok_emit(st, st->pieces[i]);
}

static void jc_tok_push(jc_tok_wp_state *st, uint32_t cp)
{
    if (st->nchar < st->t->cfg.max_word_chars) {
        st->nbyte += jc_tok_utf8_put(cp, st->bytes + st->nbyte);
        st->coff[st->nchar + 1] = (uint16_t)st->nbyte;
    }
    st->nchar++;
}

/* BertPreTokenizer step on one normalized code point. */
static void jc_tok_feed(jc_tok_wp_state *st, uint32_t cp)
{
    unsigned cls = cp < 0x80 && cp > 0x20 && ((cp | 0x20) - 'a' < 26 || cp - '0' < 10)
                       ? 0u
                       : jc_tok_uc_class(cp);
    if (cls & JC_TOK_UC_PRE_WS) {
        jc_tok_flush(st);
    } else if (cls & JC_TOK_UC_PRE_PUNCT) {
        jc_tok_flush(st);
        jc_tok_push(st, cp);
        jc_tok_flush(st);
    } else {
        jc_tok_push(st, cp);
    }
}

/* strip_accents and lowercase of one code point, then pre-tokenization of the result. */
static void jc_tok_normalize(jc_tok_wp_state *st, uint32_t cp)
{
    const jc_tok_wordpiece_config *c = &st->t->cfg;
    uint32_t a[JC_TOK_UC_SEQ_MAX], b[JC_TOK_UC_SEQ_MAX];
    size_t na = 1;
    a[0] = cp;
    if (c->strip_accents) na = jc_tok_strip(cp, a);
    for (size_t i = 0; i < na; i++) {
        size_t nb = 1;
        b[0] = a[i];
        if (c->lowercase) nb = jc_tok_lower(a[i], b);
        for (size_t j = 0; j < nb; j++) jc_tok_feed(st, b[j]);
    }
}

/* Length of the longest special literal at text[p..len), 0 when none; its id in *id. */
static size_t jc_tok_match_special(const jc_tok_wordpiece *t, const uint8_t *s, size_t n, int32_t *id)
{
    size_t best = 0;
    for (size_t k = 0; k < t->cfg.n_special; k++) {
        const char *e = t->vocab + t->off[t->special[k]];
        size_t el = jc_tok_entry_len(t, (uint32_t)t->special[k]);
        if (el > best && el <= n && memcmp(e, s, el) == 0) { best = el; *id = t->special[k]; }
    }
    return best;
}

/* Tokenizes text[0..len) (arbitrary bytes; NUL is U+0000) into [CLS] ... [SEP], truncated to
 * max_tokens (>= 2) ids by keeping the first max_tokens-1 and [SEP]. Writes at most cap ids;
 * *n_out = the length of the (truncated) result. Returns JC_OK, JC_ERR_CAPACITY when
 * cap < *n_out (ids holds the first cap), or JC_ERR_ARG. Never allocates; linear in len;
 * thread-safe (t is only read). Uses about 11 KB of stack. */
static int jc_tok_wp_encode(const jc_tok_wordpiece *t, const char *text, size_t len, size_t max_tokens,
                         int32_t *ids, size_t cap, size_t *n_out)
{
    if (n_out) *n_out = 0;
    if (!t || !n_out || (!text && len) || (!ids && cap) || max_tokens < 2) return JC_ERR_ARG;
    jc_tok_wp_state st;
    st.t = t;
    st.ids = ids;
    st.cap = cap;
    st.n = 0;
    st.limit = max_tokens - 1;
    st.nchar = 0;
    st.nbyte = 0;
    st.coff[0] = 0;
    const jc_tok_wordpiece_config *c = &t->cfg;
    const uint8_t *s = (const uint8_t *)text;
    jc_tok_put(&st, c->cls_id);
    size_t p = 0;
    while (p < len && !jc_tok_done(&st)) {
        if (t->special_first[s[p] >> 3] & (1u << (s[p] & 7))) {
            int32_t sid = 0;
            size_t m = jc_tok_match_special(t, s + p, len - p, &sid);
            if (m) {
                jc_tok_flush(&st);
                jc_tok_emit(&st, sid);
                p += m;
                continue;
            }
        }
        uint32_t cp;
        p += jc_tok_utf8_next(s + p, len - p, &cp);
        unsigned cls = jc_tok_uc_class(cp);
        if (c->clean_text) {
            if (cp == 0 || cp == 0xFFFD || (cls & JC_TOK_UC_CLEAN_MASK) == JC_TOK_UC_CLEAN_DROP) continue;
            if ((cls & JC_TOK_UC_CLEAN_MASK) == JC_TOK_UC_CLEAN_SPACE) cp = ' ';
        }
        if (c->tokenize_chinese && (cls & JC_TOK_UC_CJK)) {
            jc_tok_flush(&st);
            jc_tok_normalize(&st, cp);
            jc_tok_flush(&st);
        } else {
            jc_tok_normalize(&st, cp);
        }
    }
    if (!jc_tok_done(&st)) jc_tok_flush(&st);
    jc_tok_put(&st, c->sep_id);
    *n_out = st.n;
    return st.n > cap ? JC_ERR_CAPACITY : JC_OK;
}
