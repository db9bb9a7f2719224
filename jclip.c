/* jclip.c: root of the unity build and the public API (jclip.h).
 *
 * It includes every module in dependency order, so that developers compile the same single
 * translation unit users drop into their project (`make amalgamate` pastes them into one
 * file), then implements the functions of jclip.h on top of the model layer. The layers, each
 * including only what is below it:
 *
 *     jclip_base.h                 status codes, allocator macros, jc_fail, checked sizes
 *     kernels/ tokenizer/ image/   SIMD kernels and thread pool, WordPiece, image decoders
 *     model/                       weight file, towers, shared building blocks, packing
 *     jclip.c                      the public API: loading, contexts, embedding calls
 *     cli/                         the jclip program (not part of the library)
 *
 * Every private name of the library starts with jc_ (macros JC_); only jclip_* is exported. */
#include "jclip.h"
#include "jclip_base.h"

/* the file mapping (jclip_model_load) and the hand-back of packed weights' pages (model/pack.c) */
#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "kernels/kernels.h"
#include "kernels/cpu.c"
#include "kernels/pool.c"
#include "kernels/cpus.c"
#include "tokenizer/wordpiece.c"
#include "tokenizer/bpe.c"
#include "image/image.h"
#include "image/inflate.c"
#include "image/png.c"
#include "image/jpeg.c"
#include "image/gif.c"
#include "image/bmp.c"
#include "image/pnm.c"
#include "image/vp8l.c"
#include "image/vp8.c"
#include "image/webp.c"
#include "image/decode.c"
#include "image/preprocess.c"

#include "model/file.h"
#include "model/model.h"
#include "model/file.c"
#include "model/pack.c"
#include "model/parallel.c"
#include "model/jina_bert.c"
#include "model/eva02.c"
#include "model/jina_bert_v2.c"
#include "model/clip_text.c"
#include "model/clip_vision.c"
#include "model/model.c"

/* The lower layers use private mirrors of the public status codes, formats and limits. */
#define JC_SAME(a, b) _Static_assert((long long)(a) == (long long)(b), #a " differs from " #b)
JC_SAME(JC_OK, JCLIP_OK);
JC_SAME(JC_ERR_ARG, JCLIP_ERR_ARG);
JC_SAME(JC_ERR_NOMEM, JCLIP_ERR_NOMEM);
JC_SAME(JC_ERR_IO, JCLIP_ERR_IO);
JC_SAME(JC_ERR_FORMAT, JCLIP_ERR_FORMAT);
JC_SAME(JC_ERR_UNSUPPORTED, JCLIP_ERR_UNSUPPORTED);
JC_SAME(JC_ERR_LIMIT, JCLIP_ERR_LIMIT);
JC_SAME(JC_ERR_TRUNCATED, JCLIP_ERR_TRUNCATED);
JC_SAME(JC_ERR_CAPACITY, JCLIP_ERR_CAPACITY);
JC_SAME(JC_ERR_THREAD, JCLIP_ERR_THREAD);
JC_SAME(JC_FORMAT_UNKNOWN, JCLIP_FORMAT_UNKNOWN);
JC_SAME(JC_FORMAT_JPEG, JCLIP_FORMAT_JPEG);
JC_SAME(JC_FORMAT_PNG, JCLIP_FORMAT_PNG);
JC_SAME(JC_FORMAT_WEBP, JCLIP_FORMAT_WEBP);
JC_SAME(JC_FORMAT_GIF, JCLIP_FORMAT_GIF);
JC_SAME(JC_FORMAT_BMP, JCLIP_FORMAT_BMP);
JC_SAME(JC_FORMAT_PNM, JCLIP_FORMAT_PNM);
JC_SAME(JC_DEFAULT_MAX_PIXELS, JCLIP_DEFAULT_MAX_PIXELS);
JC_SAME(JC_JPEG_MAX_DIMENSION, JCLIP_JPEG_MAX_DIMENSION);
JC_SAME(sizeof(((jc_image_info *)0)->color), sizeof(((jclip_image_info *)0)->color));
JC_SAME(sizeof(((jc_image_info *)0)->sampling), sizeof(((jclip_image_info *)0)->sampling));
#undef JC_SAME

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
 * Model
 * ========================================================================================== */

