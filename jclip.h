/* jclip.h: jina-clip-v1 text and image embeddings in plain C (C11, libc + libm + pthreads).
 *
 * Usage:
 *   jclip_model *m;  jclip_ctx *c;  char err[512];  float e[768];
 *   jclip_model_load("models/jina-clip-v1.jclip", &m, err, sizeof err);   // once, shared
 *   jclip_ctx_create(m, NULL, &c, err, sizeof err);                      // one per thread
 *   jclip_embed_text(c, "a photo of a cat", 16, e, 768);                 // or embed_image
 *   jclip_ctx_free(c);  jclip_model_free(m);
 *
 * Conventions that hold for every function below:
 *  - Return value: JCLIP_OK (0) or a negative JCLIP_ERR_* code; nothing ever exits, aborts or
 *    prints. Calls taking a context leave a one-line message in jclip_ctx_error(ctx); calls
 *    without one write it into the caller's err buffer (errcap bytes, may be NULL/0).
 *  - Memory: the caller owns every output buffer and passes its capacity in elements (floats
 *    for embeddings, ids for tokens, bytes for pixels); too small gives JCLIP_ERR_CAPACITY.
 *    Text embedding never allocates after jclip_ctx_create; image embedding grows two
 *    context-owned buffers (decoded pixels, resize scratch) to the largest image seen, and
 *    the first batched image call allocates the scratch of max_images images once.
 *  - Threads: a jclip_model is immutable and may be shared by any number of threads; a
 *    jclip_ctx belongs to one thread at a time. Results are bit-identical for any n_threads.
 *  - Embeddings are float32, L2-normalised, jclip_embed_dim() long (768): the cosine of two
 *    embeddings is their dot product. Text and image embeddings share one space.
 *  - Untrusted input (text bytes, image files, model files) is validated; limits are in
 *    jclip_ctx_params.
 *
 * Build: compile jclip.c with your program (or link the library built by the Makefile);
 * define JCLIP_NO_THREADS for a single-threaded build without pthreads, and JCLIP_MALLOC,
 * JCLIP_REALLOC and JCLIP_FREE (all three) to use your own allocator.
 */
#ifndef JCLIP_H
#define JCLIP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JCLIP_VERSION "0.1.0"

/* ---- Status codes ------------------------------------------------------------------------
 * Every function that can fail returns one of these (0 = success, negative = failure). */
enum {
    JCLIP_OK = 0,
    JCLIP_ERR_ARG = -1,         /* invalid argument (NULL pointer, bad size, bad id) */
    JCLIP_ERR_NOMEM = -2,       /* an allocation failed */
    JCLIP_ERR_IO = -3,          /* a file could not be opened, read or mapped */
    JCLIP_ERR_FORMAT = -4,      /* input is corrupt or not what it claims to be */
    JCLIP_ERR_UNSUPPORTED = -5, /* valid input using a feature jclip does not implement */
    JCLIP_ERR_LIMIT = -6,       /* input exceeds a configured limit (pixels, bytes, tokens) */
    JCLIP_ERR_TRUNCATED = -7,   /* input ends before its data is complete */
    JCLIP_ERR_CAPACITY = -8,    /* caller's output buffer is too small */
    JCLIP_ERR_THREAD = -9       /* a worker thread could not be started */
};

/* Returns a short, static English description of a status code ("corrupt or invalid input"). */
const char *jclip_strerror(int status);

/* ---- Model -------------------------------------------------------------------------------
 * A jclip_model is read-only once loaded: share one between any number of threads, each with
 * its own jclip_ctx. It holds the weights (memory-mapped from the .jclip file, zero copy) and
 * the tokenizer. With the AVX-512 and AVX2 kernels, the second forward pass of a tower with more than 8
 * rows (any image; texts of 9+ tokens) copies that tower's weights once into the kernels'
 * panel layout (with the calling context's threads; passes on other contexts meanwhile read
 * the weights in place), which makes later passes faster; outputs are bit-identical either
 * way. The mapped pages it copies from are handed back, so resident memory stays about the
 * size of the weights used; a model loaded from memory keeps the caller's buffer and adds the
 * copy. Builds with JCLIP_NO_THREADS use no atomics: there, do not start the second pass of a
 * tower from two threads at once. */
