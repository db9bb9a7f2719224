/* jclip_impl.h: private definitions shared by every module of the unity build.
 *
 * jclip.c includes this first, then kernels/, tokenizer/ and image/ sources in dependency
 * order. Nothing here is part of the public API: every function is static and every name
 * starts with jc_ (or a module prefix). Modules include this header themselves so that a
 * test can compile one module alone. */
#ifndef JCLIP_IMPL_H
#define JCLIP_IMPL_H

#include "jclip.h"

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

#if defined(__GNUC__) || defined(__clang__)
#define JC_UNUSED __attribute__((unused))
#define JC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define JC_UNUSED
#define JC_PRINTF(a, b)
#endif

/* Formats a message into err (capacity cap, may be NULL/0) and returns code, so that error
 * paths read `return jc_fail(err, cap, JCLIP_ERR_FORMAT, "bad marker 0x%02x", m);`. */
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

#endif /* JCLIP_IMPL_H */
