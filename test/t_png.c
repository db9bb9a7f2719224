/* test/t_png.c: png suite (included by test/run.c): inflate unit tests, the PNG corpus against
 * Pillow 9.4's convert('RGB') (shared/golden/images/decode.json), the format dispatcher, and a
 * small mutation fuzz of inflate and of a PNG with recomputed CRCs (no crash, no hang). */
#include "t_png_vectors.h"

/* Corpus files on which jclip's outcome differs from pil.status, and why. jclip verifies every
 * CRC, requires the zlib stream to hold exactly the image data and to end with its Adler-32,
 * requires IEND, and refuses structural errors that Pillow (which streams IDAT and stops as
 * soon as the rows are full) lets through. `ours` is the status jclip must return; JCLIP_OK
 * marks a file Pillow refuses and jclip decodes (its pixels are then checked against libpng). */
typedef struct {
    const char *path;
    int ours;
    const char *why;
} t_png_divergence;

static const t_png_divergence t_png_divergences[] = {
    /* Pillow ok, jclip error. */
    {"malformed/derived/png_data_extra_bytes.png", JCLIP_ERR_FORMAT, "zlib data 1000 bytes longer than the image (Pillow ignores the excess)"},
    {"malformed/derived/png_data_one_row_short.png", JCLIP_ERR_TRUNCATED, "zlib data one row short (Pillow leaves the last row black)"},
    {"malformed/derived/png_idat_crc_bad.png", JCLIP_ERR_FORMAT, "IDAT CRC wrong (Pillow does not check IDAT CRCs)"},
    {"malformed/derived/png_iend_missing.png", JCLIP_ERR_TRUNCATED, "no IEND"},
    {"malformed/derived/png_trunc_before_iend.png", JCLIP_ERR_TRUNCATED, "file ends before IEND"},
    {"malformed/derived/png_ihdr_compression1.png", JCLIP_ERR_UNSUPPORTED, "IHDR compression method 1 (Pillow ignores the field)"},
    {"malformed/derived/png_pal_plte_after_idat.png", JCLIP_ERR_FORMAT, "PLTE after IDAT (Pillow decodes with its gray ramp palette)"},
    {"malformed/derived/png_pal_plte_missing.png", JCLIP_ERR_FORMAT, "palette image without PLTE (Pillow: gray ramp)"},
    {"malformed/derived/png_pal_plte_len_not_mult3.png", JCLIP_ERR_FORMAT, "PLTE length 13"},
    {"malformed/derived/png_unknown_critical_chunk.png", JCLIP_ERR_UNSUPPORTED, "unknown critical chunk ABCD (Pillow skips it)"},
    {"malformed/derived/png_zlib_no_adler.png", JCLIP_ERR_TRUNCATED, "zlib Adler-32 missing (Pillow stops before it)"},
    {"malformed/public/libpng-crashers/badcrc.png", JCLIP_ERR_FORMAT, "IDAT CRC wrong"},
    {"malformed/public/libpng-crashers/huge_IDAT.png", JCLIP_ERR_TRUNCATED, "IDAT length 2^30-1 in a 79-byte file"},
    {"pngsuite/xcsn0g01.png", JCLIP_ERR_FORMAT, "IDAT CRC wrong"},
    /* Pillow error, jclip ok (pixels equal libpng's). */
    {"malformed/public/libpng-crashers/empty_ancillary_chunks.png", JCLIP_OK,
     "zero-length bKGD/cHRM/iCCP/tEXt/...: Pillow's chunk handlers raise, libpng warns; ancillary chunks do not change RGB"},
};

static const t_png_divergence *t_png_find_divergence(const char *path)
{
    for (size_t i = 0; i < sizeof t_png_divergences / sizeof t_png_divergences[0]; i++)
        if (strcmp(t_png_divergences[i].path, path) == 0) return &t_png_divergences[i];
    return NULL;
}

static const char *t_png_shared_rel(const char *corpus_rel)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "testdata/images/%s", corpus_rel);
    return buf;
}

