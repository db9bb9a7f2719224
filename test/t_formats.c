/* test/t_formats.c: formats suite (included by test/run.c): GIF, BMP and PNM decoding against
 * Pillow 9.4's convert('RGB') (shared/golden/images/formats.json) and the 224x224 crops
 * (formats_preprocess.json), detection of WebP, refusal by name of every unsupported format,
 * malformed files (refused like Pillow, never a crash), a mutation run, and the CLI
 * (decode --info, refusal exit status). */

/* The two BMP files where Pillow 9.4's RLE decoder is wrong (formats.json `pil_bug`). jclip
 * decodes them as the BMP specification says; these are the sha256 of ImageMagick 6.9.11-60's
 * decode (`convert FILE -depth 8 rgb:-`), the tool the golden README names. The odd-run file
 * is chelsea_pal4.bmp re-encoded, so it must also equal that file's Pillow golden. */
static const struct {
    const char *path, *spec_sha256, *same_as;
} t_fmt_pil_bugs[] = {
    {"bmp/bus_rle8_delta.bmp", "29d3447f88bfe8c5f3e87cde5c98cb934cbeeea58db011fd8abb0ed81d62975f", NULL},
    {"bmp/chelsea_pal4_rle4_oddabs.bmp", "024fd68333c4d15111ad5a7174e7ef24591444bcb37005ced97b84a6f39526c0", "bmp/chelsea_pal4.bmp"},
};

/* What the refusal of each unsupported kind (formats.json `detected`) must name. */
static const struct {
    const char *detected, *name;
} t_fmt_names[] = {
    {"tiff", "TIFF is not supported"}, {"ico", "ICO is not supported"}, {"jp2", "JPEG 2000 is not supported"},
    {"j2k", "JPEG 2000 (codestream) is not supported"}, {"jxl", "JPEG XL is not supported"},
    {"isobmff-avif", "AVIF is not supported"}, {"isobmff-heic", "HEIC is not supported"}, {"psd", "PSD (Photoshop) is not supported"},
    {"pdf", "PDF is not supported"}, {"pam", "PAM is not supported"}, {"riff-not-webp", "is not supported"},
    {"xml/svg", "SVG is not supported"}, {"pcx", "PCX is not supported"}, {"html", "HTML is not supported"},
    {"text", "unrecognised image format (not JPEG, PNG, WebP, GIF, BMP or PNM): the data looks like text"},
    {"empty", "empty input"}, {"unknown", "TGA is not supported"},
};

enum { T_FMT_GIF, T_FMT_BMP, T_FMT_PNM, T_FMT_OTHER, T_FMT_N };
static const char *const t_fmt_kind_names[T_FMT_N] = {"gif", "bmp", "pnm", "other"};

static int t_fmt_kind(const char *kind)
{
    for (int i = 0; i < T_FMT_N; i++)
        if (strcmp(kind, t_fmt_kind_names[i]) == 0) return i;
    return -1;
}

static const char *t_fmt_str(const json_value *obj, const char *key)
{
    const json_value *v = json_get(obj, key);
    return v && v->type == JSON_STRING ? v->str : NULL;
}

static int t_fmt_refusal_ok(int rc)
{
    return rc == JCLIP_ERR_FORMAT || rc == JCLIP_ERR_TRUNCATED || rc == JCLIP_ERR_UNSUPPORTED || rc == JCLIP_ERR_LIMIT;
}

/* Decodes a buffer the caller's usual way (info, then a buffer of the size it gives). Returns
 * the status; *rgb (malloc'd, may be NULL) and info hold the result. */
static int t_fmt_decode(const uint8_t *data, size_t n, uint8_t **rgb, size_t *rgb_len, jclip_image_info *info, char *err, size_t errcap)
{
    *rgb = NULL;
    *rgb_len = 0;
    int rc = jclip_decode_info(data, n, info, err, errcap);
    if (rc) return rc;
    if ((uint64_t)info->width * info->height > JCLIP_DEFAULT_MAX_PIXELS) return jclip_decode_image(data, n, 0, NULL, 0, info, err, errcap);
    *rgb_len = (size_t)info->width * info->height * 3;
    *rgb = (uint8_t *)malloc(*rgb_len ? *rgb_len : 1);
    return jclip_decode_image(data, n, 0, *rgb, *rgb_len, info, err, errcap);
}