typedef struct jclip_model jclip_model;

/* Loads a .jclip file (made by convert/convert.py). On failure returns a negative status,
 * sets *out to NULL and writes a one-line reason into err (capacity errcap; may be NULL),
 * naming the problem: "tensor text_model...Wqkv.weight: expected [2304,768], got [768,768]". */
int jclip_model_load(const char *path, jclip_model **out, char *err, size_t errcap);

/* Same from a buffer holding the whole file. The buffer is used in place (not copied) when it
 * is 64-byte aligned, and must then stay valid and unchanged until jclip_model_free;
 * otherwise it is copied once. */
int jclip_model_load_memory(const void *data, size_t size, jclip_model **out, char *err,
                            size_t errcap);

/* Releases the model. Every context made from it must be freed first. NULL is a no-op. */
void jclip_model_free(jclip_model *model);

/* Size of one embedding, per model (768 for jina-clip-v1 and jina-embeddings-v2-base-en, 512
 * for OpenAI CLIP ViT-B/32 and B/16): the `float` count every embed call writes. */
int jclip_embed_dim(const jclip_model *model);

/* Describes the model in one human-readable paragraph (architecture, sizes, dtype, file size,
 * kernels): writes at most cap bytes including the NUL; returns the length it needed. */
size_t jclip_model_describe(const jclip_model *model, char *buf, size_t cap);

/* Name of the kernel set this model runs ("scalar", "avx2", "avx512", "neon"), chosen at load
 * from the CPU and the JCLIP_ISA environment variable. */
const char *jclip_model_isa(const jclip_model *model);

/* Storage type of the model's linear-layer weights: "f32", "bf16" or "q8" (convert.py --dtype).
 * LayerNorms, biases, embeddings, attention scores and softmax are float32 in every case; a
 * bf16 model multiplies bf16 activations by bf16 weights in fp32, a q8 model quantises each
 * activation row per block of 32 to int8 (so a row's result never depends on the others). */
const char *jclip_model_dtype(const jclip_model *model);

/* ---- Context -----------------------------------------------------------------------------
 * A context owns all scratch memory and the worker threads of one inference stream. Use one
 * context per calling thread; a context is not itself thread-safe. All memory a text
 * embedding needs is allocated when the context is created, for the towers the model has (a
 * text-only model allocates no image scratch); image embedding additionally grows two
 * context-owned buffers (decoded pixels, resize scratch) up to the pixel limit, and batched
 * image calls the scratch of max_images images. */
typedef struct jclip_ctx jclip_ctx;

typedef struct jclip_ctx_params {
    int n_threads;          /* worker threads incl. the caller; 0 = jclip_default_threads() */
    size_t max_tokens;      /* longest token sequence incl. [CLS]/[SEP]; texts are truncated
                               to it (default 512 = jina-clip-v1's; at most 8192) */
    size_t max_text_bytes;  /* longest text accepted, in bytes (default 16 MiB) */
    uint64_t max_pixels;    /* largest decoded image, width*height (default
                               JCLIP_DEFAULT_MAX_PIXELS) */
    size_t max_image_bytes; /* largest encoded image accepted (default 256 MiB) */
    size_t max_ctx_bytes;   /* cap on the scratch memory the context allocates up front
                               (default 2 GiB; jina-clip-v1 needs ~30 MB at 512 tokens) */
    size_t max_images;      /* images per vision pass in jclip_embed_images and
                               jclip_embed_pixels_batch (default 8, at most 64; 1 = one at a
                               time). The batch scratch, ~8 MB per image for jina-clip-v1, is
                               allocated on the first batch call; without memory for it the
                               images go one at a time, with the same results. */
} jclip_ctx_params;