/* Decodes a zlib stream into a buffer of exactly `cap` bytes. */
static int t_inflate(const uint8_t *z, size_t n, uint8_t **out, size_t cap, size_t *got)
{
    char err[200];
    *out = (uint8_t *)malloc(cap ? cap : 1);
    if (!*out) return JCLIP_ERR_NOMEM;
    return jc_infl_zlib(z, n, *out, cap, got, NULL, err, sizeof err);
}

static void t_png_inflate_units(void)
{
    uint8_t *out;
    size_t got = 0, used = 0;
    int rc;
    char err[200];

    rc = t_inflate(tinf_stored, sizeof tinf_stored, &out, 19, &got);
    T_CHECK(rc == JCLIP_OK && got == 19 && memcmp(out, "hello, stored block", 19) == 0, "stored block: rc %d got %zu", rc, got);
    free(out);
    rc = t_inflate(tinf_fixed, sizeof tinf_fixed, &out, 30, &got);
    T_CHECK(rc == JCLIP_OK && got == 30 && memcmp(out, "abcabcabcabc hello hello hello", 30) == 0, "fixed block: rc %d got %zu", rc, got);
    free(out);

    /* The dynamic-block text, rebuilt here. */
    char *text = (char *)malloc(20000);
    size_t tn = 0;
    for (int i = 0; i < 200; i++)
        tn += (size_t)snprintf(text + tn, 20000 - tn, "the quick brown fox %d jumps over the lazy dog %d\n", i, i * i % 97);
    T_CHECK(tn == 10056, "dynamic text length %zu", tn);
    out = (uint8_t *)malloc(tn);
    rc = jc_infl_zlib(tinf_dynamic, sizeof tinf_dynamic, out, tn, &got, &used, err, sizeof err);
    T_CHECK(rc == JCLIP_OK && got == tn && used == sizeof tinf_dynamic && memcmp(out, text, tn) == 0,
            "dynamic block: rc %d (%s) got %zu used %zu", rc, rc ? err : "", got, used);
    /* Output one byte short: refused, never written past the capacity (ASan would see it). */
    rc = jc_infl_zlib(tinf_dynamic, sizeof tinf_dynamic, out, tn - 1, &got, NULL, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_FORMAT, "dynamic into cap-1: rc %d", rc);
    free(out);

    rc = t_inflate(tinf_zeros, sizeof tinf_zeros, &out, 100000, &got);
    int zeros_ok = rc == JCLIP_OK && got == 100000;
    for (size_t i = 0; zeros_ok && i < got; i++) zeros_ok = out[i] == 0;
    T_CHECK(zeros_ok, "100000 zeros: rc %d got %zu", rc, got);
    free(out);
    rc = t_inflate(tinf_abc, sizeof tinf_abc, &out, 41000, &got);
    int abc_ok = rc == JCLIP_OK && got == 41000;
    for (size_t i = 0; abc_ok && i < 35000; i++) abc_ok = out[i] == "abcdefg"[i % 7];
    for (size_t i = 35000; abc_ok && i < 41000; i++) abc_ok = out[i] == "xy"[i % 2];
    T_CHECK(abc_ok, "short-period copies: rc %d got %zu", rc, got);
    free(out);

    /* Malformed streams. */
    uint8_t bad[1024];
    memcpy(bad, tinf_dynamic, sizeof tinf_dynamic);
    bad[sizeof tinf_dynamic - 1] ^= 1;
    rc = t_inflate(bad, sizeof tinf_dynamic, &out, tn, &got);
    T_CHECK(rc == JCLIP_ERR_FORMAT, "corrupted Adler-32: rc %d", rc);
    free(out);
    rc = t_inflate(tinf_dynamic, sizeof tinf_dynamic - 1, &out, tn, &got);
    T_CHECK(rc == JCLIP_ERR_TRUNCATED, "Adler-32 cut by one byte: rc %d", rc);
    free(out);
    rc = t_inflate(tinf_dynamic, sizeof tinf_dynamic / 2, &out, tn, &got);
    T_CHECK(rc == JCLIP_ERR_TRUNCATED, "stream cut in half: rc %d", rc);
    free(out);
    rc = t_inflate(tinf_far, sizeof tinf_far, &out, 100, &got);
    T_CHECK(rc == JCLIP_ERR_FORMAT, "distance too far back: rc %d", rc);
    free(out);
    rc = t_inflate(tinf_over, sizeof tinf_over, &out, 100, &got);
    T_CHECK(rc == JCLIP_ERR_FORMAT, "over-subscribed code set: rc %d", rc);
    free(out);
    rc = t_inflate(tinf_incomplete, sizeof tinf_incomplete, &out, 100, &got);
    T_CHECK(rc == JCLIP_ERR_FORMAT, "incomplete code set: rc %d", rc);
    free(out);
    rc = t_inflate(tinf_btype3, sizeof tinf_btype3, &out, 100, &got);
    T_CHECK(rc == JCLIP_ERR_FORMAT, "block type 3: rc %d", rc);
    free(out);
    static const uint8_t fdict[] = {0x78, 0xbb, 0, 0, 0, 0, 0, 0};
    rc = t_inflate(fdict, sizeof fdict, &out, 100, &got);
    T_CHECK(rc == JCLIP_ERR_UNSUPPORTED, "preset dictionary: rc %d", rc);
    free(out);
    static const uint8_t fcheck[] = {0x79, 0x01, 0x03, 0x00, 0, 0, 0, 1};
    rc = t_inflate(fcheck, sizeof fcheck, &out, 100, &got);
    T_CHECK(rc == JCLIP_ERR_FORMAT, "bad header check: rc %d", rc);
    free(out);

    /* Every truncation and every single-bit flip of the dynamic stream is refused, except flips
     * of the padding bits after the last code, which must then give the original text. */
    out = (uint8_t *)malloc(tn);
    int trunc_err = 0, flip_err = 0, flip_same = 0, flips = 0;
    for (size_t n = 0; n < sizeof tinf_dynamic; n++)
        trunc_err += jc_infl_zlib(tinf_dynamic, n, out, tn, &got, NULL, err, sizeof err) != JCLIP_OK;
    for (size_t i = 0; i < sizeof tinf_dynamic; i++)
        for (int b = 0; b < 8; b++, flips++) {
            memcpy(bad, tinf_dynamic, sizeof tinf_dynamic);
            bad[i] ^= (uint8_t)(1u << b);
            if (jc_infl_zlib(bad, sizeof tinf_dynamic, out, tn, &got, NULL, err, sizeof err) != JCLIP_OK) flip_err++;
            else flip_same += got == tn && memcmp(out, text, tn) == 0 && i == sizeof tinf_dynamic - 5;
        }
    free(out);
    T_CHECK(trunc_err == (int)sizeof tinf_dynamic, "truncations refused: %d of %zu", trunc_err, sizeof tinf_dynamic);
    T_CHECK(flip_err + flip_same == flips && flip_same < 8, "bit flips: %d refused, %d harmless padding flips, of %d", flip_err, flip_same, flips);
    T_NOTE("inflate: %zu truncations and %d bit flips of a dynamic stream: %d refused, %d padding bits (same output)",
           sizeof tinf_dynamic, flips, trunc_err + flip_err, flip_same);
    free(text);
}

