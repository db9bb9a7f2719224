/* test/fuzz/fuzz.h: shared by the fuzz targets (test code, never part of the library).
 *
 * Each target is a file test/fuzz/fz_<name>.c defining `static int fz_<name>(const uint8_t *,
 * size_t)`. Built alone it includes the library and defines LLVMFuzzerTestOneInput; included
 * by the test runner (FZ_IN_RUNNER defined) it only adds its function, so `make test` replays
 * test/crashers/<name>/ through exactly the code the fuzzer ran. */
#ifndef JCLIP_FUZZ_H
#define JCLIP_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant failed: crash loudly so libFuzzer records the input. */
#define FZ_ASSERT(c)                                                                  \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* Directory of the shared data: $JCLIP_SHARED, else ../shared (as the test runner). */
static __attribute__((unused)) const char *fz_shared(const char *rel, char *buf, size_t cap)
{
    const char *s = getenv("JCLIP_SHARED");
    snprintf(buf, cap, "%s/%s", (s && *s) ? s : "../shared", rel);
    return buf;
}

/* Whole file into a malloc'd buffer (NUL-terminated), NULL on failure. */
static __attribute__((unused)) char *fz_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    char *b = (char *)malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (!b) return NULL;
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

#endif