/* The thread count n_threads = 0 stands for: the CPUs this process may really use, that is
 * the CPUs in its affinity mask (taskset, cpusets; Linux /proc/self/status, else the online
 * count), capped by the cgroup CPU quota rounded up to whole CPUs (cgroup v2 cpu.max, v1
 * cpu.cfs_quota_us / cpu.cfs_period_us, the tightest of the process's group and its
 * ancestors), at least 1 and at most 256. A container limited to 1.5 CPUs on a 64-core host
 * gets 2. Unreadable or malformed cgroup files never lower the count. Writes a short English
 * reason into why (capacity why_cap bytes incl. the NUL; may be NULL/0), e.g. "cgroup v2
 * cpu.max quota 150000/100000 us = 1.50 CPUs, rounded up to 2 (affinity mask: 64 CPUs)".
 * Reads a few small files on each call (no caching); thread-safe; allocates nothing.
 * Returns 1 in builds with JCLIP_NO_THREADS. */
int jclip_default_threads(char *why, size_t why_cap);

/* Fills p with the defaults above. */
void jclip_ctx_params_default(jclip_ctx_params *p);

/* Creates a context for model (which must outlive it). params may be NULL for the defaults.
 * On failure returns a negative status, sets *out to NULL and writes the reason into err. */
int jclip_ctx_create(const jclip_model *model, const jclip_ctx_params *params, jclip_ctx **out,
                     char *err, size_t errcap);

/* Frees the context and joins its threads. NULL is a no-op. */
void jclip_ctx_free(jclip_ctx *ctx);

/* The message of the last failed call on ctx ("" when none). Valid until the next call. */
const char *jclip_ctx_error(const jclip_ctx *ctx);

/* ---- Towers ------------------------------------------------------------------------------
 * A model file may hold only a text tower or only a vision tower (convert.py makes one from a
 * checkpoint without the other tower's weights). Every call that needs the missing tower
 * returns JCLIP_ERR_UNSUPPORTED with a message saying so; jclip_model_describe names the
 * towers present. */

/* ---- Text --------------------------------------------------------------------------------
 * Text is UTF-8 of explicit length (any bytes: invalid sequences become U+FFFD, as in the
 * reference tokenizer). */

/* Tokenizes text into [CLS] ... [SEP] ids (BERT uncased WordPiece, as Hugging Face's
 * BertTokenizerFast), truncated to max_tokens ids keeping [SEP] last (0 = the context's
 * max_tokens; a model with a position table, CLIP's 77, truncates to at most that). OpenAI
 * CLIP models use their byte-level BPE instead (<|startoftext|> ... <|endoftext|>). Writes
 * at most cap ids; *n_ids = the full (truncated) count. Returns JCLIP_ERR_CAPACITY when
 * cap < *n_ids (the first cap ids are written). */
int jclip_tokenize(jclip_ctx *ctx, const char *text, size_t len, size_t max_tokens, int32_t *ids,
                   size_t cap, size_t *n_ids);

/* Embeds one text: tokenize (truncating to the context's max_tokens), run the text tower,
 * mean-pool, L2-normalise. out receives jclip_embed_dim() floats (out_cap must be at least
 * that, else JCLIP_ERR_CAPACITY). */
int jclip_embed_text(jclip_ctx *ctx, const char *text, size_t len, float *out, size_t out_cap);

/* Embeds n texts (texts[i] of lens[i] bytes) into out[n * dim], row i for text i. Texts go
 * through the tower together, as many per pass as fit the context's max_tokens ids (and 64
 * texts): longer matrix products, so faster than one call per text. Each text's embedding is
 * bitwise the one jclip_embed_text gives (every kernel computes a row the same way whatever
 * else is in the pass), in every weight dtype.
 * Stops at the first failure; the message names the text ("text 3: ..."). After a failure at
 * text i, rows 0..i-1 of out hold the embeddings of the texts before it and rows i..n-1 are
 * left as they were. */
int jclip_embed_texts(jclip_ctx *ctx, const char *const *texts, const size_t *lens, size_t n,
                      float *out, size_t out_cap);

