/* jclip.h: jina-clip-v1 text and image embeddings in plain C.
 *
 * (The full manual for each function is written beside its declaration below.)
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

/* ---- Images ------------------------------------------------------------------------------ */
enum { JCLIP_FORMAT_UNKNOWN = 0, JCLIP_FORMAT_JPEG = 1, JCLIP_FORMAT_PNG = 2 };

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
} jclip_image_info;

/* Default limit on width*height of a decoded image (Pillow's MAX_IMAGE_PIXELS * 2 guard). */
#define JCLIP_DEFAULT_MAX_PIXELS 178956970ull
/* JPEG cannot exceed 65500 pixels on a side (libjpeg's JPEG_MAX_DIMENSION). */
#define JCLIP_JPEG_MAX_DIMENSION 65500u

#ifdef __cplusplus
}
#endif
#endif /* JCLIP_H */
