/* image/preprocess.c: the image preprocessing of the model families, bit-exact with their
 * references. jina-clip-v1 (torchvision 0.14 on Pillow 9.4, ARCHITECTURE.md section 5):
 *
 *   Resize(224, BICUBIC)   shorter side to 224, longer side int(224 * long / short)
 *   CenterCrop(224)        top/left = round_half_even((size - 224) / 2)
 *   ToTensor + Normalize   float32 (u8 / 255 - mean_c) / std_c, CHW
 *
 * OpenAI CLIP (Hugging Face CLIPImageProcessor on Pillow, ARCHITECTURE-CLIP.md A.7) differs
 * only in the crop offsets, which round down: top/left = (size - 224) // 2 (JC_PRE_MODE_CLIP).
 * Its RGB conversion comes first (the decoders always give RGB), and its rescale, x * (1/255)
 * in float64 cast to float32, equals float32 x / 255 for every byte, so jc_pre_normalize
 * serves both. Every decoded image is an ordinary channels-last RGB image here, also one 1 or 3
 * pixels high, which Hugging Face's channel-axis guess misreads (it fails or swaps axes).
 *
 * The resize reproduces Pillow's Resample.c arithmetic: a = -0.5 cubic with support 2 widened
 * by the scale when downscaling, one coefficient window per output index normalised to sum 1
 * in double and rounded to 22-bit fixed point, a horizontal pass then a vertical pass, each
 * rounding and clamping to uint8, and a pass skipped when its dimension is unchanged.
 *
 * Every output pixel of a Pillow pass depends only on its own index's window, so we compute
 * only the 224x224 pixels that survive the crop: the horizontal pass runs on the crop's 224
 * columns over just the source rows that the crop's 224 vertical windows read (streamable
 * row by row), and the vertical pass writes the crop directly. The result is the same bytes
 * as resizing the whole image and cropping, at a cost bounded by the crop, not by the
 * (possibly huge) resized size. */
#include "../jclip_base.h"
#include "image.h"

/* The weights are computed in double exactly as Pillow's C does; a fused multiply-add would
 * change their last bits and, rarely, a rounded fixed-point coefficient. GCC does not contract
 * across operations in ISO C mode (-std=c11); clang needs the pragma. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define JC_PRE_SIZE 224          /* output side (crop and shorter resized side) */
#define JC_PRE_PRECISION_BITS 22 /* Pillow: 32 - 8 - 2 */
#define JC_PRE_SUPPORT 2.0       /* bicubic support before widening */
/* Largest source side: Pillow's sizes are int, and the window arithmetic below stays in int. */
#define JC_PRE_MAX_SIDE ((uint32_t)INT_MAX)

/* Crop rounding of a model's pipeline (preprocess.mode of the weight file). */
enum { JC_PRE_MODE_JINA = 0, JC_PRE_MODE_CLIP = 1 };

/* One resampling direction restricted to the 224 output indices [first, first + 224). */
typedef struct {
    int in_size;  /* source pixels along this direction */
    int out_size; /* resized pixels along this direction */
    int first;    /* first output index kept by the crop */
    int needed;   /* 0 when out_size == in_size: Pillow skips the pass */
    int ksize;    /* coefficients per window (Pillow's ksize) */
    double scale, support, inv_filterscale;
} jc_pre_axis;

typedef struct {
    jc_pre_axis x, y;
    int row0, rows; /* source rows [row0, row0 + rows) feeding the crop */
    size_t off_kx, off_ky, off_bx, off_by, off_tmp, off_mid, total; /* scratch layout */
} jc_pre_plan;

