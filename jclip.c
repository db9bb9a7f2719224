/* jclip.c: root of the unity build. Includes every module in dependency order so that
 * developers compile the same single translation unit that users drop into their project,
 * then implements the model file loader, the two towers and the public API (jclip.h).
 *
 * Dimension names used throughout: n_tok (sequence length), d_model, n_head, d_head, d_ff. */
#include "jclip_impl.h"

#include "kernels/kernels.h"
#include "kernels/cpu.c"
#include "kernels/pool.c"
#include "tokenizer/wordpiece.c"
#include "image/inflate.c"
#include "image/png.c"
#include "image/jpeg.c"
#include "image/decode.c"
#include "image/preprocess.c"

#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

/* ============================================================================================
 * Status strings
 * ========================================================================================== */

const char *jclip_strerror(int status)
{
    switch (status) {
    case JCLIP_OK: return "success";
    case JCLIP_ERR_ARG: return "invalid argument";
    case JCLIP_ERR_NOMEM: return "out of memory";
    case JCLIP_ERR_IO: return "input/output error";
    case JCLIP_ERR_FORMAT: return "corrupt or invalid input";
    case JCLIP_ERR_UNSUPPORTED: return "unsupported feature";
    case JCLIP_ERR_LIMIT: return "input exceeds a limit";
    case JCLIP_ERR_TRUNCATED: return "input is truncated";
    case JCLIP_ERR_CAPACITY: return "output buffer too small";
    case JCLIP_ERR_THREAD: return "cannot start a thread";
    default: return "unknown error";
    }
}

/* ============================================================================================
 * .jclip file reader (layout: convert/FORMAT.md). Every field is read byte by byte as
 * little-endian, every offset and size checked against the bytes that are really there.
 * ========================================================================================== */

#define JF_MAGIC "JCLIPWTS"
#define JF_VERSION 1u
#define JF_HEADER_SIZE 128u
#define JF_ALIGN 64u
#define JF_MAX_META 4096u
#define JF_MAX_TENSORS 65536u
#define JF_MAX_DIMS 4u

enum { JF_U64 = 0, JF_F64 = 1, JF_STR = 2, JF_F32A = 3, JF_I32A = 4, JF_BLOB = 5 };

static uint16_t jf_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t jf_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t jf_u64(const uint8_t *p) { return (uint64_t)jf_u32(p) | (uint64_t)jf_u32(p + 4) << 32; }

/* CRC-32 (IEEE, reflected), bytewise; only the small metadata and table are checksummed. */
static uint32_t jf_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* A bounded cursor over a byte range: every read checks the remaining length first. */
typedef struct { const uint8_t *p, *end; } jf_cur;

static int jf_take(jf_cur *c, size_t n, const uint8_t **out)
{
    if ((size_t)(c->end - c->p) < n) return 0;
    *out = c->p;
    c->p += n;
    return 1;
}

typedef struct {
    const char *key; size_t key_len;
    int type;
    uint64_t u;       /* JF_U64 */
    double f;         /* JF_F64 */
    const uint8_t *data; /* STR/F32A/I32A/BLOB payload */
    uint64_t n;       /* bytes (STR/BLOB) or elements (arrays) */
} jf_meta;

typedef struct {
    const char *name; size_t name_len;
    int dtype, ndim;
    uint64_t dims[JF_MAX_DIMS];
    const uint8_t *data;
    uint64_t nbytes;
} jf_tensor;

/* ============================================================================================
 * Model
 * ========================================================================================== */

typedef struct {
    const float *wqkv;   /* [3*d_model, d_model] rows: q (heads), k, v */
    const float *bqkv;   /* [3*d_model] */
    const float *wo;     /* [d_model, d_model] */
    const float *bo;     /* [d_model] */
    const float *ln1_w, *ln1_b; /* [d_model] */
    const float *wg;     /* [2*d_ff, d_model]: rows 0..d_ff-1 gated (GELU), d_ff.. linear */
    const float *w2;     /* [d_model, d_ff] */
    const float *b2;     /* [d_model] */
    const float *ln2_w, *ln2_b; /* [d_model] */
} jc_text_layer;

typedef struct {
    int n_vocab, d_model, n_layer, n_head, d_head, d_ff;
    float eps;
    const float *word_emb; /* [n_vocab, d_model] */
    const float *type_emb; /* [type_vocab, d_model]; row 0 is used */
    const float *ln_w, *ln_b; /* [d_model] */
    jc_text_layer *layers; /* [n_layer] */
    float slopes[64];      /* ALiBi slope per head */
} jc_text;

typedef struct {
    const float *ln1_w, *ln1_b;     /* [d_model] */
    const float *wq, *wk, *wv;      /* [d_model, d_model] each */
    const float *bq, *bv;           /* [d_model] (k has no bias) */
    const float *lnA_w, *lnA_b;     /* inner_attn_ln [d_model] */
    const float *wp, *bp;           /* proj [d_model, d_model], [d_model] */
    const float *ln2_w, *ln2_b;     /* [d_model] */
    const float *w1, *b1;           /* [d_ff, d_model], [d_ff] (SiLU-gated) */
    const float *w2, *b2;           /* [d_ff, d_model], [d_ff] */
    const float *lnF_w, *lnF_b;     /* ffn_ln [d_ff] */
    const float *w3, *b3;           /* [d_model, d_ff], [d_model] */
} jc_vision_layer;

typedef struct {
    int d_model, n_layer, n_head, d_head, d_ff, patch, image, grid, n_tok;
    float eps;
    float rope_theta;
    const float *cls;       /* [d_model] */
    const float *pos;       /* [n_tok, d_model] */
    const float *patch_w;   /* [d_model, 3*patch*patch] (conv weight flattened c,ky,kx) */
    const float *patch_b;   /* [d_model] */
    jc_vision_layer *layers;
    const float *ln_w, *ln_b;
} jc_vision;

struct jclip_model {
    const uint8_t *file; /* the whole .jclip image */
    size_t file_size;
    int mapped;          /* file is an mmap (munmap on free) */
    void *owned;         /* file is a heap copy (free on free) */

    jf_meta *meta; uint32_t n_meta;
    jf_tensor *tensors; uint32_t n_tensors;

    int embed_dim;
    jc_text text;
    jc_vision vision;
    float mean[3], std[3];
    int pre_size;

    tok_wordpiece *tok;
    int32_t special_ids[64];
    int max_length; /* tokenizer's model_max_length (512) */
    int lowercase;  /* tokenizer lowercases (uncased vocabulary) */
    const jk_ops *ops;
    struct jc_packs *packs; /* weights repacked for ops (jc_tower_ready); NULL if ops reads in place */
};

static const jf_meta *jf_find_meta(const jclip_model *m, const char *key)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; i < m->n_meta; i++)
        if (m->meta[i].key_len == n && memcmp(m->meta[i].key, key, n) == 0) return &m->meta[i];
    return NULL;
}

static const jf_tensor *jf_find_tensor(const jclip_model *m, const char *name)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].name_len == n && memcmp(m->tensors[i].name, name, n) == 0)
            return &m->tensors[i];
    return NULL;
}

/* Reads an integer hyperparameter and checks it against [lo, hi]. */
static int jf_meta_int(const jclip_model *m, const char *key, int64_t lo, int64_t hi, int *out,
                       char *err, size_t cap)
{
    const jf_meta *e = jf_find_meta(m, key);
    if (!e) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: missing metadata key %s", key);
    if (e->type != JF_U64) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: metadata %s is not an integer", key);
    if (e->u < (uint64_t)lo || e->u > (uint64_t)hi)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: metadata %s = %llu is out of range [%lld, %lld]",
                       key, (unsigned long long)e->u, (long long)lo, (long long)hi);
    *out = (int)e->u;
    return JCLIP_OK;
}

static int jf_meta_float(const jclip_model *m, const char *key, float lo, float hi, float *out,
                         char *err, size_t cap)
{
    const jf_meta *e = jf_find_meta(m, key);
    if (!e) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: missing metadata key %s", key);
    if (e->type != JF_F64 || !(e->f >= lo && e->f <= hi))
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: metadata %s is not a number in [%g, %g]", key, lo, hi);
    *out = (float)e->f;
    return JCLIP_OK;
}

/* Finds a float32 tensor and checks its shape: dims d0.. (up to 4, trailing zeros ignored). */
static int jf_tensor_f32(const jclip_model *m, const char *name, const float **out, char *err,
                         size_t cap, uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3)
{
    uint64_t want[4] = {d0, d1, d2, d3};
    int nd = d3 ? 4 : d2 ? 3 : d1 ? 2 : 1;
    const jf_tensor *t = jf_find_tensor(m, name);
    if (!t) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: missing tensor %s", name);
    if (t->dtype != 0) return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "tensor %s: dtype %d is not supported (f32 only)", name, t->dtype);
    int same = t->ndim == nd;
    for (int i = 0; same && i < nd; i++) same = t->dims[i] == want[i];
    if (!same) {
        char a[96], b[96];
        size_t la = 0, lb = 0;
        for (int i = 0; i < nd; i++) la += (size_t)snprintf(a + la, sizeof a - la, "%s%llu", i ? "," : "", (unsigned long long)want[i]);
        for (int i = 0; i < t->ndim; i++) lb += (size_t)snprintf(b + lb, sizeof b - lb, "%s%llu", i ? "," : "", (unsigned long long)t->dims[i]);
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %s: expected [%s], got [%s]", name, a, b);
    }
    *out = (const float *)(const void *)t->data;
    return JCLIP_OK;
}