/* Rewrites the CRC of every chunk of a PNG in place (for mutation tests). */
static void t_png_fix_crcs(uint8_t *p, size_t n, const uint32_t crct[8][256])
{
    size_t pos = 8;
    while (n - pos >= 12) {
        uint32_t clen = jc_png_be32(p + pos);
        if (clen > n - pos - 12) break;
        uint32_t c = jc_png_crc(crct, p + pos + 4, (size_t)clen + 4);
        p[pos + 8 + clen] = (uint8_t)(c >> 24);
        p[pos + 9 + clen] = (uint8_t)(c >> 16);
        p[pos + 10 + clen] = (uint8_t)(c >> 8);
        p[pos + 11 + clen] = (uint8_t)c;
        pos += 12 + clen;
    }
}

/* Mutates bytes of small PNGs (one file per colour type, interlaced and not), fixes the CRCs so
 * the mutation reaches the parser, IHDR fields, filters and deflate, and decodes. */
static void t_png_mutate(void)
{
    static const char *files[] = {"pngsuite/basi0g04.png", "pngsuite/basn2c16.png", "pngsuite/basi3p02.png",
                                  "pngsuite/basn4a08.png", "pngsuite/basi6a16.png", "pngsuite/s09n3p02.png"};
    uint32_t(*crct)[256] = (uint32_t(*)[256])malloc(sizeof(uint32_t[8][256]));
    jc_png_crc_init(crct);
    int runs = 0, ok = 0, errors = 0, bad_rc = 0;
    uint32_t seed = 12345;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t n;
        uint8_t *orig = (uint8_t *)t_read_file(t_shared(t_png_shared_rel(files[f])), &n);
        if (!orig) { T_CHECK(0, "cannot read %s", files[f]); continue; }
        uint8_t *m = (uint8_t *)malloc(n);
        uint8_t *rgb = (uint8_t *)malloc(1 << 20);
        for (int it = 0; it < 400; it++) {
            memcpy(m, orig, n);
            int nmut = 1 + it % 4;
            for (int k = 0; k < nmut; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = 8 + (seed >> 8) % (n - 8);
                seed = seed * 1103515245u + 12345u;
                m[at] = (it & 1) ? (uint8_t)(seed >> 16) : (uint8_t)(m[at] ^ (1u << ((seed >> 16) & 7)));
            }
            t_png_fix_crcs(m, n, (const uint32_t(*)[256])crct);
            char err[200];
            jc_image_info info;
            int rc = jc_png_decode(m, n, 1u << 16, rgb, 1 << 20, &info, err, sizeof err);
            runs++;
            if (rc == JCLIP_OK) ok++;
            else if (rc == JCLIP_ERR_FORMAT || rc == JCLIP_ERR_TRUNCATED || rc == JCLIP_ERR_UNSUPPORTED || rc == JCLIP_ERR_LIMIT ||
                     rc == JCLIP_ERR_CAPACITY) errors++;
            else bad_rc++;
        }
        free(rgb);
        free(m);
        free(orig);
    }
    free(crct);
    T_CHECK(bad_rc == 0, "mutated PNGs: %d unexpected status codes", bad_rc);
    T_NOTE("mutation: %d mutated PNGs (CRCs fixed): %d decoded, %d refused, no crash", runs, ok, errors);
}