/* Keys' cubic convolution kernel with a = -0.5, written in Pillow's operation order. */
static double jc_pre_cubic(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Python's round() on (d / 2.0) for a non-negative integer d: halves go to the even side. */
static int jc_pre_half_even(int d)
{
    int q = d / 2;
    if ((d & 1) && (q & 1)) q++;
    return q;
}

static int jc_pre_axis_init(jc_pre_axis *ax, uint32_t in_size, double out_size, int mode)
{
    if (out_size < JC_PRE_SIZE || out_size > (double)INT_MAX) return 0;
    ax->in_size = (int)in_size;
    ax->out_size = (int)out_size;
    ax->needed = ax->out_size != ax->in_size;
    /* torchvision: round((size - 224) / 2.0), half to even; Hugging Face: (size - 224) // 2 */
    ax->first = mode == JC_PRE_MODE_CLIP ? (ax->out_size - JC_PRE_SIZE) / 2 : jc_pre_half_even(ax->out_size - JC_PRE_SIZE);
    /* Pillow passes the box edges as float: in1 - in0 is (float)in_size - 0.0f. */
    ax->scale = (double)((float)in_size - 0.0f) / ax->out_size;
    double filterscale = ax->scale < 1.0 ? 1.0 : ax->scale;
    ax->support = JC_PRE_SUPPORT * filterscale;
    double ks = ceil(ax->support) * 2 + 1;
    if (ks > (double)(INT_MAX / 8)) return 0;
    ax->ksize = (int)ks;
    ax->inv_filterscale = 1.0 / filterscale;
    return 1;
}

/* Pillow's window for output index xx: source pixels [*lo, *lo + *n). */
static void jc_pre_window(const jc_pre_axis *ax, int xx, double *center, int *lo, int *n)
{
    double c = 0.0 + (xx + 0.5) * ax->scale; /* in0 is 0 for the whole-image box */
    int xmin = (int)(c - ax->support + 0.5);
    int xmax = (int)(c + ax->support + 0.5);
    if (xmin < 0) xmin = 0;
    if (xmax > ax->in_size) xmax = ax->in_size;
    *center = c;
    *lo = xmin;
    *n = xmax - xmin;
}

/* Computes the geometry and the scratch layout; 0 when the size is out of range. */
static int jc_pre_make_plan(uint32_t w, uint32_t h, int mode, jc_pre_plan *p)
{
    memset(p, 0, sizeof *p);
    if (w == 0 || h == 0 || w > JC_PRE_MAX_SIDE || h > JC_PRE_MAX_SIDE) return 0;
    /* torchvision: int(224 * long / short) with Python float division; both operands are
     * exact in double (224 * 2^31 < 2^53), so C's division rounds the same way. */
    double nw, nh;
    if (w <= h) {
        nw = JC_PRE_SIZE;
        nh = floor((double)JC_PRE_SIZE * (double)h / (double)w);
    } else {
        nh = JC_PRE_SIZE;
        nw = floor((double)JC_PRE_SIZE * (double)w / (double)h);
    }
    if (!jc_pre_axis_init(&p->x, w, nw, mode) || !jc_pre_axis_init(&p->y, h, nh, mode)) return 0;

    if (p->y.needed) {
        double c;
        int lo0, n0, lo1, n1;
        jc_pre_window(&p->y, p->y.first, &c, &lo0, &n0);
        jc_pre_window(&p->y, p->y.first + JC_PRE_SIZE - 1, &c, &lo1, &n1);
        p->row0 = lo0;
        p->rows = lo1 + n1 - lo0;
        if (p->rows <= 0) return 0;
    } else {
        p->row0 = p->y.first;
        p->rows = JC_PRE_SIZE;
    }

    /* Layout: doubles first, then int32 arrays, then bytes; every offset 8-aligned. */
    size_t kmax = (size_t)(p->x.ksize > p->y.ksize ? p->x.ksize : p->y.ksize);
    size_t off = 0, sz;
    p->off_tmp = off;
    if (!jc_mul(kmax, sizeof(double), &sz) || !jc_add(off, sz, &off)) return 0;
    p->off_kx = off;
    if (!jc_mul3(JC_PRE_SIZE, (size_t)p->x.ksize, sizeof(int32_t), &sz) || !jc_add(off, sz, &off)) return 0;
    off = (off + 7) & ~(size_t)7;
    p->off_ky = off;
    if (!jc_mul3(JC_PRE_SIZE, (size_t)p->y.ksize, sizeof(int32_t), &sz) || !jc_add(off, sz, &off)) return 0;
    off = (off + 7) & ~(size_t)7;
    p->off_bx = off;
    off += 2 * JC_PRE_SIZE * sizeof(int);
    p->off_by = off;
    off += 2 * JC_PRE_SIZE * sizeof(int);
    p->off_mid = off;
    if (p->x.needed && p->y.needed) { /* horizontal output feeding the vertical pass */
        if (!jc_mul3(JC_PRE_SIZE, (size_t)p->rows, 3, &sz) || !jc_add(off, sz, &off)) return 0;
    }
    /* + 8: the caller's pointer is aligned up to 8 inside the buffer. */
    if (!jc_add(off, 8, &p->total)) return 0;
    return 1;
}

/* Fills bounds[2 * i], bounds[2 * i + 1] and the fixed-point window of output index
 * ax->first + i, for i in [0, 224). tmp holds ksize doubles. */
static void jc_pre_coeffs(const jc_pre_axis *ax, int *bounds, int32_t *kk, double *tmp)
{
    for (int i = 0; i < JC_PRE_SIZE; i++) {
        double center, ww = 0.0;
        int lo, n;
        jc_pre_window(ax, ax->first + i, &center, &lo, &n);
        for (int x = 0; x < n; x++) {
            double wt = jc_pre_cubic(((double)(x + lo) - center + 0.5) * ax->inv_filterscale);
            tmp[x] = wt;
            ww += wt;
        }
        int32_t *k = kk + (size_t)i * (size_t)ax->ksize;
        for (int x = 0; x < ax->ksize; x++) {
            double v = 0.0;
            if (x < n) {
                v = tmp[x];
                if (ww != 0.0) v /= ww;
            }
            /* Pillow rounds half away from zero via a truncating cast. */
            double f = v * (1 << JC_PRE_PRECISION_BITS);
            k[x] = (int32_t)(v < 0 ? -0.5 + f : 0.5 + f);
        }
        bounds[2 * i] = lo;
        bounds[2 * i + 1] = n;
    }
}

/* Pillow's clip8: the accumulator's integer part, clamped to [0, 255]. The accumulators stay
 * well inside int32: sum |k| is about 1.1 * 2^22, times 255. */
static uint8_t jc_pre_clip8(int32_t acc)
{
    if (acc < 0) return 0;
    acc >>= JC_PRE_PRECISION_BITS;
    return (uint8_t)(acc > 255 ? 255 : acc);
}

/* Horizontal pass over one source row: 224 output pixels from windows (bounds, kk). */
static void jc_pre_hrow(const uint8_t *src, const int *bounds, const int32_t *kk, int ksize, uint8_t *dst)
{
    for (int i = 0; i < JC_PRE_SIZE; i++) {
        const int32_t *k = kk + (size_t)i * (size_t)ksize;
        const uint8_t *s = src + (size_t)bounds[2 * i] * 3;
        int n = bounds[2 * i + 1];
        int32_t s0 = 1 << (JC_PRE_PRECISION_BITS - 1), s1 = s0, s2 = s0;
        for (int x = 0; x < n; x++) {
            s0 += s[3 * x + 0] * k[x];
            s1 += s[3 * x + 1] * k[x];
            s2 += s[3 * x + 2] * k[x];
        }
        dst[3 * i + 0] = jc_pre_clip8(s0);
        dst[3 * i + 1] = jc_pre_clip8(s1);
        dst[3 * i + 2] = jc_pre_clip8(s2);
    }
}

/* Scratch bytes that jc_pre_resize_crop(_mode) needs for a w x h source in either mode; 0 when
 * the size is out of range (zero, a side above INT_MAX, or a resized side beyond int). */
static JC_UNUSED size_t jc_pre_scratch_size(uint32_t w, uint32_t h)
{
    jc_pre_plan a, b;
    if (!jc_pre_make_plan(w, h, JC_PRE_MODE_JINA, &a) || !jc_pre_make_plan(w, h, JC_PRE_MODE_CLIP, &b)) return 0;
    return a.total > b.total ? a.total : b.total;
}

/* rgb: packed RGB8 w x h (row stride 3w). Writes the 224x224x3 HWC uint8 crop to crop, which
 * must hold 224*224*3 bytes. scratch: caller-provided work memory of at least
 * jc_pre_scratch_size(w, h) bytes, any alignment; the function never allocates. */
static JC_UNUSED int jc_pre_resize_crop_mode(const uint8_t *rgb, uint32_t w, uint32_t h, int mode, uint8_t *crop,
                                          void *scratch, size_t scratch_size, char *err, size_t errcap)
{
    jc_pre_plan p;
    if (!rgb || !crop) return jc_fail(err, errcap, JC_ERR_ARG, "preprocess: NULL image or output");
    if ((mode != JC_PRE_MODE_JINA && mode != JC_PRE_MODE_CLIP) || !jc_pre_make_plan(w, h, mode, &p))
        return jc_fail(err, errcap, JC_ERR_LIMIT, "preprocess: image size %ux%u out of range",
                       (unsigned)w, (unsigned)h);
    if (!scratch || scratch_size < p.total)
        return jc_fail(err, errcap, JC_ERR_CAPACITY, "preprocess: scratch of %zu bytes, need %zu",
                       scratch ? scratch_size : (size_t)0, p.total);

    size_t stride = (size_t)w * 3; /* fits: jc_pre_make_plan bounded w, and the caller holds w*h*3 */
    const size_t out_stride = JC_PRE_SIZE * 3;
    uint8_t *base = (uint8_t *)scratch;
    base += (8 - ((uintptr_t)base & 7)) & 7;
    double *tmp = (double *)(void *)(base + p.off_tmp);
    int32_t *kx = (int32_t *)(void *)(base + p.off_kx);
    int32_t *ky = (int32_t *)(void *)(base + p.off_ky);
    int *bx = (int *)(void *)(base + p.off_bx);
    int *by = (int *)(void *)(base + p.off_by);
    uint8_t *mid = base + p.off_mid;

    if (p.x.needed) jc_pre_coeffs(&p.x, bx, kx, tmp);
    if (p.y.needed) jc_pre_coeffs(&p.y, by, ky, tmp);

    /* Source of the vertical pass (or of the crop when there is none): rows of `vsrc` with
     * stride `vstride`, row r holding source row p.row0 + r, crop columns at offset 0. */
    const uint8_t *vsrc;
    size_t vstride;
    if (p.x.needed) {
        uint8_t *dst = p.y.needed ? mid : crop;
        for (int r = 0; r < p.rows; r++)
            jc_pre_hrow(rgb + (size_t)(p.row0 + r) * stride, bx, kx, p.x.ksize, dst + (size_t)r * out_stride);
        vsrc = dst;
        vstride = out_stride;
    } else {
        vsrc = rgb + (size_t)p.row0 * stride + (size_t)p.x.first * 3;
        vstride = stride;
    }

    if (p.y.needed) {
        for (int i = 0; i < JC_PRE_SIZE; i++) {
            const int32_t *k = ky + (size_t)i * (size_t)p.y.ksize;
            const uint8_t *s = vsrc + (size_t)(by[2 * i] - p.row0) * vstride;
            int n = by[2 * i + 1];
            uint8_t *d = crop + (size_t)i * out_stride;
            for (int c = 0; c < JC_PRE_SIZE * 3; c++) {
                int32_t acc = 1 << (JC_PRE_PRECISION_BITS - 1);
                for (int y = 0; y < n; y++) acc += s[(size_t)y * vstride + (size_t)c] * k[y];
                d[c] = jc_pre_clip8(acc);
            }
        }
    } else if (!p.x.needed) { /* size unchanged: the crop is a copy */
        for (int r = 0; r < JC_PRE_SIZE; r++)
            memcpy(crop + (size_t)r * out_stride, vsrc + (size_t)r * vstride, out_stride);
    }
    return JC_OK;
}

/* jc_pre_resize_crop_mode with jina-clip-v1's crop rounding. */
static JC_UNUSED int jc_pre_resize_crop(const uint8_t *rgb, uint32_t w, uint32_t h, uint8_t *crop, void *scratch,
                                     size_t scratch_size, char *err, size_t errcap)
{
    return jc_pre_resize_crop_mode(rgb, w, h, JC_PRE_MODE_JINA, crop, scratch, scratch_size, err, errcap);
}

/* crop: 224x224x3 HWC uint8 -> chw: [3, 224, 224] float32, (u8 / 255 - mean_c) / std_c.
 * Same float32 operations as torchvision's ToTensor (div by 255) and Normalize
 * (sub_(mean).div_(std)); the constants are Python doubles rounded to float32. */
static JC_UNUSED void jc_pre_normalize(const uint8_t *crop, float *chw)
{
    static const float mean[3] = {(float)0.48145466, (float)0.4578275, (float)0.40821073};
    static const float stdv[3] = {(float)0.26862954, (float)0.26130258, (float)0.27577711};
    const size_t plane = (size_t)JC_PRE_SIZE * JC_PRE_SIZE;
    for (size_t i = 0; i < plane; i++) {
        for (int c = 0; c < 3; c++) {
            float x = (float)crop[3 * i + (size_t)c] / 255.0f;
            float t = x - mean[c];
            chw[(size_t)c * plane + i] = t / stdv[c];
        }
    }
}