/* Parses header, metadata and tensor table; validates every offset and size. */
static int jf_parse(jclip_model *m, char *err, size_t cap)
{
    const uint8_t *f = m->file;
    size_t size = m->file_size;
    if (size < JF_HEADER_SIZE || memcmp(f, JF_MAGIC, 8) != 0)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "not a .jclip model file (bad magic); make one with "
                       "python3 convert/convert.py HF_DIR -o MODEL.jclip");
    uint32_t version = jf_u32(f + 8);
    if (version != JF_VERSION)
        return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "model file version %u is not supported (this jclip reads version %u)",
                       version, JF_VERSION);
    uint64_t fsize = jf_u64(f + 16), meta_off = jf_u64(f + 24), meta_size = jf_u64(f + 32);
    uint64_t tab_off = jf_u64(f + 40), tab_size = jf_u64(f + 48), data_off = jf_u64(f + 56);
    uint32_t crc = jf_u32(f + 64);
    if (fsize != size)
        return jc_fail(err, cap, size < fsize ? JCLIP_ERR_TRUNCATED : JCLIP_ERR_FORMAT,
                       "model file is %s: header says %llu bytes, file has %zu",
                       size < fsize ? "truncated" : "corrupt", (unsigned long long)fsize, size);
    if (meta_off < JF_HEADER_SIZE || meta_off > size || meta_size > size - meta_off ||
        tab_off != meta_off + meta_size || tab_size > size - tab_off || data_off % JF_ALIGN ||
        data_off < tab_off + tab_size || data_off > size)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: section offsets out of range");
    if (jf_crc32(f + meta_off, (size_t)(meta_size + tab_size)) != crc)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: metadata checksum mismatch");

    /* metadata */
    jf_cur c = {f + meta_off, f + meta_off + meta_size};
    const uint8_t *p;
    if (!jf_take(&c, 4, &p)) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: metadata truncated");
    uint32_t n_meta = jf_u32(p);
    if (n_meta > JF_MAX_META) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: %u metadata entries", n_meta);
    m->meta = (jf_meta *)JCLIP_MALLOC(sizeof(jf_meta) * (n_meta ? n_meta : 1));
    if (!m->meta) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory reading model metadata");
    memset(m->meta, 0, sizeof(jf_meta) * (n_meta ? n_meta : 1));
    for (uint32_t i = 0; i < n_meta; i++) {
        jf_meta *e = &m->meta[i];
        if (!jf_take(&c, 2, &p)) goto trunc_meta;
        e->key_len = jf_u16(p);
        if (!jf_take(&c, e->key_len, &p)) goto trunc_meta;
        e->key = (const char *)p;
        if (!jf_take(&c, 1, &p)) goto trunc_meta;
        e->type = p[0];
        switch (e->type) {
        case JF_U64: if (!jf_take(&c, 8, &p)) goto trunc_meta; e->u = jf_u64(p); break;
        case JF_F64: {
            if (!jf_take(&c, 8, &p)) goto trunc_meta;
            uint64_t bits = jf_u64(p);
            memcpy(&e->f, &bits, 8);
            break;
        }
        case JF_STR: case JF_F32A: case JF_I32A: {
            if (!jf_take(&c, 4, &p)) goto trunc_meta;
            e->n = jf_u32(p);
            size_t bytes;
            if (!jc_mul((size_t)e->n, e->type == JF_STR ? 1 : 4, &bytes) || !jf_take(&c, bytes, &e->data)) goto trunc_meta;
            break;
        }
        case JF_BLOB:
            if (!jf_take(&c, 8, &p)) goto trunc_meta;
            e->n = jf_u64(p);
            if (e->n > (uint64_t)(c.end - c.p) || !jf_take(&c, (size_t)e->n, &e->data)) goto trunc_meta;
            break;
        default:
            return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: metadata %.*s has unknown type %d",
                           (int)e->key_len, e->key, e->type);
        }
        m->n_meta = i + 1;
    }

    /* tensor table */
    c.p = f + tab_off;
    c.end = f + tab_off + tab_size;
    if (!jf_take(&c, 4, &p)) goto trunc_tab;
    uint32_t n_t = jf_u32(p);
    if (n_t > JF_MAX_TENSORS) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: %u tensors", n_t);
    m->tensors = (jf_tensor *)JCLIP_MALLOC(sizeof(jf_tensor) * (n_t ? n_t : 1));
    if (!m->tensors) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory reading the tensor table");
    uint64_t data_size = size - data_off;
    for (uint32_t i = 0; i < n_t; i++) {
        jf_tensor *t = &m->tensors[i];
        memset(t, 0, sizeof *t);
        if (!jf_take(&c, 2, &p)) goto trunc_tab;
        t->name_len = jf_u16(p);
        if (!jf_take(&c, t->name_len, &p)) goto trunc_tab;
        t->name = (const char *)p;
        if (!jf_take(&c, 2, &p)) goto trunc_tab;
        t->dtype = p[0];
        t->ndim = p[1];
        if (t->ndim < 1 || t->ndim > (int)JF_MAX_DIMS)
            return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %.*s: %d dimensions", (int)t->name_len, t->name, t->ndim);
        size_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (!jf_take(&c, 8, &p)) goto trunc_tab;
            t->dims[d] = jf_u64(p);
            if (t->dims[d] > SIZE_MAX || !jc_mul(count, (size_t)t->dims[d], &count))
                return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %.*s: shape overflows", (int)t->name_len, t->name);
        }
        if (!jf_take(&c, 16, &p)) goto trunc_tab;
        uint64_t off = jf_u64(p);
        t->nbytes = jf_u64(p + 8);
        size_t want;
        if (t->dtype != 0) return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "tensor %.*s: dtype %d is not supported (f32 only)",
                                          (int)t->name_len, t->name, t->dtype);
        if (!jc_mul(count, 4, &want) || want != t->nbytes)
            return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %.*s: byte size %llu does not match its shape",
                           (int)t->name_len, t->name, (unsigned long long)t->nbytes);
        if (off % JF_ALIGN || off > data_size || t->nbytes > data_size - off)
            return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %.*s: data [%llu, +%llu) lies outside the file",
                           (int)t->name_len, t->name, (unsigned long long)off, (unsigned long long)t->nbytes);
        t->data = f + data_off + off;
        m->n_tensors = i + 1;
    }
    return JCLIP_OK;
trunc_meta:
    return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: metadata entry %u overruns its section", m->n_meta);
trunc_tab:
    return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: tensor table entry %u overruns its section", m->n_tensors);
}

/* ALiBi slopes (ofirpress get_alibi_slopes): geometric for a power of two, else the closest
 * power of two plus every other slope of twice that. */
static void jc_alibi_slopes(int n, float *out)
{
    int c = 1;
    while (c * 2 <= n) c *= 2;
    for (int k = 0; k < c; k++) {
        double start = pow(2.0, -pow(2.0, -(log2((double)c) - 3.0)));
        out[k] = (float)pow(start, k + 1);
    }
    for (int k = 0; k < n - c; k++) {
        double start = pow(2.0, -pow(2.0, -(log2((double)(2 * c)) - 3.0)));
        out[c + k] = (float)pow(start, 2 * k + 1);
    }
}

#define JC_CHECK(x) do { int rc_ = (x); if (rc_) return rc_; } while (0)

/* Reads hyperparameters, binds every tensor with its expected shape, builds the tokenizer. */
static int jc_bind(jclip_model *m, char *err, size_t cap)
{
    const jf_meta *arch = jf_find_meta(m, "general.architecture");
    if (!arch || arch->type != JF_STR || arch->n != 12 || memcmp(arch->data, "jina-clip-v1", 12) != 0)
        return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "model file: architecture is not jina-clip-v1");
    jc_text *T = &m->text;
    jc_vision *V = &m->vision;
    JC_CHECK(jf_meta_int(m, "general.embed_dim", 1, 65536, &m->embed_dim, err, cap));
    JC_CHECK(jf_meta_int(m, "text.vocab_size", 1, 1 << 24, &T->n_vocab, err, cap));
    JC_CHECK(jf_meta_int(m, "text.d_model", 1, 65536, &T->d_model, err, cap));
    JC_CHECK(jf_meta_int(m, "text.n_layer", 1, 1024, &T->n_layer, err, cap));
    JC_CHECK(jf_meta_int(m, "text.n_head", 1, 64, &T->n_head, err, cap));
    JC_CHECK(jf_meta_int(m, "text.d_ff", 1, 1 << 20, &T->d_ff, err, cap));
    JC_CHECK(jf_meta_float(m, "text.ln_eps", 0.0f, 1.0f, &T->eps, err, cap));
    int type_vocab;
    JC_CHECK(jf_meta_int(m, "text.type_vocab_size", 1, 1024, &type_vocab, err, cap));
    if (T->d_model % T->n_head) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: text d_model %d is not a multiple of n_head %d", T->d_model, T->n_head);
    T->d_head = T->d_model / T->n_head;
    JC_CHECK(jf_meta_int(m, "vision.d_model", 1, 65536, &V->d_model, err, cap));
    JC_CHECK(jf_meta_int(m, "vision.n_layer", 1, 1024, &V->n_layer, err, cap));
    JC_CHECK(jf_meta_int(m, "vision.n_head", 1, 256, &V->n_head, err, cap));
    JC_CHECK(jf_meta_int(m, "vision.d_ff", 1, 1 << 20, &V->d_ff, err, cap));
    JC_CHECK(jf_meta_int(m, "vision.patch_size", 1, 256, &V->patch, err, cap));
    JC_CHECK(jf_meta_int(m, "vision.image_size", 1, 4096, &V->image, err, cap));
    JC_CHECK(jf_meta_float(m, "vision.ln_eps", 0.0f, 1.0f, &V->eps, err, cap));
    JC_CHECK(jf_meta_float(m, "vision.rope_theta", 1.0f, 1e9f, &V->rope_theta, err, cap));
    JC_CHECK(jf_meta_int(m, "preprocess.size", 1, 4096, &m->pre_size, err, cap));
    if (V->d_model % V->n_head || (V->d_model / V->n_head) % 4)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: vision head width must be a multiple of 4");
    V->d_head = V->d_model / V->n_head;
    if (V->image % V->patch) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: image size is not a multiple of the patch size");
    V->grid = V->image / V->patch;
    V->n_tok = V->grid * V->grid + 1;
    if (m->embed_dim != T->d_model || m->embed_dim != V->d_model || m->pre_size != V->image)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: embed_dim, tower widths and image size disagree");
    const char *stats[2] = {"preprocess.mean", "preprocess.std"};
    float *dst[2] = {m->mean, m->std};
    for (int s = 0; s < 2; s++) {
        const jf_meta *e = jf_find_meta(m, stats[s]);
        if (!e || e->type != JF_F32A || e->n != 3) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: %s must hold 3 floats", stats[s]);
        for (int i = 0; i < 3; i++) {
            uint32_t b = jf_u32(e->data + 4 * i);
            memcpy(&dst[s][i], &b, 4);
        }
        if (s == 1 && !(m->std[0] > 0 && m->std[1] > 0 && m->std[2] > 0)) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: preprocess.std must be positive");
    }
    jc_alibi_slopes(T->n_head, T->slopes);
    /* image/preprocess.c reproduces the reference pipeline bit for bit for jina-clip-v1's
     * constants (224 px, OpenAI CLIP mean/std), which every jina-clip-v1 checkpoint uses. */
    static const float clip_mean[3] = {(float)0.48145466, (float)0.4578275, (float)0.40821073};
    static const float clip_std[3] = {(float)0.26862954, (float)0.26130258, (float)0.27577711};
    if (m->pre_size != PRE_SIZE || memcmp(m->mean, clip_mean, sizeof clip_mean) || memcmp(m->std, clip_std, sizeof clip_std))
        return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "model file: only 224-pixel inputs with the OpenAI CLIP mean/std are supported");

    /* text tensors */
    size_t D = (size_t)T->d_model, F = (size_t)T->d_ff;
    const char *tp = "text_model.transformer.";
    char name[160];
#define JC_T(field, suffix, a, b) \
    (snprintf(name, sizeof name, "%s%s", tp, suffix), jf_tensor_f32(m, name, &(field), err, cap, a, b, 0, 0))
    JC_CHECK(JC_T(T->word_emb, "embeddings.word_embeddings.weight", (uint64_t)T->n_vocab, D));
    JC_CHECK(JC_T(T->type_emb, "embeddings.token_type_embeddings.weight", (uint64_t)type_vocab, D));
    JC_CHECK(JC_T(T->ln_w, "emb_ln.weight", D, 0));
    JC_CHECK(JC_T(T->ln_b, "emb_ln.bias", D, 0));
#undef JC_T
    T->layers = (jc_text_layer *)JCLIP_MALLOC(sizeof(jc_text_layer) * (size_t)T->n_layer);
    if (!T->layers) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    for (int l = 0; l < T->n_layer; l++) {
        jc_text_layer *L = &T->layers[l];
#define JC_L(field, suffix, a, b) \
    (snprintf(name, sizeof name, "%sencoder.layers.%d.%s", tp, l, suffix), jf_tensor_f32(m, name, &(L->field), err, cap, a, b, 0, 0))
        JC_CHECK(JC_L(wqkv, "mixer.Wqkv.weight", 3 * D, D));
        JC_CHECK(JC_L(bqkv, "mixer.Wqkv.bias", 3 * D, 0));
        JC_CHECK(JC_L(wo, "mixer.out_proj.weight", D, D));
        JC_CHECK(JC_L(bo, "mixer.out_proj.bias", D, 0));
        JC_CHECK(JC_L(ln1_w, "norm1.weight", D, 0));
        JC_CHECK(JC_L(ln1_b, "norm1.bias", D, 0));
        JC_CHECK(JC_L(wg, "mlp.gated_layers.weight", 2 * F, D));
        JC_CHECK(JC_L(w2, "mlp.wo.weight", D, F));
        JC_CHECK(JC_L(b2, "mlp.wo.bias", D, 0));
        JC_CHECK(JC_L(ln2_w, "norm2.weight", D, 0));
        JC_CHECK(JC_L(ln2_b, "norm2.bias", D, 0));
#undef JC_L
    }

    /* vision tensors */
    size_t W = (size_t)V->d_model, VF = (size_t)V->d_ff, P = (size_t)V->patch;
    const char *vp = "vision_model.";
