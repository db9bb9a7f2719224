/* bench/bench_decode.c: decode throughput of jclip against libjpeg-turbo and libpng.
 *
 * A benchmark, not a test: only this program links the system libraries (Debian 12:
 * apt-get install libjpeg62-turbo-dev libpng-dev). Build and run from the repository root:
 *
 *     mkdir -p build && cc -std=c11 -O2 -I. bench/bench_decode.c -o build/bench_decode -ljpeg -lpng -lm
 *     ./build/bench_decode                 # every photo, then a few png/gen files
 *     ./build/bench_decode a.png b.jpg     # just these files
 *
 * Shared data is read from $JCLIP_SHARED (default ../shared). Single thread. Each decoder runs
 * best-of-N on the same in-memory file (N from 3 to 15, about 0.25 s per decoder and file) and
 * the fastest run is reported as megapixels per second of RGB8 output. The reference decoders
 * are configured to produce what jclip produces: libjpeg-turbo with its defaults (islow IDCT,
 * fancy upsampling) into JCS_RGB; libpng with strip_16 / strip_alpha / palette_to_rgb /
 * expand_gray_1_2_4_to_8 / gray_to_rgb and interlace handling, CRC and Adler-32 checks on. */
#define _POSIX_C_SOURCE 200809L
#include "../jclip.c"

#include <dirent.h>
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <time.h>

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- libjpeg-turbo ---- */
typedef struct {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
} bench_jerr;

static void bench_jpeg_exit(j_common_ptr cinfo)
{
    longjmp(((bench_jerr *)cinfo->err)->jb, 1);
}
static void bench_jpeg_quiet(j_common_ptr cinfo, int level)
{
    (void)cinfo;
    (void)level;
}