void jclip_model_free(jclip_model *m)
{
    if (!m) return;
    jc_packs_free(m->packs);
    jc_model_unbind(m);
    jc_file_free(&m->file);
#if !defined(_WIN32)
    if (m->mapped) munmap((void *)(uintptr_t)m->file.data, m->file.size);
#endif
    JCLIP_FREE(m->owned);
    JCLIP_FREE(m);
}

static int jc_model_finish(jclip_model *m, jclip_model **out, char *err, size_t cap)
{
    int rc = jc_file_parse(&m->file, err, cap);
    if (!rc) rc = jc_model_bind(m, err, cap);
    if (!rc) m->ops = jc_select_ops(err, cap, &rc);
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
    if (((uintptr_t)data % JC_FILE_ALIGN) == 0) {
        m->file.data = (const uint8_t *)data;
    } else {
        /* Tensors must be float-aligned: copy into an aligned block. */
        size_t alloc;
        if (!jc_add(size, JC_FILE_ALIGN, &alloc) || !(m->owned = JCLIP_MALLOC(alloc))) {
            JCLIP_FREE(m);
            return jc_fail(err, errcap, JCLIP_ERR_NOMEM, "out of memory copying a %zu-byte model", size);
        }
        uint8_t *a = (uint8_t *)m->owned;
        a += (JC_FILE_ALIGN - (uintptr_t)a % JC_FILE_ALIGN) % JC_FILE_ALIGN;
        memcpy(a, data, size);
        m->file.data = a;
    }
    m->file.size = size;
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
    if (st.st_size < (off_t)JC_FILE_HEADER_SIZE) {
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
    m->file.data = (const uint8_t *)map;
    m->file.size = (size_t)st.st_size;
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
const char *jclip_model_dtype(const jclip_model *m)
{
    return !m ? "" : m->dtype == JC_DT_BF16 ? "bf16" : m->dtype == JC_DT_Q8 ? "q8" : "f32";
}

size_t jclip_model_describe(const jclip_model *m, char *buf, size_t cap)
{
    if (!m) { if (buf && cap) buf[0] = 0; return 0; } /* like jclip_embed_dim(NULL) */
    const jc_tower *tt = &m->tower[JC_TOWER_TEXT], *tv = &m->tower[JC_TOWER_VISION];
    char text[256] = "none (this file has no text tower)", vision[256] = "none (this file has no vision tower)";
    if (tt->desc) tt->desc->describe(tt, text, sizeof text);
    if (tv->desc) tv->desc->describe(tv, vision, sizeof vision);
    char tok[160] = "none";
    if (tt->desc) {
        int max = tt->max_tokens ? tt->max_tokens : m->max_length; /* a position table bounds the tokenizer's setting */
        if (tt->max_tokens && m->max_length < max) max = m->max_length;
        if (m->tok_type == JC_TOK_WORDPIECE)
            snprintf(tok, sizeof tok, "WordPiece, %s, max %d tokens%s", m->lowercase ? "uncased" : "cased", max,
                     tt->max_tokens ? "" : " (the context's max_tokens, up to 8192, bounds it)");
        else
            snprintf(tok, sizeof tok, "byte-level BPE (CLIP), max %d tokens", max);
    }
    char pre[224] = "none";
    if (tv->desc)
        snprintf(pre, sizeof pre, "%s, %d px", m->pre_mode == JC_PRE_MODE_CLIP
                 ? "Hugging Face CLIPImageProcessor: RGB, shortest edge bicubic (Pillow), center crop with floor offsets, rescale, normalise"
                 : "jina-clip-v1 (torchvision): RGB, shortest edge bicubic (Pillow), center crop rounded half to even, normalise",
                 tv->image_size);
    double params = 0;
    for (uint32_t i = 0; i < m->file.n_tensors; i++) {
        double count = 1;
        for (int d = 0; d < m->file.tensors[i].ndim; d++) count *= (double)m->file.tensors[i].dims[d];
        params += count;
    }
    char dt[224] = "float32";
    if (m->dtype == JC_DT_BF16) snprintf(dt, sizeof dt, "bf16 linear layers (%d of them), float32 for the rest", m->n_qw);
    if (m->dtype == JC_DT_Q8) { /* how many weights have one scale per 32, 64 and 128 values (S = 1, 2, 4) */
        int per[5] = {0, 0, 0, 0, 0}, o;
        for (int i = 0; i < m->n_qw; i++)
            if (m->qw[i].dtype == JC_DT_Q8) per[m->qw[i].S]++;
        o = snprintf(dt, sizeof dt, "q8 linear layers (%d of them: int8 with a float32 scale per", m->n_qw);
        for (int S = 1, first = 1; S <= 4 && o > 0 && (size_t)o < sizeof dt; S *= 2)
            if (per[S]) {
                o += snprintf(dt + o, sizeof dt - (size_t)o, "%s %d weights", first ? "" : ",", 32 * S);
                if (per[S] != m->n_qw && (size_t)o < sizeof dt) o += snprintf(dt + o, sizeof dt - (size_t)o, " for %d", per[S]);
                first = 0;
            }
        if (o > 0 && (size_t)o < sizeof dt) snprintf(dt + o, sizeof dt - (size_t)o, "), float32 for the rest");
    }
    size_t n_arch;
    const char *arch = jc_file_meta_str(&m->file, "general.architecture", &n_arch);
    int n = snprintf(buf, cap,
                     "architecture: %.*s (%s%s%s)\n"
                     "embedding:    %d floats, L2-normalised\n"
                     "text:         %s\n"
                     "vision:       %s\n"
                     "tokenizer:    %s\n"
                     "preprocess:   %s\n"
                     "weights:      %u tensors, %.1f M parameters, %s\n"
                     "file:         %.1f MB%s\n"
                     "kernels:      %s",
                     (int)n_arch, arch, tt->desc ? tt->desc->name : "", tt->desc && tv->desc ? " + " : "",
                     tv->desc ? tv->desc->name : "", m->embed_dim, text, vision, tok, pre, m->file.n_tensors, params / 1e6, dt,
                     m->file.size / 1e6, m->mapped ? " (memory-mapped)" : "", m->ops->name);
    return n < 0 ? 0 : (size_t)n + 1;
}

/* ============================================================================================
 * Context
 * ========================================================================================== */

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

int jclip_default_threads(char *why, size_t why_cap)
{
#ifdef JCLIP_NO_THREADS
    if (why && why_cap) snprintf(why, why_cap, "built without threads (JCLIP_NO_THREADS)");
    return 1;
#else
    return jc_cpus_default("", why, why_cap); /* kernels/cpus.c: affinity mask and cgroup quota */
#endif
}

void jclip_ctx_free(jclip_ctx *ctx)
{
    if (!ctx) return;
    jc_pool_free(ctx->pool);
    jc_ctx_free_scratch(ctx);
    JCLIP_FREE(ctx);
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
    if (p.n_threads <= 0) p.n_threads = jclip_default_threads(NULL, 0);
    if (p.n_threads > JC_MAX_THREADS) return jc_fail(err, errcap, JCLIP_ERR_ARG, "n_threads %d exceeds %d", p.n_threads, JC_MAX_THREADS);
    jclip_ctx *ctx = (jclip_ctx *)JCLIP_MALLOC(sizeof *ctx);
    if (!ctx) return jc_fail(err, errcap, JCLIP_ERR_NOMEM, "out of memory creating a context");
    memset(ctx, 0, sizeof *ctx);
    ctx->m = m;
    ctx->ops = m->ops;
    ctx->p = p;
    ctx->max_tok = (int)p.max_tokens;
    int rc = jc_pool_create(p.n_threads, &ctx->pool);
    if (rc) {
        jclip_ctx_free(ctx);
        return jc_fail(err, errcap, rc, "cannot start %d worker threads", p.n_threads);
    }
    rc = jc_ctx_alloc(ctx, err, errcap);
    if (rc) {
        jclip_ctx_free(ctx);
        return rc;
    }
    *out = ctx;
    return JCLIP_OK;
}

const char *jclip_ctx_error(const jclip_ctx *ctx) { return ctx ? ctx->err : "context is NULL"; }

/* The model's tower for an input kind, or a JCLIP_ERR_UNSUPPORTED message when the file has
 * none (a text-only model asked for an image embedding). */
static const jc_tower *jc_ctx_tower(jclip_ctx *ctx, int kind)
{
    const jc_tower *t = &ctx->m->tower[kind];
    if (t->desc) return t;
    jc_ctx_fail(ctx, JCLIP_ERR_UNSUPPORTED, "this model has no %s tower, so it cannot embed %s (it is a %s-only model)",
                kind == JC_TOWER_TEXT ? "text" : "vision", kind == JC_TOWER_TEXT ? "text" : "images",
                kind == JC_TOWER_TEXT ? "image" : "text");
    return NULL;
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
    if (!jc_ctx_tower(ctx, JC_TOWER_TEXT)) return JCLIP_ERR_UNSUPPORTED;
    if ((!text && len) || !n_ids || (!ids && cap)) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "NULL argument");
    if (len > ctx->p.max_text_bytes)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "text of %zu bytes exceeds the limit of %zu bytes", len, ctx->p.max_text_bytes);
    if (max_tokens == 0) max_tokens = ctx->p.max_tokens;
    if (max_tokens < 2) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "max_tokens must be at least 2");
    const jc_tower *t = &ctx->m->tower[JC_TOWER_TEXT];
    if (t->max_tokens && max_tokens > (size_t)t->max_tokens) max_tokens = (size_t)t->max_tokens; /* its position table */
    int rc = ctx->m->tok_type == JC_TOK_BPE
                 ? jc_bpe_encode(ctx->m->bpe, ctx->bpe_work, text ? text : "", len, max_tokens, ids, cap, n_ids)
                 : jc_tok_wp_encode(ctx->m->tok, text ? text : "", len, max_tokens, ids, cap, n_ids);
    if (rc == JCLIP_ERR_CAPACITY)
        return jc_ctx_fail(ctx, rc, "id buffer holds %zu ids, %zu needed", cap, *n_ids);
    if (rc) return jc_ctx_fail(ctx, rc, "tokenizer failed: %s", jclip_strerror(rc));
    return JCLIP_OK;
}