static void t_fmt_corpus(void)
{
    if (!t_need_shared("golden/images/formats.json")) return;
    size_t jn;
    char *jtext = t_read_file(t_shared("golden/images/formats.json"), &jn);
    char jerr[200];
    json_value *root = jtext ? json_parse(jtext, jn, jerr, sizeof jerr) : NULL;
    T_CHECK(root != NULL, "cannot parse formats.json");
    if (!root) { free(jtext); return; }
    json_value *files = json_get(root, "files");
    int valid[T_FMT_N] = {0}, ident[T_FMT_N] = {0}, refused[T_FMT_N] = {0}, pil_err[T_FMT_N] = {0};
    int mal_ok[T_FMT_N] = {0}, mal_ident[T_FMT_N] = {0};
    int wrong = 0, shown = 0, webp = 0, webp_detected = 0, unsup = 0, unsup_named = 0, bugs = 0, bugs_ok = 0, info_bad = 0;
    for (json_value *e = files ? files->child : NULL; e; e = e->next) {
        const char *path = e->key, *kind = t_fmt_str(e, "kind"), *cat = t_fmt_str(e, "category");
        if (!kind || !cat) { T_CHECK(0, "%s: no kind/category", path); continue; }
        char rel[1024];
        snprintf(rel, sizeof rel, "testdata/images/%s", path);
        size_t n;
        uint8_t *data = (uint8_t *)t_read_file(t_shared(rel), &n);
        if (!data) { T_CHECK(0, "cannot read %s", path); continue; }
        if (strcmp(kind, "webp") == 0) {
            /* The WebP decoder is tested in its own suite: here only detection. */
            webp++;
            webp_detected += jc_img_sniff(data, n).format == JCLIP_FORMAT_WEBP;
            free(data);
            continue;
        }
        int k = t_fmt_kind(kind);
        if (k < 0) { T_CHECK(0, "%s: unknown kind %s", path, kind); free(data); continue; }
        const json_value *pil = json_get(e, "pil");
        const char *pst = t_fmt_str(pil, "status"), *ref = t_fmt_str(pil, "rgb_sha256");
        int pil_ok = pst && strcmp(pst, "ok") == 0;
        jclip_image_info info;
        char err[512] = "";
        uint8_t *rgb;
        size_t rgb_len;
        int rc = t_fmt_decode(data, n, &rgb, &rgb_len, &info, err, sizeof err);
        char hex[65] = "";
        if (rc == JCLIP_OK) t_sha256_hex(rgb, rgb_len, hex);
        const char *bug = t_fmt_str(e, "pil_bug");
        if (strcmp(cat, "unsupported") == 0 || k == T_FMT_OTHER) {
            /* Refused with JCLIP_ERR_UNSUPPORTED and a message naming the format, also where
             * Pillow opens the file (TIFF, ICO, PSD, ...). */
            const char *det = t_fmt_str(e, "detected");
            const char *want = NULL;
            for (size_t i = 0; det && i < sizeof t_fmt_names / sizeof t_fmt_names[0]; i++)
                if (strcmp(t_fmt_names[i].detected, det) == 0) want = t_fmt_names[i].name;
            int ok = rc == JCLIP_ERR_UNSUPPORTED && want && strstr(err, want);
            unsup++;
            unsup_named += ok;
            if (!ok) {
                wrong++;
                if (shown++ < 10) fprintf(stderr, "  %s (%s): rc %d, '%s', want UNSUPPORTED '%s'\n", path, det ? det : "-", rc, err, want ? want : "?");
            }
        } else if (bug) {
            bugs++;
            for (size_t i = 0; i < sizeof t_fmt_pil_bugs / sizeof t_fmt_pil_bugs[0]; i++) {
                if (strcmp(t_fmt_pil_bugs[i].path, path) != 0) continue;
                int ok = rc == JCLIP_OK && strcmp(hex, t_fmt_pil_bugs[i].spec_sha256) == 0 && (!ref || strcmp(hex, ref) != 0);
                if (ok && t_fmt_pil_bugs[i].same_as) {
                    const char *other = t_fmt_str(json_get(json_get(files, t_fmt_pil_bugs[i].same_as), "pil"), "rgb_sha256");
                    ok = other && strcmp(other, hex) == 0;
                }
                bugs_ok += ok;
                T_CHECK(ok, "%s (Pillow bug, decoded per the BMP specification): rc %d (%s) sha %.16s", path, rc, err, hex);
            }
        } else if (pil_ok) {
            int same = rc == JCLIP_OK && ref && strcmp(hex, ref) == 0;
            if (strcmp(cat, "valid") == 0) valid[k]++, ident[k] += same;
            else mal_ok[k]++, mal_ident[k] += same;
            if (!same) {
                wrong++;
                if (shown++ < 10) fprintf(stderr, "  %s: rc %d (%s), sha %.16s vs %.16s\n", path, rc, err, hex, ref ? ref : "-");
            }
            /* Header fields agree with Pillow's. */
            const json_value *size = json_get(pil, "size"), *nf = json_get(pil, "n_frames");
            int good = size && size->type == JSON_ARRAY && size->len == 2 && info.width == (uint32_t)size->child->num &&
                       info.height == (uint32_t)size->child->next->num && info.lossy == 0 &&
                       info.format == (k == T_FMT_GIF ? JCLIP_FORMAT_GIF : k == T_FMT_BMP ? JCLIP_FORMAT_BMP : JCLIP_FORMAT_PNM);
            if (nf && nf->type == JSON_NUMBER) good = good && info.frames == (int)nf->num;
            const json_value *tr = json_get(pil, "gif_transparency");
            if (tr && tr->type == JSON_NUMBER) good = good && info.alpha == 1;
            const char *mode = t_fmt_str(pil, "mode");
            if (k == T_FMT_BMP && mode) good = good && info.alpha == (strcmp(mode, "RGBA") == 0);
            if (!good) {
                info_bad++;
                if (shown++ < 10) fprintf(stderr, "  %s: info %ux%u frames %d alpha %d format %d\n", path, info.width, info.height, info.frames, info.alpha, info.format);
            }
        } else {
            /* Pillow refuses it (also with LOAD_TRUNCATED_IMAGES off): so does jclip. */
            int ok = rc != JCLIP_OK && t_fmt_refusal_ok(rc) && err[0];
            pil_err[k]++;
            refused[k] += ok;
            if (!ok) {
                wrong++;
                if (shown++ < 10) fprintf(stderr, "  %s: Pillow refuses it, jclip rc %d (%s)\n", path, rc, err);
            }
        }
        free(rgb);
        free(data);
    }
    for (int k = 0; k < T_FMT_OTHER; k++)
        T_NOTE("%s: %d of %d valid files Pillow decodes identical; %d of %d malformed files Pillow decodes identical; %d of %d files Pillow refuses refused",
               t_fmt_kind_names[k], ident[k], valid[k], mal_ident[k], mal_ok[k], refused[k], pil_err[k]);
    T_NOTE("pil_bug BMP files decoded per the BMP specification (= ImageMagick): %d of %d", bugs_ok, bugs);
    T_NOTE("unsupported: %d of %d refused with JCLIP_ERR_UNSUPPORTED naming the format; WebP detected: %d of %d", unsup_named, unsup, webp_detected, webp);
    T_CHECK(wrong == 0, "%d format corpus files differ from the expected outcome", wrong);
    T_CHECK(info_bad == 0, "%d headers disagree with Pillow", info_bad);
    T_CHECK(bugs == 2 && bugs_ok == 2, "pil_bug files: %d of %d", bugs_ok, bugs);
    T_CHECK(webp >= 99 && webp_detected == webp, "WebP detected in %d of %d files", webp_detected, webp);
    T_CHECK(valid[T_FMT_GIF] >= 34 && valid[T_FMT_BMP] >= 28 && valid[T_FMT_PNM] >= 11 && unsup >= 19, "corpus smaller than expected");
    json_free(root);
    free(jtext);
}