#define JC_V(field, suffix, a, b, c, d) \
    (snprintf(name, sizeof name, "%s%s", vp, suffix), jf_tensor_f32(m, name, &(field), err, cap, a, b, c, d))
    JC_CHECK(JC_V(V->cls, "cls_token", 1, 1, W, 0));
    JC_CHECK(JC_V(V->pos, "pos_embed", 1, (uint64_t)V->n_tok, W, 0));
    JC_CHECK(JC_V(V->patch_w, "patch_embed.proj.weight", W, 3, P, P));
    JC_CHECK(JC_V(V->patch_b, "patch_embed.proj.bias", W, 0, 0, 0));
    JC_CHECK(JC_V(V->ln_w, "norm.weight", W, 0, 0, 0));
    JC_CHECK(JC_V(V->ln_b, "norm.bias", W, 0, 0, 0));
#undef JC_V
    V->layers = (jc_vision_layer *)JCLIP_MALLOC(sizeof(jc_vision_layer) * (size_t)V->n_layer);
    if (!V->layers) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    for (int l = 0; l < V->n_layer; l++) {
        jc_vision_layer *L = &V->layers[l];
#define JC_B(field, suffix, a, b) \
    (snprintf(name, sizeof name, "%sblocks.%d.%s", vp, l, suffix), jf_tensor_f32(m, name, &(L->field), err, cap, a, b, 0, 0))
        JC_CHECK(JC_B(ln1_w, "norm1.weight", W, 0));
        JC_CHECK(JC_B(ln1_b, "norm1.bias", W, 0));
        JC_CHECK(JC_B(wq, "attn.q_proj.weight", W, W));
        JC_CHECK(JC_B(bq, "attn.q_bias", W, 0));
        JC_CHECK(JC_B(wk, "attn.k_proj.weight", W, W));
        JC_CHECK(JC_B(wv, "attn.v_proj.weight", W, W));
        JC_CHECK(JC_B(bv, "attn.v_bias", W, 0));
        JC_CHECK(JC_B(lnA_w, "attn.inner_attn_ln.weight", W, 0));
        JC_CHECK(JC_B(lnA_b, "attn.inner_attn_ln.bias", W, 0));
        JC_CHECK(JC_B(wp, "attn.proj.weight", W, W));
        JC_CHECK(JC_B(bp, "attn.proj.bias", W, 0));
        JC_CHECK(JC_B(ln2_w, "norm2.weight", W, 0));
        JC_CHECK(JC_B(ln2_b, "norm2.bias", W, 0));
        JC_CHECK(JC_B(w1, "mlp.w1.weight", VF, W));
        JC_CHECK(JC_B(b1, "mlp.w1.bias", VF, 0));
        JC_CHECK(JC_B(w2, "mlp.w2.weight", VF, W));
        JC_CHECK(JC_B(b2, "mlp.w2.bias", VF, 0));
        JC_CHECK(JC_B(lnF_w, "mlp.ffn_ln.weight", VF, 0));
        JC_CHECK(JC_B(lnF_b, "mlp.ffn_ln.bias", VF, 0));
        JC_CHECK(JC_B(w3, "mlp.w3.weight", W, VF));
        JC_CHECK(JC_B(b3, "mlp.w3.bias", W, 0));
#undef JC_B
    }

    /* tokenizer */
    const jf_meta *tt = jf_find_meta(m, "tokenizer.type");
    if (!tt || tt->type != JF_STR || tt->n != 9 || memcmp(tt->data, "wordpiece", 9) != 0)
        return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "model file: tokenizer type is not wordpiece");
    int n_vocab, iv;
    tok_wordpiece_config tc;
    memset(&tc, 0, sizeof tc);
    JC_CHECK(jf_meta_int(m, "tokenizer.n_vocab", 1, T->n_vocab, &n_vocab, err, cap));
    JC_CHECK(jf_meta_int(m, "tokenizer.unk_id", 0, n_vocab - 1, &iv, err, cap)); tc.unk_id = iv;
    JC_CHECK(jf_meta_int(m, "tokenizer.cls_id", 0, n_vocab - 1, &iv, err, cap)); tc.cls_id = iv;
    JC_CHECK(jf_meta_int(m, "tokenizer.sep_id", 0, n_vocab - 1, &iv, err, cap)); tc.sep_id = iv;
    JC_CHECK(jf_meta_int(m, "tokenizer.pad_id", 0, n_vocab - 1, &iv, err, cap)); tc.pad_id = iv;
    JC_CHECK(jf_meta_int(m, "tokenizer.lowercase", 0, 1, &tc.lowercase, err, cap));
    m->lowercase = tc.lowercase;
    JC_CHECK(jf_meta_int(m, "tokenizer.strip_accents", 0, 1, &tc.strip_accents, err, cap));
    JC_CHECK(jf_meta_int(m, "tokenizer.tokenize_chinese", 0, 1, &tc.tokenize_chinese, err, cap));
    JC_CHECK(jf_meta_int(m, "tokenizer.clean_text", 0, 1, &tc.clean_text, err, cap));
    JC_CHECK(jf_meta_int(m, "tokenizer.max_word_chars", 1, 1 << 16, &iv, err, cap)); tc.max_word_chars = (uint32_t)iv;
    JC_CHECK(jf_meta_int(m, "tokenizer.max_length", 2, 1 << 20, &m->max_length, err, cap));
    const jf_meta *sp = jf_find_meta(m, "tokenizer.special_ids");
    if (!sp || sp->type != JF_I32A || sp->n > 64) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: tokenizer.special_ids missing or too long");
    for (uint64_t i = 0; i < sp->n; i++) {
        m->special_ids[i] = (int32_t)jf_u32(sp->data + 4 * i);
        if (m->special_ids[i] < 0 || m->special_ids[i] >= n_vocab) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: special token id out of range");
    }
    tc.special_ids = m->special_ids;
    tc.n_special = (size_t)sp->n;
    const jf_meta *vb = jf_find_meta(m, "tokenizer.vocab");
    if (!vb || vb->type != JF_BLOB) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: missing tokenizer.vocab");
    return tok_wp_create((const char *)vb->data, (size_t)vb->n, (uint32_t)n_vocab, &tc, &m->tok, err, cap);
}

/* The kernel table: the best this CPU supports, or the one JCLIP_ISA names. */
static const jk_ops *jc_select_ops(char *err, size_t cap, int *rc)
{
    const jk_ops *have[8];
    int n = jk_cpu_tables(have, 8);
    const char *want = getenv("JCLIP_ISA");
    *rc = JCLIP_OK;
    if (!want || !*want) return have[0];
    char list[64] = "";
    for (int i = 0; i < n; i++) {
        if (strcmp(want, have[i]->name) == 0) return have[i];
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", have[i]->name);
    }
    *rc = jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "JCLIP_ISA=%s is not available on this CPU (it has: %s)", want, list);
    return NULL;
}

/* ============================================================================================
 * Packed weights: kernel tables with ops->pack (AVX-512) multiply inputs of more than
 * JC_PACK_MIN_ROWS rows from a copy of every linear weight in their own panel layout, which
 * saves the per-call packing (7-16% of a forward pass). The results are bitwise those of the
 * in-place path, so when a tower gets packed never shows in its outputs. A tower is packed at
 * the start of its second such forward pass: a one-shot `jclip image` does not pay for it, a
 * server does once, while passes on other contexts go on in place. The copies stand in for
 * the mapped originals, whose pages are handed back as they are packed (the file stays
 * mapped), so memory use stays about the same. Shorter inputs (short texts, memory bound)
 * keep reading the originals in place.
 * ========================================================================================== */

#define JC_PACK_MIN_ROWS 8

typedef struct { const float *src; float *packed; int N, K; } jc_pack_ent;

enum { JC_TOWER_TEXT, JC_TOWER_VISION };

typedef struct jc_packs {
#ifndef JCLIP_NO_THREADS
    atomic_int state[2]; /* per tower: 0 not (yet) packed, 1 packed, 2 being packed, -1 never */
    atomic_int uses[2];  /* forward passes that asked for the packed weights */
#else
    int state[2], uses[2];
#endif
    void *block[2];      /* allocation holding a tower's packed weights */
    jc_pack_ent *ent[2]; /* sorted by src */
    int n_ent[2];
} jc_packs;

static void jc_packs_free(jc_packs *p)
{
    if (!p) return;
    for (int t = 0; t < 2; t++) {
        JCLIP_FREE(p->block[t]);
        JCLIP_FREE(p->ent[t]);
    }
    JCLIP_FREE(p);
}

static int jc_packs_new(jclip_model *m, char *err, size_t cap)
{
    if (!m->ops->pack) return JCLIP_OK;
    jc_packs *p = (jc_packs *)JCLIP_MALLOC(sizeof *p);
    if (!p) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory");
    memset(p, 0, sizeof *p);
#ifndef JCLIP_NO_THREADS
    for (int t = 0; t < 2; t++) {
        atomic_init(&p->state[t], 0);
        atomic_init(&p->uses[t], 0);
    }
#endif
    m->packs = p;
    return JCLIP_OK;
}

/* The packed copy of W as an [N, K] weight, or NULL when W is read in place. A hostile file
 * can point two tensors of different shapes at the same bytes, so the shape must match too. */
static const float *jc_packed(const jclip_model *m, int tower, const float *W, int N, int K)
{
    jc_packs *p = m->packs;
#ifndef JCLIP_NO_THREADS
    if (!p || atomic_load_explicit(&p->state[tower], memory_order_acquire) != 1) return NULL;
#else
    if (!p || p->state[tower] != 1) return NULL;
#endif
    int lo = 0, hi = p->n_ent[tower];
    const jc_pack_ent *e = p->ent[tower];
    while (lo < hi) { /* first entry with src >= W */
        int mid = (lo + hi) / 2;
        if ((uintptr_t)e[mid].src < (uintptr_t)W) lo = mid + 1; else hi = mid;
    }
    for (; lo < p->n_ent[tower] && e[lo].src == W; lo++)
        if (e[lo].N == N && e[lo].K == K) return e[lo].packed;
    return NULL;
}

static int jc_pack_ent_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const jc_pack_ent *)a)->src, y = (uintptr_t)((const jc_pack_ent *)b)->src;
    return x < y ? -1 : x > y;
}

/* The linear weights of a tower: fills e (if not NULL) and returns how many. */
static int jc_tower_weights(const jclip_model *m, int tower, jc_pack_ent *e)
{
    int n = 0;
#define JC_W(w, rows, cols) do { if (e) { e[n].src = (w); e[n].packed = NULL; e[n].N = (rows); e[n].K = (cols); } n++; } while (0)
    if (tower == JC_TOWER_TEXT) {
        const jc_text *T = &m->text;
        for (int l = 0; l < T->n_layer; l++) {
            const jc_text_layer *L = &T->layers[l];
            JC_W(L->wqkv, 3 * T->d_model, T->d_model);
            JC_W(L->wo, T->d_model, T->d_model);
            JC_W(L->wg, 2 * T->d_ff, T->d_model);
            JC_W(L->w2, T->d_model, T->d_ff);
        }
    } else {
        const jc_vision *V = &m->vision;
        JC_W(V->patch_w, V->d_model, 3 * V->patch * V->patch);
        for (int l = 0; l < V->n_layer; l++) {
            const jc_vision_layer *L = &V->layers[l];
            JC_W(L->wq, V->d_model, V->d_model);
            JC_W(L->wk, V->d_model, V->d_model);
            JC_W(L->wv, V->d_model, V->d_model);
            JC_W(L->wp, V->d_model, V->d_model);
            JC_W(L->w1, V->d_ff, V->d_model);
            JC_W(L->w2, V->d_ff, V->d_model);
            JC_W(L->w3, V->d_model, V->d_ff);
        }
    }
#undef JC_W
    return n;
}

typedef struct {
    const jk_ops *ops;
    jc_pack_ent *ent;
    int n_ent;
    int mapped; /* the weights are a file mapping whose pages can be handed back */
    jk_claim claim;
} jc_pack_task;

/* Hands back the whole pages of [p, p + n floats) of a read-only file mapping (a later read
 * faults them in again from the page cache). */
