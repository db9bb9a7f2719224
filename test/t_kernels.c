/* test/t_kernels.c: every kernel table this CPU can run against the scalar oracle, on odd
 * shapes (1, primes, non-multiples of every tile), with a per-op error bound; plus the
 * thread-split contract (a column range computed in pieces is bit-identical to one call). */

static uint32_t t_k_rng = 12345;
static float t_k_rand(void) /* uniform in [-1, 1) */
{
    t_k_rng = t_k_rng * 1664525u + 1013904223u;
    return (float)(t_k_rng >> 8) / 8388608.0f - 1.0f;
}
static float *t_k_vec(size_t n, float scale)
{
    float *v = (float *)malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = t_k_rand() * scale;
    return v;
}
static float *t_k_ws(size_t n) { return (float *)malloc((n + 16) * sizeof(float)); }

static void t_k_linear(const jc_ops *ops)
{
    static const int Ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17, 31, 64, 197};
    static const int Ns[] = {1, 3, 13, 17, 47, 48, 49, 97, 130};
    static const int Ks[] = {1, 3, 7, 16, 17, 31, 64, 257, 300, 768, 1031, 2053}; /* past 1 and 2 K blocks */
    double worst = 0;
    int cases = 0, bad = 0, split_bad = 0, row_bad = 0, pk_bad = 0, pk_same = 0;
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
            int M = Ms[mi], N = Ns[ni], K = Ks[(mi * 3 + ni) % (sizeof Ks / sizeof *Ks)];
            int ldx = K + (int)(mi % 3), ldy = N + (int)(ni % 2);
            float *X = t_k_vec((size_t)M * ldx, 1), *W = t_k_vec((size_t)N * K, 0.5f), *b = t_k_vec((size_t)N, 1);
            float *want = t_k_vec((size_t)M * ldy, 0), *got = t_k_vec((size_t)M * ldy, 0), *got2 = t_k_vec((size_t)M * ldy, 0);
            float *ws = t_k_ws(ops->linear_ws(M, K)), *ws0 = t_k_ws(0);
            const float *bias = (mi + ni) % 3 ? b : NULL;
            jc_scalar_ops.linear(want, (size_t)ldy, X, (size_t)ldx, W, bias, M, K, 0, N, ws0);
            ops->linear(got, (size_t)ldy, X, (size_t)ldx, W, bias, M, K, 0, N, ws);
            /* the same columns in thread-sized pieces */
            int cut = (N / 2 + ops->n_grain - 1) / ops->n_grain * ops->n_grain;
            if (cut > N) cut = N;
            ops->linear(got2, (size_t)ldy, X, (size_t)ldx, W, bias, M, K, 0, cut, ws);
            ops->linear(got2, (size_t)ldy, X, (size_t)ldx, W, bias, M, K, cut, N, ws);
            /* rows are independent: each row alone (M = 1) gives the bits it gets among M */
            float *one = t_k_vec((size_t)N, 0);
            for (int m = 0; m < M; m++) {
                ops->linear(one, (size_t)N, X + (size_t)m * ldx, (size_t)ldx, W, bias, 1, K, 0, N, ws);
                if (memcmp(one, got + (size_t)m * ldy, sizeof(float) * (size_t)N)) row_bad++;
            }
            free(one);
            /* packed weights: packed in two runs of slivers, used in two column ranges; bitwise
             * equal to the in-place path for every M */
            float *got3 = NULL, *Wp = NULL;
            if (ops->pack) {
                int ns = (N + ops->n_grain - 1) / ops->n_grain;
                Wp = (float *)aligned_alloc(64, (ops->pack_size(N, K) * sizeof(float) + 63) / 64 * 64);
                ops->pack(Wp, W, N, K, 0, ns / 2);
                ops->pack(Wp, W, N, K, ns / 2, ns);
                got3 = t_k_vec((size_t)M * ldy, 0);
                ops->linear_packed(got3, (size_t)ldy, X, (size_t)ldx, Wp, bias, M, K, 0, cut, ws);
                ops->linear_packed(got3, (size_t)ldy, X, (size_t)ldx, Wp, bias, M, K, cut, N, ws);
            }
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) {
                    double mag = bias ? fabs(b[n]) : 0;
                    for (int k = 0; k < K; k++) mag += fabs((double)X[(size_t)m * ldx + k] * W[(size_t)n * K + k]);
                    double err = fabs((double)got[(size_t)m * ldy + n] - want[(size_t)m * ldy + n]);
                    double tol = 1.2e-7 * (4 + sqrt((double)K)) * mag + 1e-30;
                    if (err / tol > worst) worst = err / tol;
                    if (err > tol) bad++;
                    if (memcmp(&got[(size_t)m * ldy + n], &got2[(size_t)m * ldy + n], sizeof(float))) split_bad++;
                    if (got3) {
                        double e3 = fabs((double)got3[(size_t)m * ldy + n] - want[(size_t)m * ldy + n]);
                        if (e3 / tol > worst) worst = e3 / tol;
                        if (e3 > tol) pk_bad++;
                        if (memcmp(&got[(size_t)m * ldy + n], &got3[(size_t)m * ldy + n], sizeof(float))) pk_same++;
                    }
                }
            cases++;
            free(X), free(W), free(b), free(want), free(got), free(got2), free(ws), free(ws0), free(got3), free(Wp);
        }
    T_CHECK(bad == 0, "%s linear: %d elements over tolerance (worst %.2f of the bound)", ops->name, bad, worst);
    T_CHECK(split_bad == 0, "%s linear: %d elements differ when the columns are split", ops->name, split_bad);
    T_CHECK(row_bad == 0, "%s linear: %d rows differ between a call with M rows and one with the row alone", ops->name, row_bad);
    if (ops->pack) {
        T_CHECK(pk_bad == 0, "%s linear_packed: %d elements over tolerance", ops->name, pk_bad);
        T_CHECK(pk_same == 0, "%s linear_packed: %d elements differ from linear", ops->name, pk_same);
    }
    T_NOTE("%s linear: %d shapes, worst error %.3f of the bound", ops->name, cases, worst);
}

