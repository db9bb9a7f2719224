/* test/t_preprocess.c: preprocess suite (included by test/run.c).
 *
 * Golden check: every image of golden/images/preprocess.json is decoded with jc_img_info +
 * jc_img_decode, then resized and cropped; the crop must hash to rgb_first_sha256, equal the raw
 * preprocess/NAME.rgb file where one is given, and normalise to the tensors/NAME.npy float32 values
 * bit for bit. Small synthetic checks cover geometry, the no-resize paths and error returns. */

#define TP_CROP_BYTES ((size_t)224 * 224 * 3)
#define TP_CHW_FLOATS ((size_t)3 * 224 * 224)

/* Minimal .npy reader for a little-endian float32 C-order array of shape (3, 224, 224): returns
 * a pointer to the data inside buf, or NULL (and a reason) when the header says otherwise. */
static const uint8_t *tp_npy_f32_chw(const uint8_t *buf, size_t len, const char **why)
{
    *why = "bad magic";
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) return NULL;
    size_t hl, off;
    if (buf[6] == 1) { hl = buf[8] | (size_t)buf[9] << 8; off = 10; }
    else if (buf[6] == 2 || buf[6] == 3) {
        if (len < 12) return NULL;
        hl = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        off = 12;
    } else return NULL;
    *why = "header runs past the file";
    if (hl > len - off) return NULL;
    char hdr[512];
    if (hl >= sizeof hdr) return NULL;
    memcpy(hdr, buf + off, hl);
    hdr[hl] = 0;
    const char *p = strstr(hdr, "'descr':");
    *why = "dtype is not '<f4'";
    if (!p) return NULL;
    p += 8;
    while (*p == ' ') p++;
    if (strncmp(p, "'<f4'", 5) != 0) return NULL;
    *why = "fortran_order is not False";
    p = strstr(hdr, "'fortran_order':");
    if (!p) return NULL;
    p += 16;
    while (*p == ' ') p++;
    if (strncmp(p, "False", 5) != 0) return NULL;
    *why = "shape is not (3, 224, 224)";
    p = strstr(hdr, "'shape':");
    if (!p) return NULL;
    p += 8;
    while (*p == ' ') p++;
    if (*p++ != '(') return NULL;
    static const long want[3] = {3, 224, 224};
    for (int d = 0; d < 3; d++) {
        char *end;
        while (*p == ' ') p++;
        long v = strtol(p, &end, 10);
        if (end == p || v != want[d]) return NULL;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') p++;
    }
    while (*p == ' ') p++;
    if (*p != ')') return NULL;
    *why = "data size is not 3*224*224*4";
    if (len - off - hl != TP_CHW_FLOATS * 4) return NULL;
    return buf + off + hl;
}

/* Bitwise comparison of host floats with little-endian float32 bytes; returns mismatches. */
static size_t tp_cmp_f32(const float *a, const uint8_t *le, size_t n, size_t *first_bad)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t x, y = le[4 * i] | (uint32_t)le[4 * i + 1] << 8 | (uint32_t)le[4 * i + 2] << 16 |
                        (uint32_t)le[4 * i + 3] << 24;
        memcpy(&x, &a[i], 4);
        if (x != y && bad++ == 0) *first_bad = i;
    }
    return bad;
}

/* Runs jc_pre_resize_crop with exactly jc_pre_scratch_size bytes of scratch, deliberately misaligned
 * by one byte to prove the function aligns it itself. */
static int tp_resize(const uint8_t *rgb, uint32_t w, uint32_t h, uint8_t *crop, char *err, size_t errcap)
{
    size_t need = jc_pre_scratch_size(w, h);
    if (!need) return jc_fail(err, errcap, JCLIP_ERR_LIMIT, "jc_pre_scratch_size(%u, %u) = 0", w, h);
    uint8_t *mem = (uint8_t *)malloc(need + 1);
    if (!mem) return jc_fail(err, errcap, JCLIP_ERR_NOMEM, "no memory");
    int rc = jc_pre_resize_crop(rgb, w, h, crop, mem + 1, need, err, errcap);
    free(mem);
    return rc;
}