/* The 224x224 crops of every valid file Pillow decodes (formats_preprocess.json). */
static void t_fmt_preprocess(void)
{
    if (!t_need_shared("golden/images/formats_preprocess.json")) return;
    size_t jn;
    char *jtext = t_read_file(t_shared("golden/images/formats_preprocess.json"), &jn);
    char jerr[200];
    json_value *root = jtext ? json_parse(jtext, jn, jerr, sizeof jerr) : NULL;
    T_CHECK(root != NULL, "cannot parse formats_preprocess.json");
    if (!root) { free(jtext); return; }
    const json_value *files = json_get(root, "files");
    if (!files) files = root;
    int total = 0, same = 0, skipped_bug = 0, raw_checked = 0, shown = 0;
    static uint8_t crop[224 * 224 * 3];
    for (const json_value *e = files->child; e; e = e->next) {
        const char *path = e->key;
        if (strncmp(path, "webp/", 5) == 0) continue;
        int bug = 0;
        for (size_t i = 0; i < sizeof t_fmt_pil_bugs / sizeof t_fmt_pil_bugs[0]; i++) bug |= strcmp(t_fmt_pil_bugs[i].path, path) == 0;
        if (bug) { skipped_bug++; continue; }
        const char *ref = t_fmt_str(e, "rgb_first_sha256");
        char rel[1024];
        snprintf(rel, sizeof rel, "testdata/images/%s", path);
        size_t n;
        uint8_t *data = (uint8_t *)t_read_file(t_shared(rel), &n);
        if (!data) { T_CHECK(0, "cannot read %s", path); continue; }
        total++;
        jclip_image_info info;
        char err[512] = "";
        uint8_t *rgb;
        size_t rgb_len;
        int rc = t_fmt_decode(data, n, &rgb, &rgb_len, &info, err, sizeof err);
        char hex[65] = "";
        if (rc == JCLIP_OK) {
            size_t ss = jclip_preprocess_scratch_size(info.width, info.height);
            void *scratch = malloc(ss ? ss : 1);
            rc = jclip_preprocess_crop(rgb, info.width, info.height, crop, sizeof crop, scratch, ss, err, sizeof err);
            free(scratch);
            if (rc == JCLIP_OK) t_sha256_hex(crop, sizeof crop, hex);
        }
        int ok = rc == JCLIP_OK && ref && strcmp(ref, hex) == 0;
        const char *raw = t_fmt_str(e, "rgb_file");
        if (ok && raw) { /* the stored crop itself, byte for byte */
            char rrel[1024];
            size_t rn;
            snprintf(rrel, sizeof rrel, "golden/images/%s", raw);
            uint8_t *want = (uint8_t *)t_read_file(t_shared(rrel), &rn);
            ok = want && rn == sizeof crop && memcmp(want, crop, sizeof crop) == 0;
            raw_checked++;
            free(want);
        }
        same += ok;
        if (!ok && shown++ < 10) fprintf(stderr, "  crop %s: rc %d (%s) sha %.16s vs %.16s\n", path, rc, err, hex, ref ? ref : "-");
        free(rgb);
        free(data);
    }
    T_NOTE("224x224 crops: %d of %d identical to the reference (%d also compared with the stored .rgb), %d pil_bug files left out",
           same, total, raw_checked, skipped_bug);
    T_CHECK(total >= 70 && same == total, "crops: %d of %d identical", same, total);
    json_free(root);
    free(jtext);
}