static int bench_libjpeg(const uint8_t *data, size_t len, uint8_t *rgb, size_t cap)
{
    struct jpeg_decompress_struct ci;
    bench_jerr je;
    ci.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = bench_jpeg_exit;
    je.mgr.emit_message = bench_jpeg_quiet;
    if (setjmp(je.jb)) {
        jpeg_destroy_decompress(&ci);
        return -1;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, data, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    ci.out_color_space = JCS_RGB;
    jpeg_start_decompress(&ci);
    size_t stride = (size_t)ci.output_width * 3;
    if (stride * ci.output_height > cap || ci.output_components != 3) {
        jpeg_destroy_decompress(&ci);
        return -1;
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = rgb + (size_t)ci.output_scanline * stride;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    return 0;
}

/* Image size from libjpeg's header reader (0x0 on error). */
static void bench_jpeg_size(const uint8_t *data, size_t len, size_t *w, size_t *h)
{
    struct jpeg_decompress_struct ci;
    bench_jerr je;
    *w = *h = 0;
    ci.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = bench_jpeg_exit;
    je.mgr.emit_message = bench_jpeg_quiet;
    if (setjmp(je.jb) == 0) {
        jpeg_create_decompress(&ci);
        jpeg_mem_src(&ci, data, (unsigned long)len);
        jpeg_read_header(&ci, TRUE);
        *w = ci.image_width;
        *h = ci.image_height;
    }
    jpeg_destroy_decompress(&ci);
}

/* ---- libpng ---- */
typedef struct {
    const uint8_t *p;
    size_t left;
} bench_pngsrc;

static void bench_png_read(png_structp png, png_bytep out, png_size_t n)
{
    bench_pngsrc *s = (bench_pngsrc *)png_get_io_ptr(png);
    if (n > s->left) png_error(png, "read past end");
    memcpy(out, s->p, n);
    s->p += n;
    s->left -= n;
}

static void bench_png_warn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static int bench_libpng(const uint8_t *data, size_t len, uint8_t *rgb, size_t cap)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, bench_png_warn);
    if (!png) return -1;
    png_infop info = png_create_info_struct(png);
    png_bytep *rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    bench_pngsrc src = {data, len};
    png_set_read_fn(png, &src, bench_png_read);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int ct = png_get_color_type(png, info), bd = png_get_bit_depth(png, info);
    if (bd == 16) png_set_strip_16(png);
    if (ct & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) && bd < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if ((size_t)w * h * 3 > cap || png_get_rowbytes(png, info) != (size_t)w * 3) png_error(png, "unexpected layout");
    rows = (png_bytep *)malloc(sizeof *rows * h);
    if (!rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = rgb + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

/* ---- driver ---- */
static const char *bench_shared(void)
{
    const char *s = getenv("JCLIP_SHARED");
    return s && *s ? s : "../shared";
}

static uint8_t *bench_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = n > 0 ? (uint8_t *)malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

typedef int (*bench_fn)(const uint8_t *, size_t, uint8_t *, size_t);

static int bench_jclip(const uint8_t *data, size_t len, uint8_t *rgb, size_t cap)
{
    char err[256];
    return jc_img_decode(data, len, JCLIP_DEFAULT_MAX_PIXELS, rgb, cap, NULL, err, sizeof err);
}

/* Best-of-N seconds, or -1 on a decode failure. */
static double bench_time(bench_fn fn, const uint8_t *data, size_t len, uint8_t *rgb, size_t cap)
{
    double best = 1e30, spent = 0;
    for (int i = 0; i < 15 && (i < 3 || spent < 0.25); i++) {
        double t0 = bench_now();
        if (fn(data, len, rgb, cap) != 0) return -1;
        double dt = bench_now() - t0;
        spent += dt;
        if (dt < best) best = dt;
    }
    return best;
}

static void bench_file(const char *path, double *sum_ours, double *sum_ref, int *n_png, int *n_jpg)
{
    size_t len;
    uint8_t *data = bench_read(path, &len);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!data) {
        printf("%-34s cannot read\n", name);
        return;
    }
    jclip_image_info info;
    char err[256];
    int rc = jc_img_info(data, len, &info, err, sizeof err);
    int is_png = len >= 4 && data[0] == 0x89 && data[1] == 'P';
    if (rc != JCLIP_OK && is_png) {
        printf("%-34s header: %s\n", name, err);
        free(data);
        return;
    }
    size_t w = 0, h = 0;
    if (rc == JCLIP_OK) {
        w = info.width;
        h = info.height;
    } else {
        /* jclip cannot read this JPEG header (yet): ask libjpeg for the size. */
        bench_jpeg_size(data, len, &w, &h);
    }
    size_t cap = w * h * 3;
    uint8_t *a = (uint8_t *)malloc(cap ? cap : 1), *b = (uint8_t *)malloc(cap ? cap : 1);
    if (!a || !b || !cap) {
        printf("%-34s no memory / no size\n", name);
        free(a);
        free(b);
        free(data);
        return;
    }
    double t_ref = bench_time(is_png ? bench_libpng : bench_libjpeg, data, len, b, cap);
    double t_ours = bench_time(bench_jclip, data, len, a, cap);
    double mp = (double)w * h / 1e6;
    printf("%-34s %5zux%-5zu %6.2f MP  %-4s", name, w, h, mp, is_png ? "png" : "jpeg");
    if (t_ours > 0) printf("  jclip %8.1f MP/s", mp / t_ours);
    else printf("  jclip %10s", bench_jclip(data, len, a, cap) == JCLIP_ERR_UNSUPPORTED ? "unsupp." : "error");
    if (t_ref > 0) printf("  %s %8.1f MP/s", is_png ? "libpng " : "libjpeg", mp / t_ref);
    else printf("  %s %8s", is_png ? "libpng " : "libjpeg", "error");
    if (t_ours > 0 && t_ref > 0) {
        printf("  x%.2f  %s", t_ref / t_ours, memcmp(a, b, cap) == 0 ? "same pixels" : "pixels differ");
        if (is_png) { *sum_ours += t_ours; *sum_ref += t_ref; ++*n_png; }
        else ++*n_jpg;
    }
    printf("\n");
    fflush(stdout);
    free(a);
    free(b);
    free(data);
}

static int bench_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

int main(int argc, char **argv)
{
    double so = 0, sr = 0;
    int np = 0, nj = 0;
    printf("single thread, best of N; x = speed relative to the reference decoder (>1: jclip faster)\n");
    if (argc > 1) {
        for (int i = 1; i < argc; i++) bench_file(argv[i], &so, &sr, &np, &nj);
    } else {
        char dir[2048], path[4096];
        snprintf(dir, sizeof dir, "%s/testdata/images/photos", bench_shared());
        DIR *d = opendir(dir);
        if (!d) {
            fprintf(stderr, "cannot open %s (set JCLIP_SHARED)\n", dir);
            return 1;
        }
        char *names[256];
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < 256) {
            size_t l = strlen(de->d_name);
            if (l > 4 && (strcmp(de->d_name + l - 4, ".jpg") == 0 || strcmp(de->d_name + l - 4, ".png") == 0))
                names[n++] = strdup(de->d_name);
        }
        closedir(d);
        qsort(names, (size_t)n, sizeof names[0], bench_cmp);
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            bench_file(path, &so, &sr, &np, &nj);
            free(names[i]);
        }
        static const char *gen[] = {"bus_1008x756_rgb8.png", "bus_1008x756_rgb8_adam7.png", "chelsea_rgba8.png", "chelsea_pal8.png",
                                    "chelsea_gray8.png", "chelsea_rgb16.png", "chelsea_rgb8_level1.png", "ljt_monkey16_rgb16.png"};
        for (size_t i = 0; i < sizeof gen / sizeof gen[0]; i++) {
            snprintf(path, sizeof path, "%s/testdata/images/png/gen/%s", bench_shared(), gen[i]);
            bench_file(path, &so, &sr, &np, &nj);
        }
    }
    if (np) printf("PNG total: jclip %.1f ms, libpng %.1f ms over %d files (x%.2f)\n", so * 1e3, sr * 1e3, np, sr / so);
    return 0;
}
