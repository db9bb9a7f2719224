/* test/t_webp.c: webp suite (included by test/run.c): every WebP of the format corpus
 * (shared/testdata/images/webp/ and the .webp files of malformed-formats/) against Pillow 9.4
 * with libwebp 1.2.4 (shared/golden/images/formats.json): files Pillow decodes must give the
 * same RGB bytes and the same 224x224 crop (formats_preprocess.json), files it refuses must be
 * refused; the header (size, frames, alpha, lossy) must agree with Pillow's. Then the limits
 * (capacity, pixel limit) and a bounded mutation run (truncations and byte changes of a lossy,
 * a lossless, an alpha and an animated file: no crash, no hang, header and decoder agree). */

#include <dirent.h>

static const char *t_webp_rel(const char *corpus_rel)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "testdata/images/%s", corpus_rel);
    return buf;
}

static int t_webp_is_webp(const char *path)
{
    size_t n = strlen(path);
    return n > 5 && strcmp(path + n - 5, ".webp") == 0 &&
           (strncmp(path, "webp/", 5) == 0 || strncmp(path, "malformed-formats/", 18) == 0);
}

/* Decodes through the public API with a buffer sized from jclip_decode_info. Returns the status
 * and, on success, the malloc'd RGB in *out. */
static int t_webp_decode(const uint8_t *data, size_t n, uint8_t **out, jclip_image_info *info, char *err, size_t errcap)
{
    jclip_image_info hinfo;
    *out = NULL;
    int rc = jclip_decode_info(data, n, &hinfo, err, errcap);
    if (rc != JCLIP_OK) return rc;
    size_t cap = (size_t)hinfo.width * hinfo.height * 3;
    if ((uint64_t)hinfo.width * hinfo.height > JCLIP_DEFAULT_MAX_PIXELS) cap = 0;
    uint8_t *rgb = (uint8_t *)malloc(cap ? cap : 1);
    if (!rgb) return JCLIP_ERR_NOMEM;
    rc = jclip_decode_image(data, n, 0, rgb, cap, info, err, errcap);
    if (rc == JCLIP_OK && (info->width != hinfo.width || info->height != hinfo.height || info->frames != hinfo.frames))
        rc = JCLIP_ERR_FORMAT - 1000; /* header and decoder disagree: never expected */
    if (rc != JCLIP_OK) {
        free(rgb);
        return rc;
    }
    *out = rgb;
    return JCLIP_OK;
}

