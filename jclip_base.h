/* jclip_base.h: the lowest layer of the library, below everything else.
 *
 * Layers (each includes only what is below it):
 *
 *     jclip_base.h  <-  kernels/, tokenizer/, image/  <-  model/  <-  jclip.c (API)  <-  cli/
 *
 * This header holds what every layer needs: status codes, the allocator macros, the error
 * helper and overflow-checked size arithmetic. It does not include the public jclip.h: the
 * kernels, the tokenizer and the decoders know nothing of the API; model/ and jclip.c (which
 * do) check that the status codes below equal the public JCLIP_* ones.
 *
 * Nothing here is public. Every private identifier of the library starts with jc_ (macros
 * JC_), so the amalgamated jclip.c can share a translation unit with libpng, libjpeg or zlib.
 * Modules include this header themselves so that a test can compile one module alone. */
#ifndef JC_BASE_H
#define JC_BASE_H

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>  /* vsnprintf only: library code never prints */
#include <stdlib.h>
#include <string.h>

/* All-or-none allocator override (stb style). Define all three before including jclip.c to
 * route every allocation of the library through your own allocator. */
#if defined(JCLIP_MALLOC) && defined(JCLIP_FREE) && defined(JCLIP_REALLOC)
#elif !defined(JCLIP_MALLOC) && !defined(JCLIP_FREE) && !defined(JCLIP_REALLOC)
#define JCLIP_MALLOC(sz) malloc(sz)
#define JCLIP_REALLOC(p, sz) realloc(p, sz)
#define JCLIP_FREE(p) free(p)
#else
#error "define all of JCLIP_MALLOC, JCLIP_REALLOC and JCLIP_FREE, or none"
#endif

/* Status codes: the values of jclip.h's JCLIP_OK / JCLIP_ERR_* (0 success, negative failure). */
enum {
    JC_OK = 0,
    JC_ERR_ARG = -1,         /* invalid argument */
    JC_ERR_NOMEM = -2,       /* an allocation failed */
    JC_ERR_IO = -3,          /* a file could not be opened, read or mapped */
    JC_ERR_FORMAT = -4,      /* input is corrupt or not what it claims to be */
    JC_ERR_UNSUPPORTED = -5, /* valid input using a feature jclip does not implement */
    JC_ERR_LIMIT = -6,       /* input exceeds a limit */
    JC_ERR_TRUNCATED = -7,   /* input ends before its data is complete */
    JC_ERR_CAPACITY = -8,    /* output buffer too small */
    JC_ERR_THREAD = -9       /* a worker thread could not be started */
};

#if defined(__GNUC__) || defined(__clang__)
#define JC_UNUSED __attribute__((unused))
#define JC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define JC_UNUSED
#define JC_PRINTF(a, b)
#endif

/* Formats a message into err (capacity cap, may be NULL/0) and returns code, so that error
 * paths read `return jc_fail(err, cap, JC_ERR_FORMAT, "bad marker 0x%02x", m);`. */
static JC_UNUSED JC_PRINTF(4, 5) int jc_fail(char *err, size_t cap, int code, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Overflow-checked size arithmetic: return 1 and store the result when it fits. */
static JC_UNUSED int jc_mul(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static JC_UNUSED int jc_add(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}
static JC_UNUSED int jc_mul3(size_t a, size_t b, size_t c, size_t *out)
{
    size_t t;
    return jc_mul(a, b, &t) && jc_mul(t, c, out);
}

#endif /* JC_BASE_H */
