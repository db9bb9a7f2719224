/* test/t_jpeg.c: jpeg suite (included by test/run.c).
 *
 * Every JPEG in shared/testdata/images is decoded and compared with the goldens in
 * shared/golden/images/decode.json:
 *  - pil.status "ok": sha256 of our RGB must equal pil.rgb_sha256 (Pillow 9.4 + libjpeg-turbo);
 *  - arithmetic-coded files over 64 KiB, which Pillow 9.4 cannot decode (its 64 KiB read
 *    chunks make libjpeg's non-suspending arithmetic decoder fail), must equal djpeg.rgb_sha256;
 *  - every other pil.status "error" file must make jpeg_decode return an error.
 * Deliberate deviations are listed in jpeg_t_known below (file, what we do, why); a file listed
 * there is reported but not counted as a failure. jpeg_info is checked against the size,
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
        jclip_image_info info;
        int irc = jpeg_info(data, len, &info, err, sizeof err);

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

        /* jpeg_info against Pillow's header fields (files Pillow decodes). */
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
        int rc = rgb ? jpeg_decode(data, len, JCLIP_DEFAULT_MAX_PIXELS, rgb, cap, NULL, err, sizeof err) : (irc ? irc : JCLIP_ERR_LIMIT);
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
    T_NOTE("jpeg_info: %d of %d headers agree with Pillow", n_info - n_info_bad, n_info);
    T_CHECK(n_missing == 0, "%d JPEG files missing", n_missing);
    T_CHECK(n_jpeg > 0 && n_div == 0, "%d JPEG files decode differently from the golden", n_div);
    T_CHECK(n_err_bad == 0, "%d files decoded although Pillow reports an error", n_err_bad);
    T_CHECK(n_info_bad == 0, "%d jpeg_info results disagree with Pillow", n_info_bad);
    json_free(root);
    free(jtext);
}