static void jc_drop_pages(const float *p, size_t n)
{
#if !defined(_WIN32) && defined(MADV_DONTNEED)
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t b = ((uintptr_t)p + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg;
    uintptr_t e = (uintptr_t)(p + n) / (uintptr_t)pg * (uintptr_t)pg;
    if (e > b) madvise((void *)b, e - b, MADV_DONTNEED);
#else
    (void)p, (void)n;
#endif
}

/* Work items: runs of up to 4 slivers within one weight; each hands back the rows it read. */
static void jc_pack_run(void *arg, int t, int nt)
{
    jc_pack_task *a = (jc_pack_task *)arg;
    (void)t, (void)nt;
    const int per = 4, g = a->ops->n_grain;
    int e = 0, base = 0; /* items before weight e */
    for (int c; (c = jk_claim_next(&a->claim)) >= 0;) {
        while (e < a->n_ent && c >= base + (a->ent[e].N + g * per - 1) / (g * per))
            base += (a->ent[e].N + g * per - 1) / (g * per), e++;
        if (e == a->n_ent) return;
        const jc_pack_ent *w = &a->ent[e];
        int s0 = (c - base) * per, s1 = s0 + per, ns = (w->N + g - 1) / g;
        if (s1 > ns) s1 = ns;
        a->ops->pack(w->packed, w->src, w->N, w->K, s0, s1);
        int r1 = s1 * g < w->N ? s1 * g : w->N;
        if (a->mapped) jc_drop_pages(w->src + (size_t)s0 * g * w->K, (size_t)(r1 - s0 * g) * w->K);
    }
}

/* Packs a tower's weights. Returns 1; 0 when memory is short (the weights stay in place and a
 * later pass tries again); -1 to leave them in place for good (a packed form much larger than
 * the weights, which only a degenerate or hostile model asks for). */
static int jc_pack_tower(const jclip_model *m, jk_pool *pool, jc_packs *p, int tower)
{
    const jk_ops *ops = m->ops;
    int n = jc_tower_weights(m, tower, NULL);
    if (n <= 0) return -1;
    jc_pack_ent *ent = (jc_pack_ent *)JCLIP_MALLOC(sizeof *ent * (size_t)n);
    if (!ent) return 0;
    jc_tower_weights(m, tower, ent);
    size_t total = 0, src = 0;
    for (int i = 0; i < n; i++) {
        total += (ops->pack_size(ent[i].N, ent[i].K) + 15) / 16 * 16;
        src += (size_t)ent[i].N * (size_t)ent[i].K;
    }
    if (total > 2 * src + ((size_t)1 << 20) || total >= SIZE_MAX / 4 - 64) {
        JCLIP_FREE(ent);
        return -1;
    }
    void *block = JCLIP_MALLOC(total * 4 + 64);
    if (!block) {
        JCLIP_FREE(ent);
        return 0;
    }
    float *dst = (float *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    for (int i = 0; i < n; i++) {
        ent[i].packed = dst;
        dst += (ops->pack_size(ent[i].N, ent[i].K) + 15) / 16 * 16;
    }
    jc_pack_task a;
    a.ops = ops; a.ent = ent; a.n_ent = n; a.mapped = m->mapped;
    jk_claim_init(&a.claim);
    jk_pool_run(pool, jc_pack_run, &a);
    qsort(ent, (size_t)n, sizeof *ent, jc_pack_ent_cmp);
    p->block[tower] = block;
    p->ent[tower] = ent;
    p->n_ent[tower] = n;
    return 1;
}

/* Called at the start of every forward pass of a tower that will multiply more than
 * JC_PACK_MIN_ROWS rows (pool: the caller's threads). One caller wins the right to pack;
 * passes that start meanwhile on other contexts read the weights in place (same results), so
 * nobody waits. */
static void jc_tower_ready(const jclip_model *m, jk_pool *pool, int tower)
{
    jc_packs *p = m->packs;
    if (!p) return;
#ifndef JCLIP_NO_THREADS
    if (atomic_load_explicit(&p->state[tower], memory_order_acquire)) return;
    if (atomic_fetch_add_explicit(&p->uses[tower], 1, memory_order_relaxed) < 1) return;
    int idle = 0;
    if (!atomic_compare_exchange_strong_explicit(&p->state[tower], &idle, 2, memory_order_acquire, memory_order_relaxed))
        return;
    atomic_store_explicit(&p->state[tower], jc_pack_tower(m, pool, p, tower), memory_order_release);
#else
    if (!p->state[tower] && p->uses[tower]++ >= 1) p->state[tower] = jc_pack_tower(m, pool, p, tower);
#endif
}

void jclip_model_free(jclip_model *m)
{
    if (!m) return;
    jc_packs_free(m->packs);
    tok_wp_free(m->tok);
    JCLIP_FREE(m->text.layers);
    JCLIP_FREE(m->vision.layers);
    JCLIP_FREE(m->meta);
    JCLIP_FREE(m->tensors);
#if !defined(_WIN32)
    if (m->mapped) munmap((void *)(uintptr_t)m->file, m->file_size);
#endif
    JCLIP_FREE(m->owned);
    JCLIP_FREE(m);
}

static int jc_model_finish(jclip_model *m, jclip_model **out, char *err, size_t cap)
{
    int rc = jf_parse(m, err, cap);
    if (!rc) rc = jc_bind(m, err, cap);
    if (!rc) {
        m->ops = jc_select_ops(err, cap, &rc);
    }
    if (!rc) rc = jc_packs_new(m, err, cap);
    if (rc) {
        jclip_model_free(m);
        return rc;
    }
    *out = m;
    return JCLIP_OK;
}

static jclip_model *jc_model_new(void)
{
    jclip_model *m = (jclip_model *)JCLIP_MALLOC(sizeof *m);
    if (m) memset(m, 0, sizeof *m);
    return m;
}

static int jc_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

int jclip_model_load_memory(const void *data, size_t size, jclip_model **out, char *err, size_t errcap)
{
    if (!out) return jc_fail(err, errcap, JCLIP_ERR_ARG, "out is NULL");
    *out = NULL;
    if (!data && size) return jc_fail(err, errcap, JCLIP_ERR_ARG, "data is NULL");
    if (!jc_little_endian()) return jc_fail(err, errcap, JCLIP_ERR_UNSUPPORTED, "big-endian hosts are not supported");
    jclip_model *m = jc_model_new();
    if (!m) return jc_fail(err, errcap, JCLIP_ERR_NOMEM, "out of memory");
    if (((uintptr_t)data % JF_ALIGN) == 0) {
        m->file = (const uint8_t *)data;
    } else {
        /* Tensors must be float-aligned: copy into an aligned block. */
        size_t alloc;
        if (!jc_add(size, JF_ALIGN, &alloc) || !(m->owned = JCLIP_MALLOC(alloc))) {
            JCLIP_FREE(m);
            return jc_fail(err, errcap, JCLIP_ERR_NOMEM, "out of memory copying a %zu-byte model", size);
        }
        uint8_t *a = (uint8_t *)m->owned;
        a += (JF_ALIGN - (uintptr_t)a % JF_ALIGN) % JF_ALIGN;
        memcpy(a, data, size);
        m->file = a;
    }
    m->file_size = size;
    return jc_model_finish(m, out, err, errcap);
}

int jclip_model_load(const char *path, jclip_model **out, char *err, size_t errcap)
{
    if (!out || !path) return jc_fail(err, errcap, JCLIP_ERR_ARG, "path or out is NULL");
    *out = NULL;
    if (!jc_little_endian()) return jc_fail(err, errcap, JCLIP_ERR_UNSUPPORTED, "big-endian hosts are not supported");
#if !defined(_WIN32)
    int fd = open(path, O_RDONLY);
    if (fd < 0) return jc_fail(err, errcap, JCLIP_ERR_IO, "cannot open model %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return jc_fail(err, errcap, JCLIP_ERR_IO, "model %s is not a regular file", path);
    }
    if (st.st_size < (off_t)JF_HEADER_SIZE) {
        close(fd);
        return jc_fail(err, errcap, JCLIP_ERR_FORMAT, "model %s is not a .jclip file (only %lld bytes)", path, (long long)st.st_size);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return jc_fail(err, errcap, JCLIP_ERR_LIMIT, "model %s is too large for this platform", path);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return jc_fail(err, errcap, JCLIP_ERR_IO, "cannot map model %s: %s", path, strerror(errno));
    jclip_model *m = jc_model_new();
    if (!m) {
        munmap(map, (size_t)st.st_size);
        return jc_fail(err, errcap, JCLIP_ERR_NOMEM, "out of memory");
    }
    m->file = (const uint8_t *)map;
    m->file_size = (size_t)st.st_size;
    m->mapped = 1;
    int rc = jc_model_finish(m, out, err, errcap);
    if (rc && err && errcap) {
        /* prefix the path so the message says which file is wrong */
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s: %s", path, err);
        snprintf(err, errcap, "%s", tmp);
    }
    return rc;
#else
    (void)path;
    return jc_fail(err, errcap, JCLIP_ERR_UNSUPPORTED, "file loading needs POSIX mmap; use jclip_model_load_memory");
#endif
}

int jclip_embed_dim(const jclip_model *m) { return m ? m->embed_dim : 0; }
const char *jclip_model_isa(const jclip_model *m) { return m ? m->ops->name : ""; }

size_t jclip_model_describe(const jclip_model *m, char *buf, size_t cap)
{
    if (!m) { if (buf && cap) buf[0] = 0; return 0; } /* like jclip_embed_dim(NULL) */
    const jc_text *T = &m->text;
    const jc_vision *V = &m->vision;
    size_t params = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++) params += (size_t)(m->tensors[i].nbytes / 4);
    int n = snprintf(buf, cap,
                     "architecture: jina-clip-v1 (JinaBERT text tower + EVA02 vision tower)\n"
                     "embedding:    %d floats, L2-normalised\n"
                     "text:         %d layers, d_model %d, %d heads, d_ff %d (GEGLU), vocab %d, ALiBi, mean pooling\n"
                     "vision:       %d layers, d_model %d, %d heads, d_ff %d (SwiGLU), patch %d, image %d, 2-D RoPE, CLS pooling\n"
                     "tokenizer:    WordPiece, %s, max %d tokens\n"
                     "weights:      %zu tensors, %.1f M parameters, float32\n"
                     "file:         %.1f MB%s\n"
                     "kernels:      %s",
                     m->embed_dim, T->n_layer, T->d_model, T->n_head, T->d_ff, T->n_vocab, V->n_layer, V->d_model,
                     V->n_head, V->d_ff, V->patch, V->image, m->lowercase ? "uncased" : "cased", m->max_length,
                     (size_t)m->n_tensors, params / 1e6, m->file_size / 1e6, m->mapped ? " (memory-mapped)" : "",
                     m->ops->name);
    return n < 0 ? 0 : (size_t)n + 1;
}

/* ============================================================================================
 * Context: scratch memory, thread pool, error message
 * ========================================================================================== */

#define JC_ATTN_QBLOCK 128 /* queries per attention work item (at most): each item transposes every key once */

struct jclip_ctx {
    const jclip_model *m;
    const jk_ops *ops;
    jclip_ctx_params p;
    jk_pool *pool;
    char err[512];
    int max_tok; /* text sequence capacity */
    int tower;   /* JC_TOWER_* of the forward pass running (which packed weights to use) */

    /* text tower scratch, for up to max_tok tokens */
    int32_t *ids;    /* [max_tok] */
    uint8_t *valid;  /* [max_tok] key/pool mask: id != pad */
    float *x;        /* [max_tok, d_model] residual stream */
    float *qkv;      /* [max_tok, 3*d_model] */
    float *att;      /* [max_tok, d_model] attention output (heads concatenated) */
    float *tmp;      /* [max_tok, d_model] */
    float *g;        /* [max_tok, 2*d_ff] gated MLP input */
    float *u;        /* [max_tok, d_ff] */
    float *ws;       /* [n_threads, ws_stride] per-thread kernel scratch (linear, attention) */
    size_t ws_stride;

    /* vision tower scratch (n_tok = grid*grid + 1) */
    float *vx;       /* [n_tok, d_model] */
    float *vh;       /* [n_tok, d_model] */
    float *vq, *vk, *vv; /* [n_tok, d_model] each */
    float *vo;       /* [n_tok, d_model] */
    float *va, *vb;  /* [n_tok, d_ff] each */
    float *patches;  /* [grid*grid, 3*patch*patch] */
    float *pixels;   /* [3, image, image] */
    float *rope_cos, *rope_sin; /* [grid*grid, d_head] */
    float *vbatch;   /* batched vision passes: vx..vb for vb_imgs images, then their pixels */
    int vb_imgs;     /* images vbatch holds (0 until the first batch call) */

    /* image input: grown on demand up to the limits, kept for the next image */
    uint8_t *rgb; size_t rgb_cap;      /* decoded image, packed RGB8 */
    uint8_t *pre; size_t pre_cap;      /* resize scratch (pre_scratch_size) */
    uint8_t *crop;                     /* [image, image, 3] HWC */
};

static int jc_ctx_fail(jclip_ctx *ctx, int code, const char *fmt, ...) JC_PRINTF(3, 4);
static int jc_ctx_fail(jclip_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    return code;
}

void jclip_ctx_params_default(jclip_ctx_params *p)
{
    if (!p) return;
    p->n_threads = 0;
    p->max_tokens = 512;
    p->max_text_bytes = (size_t)16 << 20;
    p->max_pixels = JCLIP_DEFAULT_MAX_PIXELS;
    p->max_image_bytes = (size_t)256 << 20;
    p->max_ctx_bytes = (size_t)1 << 31;
    p->max_images = 8;
}

static int jc_default_threads(void)
{
#if !defined(_WIN32) && defined(_SC_NPROCESSORS_ONLN)
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > JK_MAX_THREADS ? JK_MAX_THREADS : (int)n;
#else
    return 1;
#endif
}

void jclip_ctx_free(jclip_ctx *ctx)
{
    if (!ctx) return;
    jk_pool_free(ctx->pool);
    float **bufs[] = {&ctx->x, &ctx->qkv, &ctx->att, &ctx->tmp, &ctx->g, &ctx->u, &ctx->ws,
                      &ctx->vx, &ctx->vh, &ctx->vq, &ctx->vk, &ctx->vv, &ctx->vo, &ctx->va,
                      &ctx->vb, &ctx->patches, &ctx->pixels, &ctx->rope_cos, &ctx->rope_sin};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) JCLIP_FREE(*bufs[i]);
    JCLIP_FREE(ctx->ids);
    JCLIP_FREE(ctx->valid);
    JCLIP_FREE(ctx->rgb);
    JCLIP_FREE(ctx->pre);
    JCLIP_FREE(ctx->crop);
    JCLIP_FREE(ctx->vbatch);
    JCLIP_FREE(ctx);
}

/* Allocates rows*cols floats into *dst; returns 0 on overflow or failure. */
static int jc_alloc_f(float **dst, size_t rows, size_t cols)
{
    size_t n;
    if (!jc_mul3(rows, cols, sizeof(float), &n)) return 0;
    *dst = (float *)JCLIP_MALLOC(n ? n : 1);
    return *dst != NULL;
}

/* 2-D RoPE tables (EVA02 VisionRotaryEmbeddingFast): for patch p = (r, c) the first d_head/2
 * channels rotate by row angles, the rest by column angles; frequencies repeat in pairs. */
static void jc_rope_tables(const jc_vision *V, float *cs, float *sn)
{
    int half = V->d_head / 2; /* channels per axis */
    for (int r = 0; r < V->grid; r++)
        for (int c = 0; c < V->grid; c++) {
            int p = r * V->grid + c;
            for (int ch = 0; ch < V->d_head; ch++) {
                int axis_pos = ch < half ? r : c;
                int f = (ch % half) / 2;
                float inv = 1.0f / powf(V->rope_theta, (float)(2 * f) / (float)half);
                float ang = (float)axis_pos * inv;
                cs[(size_t)p * V->d_head + ch] = cosf(ang);
                sn[(size_t)p * V->d_head + ch] = sinf(ang);
            }
        }
}

int jclip_ctx_create(const jclip_model *m, const jclip_ctx_params *params, jclip_ctx **out,
                     char *err, size_t errcap)
{
    if (!out) return jc_fail(err, errcap, JCLIP_ERR_ARG, "out is NULL");
    *out = NULL;
    if (!m) return jc_fail(err, errcap, JCLIP_ERR_ARG, "model is NULL");
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    if (params) p = *params;
    if (p.max_tokens == 0) p.max_tokens = 512;
    if (p.max_tokens < 2 || p.max_tokens > 8192)
        return jc_fail(err, errcap, JCLIP_ERR_ARG, "max_tokens %zu is outside [2, 8192]", p.max_tokens);
    if (p.n_threads <= 0) p.n_threads = jc_default_threads();
    if (p.n_threads > JK_MAX_THREADS) return jc_fail(err, errcap, JCLIP_ERR_ARG, "n_threads %d exceeds %d", p.n_threads, JK_MAX_THREADS);
    jclip_ctx *ctx = (jclip_ctx *)JCLIP_MALLOC(sizeof *ctx);
    if (!ctx) return jc_fail(err, errcap, JCLIP_ERR_NOMEM, "out of memory creating a context");
    memset(ctx, 0, sizeof *ctx);
    ctx->m = m;
    ctx->ops = m->ops;
    ctx->p = p;
    ctx->max_tok = (int)p.max_tokens;
    int rc = jk_pool_create(p.n_threads, &ctx->pool);
    if (rc) {
        jclip_ctx_free(ctx);
        return jc_fail(err, errcap, rc, "cannot start %d worker threads", p.n_threads);
    }
    const jc_text *T = &m->text;
    const jc_vision *V = &m->vision;
    size_t L = (size_t)ctx->max_tok, N = (size_t)V->n_tok, P2 = (size_t)(V->grid * V->grid);
    size_t srow = L > N ? L : N;
    {   /* kernel scratch: the largest GEMM (rows x reduction) and attention of either tower */
        const jk_ops *ops = ctx->ops;
        int kmax = T->d_model > T->d_ff ? T->d_model : T->d_ff;
        if (V->d_ff > kmax) kmax = V->d_ff;
        if (V->d_model > kmax) kmax = V->d_model;
        if (3 * V->patch * V->patch > kmax) kmax = 3 * V->patch * V->patch;
        int dh = T->d_head > V->d_head ? T->d_head : V->d_head;
        size_t lw = ops->linear_ws((int)srow, kmax), aw = ops->attention_ws((int)srow, dh, JC_ATTN_QBLOCK);
        ctx->ws_stride = (lw > aw ? lw : aw) + 16;
    }
    {   /* bound the scratch before allocating it: a hostile model file can declare tower sizes
         * whose per-token buffers dwarf the file itself */
        double floats = (double)L * (6.0 * T->d_model + 3.0 * T->d_ff) +
                        (double)N * (6.0 * V->d_model + 2.0 * V->d_ff) + 6.0 * (double)V->image * V->image +
                        2.0 * (double)P2 * V->d_head + (double)ctx->pool->n * (double)ctx->ws_stride;
        double bytes = 4.0 * floats;
        if (bytes > (double)p.max_ctx_bytes) {
            jclip_ctx_free(ctx);
            return jc_fail(err, errcap, JCLIP_ERR_LIMIT, "context scratch of %.0f MB for %zu tokens exceeds max_ctx_bytes (%zu MB)",
                           bytes / 1048576.0, L, p.max_ctx_bytes >> 20);
        }
    }
    int ok = (ctx->ids = (int32_t *)JCLIP_MALLOC(L * sizeof(int32_t))) != NULL &&
             (ctx->valid = (uint8_t *)JCLIP_MALLOC(L)) != NULL &&
             jc_alloc_f(&ctx->x, L, (size_t)T->d_model) && jc_alloc_f(&ctx->qkv, L, 3 * (size_t)T->d_model) &&
             jc_alloc_f(&ctx->att, L, (size_t)T->d_model) && jc_alloc_f(&ctx->tmp, L, (size_t)T->d_model) &&
             jc_alloc_f(&ctx->g, L, 2 * (size_t)T->d_ff) && jc_alloc_f(&ctx->u, L, (size_t)T->d_ff) &&
             jc_alloc_f(&ctx->ws, (size_t)ctx->pool->n, ctx->ws_stride) &&
             jc_alloc_f(&ctx->vx, N, (size_t)V->d_model) && jc_alloc_f(&ctx->vh, N, (size_t)V->d_model) &&
             jc_alloc_f(&ctx->vq, N, (size_t)V->d_model) && jc_alloc_f(&ctx->vk, N, (size_t)V->d_model) &&
             jc_alloc_f(&ctx->vv, N, (size_t)V->d_model) && jc_alloc_f(&ctx->vo, N, (size_t)V->d_model) &&
             jc_alloc_f(&ctx->va, N, (size_t)V->d_ff) && jc_alloc_f(&ctx->vb, N, (size_t)V->d_ff) &&
             jc_alloc_f(&ctx->patches, P2, 3 * (size_t)V->patch * (size_t)V->patch) &&
             jc_alloc_f(&ctx->pixels, 3, (size_t)V->image * (size_t)V->image) &&
             jc_alloc_f(&ctx->rope_cos, P2, (size_t)V->d_head) && jc_alloc_f(&ctx->rope_sin, P2, (size_t)V->d_head) &&
             (ctx->crop = (uint8_t *)JCLIP_MALLOC((size_t)V->image * (size_t)V->image * 3)) != NULL;
    if (!ok) {
        jclip_ctx_free(ctx);
        return jc_fail(err, errcap, JCLIP_ERR_NOMEM, "out of memory allocating context scratch for %zu tokens", L);
    }
    jc_rope_tables(V, ctx->rope_cos, ctx->rope_sin);
    *out = ctx;
    return JCLIP_OK;
}

const char *jclip_ctx_error(const jclip_ctx *ctx) { return ctx ? ctx->err : "context is NULL"; }

/* ============================================================================================
 * Parallel building blocks (each splits over output columns or rows, never over K)
 * ========================================================================================== */

#ifdef JCLIP_BLAS_OPENBLAS
#include <cblas.h>
#endif

typedef struct {
    const jk_ops *ops;
    float *Y; size_t ldy;
    const float *X; size_t ldx;
    const float *W, *bias;
    int M, K, N;
    float *ws; size_t ws_stride;
    int packed; /* W is the packed copy (ops->linear_packed) */
    jk_claim claim;
} jc_linear_task;

static void jc_linear_run(void *arg, int t, int n)
{
    jc_linear_task *a = (jc_linear_task *)arg;
    float *ws = a->ws + (size_t)t * a->ws_stride;
    void (*linear)(float *, size_t, const float *, size_t, const float *, const float *, int, int, int, int, float *) =
        a->packed ? a->ops->linear_packed : a->ops->linear;
    if (n == 1) { /* one thread: one call */
        linear(a->Y, a->ldy, a->X, a->ldx, a->W, a->bias, a->M, a->K, 0, a->N, ws);
        return;
    }
    /* column chunks claimed dynamically (kernels give the same result for any split at grain
     * multiples); wider chunks for the packed GEMM, which repacks X once per call */
    int chunk = (a->M <= 8 ? 2 : 4) * a->ops->n_grain, chunks = (a->N + chunk - 1) / chunk;
    for (int c; (c = jk_claim_next(&a->claim)) < chunks;) {
        int lo = c * chunk, hi = lo + chunk < a->N ? lo + chunk : a->N;
        linear(a->Y, a->ldy, a->X, a->ldx, a->W, a->bias, a->M, a->K, lo, hi, ws);
    }
}

/* Y[M, N] = X[M, K] W[N, K]^T + bias */
static void jc_linear(jclip_ctx *ctx, float *Y, const float *X, const float *W, const float *bias,
                      int M, int K, int N)
{
#ifdef JCLIP_BLAS_OPENBLAS
    /* `make BLAS=openblas`: a comparison build only (see the Makefile); short inputs stay on
     * the streaming kernels, which OpenBLAS does not beat. */
    if (M > 8) {
        openblas_set_num_threads(ctx->pool->n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, X, K, W, K, 0.0f, Y, N);
        if (bias)
            for (int i = 0; i < M; i++) ctx->ops->add(Y + (size_t)i * N, bias, N);
        return;
    }
#endif
    jc_linear_task a;
    a.ops = ctx->ops;
    a.Y = Y; a.ldy = (size_t)N;
    a.X = X; a.ldx = (size_t)K;
    a.W = W; a.bias = bias;
    a.M = M; a.K = K; a.N = N;
    a.ws = ctx->ws; a.ws_stride = ctx->ws_stride;
    const float *Wp = M > JC_PACK_MIN_ROWS ? jc_packed(ctx->m, ctx->tower, W, N, K) : NULL;
    a.packed = Wp != NULL;
    if (Wp) a.W = Wp;
    jk_claim_init(&a.claim);
    jk_pool_run(ctx->pool, jc_linear_run, &a);
}

#define JC_MAX_SEQ 64 /* sequences per batched text forward pass */

/* Attention over n_seq independent sequences stacked in the rows of q, k, v, out (a batch of
 * texts: sequence s has len[s] rows from row off[s]); one work item = (sequence, head, block of
 * at most JC_ATTN_QBLOCK queries). */
typedef struct {
    jclip_ctx *ctx;
    float *out; size_t ldo;
    const float *q, *k, *v; size_t ldq, ldk, ldv;
    const uint8_t *valid; /* per row, or NULL */
    int n_seq, off[JC_MAX_SEQ], len[JC_MAX_SEQ];
    int first[JC_MAX_SEQ + 1]; /* first item of each sequence */
    int n_head, d_head;
    float scale;
    const float *slopes; /* [n_head] or NULL */
    jk_claim claim;
} jc_attn_task;

static int jc_attn_blocks(int L) { return (L + JC_ATTN_QBLOCK - 1) / JC_ATTN_QBLOCK; }

static void jc_attn_run(void *arg, int t, int n)
{
    jc_attn_task *a = (jc_attn_task *)arg;
    (void)n;
    float *scratch = a->ctx->ws + (size_t)t * a->ctx->ws_stride;
    int s = 0;
    for (int it; (it = jk_claim_next(&a->claim)) < a->first[a->n_seq];) {
        while (it >= a->first[s + 1]) s++; /* a thread's claims only grow */
        const int L = a->len[s], blocks = jc_attn_blocks(L), h = (it - a->first[s]) / blocks, b = (it - a->first[s]) % blocks;
        int i0 = (int)((long long)L * b / blocks), i1 = (int)((long long)L * (b + 1) / blocks);
        size_t c = (size_t)h * (size_t)a->d_head, r = (size_t)a->off[s];
        a->ctx->ops->attention(a->out + r * a->ldo + c, a->ldo, a->q + r * a->ldq + c, a->ldq, a->k + r * a->ldk + c,
                               a->ldk, a->v + r * a->ldv + c, a->ldv, a->valid ? a->valid + r : NULL, L, a->d_head,
                               i0, i1, a->scale, a->slopes ? a->slopes[h] : 0.0f, scratch);
    }
}

static void jc_attention(jclip_ctx *ctx, jc_attn_task *a)
{
    a->ctx = ctx;
    a->first[0] = 0;
    for (int s = 0; s < a->n_seq; s++) a->first[s + 1] = a->first[s] + a->n_head * jc_attn_blocks(a->len[s]);
    jk_claim_init(&a->claim);
    jk_pool_run(ctx->pool, jc_attn_run, a);
}

/* Row-wise operations split over rows. */
enum { JC_ROW_LN, JC_ROW_ADD_LN, JC_ROW_GEGLU, JC_ROW_SWIGLU_LN, JC_ROW_ADD, JC_ROW_ROPE };
typedef struct {
    jclip_ctx *ctx;
    int op, rows, n;
    float *y; const float *x;   /* LN: y = LN(x (+ y if ADD)) */
    float *y2;                  /* ROPE: the keys (y: the queries) */
    const float *w, *b;
    float eps;
    jk_claim claim;
} jc_rows_task;

/* RoPE on row r of x (images of n_tok rows stacked, d_model wide); CLS rows are left alone. */
static void jc_rope_row(const jclip_ctx *ctx, float *x, int r)
{
    const jc_vision *V = &ctx->m->vision;
    const int p = r % V->n_tok - 1; /* patch index within its image */
    if (p >= 0) {
        float *row = x + (size_t)r * V->d_model;
        const float *cs = ctx->rope_cos + (size_t)p * V->d_head, *sn = ctx->rope_sin + (size_t)p * V->d_head;
        for (int h = 0; h < V->n_head; h++) {
            float *u = row + (size_t)h * V->d_head;
            for (int c = 0; c < V->d_head; c += 2) {
                float a = u[c], b = u[c + 1];
                u[c] = a * cs[c] - b * sn[c];
                u[c + 1] = b * cs[c + 1] + a * sn[c + 1];
            }
        }
    }
}

static void jc_rows_run(void *arg, int t, int nt)
{
    jc_rows_task *a = (jc_rows_task *)arg;
    const jk_ops *ops = a->ctx->ops;
    (void)t;
    (void)nt;
    const int per = 8; /* rows per claimed chunk */
    for (int c; (c = jk_claim_next(&a->claim)) * per < a->rows;) {
        const int lo = c * per, hi = lo + per < a->rows ? lo + per : a->rows;
        for (int r = lo; r < hi; r++) {
            size_t n = (size_t)a->n;
            switch (a->op) {
            case JC_ROW_LN:
                ops->layernorm(a->y + r * n, a->x + r * n, a->w, a->b, a->n, a->eps);
                break;
            case JC_ROW_ADD_LN: /* y = LN(y + x) */
                ops->add(a->y + r * n, a->x + r * n, a->n);
                ops->layernorm(a->y + r * n, a->y + r * n, a->w, a->b, a->n, a->eps);
                break;
            case JC_ROW_GEGLU: /* y[r, n] = GELU(x[r, :n]) * x[r, n:2n] */
                ops->geglu(a->y + r * n, a->x + r * 2 * n, a->n);
                break;
            case JC_ROW_ADD: /* y += x */
                ops->add(a->y + r * n, a->x + r * n, a->n);
                break;
            case JC_ROW_ROPE: /* rotate row r of y (queries) and of y2 (keys) */
                jc_rope_row(a->ctx, a->y, r);
                jc_rope_row(a->ctx, a->y2, r);
                break;
            case JC_ROW_SWIGLU_LN: /* y = LN(SiLU(y) * x) */
                ops->swiglu(a->y + r * n, a->y + r * n, a->x + r * n, a->n);
                ops->layernorm(a->y + r * n, a->y + r * n, a->w, a->b, a->n, a->eps);
                break;
            }
        }
    }
}

static void jc_rows(jclip_ctx *ctx, int op, int rows, int n, float *y, const float *x,
                    const float *w, const float *b, float eps)
{
    jc_rows_task a;
    a.ctx = ctx; a.op = op; a.rows = rows; a.n = n;
    a.y = y; a.x = x; a.y2 = NULL; a.w = w; a.b = b; a.eps = eps;
    jk_claim_init(&a.claim);
    jk_pool_run(ctx->pool, jc_rows_run, &a);
}

/* out = v / max(||v||, 1e-12) */
static void jc_l2_normalize(float *out, const float *v, int n)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)v[i] * v[i];
    float norm = (float)sqrt(ss);
    if (norm < 1e-12f) norm = 1e-12f;
    for (int i = 0; i < n; i++) out[i] = v[i] / norm;
}