static void t_webp_corpus(void)
{
    if (!t_need_shared("golden/images/formats.json") || !t_need_shared("golden/images/formats_preprocess.json")) return;
    size_t jn, pn;
    char *jtext = t_read_file(t_shared("golden/images/formats.json"), &jn);
    char *ptext = t_read_file(t_shared("golden/images/formats_preprocess.json"), &pn);
    char jerr[200];
    json_value *root = jtext ? json_parse(jtext, jn, jerr, sizeof jerr) : NULL;
    json_value *proot = ptext ? json_parse(ptext, pn, jerr, sizeof jerr) : NULL;
    T_CHECK(root && proot, "cannot parse formats.json / formats_preprocess.json");
    if (!root || !proot) {
        json_free(root);
        json_free(proot);
        free(jtext);
        free(ptext);
        return;
    }
    json_value *files = json_get(root, "files"), *pfiles = json_get(proot, "files");
    int total = 0, identical = 0, refused = 0, wrong = 0, info_bad = 0, crops = 0, crops_same = 0, raw_same = 0, raw = 0;
    int lossy = 0, lossless = 0, animated = 0, with_alpha = 0, shown = 0;
    size_t scratch_cap = 0;
    void *scratch = NULL;
    uint8_t *crop = (uint8_t *)malloc(224 * 224 * 3);
    for (json_value *e = files ? files->child : NULL; e; e = e->next) {
        const char *path = e->key;
        if (!t_webp_is_webp(path)) continue;
        total++;
        json_value *pil = json_get(e, "pil");
        json_value *pst = json_get(pil, "status");
        int pil_ok = pst && pst->type == JSON_STRING && strcmp(pst->str, "ok") == 0;
        size_t n;
        uint8_t *data = (uint8_t *)t_read_file(t_shared(t_webp_rel(path)), &n);
        if (!data) {
            T_CHECK(0, "cannot read %s", path);
            continue;
        }
        jclip_image_info info;
        memset(&info, 0, sizeof info);
        char err[256] = "";
        uint8_t *rgb = NULL;
        int rc = t_webp_decode(data, n, &rgb, &info, err, sizeof err);
        if (!pil_ok) {
            if (rc != JCLIP_OK && rc != JCLIP_ERR_FORMAT - 1000) {
                refused++;
            } else {
                wrong++;
                if (shown++ < 10) fprintf(stderr, "  webp %s: Pillow refuses it, jclip rc %d\n", path, rc);
            }
            free(rgb);
            free(data);
            continue;
        }
        json_value *ref = json_get(pil, "rgb_sha256");
        char hex[65] = "";
        if (rc == JCLIP_OK) t_sha256_hex(rgb, (size_t)info.width * info.height * 3, hex);
        if (rc == JCLIP_OK && ref && ref->type == JSON_STRING && strcmp(ref->str, hex) == 0) {
            identical++;
        } else {
            wrong++;
            if (shown++ < 10) fprintf(stderr, "  webp %s: rc %d (%s), sha %.16s vs %.16s\n", path, rc, err, hex, ref && ref->str ? ref->str : "-");
        }
        if (rc == JCLIP_OK) {
            /* Header fields as Pillow reports them: size, n_frames, RGBA mode <=> alpha, and the
             * golden's own record of the first frame's bitstream. */
            json_value *size = json_get(pil, "size"), *nf = json_get(pil, "n_frames"), *mode = json_get(pil, "mode");
            json_value *wl = json_get(e, "webp_lossy");
            int good = info.format == JCLIP_FORMAT_WEBP;
            if (size && size->type == JSON_ARRAY && size->len == 2)
                good = good && info.width == (uint32_t)size->child->num && info.height == (uint32_t)size->child->next->num;
            if (nf && nf->type == JSON_NUMBER) good = good && info.frames == (int)nf->num;
            if (mode && mode->type == JSON_STRING) good = good && info.alpha == (strcmp(mode->str, "RGBA") == 0);
            if (wl && (wl->type == JSON_TRUE || wl->type == JSON_FALSE)) good = good && info.lossy == (wl->type == JSON_TRUE);
            if (!good) {
                info_bad++;
                if (shown++ < 10)
                    fprintf(stderr, "  webp %s: info %ux%u frames %d alpha %d lossy %d\n", path, info.width, info.height, info.frames,
                            info.alpha, info.lossy);
            }
            lossy += info.lossy;
            lossless += !info.lossy;
            animated += info.frames > 1;
            with_alpha += info.alpha;
            /* The 224x224 crop of the reference pipeline. */
            json_value *pe = json_get(pfiles, path);
            json_value *pref = json_get(pe, "rgb_first_sha256");
            if (pref && pref->type == JSON_STRING) {
                crops++;
                size_t need = jclip_preprocess_scratch_size(info.width, info.height);
                if (need > scratch_cap) {
                    free(scratch);
                    scratch = malloc(need);
                    scratch_cap = scratch ? need : 0;
                }
                int prc = scratch ? jclip_preprocess_crop(rgb, info.width, info.height, crop, 224 * 224 * 3, scratch, scratch_cap, err, sizeof err)
                                  : JCLIP_ERR_NOMEM;
                char chex[65] = "";
                if (prc == JCLIP_OK) t_sha256_hex(crop, 224 * 224 * 3, chex);
                if (prc == JCLIP_OK && strcmp(chex, pref->str) == 0) {
                    crops_same++;
                } else if (shown++ < 10) {
                    fprintf(stderr, "  webp %s: crop rc %d sha %.16s vs %.16s\n", path, prc, chex, pref->str);
                }
                json_value *rf = json_get(pe, "rgb_file");
                if (prc == JCLIP_OK && rf && rf->type == JSON_STRING) {
                    char rel[1024];
                    snprintf(rel, sizeof rel, "golden/images/%s", rf->str);
                    size_t rn;
                    uint8_t *rr = (uint8_t *)t_read_file(t_shared(rel), &rn);
                    raw++;
                    raw_same += rr && rn == 224 * 224 * 3 && memcmp(rr, crop, rn) == 0;
                    free(rr);
                }
            }
        }
        free(rgb);
        free(data);
    }
    free(crop);
    free(scratch);
    T_CHECK(total >= 120, "only %d webp entries in formats.json", total);
    T_CHECK(wrong == 0, "%d WebP files differ from Pillow's outcome", wrong);
    T_CHECK(info_bad == 0, "%d WebP headers disagree with Pillow", info_bad);
    T_CHECK(crops >= 90 && crops_same == crops, "crops: %d of %d identical", crops_same, crops);
    T_CHECK(raw_same == raw, "raw crop files: %d of %d identical", raw_same, raw);
    T_CHECK(lossy > 40 && lossless > 30 && animated >= 7 && with_alpha > 10, "corpus coverage: %d lossy, %d lossless, %d animated, %d alpha",
            lossy, lossless, animated, with_alpha);
    T_NOTE("webp corpus: %d files: %d identical to Pillow (%d lossy, %d lossless, %d animated, %d with alpha), %d divergent, "
           "%d refused like Pillow, %d wrong",
           total, identical, lossy, lossless, animated, with_alpha, 0, refused, wrong);
    T_NOTE("webp 224x224 crops: %d/%d identical; raw crop files %d/%d", crops_same, crops, raw_same, raw);
    json_free(root);
    json_free(proot);
    free(jtext);
    free(ptext);
}