static const char *t_png_status_name(int rc)
{
    switch (rc) {
    case JCLIP_OK: return "OK";
    case JCLIP_ERR_FORMAT: return "FORMAT";
    case JCLIP_ERR_UNSUPPORTED: return "UNSUPPORTED";
    case JCLIP_ERR_LIMIT: return "LIMIT";
    case JCLIP_ERR_TRUNCATED: return "TRUNCATED";
    case JCLIP_ERR_CAPACITY: return "CAPACITY";
    case JCLIP_ERR_NOMEM: return "NOMEM";
    default: return "other";
    }
}

static void t_png_corpus(void)
{
    if (!t_need_shared("golden/images/decode.json")) return;
    size_t jn;
    char *jtext = t_read_file(t_shared("golden/images/decode.json"), &jn);
    char jerr[200];
    json_value *root = jtext ? json_parse(jtext, jn, jerr, sizeof jerr) : NULL;
    T_CHECK(root != NULL, "cannot parse decode.json");
    if (!root) { free(jtext); return; }
    json_value *files = json_get(root, "files");
    int mode_i = 0, mode_i_same = 0, identical = 0, divergent = 0, refused = 0, mismatch = 0, info_bad = 0, shown = 0, total = 0, table_hits = 0;
    for (json_value *e = files ? files->child : NULL; e; e = e->next) {
        json_value *kind = json_get(e, "kind");
        if (!kind || kind->type != JSON_STRING || strcmp(kind->str, "png") != 0) continue;
        total++;
        const char *path = e->key;
        json_value *pil = json_get(e, "pil");
        json_value *pst = json_get(pil, "status");
        int pil_ok = pst && pst->type == JSON_STRING && strcmp(pst->str, "ok") == 0;
        const t_png_divergence *dv = t_png_find_divergence(path);
        size_t n;
        uint8_t *data = (uint8_t *)t_read_file(t_shared(t_png_shared_rel(path)), &n);
        if (!data) { T_CHECK(0, "cannot read %s", path); continue; }
        jc_image_info info, hinfo;
        char err[256] = "", herr[256] = "";
        int hrc = jc_img_info(data, n, &hinfo, herr, sizeof herr);
        /* Decode into a buffer sized from the header (the caller's usual path). */
        uint8_t *rgb = NULL;
        size_t cap = 0;
        if (hrc == JCLIP_OK && (uint64_t)hinfo.width * hinfo.height <= JCLIP_DEFAULT_MAX_PIXELS) {
            cap = (size_t)hinfo.width * hinfo.height * 3;
            rgb = (uint8_t *)malloc(cap ? cap : 1);
        }
        int rc = jc_img_decode(data, n, JCLIP_DEFAULT_MAX_PIXELS, rgb, cap, &info, err, sizeof err);
        int expect_ok = dv ? dv->ours == JCLIP_OK : pil_ok;
        if (dv) table_hits++;
        char hex[65] = "";
        if (rc == JCLIP_OK) t_sha256_hex(rgb, cap, hex);
        if (expect_ok) {
            /* Pillow's pixels; for a file only jclip decodes, libpng's. */
            json_value *ref = dv ? json_get(json_get(e, "libpng"), "rgb_sha256") : json_get(pil, "rgb_sha256");
            int same = rc == JCLIP_OK && ref && ref->type == JSON_STRING && strcmp(ref->str, hex) == 0;
            json_value *mode = json_get(pil, "mode");
            if (mode && mode->type == JSON_STRING && strcmp(mode->str, "I") == 0) {
                mode_i++;
                mode_i_same += same;
            }
            if (same && !dv) identical++;
            else if (same) divergent++;
            else {
                mismatch++;
                if (shown++ < 10) fprintf(stderr, "  png %s: rc %s (%s), sha %.16s vs %.16s\n", path, t_png_status_name(rc), err, hex, ref && ref->str ? ref->str : "-");
            }
        } else {
            int want = dv ? dv->ours : rc;
            if (rc != JCLIP_OK && rc == want) {
                if (dv) divergent++;
                else refused++;
            } else {
                mismatch++;
                if (shown++ < 10) fprintf(stderr, "  png %s: pil %s, jclip %s (%s), expected %s\n", path, pil_ok ? "ok" : "error",
                                          t_png_status_name(rc), err, dv ? t_png_status_name(dv->ours) : "an error");
            }
        }
        /* Header fields agree with Pillow wherever Pillow could open the file. */
        json_value *size = json_get(pil, "size"), *il = json_get(pil, "interlace");
        if (hrc == JCLIP_OK && size && size->type == JSON_ARRAY && size->len == 2) {
            int good = hinfo.width == (uint32_t)size->child->num && hinfo.height == (uint32_t)size->child->next->num &&
                       hinfo.format == JCLIP_FORMAT_PNG;
            if (il && il->type == JSON_NUMBER) good = good && hinfo.progressive == (int)il->num;
            if (rc == JCLIP_OK) good = good && info.width == hinfo.width && info.height == hinfo.height && info.progressive == hinfo.progressive;
            if (!good) {
                info_bad++;
                if (shown++ < 10) fprintf(stderr, "  png %s: info %ux%u il %d\n", path, hinfo.width, hinfo.height, hinfo.progressive);
            }
        }
        free(rgb);
        free(data);
    }
    T_CHECK(total >= 290, "only %d png entries in decode.json", total);
    T_CHECK(mismatch == 0, "%d PNG files differ from the expected outcome", mismatch);
    T_CHECK(info_bad == 0, "%d PNG headers disagree with Pillow", info_bad);
    T_CHECK(table_hits == (int)(sizeof t_png_divergences / sizeof t_png_divergences[0]), "divergence table has %d entries not in the corpus",
            (int)(sizeof t_png_divergences / sizeof t_png_divergences[0]) - table_hits);
    T_NOTE("png corpus: %d files: %d identical to Pillow, %d divergent (documented), %d malformed refused like Pillow, %d wrong",
           total, identical, divergent, refused, mismatch);
    /* 16-bit gray opens in Pillow's mode "I" and convert('RGB') clips it to 255; taking the high
     * byte (libpng's strip_16, Pillow's rule for every other 16-bit mode) would fail these. */
    T_NOTE("png 16-bit gray (Pillow mode I, clipped to 255): %d of %d identical", mode_i_same, mode_i);
    T_CHECK(mode_i >= 10 && mode_i_same == mode_i, "16-bit gray: %d of %d identical", mode_i_same, mode_i);
    json_free(root);
    free(jtext);
}