int jclip_embed_tokens(jclip_ctx *ctx, const int32_t *ids, size_t n_ids, float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    const jc_tower *t = jc_ctx_tower(ctx, JC_TOWER_TEXT);
    if (!t) return JCLIP_ERR_UNSUPPORTED;
    int rc = jc_check_out(ctx, out, out_cap, 1);
    if (rc) return rc;
    if (!ids || n_ids == 0) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "empty token sequence");
    if (n_ids > (size_t)ctx->max_tok)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "%zu tokens exceed the context's max_tokens %d", n_ids, ctx->max_tok);
    const int len = (int)n_ids;
    return t->desc->embed_tokens(ctx, t, ids, &len, 1, out);
}

int jclip_embed_text(jclip_ctx *ctx, const char *text, size_t len, float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    int rc = jc_check_out(ctx, out, out_cap, 1);
    if (rc) return rc;
    size_t n;
    rc = jclip_tokenize(ctx, text, len, (size_t)ctx->max_tok, ctx->ids, (size_t)ctx->max_tok, &n);
    if (rc) return rc;
    const jc_tower *t = &ctx->m->tower[JC_TOWER_TEXT]; /* there: jclip_tokenize checked */
    const int n_tok = (int)n;
    return t->desc->embed_tokens(ctx, t, ctx->ids, &n_tok, 1, out);
}