/* Random mutations and every truncation of small files of each format: never a crash (ASan in
 * make SANITIZE=1), always OK or a refusal with a message. Bounded: a few thousand decodes. */
static void t_fmt_mutate(void)
{
    static const char *files[] = {"gif/size17x33.gif", "gif/chelsea_interlaced_own.gif", "gif/anim_3f_transparent_dispose2.gif",
                                  "gif/lzw_2colour_mcs2.gif", "bmp/size17x33_pal4.bmp", "bmp/chelsea96x64_pal8_rle8.bmp",
                                  "bmp/chelsea96x64_pal4_rle4.bmp", "bmp/chelsea96x64_rgb24.bmp", "pnm/camera64x48_p2_ascii.pgm",
                                  "pnm/camera61x48_p4.pbm", "pnm/chelsea64x48_p3_ascii.ppm", "pnm/chelsea96x64_p6.ppm"};
    int runs = 0, ok = 0, refused = 0, bad = 0;
    uint32_t seed = 2024;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char rel[256];
        snprintf(rel, sizeof rel, "testdata/images/%s", files[f]);
        size_t n;
        uint8_t *orig = (uint8_t *)t_read_file(t_shared(rel), &n);
        if (!orig) { T_CHECK(0, "cannot read %s", files[f]); continue; }
        uint8_t *m = (uint8_t *)malloc(n + 1);
        for (int it = 0; it < 300; it++) {
            size_t len = n;
            memcpy(m, orig, n);
            if (it % 5 == 4) {
                seed = seed * 1103515245u + 12345u;
                len = (seed >> 4) % n; /* truncation */
            } else {
                for (int k = 0; k < 1 + it % 4; k++) {
                    seed = seed * 1103515245u + 12345u;
                    size_t lim = (it & 2) ? (n < 64 ? n : 64) : n; /* half of them hit the header */
                    size_t at = (seed >> 8) % lim;
                    seed = seed * 1103515245u + 12345u;
                    m[at] = (it & 1) ? (uint8_t)(seed >> 16) : (uint8_t)(m[at] ^ (1u << ((seed >> 16) & 7)));
                }
            }
            jclip_image_info info;
            char err[512] = "";
            uint8_t *rgb;
            size_t rgb_len;
            int rc = t_fmt_decode(m, len, &rgb, &rgb_len, &info, err, sizeof err);
            runs++;
            if (rc == JCLIP_OK) ok++;
            else if (t_fmt_refusal_ok(rc) && err[0]) refused++;
            else bad++;
            free(rgb);
        }
        free(m);
        free(orig);
    }
    T_CHECK(bad == 0, "mutated files: %d unexpected status codes", bad);
    T_NOTE("mutation: %d mutated or truncated GIF/BMP/PNM files: %d decoded, %d refused with a message, no crash", runs, ok, refused);
}