/* ============================================================================================
 * Text tower (ARCHITECTURE.md §3): post-LN JinaBERT with ALiBi and a GEGLU MLP
 * ========================================================================================== */

/* n_seq <= JC_MAX_SEQ token sequences stacked in ids (sequence s: len[s] ids, in order), at
 * most max_tok ids in all, each embedded into out + s * embed_dim. Every matrix product runs
 * over all rows at once; attention and pooling stay within a sequence. A row's result does not
 * depend on the other rows when there are more than JC_PACK_MIN_ROWS (the GEMM computes every
 * row alike), so a text gives bitwise the same embedding alone or in a batch unless it is that
 * short and alone (then the streaming kernel sums in another order: within float rounding). */
static int jc_text_forward_n(jclip_ctx *ctx, const int32_t *ids, const int *len, int n_seq, float *out)
{
    const jclip_model *m = ctx->m;
    const jc_text *T = &m->text;
    const int D = T->d_model, F = T->d_ff;
    int pad = 0, L = 0;
    jc_attn_task at;
    memset(&at, 0, sizeof at);
    at.n_seq = n_seq;
    for (int s = 0; s < n_seq; s++) {
        int n_valid = 0;
        at.off[s] = L;
        at.len[s] = len[s];
        for (int i = L; i < L + len[s]; i++) {
            if (ids[i] < 0 || ids[i] >= T->n_vocab)
                return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "token id %d at position %d is outside the vocabulary [0, %d)", ids[i], i - L, T->n_vocab);
            ctx->valid[i] = ids[i] != pad;
            n_valid += ctx->valid[i];
        }
        if (n_valid == 0) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "every token is padding (id 0): nothing to embed");
        L += len[s];
    }
    if (L > JC_PACK_MIN_ROWS) jc_tower_ready(m, ctx->pool, JC_TOWER_TEXT);
    ctx->tower = JC_TOWER_TEXT;

    float *x = ctx->x; /* [L, D] */
    for (int i = 0; i < L; i++) {
        const float *we = T->word_emb + (size_t)ids[i] * D;
        for (int c = 0; c < D; c++) x[(size_t)i * D + c] = we[c] + T->type_emb[c];
    }
    jc_rows(ctx, JC_ROW_LN, L, D, x, x, T->ln_w, T->ln_b, T->eps);

    for (int l = 0; l < T->n_layer; l++) {
        const jc_text_layer *Ly = &T->layers[l];
        jc_linear(ctx, ctx->qkv, x, Ly->wqkv, Ly->bqkv, L, D, 3 * D); /* [L, 3D] */
        at.out = ctx->att; at.ldo = (size_t)D;
        at.q = ctx->qkv; at.k = ctx->qkv + D; at.v = ctx->qkv + 2 * D;
        at.ldq = at.ldk = at.ldv = 3 * (size_t)D;
        at.valid = ctx->valid; at.n_head = T->n_head; at.d_head = T->d_head;
        at.scale = 1.0f / sqrtf((float)T->d_head);
        at.slopes = T->slopes;
        jc_attention(ctx, &at);
        jc_linear(ctx, ctx->tmp, ctx->att, Ly->wo, Ly->bo, L, D, D);
        /* x = LN(x + attn): computed into tmp then swapped back by LN-with-add on x */
        jc_rows(ctx, JC_ROW_ADD_LN, L, D, ctx->tmp, x, Ly->ln1_w, Ly->ln1_b, T->eps);
        memcpy(x, ctx->tmp, sizeof(float) * (size_t)L * D);
        jc_linear(ctx, ctx->g, x, Ly->wg, NULL, L, D, 2 * F);          /* [L, 2F] */
        jc_rows(ctx, JC_ROW_GEGLU, L, F, ctx->u, ctx->g, NULL, NULL, 0); /* [L, F] */
        jc_linear(ctx, ctx->tmp, ctx->u, Ly->w2, Ly->b2, L, F, D);
        jc_rows(ctx, JC_ROW_ADD_LN, L, D, ctx->tmp, x, Ly->ln2_w, Ly->ln2_b, T->eps);
        memcpy(x, ctx->tmp, sizeof(float) * (size_t)L * D);
    }

    /* per sequence: mean over non-padding tokens, then L2 */
    float *e = ctx->tmp; /* [D] */
    for (int s = 0; s < n_seq; s++) {
        int n_valid = 0;
        for (int i = at.off[s]; i < at.off[s] + at.len[s]; i++) n_valid += ctx->valid[i];
        for (int c = 0; c < D; c++) {
            double sum = 0;
            for (int i = at.off[s]; i < at.off[s] + at.len[s]; i++)
                if (ctx->valid[i]) sum += x[(size_t)i * D + c];
            e[c] = (float)(sum / n_valid);
        }
        jc_l2_normalize(out + (size_t)s * m->embed_dim, e, D);
    }
    return JCLIP_OK;
}