/* Embeds a token id sequence as given (it should start with [CLS] and end with [SEP]; ids 0
 * are padding, excluded as keys and from the mean). 1 <= n_ids <= max_tokens; every id must
 * be < the vocabulary size, else JCLIP_ERR_ARG. OpenAI CLIP: 49406 ... 49407, pooled at the
 * first 49407 (ids after it, e.g. padding, change nothing); it must be within the model's 77
 * positions (else JCLIP_ERR_LIMIT); no id is padding. */
int jclip_embed_tokens(jclip_ctx *ctx, const int32_t *ids, size_t n_ids, float *out,
                       size_t out_cap);

/* Embeds n token id sequences (ids[i] of n_ids[i] ids, each as for jclip_embed_tokens) into
 * out[n * dim], batched as jclip_embed_texts batches texts (and so on failure). */
int jclip_embed_tokens_batch(jclip_ctx *ctx, const int32_t *const *ids, const size_t *n_ids, size_t n,
                             float *out, size_t out_cap);

/* ---- Images ------------------------------------------------------------------------------ */
enum { JCLIP_FORMAT_UNKNOWN = 0, JCLIP_FORMAT_JPEG = 1, JCLIP_FORMAT_PNG = 2, JCLIP_FORMAT_WEBP = 3, JCLIP_FORMAT_GIF = 4, JCLIP_FORMAT_BMP = 5, JCLIP_FORMAT_PNM = 6 };

/* What a header says about an encoded image. */
typedef struct jclip_image_info {
    int format;           /* JCLIP_FORMAT_* */
    uint32_t width;       /* pixels */
    uint32_t height;      /* pixels */
    int components;       /* channels stored in the file: 1 gray, 2 gray+alpha, 3, 4 (RGBA/CMYK) */
    int bit_depth;        /* bits per sample (PNG 1..16, JPEG 8) */
    int progressive;      /* JPEG: progressive scans; PNG: Adam7 interlace */
    int arithmetic;       /* JPEG: arithmetic entropy coding */
    int exif_orientation; /* JPEG: EXIF orientation 1..8, 0 when absent (never applied) */
    char color[16];       /* "gray", "ycbcr", "rgb", "cmyk", "ycck", "palette", "gray+alpha", "rgba" */
    char sampling[32];    /* JPEG: "2x2,1x1,1x1" (h x v per component); PNG: "" */
    int frames;           /* frames in the file: 1 for a still image, n for an animation (GIF, WebP) */
    int alpha;            /* 1 when the file carries alpha or a transparency key */
    int lossy;            /* 1 for lossy compression (JPEG, lossy WebP) */
} jclip_image_info;

/* Default limit on width*height of a decoded image (Pillow's MAX_IMAGE_PIXELS * 2 guard). */
#define JCLIP_DEFAULT_MAX_PIXELS 178956970ull
/* JPEG cannot exceed 65500 pixels on a side (libjpeg's JPEG_MAX_DIMENSION). */
#define JCLIP_JPEG_MAX_DIMENSION 65500u

/* ---- Images: embedding ---------------------------------------------------------------- */

/* Reads the header of an encoded image and fills info. Decoded formats: JPEG, PNG, GIF (87a/89a,
 * first frame; info.frames counts the frames), BMP (1/4/8-bit palettes, RLE4/RLE8, 16/24/32-bit,
 * bitfields, OS/2 headers) and PNM (P1-P6). WebP is recognised (JCLIP_FORMAT_WEBP). Any other
 * format gives JCLIP_ERR_UNSUPPORTED with a message naming it ("TIFF is not supported"; also
 * ICO, JPEG 2000, HEIC/AVIF, JPEG XL, PSD, SVG, PDF, PAM, TGA, ...) or saying that the data is
 * not a recognised image; 12-bit / lossless JPEG also give JCLIP_ERR_UNSUPPORTED.
 * JCLIP_ERR_FORMAT / _TRUNCATED for a damaged header. Thread-safe; allocates nothing. */
