/* test/fuzz/fz_image.c: encoded images through the public decoder API (jclip_decode_info,
 * jclip_decode_image: format sniffing, JPEG, PNG (and inflate under it), WebP, GIF, BMP, PNM) and,
 * for images that decode, the preprocessing (jclip_preprocess_crop). PNG inputs are decoded twice: as given, and with
 * every chunk CRC recomputed so that mutations reach IHDR/PLTE/IDAT parsing instead of
 * stopping at the checksum; WebP inputs with the RIFF size set to the input size as well.
 * Invariants: the header reader and the decoder agree on the size,
 * a buffer one byte short gives JCLIP_ERR_CAPACITY, and decoding is deterministic.
 * Decodes are limited to 4 Mpixels to keep the fuzzer fast (the limit path is tested too). */
#ifndef FZ_IN_RUNNER
#include "../../jclip.c"
#endif
#include "fuzz.h"

#define FZ_IMAGE_MAX_PIXELS ((uint64_t)1 << 22)

static void fz_image_one(const uint8_t *data, size_t size)
{
    jclip_image_info info, info2;
    char err[256];
    err[0] = 0;
    int rc = jclip_decode_info(data, size, &info, err, sizeof err);
    if (rc) { FZ_ASSERT(rc < 0 && err[0]); return; }
    FZ_ASSERT(info.width > 0 && info.height > 0);
    uint64_t px = (uint64_t)info.width * info.height;
    if (px > FZ_IMAGE_MAX_PIXELS) {
        rc = jclip_decode_image(data, size, FZ_IMAGE_MAX_PIXELS, NULL, 0, &info2, err, sizeof err);
        FZ_ASSERT(rc == JCLIP_ERR_LIMIT);
        return;
    }
    size_t need = (size_t)px * 3;
    uint8_t *rgb = (uint8_t *)malloc(need);
    FZ_ASSERT(rgb);
    rc = jclip_decode_image(data, size, FZ_IMAGE_MAX_PIXELS, rgb, need - 1, &info2, err, sizeof err);
    FZ_ASSERT(rc != JCLIP_OK); /* CAPACITY, or an earlier FORMAT/TRUNCATED finding */
    rc = jclip_decode_image(data, size, FZ_IMAGE_MAX_PIXELS, rgb, need, &info2, err, sizeof err);
    if (rc == JCLIP_OK) {
        FZ_ASSERT(info2.width == info.width && info2.height == info.height && info2.format == info.format);
        if (px <= ((uint64_t)1 << 20)) {
            /* deterministic */
            uint8_t *again = (uint8_t *)malloc(need);
            FZ_ASSERT(again && jclip_decode_image(data, size, FZ_IMAGE_MAX_PIXELS, again, need, &info2, err, sizeof err) == 0);
            FZ_ASSERT(memcmp(rgb, again, need) == 0);
            free(again);
            size_t ss = jclip_preprocess_scratch_size(info.width, info.height);
            if (ss) {
                void *scratch = malloc(ss);
                uint8_t *crop = (uint8_t *)malloc(224 * 224 * 3);
                FZ_ASSERT(scratch && crop);
                rc = jclip_preprocess_crop(rgb, info.width, info.height, crop, 224 * 224 * 3, scratch, ss, err, sizeof err);
                FZ_ASSERT(rc == JCLIP_OK);
                free(scratch);
                free(crop);
            }
        }
    } else {
        FZ_ASSERT(rc < 0 && rc != JCLIP_ERR_CAPACITY && err[0]);
    }
    free(rgb);
}

static uint32_t fz_be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static int fz_image(const uint8_t *data, size_t size)
{
    fz_image_one(data, size);
    /* WebP: libwebp refuses a file shorter than its RIFF size, so a truncating or growing
     * mutation would stop there; decode a copy whose RIFF size is the input's size too. */
    if (size >= 20 && size <= 0xfffffff0u && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0) {
        uint32_t riff = (uint32_t)size - 8;
        if (((uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 | (uint32_t)data[7] << 24) != riff) {
            uint8_t *w = (uint8_t *)malloc(size);
            FZ_ASSERT(w);
            memcpy(w, data, size);
            w[4] = (uint8_t)riff; w[5] = (uint8_t)(riff >> 8); w[6] = (uint8_t)(riff >> 16); w[7] = (uint8_t)(riff >> 24);
            fz_image_one(w, size);
            free(w);
        }
        return 0;
    }
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (size < 8 || memcmp(data, sig, 8) != 0) return 0;
    uint8_t *c = (uint8_t *)malloc(size);
    FZ_ASSERT(c);
    memcpy(c, data, size);
    int fixed = 0;
    for (size_t pos = 8; size - pos >= 12;) {
        uint32_t len = fz_be32(c + pos);
        if (len > size - pos - 12) break;
        uint32_t crc = jc_file_crc32(c + pos + 4, (size_t)len + 4); /* PNG's CRC is CRC-32/IEEE too */
        uint8_t *q = c + pos + 8 + len;
        if (fz_be32(q) != crc) {
            q[0] = (uint8_t)(crc >> 24); q[1] = (uint8_t)(crc >> 16); q[2] = (uint8_t)(crc >> 8); q[3] = (uint8_t)crc;
            fixed = 1;
        }
        pos += 12 + (size_t)len;
    }
    if (fixed) fz_image_one(c, size);
    free(c);
    return 0;
}

#ifndef FZ_IN_RUNNER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_image(data, size); }
#endif
