/* kernels/cpu.c: which kernel tables this CPU can run, and the choice among them.
 *
 * x86-64: cpuid for the instruction sets plus XGETBV for whether the OS saves the registers
 * they need (YMM state for AVX2, opmask and ZMM state for AVX-512); a CPU can support AVX-512
 * while the OS (or a hypervisor) leaves it off. aarch64: NEON is part of the baseline. */
#include "kernels.h"
#include "scalar.c"
#include "avx2.c"
#include "avx512.c"
#include "neon.c"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

static uint64_t jc_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

/* Bit 0: AVX2 + FMA usable; bit 1: AVX-512F usable. */
static int jc_cpu_x86_features(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return 0;
    uint64_t xcr0 = jc_xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0; /* SSE + YMM state */
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int f = 0;
    if (((b >> 5) & 1) && fma) f |= 1;                          /* AVX2 */
    if (((b >> 16) & 1) && fma && (xcr0 & 0xE0) == 0xE0) f |= 2; /* AVX-512F + opmask/ZMM state */
    return f;
}
#endif

/* The tables this CPU can run, best first; returns how many (at most cap). */
static int jc_cpu_tables(const jc_ops **out, int cap)
{
    int n = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    int f = jc_cpu_x86_features();
    if ((f & 2) && n < cap) out[n++] = &jc_avx512_ops;
    if ((f & 1) && n < cap) out[n++] = &jc_avx2_ops;
#endif
#if defined(__aarch64__)
    if (n < cap) out[n++] = &jc_neon_ops;
#endif
    if (n < cap) out[n++] = &jc_scalar_ops;
    return n;
}

/* The JPEG decoder's SIMD pixel stages for this CPU, or NULL for its scalar code (image/jpeg.c).
 * JCLIP_ISA=scalar forces the scalar code; the AVX2 stages serve the avx2 and avx512 choices. */
static JC_UNUSED const jc_jpeg_ops *jc_cpu_jpeg_ops(void)
{
    const char *want = getenv("JCLIP_ISA");
    if (want && strcmp(want, "scalar") == 0) return NULL;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (jc_cpu_x86_features() & 1) return &jc_avx2_jpeg_ops;
#endif
    return NULL;
}
