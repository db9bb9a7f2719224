/* image/decode.c: format dispatch for encoded images (included by jclip.c after jpeg.c).
 *
 * jc_img_info / jc_img_decode look at the magic bytes only: JPEG starts with FF D8 FF (SOI and the
 * first marker), PNG with its 8-byte signature. A prefix of the PNG signature shorter than 8
 * bytes is sent to the PNG reader so that it reports truncation rather than an unknown format. */
#include "../jclip_base.h"
#include "image.h"

static int jc_img_format(const uint8_t *data, size_t len)
{
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (!data || len == 0) return JC_FORMAT_UNKNOWN;
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return JC_FORMAT_JPEG;
    if (memcmp(data, sig, len < 8 ? len : 8) == 0 && len >= 4) return JC_FORMAT_PNG;
    return JC_FORMAT_UNKNOWN;
}

/* Reads the header of a JPEG or PNG. Returns JC_ERR_UNSUPPORTED for any other format. */
static JC_UNUSED int jc_img_info(const uint8_t *data, size_t len, jc_image_info *info, char *err, size_t errcap)
{
    switch (jc_img_format(data, len)) {
    case JC_FORMAT_JPEG: return jc_jpeg_info(data, len, info, err, errcap);
    case JC_FORMAT_PNG: return jc_png_info(data, len, info, err, errcap);
    default: return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "not a JPEG or PNG file");
    }
}

/* Decodes a JPEG or PNG into packed RGB8 (see jc_png_decode / jc_jpeg_decode for the contract). */
static JC_UNUSED int jc_img_decode(const uint8_t *data, size_t len, uint64_t max_pixels, uint8_t *rgb, size_t rgb_cap,
                                jc_image_info *info, char *err, size_t errcap)
{
    switch (jc_img_format(data, len)) {
    case JC_FORMAT_JPEG: return jc_jpeg_decode(data, len, max_pixels, rgb, rgb_cap, info, err, errcap);
    case JC_FORMAT_PNG: return jc_png_decode(data, len, max_pixels, rgb, rgb_cap, info, err, errcap);
    default: return jc_fail(err, errcap, JC_ERR_UNSUPPORTED, "not a JPEG or PNG file");
    }
}