static void t_k_rows(const jc_ops *ops)
{
    static const int ns[] = {1, 3, 7, 15, 16, 17, 31, 128, 341, 768, 3072};
    double w_ln = 0, w_ge = 0, w_sw = 0, w_qg = 0;
    int bad_add = 0, bad_qg = 0;
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        int n = ns[i];
        float *x = t_k_vec((size_t)2 * n, 3), *w = t_k_vec((size_t)n, 1), *b = t_k_vec((size_t)n, 1);
        for (int j = 0; j < n; j++) x[j] += 5.0f; /* a mean far from 0 */
        float *a = t_k_vec((size_t)2 * n, 0), *r = t_k_vec((size_t)2 * n, 0);
        jc_scalar_ops.layernorm(r, x, w, b, n, 1e-6f);
        ops->layernorm(a, x, w, b, n, 1e-6f);
        for (int j = 0; j < n; j++) if (fabs(a[j] - r[j]) > w_ln) w_ln = fabs(a[j] - r[j]);
        /* gates over a wide range: [-12, 12] */
        for (int j = 0; j < 2 * n; j++) x[j] = t_k_rand() * 12.0f;
        jc_scalar_ops.geglu(r, x, n);
        ops->geglu(a, x, n);
        for (int j = 0; j < n; j++) {
            /* relative, with a floor for 1 + erf(z) cancelling in fp32 (|z| large, z < 0) */
            double e = fabs(a[j] - r[j]) / (fabs(r[j]) + 0.1 * fabs((double)x[j] * x[n + j]) + 1e-30);
            if (e > w_ge) w_ge = e;
        }
        jc_scalar_ops.swiglu(r, x, x + n, n);
        memcpy(a, x, sizeof(float) * (size_t)n);
        ops->swiglu(a, a, x + n, n); /* in place, as the vision tower calls it */
        for (int j = 0; j < n; j++) {
            double e = fabs(a[j] - r[j]) / (fabs(r[j]) + 1e-30);
            if (r[j] != a[j] && e > w_sw) w_sw = e;
        }
        /* QuickGELU: bitwise the table's own swiglu(y, 1.702f * y, 1 / 1.702f), close to scalar */
        {
            float *z = t_k_vec((size_t)n, 0), *c = t_k_vec((size_t)n, 0), *sq = t_k_vec((size_t)n, 0);
            for (int j = 0; j < n; j++) z[j] = x[j] * 1.702f, c[j] = 1.0f / 1.702f;
            ops->swiglu(r, z, c, n);
            memcpy(a, x, sizeof(float) * (size_t)n);
            ops->quick_gelu(a, n);
            bad_qg += memcmp(a, r, sizeof(float) * (size_t)n) != 0;
            memcpy(sq, x, sizeof(float) * (size_t)n);
            jc_scalar_ops.quick_gelu(sq, n);
            for (int j = 0; j < n; j++) {
                double e = fabs(a[j] - sq[j]) / (fabs(sq[j]) + 1e-30);
                if (sq[j] != a[j] && e > w_qg) w_qg = e;
            }
            free(z), free(c), free(sq);
        }
        memcpy(r, x, sizeof(float) * (size_t)n);
        memcpy(a, x, sizeof(float) * (size_t)n);
        jc_scalar_ops.add(r, x + n, n);
        ops->add(a, x + n, n);
        bad_add += memcmp(a, r, sizeof(float) * (size_t)n) != 0;
        free(x), free(w), free(b), free(a), free(r);
    }
    /* a dense sweep of the gates near 0 and across the erf branch point */
    {
        int n = 4001;
        float *g = t_k_vec((size_t)2 * n, 0), *a = t_k_vec((size_t)n, 0), *r = t_k_vec((size_t)n, 0);
        for (int j = 0; j < n; j++) g[j] = (float)(j - 2000) / 400.0f, g[n + j] = 1.0f;
        jc_scalar_ops.geglu(r, g, n);
        ops->geglu(a, g, n);
        for (int j = 0; j < n; j++) {
            double e = fabs(a[j] - r[j]) / (fabs(r[j]) + 0.1 * fabs(g[j]) + 1e-30);
            if (e > w_ge) w_ge = e;
        }
        free(g), free(a), free(r);
    }
    T_CHECK(w_ln <= 2e-5, "%s layernorm: max |diff| %.3g", ops->name, w_ln);
    T_CHECK(w_ge <= 2e-6, "%s geglu: max relative diff %.3g", ops->name, w_ge);
    T_CHECK(w_sw <= 2e-6, "%s swiglu: max relative diff %.3g", ops->name, w_sw);
    T_CHECK(bad_add == 0, "%s add: %d lengths differ from scalar", ops->name, bad_add);
    T_CHECK(bad_qg == 0, "%s quick_gelu: %d lengths differ from its swiglu composition", ops->name, bad_qg);
    T_CHECK(w_qg <= 2e-6, "%s quick_gelu: max relative diff %.3g to scalar", ops->name, w_qg);
    T_NOTE("%s rows: layernorm %.2g abs, geglu %.2g rel, swiglu %.2g rel", ops->name, w_ln, w_ge, w_sw);
}

