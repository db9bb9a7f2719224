/* test/t_jpeg.c: jpeg suite (included by test/run.c).
 *
 * Every JPEG in shared/testdata/images is decoded and compared with the goldens in
 * shared/golden/images/decode.json:
 *  - pil.status "ok": sha256 of our RGB must equal pil.rgb_sha256 (Pillow 9.4 + libjpeg-turbo);
 *  - arithmetic-coded files over 64 KiB, which Pillow 9.4 cannot decode (its 64 KiB read
 *    chunks make libjpeg's non-suspending arithmetic decoder fail), must equal djpeg.rgb_sha256;
 *  - every other pil.status "error" file must make jc_jpeg_decode return an error;
 *  - where the CPU has the SIMD pixel stages (kernels/, jc_cpu_jpeg_ops), every file decodes
 *    to the same status and bytes through them and through the scalar code, so the scalar
 *    path stays covered on x86; jpeg_simd_kernels() compares the stages one by one on hostile
 *    coefficients and every row width from 1 up.
 * Deliberate deviations are listed in jpeg_t_known below (file, what we do, why); a file listed
 * there is reported but not counted as a failure. jc_jpeg_info is checked against the size,
 * progressive flag and EXIF orientation Pillow reported. */

typedef struct { const char *file; const char *why; } jpeg_t_known_t;

/* | file | our result | reason | */
static const jpeg_t_known_t jpeg_t_known[] = {
    {NULL, NULL},
};

static const char *jpeg_t_known_why(const char *file)
{
    for (size_t i = 0; jpeg_t_known[i].file; i++)
        if (strcmp(jpeg_t_known[i].file, file) == 0) return jpeg_t_known[i].why;
    return NULL;
}

static const char *jpeg_t_str(const json_value *o, const char *k)
{
    const json_value *v = o ? json_get(o, k) : NULL;
    return v && v->type == JSON_STRING ? v->str : NULL;
}

/* xorshift64* for the kernel comparisons: deterministic, no libc rand state. */
static uint32_t jpeg_t_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545F4914F6CDD1Dull) >> 32);
}

/* Each SIMD pixel stage against its scalar twin. IDCT: blocks of every sparsity pattern the
 * scalar code special-cases (DC only, row 0 only, rows 0-3, columns 0-3, dense) with small,
 * large and full-range coefficients and multipliers, so that the 16-bit wraps and saturations
 * are exercised. Colour stages: every width from 1 to 200 in exactly sized heap buffers, so
 * that an over-read or over-write shows under ASan. */
