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

/* Bit 0: AVX2 + FMA usable; bit 1: AVX-512 F + BW + VL usable (every AVX-512 CPU but the Xeon
 * Phis; the bf16/q8 kernels need BW and VL); bit 2: AVX512_BF16; bit 3: AVX512_VNNI (bits 2-3
 * only with bit 1). */
static int jc_cpu_x86_features(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return 0;
    uint64_t xcr0 = jc_xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0; /* SSE + YMM state */
    unsigned maxleaf = __get_cpuid_max(0, NULL);
    if (maxleaf < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int f = 0;
    if (((b >> 5) & 1) && fma) f |= 1; /* AVX2 */
    /* AVX-512 F (EBX 16), BW (EBX 30), VL (EBX 31) + opmask/ZMM state */
    if (((b >> 16) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1) && fma && (xcr0 & 0xE0) == 0xE0) {
        f |= 2;
        if ((c >> 11) & 1) f |= 8; /* AVX512_VNNI: CPUID.(7,0):ECX bit 11 */
        unsigned max7 = a;
        if (max7 >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            if ((a >> 5) & 1) f |= 4; /* AVX512_BF16: CPUID.(7,1):EAX bit 5 */
        }
    }
    return f;
}
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
static int jc_cpu_x86_intel(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    return b == 0x756E6547u && d == 0x49656E69u && c == 0x6C65746Eu; /* "GenuineIntel" */
}
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

/* JCLIP_NO_BF16 / JCLIP_NO_VNNI set (and not "0"): the tables' widening fallbacks instead of the
 * bf16 / int8 dot-product instructions (vdpbf16ps, BFDOT / vpdpbusd, SDOT), e.g. to test them
 * on a CPU that has the extensions. Results do not change (except NEON bf16: kernels.h). */
static int jc_cpu_env_off(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* Every table this CPU can run, the variants with fallbacks included, best first (the test
 * suite checks them all against scalar); returns how many (at most cap). */
static int jc_cpu_variants(const jc_ops **out, int cap)
{
    int n = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    int f = jc_cpu_x86_features();
    if (f & 2) {
        int bf = (f & 4) != 0, vn = (f & 8) != 0;
        /* Both bf16 paths give the same bits; which is faster depends on the core. On Intel
         * (measured: Sapphire Rapids, 2 vCPUs) vdpbf16ps issues at half the FMA rate, so the
         * widened-FMA kernel is ahead at every shape (M = 197: 105-133 vs 77-80 GFLOP/s, M = 8:
         * 91-98 vs 81-93, one thread); on AMD Zen 4 vdpbf16ps runs at twice the FMA rate. */
        if (jc_cpu_x86_intel() && vn && n < cap) out[n++] = &jc_avx512_nobf16_ops;
        if (bf && vn && n < cap) out[n++] = &jc_avx512_ops;
        if (!jc_cpu_x86_intel() && vn && n < cap) out[n++] = &jc_avx512_nobf16_ops;
        if (bf && n < cap) out[n++] = &jc_avx512_novnni_ops;
        if (n < cap) out[n++] = &jc_avx512_plain_ops;
    }
    if ((f & 1) && n < cap) out[n++] = &jc_avx2_ops;
#endif
#if defined(__aarch64__)
    {
        int bf = 0, dp = 0;
#if defined(__linux__)
        unsigned long h1 = getauxval(AT_HWCAP), h2 = getauxval(AT_HWCAP2);
        dp = (h1 >> 20) & 1; /* HWCAP_ASIMDDP */
        bf = (h2 >> 14) & 1; /* HWCAP2_BF16 */
#endif
        if (bf && dp && n < cap) out[n++] = &jc_neon_ops;
        if (dp && n < cap) out[n++] = &jc_neon_nobf16_ops;
        if (bf && n < cap) out[n++] = &jc_neon_nodot_ops;
        if (n < cap) out[n++] = &jc_neon_plain_ops;
    }
#endif
    if (n < cap) out[n++] = &jc_scalar_ops;
    return n;
}

/* The tables this CPU can run, best first, one per instruction set (the best variant that
 * JCLIP_NO_BF16 / JCLIP_NO_VNNI allow); returns how many (at most cap). */
static int jc_cpu_tables(const jc_ops **out, int cap)
{
    const jc_ops *all[16];
    int na = jc_cpu_variants(all, 16), n = 0;
    int no_bf = jc_cpu_env_off("JCLIP_NO_BF16"), no_vn = jc_cpu_env_off("JCLIP_NO_VNNI");
    for (int i = 0; i < na && n < cap; i++) {
        const char *v = all[i]->variant;
        int is_bf = strstr(v, "vdpbf16ps") || strstr(v, "bfdot"), is_vn = strstr(v, "vpdpbusd") || strstr(v, "sdot");
        if ((no_bf && is_bf) || (no_vn && is_vn)) continue;
        if (n > 0 && strcmp(out[n - 1]->name, all[i]->name) == 0) continue; /* one per ISA */
        out[n++] = all[i];
    }
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

/* The WebP lossy decoder's SIMD pixel stages for this CPU, or NULL for its scalar code
 * (image/vp8.c). JCLIP_ISA=scalar forces the scalar code; the AVX2 stages serve the avx2 and
 * avx512 choices, NEON every aarch64 CPU. */
static JC_UNUSED const jc_vp8_ops *jc_cpu_vp8_ops(void)
{
    const char *want = getenv("JCLIP_ISA");
    if (want && strcmp(want, "scalar") == 0) return NULL;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (jc_cpu_x86_features() & 1) return &jc_avx2_vp8_ops;
#endif
#if defined(__aarch64__)
    return &jc_neon_vp8_ops; /* NEON is baseline on aarch64 */
#else
    return NULL;
#endif
}