/* Queries of [i0, i1) (every 7th of a long range) alone, each row copied out and read and
 * written with stride 0 (how a pooling tower's last layer calls the kernel, jc_attn's sel):
 * bitwise their rows of the block call `blk` (row stride ldb). causal: over keys [0, i]. */
static void t_k_single(jc_attention_fn attn, const float *blk, size_t ldb, const float *q, const float *k, const float *v, size_t ld,
                       const uint8_t *valid, int L, int d, int i0, int i1, float slope, int causal, float *ws, int *bad, int *n)
{
    for (int i = i0; i < i1; i += i1 - i0 > 8 ? 7 : 1) {
        float qrow[96], orow[96];
        memcpy(qrow, q + (size_t)i * ld, sizeof(float) * (size_t)d);
        attn(orow, 0, qrow, 0, k, ld, v, ld, valid, causal ? i + 1 : L, d, i, i + 1, 0.125f, slope, causal, ws);
        *bad += memcmp(orow, blk + (size_t)i * ldb, sizeof(float) * (size_t)d) != 0;
        ++*n;
    }
}

/* attn (the table's attention, or attention_bf16 with its reference ref) against ref on every
 * shape within bound; the causal and single-query properties bitwise. */
static void t_k_attention(const jc_ops *ops, const char *what, jc_attention_fn attn, jc_attention_fn ref, double bound)
{
    static const int Ls[] = {1, 2, 3, 17, 63, 64, 65, 130, 197, 300, 600};
    static const int ds[] = {64, 32, 24, 16, 96};
    double worst = 0;
    int cases = 0, causal_bad = 0, causal_n = 0, sel_bad = 0, sel_n = 0;
    for (size_t li = 0; li < sizeof Ls / sizeof *Ls; li++)
        for (size_t di = 0; di < sizeof ds / sizeof *ds; di++) {
            int L = Ls[li], d = ds[di], H = 2, ld = 3 * H * d + 5;
            float *qkv = t_k_vec((size_t)L * ld, 2);
            uint8_t *valid = (uint8_t *)malloc((size_t)L);
            int masked = (li + di) % 2;
            for (int j = 0; j < L; j++) valid[j] = !masked || j == L / 2 || t_k_rand() > -0.3f;
            if (masked && L > 8) for (int j = 0; j < L && j < 70; j++) valid[j] = j == 5; /* a whole empty key block */
            if (masked && L > 256) for (int j = 128; j < 256; j++) valid[j] = 0; /* and 128 empty keys */
            if (masked && L > 512) for (int j = 256; j < 512; j++) valid[j] = 0; /* a whole empty chunk (AVX-512's 256) */
            float slope = (li % 3) == 0 ? 0.0f : 0.5f / (float)(1 + di);
            float *want = t_k_vec((size_t)L * H * d, 0), *got = t_k_vec((size_t)L * H * d, 0);
            int i0 = L > 3 ? 1 : 0, i1 = L > 5 ? L - 2 : L;
            for (int h = 0; h < H; h++) {
                const float *q = qkv + h * d, *k = qkv + H * d + h * d, *v = qkv + 2 * H * d + h * d;
                float *ws0 = t_k_ws(jc_scalar_ops.attention_ws(L, d, i1 - i0));
                float *ws = t_k_ws(ops->attention_ws(L, d, i1 - i0));
                ref(want + h * d, (size_t)H * d, q, (size_t)ld, k, (size_t)ld, v, (size_t)ld, masked ? valid : NULL, L, d, i0,
                    i1, 0.125f, slope, 0, ws0);
                attn(got + h * d, (size_t)H * d, q, (size_t)ld, k, (size_t)ld, v, (size_t)ld,
                               masked ? valid : NULL, L, d, i0, i1, 0.125f, slope, 0, ws);
                t_k_single(attn, got + h * d, (size_t)H * d, q, k, v, (size_t)ld, masked ? valid : NULL, L, d, i0, i1, slope, 0,
                           ws, &sel_bad, &sel_n);
                /* causal: the queries [i0, i1) in one call give bitwise each query alone over keys
                 * [0, i] (how CLIP's text tower used the kernel before it had a causal mode) */
                if (!masked) {
                    float *blk = t_k_vec((size_t)L * H * d, 0), *one = t_k_vec((size_t)L * H * d, 0);
                    attn(blk + h * d, (size_t)H * d, q, (size_t)ld, k, (size_t)ld, v, (size_t)ld, NULL, i1, d, i0, i1, 0.125f,
                         slope, 1, ws);
                    for (int i = i0; i < i1; i++)
                        attn(one + h * d, (size_t)H * d, q, (size_t)ld, k, (size_t)ld, v, (size_t)ld, NULL, i + 1, d, i, i + 1,
                             0.125f, slope, 0, ws);
                    for (int i = i0; i < i1; i++) causal_bad += memcmp(blk + (size_t)i * H * d + h * d, one + (size_t)i * H * d + h * d,
                                                                      sizeof(float) * (size_t)d) != 0;
                    causal_n += i1 - i0;
                    t_k_single(attn, blk + h * d, (size_t)H * d, q, k, v, (size_t)ld, NULL, i1, d, i0, i1, slope, 1, ws, &sel_bad,
                               &sel_n); /* CLIP's end token */
                    free(blk), free(one);
                }
                free(ws0), free(ws);
            }
            for (int i = i0; i < i1; i++)
                for (int c = 0; c < H * d; c++) {
                    double e = fabs((double)got[(size_t)i * H * d + c] - want[(size_t)i * H * d + c]);
                    if (e > worst) worst = e;
                }
            cases++;
            free(qkv), free(valid), free(want), free(got);
        }
    T_CHECK(worst <= bound, "%s %s: max |diff| %.3g", ops->name, what, worst);
    T_CHECK(causal_n > 500 && causal_bad == 0, "%s causal %s: %d of %d query rows differ from the query alone over keys [0, i]",
            ops->name, what, causal_bad, causal_n);
    T_CHECK(sel_n > 500 && sel_bad == 0, "%s %s: %d of %d single queries at stride 0 differ from their row of the block",
            ops->name, what, sel_bad, sel_n);
    T_NOTE("%s %s: %d shapes, max |diff| %.3g", ops->name, what, cases, worst);
}