static void jpeg_simd_kernels(const jc_jpeg_ops *simd)
{
    if (!simd) return;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int n_idct = 0, bad_idct = 0;
    for (int it = 0; it < 200000; it++) {
        int16_t in[64], q[64];
        uint8_t a[8 * 11], b[8 * 11];
        int pattern = it % 6, range = (it / 6) % 4;
        for (int k = 0; k < 64; k++) {
            uint32_t r = jpeg_t_rand(&seed);
            int row = k / 8, col = k % 8;
            int keep = pattern == 0 ? k == 0 : pattern == 1 ? row == 0 : pattern == 2 ? row < 4 : pattern == 3 ? col < 4 : pattern == 4 ? (r >> 20) % 4 == 0 : 1;
            int v = range == 0 ? (int)(r % 64) - 32 : range == 1 ? (int)(r % 2048) - 1024 : (int)(r % 65536) - 32768;
            in[k] = (int16_t)(keep ? v : 0);
            uint32_t rq = jpeg_t_rand(&seed);
            q[k] = (int16_t)(range == 3 ? (int)(rq % 65536) - 32768 : range == 2 ? (int)(rq % 255) + 1 : (int)(rq % 100) + 1);
        }
        memset(a, 0xAA, sizeof a);
        memset(b, 0xAA, sizeof b);
        jc_jpeg_idct(in, q, a + 1, 11);
        simd->idct(in, q, b + 1, 11);
        n_idct++;
        if (memcmp(a, b, sizeof a) != 0 && bad_idct++ < 5) fprintf(stderr, "  IDCT differs: pattern %d range %d (case %d)\n", pattern, range, it);
    }
    T_CHECK(bad_idct == 0, "%s IDCT differs from the scalar one on %d of %d blocks", simd->name, bad_idct, n_idct);

    jc_jpeg_ycc *t = (jc_jpeg_ycc *)malloc(sizeof *t);
    jc_jpeg_dec *d = (jc_jpeg_dec *)calloc(1, sizeof *d);
    int bad_row = 0, bad_fancy = 0;
    if (!t || !d) { free(t); free(d); T_CHECK(0, "out of memory"); return; }
    jc_jpeg_ycc_init(t);
    for (uint32_t n = 1; n <= 200; n++) {
        uint8_t *y = (uint8_t *)malloc(n), *cb = (uint8_t *)malloc(n), *cr = (uint8_t *)malloc(n);
        uint8_t *o1 = (uint8_t *)malloc(3 * (size_t)n), *o2 = (uint8_t *)malloc(3 * (size_t)n);
        if (!y || !cb || !cr || !o1 || !o2) { bad_row++; goto next_row; }
        for (uint32_t i = 0; i < n; i++) {
            uint32_t r = jpeg_t_rand(&seed);
            /* extremes often: they drive the clamps */
            y[i] = (uint8_t)((r & 3) == 0 ? 0 : (r & 3) == 1 ? 255 : r >> 8);
            cb[i] = (uint8_t)((r & 12) == 0 ? 0 : (r & 12) == 4 ? 255 : r >> 16);
            cr[i] = (uint8_t)((r & 48) == 0 ? 0 : (r & 48) == 16 ? 255 : r >> 24);
        }
        {
            const uint8_t *rows[3] = {y, cb, cr};
            d->W = n;
            jc_jpeg_convert_row(d, JC_JPEG_CS_YCC, t, rows, o1);
            simd->ycc_row(y, cb, cr, n, o2);
            if (memcmp(o1, o2, 3 * (size_t)n) != 0 && bad_row++ < 5) fprintf(stderr, "  YCbCr row of %u pixels differs\n", n);
        }
    next_row:
        free(y), free(cb), free(cr), free(o1), free(o2);
    }
    for (uint32_t dw = 1; dw <= 120; dw++)
        for (uint32_t W = 2 * dw - 1; W <= 2 * dw; W++)
            for (int v2 = 0; v2 < 2; v2++) {
                uint8_t *y = (uint8_t *)malloc(W), *o1 = (uint8_t *)malloc(3 * (size_t)W), *o2 = (uint8_t *)malloc(3 * (size_t)W);
                uint8_t *ch[4];
                int16_t *ws = (int16_t *)malloc(jc_jpeg_ws(dw) * sizeof(int16_t));
                int ok = y && o1 && o2 && ws;
                for (int k = 0; k < 4; k++) ok &= (ch[k] = (uint8_t *)malloc(dw)) != NULL;
                if (ok) {
                    for (uint32_t i = 0; i < W; i++) y[i] = (uint8_t)jpeg_t_rand(&seed);
                    for (int k = 0; k < 4; k++)
                        for (uint32_t i = 0; i < dw; i++) {
                            uint32_t r = jpeg_t_rand(&seed);
                            ch[k][i] = (uint8_t)((r & 7) == 0 ? 0 : (r & 7) == 1 ? 255 : r >> 8);
                        }
                    if (v2) jc_jpeg_ycc_h2v2_row(t, y, ch[0], ch[1], ch[2], ch[3], dw, W, o1);
                    else jc_jpeg_ycc_h2v1_row(t, y, ch[0], ch[2], dw, W, o1);
                    simd->ycc_fancy_row(y, ch[0], ch[1], ch[2], ch[3], dw, W, v2, o2, ws);
                    if (memcmp(o1, o2, 3 * (size_t)W) != 0 && bad_fancy++ < 5)
                        fprintf(stderr, "  fancy %s row dw=%u W=%u differs\n", v2 ? "h2v2" : "h2v1", dw, W);
                } else {
                    bad_fancy++;
                }
                free(y), free(o1), free(o2), free(ws);
                for (int k = 0; k < 4; k++) free(ch[k]);
            }
    free(t);
    free(d);
    T_CHECK(bad_row == 0, "%s YCbCr rows differ from the scalar ones (%d widths)", simd->name, bad_row);
    T_CHECK(bad_fancy == 0, "%s fancy-upsampled rows differ from the scalar ones (%d cases)", simd->name, bad_fancy);
    T_NOTE("%s pixel stages: %d IDCT blocks, YCbCr rows of 1-200 pixels, h2v1/h2v2 rows of 1-240 pixels, compared with scalar",
           simd->name, n_idct);
}