static int jc_text_forward(jclip_ctx *ctx, const int32_t *ids, int L, float *out)
{
    return jc_text_forward_n(ctx, ids, &L, 1, out);
}

/* ============================================================================================
 * Vision tower (ARCHITECTURE.md §4): pre-LN EVA02 with 2-D RoPE, sub-LN and SwiGLU
 * ========================================================================================== */

/* Rotates interleaved pairs of every head of rows 1..n_tok-1 (the CLS row is not rotated),
 * split over rows between the threads together with the keys (JC_ROW_ROPE): run serially it
 * kept one core busy while the other spun. q and k: [n_tok, d_model]. */
static void jc_rope_apply(jclip_ctx *ctx, float *q, float *k, int rows)
{
    const jc_vision *V = &ctx->m->vision;
    jc_rows_task a;
    a.ctx = ctx; a.op = JC_ROW_ROPE; a.rows = rows; a.n = V->d_model;
    a.y = q; a.x = NULL; a.y2 = k; a.w = NULL; a.b = NULL; a.eps = 0;
    jk_claim_init(&a.claim);
    jk_pool_run(ctx->pool, jc_rows_run, &a);
}

/* Activations of a vision pass over n images (rows of the images stacked). */
typedef struct { float *x, *h, *q, *k, *v, *o, *a, *b; } jc_vbuf;

