/* bench/bench_jpeg.c: JPEG decode throughput, jclip against libjpeg-turbo, single thread.
 *
 * A benchmark, not a test: only this program links libjpeg (Debian 12: apt-get install
 * libjpeg62-turbo-dev). Build and run from the repository root:
 *
 *     mkdir -p build && cc -std=c11 -O2 -I. bench/bench_jpeg.c -o build/bench_jpeg -ljpeg -lm
 *     ./build/bench_jpeg                  # every *.jpg in $JCLIP_SHARED/testdata/images/photos
 *     ./build/bench_jpeg -n 21 a.jpg      # just these files, 21 rounds
 *     JSIMD_FORCENONE=1 ./build/bench_jpeg # against libjpeg-turbo's plain-C code paths
 *
 * Each round decodes the same in-memory file once with each decoder, alternating, so that both
 * see the same machine load (the CPUs are shared); the best round of N (default 9) is reported
 * as megapixels of RGB8 output per second, and the ratio jclip / libjpeg-turbo. libjpeg-turbo
 * runs with its defaults (islow IDCT, fancy upsampling, its SIMD if the build has it) into
 * JCS_RGB. The "same" column says whether both produced identical RGB bytes. */
#define _POSIX_C_SOURCE 200809L
#include "../jclip.c"

#include <dirent.h>
#include <jpeglib.h>
#include <setjmp.h>
#include <time.h>

static double bj_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
} bj_err;

static void bj_exit(j_common_ptr ci) { longjmp(((bj_err *)ci->err)->jb, 1); }
static void bj_quiet(j_common_ptr ci, int level) { (void)ci; (void)level; }

static int bj_libjpeg(const uint8_t *data, size_t len, uint8_t *rgb, size_t cap)
{
    struct jpeg_decompress_struct ci;
    bj_err je;
    ci.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = bj_exit;
    je.mgr.emit_message = bj_quiet;
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
        JSAMPROW rows[16];
        int n = 0;
        for (; n < 16 && ci.output_scanline + n < ci.output_height; n++) rows[n] = rgb + (size_t)(ci.output_scanline + n) * stride;
        jpeg_read_scanlines(&ci, rows, (JDIMENSION)n);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    return 0;
}

static int bj_jclip(const uint8_t *data, size_t len, uint8_t *rgb, size_t cap)
{
    char err[256];
    return jc_jpeg_decode(data, len, JCLIP_DEFAULT_MAX_PIXELS, rgb, cap, NULL, err, sizeof err);
}

static uint8_t *bj_read(const char *path, size_t *len)
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

static void bj_file(const char *path, int rounds, double *gm, int *ngm)
{
    size_t len;
    uint8_t *data = bj_read(path, &len);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!data) {
        printf("%-34s cannot read\n", name);
        return;
    }
    jc_image_info info;
    char err[256];
    if (jc_jpeg_info(data, len, &info, err, sizeof err) != 0) {
        printf("%-34s %s\n", name, err);
        free(data);
        return;
    }
    size_t cap = (size_t)info.width * info.height * 3;
    uint8_t *a = (uint8_t *)malloc(cap), *b = (uint8_t *)malloc(cap);
    double best_a = 1e30, best_b = 1e30;
    int fail = 0;
    for (int r = 0; r < rounds && !fail; r++) {
        double t0 = bj_now();
        fail |= bj_jclip(data, len, a, cap) != 0;
        double t1 = bj_now();
        fail |= bj_libjpeg(data, len, b, cap) != 0;
        double t2 = bj_now();
        if (t1 - t0 < best_a) best_a = t1 - t0;
        if (t2 - t1 < best_b) best_b = t2 - t1;
    }
    double mp = (double)info.width * info.height / 1e6;
    if (fail) {
        printf("%-34s decode failed\n", name);
    } else {
        double ra = mp / best_a, rb = mp / best_b;
        printf("%-34s %5ux%-5u %-15s %-4s %8.1f %8.1f %6.2f  %s\n", name, info.width, info.height, info.sampling,
               info.progressive ? "prog" : "base", ra, rb, ra / rb, memcmp(a, b, cap) == 0 ? "yes" : "no");
        *gm += log(ra / rb);
        (*ngm)++;
    }
    free(a);
    free(b);
    free(data);
}

static int bj_cmp(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

int main(int argc, char **argv)
{
    int rounds = 9, first = 1;
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        rounds = atoi(argv[2]);
        if (rounds < 1) rounds = 1;
        first = 3;
    }
    printf("%-34s %-11s %-15s %-4s %8s %8s %6s  %s\n", "file", "size", "sampling", "mode", "jclip", "libjpeg", "ratio", "same");
    printf("%-34s %-11s %-15s %-4s %8s %8s\n", "", "", "", "", "MP/s", "MP/s");
    double gm = 0;
    int ngm = 0;
    if (argc > first) {
        for (int i = first; i < argc; i++) bj_file(argv[i], rounds, &gm, &ngm);
    } else {
        const char *sh = getenv("JCLIP_SHARED");
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/testdata/images/photos", sh && *sh ? sh : "../shared");
        DIR *dp = opendir(dir);
        if (!dp) {
            fprintf(stderr, "cannot open %s\n", dir);
            return 1;
        }
        char *names[256];
        int n = 0;
        for (struct dirent *e; (e = readdir(dp)) && n < 256;) {
            size_t l = strlen(e->d_name);
            if (l > 4 && strcmp(e->d_name + l - 4, ".jpg") == 0) names[n++] = strdup(e->d_name);
        }
        closedir(dp);
        qsort(names, (size_t)n, sizeof *names, bj_cmp);
        for (int i = 0; i < n; i++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            bj_file(path, rounds, &gm, &ngm);
            free(names[i]);
        }
    }
    if (ngm) printf("geometric mean of jclip / libjpeg-turbo: %.2f\n", exp(gm / ngm));
    return 0;
}
