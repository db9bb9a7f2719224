/* test/fuzz/fz_model.c: the .jclip loader (jclip_model_load_memory) on mutated model files
 * (seeds from tools/fuzz_seeds.py: the micro jina-clip-v1 file and the other families' micro
 * files, OpenAI CLIP and jina-embeddings-v2 in f32, bf16 and q8). Each input is loaded twice:
 * as given (misaligned, so the copying path), and from a 64-byte-aligned copy whose header file
 * size and metadata CRC are recomputed, so that mutations reach the metadata and tensor-table
 * parsers instead of stopping at the checksum. A model that loads must also create a context
 * and embed a text and a pixel tensor without error (a text-only model must refuse the pixels
 * with a message), each twice: the second pass packs the tower's weights (AVX-512/AVX2
 * tables) and must give bitwise the same embedding. */
#ifndef FZ_IN_RUNNER
#include "../../jclip.c"
#endif
#include "fuzz.h"

static void fz_model_use(jclip_model *m)
{
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.n_threads = 1;
    p.max_tokens = 16;
    jclip_ctx *ctx = NULL;
    char err[512];
    int rc = jclip_ctx_create(m, &p, &ctx, err, sizeof err);
    if (rc) { FZ_ASSERT(rc == JCLIP_ERR_NOMEM && !ctx); return; } /* huge but valid dims */
    int D = jclip_embed_dim(m);
    FZ_ASSERT(D > 0);
    float *out = (float *)malloc(sizeof(float) * (size_t)D), *again = (float *)malloc(sizeof(float) * (size_t)D);
    char desc[2048];
    FZ_ASSERT(jclip_model_describe(m, desc, sizeof desc) > 0);
    const char *txt = "a photo of the cat [SEP] on a sofa";
    rc = jclip_embed_text(ctx, txt, strlen(txt), out, (size_t)D);
    FZ_ASSERT(rc == JCLIP_OK || rc == JCLIP_ERR_ARG); /* ARG: e.g. every id is the pad id */
    if (rc == JCLIP_OK) {
        FZ_ASSERT(jclip_embed_text(ctx, txt, strlen(txt), again, (size_t)D) == JCLIP_OK);
        FZ_ASSERT(memcmp(out, again, sizeof(float) * (size_t)D) == 0);
    }
    size_t S = (size_t)m->tower[JC_TOWER_VISION].image_size, nf = 3 * S * S;
    if (!m->tower[JC_TOWER_VISION].desc) { /* text only (jina-embeddings-v2, a one-tower file): images are refused */
        float px[3] = {0, 0, 0};
        FZ_ASSERT(jclip_embed_pixels(ctx, px, 3, out, (size_t)D) < 0 && jclip_ctx_error(ctx)[0]);
    } else if (nf <= ((size_t)1 << 22)) {
        float *px = (float *)calloc(nf, sizeof(float));
        FZ_ASSERT(px);
        rc = jclip_embed_pixels(ctx, px, nf, out, (size_t)D);
        FZ_ASSERT(rc == JCLIP_OK);
        FZ_ASSERT(jclip_embed_pixels(ctx, px, nf, again, (size_t)D) == JCLIP_OK);
        FZ_ASSERT(memcmp(out, again, sizeof(float) * (size_t)D) == 0);
        free(px);
    }
    free(out), free(again);
    jclip_ctx_free(ctx);
}

static void fz_model_try(const uint8_t *data, size_t size)
{
    jclip_model *m = NULL;
    char err[512];
    err[0] = 0;
    int rc = jclip_model_load_memory(data, size, &m, err, sizeof err);
    if (rc) {
        FZ_ASSERT(rc < 0 && !m && err[0]);
        return;
    }
    FZ_ASSERT(m);
    fz_model_use(m);
    jclip_model_free(m);
}

static void fz_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int fz_model(const uint8_t *data, size_t size)
{
    fz_model_try(data, size);
    if (size < JC_FILE_HEADER_SIZE) return 0;
    uint8_t *a = (uint8_t *)aligned_alloc(64, (size + 63) / 64 * 64);
    FZ_ASSERT(a);
    memcpy(a, data, size);
    fz_put64(a + 16, size);
    uint64_t mo = jc_file_u64(a + 24), ms = jc_file_u64(a + 32), ts = jc_file_u64(a + 48);
    if (mo <= size && ms <= size - mo && ts <= size - mo - ms) {
        uint32_t crc = jc_file_crc32(a + mo, (size_t)(ms + ts));
        for (int i = 0; i < 4; i++) a[64 + i] = (uint8_t)(crc >> (8 * i));
    }
    fz_model_try(a, size);
    free(a);
    return 0;
}

#ifndef FZ_IN_RUNNER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_model(data, size); }
#endif