/* Capacity and pixel limit, and the RIFF magic reaching the WebP reader. */
static void t_webp_limits(void)
{
    if (!t_need_shared("testdata/images/webp/size17x33_lossy_q80.webp")) return;
    size_t n;
    uint8_t *data = (uint8_t *)t_read_file(t_shared("testdata/images/webp/size17x33_lossy_q80.webp"), &n);
    if (!data) return;
    char err[256];
    jclip_image_info info;
    uint8_t rgb[17 * 33 * 3];
    T_CHECK(jclip_decode_info(data, n, &info, err, sizeof err) == JCLIP_OK && info.width == 17 && info.height == 33 &&
                info.format == JCLIP_FORMAT_WEBP && info.lossy == 1 && info.frames == 1,
            "17x33 info");
    T_CHECK(jclip_decode_image(data, n, 0, rgb, sizeof rgb - 1, &info, err, sizeof err) == JCLIP_ERR_CAPACITY, "short buffer: CAPACITY");
    T_CHECK(jclip_decode_image(data, n, 17 * 33 - 1, rgb, sizeof rgb, &info, err, sizeof err) == JCLIP_ERR_LIMIT, "pixel limit: LIMIT");
    T_CHECK(jclip_decode_image(data, n, 17 * 33, rgb, sizeof rgb, &info, err, sizeof err) == JCLIP_OK, "at the pixel limit: OK");
    /* Trailing bytes past the RIFF size are ignored; a file shorter than it is refused. */
    uint8_t *big = (uint8_t *)malloc(n + 16);
    if (big) {
        memcpy(big, data, n);
        memset(big + n, 0xAB, 16);
        T_CHECK(jclip_decode_image(big, n + 16, 0, rgb, sizeof rgb, &info, err, sizeof err) == JCLIP_OK, "bytes after the RIFF end");
        T_CHECK(jclip_decode_image(big, n - 1, 0, rgb, sizeof rgb, &info, err, sizeof err) != JCLIP_OK, "one byte short");
        free(big);
    }
    T_CHECK(jclip_decode_info(data, 11, &info, err, sizeof err) != JCLIP_OK, "11 bytes");
    free(data);
}