/* Prefixes the context's message with "image <i>: ". */
static int jc_fail_item(jclip_ctx *ctx, int rc, const char *what, size_t i)
{
    char tmp[sizeof ctx->err];
    memcpy(tmp, ctx->err, sizeof tmp);
    return jc_ctx_fail(ctx, rc, "%s %zu: %s", what, i, tmp);
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
    const int pad = ctx->m->tower[JC_TOWER_TEXT].pad_id;
    size_t n = t->n_ids[i], valid = 0;
    if (!ids || n == 0) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "empty token sequence");
    if (n > (size_t)ctx->max_tok)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "%zu tokens exceed the context's max_tokens %d", n, ctx->max_tok);
    if (n > cap) return JCLIP_ERR_CAPACITY;
    for (size_t j = 0; j < n; j++) {
        if (ids[j] < 0 || ids[j] >= ctx->m->tower[JC_TOWER_TEXT].n_vocab)
            return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "token id %d at position %zu is outside the vocabulary [0, %d)", ids[j], j,
                               ctx->m->tower[JC_TOWER_TEXT].n_vocab);
        valid += ids[j] != pad;
    }
    if (!valid) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "every token is padding (id %d): nothing to embed", pad);
    memcpy(dst, ids, sizeof(int32_t) * n);
    *len = n;
    return JCLIP_OK;
}

