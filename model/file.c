/* model/file.c: the .jclip weight-file reader (layout: convert/FORMAT.md).
 *
 * A jc_file is a parsed view of one .jclip file: its metadata entries and its tensor table,
 * pointing into the file's bytes (nothing is copied). Every field is read byte by byte as
 * little-endian, and every offset and size is checked against the bytes that are really there
 * before it is used, so a hostile file gets an error, never a wild read. Towers look up their
 * hyperparameters (jc_file_meta_int / _float) and tensors (jc_file_tensor_f32, which checks
 * the shape) by name. */
#include "file.h"

static uint16_t jc_file_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t jc_file_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t jc_file_u64(const uint8_t *p) { return (uint64_t)jc_file_u32(p) | (uint64_t)jc_file_u32(p + 4) << 32; }

/* CRC-32 (IEEE, reflected), bytewise; only the small metadata and table are checksummed. */
static uint32_t jc_file_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* A bounded cursor over a byte range: every read checks the remaining length first. */
typedef struct { const uint8_t *p, *end; } jc_file_cur;

static int jc_file_take(jc_file_cur *c, size_t n, const uint8_t **out)
{
    if ((size_t)(c->end - c->p) < n) return 0;
    *out = c->p;
    c->p += n;
    return 1;
}

static void jc_file_free(jc_file *jf)
{
    JCLIP_FREE(jf->meta);
    JCLIP_FREE(jf->tensors);
    jf->meta = NULL;
    jf->tensors = NULL;
}

static const jc_file_meta *jc_file_find_meta(const jc_file *jf, const char *key)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; i < jf->n_meta; i++)
        if (jf->meta[i].key_len == n && memcmp(jf->meta[i].key, key, n) == 0) return &jf->meta[i];
    return NULL;
}

static const jc_file_tensor *jc_file_find_tensor(const jc_file *jf, const char *name)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < jf->n_tensors; i++)
        if (jf->tensors[i].name_len == n && memcmp(jf->tensors[i].name, name, n) == 0)
            return &jf->tensors[i];
    return NULL;
}

/* Reads an integer hyperparameter and checks it against [lo, hi]. */
static int jc_file_meta_int(const jc_file *jf, const char *key, int64_t lo, int64_t hi, int *out,
                       char *err, size_t cap)
{
    const jc_file_meta *e = jc_file_find_meta(jf, key);
    if (!e) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: missing metadata key %s", key);
    if (e->type != JC_FILE_U64) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: metadata %s is not an integer", key);
    if (e->u < (uint64_t)lo || e->u > (uint64_t)hi)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: metadata %s = %llu is out of range [%lld, %lld]",
                       key, (unsigned long long)e->u, (long long)lo, (long long)hi);
    *out = (int)e->u;
    return JCLIP_OK;
}

static int jc_file_meta_float(const jc_file *jf, const char *key, float lo, float hi, float *out,
                         char *err, size_t cap)
{
    const jc_file_meta *e = jc_file_find_meta(jf, key);
    if (!e) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: missing metadata key %s", key);
    if (e->type != JC_FILE_F64 || !(e->f >= lo && e->f <= hi))
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: metadata %s is not a number in [%g, %g]", key, lo, hi);
    *out = (float)e->f;
    return JCLIP_OK;
}

static const char *jc_file_dtype_name(int dtype)
{
    return dtype == JC_DT_F32 ? "f32" : dtype == JC_DT_BF16 ? "bf16" : dtype == JC_DT_Q8 ? "q8" : "an unknown type";
}

/* Finds a tensor and checks its shape: dims d0.. (up to 4, trailing zeros ignored); any_dtype:
 * bf16 and q8 are accepted too (weights of linear layers, at least two dimensions). */