/* The vision tower over n images (pixels[i]: [3, image, image] normalised floats) at once:
 * every matrix product over all n * n_tok rows, attention within each image. A row's result
 * does not depend on the other rows, so an image embeds bitwise alike alone or in a batch. */
static int jc_vision_forward_n(jclip_ctx *ctx, const jc_vbuf *B, const float *const *pixels, int n, float *out)
{
    const jc_vision *V = &ctx->m->vision;
    const int D = V->d_model, F = V->d_ff, N = V->n_tok, P = V->patch, S = V->image, G = V->grid;
    const int KP = 3 * P * P, R = n * N;
    jc_tower_ready(ctx->m, ctx->pool, JC_TOWER_VISION);
    ctx->tower = JC_TOWER_VISION;
    float *x = B->x; /* [R, D] */
    for (int i = 0; i < n; i++) {
        /* im2col: one row per patch in (channel, ky, kx) order, the conv weight's flattening */
        for (int r = 0; r < G; r++)
            for (int c = 0; c < G; c++) {
                float *dst = ctx->patches + (size_t)(r * G + c) * KP;
                for (int ch = 0; ch < 3; ch++)
                    for (int ky = 0; ky < P; ky++)
                        memcpy(dst + (ch * P + ky) * P, pixels[i] + ((size_t)ch * S + (size_t)(r * P + ky)) * S + (size_t)c * P,
                               sizeof(float) * (size_t)P);
            }
        float *xi = x + (size_t)i * N * D;
        jc_linear(ctx, xi + D, ctx->patches, V->patch_w, V->patch_b, G * G, KP, D);
        memcpy(xi, V->cls, sizeof(float) * (size_t)D);
        for (size_t j = 0; j < (size_t)N * D; j++) xi[j] += V->pos[j];
    }

    jc_attn_task at;
    memset(&at, 0, sizeof at);
    at.n_seq = n;
    for (int i = 0; i < n; i++) at.off[i] = i * N, at.len[i] = N;
    for (int l = 0; l < V->n_layer; l++) {
        const jc_vision_layer *Ly = &V->layers[l];
        jc_rows(ctx, JC_ROW_LN, R, D, B->h, x, Ly->ln1_w, Ly->ln1_b, V->eps);
        jc_linear(ctx, B->q, B->h, Ly->wq, Ly->bq, R, D, D);
        jc_linear(ctx, B->k, B->h, Ly->wk, NULL, R, D, D);
        jc_linear(ctx, B->v, B->h, Ly->wv, Ly->bv, R, D, D);
        jc_rope_apply(ctx, B->q, B->k, R);
        at.out = B->o; at.ldo = (size_t)D;
        at.q = B->q; at.k = B->k; at.v = B->v;
        at.ldq = at.ldk = at.ldv = (size_t)D;
        at.n_head = V->n_head; at.d_head = V->d_head;
        at.scale = 1.0f / sqrtf((float)V->d_head);
        jc_attention(ctx, &at);
        jc_rows(ctx, JC_ROW_LN, R, D, B->o, B->o, Ly->lnA_w, Ly->lnA_b, V->eps);
        jc_linear(ctx, B->h, B->o, Ly->wp, Ly->bp, R, D, D);
        jc_rows(ctx, JC_ROW_ADD, R, D, x, B->h, NULL, NULL, 0);
        jc_rows(ctx, JC_ROW_LN, R, D, B->h, x, Ly->ln2_w, Ly->ln2_b, V->eps);
        jc_linear(ctx, B->a, B->h, Ly->w1, Ly->b1, R, D, F);
        jc_linear(ctx, B->b, B->h, Ly->w2, Ly->b2, R, D, F);
        jc_rows(ctx, JC_ROW_SWIGLU_LN, R, F, B->a, B->b, Ly->lnF_w, Ly->lnF_b, V->eps);
        jc_linear(ctx, B->h, B->a, Ly->w3, Ly->b3, R, F, D);
        jc_rows(ctx, JC_ROW_ADD, R, D, x, B->h, NULL, NULL, 0);
    }
    for (int i = 0; i < n; i++) { /* CLS rows only */
        ctx->ops->layernorm(B->h, x + (size_t)i * N * D, V->ln_w, V->ln_b, D, V->eps);
        jc_l2_normalize(out + (size_t)i * ctx->m->embed_dim, B->h, D);
    }
    return JCLIP_OK;
}

/* pixels: [3, image, image] normalised floats. */
static int jc_vision_forward(jclip_ctx *ctx, const float *pixels, float *out)
{
    jc_vbuf b = {ctx->vx, ctx->vh, ctx->vq, ctx->vk, ctx->vv, ctx->vo, ctx->va, ctx->vb};
    return jc_vision_forward_n(ctx, &b, &pixels, 1, out);
}

/* Makes room for batched vision passes of up to max_images images (at most JC_MAX_SEQ):
 * activations plus a pixel tensor per image, grown on the first batch call. Returns how many
 * images a pass can take; 1 (one image at a time, same results) when memory is short. */
static int jc_vbatch(jclip_ctx *ctx, size_t want, jc_vbuf *b, float **pix)
{
    const jc_vision *V = &ctx->m->vision;
    size_t cap = ctx->p.max_images < JC_MAX_SEQ ? ctx->p.max_images : JC_MAX_SEQ;
    if (want > cap) want = cap;
    if (want < 2) return 1;
    const size_t ND = (size_t)V->n_tok * V->d_model, NF = (size_t)V->n_tok * V->d_ff;
    const size_t per = 6 * ND + 2 * NF + 3 * (size_t)V->image * V->image; /* floats per image */
    if (per * 4 * want > ctx->p.max_ctx_bytes) want = ctx->p.max_ctx_bytes / (per * 4); /* the same cap as the rest */
    if (want < 2) return 1;
    if ((int)want > ctx->vb_imgs) {
        float *nb = (float *)JCLIP_MALLOC(sizeof(float) * per * want);
        if (!nb) return 1;
        JCLIP_FREE(ctx->vbatch);
        ctx->vbatch = nb;
        ctx->vb_imgs = (int)want;
    }
    const size_t n = (size_t)ctx->vb_imgs;
    float *p = ctx->vbatch;
    float **slots[6] = {&b->x, &b->h, &b->q, &b->k, &b->v, &b->o};
    for (int i = 0; i < 6; i++) *slots[i] = p, p += n * ND;
    b->a = p, p += n * NF;
    b->b = p, p += n * NF;
    *pix = p; /* n pixel tensors */
    return (int)want;
}

/* ============================================================================================
 * Public embedding API
 * ========================================================================================== */

static int jc_check_out(jclip_ctx *ctx, float *out, size_t cap, size_t n)
{
    if (!out) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "output buffer is NULL");
    size_t need = 0;
    if (!jc_mul(n, (size_t)ctx->m->embed_dim, &need) || cap < need)
        return jc_ctx_fail(ctx, JCLIP_ERR_CAPACITY, "output buffer holds %zu floats, %zu needed", cap, need);
    return JCLIP_OK;
}

int jclip_tokenize(jclip_ctx *ctx, const char *text, size_t len, size_t max_tokens, int32_t *ids,
                   size_t cap, size_t *n_ids)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    if ((!text && len) || !n_ids || (!ids && cap)) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "NULL argument");
    if (len > ctx->p.max_text_bytes)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "text of %zu bytes exceeds the limit of %zu bytes", len, ctx->p.max_text_bytes);
    if (max_tokens == 0) max_tokens = ctx->p.max_tokens;
    if (max_tokens < 2) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "max_tokens must be at least 2");
    int rc = tok_wp_encode(ctx->m->tok, text ? text : "", len, max_tokens, ids, cap, n_ids);
    if (rc == JCLIP_ERR_CAPACITY)
        return jc_ctx_fail(ctx, rc, "id buffer holds %zu ids, %zu needed", cap, *n_ids);
    if (rc) return jc_ctx_fail(ctx, rc, "tokenizer failed: %s", jclip_strerror(rc));
    return JCLIP_OK;
}

int jclip_embed_tokens(jclip_ctx *ctx, const int32_t *ids, size_t n_ids, float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    int rc = jc_check_out(ctx, out, out_cap, 1);
    if (rc) return rc;
    if (!ids || n_ids == 0) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "empty token sequence");
    if (n_ids > (size_t)ctx->max_tok)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "%zu tokens exceed the context's max_tokens %d", n_ids, ctx->max_tok);
    return jc_text_forward(ctx, ids, (int)n_ids, out);
}

int jclip_embed_text(jclip_ctx *ctx, const char *text, size_t len, float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    int rc = jc_check_out(ctx, out, out_cap, 1);
    if (rc) return rc;
    size_t n;
    rc = jclip_tokenize(ctx, text, len, (size_t)ctx->max_tok, ctx->ids, (size_t)ctx->max_tok, &n);
    if (rc) return rc;
    return jc_text_forward(ctx, ctx->ids, (int)n, out);
}

/* Writes sequence i of a batch into dst (at most cap ids) and its length into *len; returns
 * JCLIP_ERR_CAPACITY when it needs more than cap (and fits an empty context), else checks it. */
typedef int (*jc_seq_fn)(jclip_ctx *ctx, const void *src, size_t i, int32_t *dst, size_t cap, size_t *len);

typedef struct { const char *const *texts; const size_t *lens; } jc_texts_src;
typedef struct { const int32_t *const *ids; const size_t *n_ids; } jc_tokens_src;

static int jc_seq_text(jclip_ctx *ctx, const void *src, size_t i, int32_t *dst, size_t cap, size_t *len)
{
    const jc_texts_src *t = (const jc_texts_src *)src;
    return jclip_tokenize(ctx, t->texts[i], t->lens[i], (size_t)ctx->max_tok, dst, cap, len);
}