int jclip_decode_info(const void *data, size_t len, jclip_image_info *info, char *err, size_t errcap);

/* Decodes an image (any format jclip_decode_info accepts) into packed 8-bit RGB (row-major,
 * width*height*3 bytes) in the caller's buffer, exactly as Pillow 9.4's
 * Image.open(f).convert('RGB'): alpha and transparency keys dropped, palettes and gray expanded,
 * CMYK converted, the first frame of an animation, EXIF orientation reported in info but not
 * applied. Where Pillow 9.4's BMP RLE decoder is wrong, the BMP specification is followed (a
 * delta escape takes two bytes; an odd absolute RLE4 run reads (n+1)/2 bytes). max_pixels bounds
 * width*height (0 = JCLIP_DEFAULT_MAX_PIXELS). Call jclip_decode_info first to size rgb; a small
 * buffer gives JCLIP_ERR_CAPACITY. Truncated or corrupt data is an error (never a partial
 * image). Thread-safe; temporary memory is freed before returning. */
int jclip_decode_image(const void *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                       jclip_image_info *info, char *err, size_t errcap);

/* jina-clip-v1's image preprocessing up to the crop, bit-exact with the reference (torchvision
 * Resize(224, bicubic) of the shorter side with Pillow 9.4's resampler, CenterCrop(224)).
 * rgb: packed RGB8 width x height. Writes the 224x224x3 uint8 HWC crop (crop_cap >= 150528).
 * scratch: caller memory of jclip_preprocess_scratch_size(width, height) bytes (0 = size out
 * of range); the call never allocates and is thread-safe. */
size_t jclip_preprocess_scratch_size(uint32_t width, uint32_t height);
int jclip_preprocess_crop(const uint8_t *rgb, uint32_t width, uint32_t height, uint8_t *crop, size_t crop_cap,
                          void *scratch, size_t scratch_size, char *err, size_t errcap);

/* Embeds an encoded image file held in memory (len bytes, at most max_image_bytes; any format
 * jclip_decode_image accepts): decode, preprocess, vision tower, L2-normalise, as the reference
 * encode_image(path). The decoded image lives in a context-owned buffer that grows to the
 * largest image seen (bounded by max_pixels). */
int jclip_embed_image(jclip_ctx *ctx, const void *data, size_t len, float *out, size_t out_cap);

/* Embeds n encoded images into out[n * dim], decoding them one by one and running the vision
 * tower on up to max_images of them at once (bitwise the embeddings of one call each, faster).
 * Stops at the first failure ("image 2: ..."): after a failure at image i, rows 0..i-1 of out
 * hold the embeddings of the images before it and rows i..n-1 are left as they were. */
int jclip_embed_images(jclip_ctx *ctx, const void *const *data, const size_t *lens, size_t n, float *out,
                       size_t out_cap);

/* Embeds a packed RGB8 image (width*height*3 bytes), as if it had been decoded from a file. */
int jclip_embed_rgb(jclip_ctx *ctx, const uint8_t *rgb, uint32_t width, uint32_t height, float *out,
                    size_t out_cap);

/* Embeds a preprocessed image: pixels is the [3, 224, 224] float32 tensor (CHW, normalised
 * with the CLIP mean/std) exactly as the reference preprocessing produces; n_floats must be
 * 3*224*224. Runs the vision tower, takes the CLS token, L2-normalises into out. */
int jclip_embed_pixels(jclip_ctx *ctx, const float *pixels, size_t n_floats, float *out,
                       size_t out_cap);

/* Embeds n preprocessed images (pixels: n consecutive [3, 224, 224] tensors, as for
 * jclip_embed_pixels) into out[n * dim], up to max_images per vision pass (bitwise the
 * embeddings of one call each, faster). It fails only on bad arguments, before writing out. */
int jclip_embed_pixels_batch(jclip_ctx *ctx, const float *pixels, size_t n, float *out, size_t out_cap);

#ifdef __cplusplus
}
#endif
#endif /* JCLIP_H */
