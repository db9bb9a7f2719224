/* tokenizer/bpe.c: OpenAI CLIP byte-level BPE, token for token what Hugging Face's
 * CLIPTokenizerFast (the `tokenizers` crate) produces from the hub files of
 * openai/clip-vit-base-patch32 (and ViT-B/16, the same tokenizer).
 *
 * The tokenizer.json pipeline and how each step is done here, in one left-to-right pass over the
 * bytes with no allocation (all buffers live in a jc_bpe_work made once per context):
 *   0. UTF-8 decoding; each maximal invalid subpart becomes U+FFFD (as the goldens' reference).
 *   1. Added tokens with normalized=false (`<|endoftext|>`) are matched on the raw text,
 *      leftmost-longest; the text between two matches is normalized and tokenized on its own.
 *   2. Normalizer NFC: full canonical composition with the Unicode 9.0 tables of the crate's
 *      unicode-normalization-alignments (unicode_tables.h), streamed: a starter is held until the
 *      next starter shows whether they compose; the non-starters in between are sorted by
 *      combining class (stable) and composed as the crate does.
 *   3. Normalizer Replace(\s+ -> " "): every whitespace run ends up as a separator that step 5
 *      drops, and no added token contains whitespace, so the replacement cannot change an id and
 *      is not done.
 *   4. Normalizer Lowercase (char::to_lowercase, the crate's table), then added tokens with
 *      normalized=true (`<|startoftext|>`) matched on the normalized text.
 *   5. Pre-tokenizer Split(`'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`, removed,
 *      invert) with Oniguruma's classes (JC_UC_CLIP_*), as a state machine; ByteLevel with its
 *      default regex cannot split any of these pieces further, so it only maps bytes.
 *   6. BPE per piece on its bytes, the last byte's symbol carrying `</w>`: repeatedly merge the
 *      adjacent pair of lowest merge rank, the leftmost on a tie (the crate's order). Short
 *      pieces use a linear scan; long ones a binary heap with lazy deletion. Results of short
 *      pieces are remembered in the work memory (checked against the bytes, so exact).
 *   7. `<|startoftext|>` ... `<|endoftext|>`, truncated to max_tokens by keeping the first
 *      max_tokens-1 ids and the end token.
 *
 * Limits: a piece (one pre-token, normalized) is at most max_word_bytes long (the size of the
 * work buffers); a longer one is JC_ERR_LIMIT unless truncation stopped before it.
 * Cost: O(len) per text plus O(k log k) per piece of k bytes (O(k^2) for k <= 48). */
#include "../jclip_base.h"
#include "unicode_tables.h"

#define JC_BPE_MAX_VOCAB ((1u << 20) - 1) /* ids fit 20 bits, and (max, max) is no key */
#define JC_BPE_MAX_MERGES ((1u << 24) - 1) /* ranks fit 24 bits */
#define JC_BPE_MAX_SPECIAL_BYTES 64u  /* an added token's literal */
#define JC_BPE_MAX_WORD (1u << 24)    /* upper bound of max_word_bytes */
#define JC_BPE_LINEAR_MAX 48u         /* pieces up to this many bytes use the linear merge loop */
#define JC_BPE_NONE UINT32_MAX

typedef struct jc_bpe_config {
    int32_t bos_id, eos_id;     /* <|startoftext|> 49406, <|endoftext|> 49407 */
    int bos_normalized;         /* 1: its literal is matched on normalized text (CLIP: 1) */
    int eos_normalized;         /* CLIP: 0; at most one of the two may be 1 */
    uint32_t max_word_bytes;    /* longest piece, in bytes after normalization; 16..2^24 */
} jc_bpe_config;

/* Merge table slot: rank << 40 | left << 20 | right; JC_BPE_EMPTY when free. 8 bytes a slot
 * keep the table (1 MiB for CLIP's 48894 merges) mostly in cache. */
#define JC_BPE_EMPTY UINT64_MAX
#define JC_BPE_KEY_MASK ((1ull << 40) - 1)

typedef struct jc_bpe {
    jc_bpe_config cfg;
    const char *vocab;          /* [vocab_len] n_vocab NUL-terminated entries, not owned */
    uint32_t n_vocab, n_merges;
    uint32_t *off;              /* [n_vocab + 1] byte offset of each entry */
    uint64_t *merges;           /* [mask + 1] open-addressing table keyed by (left, right) */
    uint32_t *result;           /* [n_merges] id each merge produces, by rank */
    uint32_t mask;
    uint32_t sym[2][256];       /* id of byte b's symbol: [0] inside a piece, [1] last (</w>) */
    uint32_t lit_raw_first[8];  /* bitmap of first bytes of the raw-matched literals */
    uint32_t lit_norm[JC_BPE_MAX_SPECIAL_BYTES]; /* the normalized literal, as code points */
    uint32_t lit_norm_len;      /* 0 when none */
    int32_t lit_norm_id;
} jc_bpe;

/* Cache of short pieces' ids in the work memory: pieces of at most JC_BPE_CACHE_BYTES bytes
 * that give at most JC_BPE_CACHE_IDS ids, direct-mapped by a hash of the bytes and checked
 * against them, so a hit gives exactly what the merge loop would. Words repeat a lot in
 * ordinary text; the merge table's cache misses are the cost it saves. */