static void tp_synthetic(void)
{
    /* Crop offsets: Python round() of (d / 2.0), halves to even. */
    T_CHECK(jc_pre_half_even(77) == 38 && jc_pre_half_even(75) == 38 && jc_pre_half_even(76) == 38 &&
                jc_pre_half_even(0) == 0 && jc_pre_half_even(1) == 0 && jc_pre_half_even(3) == 2 &&
                jc_pre_half_even(5) == 2,
            "round half even of d/2");

    /* Geometry: torchvision's int(224 * long / short). */
    jc_pre_plan p;
    T_CHECK(jc_pre_make_plan(640, 480, JC_PRE_MODE_JINA, &p) && p.x.out_size == 298 && p.y.out_size == 224 && p.x.first == 37,
            "640x480 -> %dx%d first %d", p.x.out_size, p.y.out_size, p.x.first);
    T_CHECK(jc_pre_make_plan(193, 31237, JC_PRE_MODE_JINA, &p) && p.x.out_size == 224 && p.y.out_size == 36254,
            "193x31237 -> %dx%d", p.x.out_size, p.y.out_size);
    T_CHECK(jc_pre_make_plan(224, 300, JC_PRE_MODE_JINA, &p) && !p.x.needed && !p.y.needed, "224x300 is not resized");
    /* Crop offsets: torchvision rounds (size - 224) / 2 half to even, Hugging Face floors. */
    T_CHECK(jc_pre_make_plan(335, 224, JC_PRE_MODE_JINA, &p) && p.x.first == 56 && p.y.first == 0, "335 px: torchvision 56, got %d",
            p.x.first);
    T_CHECK(jc_pre_make_plan(335, 224, JC_PRE_MODE_CLIP, &p) && p.x.first == 55, "335 px: Hugging Face 55, got %d", p.x.first);
    T_CHECK(jc_pre_make_plan(224, 337, JC_PRE_MODE_CLIP, &p) && p.y.first == 56 && jc_pre_make_plan(224, 337, JC_PRE_MODE_JINA, &p) &&
                p.y.first == 56, "337 px: both 56");

    /* Error returns. */
    uint8_t px[3] = {1, 2, 3}, *crop = (uint8_t *)malloc(TP_CROP_BYTES);
    uint8_t scratch[64];
    char err[128] = "";
    T_CHECK(jc_pre_scratch_size(0, 10) == 0 && jc_pre_scratch_size(10, 0) == 0, "zero size has no scratch");
    T_CHECK(jc_pre_scratch_size(0x80000000u, 1) == 0, "side above INT_MAX is rejected");
    T_CHECK(jc_pre_resize_crop(px, 0, 1, crop, scratch, sizeof scratch, err, sizeof err) == JCLIP_ERR_LIMIT,
            "w = 0 gives LIMIT");
    T_CHECK(jc_pre_resize_crop(px, 1, 1, crop, scratch, sizeof scratch, err, sizeof err) == JCLIP_ERR_CAPACITY,
            "small scratch gives CAPACITY");
    T_CHECK(jc_pre_resize_crop(NULL, 1, 1, crop, scratch, sizeof scratch, err, sizeof err) == JCLIP_ERR_ARG,
            "NULL image gives ARG");
    if (!crop) { T_CHECK(0, "no memory"); return; }

    /* Unchanged size: the crop is a plain copy at the half-even offset. */
    {
        static const uint32_t dims[2][2] = {{224, 301}, {299, 224}};
        for (int t = 0; t < 2; t++) {
            uint32_t w = dims[t][0], h = dims[t][1];
            uint8_t *img = (uint8_t *)malloc((size_t)w * h * 3);
            if (!img) { T_CHECK(0, "no memory"); continue; }
            for (size_t i = 0; i < (size_t)w * h * 3; i++) img[i] = (uint8_t)(i * 2654435761u >> 13);
            int rc = tp_resize(img, w, h, crop, err, sizeof err);
            /* 301: 77 / 2 = 38.5 -> 38; 299: 75 / 2 = 37.5 -> 38. */
            size_t top = h == 301 ? 38 : 0, left = w == 299 ? 38 : 0;
            int same = rc == 0;
            for (size_t r = 0; same && r < 224; r++)
                same = memcmp(crop + r * 672, img + ((top + r) * w + left) * 3, 672) == 0;
            T_CHECK(same, "%ux%u: crop is the centred copy (rc %d %s)", w, h, rc, err);
            free(img);
        }
    }

    /* A constant image stays constant through any resize (weights sum to 1 in fixed point),
     * including extreme aspect ratios and pure up- or downscaling. */
    {
        static const uint32_t dims[][2] = {{1, 1}, {1, 5000}, {5000, 1}, {225, 224}, {7, 1000},
                                           {1000, 231}, {2000, 2001}, {223, 223}};
        for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
            uint32_t w = dims[t][0], h = dims[t][1];
            uint8_t *img = (uint8_t *)malloc((size_t)w * h * 3);
            if (!img) { T_CHECK(0, "no memory"); continue; }
            for (size_t i = 0; i < (size_t)w * h; i++) { img[3 * i] = 0; img[3 * i + 1] = 97; img[3 * i + 2] = 255; }
            int rc = tp_resize(img, w, h, crop, err, sizeof err);
            int same = rc == 0;
            for (size_t i = 0; same && i < 224 * 224; i++)
                same = crop[3 * i] == 0 && crop[3 * i + 1] == 97 && crop[3 * i + 2] == 255;
            T_CHECK(same, "%ux%u constant image stays constant (rc %d %s)", w, h, rc, err);
            free(img);
        }
    }

    /* Normalisation of the extremes, checked against the float32 formula. */
    {
        float *chw = (float *)malloc(TP_CHW_FLOATS * sizeof(float));
        if (chw) {
            memset(crop, 0, TP_CROP_BYTES);
            crop[0] = 255;
            jc_pre_normalize(crop, chw);
            volatile float m0 = (float)0.48145466, s0 = (float)0.26862954, m2 = (float)0.40821073,
                           s2 = (float)0.27577711;
            T_CHECK(chw[0] == (1.0f - m0) / s0 && chw[1] == (0.0f - m0) / s0 &&
                        chw[2 * 224 * 224] == (0.0f - m2) / s2,
                    "normalize extremes");
            free(chw);
        }
    }
    free(crop);
}