static int jc_file_tensor_get(const jc_file *jf, const char *name, const float **out, char *err, size_t cap, int any_dtype,
                          uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3)
{
    uint64_t want[4] = {d0, d1, d2, d3};
    int nd = d3 ? 4 : d2 ? 3 : d1 ? 2 : 1;
    const jc_file_tensor *t = jc_file_find_tensor(jf, name);
    if (!t) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file: missing tensor %s", name);
    if (t->dtype != JC_DT_F32 && !(any_dtype && t->ndim >= 2))
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %s: stored as %s, expected float32", name, jc_file_dtype_name(t->dtype));
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

/* A float32 tensor of the given shape. */
static int jc_file_tensor_f32(const jc_file *jf, const char *name, const float **out, char *err, size_t cap, uint64_t d0,
                              uint64_t d1, uint64_t d2, uint64_t d3)
{
    return jc_file_tensor_get(jf, name, out, err, cap, 0, d0, d1, d2, d3);
}

/* The weight of a linear layer, stored as f32, bf16 or q8 (jc_file_dtype_of tells which; the
 * pointer is the tensor's data whatever its type: jc_linear looks it up, model/model.c). */
static int jc_file_tensor_linear(const jc_file *jf, const char *name, const float **out, char *err, size_t cap,
                                 uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3)
{
    return jc_file_tensor_get(jf, name, out, err, cap, 1, d0, d1, d2, d3);
}

/* Parses header, metadata and tensor table; validates every offset and size. */
static int jc_file_parse(jc_file *jf, char *err, size_t cap)
{
    const uint8_t *f = jf->data;
    size_t size = jf->size;
    if (size < JC_FILE_HEADER_SIZE || memcmp(f, JC_FILE_MAGIC, 8) != 0)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "not a .jclip model file (bad magic); make one with "
                       "python3 convert/convert.py HF_DIR -o MODEL.jclip");
    uint32_t version = jc_file_u32(f + 8);
    if (version != JC_FILE_VERSION)
        return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "model file version %u is not supported (this jclip reads version %u)",
                       version, JC_FILE_VERSION);
    uint64_t fsize = jc_file_u64(f + 16), meta_off = jc_file_u64(f + 24), meta_size = jc_file_u64(f + 32);
    uint64_t tab_off = jc_file_u64(f + 40), tab_size = jc_file_u64(f + 48), data_off = jc_file_u64(f + 56);
    uint32_t crc = jc_file_u32(f + 64);
    if (fsize != size)
        return jc_fail(err, cap, size < fsize ? JCLIP_ERR_TRUNCATED : JCLIP_ERR_FORMAT,
                       "model file is %s: header says %llu bytes, file has %zu",
                       size < fsize ? "truncated" : "corrupt", (unsigned long long)fsize, size);
    if (meta_off < JC_FILE_HEADER_SIZE || meta_off > size || meta_size > size - meta_off ||
        tab_off != meta_off + meta_size || tab_size > size - tab_off || data_off % JC_FILE_ALIGN ||
        data_off < tab_off + tab_size || data_off > size)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: section offsets out of range");
    if (jc_file_crc32(f + meta_off, (size_t)(meta_size + tab_size)) != crc)
        return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: metadata checksum mismatch");

    /* metadata */
    jc_file_cur c = {f + meta_off, f + meta_off + meta_size};
    const uint8_t *p;
    if (!jc_file_take(&c, 4, &p)) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: metadata truncated");
    uint32_t n_meta = jc_file_u32(p);
    if (n_meta > JC_FILE_MAX_META) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: %u metadata entries", n_meta);
    jf->meta = (jc_file_meta *)JCLIP_MALLOC(sizeof(jc_file_meta) * (n_meta ? n_meta : 1));
    if (!jf->meta) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory reading model metadata");
    memset(jf->meta, 0, sizeof(jc_file_meta) * (n_meta ? n_meta : 1));
    for (uint32_t i = 0; i < n_meta; i++) {
        jc_file_meta *e = &jf->meta[i];
        if (!jc_file_take(&c, 2, &p)) goto trunc_meta;
        e->key_len = jc_file_u16(p);
        if (!jc_file_take(&c, e->key_len, &p)) goto trunc_meta;
        e->key = (const char *)p;
        if (!jc_file_take(&c, 1, &p)) goto trunc_meta;
        e->type = p[0];
        switch (e->type) {
        case JC_FILE_U64: if (!jc_file_take(&c, 8, &p)) goto trunc_meta; e->u = jc_file_u64(p); break;
        case JC_FILE_F64: {
            if (!jc_file_take(&c, 8, &p)) goto trunc_meta;
            uint64_t bits = jc_file_u64(p);
            memcpy(&e->f, &bits, 8);
            break;
        }
        case JC_FILE_STR: case JC_FILE_F32A: case JC_FILE_I32A: {
            if (!jc_file_take(&c, 4, &p)) goto trunc_meta;
            e->n = jc_file_u32(p);
            size_t bytes;
            if (!jc_mul((size_t)e->n, e->type == JC_FILE_STR ? 1 : 4, &bytes) || !jc_file_take(&c, bytes, &e->data)) goto trunc_meta;
            break;
        }
        case JC_FILE_BLOB:
            if (!jc_file_take(&c, 8, &p)) goto trunc_meta;
            e->n = jc_file_u64(p);
            if (e->n > (uint64_t)(c.end - c.p) || !jc_file_take(&c, (size_t)e->n, &e->data)) goto trunc_meta;
            break;
        default:
            return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: metadata %.*s has unknown type %d",
                           (int)e->key_len, e->key, e->type);
        }
        jf->n_meta = i + 1;
    }

    /* tensor table */
    c.p = f + tab_off;
    c.end = f + tab_off + tab_size;
    if (!jc_file_take(&c, 4, &p)) goto trunc_tab;
    uint32_t n_t = jc_file_u32(p);
    if (n_t > JC_FILE_MAX_TENSORS) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: %u tensors", n_t);
    jf->tensors = (jc_file_tensor *)JCLIP_MALLOC(sizeof(jc_file_tensor) * (n_t ? n_t : 1));
    if (!jf->tensors) return jc_fail(err, cap, JCLIP_ERR_NOMEM, "out of memory reading the tensor table");
    uint64_t data_size = size - data_off;
    for (uint32_t i = 0; i < n_t; i++) {
        jc_file_tensor *t = &jf->tensors[i];
        memset(t, 0, sizeof *t);
        if (!jc_file_take(&c, 2, &p)) goto trunc_tab;
        t->name_len = jc_file_u16(p);
        if (!jc_file_take(&c, t->name_len, &p)) goto trunc_tab;
        t->name = (const char *)p;
        if (!jc_file_take(&c, 2, &p)) goto trunc_tab;
        t->dtype = p[0];
        t->ndim = p[1];
        if (t->ndim < 1 || t->ndim > (int)JC_FILE_MAX_DIMS)
            return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %.*s: %d dimensions", (int)t->name_len, t->name, t->ndim);
        size_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (!jc_file_take(&c, 8, &p)) goto trunc_tab;
            t->dims[d] = jc_file_u64(p);
            if (t->dims[d] > SIZE_MAX || !jc_mul(count, (size_t)t->dims[d], &count))
                return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %.*s: shape overflows", (int)t->name_len, t->name);
        }
        if (!jc_file_take(&c, 16, &p)) goto trunc_tab;
        uint64_t off = jc_file_u64(p);
        t->nbytes = jc_file_u64(p + 8);
        size_t want = 0;
        int sized;
        switch (t->dtype) {
        case JC_DT_F32: sized = jc_mul(count, 4, &want); break;
        case JC_DT_BF16: sized = jc_mul(count, 2, &want); break;
        case JC_DT_Q8: /* int8 values + one fp32 scale per 32 of them, along the last dimensions */
            sized = t->dims[0] > 0 && count % (size_t)t->dims[0] == 0 && (count / (size_t)t->dims[0]) % 32 == 0 &&
                    jc_add(count, count / 32 * 4, &want);
            if (!sized) return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %.*s: q8 needs rows of a multiple of 32 values",
                                       (int)t->name_len, t->name);
            break;
        default:
            return jc_fail(err, cap, JCLIP_ERR_UNSUPPORTED, "tensor %.*s: dtype %d is not supported (f32, bf16 and q8 are)",
                           (int)t->name_len, t->name, t->dtype);
        }
        if (!sized || want != t->nbytes)
            return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %.*s: byte size %llu does not match its shape",
                           (int)t->name_len, t->name, (unsigned long long)t->nbytes);
        if (off % JC_FILE_ALIGN || off > data_size || t->nbytes > data_size - off)
            return jc_fail(err, cap, JCLIP_ERR_FORMAT, "tensor %.*s: data [%llu, +%llu) lies outside the file",
                           (int)t->name_len, t->name, (unsigned long long)off, (unsigned long long)t->nbytes);
        t->data = f + data_off + off;
        jf->n_tensors = i + 1;
    }
    return JCLIP_OK;