#define JC_BPE_CACHE_SLOTS 8192u
#define JC_BPE_CACHE_BYTES 14u
#define JC_BPE_CACHE_IDS 3u
typedef struct jc_bpe_cached {
    uint8_t len, n_ids;                /* len 0: empty */
    uint8_t bytes[JC_BPE_CACHE_BYTES];
    uint32_t ids[JC_BPE_CACHE_IDS];
    uint32_t pad;
} jc_bpe_cached;

/* Per-context work memory, sized from max_word_bytes when made. */
typedef struct jc_bpe_work {
    jc_bpe_cached *cache;       /* [JC_BPE_CACHE_SLOTS] */
    uint32_t cap;               /* max_word_bytes */
    uint8_t *word;              /* [cap + 4] bytes of the current piece */
    uint32_t *sym;              /* [cap] symbol ids */
    uint32_t *rank;             /* [cap] linear: pair rank; heap: prev link */
    uint32_t *res;              /* [cap] linear: pair result; heap: next link */
    uint64_t *heap;             /* [3 * cap] (rank << 32 | position) */
    uint32_t *marks;            /* [cap] pending non-starters: cp << 8 | ccc */
    uint32_t *marks2;           /* [cap] sort buffer */
} jc_bpe_work;

/* ---- Unicode properties ------------------------------------------------------------------ */

static unsigned jc_bpe_flags(uint32_t cp)
{
    if (cp >= 0x110000) return 0;
    return jc_uc_bpe_stage2[jc_uc_bpe_stage1[cp >> 8]][cp & 255];
}