/* Whole towers under every table: 1, 2 and 3 threads give bit-identical text and image
 * embeddings (work is split over output tiles only). Uses the tiny test model. */
static void t_k_threads(const jc_ops *const *have, int n)
{
    const char *old = getenv("JCLIP_ISA");
    char saved[32] = "";
    if (old) snprintf(saved, sizeof saved, "%s", old);
    float *pix = t_k_vec((size_t)3 * 224 * 224, 2);
    for (int t = 0; t < n; t++) {
        setenv("JCLIP_ISA", have[t]->name, 1);
        char err[512];
        jclip_model *m = NULL;
        if (jclip_model_load(t_model_path("tiny-s1"), &m, err, sizeof err)) {
            T_CHECK(0, "load tiny-s1 (make test-models): %s", err);
            break;
        }
        int D = jclip_embed_dim(m), same_txt = 1, same_img = 1, ok = 1;
        float ref_t[1024], ref_i[1024], got[1024];
        const char *txt = "a small dog runs across the wet sand at low tide";
        for (int th = 1; th <= 3; th++) {
            jclip_ctx_params p;
            jclip_ctx_params_default(&p);
            p.n_threads = th;
            jclip_ctx *c = NULL;
            if (jclip_ctx_create(m, &p, &c, err, sizeof err)) { ok = 0; break; }
            ok &= jclip_embed_text(c, txt, strlen(txt), th == 1 ? ref_t : got, (size_t)D) == 0;
            if (th > 1) same_txt &= memcmp(ref_t, got, sizeof(float) * (size_t)D) == 0;
            ok &= jclip_embed_pixels(c, pix, (size_t)3 * 224 * 224, th == 1 ? ref_i : got, (size_t)D) == 0;
            if (th > 1) same_img &= memcmp(ref_i, got, sizeof(float) * (size_t)D) == 0;
            jclip_ctx_free(c);
        }
        T_CHECK(ok, "%s: embedding failed", have[t]->name);
        T_CHECK(same_txt && same_img, "%s: 1/2/3 threads differ (text %s, image %s)", have[t]->name,
                same_txt ? "same" : "DIFFERENT", same_img ? "same" : "DIFFERENT");
        jclip_model_free(m);
    }
    free(pix);
    if (old) setenv("JCLIP_ISA", saved, 1);
    else unsetenv("JCLIP_ISA");
}

static void suite_kernels(void)
{
    const jc_ops *have[8];
    int n = jc_cpu_tables(have, 8);
    char list[128] = "";
    for (int i = 0; i < n; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? " " : "", have[i]->name);
    }
    T_NOTE("tables on this CPU: %s", list);
    T_CHECK(strcmp(have[n - 1]->name, "scalar") == 0, "scalar is always available");
    for (int i = 0; i < n; i++) {
        t_k_linear(have[i]);
        t_k_rows(have[i]);
        t_k_attention(have[i], "attention", have[i]->attention, jc_scalar_attention, 5e-6);
        /* bf16: a probability rounded after another exp can round the other way; this data
         * gives 1.8e-3 from the reference, and 9e-3 from fp32 */
        if (have[i]->attention_bf16)
            t_k_attention(have[i], "attention_bf16", have[i]->attention_bf16, jc_scalar_attention_bf16, 4e-3);
    }
    t_k_threads(have, n);
}
