/* image/image.h: what the decoders report about an encoded image (the image layer's own types;
 * jclip.c copies them into the public jclip_image_info field by field). */
#ifndef JC_IMAGE_H
#define JC_IMAGE_H

#include "../jclip_base.h"

/* Container formats (the values of jclip.h's JCLIP_FORMAT_*). */
enum { JC_FORMAT_UNKNOWN = 0, JC_FORMAT_JPEG = 1, JC_FORMAT_PNG = 2, JC_FORMAT_WEBP = 3, JC_FORMAT_GIF = 4, JC_FORMAT_BMP = 5, JC_FORMAT_PNM = 6 };

typedef struct jc_image_info {
    int format;           /* JC_FORMAT_* */
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
} jc_image_info;

/* Default bound on width * height (Pillow's MAX_IMAGE_PIXELS * 2 guard). */
#define JC_DEFAULT_MAX_PIXELS 178956970ull
/* JPEG cannot exceed 65500 pixels on a side (libjpeg's JPEG_MAX_DIMENSION). */
#define JC_JPEG_MAX_DIMENSION 65500u

#endif /* JC_IMAGE_H */
