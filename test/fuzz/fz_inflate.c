/* test/fuzz/fz_inflate.c: image/inflate.c on arbitrary bytes. The input is used twice: as a
 * zlib stream (jc_infl_zlib, header + deflate + Adler-32) and, behind a valid zlib header, as a
 * raw deflate stream, so mutations reach the block decoder without first having to match a
 * checksum. The first byte picks the output capacity (1 .. 64 KiB) to exercise the
 * output-full path. Invariants: never more output than the capacity; deterministic. */
#ifndef FZ_IN_RUNNER
#include "../../jclip.c"
#endif
#include "fuzz.h"

static int fz_inflate(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t cap = ((size_t)data[0] + 1) * 256;
    data++; size--;
    static uint8_t out[(256 + 1) * 256], out2[(256 + 1) * 256];
    char err[256];
    size_t got = 0, used = 0, got2 = 0;
    int rc = jc_infl_zlib(data, size, out, cap, &got, &used, err, sizeof err);
    int rc2 = jc_infl_zlib(data, size, out2, cap, &got2, NULL, err, sizeof err);
    FZ_ASSERT(rc == rc2);
    if (rc == JCLIP_OK) FZ_ASSERT(got <= cap && used <= size && got == got2 && memcmp(out, out2, got) == 0);
    else FZ_ASSERT(got == 0);
    /* raw deflate: 78 01 header + the bytes; the Adler-32 rarely matches, but every block
     * type and table is decoded first */
    uint8_t *z = (uint8_t *)malloc(size + 2);
    FZ_ASSERT(z);
    z[0] = 0x78; z[1] = 0x01;
    memcpy(z + 2, data, size);
    rc = jc_infl_zlib(z, size + 2, out, cap, &got, &used, err, sizeof err);
    if (rc == JCLIP_OK) FZ_ASSERT(got <= cap && used <= size + 2);
    free(z);
    return 0;
}

#ifndef FZ_IN_RUNNER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_inflate(data, size); }
#endif
