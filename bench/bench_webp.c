/* bench/bench_webp.c: WebP decode throughput, jclip against libwebp 1.2.4, single thread.
 *
 * A benchmark, not a test: only this program links libwebp (Debian 12: apt-get install
 * libwebp-dev). `make bench-webp` builds and runs it; by hand, from the repository root:
 *
 *     cc -std=c11 -O2 -I. bench/bench_webp.c -o build/bench_webp -lwebp -lm -lpthread
 *     ./build/bench_webp                 # corpus photos (see below), 7 rounds
 *     ./build/bench_webp -n 15 a.webp    # just these files, 15 rounds
 *
 * Inputs: the still WebP files of $JCLIP_SHARED/testdata/images/webp of at least 0.25 MP, and
 * every photo of testdata/images/photos (JPEG/PNG, decoded by jclip) encoded in memory by
 * libwebp twice: lossy (WebPEncodeRGB, quality 75, its defaults) and lossless (quality 75,
 * method 4, i.e. cwebp -lossless defaults), the lossless ones for photos of at most 4 MP (the
 * encoder is slow). Each round decodes the same in-memory file once with each decoder,
 * alternating; the best round of N, in thread CPU time (the machine is shared), is reported as
 * megapixels of RGB8 output per second, with the ratio jclip / libwebp. libwebp decodes with
 * WebPDecodeRGBInto (fancy upsampling, no threads, its SSE2/SSE4.1 code). "same" says whether
 * both produced identical RGB bytes. */
#define _POSIX_C_SOURCE 200809L
#include "../jclip.c"

#include <dirent.h>
#include <time.h>
#include <webp/decode.h>
#include <webp/encode.h>

static double bw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint8_t *bw_read(const char *path, size_t *len)
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

static double bw_gm[2];
static int bw_ngm[2];

static void bw_bench(const char *name, const uint8_t *data, size_t len, int rounds)
{
    jc_image_info info;
    char err[256];
    if (jc_webp_info(data, len, &info, err, sizeof err) != 0) {
        printf("%-40s %s\n", name, err);
        return;
    }
    if (info.frames != 1) return;
    size_t cap = (size_t)info.width * info.height * 3;
    uint8_t *a = (uint8_t *)malloc(cap), *b = (uint8_t *)malloc(cap);
    double best_a = 1e30, best_b = 1e30;
    int fail = 0;
    for (int r = 0; r < rounds && !fail; r++) {
        double t0 = bw_now();
        fail |= jc_webp_decode(data, len, JCLIP_DEFAULT_MAX_PIXELS, a, cap, NULL, err, sizeof err) != 0;
        double t1 = bw_now();
        fail |= WebPDecodeRGBInto(data, len, b, cap, (int)info.width * 3) == NULL;
        double t2 = bw_now();
        if (t1 - t0 < best_a) best_a = t1 - t0;
        if (t2 - t1 < best_b) best_b = t2 - t1;
    }
    double mp = (double)info.width * info.height / 1e6;
    if (fail) {
        printf("%-40s decode failed (%s)\n", name, err);
    } else {
        double ra = mp / best_a, rb = mp / best_b;
        printf("%-40s %5ux%-5u %-8s %8.1f %8.1f %6.2f  %s\n", name, info.width, info.height, info.lossy ? "lossy" : "lossless", ra, rb,
               ra / rb, memcmp(a, b, cap) == 0 ? "yes" : "no");
        bw_gm[!info.lossy] += log(ra / rb);
        bw_ngm[!info.lossy]++;
    }
    free(a);
    free(b);
}