static void suite_preprocess(void)
{
    tp_synthetic();
    if (!t_need_shared("golden/images/preprocess.json")) return;
    size_t jlen;
    char *jtext = t_read_file(t_shared("golden/images/preprocess.json"), &jlen);
    char err[256] = "";
    json_value *root = jtext ? json_parse(jtext, jlen, err, sizeof err) : NULL;
    json_value *files = json_get(root, "files");
    T_CHECK(files && files->type == JSON_OBJECT, "preprocess.json: no files object (%s)", err);
    if (!files || files->type != JSON_OBJECT) { json_free(root); free(jtext); return; }

    uint8_t *crop = (uint8_t *)malloc(TP_CROP_BYTES);
    float *chw = (float *)malloc(TP_CHW_FLOATS * sizeof(float));
    size_t n_skipped = 0, n_total = 0, n_sha = 0, n_geom = 0, n_rgb = 0, n_rgb_ok = 0, n_npy = 0, n_npy_ok = 0;
    for (json_value *e = files->child; e && crop && chw; e = e->next) {
        json_value *jsha = json_get(e, "rgb_first_sha256"), *jrs = json_get(e, "resized_size");
        json_value *jrgb = json_get(e, "rgb_file"), *jnpy = json_get(e, "npy_file");
        /* Corrupt inputs that Pillow happens to decode are the decoder suites' business: jclip
         * rejects some of them on purpose (CRC, Adler-32, truncation) and documents each
         * there. Preprocessing is judged on the valid corpus. */
        if (strncmp(e->key, "malformed/", 10) == 0 || strncmp(e->key, "pngsuite/x", 10) == 0) {
            n_skipped++;
            continue;
        }
        n_total++;
        char rel[1024];
        snprintf(rel, sizeof rel, "testdata/images/%s", e->key);
        size_t len;
        uint8_t *data = (uint8_t *)t_read_file(t_shared(rel), &len);
        if (!data) { T_CHECK(0, "%s: cannot read", rel); continue; }
        jc_image_info info;
        uint8_t *rgb = NULL;
        int rc = jc_img_info(data, len, &info, err, sizeof err);
        size_t cap = 0;
        if (rc == 0 && jc_mul3(info.width, info.height, 3, &cap) && (rgb = (uint8_t *)malloc(cap ? cap : 1)))
            rc = jc_img_decode(data, len, JCLIP_DEFAULT_MAX_PIXELS, rgb, cap, &info, err, sizeof err);
        else if (rc == 0)
            rc = JCLIP_ERR_NOMEM;
        free(data);
        if (rc != 0) { T_CHECK(0, "%s: decode failed (%d %s)", e->key, rc, err); free(rgb); continue; }

        /* The resized size that torchvision reported. */
        jc_pre_plan plan;
        int geom = jc_pre_make_plan(info.width, info.height, JC_PRE_MODE_JINA, &plan) && jrs && jrs->type == JSON_ARRAY &&
                   jrs->len == 2 && jrs->child->num == plan.x.out_size && jrs->child->next->num == plan.y.out_size;
        n_geom += geom;
        T_CHECK(geom, "%s: resized size differs from the golden", e->key);

        rc = tp_resize(rgb, info.width, info.height, crop, err, sizeof err);
        free(rgb);
        if (rc != 0) { T_CHECK(0, "%s: jc_pre_resize_crop failed (%d %s)", e->key, rc, err); continue; }
        char hex[65];
        t_sha256_hex(crop, TP_CROP_BYTES, hex);
        int ok = jsha && jsha->type == JSON_STRING && strcmp(hex, jsha->str) == 0;
        n_sha += ok;
        T_CHECK(ok, "%s (%ux%u): crop sha %s, golden %s", e->key, info.width, info.height, hex,
                jsha && jsha->str ? jsha->str : "?");

        if (jrgb && jrgb->type == JSON_STRING) {
            char rp[1024];
            snprintf(rp, sizeof rp, "golden/images/%s", jrgb->str);
            size_t glen;
            uint8_t *g = (uint8_t *)t_read_file(t_shared(rp), &glen);
            size_t diff = 0;
            if (g && glen == TP_CROP_BYTES)
                for (size_t i = 0; i < TP_CROP_BYTES; i++) diff += g[i] != crop[i];
            n_rgb++;
            n_rgb_ok += g && glen == TP_CROP_BYTES && diff == 0;
            T_CHECK(g && glen == TP_CROP_BYTES && diff == 0, "%s: %zu bytes differ from %s", e->key, diff, rp);
            free(g);
        }

        if (jnpy && jnpy->type == JSON_STRING) {
            char np[1024];
            snprintf(np, sizeof np, "golden/images/%s", jnpy->str);
            size_t nlen;
            uint8_t *nb = (uint8_t *)t_read_file(t_shared(np), &nlen);
            const char *why = "cannot read";
            const uint8_t *gf = nb ? tp_npy_f32_chw(nb, nlen, &why) : NULL;
            n_npy++;
            if (!gf) { T_CHECK(0, "%s: %s", np, why); free(nb); continue; }
            jc_pre_normalize(crop, chw);
            size_t first = 0, bad = tp_cmp_f32(chw, gf, TP_CHW_FLOATS, &first);
            n_npy_ok += bad == 0;
            T_CHECK(bad == 0, "%s: %zu of %zu floats differ (first at %zu)", np, bad, TP_CHW_FLOATS, first);
            free(nb);
        }
    }
    T_CHECK(crop && chw, "no memory");
    T_CHECK(n_total > 0, "preprocess.json has no entries");
    T_NOTE("crop sha256 identical: %zu/%zu; resized size identical: %zu/%zu", n_sha, n_total, n_geom, n_total);
    T_NOTE("raw crops identical: %zu/%zu; npy tensors bit-identical: %zu/%zu", n_rgb_ok, n_rgb, n_npy_ok, n_npy);
    T_NOTE("%zu corrupt inputs (malformed/, PngSuite x*) left to the decoder suites", n_skipped);
    free(crop);
    free(chw);
    json_free(root);
    free(jtext);
}