/* Embeds n sequences in groups of as many as fit the context (max_tok ids, JC_MAX_SEQ
 * sequences), one text-tower pass per group. what: "text" or "sequence", for messages. */
static int jc_text_batch(jclip_ctx *ctx, const void *src, size_t n, jc_seq_fn get, const char *what, float *out)
{
    const jc_tower *t = jc_ctx_tower(ctx, JC_TOWER_TEXT);
    if (!t) return JCLIP_ERR_UNSUPPORTED;
    const size_t D = (size_t)ctx->m->embed_dim, cap = (size_t)ctx->max_tok;
    int lens[JC_MAX_SEQ], n_seq = 0;
    size_t used = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        int rc = n_seq < JC_MAX_SEQ ? get(ctx, src, i, ctx->ids + used, cap - used, &len) : JCLIP_ERR_CAPACITY;
        if (rc == JCLIP_ERR_CAPACITY && n_seq > 0) { /* the group is full: run it, start the next with i */
            rc = t->desc->embed_tokens(ctx, t, ctx->ids, lens, n_seq, out + first * D);
            if (rc) return rc;
            first = i, n_seq = 0, used = 0;
            rc = get(ctx, src, i, ctx->ids, cap, &len);
        }
        if (rc) { /* embed the group before it (as jclip.h promises), then report it */
            char msg[sizeof ctx->err];
            memcpy(msg, ctx->err, sizeof msg);
            int rc2 = n_seq ? t->desc->embed_tokens(ctx, t, ctx->ids, lens, n_seq, out + first * D) : JCLIP_OK;
            if (rc2) return rc2;
            memcpy(ctx->err, msg, sizeof msg);
            return jc_fail_item(ctx, rc, what, i);
        }
        lens[n_seq++] = (int)len, used += len;
    }
    return n_seq ? t->desc->embed_tokens(ctx, t, ctx->ids, lens, n_seq, out + first * D) : JCLIP_OK;
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
    const jc_tower *t = jc_ctx_tower(ctx, JC_TOWER_VISION);
    if (!t) return JCLIP_ERR_UNSUPPORTED;
    int rc = jc_check_out(ctx, out, out_cap, 1);
    if (rc) return rc;
    size_t S = (size_t)t->image_size;
    if (!pixels || n_floats != 3 * S * S)
        return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "pixel tensor must hold 3 x %zu x %zu floats, got %zu", S, S, n_floats);
    return t->desc->embed_pixels(ctx, t, &pixels, 1, out);
}

/* ============================================================================================
 * Images: decode, preprocess, embed
 * ========================================================================================== */

/* The image layer's description of a file, in the public struct. */
static void jc_public_info(jclip_image_info *dst, const jc_image_info *src)
{
    memset(dst, 0, sizeof *dst);
    dst->format = src->format;
    dst->width = src->width;
    dst->height = src->height;
    dst->components = src->components;
    dst->bit_depth = src->bit_depth;
    dst->progressive = src->progressive;
    dst->arithmetic = src->arithmetic;
    dst->exif_orientation = src->exif_orientation;
    memcpy(dst->color, src->color, sizeof dst->color);
    memcpy(dst->sampling, src->sampling, sizeof dst->sampling);
    dst->frames = src->frames;
    dst->alpha = src->alpha;
    dst->lossy = src->lossy;
}

int jclip_decode_info(const void *data, size_t len, jclip_image_info *info, char *err, size_t errcap)
{
    if (!data || !info) return jc_fail(err, errcap, JCLIP_ERR_ARG, "data or info is NULL");
    jc_image_info in;
    memset(&in, 0, sizeof in);
    int rc = jc_img_info((const uint8_t *)data, len, &in, err, errcap);
    jc_public_info(info, &in);
    return rc;
}

