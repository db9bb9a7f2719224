/* test/test.h: the test runner's checks and helpers (test code only, never in the library). */
#ifndef JCLIP_TEST_H
#define JCLIP_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_passed, t_failed;

/* One counted check. On failure prints the location and a printf-style reason to stderr. */
#define T_CHECK(cond, ...)                                                                    \
    do {                                                                                      \
        if (cond) {                                                                           \
            t_passed++;                                                                       \
        } else {                                                                              \
            t_failed++;                                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
        }                                                                                     \
    } while (0)

/* Informational line, shown in the runner's output (figures such as "15000/15000 identical"). */
#define T_NOTE(...) do { printf("  "); printf(__VA_ARGS__); putchar('\n'); fflush(stdout); } while (0)

/* Directory of the shared test data: $JCLIP_SHARED, else ../shared. */
static __attribute__((unused)) const char *t_shared_dir(void)
{
    const char *s = getenv("JCLIP_SHARED");
    return (s && *s) ? s : "../shared";
}

/* Builds "<shared>/<rel>" into a static buffer (valid until the next call). */
static __attribute__((unused)) const char *t_shared(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", t_shared_dir(), rel);
    return buf;
}

/* Reads a whole file into a malloc'd, NUL-terminated buffer; NULL if it cannot be read. */
static __attribute__((unused)) char *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = (char *)malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = (char *)realloc(buf, cap * 2 + 1);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Returns 1 when the shared data directory is present; otherwise counts one failure that says
 * how to provide it (the goldens are required, not optional). */
static __attribute__((unused)) int t_need_shared(const char *rel)
{
    FILE *f = fopen(t_shared(rel), "rb");
    if (f) { fclose(f); return 1; }
    T_CHECK(0, "shared test data missing: %s (set JCLIP_SHARED to the shared/ directory)", t_shared(rel));
    return 0;
}

#endif