static unsigned jc_bpe_ccc(uint32_t cp)
{
    size_t lo = 0, hi = JC_UC_N_CCC;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (jc_uc_ccc[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < JC_UC_N_CCC && jc_uc_ccc[lo].cp == cp ? jc_uc_ccc[lo].ccc : 0;
}

/* Full canonical decomposition of cp into out (JC_UC_DECOMP_MAX room); returns its length. */
static size_t jc_bpe_decomp(uint32_t cp, uint32_t *out)
{
    if (cp - JC_TOK_UC_HANGUL_FIRST < JC_TOK_UC_HANGUL_COUNT) {
        uint32_t s = cp - JC_TOK_UC_HANGUL_FIRST;
        out[0] = 0x1100 + s / (21 * 28);
        out[1] = 0x1161 + (s % (21 * 28)) / 28;
        if (s % 28 == 0) return 2;
        out[2] = 0x11A7 + s % 28;
        return 3;
    }
    size_t lo = 0, hi = JC_UC_N_DECOMP;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (jc_uc_decomp[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo == JC_UC_N_DECOMP || jc_uc_decomp[lo].cp != cp) { out[0] = cp; return 1; }
    uint32_t ref = jc_uc_decomp[lo].ref, n = ref & 7u;
    for (uint32_t i = 0; i < n; i++) out[i] = jc_uc_decomp_pool[(ref >> 3) + i];
    return n;
}

/* Primary composite of a + b, or 0 when they do not compose. */
static uint32_t jc_bpe_compose(uint32_t a, uint32_t b)
{
    if (a - 0x1100u < 19 && b - 0x1161u < 21)
        return JC_TOK_UC_HANGUL_FIRST + ((a - 0x1100) * 21 + (b - 0x1161)) * 28;
    if (a - JC_TOK_UC_HANGUL_FIRST < JC_TOK_UC_HANGUL_COUNT && (a - JC_TOK_UC_HANGUL_FIRST) % 28 == 0 &&
        b - 0x11A8u < 27)
        return a + (b - 0x11A7);
    uint64_t key = ((uint64_t)a << 21) | b;
    size_t lo = 0, hi = JC_UC_N_COMPOSE;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (jc_uc_compose[mid].key < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < JC_UC_N_COMPOSE && jc_uc_compose[lo].key == key ? jc_uc_compose[lo].cp : 0;
}

/* GPT-2's byte-to-unicode: printable Latin-1 bytes stand for themselves, the other 68 take
 * U+0100.. in byte order. */
static uint32_t jc_bpe_byte_char(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    uint32_t n = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
    return 256 + n;
}

/* ---- Merge table ------------------------------------------------------------------------- */

static uint32_t jc_bpe_slot(uint64_t key, uint32_t mask)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & mask;
}

/* Rank of merging (a, b); JC_BPE_NONE when the pair is no merge. Its result: t->result[rank]. */
static inline uint32_t jc_bpe_pair(const jc_bpe *t, uint32_t a, uint32_t b)
{
    uint64_t key = (uint64_t)a << 20 | b;
    for (uint32_t i = jc_bpe_slot(key, t->mask);; i = (i + 1) & t->mask) {
        uint64_t e = t->merges[i];
        if ((e & JC_BPE_KEY_MASK) == key) return (uint32_t)(e >> 40);
        if (e == JC_BPE_EMPTY) return JC_BPE_NONE;
    }
}

/* ---- Create / free ----------------------------------------------------------------------- */

static JC_UNUSED void jc_bpe_free(jc_bpe *t)
{
    if (!t) return;
    JCLIP_FREE(t->off);
    JCLIP_FREE(t->merges);
    JCLIP_FREE(t->result);
    JCLIP_FREE(t);
}

static size_t jc_bpe_entry_len(const jc_bpe *t, uint32_t id) { return (size_t)(t->off[id + 1] - t->off[id]) - 1; }

/* Id of the vocab entry equal to s[0..n), through a temporary string table; -1 when none. */
static int64_t jc_bpe_find(const jc_bpe *t, const uint32_t *tab, uint32_t tmask, const char *s, size_t n)
{
    uint32_t i = (uint32_t)jc_tok_fnv(JC_TOK_FNV_OFFSET, s, n) & tmask;
    for (;;) {
        uint32_t id1 = tab[i];
        if (!id1) return -1;
        if (jc_bpe_entry_len(t, id1 - 1) == n && memcmp(t->vocab + t->off[id1 - 1], s, n) == 0) return id1 - 1;
        i = (i + 1) & tmask;
    }
}

/* Frees what jc_bpe_create holds (t, tab) and fails with a message. */
#define JC_BPE_FAIL(code, ...)                                  \
    do {                                                        \
        JCLIP_FREE(tab);                                        \
        jc_bpe_free(t);                                         \
        return jc_fail(err, errcap, (code), __VA_ARGS__);       \
    } while (0)

static uint32_t jc_bpe_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* vocab: n_vocab NUL-terminated UTF-8 entries concatenated (id = index), vocab_len bytes, no
 * entry repeated. merges: n_merges records of three little-endian u32 (left id, right id,
 * result id) in rank order, merges_len = 12 * n_merges bytes; the result's string must be the
 * left's followed by the right's (a pair listed twice keeps its last rank, as the crate does).
 * The 256 byte symbols (GPT-2 byte-to-unicode) and the same with `</w>` must be entries. Both
 * blobs are hostile: every field is checked. vocab is referenced, not copied (must outlive the
 * tokenizer); merges is read only here. Returns JC_OK and *out, or JC_ERR_ARG /
 * JC_ERR_FORMAT / JC_ERR_NOMEM with a message in err. Immutable once made: share freely. */
static JC_UNUSED int jc_bpe_create(const char *vocab, size_t vocab_len, uint32_t n_vocab, const uint8_t *merges,
                         size_t merges_len, uint32_t n_merges, const jc_bpe_config *cfg, jc_bpe **out,
                         char *err, size_t errcap)
{
    if (!out) return jc_fail(err, errcap, JC_ERR_ARG, "bpe: out is NULL");
    *out = NULL;
    if (!cfg || (!vocab && vocab_len) || (!merges && merges_len))
        return jc_fail(err, errcap, JC_ERR_ARG, "bpe: NULL vocab, merges or config");
    if (cfg->max_word_bytes < 16 || cfg->max_word_bytes > JC_BPE_MAX_WORD)
        return jc_fail(err, errcap, JC_ERR_ARG, "bpe: max_word_bytes %u is not in 16..%u",
                       (unsigned)cfg->max_word_bytes, JC_BPE_MAX_WORD);
    if (cfg->bos_normalized && cfg->eos_normalized)
        return jc_fail(err, errcap, JC_ERR_ARG, "bpe: at most one normalized added token");
    if (n_vocab < 2 || n_vocab > JC_BPE_MAX_VOCAB || vocab_len == 0 || vocab_len >= UINT32_MAX ||
        n_vocab > vocab_len)
        return jc_fail(err, errcap, JC_ERR_FORMAT, "bpe: vocab of %u entries in %zu bytes is out of range",
                       (unsigned)n_vocab, vocab_len);
    if (vocab[vocab_len - 1] != '\0')
        return jc_fail(err, errcap, JC_ERR_FORMAT, "bpe: vocab does not end with NUL");
    size_t want = 0;
    if (n_merges > JC_BPE_MAX_MERGES || !jc_mul(n_merges, 12, &want) || want != merges_len)
        return jc_fail(err, errcap, JC_ERR_FORMAT, "bpe: merges blob of %zu bytes does not hold %u merges",
                       merges_len, (unsigned)n_merges);
    if (cfg->bos_id < 0 || (uint32_t)cfg->bos_id >= n_vocab || cfg->eos_id < 0 ||
        (uint32_t)cfg->eos_id >= n_vocab || cfg->bos_id == cfg->eos_id)
        return jc_fail(err, errcap, JC_ERR_FORMAT, "bpe: special ids %d, %d out of range (%u entries)",
                       (int)cfg->bos_id, (int)cfg->eos_id, (unsigned)n_vocab);

    uint32_t *tab = NULL;
    jc_bpe *t = (jc_bpe *)JCLIP_MALLOC(sizeof *t);
    if (!t) return jc_fail(err, errcap, JC_ERR_NOMEM, "bpe: out of memory");
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    t->vocab = vocab;
    t->n_vocab = n_vocab;
    t->n_merges = n_merges;
    uint32_t slots = 1, tslots = 1;
    while (slots < 2 * n_merges || slots < 16) slots <<= 1;
    while (tslots < 2 * n_vocab) tslots <<= 1;
    t->mask = slots - 1;
    size_t off_bytes, merge_bytes, tab_bytes;
    if (!jc_mul((size_t)n_vocab + 1, sizeof *t->off, &off_bytes) || !jc_mul(slots, sizeof *t->merges, &merge_bytes) ||
        !jc_mul(tslots, sizeof(uint32_t), &tab_bytes))
        JC_BPE_FAIL(JC_ERR_FORMAT, "bpe: tables too large (%lld, %lld)",
                           (long long)n_vocab, (long long)n_merges);
    t->off = (uint32_t *)JCLIP_MALLOC(off_bytes);
    t->merges = (uint64_t *)JCLIP_MALLOC(merge_bytes);
    t->result = (uint32_t *)JCLIP_MALLOC((size_t)n_merges * 4 + 4);
    tab = (uint32_t *)JCLIP_MALLOC(tab_bytes);
    if (!t->off || !t->merges || !t->result || !tab)
        JC_BPE_FAIL(JC_ERR_NOMEM, "bpe: out of memory (%lld vocab, %lld merges)",
                           (long long)n_vocab, (long long)n_merges);
    memset(t->merges, 0xFF, merge_bytes);
    memset(tab, 0, tab_bytes);

    /* Split the vocab: exactly n_vocab entries; index them, refusing repeats. */
    uint32_t id = 0;
    size_t start = 0;
    for (size_t i = 0; i < vocab_len; i++) {
        if (vocab[i] != '\0') continue;
        if (id == n_vocab)
            JC_BPE_FAIL(JC_ERR_FORMAT, "bpe: vocab has more than %u entries", (unsigned)n_vocab);
        t->off[id++] = (uint32_t)start;
        start = i + 1;
    }
    if (id != n_vocab)
        JC_BPE_FAIL(JC_ERR_FORMAT, "bpe: vocab has %lld entries, expected %lld",
                           (long long)id, (long long)n_vocab);
    t->off[n_vocab] = (uint32_t)vocab_len;
    uint32_t tmask = tslots - 1;
    for (id = 0; id < n_vocab; id++) {
        const char *e = vocab + t->off[id];
        size_t n = jc_bpe_entry_len(t, id);
        if (jc_bpe_find(t, tab, tmask, e, n) >= 0)
            JC_BPE_FAIL(JC_ERR_FORMAT, "bpe: vocab entry %u repeats an earlier one", (unsigned)id);
        uint32_t i = (uint32_t)jc_tok_fnv(JC_TOK_FNV_OFFSET, e, n) & tmask;
        while (tab[i]) i = (i + 1) & tmask;
        tab[i] = id + 1;
    }

    /* The 512 initial symbols. */
    for (unsigned b = 0; b < 256; b++) {
        char s[8];
        size_t n = jc_tok_utf8_put(jc_bpe_byte_char(b), s);
        for (int last = 0; last < 2; last++) {
            if (last) { memcpy(s + n, "</w>", 4); n += 4; }
            int64_t sid = jc_bpe_find(t, tab, tmask, s, n);
            if (sid < 0)
                JC_BPE_FAIL(JC_ERR_FORMAT, "bpe: vocab lacks the symbol of byte 0x%02X%s", b, last ? " with </w>" : "");
            t->sym[last][b] = (uint32_t)sid;
        }
    }
    JCLIP_FREE(tab);
    tab = NULL;

    /* Merges: ids in range, result = left + right, into the pair table. */
    for (uint32_t r = 0; r < n_merges; r++) {
        const uint8_t *p = merges + (size_t)r * 12;
        uint32_t a = jc_bpe_u32(p), b = jc_bpe_u32(p + 4), c = jc_bpe_u32(p + 8);
        if (a >= n_vocab || b >= n_vocab || c >= n_vocab)
            JC_BPE_FAIL(JC_ERR_FORMAT, "bpe: merge %lld has an id out of range (%lld entries)",
                               (long long)r, (long long)n_vocab);
        size_t la = jc_bpe_entry_len(t, a), lb = jc_bpe_entry_len(t, b);
        const char *ec = vocab + t->off[c];
        if (jc_bpe_entry_len(t, c) != la + lb || memcmp(ec, vocab + t->off[a], la) != 0 ||
            memcmp(ec + la, vocab + t->off[b], lb) != 0)
            JC_BPE_FAIL(JC_ERR_FORMAT, "bpe: merge %lld: entry %lld is not its two parts joined", (long long)r, (long long)c);
        uint64_t key = (uint64_t)a << 20 | b;
        uint32_t i = jc_bpe_slot(key, t->mask);
        while (t->merges[i] != JC_BPE_EMPTY && (t->merges[i] & JC_BPE_KEY_MASK) != key) i = (i + 1) & t->mask;
        t->merges[i] = (uint64_t)r << 40 | key; /* a pair listed again takes the later rank */
        t->result[r] = c;
    }

    /* Added tokens: literal strings of valid UTF-8. */
    for (int k = 0; k < 2; k++) {
        int32_t sid = k ? cfg->eos_id : cfg->bos_id;
        int norm = k ? cfg->eos_normalized : cfg->bos_normalized;
        const char *e = vocab + t->off[sid];
        size_t n = jc_bpe_entry_len(t, (uint32_t)sid);
        if (n == 0 || n > JC_BPE_MAX_SPECIAL_BYTES || !jc_tok_utf8_clean(e, n))
            JC_BPE_FAIL(JC_ERR_FORMAT, "bpe: added token %lld must be 1..%lld bytes of valid UTF-8", (long long)sid,
                               (long long)JC_BPE_MAX_SPECIAL_BYTES);
        if (!norm) {
            uint8_t b = (uint8_t)e[0];
            t->lit_raw_first[b >> 5] |= 1u << (b & 31);
            continue;
        }
        /* Matched after normalization: the crate normalizes the literal too (NFC of a lone
         * string the converter already checked; lowercase here), so it is kept lowercased. */
        size_t i = 0;
        while (i < n) {
            uint32_t cp, low[JC_TOK_UC_SEQ_MAX];
            i += jc_tok_utf8_next((const uint8_t *)e + i, n - i, &cp);
            size_t nl = jc_tok_lower(cp, low);
            for (size_t j = 0; j < nl; j++) {
                if (t->lit_norm_len == JC_BPE_MAX_SPECIAL_BYTES)
                    JC_BPE_FAIL(JC_ERR_FORMAT, "bpe: added token %d too long", (int)sid);
                t->lit_norm[t->lit_norm_len++] = low[j];
            }
        }
        t->lit_norm_id = sid;
    }
    *out = t;
    return JC_OK;
}

/* ---- Work memory ------------------------------------------------------------------------- */

static JC_UNUSED void jc_bpe_work_free(jc_bpe_work *w)
{
    if (!w) return;
    JCLIP_FREE(w->word);
    JCLIP_FREE(w->sym);
    JCLIP_FREE(w->rank);
    JCLIP_FREE(w->res);
    JCLIP_FREE(w->heap);
    JCLIP_FREE(w->marks);
    JCLIP_FREE(w->marks2);
    JCLIP_FREE(w->cache);
    JCLIP_FREE(w);
}

/* Bytes jc_bpe_work_new allocates for t (about 40 per byte of max_word_bytes). */
static JC_UNUSED size_t jc_bpe_work_bytes(const jc_bpe *t)
{
    return sizeof(jc_bpe_work) + (size_t)t->cfg.max_word_bytes * (1 + 5 * 4 + 3 * 8) + 4 +
           JC_BPE_CACHE_SLOTS * sizeof(jc_bpe_cached);
}

/* The buffers one thread needs to encode with t: made once per context, reused by every call. */
static JC_UNUSED int jc_bpe_work_new(const jc_bpe *t, jc_bpe_work **out, char *err, size_t errcap)
{
    *out = NULL;
    jc_bpe_work *w = (jc_bpe_work *)JCLIP_MALLOC(sizeof *w);
    if (!w) return jc_fail(err, errcap, JC_ERR_NOMEM, "bpe: out of memory");
    memset(w, 0, sizeof *w);
    size_t cap = t->cfg.max_word_bytes; /* <= 2^24: the products below cannot overflow */
    w->cap = (uint32_t)cap;
    w->word = (uint8_t *)JCLIP_MALLOC(cap + 4);
    w->sym = (uint32_t *)JCLIP_MALLOC(cap * 4);
    w->rank = (uint32_t *)JCLIP_MALLOC(cap * 4);
    w->res = (uint32_t *)JCLIP_MALLOC(cap * 4);
    w->heap = (uint64_t *)JCLIP_MALLOC(cap * 3 * 8);
    w->marks = (uint32_t *)JCLIP_MALLOC(cap * 4);
    w->marks2 = (uint32_t *)JCLIP_MALLOC(cap * 4);
    w->cache = (jc_bpe_cached *)JCLIP_MALLOC(JC_BPE_CACHE_SLOTS * sizeof *w->cache);
    if (!w->word || !w->sym || !w->rank || !w->res || !w->heap || !w->marks || !w->marks2 || !w->cache) {
        jc_bpe_work_free(w);
        return jc_fail(err, errcap, JC_ERR_NOMEM, "bpe: out of memory for %zu-byte work buffers", cap);
    }
    memset(w->cache, 0, JC_BPE_CACHE_SLOTS * sizeof *w->cache);
    *out = w;
    return JC_OK;
}

/* ---- Encode ------------------------------------------------------------------------------ */

typedef struct jc_bpe_state {
    const jc_bpe *t;
    jc_bpe_work *w;
    int32_t *ids;
    size_t cap, n, limit;
    int rc;                 /* JC_ERR_LIMIT once a piece outgrew the work buffers */
    /* NFC */
    uint32_t comp;          /* the held starter */
    int has_comp;
    uint32_t n_marks;       /* non-starters after it, in text order */
    /* normalized literal matcher: lit_norm[0..lit_m) are held back */
    uint32_t lit_m;
    /* pre-tokenizer */
    uint32_t wlen;          /* bytes of the current piece */
    unsigned kind;          /* class of the current piece: JC_UC_CLIP_L / _O, or JC_UC_CLIP_S = none */
    uint32_t apos[2];       /* after a piece-initial apostrophe: the code points that follow */
    unsigned n_apos;        /* 0 none, 1 "'" held, 2 "'" + apos[0] held */
} jc_bpe_state;

static void jc_bpe_put(jc_bpe_state *st, int32_t id)
{
    if (st->n < st->cap) st->ids[st->n] = id;
    st->n++;
}

static int jc_bpe_done(const jc_bpe_state *st) { return st->n >= st->limit || st->rc; }

static void jc_bpe_emit(jc_bpe_state *st, uint32_t id)
{
    if (!jc_bpe_done(st)) jc_bpe_put(st, (int32_t)id);
}

/* Linear merge loop over sym[0..n): the rank of each adjacent pair cached in rank[]. */
static uint32_t jc_bpe_merge_linear(const jc_bpe *t, uint32_t *sym, uint32_t *rank, uint32_t n)
{
    for (uint32_t i = 0; i + 1 < n; i++) rank[i] = jc_bpe_pair(t, sym[i], sym[i + 1]);
    while (n > 1) {
        uint32_t best = 0, br = rank[0];
        for (uint32_t i = 1; i + 1 < n; i++)
            if (rank[i] < br) { br = rank[i]; best = i; }
        if (br == JC_BPE_NONE) break;
        sym[best] = t->result[br];
        n--;
        for (uint32_t i = best + 1; i < n; i++) {
            sym[i] = sym[i + 1];
            rank[i] = rank[i + 1];
        }
        if (best > 0) rank[best - 1] = jc_bpe_pair(t, sym[best - 1], sym[best]);
        if (best + 1 < n) rank[best] = jc_bpe_pair(t, sym[best], sym[best + 1]);
    }
    return n;
}

static void jc_bpe_heap_push(uint64_t *h, uint32_t *n, uint64_t v)
{
    uint32_t i = (*n)++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t jc_bpe_heap_pop(uint64_t *h, uint32_t *n)
{
    uint64_t top = h[0], v = h[--(*n)];
    uint32_t i = 0, m = *n;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = v;
    return top;
}

/* The crate's order for long pieces: a heap of (rank, position) with lazy deletion; symbols in
 * a linked list (prev in w->rank, next in w->res; JC_BPE_NONE ends it, a merged-away symbol has
 * sym = JC_BPE_NONE). At most n - 1 + 2 pushes per merge: the heap holds < 3n entries. */
static uint32_t jc_bpe_merge_heap(const jc_bpe *t, jc_bpe_work *w, uint32_t n)
{
    uint32_t *sym = w->sym, *prev = w->rank, *next = w->res, hn = 0, r;
    uint64_t *h = w->heap;
    for (uint32_t i = 0; i < n; i++) {
        prev[i] = i ? i - 1 : JC_BPE_NONE;
        next[i] = i + 1 < n ? i + 1 : JC_BPE_NONE;
        if (i + 1 < n && (r = jc_bpe_pair(t, sym[i], sym[i + 1])) != JC_BPE_NONE)
            jc_bpe_heap_push(h, &hn, ((uint64_t)r << 32) | i);
    }
    while (hn) {
        uint64_t top = jc_bpe_heap_pop(h, &hn);
        uint32_t pos = (uint32_t)top, rk = (uint32_t)(top >> 32);
        if (sym[pos] == JC_BPE_NONE || next[pos] == JC_BPE_NONE) continue;
        uint32_t right = next[pos];
        if (jc_bpe_pair(t, sym[pos], sym[right]) != rk) continue; /* stale */
        sym[pos] = t->result[rk];
        sym[right] = JC_BPE_NONE;
        next[pos] = next[right];
        if (next[pos] != JC_BPE_NONE) prev[next[pos]] = pos;
        if (prev[pos] != JC_BPE_NONE &&
            (r = jc_bpe_pair(t, sym[prev[pos]], sym[pos])) != JC_BPE_NONE)
            jc_bpe_heap_push(h, &hn, ((uint64_t)r << 32) | prev[pos]);
        if (next[pos] != JC_BPE_NONE &&
            (r = jc_bpe_pair(t, sym[pos], sym[next[pos]])) != JC_BPE_NONE)
            jc_bpe_heap_push(h, &hn, ((uint64_t)r << 32) | pos);
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (sym[i] != JC_BPE_NONE) sym[k++] = sym[i];
    return k;
}

/* BPE of the current piece, then starts a new one. */
static void jc_bpe_flush_word(jc_bpe_state *st)
{
    uint32_t n = st->wlen;
    st->wlen = 0;
    st->kind = JC_UC_CLIP_S;
    if (n == 0 || jc_bpe_done(st)) return;
    const jc_bpe *t = st->t;
    jc_bpe_work *w = st->w;
    jc_bpe_cached *c = NULL;
    if (n <= JC_BPE_CACHE_BYTES) {
        uint32_t h = 2166136261u;
        for (uint32_t i = 0; i < n; i++) h = (h ^ w->word[i]) * 16777619u;
        c = &w->cache[(h ^ (h >> 15)) & (JC_BPE_CACHE_SLOTS - 1)];
        if (c->len == n && memcmp(c->bytes, w->word, n) == 0) {
            for (uint32_t i = 0; i < c->n_ids; i++) jc_bpe_emit(st, c->ids[i]);
            return;
        }
    }
    for (uint32_t i = 0; i + 1 < n; i++) w->sym[i] = t->sym[0][w->word[i]];
    w->sym[n - 1] = t->sym[1][w->word[n - 1]];
    uint32_t k = n <= JC_BPE_LINEAR_MAX ? jc_bpe_merge_linear(t, w->sym, w->rank, n)
                                        : jc_bpe_merge_heap(t, w, n);
    for (uint32_t i = 0; i < k; i++) jc_bpe_emit(st, w->sym[i]);
    if (c && k <= JC_BPE_CACHE_IDS) {
        c->len = (uint8_t)n;
        c->n_ids = (uint8_t)k;
        memcpy(c->bytes, w->word, n);
        memcpy(c->ids, w->sym, k * sizeof *c->ids);
    }
}

static void jc_bpe_append(jc_bpe_state *st, uint32_t cp)
{
    if (st->wlen + 4 > st->w->cap) {
        /* utf8_put writes at most 4 bytes; a piece this long cannot be tokenized here. */
        char tmp[4];
        size_t k = jc_tok_utf8_put(cp, tmp);
        if (st->wlen + k > st->w->cap) { st->rc = JC_ERR_LIMIT; return; }
        memcpy(st->w->word + st->wlen, tmp, k);
        st->wlen += (uint32_t)k;
        return;
    }
    st->wlen += (uint32_t)jc_tok_utf8_put(cp, (char *)st->w->word + st->wlen);
}

static void jc_bpe_pretok(jc_bpe_state *st, uint32_t cp);

/* Ends the text of a segment: the pending apostrophe is an ordinary piece then. */
static void jc_bpe_pretok_end(jc_bpe_state *st)
{
    if (st->n_apos) {
        unsigned na = st->n_apos;
        st->n_apos = 0;
        jc_bpe_flush_word(st);
        jc_bpe_append(st, '\'');
        jc_bpe_flush_word(st); /* "'" followed by a letter: the O piece ends there */
        if (na == 2) jc_bpe_pretok(st, st->apos[0]);
    }
    jc_bpe_flush_word(st);
}

/* The CLIP split regex on one normalized code point. Matches are leftmost-first alternatives
 * tried at each piece start, so the contractions apply only where a piece starts with "'". */
static void jc_bpe_pretok(jc_bpe_state *st, uint32_t cp)
{
    if (st->n_apos) {
        uint32_t a = st->apos[0];
        if (st->n_apos == 1) {
            if (cp == 's' || cp == 't' || cp == 'm' || cp == 'd') {
                st->n_apos = 0;
                jc_bpe_append(st, '\'');
                jc_bpe_append(st, cp);
                jc_bpe_flush_word(st);
                return;
            }
            if (cp == 'r' || cp == 'v' || cp == 'l') { st->apos[0] = cp; st->n_apos = 2; return; }
            /* No contraction: an O piece starts with the apostrophe. */
            st->n_apos = 0;
            st->kind = JC_UC_CLIP_O;
            jc_bpe_append(st, '\'');
        } else {
            st->n_apos = 0;
            if ((a == 'r' && cp == 'e') || (a == 'v' && cp == 'e') || (a == 'l' && cp == 'l')) {
                jc_bpe_append(st, '\'');
                jc_bpe_append(st, a);
                jc_bpe_append(st, cp);
                jc_bpe_flush_word(st);
                return;
            }
            jc_bpe_append(st, '\'');
            jc_bpe_flush_word(st);
            jc_bpe_pretok(st, a); /* a letter: starts an L piece */
        }
    }
    unsigned cls = jc_bpe_flags(cp) & JC_UC_CLIP_MASK;
    switch (cls) {
    case JC_UC_CLIP_S:
        jc_bpe_flush_word(st);
        break;
    case JC_UC_CLIP_N:
        jc_bpe_flush_word(st);
        jc_bpe_append(st, cp);
        jc_bpe_flush_word(st);
        break;
    case JC_UC_CLIP_L:
        if (st->kind != JC_UC_CLIP_L) { jc_bpe_flush_word(st); st->kind = JC_UC_CLIP_L; }
        jc_bpe_append(st, cp);
        break;
    default:
        if (st->kind != JC_UC_CLIP_O) {
            jc_bpe_flush_word(st);
            if (cp == '\'') { st->n_apos = 1; break; }
            st->kind = JC_UC_CLIP_O;
        }
        jc_bpe_append(st, cp);
        break;
    }
}

/* The normalized added token, matched leftmost on the normalized stream. */
static void jc_bpe_lit(jc_bpe_state *st, uint32_t cp)
{
    const jc_bpe *t = st->t;
    if (!t->lit_norm_len) { jc_bpe_pretok(st, cp); return; }
    /* held = lit_norm[0..lit_m) then cp; retry from each later start on a mismatch */
    uint32_t q[JC_BPE_MAX_SPECIAL_BYTES + 1], nq = 0, head = 0;
    for (uint32_t i = 0; i < st->lit_m; i++) q[nq++] = t->lit_norm[i];
    q[nq++] = cp;
    st->lit_m = 0;
    while (head < nq) {
        /* try to extend a match over q[head..nq) */
        uint32_t m = 0;
        while (head + m < nq && m < t->lit_norm_len && q[head + m] == t->lit_norm[m]) m++;
        if (m == t->lit_norm_len) {
            jc_bpe_pretok_end(st);
            jc_bpe_emit(st, (uint32_t)t->lit_norm_id);
            head += m;
        } else if (head + m == nq) {
            st->lit_m = m; /* a prefix of the literal so far: hold it */
            return;
        } else {
            jc_bpe_pretok(st, q[head++]);
        }
    }
}

static void jc_bpe_lit_end(jc_bpe_state *st)
{
    uint32_t m = st->lit_m;
    st->lit_m = 0;
    for (uint32_t i = 0; i < m; i++) jc_bpe_pretok(st, st->t->lit_norm[i]);
    jc_bpe_pretok_end(st);
}

/* One NFC output code point: lowercase, then on. */
static void jc_bpe_norm_out(jc_bpe_state *st, uint32_t cp)
{
    if (!(jc_bpe_flags(cp) & JC_UC_LOWER)) { jc_bpe_lit(st, cp); return; }
    uint32_t low[JC_TOK_UC_SEQ_MAX];
    size_t n = jc_tok_lower(cp, low);
    for (size_t i = 0; i < n; i++) jc_bpe_lit(st, low[i]);
}

/* Sorts the pending non-starters by combining class (stable) and composes them with the held
 * starter as the crate does: a mark composes unless an uncomposed mark before it has a class
 * >= its own. If one stays uncomposed, the starter is final and everything is emitted. */
static void jc_bpe_nfc_marks(jc_bpe_state *st)
{
    uint32_t n = st->n_marks, *m = st->w->marks;
    st->n_marks = 0;
    if (n > 1) { /* counting sort by class, stable */
        uint32_t cnt[257] = {0}, *o = st->w->marks2;
        for (uint32_t i = 0; i < n; i++) cnt[(m[i] & 255) + 1]++;
        for (int c = 1; c < 257; c++) cnt[c] += cnt[c - 1];
        for (uint32_t i = 0; i < n; i++) o[cnt[m[i] & 255]++] = m[i];
        m = o;
    }
    uint32_t u = 0, last = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = m[i] >> 8, cc = m[i] & 255, r;
        if (st->has_comp && (u == 0 || last < cc) && (jc_bpe_flags(c) & JC_UC_COMP2) &&
            (r = jc_bpe_compose(st->comp, c)) != 0) {
            st->comp = r;
            continue;
        }
        m[u++] = m[i];
        last = cc;
    }
    if (!u) return;
    if (st->has_comp) jc_bpe_norm_out(st, st->comp);
    st->has_comp = 0;
    for (uint32_t i = 0; i < u; i++) jc_bpe_norm_out(st, m[i] >> 8);
}

/* One code point of a canonical decomposition. */
static void jc_bpe_nfc_one(jc_bpe_state *st, uint32_t c, unsigned f)
{
    unsigned cc = (f & JC_UC_CCC) ? jc_bpe_ccc(c) : 0;
    if (cc) {
        if (st->n_marks == st->w->cap) { st->rc = JC_ERR_LIMIT; return; }
        st->w->marks[st->n_marks++] = (c << 8) | cc;
        return;
    }
    if (st->n_marks) jc_bpe_nfc_marks(st);
    uint32_t r;
    if (st->has_comp && (f & JC_UC_COMP2) && (r = jc_bpe_compose(st->comp, c)) != 0) {
        st->comp = r;
        return;
    }
    if (st->has_comp) jc_bpe_norm_out(st, st->comp);
    st->comp = c;
    st->has_comp = 1;
}

static void jc_bpe_nfc(jc_bpe_state *st, uint32_t cp)
{
    unsigned f = jc_bpe_flags(cp);
    if (!(f & JC_UC_DECOMP)) { jc_bpe_nfc_one(st, cp, f); return; }
    uint32_t d[JC_UC_DECOMP_MAX];
    size_t n = jc_bpe_decomp(cp, d);
    for (size_t i = 0; i < n; i++) jc_bpe_nfc_one(st, d[i], jc_bpe_flags(d[i]));
}

/* End of a segment (an added token or the end of the text): flush every stage. */
static void jc_bpe_segment_end(jc_bpe_state *st)
{
    if (st->n_marks) jc_bpe_nfc_marks(st);
    if (st->has_comp) jc_bpe_norm_out(st, st->comp);
    st->has_comp = 0;
    jc_bpe_lit_end(st);
}

/* Length of the longest raw-matched literal at s[0..n), 0 when none; its id in *id. */
static size_t jc_bpe_match_raw(const jc_bpe *t, const uint8_t *s, size_t n, int32_t *id)
{
    size_t best = 0;
    for (int k = 0; k < 2; k++) {
        int32_t sid = k ? t->cfg.eos_id : t->cfg.bos_id;
        if (k ? t->cfg.eos_normalized : t->cfg.bos_normalized) continue;
        const char *e = t->vocab + t->off[sid];
        size_t el = jc_bpe_entry_len(t, (uint32_t)sid);
        if (el > best && el <= n && memcmp(e, s, el) == 0) { best = el; *id = sid; }
    }
    return best;
}

/* Tokenizes text[0..len) (arbitrary bytes) into <|startoftext|> ... <|endoftext|>, truncated to
 * max_tokens (>= 2) ids by keeping the first max_tokens-1 and the end token. Writes at most cap
 * ids; *n_out = the length of the (truncated) result. w: work memory made for t by
 * jc_bpe_work_new, used by one thread at a time. Returns JC_OK, JC_ERR_CAPACITY when cap <
 * *n_out (ids holds the first cap), JC_ERR_LIMIT when a piece before the truncation point is
 * longer than max_word_bytes (*n_out = 0), or JC_ERR_ARG. Never allocates; t is only read. */
static JC_UNUSED int jc_bpe_encode(const jc_bpe *t, jc_bpe_work *w, const char *text, size_t len, size_t max_tokens,
                         int32_t *ids, size_t cap, size_t *n_out)
{
    if (n_out) *n_out = 0;
    if (!t || !w || w->cap != t->cfg.max_word_bytes || !n_out || (!text && len) || (!ids && cap) ||
        max_tokens < 2)
        return JC_ERR_ARG;
    jc_bpe_state st;
    memset(&st, 0, sizeof st);
    st.t = t;
    st.w = w;
    st.ids = ids;
    st.cap = cap;
    st.limit = max_tokens - 1;
    st.kind = JC_UC_CLIP_S;
    const uint8_t *s = (const uint8_t *)text;
    jc_bpe_put(&st, t->cfg.bos_id);
    size_t p = 0;
    while (p < len && !jc_bpe_done(&st)) {
        uint8_t b = s[p];
        if (t->lit_raw_first[b >> 5] & (1u << (b & 31))) {
            int32_t sid = 0;
            size_t m = jc_bpe_match_raw(t, s + p, len - p, &sid);
            if (m) {
                jc_bpe_segment_end(&st);
                jc_bpe_emit(&st, (uint32_t)sid);
                p += m;
                continue;
            }
        }
        uint32_t cp;
        if (b < 0x80) { cp = b; p++; }
        else p += jc_tok_utf8_next(s + p, len - p, &cp);
        jc_bpe_nfc(&st, cp);
    }
    if (!jc_bpe_done(&st)) jc_bpe_segment_end(&st);
    if (st.rc) return st.rc;
    jc_bpe_put(&st, t->cfg.eos_id);
    *n_out = st.n;
    return st.n > cap ? JC_ERR_CAPACITY : JC_OK;
}