int jclip_decode_image(const void *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                       jclip_image_info *info, char *err, size_t errcap)
{
    if (!data || (!rgb && rgb_cap)) return jc_fail(err, errcap, JCLIP_ERR_ARG, "data or rgb is NULL");
    jc_image_info in;
    memset(&in, 0, sizeof in);
    int rc = jc_img_info((const uint8_t *)data, len, &in, err, errcap);
    if (!rc) {
        if (max_pixels == 0) max_pixels = JCLIP_DEFAULT_MAX_PIXELS;
        size_t need = 0;
        if ((uint64_t)in.width * in.height > max_pixels)
            rc = jc_fail(err, errcap, JCLIP_ERR_LIMIT, "image of %ux%u pixels exceeds the limit of %llu pixels",
                         (unsigned)in.width, (unsigned)in.height, (unsigned long long)max_pixels);
        else if (!jc_mul3(in.width, in.height, 3, &need) || rgb_cap < need)
            rc = jc_fail(err, errcap, JCLIP_ERR_CAPACITY, "RGB buffer of %zu bytes, %ux%u image needs %zu",
                         rgb_cap, (unsigned)in.width, (unsigned)in.height, need);
        else
            rc = jc_img_decode((const uint8_t *)data, len, max_pixels, rgb, rgb_cap, &in, err, errcap);
    }
    if (info) jc_public_info(info, &in);
    return rc;
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

size_t jclip_preprocess_scratch_size(uint32_t width, uint32_t height) { return jc_pre_scratch_size(width, height); }

int jclip_preprocess_crop(const uint8_t *rgb, uint32_t width, uint32_t height, uint8_t *crop, size_t crop_cap,
                          void *scratch, size_t scratch_size, char *err, size_t errcap)
{
    if (crop_cap < (size_t)JC_PRE_SIZE * JC_PRE_SIZE * 3)
        return jc_fail(err, errcap, JCLIP_ERR_CAPACITY, "crop buffer of %zu bytes, %d needed", crop_cap, JC_PRE_SIZE * JC_PRE_SIZE * 3);
    return jc_pre_resize_crop(rgb, width, height, crop, scratch, scratch_size, err, errcap);
}

/* Resize + crop into the context's crop buffer, growing the context's scratch as needed. */
static int jc_preprocess_ctx(jclip_ctx *ctx, const uint8_t *rgb, uint32_t width, uint32_t height)
{
    if (!rgb) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "image is NULL");
    if ((uint64_t)width * height > ctx->p.max_pixels)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "image of %ux%u pixels exceeds the limit of %llu pixels", (unsigned)width,
                           (unsigned)height, (unsigned long long)ctx->p.max_pixels);
    size_t need = jc_pre_scratch_size(width, height);
    if (need == 0) return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "image size %ux%u is out of range", (unsigned)width, (unsigned)height);
    if (!jc_grow(&ctx->pre, &ctx->pre_cap, need)) return jc_ctx_fail(ctx, JCLIP_ERR_NOMEM, "out of memory (%zu bytes of resize scratch)", need);
    return jc_pre_resize_crop_mode(rgb, width, height, ctx->m->pre_mode, ctx->crop, ctx->pre, ctx->pre_cap, ctx->err, sizeof ctx->err);
}

int jclip_embed_rgb(jclip_ctx *ctx, const uint8_t *rgb, uint32_t width, uint32_t height, float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    const jc_tower *t = jc_ctx_tower(ctx, JC_TOWER_VISION);
    if (!t) return JCLIP_ERR_UNSUPPORTED;
    int rc = jc_check_out(ctx, out, out_cap, 1);
    if (rc) return rc;
    rc = jc_preprocess_ctx(ctx, rgb, width, height);
    if (rc) return rc;
    jc_pre_normalize(ctx->crop, ctx->pixels);
    const float *px = ctx->pixels;
    return t->desc->embed_pixels(ctx, t, &px, 1, out);
}