/* Hand-made edge cases of the three decoders (Pillow's behaviour, checked with Pillow 9.4). */
static void t_fmt_units(void)
{
    char err[256];
    jclip_image_info info;
    uint8_t rgb[64 * 3];
    /* (Each expected value below is what Pillow 9.4 gives for the same bytes.)
     * Plain PGM whose last number has no white space after it: Pillow repeats it to fill. */
    static const char p2[] = "P2\n2 2\n255\n7 9";
    int rc = jclip_decode_image(p2, sizeof p2 - 1, 0, rgb, sizeof rgb, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_OK && rgb[0] == 7 && rgb[3] == 9 && rgb[6] == 9 && rgb[9] == 9, "P2 refill: rc %d (%s)", rc, err);
    static const char p2b[] = "P2\n2 2\n255\n7 9 ";
    rc = jclip_decode_image(p2b, sizeof p2b - 1, 0, rgb, sizeof rgb, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_TRUNCATED, "P2 short data: rc %d", rc);
    /* A comment inside a header token: the token continues after it. */
    static const char p5[] = "P5\n1#c\n2 1 255\nABCDEFGHIJKL";
    rc = jclip_decode_image(p5, sizeof p5 - 1, 0, rgb, sizeof rgb, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_OK && info.width == 12 && info.height == 1 && rgb[0] == 'A' && rgb[33] == 'L', "comment inside a token: rc %d (%s) %ux%u", rc, err, info.width, info.height);
    /* Scaling with Python's round (half to even): maxval 2, sample 1 -> 127.5 -> 128. */
    static const char p5s[] = "P5 3 1 2\n\x00\x01\x02";
    rc = jclip_decode_image(p5s, sizeof p5s - 1, 0, rgb, sizeof rgb, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_OK && rgb[0] == 0 && rgb[3] == 128 && rgb[6] == 255, "maxval 2: rc %d %d %d %d", rc, rgb[0], rgb[3], rgb[6]);
    /* 16-bit gray opens as mode I and clips at 255. */
    static const char p5w[] = "P5 2 1 1000\n\x00\x01\x03\xE8";
    rc = jclip_decode_image(p5w, sizeof p5w - 1, 0, rgb, sizeof rgb, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_OK && rgb[0] == 66 && rgb[3] == 255 && info.bit_depth == 16, "P5 maxval 1000: rc %d %d %d", rc, rgb[0], rgb[3]);
    /* Unrecognised data, empty data, a PNG/GIF cut inside the signature. */
    rc = jclip_decode_info("\x01\x02\x03\x04", 4, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_UNSUPPORTED && strstr(err, "unrecognised image format (not JPEG, PNG, WebP, GIF, BMP or PNM)"), "junk: %s", err);
    rc = jclip_decode_info("", 0, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_UNSUPPORTED && strstr(err, "empty"), "empty: rc %d %s", rc, err);
    rc = jclip_decode_info("GIF8", 4, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_TRUNCATED, "GIF8: rc %d %s", rc, err);
    rc = jclip_decode_info("RIFF\x10\0\0\0WEBPVP8 ", 16, &info, err, sizeof err);
    T_CHECK(jc_img_sniff((const uint8_t *)"RIFF\x10\0\0\0WEBPVP8 ", 16).format == JCLIP_FORMAT_WEBP, "WebP sniff");
    /* A 2x1 GIF, no global table, min code size 2: clear, 1, 3 (a literal), end. Without a
     * table the indices are gray (i, i, i); a pixel limit of 1 refuses it. */
    static const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 2, 0, 1, 0, 0, 0, 0, ',', 0, 0, 0, 0, 2, 0, 1, 0, 0, 2, 2, 0xCC, 0x0A, 0, ';'};
    rc = jclip_decode_image(gif, sizeof gif, 0, rgb, sizeof rgb, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_OK && info.width == 2 && info.height == 1 && rgb[0] == 1 && rgb[3] == 3 && info.frames == 1,
            "tiny GIF: rc %d (%s) %u %u", rc, err, rgb[0], rgb[3]);
    rc = jclip_decode_image(gif, sizeof gif, 1, rgb, sizeof rgb, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_LIMIT, "GIF over the pixel limit: rc %d", rc);
    rc = jclip_decode_image(gif, sizeof gif, 0, rgb, 5, &info, err, sizeof err);
    T_CHECK(rc == JCLIP_ERR_CAPACITY, "GIF into a small buffer: rc %d", rc);
}