static int jc_seq_tokens(jclip_ctx *ctx, const void *src, size_t i, int32_t *dst, size_t cap, size_t *len)
{
    const jc_tokens_src *t = (const jc_tokens_src *)src;
    const int32_t *ids = t->ids[i];
    size_t n = t->n_ids[i], valid = 0;
    if (!ids || n == 0) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "empty token sequence");
    if (n > (size_t)ctx->max_tok)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "%zu tokens exceed the context's max_tokens %d", n, ctx->max_tok);
    if (n > cap) return JCLIP_ERR_CAPACITY;
    for (size_t j = 0; j < n; j++) {
        if (ids[j] < 0 || ids[j] >= ctx->m->text.n_vocab)
            return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "token id %d at position %zu is outside the vocabulary [0, %d)", ids[j], j,
                               ctx->m->text.n_vocab);
        valid += ids[j] != 0;
    }
    if (!valid) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "every token is padding (id 0): nothing to embed");
    memcpy(dst, ids, sizeof(int32_t) * n);
    *len = n;
    return JCLIP_OK;
}

/* Embeds n sequences in groups of as many as fit the context (max_tok ids, JC_MAX_SEQ
 * sequences), one text-tower pass per group. what: "text" or "sequence", for messages. */
static int jc_text_batch(jclip_ctx *ctx, const void *src, size_t n, jc_seq_fn get, const char *what, float *out)
{
    const size_t D = (size_t)ctx->m->embed_dim, cap = (size_t)ctx->max_tok;
    int lens[JC_MAX_SEQ], n_seq = 0;
    size_t used = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        int rc = n_seq < JC_MAX_SEQ ? get(ctx, src, i, ctx->ids + used, cap - used, &len) : JCLIP_ERR_CAPACITY;
        if (rc == JCLIP_ERR_CAPACITY && n_seq > 0) { /* the group is full: run it, start the next with i */
            rc = jc_text_forward_n(ctx, ctx->ids, lens, n_seq, out + first * D);
            if (rc) return rc;
            first = i, n_seq = 0, used = 0;
            rc = get(ctx, src, i, ctx->ids, cap, &len);
        }
        if (rc) {
            char tmp[sizeof ctx->err];
            memcpy(tmp, ctx->err, sizeof tmp);
            return jc_ctx_fail(ctx, rc, "%s %zu: %s", what, i, tmp);
        }
        lens[n_seq++] = (int)len, used += len;
    }
    return n_seq ? jc_text_forward_n(ctx, ctx->ids, lens, n_seq, out + first * D) : JCLIP_OK;
}

int jclip_embed_texts(jclip_ctx *ctx, const char *const *texts, const size_t *lens, size_t n,
                      float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    int rc = jc_check_out(ctx, out, out_cap, n);
    if (rc) return rc;
    if (n && (!texts || !lens)) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "texts or lens is NULL");
    jc_texts_src src = {texts, lens};
    return jc_text_batch(ctx, &src, n, jc_seq_text, "text", out);
}

int jclip_embed_tokens_batch(jclip_ctx *ctx, const int32_t *const *ids, const size_t *n_ids, size_t n, float *out,
                             size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    int rc = jc_check_out(ctx, out, out_cap, n);
    if (rc) return rc;
    if (n && (!ids || !n_ids)) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "ids or n_ids is NULL");
    jc_tokens_src src = {ids, n_ids};
    return jc_text_batch(ctx, &src, n, jc_seq_tokens, "sequence", out);
}

int jclip_embed_pixels(jclip_ctx *ctx, const float *pixels, size_t n_floats, float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    int rc = jc_check_out(ctx, out, out_cap, 1);
    if (rc) return rc;
    size_t S = (size_t)ctx->m->vision.image;
    if (!pixels || n_floats != 3 * S * S)
        return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "pixel tensor must hold 3 x %zu x %zu floats, got %zu", S, S, n_floats);
    return jc_vision_forward(ctx, pixels, out);
}

/* ============================================================================================
 * Images: decode, preprocess, embed
 * ========================================================================================== */

int jclip_decode_info(const void *data, size_t len, jclip_image_info *info, char *err, size_t errcap)
{
    if (!data || !info) return jc_fail(err, errcap, JCLIP_ERR_ARG, "data or info is NULL");
    return img_info((const uint8_t *)data, len, info, err, errcap);
}

int jclip_decode_image(const void *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                       jclip_image_info *info, char *err, size_t errcap)
{
    if (!data || (!rgb && rgb_cap)) return jc_fail(err, errcap, JCLIP_ERR_ARG, "data or rgb is NULL");
    jclip_image_info tmp;
    if (!info) info = &tmp;
    int rc = img_info((const uint8_t *)data, len, info, err, errcap);
    if (rc) return rc;
    if (max_pixels == 0) max_pixels = JCLIP_DEFAULT_MAX_PIXELS;
    if ((uint64_t)info->width * info->height > max_pixels)
        return jc_fail(err, errcap, JCLIP_ERR_LIMIT, "image of %ux%u pixels exceeds the limit of %llu pixels",
                       (unsigned)info->width, (unsigned)info->height, (unsigned long long)max_pixels);
    size_t need = 0;
    if (!jc_mul3(info->width, info->height, 3, &need) || rgb_cap < need)
        return jc_fail(err, errcap, JCLIP_ERR_CAPACITY, "RGB buffer of %zu bytes, %ux%u image needs %zu",
                       rgb_cap, (unsigned)info->width, (unsigned)info->height, need);
    return img_decode((const uint8_t *)data, len, max_pixels, rgb, rgb_cap, info, err, errcap);
}

/* Grows a context-owned byte buffer to at least n bytes. */
static int jc_grow(uint8_t **buf, size_t *cap, size_t n)
{
    if (*cap >= n) return 1;
    uint8_t *p = (uint8_t *)JCLIP_REALLOC(*buf, n ? n : 1);
    if (!p) return 0;
    *buf = p;
    *cap = n;
    return 1;
}

size_t jclip_preprocess_scratch_size(uint32_t width, uint32_t height) { return pre_scratch_size(width, height); }

int jclip_preprocess_crop(const uint8_t *rgb, uint32_t width, uint32_t height, uint8_t *crop, size_t crop_cap,
                          void *scratch, size_t scratch_size, char *err, size_t errcap)
{
    if (crop_cap < (size_t)PRE_SIZE * PRE_SIZE * 3)
        return jc_fail(err, errcap, JCLIP_ERR_CAPACITY, "crop buffer of %zu bytes, %d needed", crop_cap, PRE_SIZE * PRE_SIZE * 3);
    return pre_resize_crop(rgb, width, height, crop, scratch, scratch_size, err, errcap);
}

/* Resize + crop into the context's crop buffer, growing the context's scratch as needed. */
static int jc_preprocess_ctx(jclip_ctx *ctx, const uint8_t *rgb, uint32_t width, uint32_t height)
{
    if (!rgb) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "image is NULL");
    if ((uint64_t)width * height > ctx->p.max_pixels)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "image of %ux%u pixels exceeds the limit of %llu pixels", (unsigned)width,
                           (unsigned)height, (unsigned long long)ctx->p.max_pixels);
    size_t need = pre_scratch_size(width, height);
    if (need == 0) return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "image size %ux%u is out of range", (unsigned)width, (unsigned)height);
    if (!jc_grow(&ctx->pre, &ctx->pre_cap, need)) return jc_ctx_fail(ctx, JCLIP_ERR_NOMEM, "out of memory (%zu bytes of resize scratch)", need);
    return pre_resize_crop(rgb, width, height, ctx->crop, ctx->pre, ctx->pre_cap, ctx->err, sizeof ctx->err);
}

int jclip_embed_rgb(jclip_ctx *ctx, const uint8_t *rgb, uint32_t width, uint32_t height, float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    int rc = jc_check_out(ctx, out, out_cap, 1);
    if (rc) return rc;
    ctx->err[0] = 0;
    rc = jc_preprocess_ctx(ctx, rgb, width, height);
    if (rc) return rc;
    pre_normalize(ctx->crop, ctx->pixels);
    return jc_vision_forward(ctx, ctx->pixels, out);
}

/* Decodes an encoded image into the context's RGB buffer. */
static int jc_decode_into_ctx(jclip_ctx *ctx, const void *data, size_t len, jclip_image_info *info)
{
    ctx->err[0] = 0;
    if (!data) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "image data is NULL");
    if (len > ctx->p.max_image_bytes)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "image file of %zu bytes exceeds the limit of %zu bytes", len, ctx->p.max_image_bytes);
    int rc = img_info((const uint8_t *)data, len, info, ctx->err, sizeof ctx->err);
    if (rc) return rc;
    if ((uint64_t)info->width * info->height > ctx->p.max_pixels)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "image of %ux%u pixels exceeds the limit of %llu pixels",
                           (unsigned)info->width, (unsigned)info->height, (unsigned long long)ctx->p.max_pixels);
    size_t need = 0;
    if (!jc_mul3(info->width, info->height, 3, &need)) return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "image too large");
    if (!jc_grow(&ctx->rgb, &ctx->rgb_cap, need))
        return jc_ctx_fail(ctx, JCLIP_ERR_NOMEM, "out of memory (%zu bytes for a %ux%u image)", need, (unsigned)info->width, (unsigned)info->height);
    return img_decode((const uint8_t *)data, len, ctx->p.max_pixels, ctx->rgb, ctx->rgb_cap, info, ctx->err, sizeof ctx->err);
}

int jclip_embed_image(jclip_ctx *ctx, const void *data, size_t len, float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    int rc = jc_check_out(ctx, out, out_cap, 1);
    if (rc) return rc;
    jclip_image_info info;
    rc = jc_decode_into_ctx(ctx, data, len, &info);
    if (rc) return rc;
    return jclip_embed_rgb(ctx, ctx->rgb, info.width, info.height, out, out_cap);
}

int jclip_embed_images(jclip_ctx *ctx, const void *const *data, const size_t *lens, size_t n, float *out,
                       size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    int rc = jc_check_out(ctx, out, out_cap, n);
    if (rc) return rc;
    if (n && (!data || !lens)) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "data or lens is NULL");
    const size_t D = (size_t)ctx->m->embed_dim, S = (size_t)ctx->m->vision.image;
    jc_vbuf b;
    float *pix = NULL;
    const int per = jc_vbatch(ctx, n, &b, &pix);
    const float *slot[JC_MAX_SEQ];
    size_t first = 0;
    int got = 0; /* images decoded into the batch so far */
    for (size_t i = 0; i < n; i++) {
        if (per == 1) {
            rc = jclip_embed_image(ctx, data[i], lens[i], out + i * D, D);
        } else {
            jclip_image_info info;
            rc = jc_decode_into_ctx(ctx, data[i], lens[i], &info);
            if (!rc) rc = jc_preprocess_ctx(ctx, ctx->rgb, info.width, info.height);
            if (!rc) {
                float *px = pix + (size_t)got * 3 * S * S;
                pre_normalize(ctx->crop, px);
                slot[got++] = px;
            }
            if (got && (rc || got == per || i + 1 == n)) { /* run the batch (before reporting a failure) */
                int rc2 = jc_vision_forward_n(ctx, &b, slot, got, out + first * D);
                if (!rc) rc = rc2;
                first += (size_t)got, got = 0;
            }
        }
        if (rc) {
            char tmp[sizeof ctx->err];
            memcpy(tmp, ctx->err, sizeof tmp);
            return jc_ctx_fail(ctx, rc, "image %zu: %s", i, tmp);
        }
    }
    return JCLIP_OK;
}

int jclip_embed_pixels_batch(jclip_ctx *ctx, const float *pixels, size_t n, float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    int rc = jc_check_out(ctx, out, out_cap, n);
    if (rc) return rc;
    if (n && !pixels) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "pixels is NULL");
    const size_t D = (size_t)ctx->m->embed_dim, S = (size_t)ctx->m->vision.image, T = 3 * S * S;
    jc_vbuf b;
    float *pix = NULL;
    const int per = jc_vbatch(ctx, n, &b, &pix);
    for (size_t i = 0; i < n && !rc; i += (size_t)per) {
        const float *slot[JC_MAX_SEQ];
        int k = n - i < (size_t)per ? (int)(n - i) : per;
        for (int j = 0; j < k; j++) slot[j] = pixels + (i + (size_t)j) * T;
        rc = per == 1 ? jc_vision_forward(ctx, slot[0], out + i * D) : jc_vision_forward_n(ctx, &b, slot, k, out + i * D);
    }
    return rc;
}