static uint32_t t_webp_rng(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Truncations and byte mutations: every outcome is a status (a crash or a hang fails the run,
 * ASan/UBSan catch memory errors under make SANITIZE=1), and a successful decode agrees with
 * its header. */
static void t_webp_mutations(void)
{
    static const char *const seeds[] = {
        "testdata/images/webp/size227x149_lossy_q80.webp",
        "testdata/images/webp/bus227x149_lossless_z6.webp",
        "testdata/images/webp/basn6a08_rgba_lossy_q90.webp",
        "testdata/images/webp/anim_gif2webp_mixed.webp",
        "testdata/images/webp/chelsea_pal004_lossless.webp",
        "testdata/images/webp/bus227x149_lossless_z0.webp",
    };
    int runs = 0, ok = 0, bad = 0;
    uint32_t rng = 12345;
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        if (!t_need_shared(seeds[s])) continue;
        size_t n;
        uint8_t *orig = (uint8_t *)t_read_file(t_shared(seeds[s]), &n);
        if (!orig || n < 32) {
            free(orig);
            continue;
        }
        uint8_t *buf = (uint8_t *)malloc(n);
        for (int k = 0; k < 140 && buf; k++) {
            size_t len = n;
            memcpy(buf, orig, n);
            if (k < 40) {
                len = (size_t)k * (n - 1) / 40; /* truncations, RIFF size left as it is */
            } else {
                int edits = 1 + (int)(t_webp_rng(&rng) % 4);
                for (int m = 0; m < edits; m++) {
                    size_t at = 12 + t_webp_rng(&rng) % (n - 12);
                    buf[at] = (uint8_t)(k & 1 ? buf[at] ^ (1u << (t_webp_rng(&rng) % 8)) : t_webp_rng(&rng));
                }
            }
            jclip_image_info info;
            char err[256] = "";
            uint8_t *rgb = NULL;
            int rc = t_webp_decode(buf, len, &rgb, &info, err, sizeof err);
            runs++;
            if (rc == JCLIP_OK) ok++;
            if (rc == JCLIP_ERR_FORMAT - 1000 || (rc != JCLIP_OK && err[0] == 0)) bad++;
            free(rgb);
        }
        free(buf);
        free(orig);
    }
    T_CHECK(bad == 0, "%d mutated files: header and decoder disagree, or an error without a message", bad);
    T_NOTE("webp mutations: %d inputs (truncations, byte changes), %d still decode, none crashed", runs, ok);
}

/* ---- SIMD pixel stages (jc_vp8_ops) against their scalar twins ------------------------------ */

/* One pixel of a test plane: kind 0 uniform noise, 1 smooth (base +- k), 2 smooth with a step,
 * 3 only extreme values, 4 smooth near 0 or 255 (the clamps). */