/* The command line: decode --info fields, a refusal naming the format with exit status 1. */
static void t_fmt_cli(void)
{
    char cmd[2048], out[4096];
    FILE *f = fopen("./jclip", "rb");
    if (!f) { T_CHECK(0, "./jclip not built (make jclip)"); return; }
    fclose(f);
    snprintf(cmd, sizeof cmd, "./jclip decode --info '%s/testdata/images/gif/anim_pillow_4f.gif' 2>&1", t_shared_dir());
    int rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 0 && strstr(out, "format:      GIF") && strstr(out, "size:        120x90") && strstr(out, "frames:      4") &&
                strstr(out, "alpha:       no") && strstr(out, "compression: lossless"),
            "decode --info GIF (rc %d): %s", rc, out);
    snprintf(cmd, sizeof cmd, "./jclip decode --info '%s/testdata/images/bmp/chelsea_rgba32_v4_bitfields.bmp' 2>&1", t_shared_dir());
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 0 && strstr(out, "format:      BMP") && strstr(out, "alpha:       yes") && strstr(out, "frames:      1"), "decode --info BMP (rc %d): %s", rc, out);
    snprintf(cmd, sizeof cmd, "./jclip decode --info '%s/testdata/images/photos/skimage_chelsea.png' 2>&1", t_shared_dir());
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 0 && strstr(out, "format:      PNG") && strstr(out, "compression: lossless"), "decode --info PNG (rc %d): %s", rc, out);
    snprintf(cmd, sizeof cmd, "./jclip decode '%s/testdata/images/unsupported/chelsea64x48.tiff' -o build/fmt_test.ppm 2>&1", t_shared_dir());
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 1 && strstr(out, "TIFF is not supported") && strchr(out, '\n') == strrchr(out, '\n'), "TIFF refusal (rc %d): %s", rc, out);
    snprintf(cmd, sizeof cmd, "./jclip preprocess '%s/testdata/images/unsupported/chelsea64x48.psd' -o build/fmt_test.rgb 2>&1", t_shared_dir());
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 1 && strstr(out, "PSD (Photoshop) is not supported"), "PSD refusal (rc %d): %s", rc, out);
    /* search finds the new extensions in folders: all 11 PNM files (.pbm .pgm .ppm). */
    snprintf(cmd, sizeof cmd, "./jclip search -m %s -k 20 'a cat' '%s/testdata/images/pnm' 2>&1", t_model_path("tiny-s1"), t_shared_dir());
    rc = t_run(cmd, out, sizeof out);
    int lines = 0;
    for (const char *q = out; (q = strstr(q, "/pnm/")) != NULL; q++) lines++;
    T_CHECK(rc == 0 && lines == 11 && strstr(out, ".pbm") && strstr(out, ".pgm") && strstr(out, ".ppm"), "search over pnm/ (rc %d, %d files): %s", rc, lines, out);
    /* decode writes Pillow's bytes: a PPM of a BMP hashes to the golden. */
    snprintf(cmd, sizeof cmd, "./jclip decode '%s/testdata/images/bmp/chelsea96x64_pal8_rle8.bmp' -o build/fmt_test.ppm 2>&1", t_shared_dir());
    rc = t_run(cmd, out, sizeof out);
    size_t n = 0;
    char *ppm = rc == 0 ? t_read_file("build/fmt_test.ppm", &n) : NULL;
    char hex[65] = "";
    const char *hdr = "P6\n96 64\n255\n";
    if (ppm && n == strlen(hdr) + 96 * 64 * 3 && memcmp(ppm, hdr, strlen(hdr)) == 0) t_sha256_hex(ppm + strlen(hdr), n - strlen(hdr), hex);
    /* formats.json: pil.rgb_sha256 of bmp/chelsea96x64_pal8_rle8.bmp */
    size_t jn;
    char *jtext = t_read_file(t_shared("golden/images/formats.json"), &jn);
    json_value *root = jtext ? json_parse(jtext, jn, NULL, 0) : NULL;
    const char *want = t_fmt_str(json_get(json_get(json_get(root, "files"), "bmp/chelsea96x64_pal8_rle8.bmp"), "pil"), "rgb_sha256");
    T_CHECK(want && strcmp(want, hex) == 0, "decode -o PPM of an RLE8 BMP: rc %d sha %.16s", rc, hex);
    json_free(root);
    free(jtext);
    free(ppm);
    remove("build/fmt_test.ppm");
}