/* Decodes an encoded image into the context's RGB buffer; *width, *height: its size. */
static int jc_decode_into_ctx(jclip_ctx *ctx, const void *data, size_t len, uint32_t *width, uint32_t *height)
{
    ctx->err[0] = 0;
    if (!data) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "image data is NULL");
    if (len > ctx->p.max_image_bytes)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "image file of %zu bytes exceeds the limit of %zu bytes", len, ctx->p.max_image_bytes);
    jc_image_info info;
    int rc = jc_img_info((const uint8_t *)data, len, &info, ctx->err, sizeof ctx->err);
    if (rc) return rc;
    if ((uint64_t)info.width * info.height > ctx->p.max_pixels)
        return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "image of %ux%u pixels exceeds the limit of %llu pixels",
                           (unsigned)info.width, (unsigned)info.height, (unsigned long long)ctx->p.max_pixels);
    size_t need = 0;
    if (!jc_mul3(info.width, info.height, 3, &need)) return jc_ctx_fail(ctx, JCLIP_ERR_LIMIT, "image too large");
    if (!jc_grow(&ctx->rgb, &ctx->rgb_cap, need))
        return jc_ctx_fail(ctx, JCLIP_ERR_NOMEM, "out of memory (%zu bytes for a %ux%u image)", need, (unsigned)info.width, (unsigned)info.height);
    *width = info.width;
    *height = info.height;
    return jc_img_decode((const uint8_t *)data, len, ctx->p.max_pixels, ctx->rgb, ctx->rgb_cap, &info, ctx->err, sizeof ctx->err);
}

int jclip_embed_image(jclip_ctx *ctx, const void *data, size_t len, float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    if (!jc_ctx_tower(ctx, JC_TOWER_VISION)) return JCLIP_ERR_UNSUPPORTED;
    int rc = jc_check_out(ctx, out, out_cap, 1);
    if (rc) return rc;
    uint32_t w, h;
    rc = jc_decode_into_ctx(ctx, data, len, &w, &h);
    if (rc) return rc;
    return jclip_embed_rgb(ctx, ctx->rgb, w, h, out, out_cap);
}

int jclip_embed_images(jclip_ctx *ctx, const void *const *data, const size_t *lens, size_t n, float *out,
                       size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    const jc_tower *t = jc_ctx_tower(ctx, JC_TOWER_VISION);
    if (!t) return JCLIP_ERR_UNSUPPORTED;
    int rc = jc_check_out(ctx, out, out_cap, n);
    if (rc) return rc;
    if (n && (!data || !lens)) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "data or lens is NULL");
    const size_t D = (size_t)ctx->m->embed_dim, T = jc_ctx_pixel_floats(ctx);
    const int per = jc_ctx_image_batch(ctx, n);
    const float *slot[JC_MAX_SEQ];
    size_t first = 0;
    int got = 0; /* images decoded into the batch so far */
    for (size_t i = 0; i < n; i++) {
        if (per == 1) {
            rc = jclip_embed_image(ctx, data[i], lens[i], out + i * D, D);
        } else {
            uint32_t w, h;
            rc = jc_decode_into_ctx(ctx, data[i], lens[i], &w, &h);
            if (!rc) rc = jc_preprocess_ctx(ctx, ctx->rgb, w, h);
            if (!rc) {
                float *px = ctx->pixels + (size_t)got * T;
                jc_pre_normalize(ctx->crop, px);
                slot[got++] = px;
            }
            if (got && (rc || got == per || i + 1 == n)) { /* run the batch (before reporting a failure) */
                int rc2 = t->desc->embed_pixels(ctx, t, slot, got, out + first * D);
                if (!rc) rc = rc2;
                first += (size_t)got, got = 0;
            }
        }
        if (rc) return jc_fail_item(ctx, rc, "image", i);
    }
    return JCLIP_OK;
}

int jclip_embed_pixels_batch(jclip_ctx *ctx, const float *pixels, size_t n, float *out, size_t out_cap)
{
    if (!ctx) return JCLIP_ERR_ARG;
    ctx->err[0] = 0;
    const jc_tower *t = jc_ctx_tower(ctx, JC_TOWER_VISION);
    if (!t) return JCLIP_ERR_UNSUPPORTED;
    int rc = jc_check_out(ctx, out, out_cap, n);
    if (rc) return rc;
    if (n && !pixels) return jc_ctx_fail(ctx, JCLIP_ERR_ARG, "pixels is NULL");
    const size_t D = (size_t)ctx->m->embed_dim, T = jc_ctx_pixel_floats(ctx);
    const int per = jc_ctx_image_batch(ctx, n);
    for (size_t i = 0; i < n && !rc; i += (size_t)per) {
        const float *slot[JC_MAX_SEQ];
        int k = n - i < (size_t)per ? (int)(n - i) : per;
        for (int j = 0; j < k; j++) slot[j] = pixels + (i + (size_t)j) * T;
        rc = t->desc->embed_pixels(ctx, t, slot, k, out + i * D);
    }
    return rc;
}