static uint8_t t_webp_px(uint32_t *rng, int kind, int base, int k, int step, int x, int y, int edge)
{
    static const uint8_t ext[10] = {0, 1, 2, 126, 127, 128, 129, 253, 254, 255};
    uint32_t r = t_webp_rng(rng);
    if (kind == 0) return (uint8_t)r;
    if (kind == 3) return ext[r % 10];
    int v = base + (int)(r % (uint32_t)(2 * k + 1)) - k;
    if (kind == 2 && (edge ? x : y) >= step) v += 40 - (int)((r >> 12) % 81);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void t_webp_simd_filters(const jc_vp8_ops *simd)
{
    const jc_vp8_ops *ref = &jc_vp8_scalar_ops;
    uint32_t rng = 777;
    int runs = 0, bad = 0;
    for (int e = 0; e < 12; e++) {
        for (int it = 0; it < 2500; it++) {
            /* exactly sized planes (ASan sees any access outside): 4 pixels of margin above and
             * left of p, 16 below and right; stride 20..28 */
            const ptrdiff_t s = 20 + (ptrdiff_t)(t_webp_rng(&rng) % 9);
            const size_t n = (size_t)(20 * s);
            uint8_t *a[4];
            for (int k = 0; k < 4; k++) a[k] = (uint8_t *)malloc(n);
            if (!a[0] || !a[1] || !a[2] || !a[3]) {
                for (int k = 0; k < 4; k++) free(a[k]);
                bad++;
                break;
            }
            const int kind = it % 5, k = 1 << (t_webp_rng(&rng) % 5), step = 2 + (int)(t_webp_rng(&rng) % 16);
            const int vert = (int)(t_webp_rng(&rng) & 1);
            for (int pl = 0; pl < 2; pl++) {
                const int base = kind == 4 ? (t_webp_rng(&rng) & 1 ? (int)(t_webp_rng(&rng) % 8) : 255 - (int)(t_webp_rng(&rng) % 8))
                                           : (int)(t_webp_rng(&rng) % 256);
                for (size_t i = 0; i < n; i++)
                    a[pl][i] = t_webp_px(&rng, kind, base, k, step, (int)(i % (size_t)s), (int)(i / (size_t)s), vert);
                memcpy(a[2 + pl], a[pl], n);
            }
            const uint32_t r = t_webp_rng(&rng);
            const int t = r % 4 == 0 ? 0 : r % 4 == 1 ? 254 : (int)(t_webp_rng(&rng) % 255);
            const int iv = (r >> 4) % 4 == 0 ? 0 : (r >> 4) % 4 == 1 ? 255 : (int)(t_webp_rng(&rng) % 80);
            const int hv = (r >> 8) % 4 == 0 ? 255 : (int)(t_webp_rng(&rng) % 8);
            uint8_t *p0 = a[0] + 4 * s + 4, *q0 = a[1] + 4 * s + 4, *p1 = a[2] + 4 * s + 4, *q1 = a[3] + 4 * s + 4;
            switch (e) {
            case 0: ref->simple_v16(p0, s, t), simd->simple_v16(p1, s, t); break;
            case 1: ref->simple_h16(p0, s, t), simd->simple_h16(p1, s, t); break;
            case 2: ref->simple_v16i(p0, s, t), simd->simple_v16i(p1, s, t); break;
            case 3: ref->simple_h16i(p0, s, t), simd->simple_h16i(p1, s, t); break;
            case 4: ref->v16(p0, s, t, iv, hv), simd->v16(p1, s, t, iv, hv); break;
            case 5: ref->h16(p0, s, t, iv, hv), simd->h16(p1, s, t, iv, hv); break;
            case 6: ref->v16i(p0, s, t, iv, hv), simd->v16i(p1, s, t, iv, hv); break;
            case 7: ref->h16i(p0, s, t, iv, hv), simd->h16i(p1, s, t, iv, hv); break;
            case 8: ref->v8(p0, q0, s, t, iv, hv), simd->v8(p1, q1, s, t, iv, hv); break;
            case 9: ref->h8(p0, q0, s, t, iv, hv), simd->h8(p1, q1, s, t, iv, hv); break;
            case 10: ref->v8i(p0, q0, s, t, iv, hv), simd->v8i(p1, q1, s, t, iv, hv); break;
            default: ref->h8i(p0, q0, s, t, iv, hv), simd->h8i(p1, q1, s, t, iv, hv); break;
            }
            runs++;
            if ((memcmp(a[0], a[2], n) != 0 || memcmp(a[1], a[3], n) != 0) && bad++ < 5)
                fprintf(stderr, "  %s loop filter entry %d differs: kind %d, thresh %d/%d/%d (case %d)\n", simd->name, e, kind, t, iv, hv, it);
            for (int q = 0; q < 4; q++) free(a[q]);
        }
    }
    T_CHECK(bad == 0, "%s VP8 loop filters differ from the scalar ones on %d of %d edges", simd->name, bad, runs);
    T_NOTE("%s VP8 loop filters: %d random, smooth, stepped and extreme edges identical to scalar", simd->name, runs - bad);
}

static void t_webp_simd_upsample(const jc_vp8_ops *simd)
{
    uint32_t rng = 4242;
    int runs = 0, bad = 0;
    for (int it = 0; it < 1200; it++) {
        const uint32_t len = it < 600 ? 1 + (uint32_t)it / 6 : 1 + t_webp_rng(&rng) % 700;
        const uint32_t cw = (len + 1) / 2;
        const int pair = it % 2, kind = (it / 2) % 3;
        uint8_t *y0 = (uint8_t *)malloc(len), *y1 = (uint8_t *)malloc(len), *c[4];
        uint8_t *o[4];
        int ok = y0 && y1;
        for (int k = 0; k < 4; k++) ok &= (c[k] = (uint8_t *)malloc(cw)) != NULL;
        for (int k = 0; k < 4; k++) ok &= (o[k] = (uint8_t *)malloc(3 * (size_t)len)) != NULL;
        if (ok) {
            for (uint32_t i = 0; i < len; i++) {
                y0[i] = t_webp_px(&rng, kind == 2 ? 3 : 0, 0, 0, 0, 0, 0, 0);
                y1[i] = t_webp_px(&rng, kind == 2 ? 3 : 0, 0, 0, 0, 0, 0, 0);
            }
            for (int k = 0; k < 4; k++)
                for (uint32_t i = 0; i < cw; i++) c[k][i] = t_webp_px(&rng, kind == 1 ? 3 : 0, 0, 0, 0, 0, 0, 0);
            for (int k = 0; k < 4; k++) memset(o[k], 0x5A, 3 * (size_t)len);
            jc_vp8_scalar_ops.upsample_pair(y0, pair ? y1 : NULL, c[0], c[1], c[2], c[3], o[0], o[1], len);
            simd->upsample_pair(y0, pair ? y1 : NULL, c[0], c[1], c[2], c[3], o[2], o[3], len);
            runs++;
            if ((memcmp(o[0], o[2], 3 * (size_t)len) != 0 || memcmp(o[1], o[3], 3 * (size_t)len) != 0) && bad++ < 5)
                fprintf(stderr, "  %s upsampled row pair of %u pixels differs (pair %d, kind %d)\n", simd->name, len, pair, kind);
        } else {
            bad++;
        }
        free(y0), free(y1);
        for (int k = 0; k < 4; k++) free(c[k]), free(o[k]);
    }
    T_CHECK(bad == 0, "%s VP8 upsampling + YUV->RGB differs from the scalar one on %d of %d rows", simd->name, bad, runs);
    T_NOTE("%s VP8 upsampling + YUV->RGB: %d rows of 1-700 pixels identical to scalar", simd->name, runs - bad);
}

/* The inverse DCT entries on blocks of every sparsity (DC only, first row, dense) with small,
 * realistic and full-range int16 coefficients (the second pass then wraps at 32 bits), over
 * random and extreme predictions. */
static void t_webp_simd_idct(const jc_vp8_ops *simd)
{
    uint32_t rng = 99;
    int runs = 0, bad = 0;
    for (int it = 0; it < 60000; it++) {
        int16_t in[16];
        uint8_t a[4 * JC_VP8_BPS], b[4 * JC_VP8_BPS];
        const int pattern = it % 4, range = (it / 4) % 4, dc = it % 7 == 0;
        for (int k = 0; k < 16; k++) {
            const uint32_t r = t_webp_rng(&rng);
            const int keep = dc ? k == 0 : pattern == 0 ? k < 4 : pattern == 1 ? (r >> 20) % 3 == 0 : 1;
            const int v = range == 0 ? (int)(r % 64) - 32 : range == 1 ? (int)(r % 4096) - 2048
                        : range == 2 ? (r & 1 ? 32767 : -32768) : (int)(r % 65536) - 32768;
            in[k] = (int16_t)(keep ? v : 0);
        }
        for (size_t i = 0; i < sizeof a; i++) a[i] = t_webp_px(&rng, it % 2 ? 3 : 0, 0, 0, 0, 0, 0, 0);
        memcpy(b, a, sizeof a);
        if (dc) {
            jc_vp8_scalar_ops.idct_dc(in, a + 4);
            simd->idct_dc(in, b + 4);
        } else {
            jc_vp8_scalar_ops.idct(in, a + 4);
            simd->idct(in, b + 4);
        }
        runs++;
        if (memcmp(a, b, sizeof a) != 0 && bad++ < 5)
            fprintf(stderr, "  %s VP8 %s differs: pattern %d range %d (case %d)\n", simd->name, dc ? "idct_dc" : "idct", pattern, range, it);
    }
    T_CHECK(bad == 0, "%s VP8 inverse DCT differs from the scalar one on %d of %d blocks", simd->name, bad, runs);
    T_NOTE("%s VP8 inverse DCT: %d blocks (full int16 range included) identical to scalar", simd->name, runs - bad);
}

/* Every WebP file of the corpus decoded with JCLIP_ISA=scalar and with the SIMD stages: same
 * status, same bytes (the corpus test checks the SIMD decodes against Pillow's). */
static void t_webp_simd_files(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", t_shared("testdata/images/webp"));
    DIR *dp = opendir(dir);
    if (!dp) {
        T_CHECK(getenv("CI") == NULL, "no %s", dir);
        return;
    }
    const char *old = getenv("JCLIP_ISA");
    char saved[64] = "";
    if (old) snprintf(saved, sizeof saved, "%s", old);
    int files = 0, diff = 0;
    for (struct dirent *de; (de = readdir(dp)) != NULL && files < 1000;) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".webp") != 0) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t n;
        uint8_t *data = (uint8_t *)t_read_file(path, &n);
        if (!data) continue;
        jclip_image_info i1, i2;
        char err[256];
        uint8_t *a = NULL, *b = NULL;
        if (old) unsetenv("JCLIP_ISA");
        int r1 = t_webp_decode(data, n, &a, &i1, err, sizeof err);
        setenv("JCLIP_ISA", "scalar", 1);
        int r2 = t_webp_decode(data, n, &b, &i2, err, sizeof err);
        if (old) setenv("JCLIP_ISA", saved, 1);
        else unsetenv("JCLIP_ISA");
        files++;
        if (r1 != r2 || (r1 == JCLIP_OK && memcmp(a, b, (size_t)i1.width * i1.height * 3) != 0)) {
            if (diff++ < 5) fprintf(stderr, "  %s: SIMD and scalar decodes differ (rc %d / %d)\n", de->d_name, r1, r2);
        }
        free(a);
        free(b);
        free(data);
    }
    closedir(dp);
    T_CHECK(diff == 0, "%d of %d WebP files decode differently with the SIMD and the scalar pixel stages", diff, files);
    T_NOTE("webp SIMD vs scalar decodes: %d files identical", files - diff);
}

static void suite_webp(void)
{
    t_webp_corpus();
    t_webp_limits();
    t_webp_mutations();
    const jc_vp8_ops *simd = jc_cpu_vp8_ops();
    if (simd) {
        t_webp_simd_filters(simd);
        t_webp_simd_upsample(simd);
        t_webp_simd_idct(simd);
        t_webp_simd_files();
    } else {
        T_NOTE("no SIMD WebP pixel stages on this CPU (or JCLIP_ISA=scalar): scalar code only");
    }
}