trunc_meta:
    return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: metadata entry %u overruns its section", jf->n_meta);
trunc_tab:
    return jc_fail(err, cap, JCLIP_ERR_FORMAT, "model file is corrupt: tensor table entry %u overruns its section", jf->n_tensors);
}


/* The string metadata entry key, or NULL (*len = 0) when it is absent or not a string. */
static const char *jc_file_meta_str(const jc_file *jf, const char *key, size_t *len)
{
    const jc_file_meta *e = jc_file_find_meta(jf, key);
    *len = 0;
    if (!e || e->type != JC_FILE_STR) return NULL;
    *len = (size_t)e->n;
    return (const char *)e->data;
}

/* 1 when the string metadata entry key exists and equals value. */
static int jc_file_meta_is(const jc_file *jf, const char *key, const char *value)
{
    size_t n;
    const char *s = jc_file_meta_str(jf, key, &n);
    return s && n == strlen(value) && memcmp(s, value, n) == 0;
}

/* 1 when some tensor name starts with prefix (a tower is present when its tensors are). */
static int jc_file_has_tensors(const jc_file *jf, const char *prefix)
{
    size_t n = strlen(prefix);
    for (uint32_t i = 0; i < jf->n_tensors; i++)
        if (jf->tensors[i].name_len >= n && memcmp(jf->tensors[i].name, prefix, n) == 0) return 1;
    return 0;
}