static void t_png_dispatch(void)
{
    char err[200];
    jc_image_info info;
    static const uint8_t junk[] = "\x01\x02\x03 no image here";
    int rc = jc_img_info(junk, sizeof junk, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_UNSUPPORTED && strstr(err, "unrecognised image format") != NULL, "junk: rc %d (%s)", rc, err);
    rc = jc_img_decode(NULL, 0, 0, NULL, 0, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_UNSUPPORTED, "empty input: rc %d", rc);
    size_t n;
    uint8_t *data = (uint8_t *)t_read_file(t_shared("testdata/images/pngsuite/basn2c08.png"), &n);
    if (!data) { T_CHECK(0, "cannot read basn2c08.png"); return; }
    uint8_t small[32 * 32 * 3 - 1];
    rc = jc_img_decode(data, n, 0, small, sizeof small, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_CAPACITY, "capacity one byte short: rc %d", rc);
    rc = jc_img_decode(data, n, 32 * 32 - 1, small, sizeof small, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_LIMIT, "pixel limit: rc %d", rc);
    rc = jc_img_info(data, n, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_OK && info.width == 32 && info.height == 32 && info.bit_depth == 8 && info.components == 3 &&
                strcmp(info.color, "rgb") == 0 && info.format == JCLIP_FORMAT_PNG,
            "basn2c08 info: rc %d %ux%u", rc, info.width, info.height);
    for (size_t cut = 0; cut < n; cut += 7) {
        uint8_t full[32 * 32 * 3];
        rc = jc_img_decode(data, cut, 0, full, sizeof full, &info, err, sizeof err);
        if (rc == JCLIP_OK || (rc != JCLIP_ERR_TRUNCATED && rc != JCLIP_ERR_UNSUPPORTED)) {
            T_CHECK(0, "basn2c08 cut at %zu: rc %d (%s)", cut, rc, err);
            break;
        }
    }
    free(data);
}

/* jc_png_paeth's reformulation against the predictor exactly as the PNG spec writes it. */
static void t_png_paeth(void)
{
    long bad = 0;
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++)
            for (int c = 0; c < 256; c++) {
                int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
                int want = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
                bad += jc_png_paeth(a, b, c) != want;
            }
    T_CHECK(bad == 0, "jc_png_paeth differs from the spec on %ld of 2^24 inputs", bad);
}

static void suite_png(void)
{
    t_png_paeth();
    t_png_inflate_units();
    t_png_dispatch();
    t_png_corpus();
    t_png_mutate();
}