static int bw_cmp(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* Sorted names in dir ending with one of the suffixes (at most 256). */
static int bw_list(const char *dir, const char *const *suffixes, char **names)
{
    DIR *dp = opendir(dir);
    int n = 0;
    if (!dp) return 0;
    for (struct dirent *e; (e = readdir(dp)) && n < 256;) {
        size_t l = strlen(e->d_name);
        for (const char *const *s = suffixes; *s; s++) {
            size_t k = strlen(*s);
            if (l > k && strcmp(e->d_name + l - k, *s) == 0) {
                names[n++] = strdup(e->d_name);
                break;
            }
        }
    }
    closedir(dp);
    qsort(names, (size_t)n, sizeof *names, bw_cmp);
    return n;
}

static void bw_photo(const char *dir, const char *file, int rounds)
{
    char path[8192], name[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    size_t len;
    uint8_t *data = bw_read(path, &len);
    jc_image_info info;
    char err[256];
    if (!data || jc_img_info(data, len, &info, err, sizeof err) != 0 || (uint64_t)info.width * info.height > 40000000u) {
        free(data);
        return;
    }
    size_t cap = (size_t)info.width * info.height * 3;
    uint8_t *rgb = (uint8_t *)malloc(cap);
    if (rgb && jc_img_decode(data, len, JCLIP_DEFAULT_MAX_PIXELS, rgb, cap, &info, err, sizeof err) == 0) {
        uint8_t *out = NULL;
        size_t n = WebPEncodeRGB(rgb, (int)info.width, (int)info.height, (int)info.width * 3, 75.0f, &out);
        snprintf(name, sizeof name, "%s (q75)", file);
        if (n) bw_bench(name, out, n, rounds);
        WebPFree(out);
        if ((uint64_t)info.width * info.height <= 4000000u) {
            n = WebPEncodeLosslessRGB(rgb, (int)info.width, (int)info.height, (int)info.width * 3, &out);
            snprintf(name, sizeof name, "%s (lossless)", file);
            if (n) bw_bench(name, out, n, rounds);
            WebPFree(out);
        }
    }
    free(rgb);
    free(data);
}

int main(int argc, char **argv)
{
    int rounds = 7, first = 1;
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        rounds = atoi(argv[2]);
        if (rounds < 1) rounds = 1;
        first = 3;
    }
    printf("%-40s %-11s %-8s %8s %8s %6s  %s\n", "file", "size", "kind", "jclip", "libwebp", "ratio", "same");
    printf("%-40s %-11s %-8s %8s %8s\n", "", "", "", "MP/s", "MP/s");
    if (argc > first) {
        for (int i = first; i < argc; i++) {
            size_t len;
            uint8_t *data = bw_read(argv[i], &len);
            if (data) bw_bench(argv[i], data, len, rounds);
            free(data);
        }
    } else {
        const char *sh = getenv("JCLIP_SHARED");
        char dir[4096];
        char *names[256];
        static const char *const webp_ext[] = {".webp", NULL}, *const photo_ext[] = {".jpg", ".png", NULL};
        snprintf(dir, sizeof dir, "%s/testdata/images/webp", sh && *sh ? sh : "../shared");
        int n = bw_list(dir, webp_ext, names);
        for (int i = 0; i < n; i++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            size_t len;
            uint8_t *data = bw_read(path, &len);
            jc_image_info info;
            char err[256];
            if (data && jc_webp_info(data, len, &info, err, sizeof err) == 0 && (uint64_t)info.width * info.height >= 250000u)
                bw_bench(names[i], data, len, rounds);
            free(data);
            free(names[i]);
        }
        snprintf(dir, sizeof dir, "%s/testdata/images/photos", sh && *sh ? sh : "../shared");
        n = bw_list(dir, photo_ext, names);
        if (n == 0) fprintf(stderr, "no photos in %s\n", dir);
        for (int i = 0; i < n; i++) {
            bw_photo(dir, names[i], rounds);
            free(names[i]);
        }
    }
    if (bw_ngm[0]) printf("geometric mean of jclip / libwebp, lossy:    %.2f (%d files)\n", exp(bw_gm[0] / bw_ngm[0]), bw_ngm[0]);
    if (bw_ngm[1]) printf("geometric mean of jclip / libwebp, lossless: %.2f (%d files)\n", exp(bw_gm[1] / bw_ngm[1]), bw_ngm[1]);
    return 0;
}