static void suite_jpeg(void)
{
    if (!t_need_shared("golden/images/decode.json")) return;
    size_t jlen = 0;
    char *jtext = t_read_file(t_shared("golden/images/decode.json"), &jlen);
    char jerr[256];
    json_value *root = jtext ? json_parse(jtext, jlen, jerr, sizeof jerr) : NULL;
    T_CHECK(root != NULL, "decode.json does not parse");
    if (!root) { free(jtext); return; }
    const json_value *files = json_get(root, "files");

    int n_jpeg = 0, n_ident = 0, n_div = 0, n_err_ok = 0, n_err_bad = 0, n_known = 0, n_djpeg = 0;
    int n_info = 0, n_info_bad = 0, n_missing = 0;
    int shown_div = 0, shown_err = 0, shown_info = 0;
    const jc_jpeg_ops *simd = jc_cpu_jpeg_ops();
    int n_simd_same = 0, n_simd_div = 0, shown_simd = 0;
    for (const json_value *f = files ? files->child : NULL; f; f = f->next) {
        const char *kind = jpeg_t_str(f, "kind");
        if (!kind || strcmp(kind, "jpeg") != 0) continue;
        n_jpeg++;
        const json_value *pil = json_get(f, "pil");
        const char *pstatus = jpeg_t_str(pil, "status");
        char rel[1024];
        snprintf(rel, sizeof rel, "testdata/images/%s", f->key);
        size_t len = 0;
        uint8_t *data = (uint8_t *)t_read_file(t_shared(rel), &len);
        if (!data) { n_missing++; continue; }

        char err[256] = "";
        jc_image_info info;
        int irc = jc_jpeg_info(data, len, &info, err, sizeof err);

        /* What should the decode give? */
        const char *want = NULL;
        if (pstatus && strcmp(pstatus, "ok") == 0) {
            want = jpeg_t_str(pil, "rgb_sha256");
        } else if (irc == 0 && info.arithmetic && len > 65536) {
            const json_value *dj = json_get(f, "djpeg");
            const json_value *rc = dj ? json_get(dj, "rc") : NULL;
            if (rc && rc->type == JSON_NUMBER && rc->num == 0) {
                want = jpeg_t_str(dj, "rgb_sha256");
                n_djpeg++;
            }
        }

        /* jc_jpeg_info against Pillow's header fields (files Pillow decodes). */
        const json_value *psize = pil ? json_get(pil, "size") : NULL;
        if (pstatus && strcmp(pstatus, "ok") == 0 && psize && psize->type == JSON_ARRAY && psize->child && psize->child->next) {
            n_info++;
            const json_value *pp = json_get(pil, "progressive"), *po = json_get(pil, "exif_orientation");
            int want_prog = pp && pp->type == JSON_TRUE;
            int want_or = po && po->type == JSON_NUMBER ? (int)po->num : 0;
            if (want_or < 0 || want_or > 8) want_or = 0;
            int ok = irc == 0 && info.width == (uint32_t)psize->child->num && info.height == (uint32_t)psize->child->next->num &&
                     info.progressive == want_prog && info.exif_orientation == want_or && info.format == JCLIP_FORMAT_JPEG &&
                     info.bit_depth == 8;
            if (!ok) {
                n_info_bad++;
                if (shown_info++ < 10)
                    fprintf(stderr, "  info mismatch %s: rc=%d %ux%u prog=%d orient=%d (want %gx%g prog=%d orient=%d) %s\n", f->key, irc,
                            info.width, info.height, info.progressive, info.exif_orientation, psize->child->num,
                            psize->child->next->num, want_prog, want_or, irc ? err : "");
            }
        }

        size_t cap = 0;
        uint8_t *rgb = NULL;
        if (irc == 0 && (uint64_t)info.width * info.height <= JCLIP_DEFAULT_MAX_PIXELS) {
            cap = (size_t)info.width * info.height * 3;
            rgb = (uint8_t *)malloc(cap ? cap : 1);
        }
        int rc = rgb ? jc_jpeg_decode(data, len, JCLIP_DEFAULT_MAX_PIXELS, rgb, cap, NULL, err, sizeof err) : (irc ? irc : JCLIP_ERR_LIMIT);
        if (simd && rgb) {
            /* the same decode through the scalar pixel stages */
            uint8_t *ref = (uint8_t *)malloc(cap ? cap : 1);
            char err2[256] = "";
            int rc2 = ref ? jc_jpeg_run(data, len, JCLIP_DEFAULT_MAX_PIXELS, ref, cap, NULL, err2, sizeof err2, 0, NULL) : JCLIP_ERR_NOMEM;
            if (rc2 == rc && (rc != 0 || memcmp(rgb, ref, cap) == 0)) {
                n_simd_same++;
            } else {
                n_simd_div++;
                if (shown_simd++ < 10) fprintf(stderr, "  SIMD and scalar decodes differ for %s: rc %d vs %d\n", f->key, rc, rc2);
            }
            free(ref);
        }
        const char *known = jpeg_t_known_why(f->key);
        if (want) {
            char hex[65] = "";
            if (rc == 0) t_sha256_hex(rgb, cap, hex);
            if (rc == 0 && strcmp(hex, want) == 0) {
                n_ident++;
            } else if (known) {
                n_known++;
            } else {
                n_div++;
                if (shown_div++ < 10) fprintf(stderr, "  divergent %s: rc=%d %s\n", f->key, rc, rc ? err : "(different pixels)");
            }
        } else {
            if (rc != 0) {
                n_err_ok++;
            } else if (known) {
                n_known++;
            } else {
                n_err_bad++;
                if (shown_err++ < 10) fprintf(stderr, "  decoded a file Pillow rejects: %s (pil: %s)\n", f->key, jpeg_t_str(pil, "error"));
            }
        }
        free(rgb);
        free(data);
    }
    T_NOTE("%d JPEG files: %d identical (%d of them against djpeg), %d divergent, %d errors as expected, %d decoded where Pillow fails, %d known deviations",
           n_jpeg, n_ident, n_djpeg, n_div, n_err_ok, n_err_bad, n_known);
    T_NOTE("jc_jpeg_info: %d of %d headers agree with Pillow", n_info - n_info_bad, n_info);
    if (simd)
        T_NOTE("%s pixel stages against the scalar code: %d of %d decodes identical", simd->name, n_simd_same, n_simd_same + n_simd_div);
    else
        T_NOTE("no SIMD JPEG pixel stages on this CPU (or JCLIP_ISA=scalar): scalar code only");
    T_CHECK(n_simd_div == 0, "%d JPEG files decode differently through the SIMD and scalar pixel stages", n_simd_div);
    jpeg_simd_kernels(simd);
    T_CHECK(n_missing == 0, "%d JPEG files missing", n_missing);
    T_CHECK(n_jpeg > 0 && n_div == 0, "%d JPEG files decode differently from the golden", n_div);
    T_CHECK(n_err_bad == 0, "%d files decoded although Pillow reports an error", n_err_bad);
    T_CHECK(n_info_bad == 0, "%d jc_jpeg_info results disagree with Pillow", n_info_bad);
    json_free(root);
    free(jtext);
}