/* Everywhere images go: the embedding calls take the new formats (the embedding of a file
 * equals that of its decoded pixels), and every malformed-formats file is refused with a
 * message or embedded, never a crash. Uses the micro model that the hostile suite uses. */
static void t_fmt_embed(void)
{
    char err[512];
    jclip_model *m = NULL;
    if (jclip_model_load("build/models/micro.jclip", &m, err, sizeof err)) {
        T_CHECK(0, "%s (build it with make build/models/micro.jclip)", err);
        return;
    }
    jclip_ctx *ctx = NULL;
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.n_threads = 1;
    if (jclip_ctx_create(m, &p, &ctx, err, sizeof err)) { T_CHECK(0, "%s", err); jclip_model_free(m); return; }
    size_t D = (size_t)jclip_embed_dim(m);
    float *a = (float *)malloc(D * sizeof *a), *b = (float *)malloc(D * sizeof *b);
    static const char *valid[] = {"gif/chelsea_interlaced_own.gif", "bmp/chelsea_pal4_rle4.bmp", "pnm/monkey_p6_16bit.ppm"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "testdata/images/%s", valid[i]);
        size_t n;
        uint8_t *data = (uint8_t *)t_read_file(t_shared(rel), &n);
        jclip_image_info info;
        uint8_t *rgb = NULL;
        size_t rgb_len = 0;
        int ok = data && t_fmt_decode(data, n, &rgb, &rgb_len, &info, err, sizeof err) == JCLIP_OK &&
                 jclip_embed_image(ctx, data, n, a, D) == JCLIP_OK && jclip_embed_rgb(ctx, rgb, info.width, info.height, b, D) == JCLIP_OK &&
                 memcmp(a, b, D * sizeof *a) == 0;
        T_CHECK(ok, "%s: embed_image differs from embed_rgb of its pixels (%s)", valid[i], jclip_ctx_error(ctx));
        free(rgb);
        free(data);
    }
    DIR *dir = opendir(t_shared("testdata/images/malformed-formats"));
    int n_err = 0, n_ok = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".json")) continue;
        char rel[512];
        snprintf(rel, sizeof rel, "testdata/images/malformed-formats/%s", e->d_name);
        size_t n;
        uint8_t *data = (uint8_t *)t_read_file(t_shared(rel), &n);
        if (!data) continue;
        int rc = jclip_embed_image(ctx, data, n, a, D);
        if (rc == 0) n_ok++;
        else {
            n_err++;
            T_CHECK(t_fmt_refusal_ok(rc) && jclip_ctx_error(ctx)[0], "%s: status %d (%s)", e->d_name, rc, jclip_ctx_error(ctx));
        }
        free(data);
    }
    if (dir) closedir(dir);
    T_CHECK(n_err + n_ok >= 68, "only %d malformed-formats files", n_err + n_ok);
    T_NOTE("jclip_embed_image on malformed-formats/: %d refused with a message, %d embedded", n_err, n_ok);
    free(a);
    free(b);
    jclip_ctx_free(ctx);
    jclip_model_free(m);
}

static void suite_formats(void)
{
    t_fmt_units();
    t_fmt_corpus();
    t_fmt_preprocess();
    t_fmt_mutate();
    t_fmt_embed();
    t_fmt_cli();
}
