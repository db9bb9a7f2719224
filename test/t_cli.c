/* test/t_cli.c: the ./jclip command line, run as a user would (popen), on the tiny model. */

/* Runs a shell command, captures stdout (up to cap bytes) and returns the exit status. */
static int t_run(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = 0;
    if (out && cap) {
        n = fread(out, 1, cap - 1, p);
        out[n] = 0;
    }
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {}
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void suite_cli(void)
{
    static char out[1 << 20];
    char cmd[4096];
    const char *tiny = t_model_path("tiny-s1");
    FILE *chk = fopen("./jclip", "rb");
    T_CHECK(chk != NULL, "./jclip not built (make builds it)");
    if (!chk) return;
    fclose(chk);
    if (!t_need_shared("golden/model/tiny-s1/text_emb.npy")) return;
    t_npy emb = {0};
    T_CHECK(t_npy_load(t_shared("golden/model/tiny-s1/text_emb.npy"), &emb) == 0, "read text_emb.npy");
    int D = (int)emb.shape[1];

    /* help for every command, exit 0 */
    const char *cmds[] = {"text", "tokenize", "info", "image", "decode", "preprocess", "similarity", "search"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(cmd, sizeof cmd, "./jclip %s --help", cmds[i]);
        int rc = t_run(cmd, out, sizeof out);
        T_CHECK(rc == 0 && strstr(out, "usage: jclip"), "%s --help (rc %d)", cmds[i], rc);
    }
    T_CHECK(t_run("./jclip --help", out, sizeof out) == 0 && strstr(out, "commands:"), "jclip --help");
    T_CHECK(t_run("./jclip frobnicate 2>/dev/null", out, sizeof out) == 2, "unknown command exits 2");

    /* text: json output matches the golden of line 0 ("How is the weather today?") */
    snprintf(cmd, sizeof cmd, "./jclip text -m %s \"How is the weather today?\"", tiny);
    int rc = t_run(cmd, out, sizeof out);
    json_value *v = json_parse(out, strlen(out), NULL, 0);
    int ok = rc == 0 && v && v->type == JSON_ARRAY && (int)v->len == D;
    double maxd = 0;
    if (ok) {
        int i = 0;
        for (json_value *c = v->child; c; c = c->next, i++) {
            double d = fabs(c->num - emb.data[i]);
            if (d > maxd) maxd = d;
        }
    }
    T_CHECK(ok && maxd < 1e-4, "text json output equals the golden (rc %d, max diff %.3g)", rc, maxd);
    json_free(v);

    /* tsv, stdin lines, --ids: the same vector each time */
    snprintf(cmd, sizeof cmd, "printf 'How is the weather today?\\nA blue cat\\n' | ./jclip text -m %s --format tsv", tiny);
    rc = t_run(cmd, out, sizeof out);
    int lines = 0, tabs = 0;
    for (char *p = out; *p; p++) { lines += *p == '\n'; tabs += *p == '\t'; }
    T_CHECK(rc == 0 && lines == 2 && tabs == 2 * (D - 1), "tsv from stdin: 2 lines of %d fields (rc %d, %d lines, %d tabs)", D, rc, lines, tabs);
    double first = strtod(out, NULL);
    T_CHECK(fabs(first - emb.data[0]) < 1e-6, "tsv value %.9g vs golden %.9g", first, emb.data[0]);
    snprintf(cmd, sizeof cmd, "./jclip text -m %s --ids --format tsv '101 2129 2003 1996 4633 2651 1029 102'", tiny);
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 0 && fabs(strtod(out, NULL) - emb.data[0]) < 1e-6, "--ids gives the same vector");

    /* --jsonl with \u escapes and a surrogate pair == the raw UTF-8 text */
    FILE *f = fopen("build/cli_test.jsonl", "wb");
    if (f) {
        fputs("{\"id\": 1, \"text\": \"Caf\\u00e9 \\ud83d\\ude00 \\\"quoted\\\"\\ttab\"}\n\n{\"text\": \"x [SEP] y\"}\n", f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "./jclip tokenize -m %s --jsonl build/cli_test.jsonl", tiny);
    rc = t_run(cmd, out, sizeof out);
    char want[4096];
    snprintf(cmd, sizeof cmd, "./jclip tokenize -m %s \"$(printf 'Caf\\303\\251 \\360\\237\\230\\200 \"quoted\"\\ttab')\" 'x [SEP] y'", tiny);
    int rc2 = t_run(cmd, want, sizeof want);
    T_CHECK(rc == 0 && rc2 == 0 && strcmp(out, want) == 0 && strstr(out, "101 1060 102 1061 102"), "jsonl escapes decode like the raw text:\n%s---\n%s", out, want);
    snprintf(cmd, sizeof cmd, "./jclip tokenize -m %s --max-tokens 4 'one two three four five'", tiny);
    T_CHECK(t_run(cmd, out, sizeof out) == 0 && strcmp(out, "101 2028 2048 102\n") == 0, "--max-tokens 4 keeps [SEP]: %s", out);

    /* errors: one line, non-zero */
    f = fopen("build/cli_bad.jsonl", "wb");
    if (f) { fputs("{\"text\": \"fine\"}\n{\"text\": oops}\n", f); fclose(f); }
    snprintf(cmd, sizeof cmd, "./jclip text -m %s --jsonl build/cli_bad.jsonl 2>&1 >/dev/null", tiny);
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 1 && strstr(out, "cli_bad.jsonl:2"), "invalid JSONL names file:line (rc %d): %s", rc, out);
    snprintf(cmd, sizeof cmd, "./jclip text -m %s --ids '101 abc 102' 2>&1", tiny);
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 1 && strstr(out, "abc"), "bad id list is an error (rc %d): %s", rc, out);
    snprintf(cmd, sizeof cmd, "./jclip text -m %s --ids '101 99999 102' 2>&1", tiny);
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 1 && strstr(out, "99999"), "out-of-vocabulary id is an error (rc %d): %s", rc, out);
    snprintf(cmd, sizeof cmd, "./jclip text -m %s --format xml hi 2>&1", tiny);
    T_CHECK(t_run(cmd, out, sizeof out) == 2, "bad --format is a usage error");
    rc = t_run("JCLIP_MODEL=/nonexistent.jclip ./jclip text hi 2>&1", out, sizeof out);
    T_CHECK(rc == 1 && strstr(out, "make model"), "missing model says how to get one (rc %d): %s", rc, out);
    rc = t_run("./jclip text -m Makefile hi 2>&1", out, sizeof out);
    T_CHECK(rc == 1 && strstr(out, "not a .jclip"), "foreign model file is rejected (rc %d): %s", rc, out);
    snprintf(cmd, sizeof cmd, "./jclip info %s", tiny);
    T_CHECK(t_run(cmd, out, sizeof out) == 0 && strstr(out, "kernels:") && strstr(out, "vocab 30528"), "info: %s", out);
    free(emb.data);

    /* image: the first file of file_images.txt against files_emb.npy */
    t_npy fe = {0};
    size_t len;
    char *list = t_read_file(t_shared("golden/model/tiny-s1/file_images.txt"), &len);
    T_CHECK(list && t_npy_load(t_shared("golden/model/tiny-s1/files_emb.npy"), &fe) == 0, "read file goldens");
    if (list && fe.data) {
        char *nl = strchr(list, '\n');
        if (nl) *nl = 0;
        snprintf(cmd, sizeof cmd, "./jclip image -m %s --format tsv '%s/testdata/images/%s'", tiny, t_shared_dir(), list);
        rc = t_run(cmd, out, sizeof out);
        T_CHECK(rc == 0 && fabs(strtod(out, NULL) - fe.data[0]) < 1e-5, "image %s equals files_emb[0] (rc %d)", list, rc);
        snprintf(cmd, sizeof cmd, "./jclip image -m %s --format tsv - < '%s/testdata/images/%s'", tiny, t_shared_dir(), list);
        rc = t_run(cmd, out, sizeof out);
        T_CHECK(rc == 0 && fabs(strtod(out, NULL) - fe.data[0]) < 1e-5, "image from stdin (rc %d)", rc);
    }
    free(list);
    free(fe.data);
    snprintf(cmd, sizeof cmd, "./jclip image -m %s Makefile 2>&1", tiny);
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 1 && strstr(out, "Makefile") && strstr(out, "not a JPEG or PNG"), "non-image is a one-line error (rc %d): %s", rc, out);

    /* decode: PPM bytes hash to Pillow's RGB; --info; preprocess crop hash */
    const char *photo = "photos/skimage_chelsea.png";
    snprintf(cmd, sizeof cmd, "./jclip decode '%s/testdata/images/%s' -o build/cli_test.ppm", t_shared_dir(), photo);
    rc = t_run(cmd, out, sizeof out);
    char *ppm = t_read_file("build/cli_test.ppm", &len);
    char hex[65] = "";
    if (ppm && len > 15 && strncmp(ppm, "P6\n451 300\n255\n", 15) == 0) t_sha256_hex(ppm + 15, len - 15, hex);
    T_CHECK(rc == 0 && strcmp(hex, "416b729128bfb2c3d1eb69bf9b1734a796293abc17939267b2dc94f8a5784031") == 0,
            "decode writes a 451x300 P6 with Pillow's RGB bytes (rc %d, %s)", rc, hex);
    free(ppm);
    snprintf(cmd, sizeof cmd, "./jclip decode --info '%s/testdata/images/photos/012mp-bus.jpg'", t_shared_dir());
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 0 && strstr(out, "4032x3024") && strstr(out, "2x2,1x1,1x1") && strstr(out, "orientation: 1"), "decode --info: %s", out);
    snprintf(cmd, sizeof cmd, "./jclip preprocess '%s/testdata/images/%s' -o build/cli_test.rgb", t_shared_dir(), photo);
    rc = t_run(cmd, out, sizeof out);
    char *crop = t_read_file("build/cli_test.rgb", &len);
    hex[0] = 0;
    if (crop && len == 224 * 224 * 3) t_sha256_hex(crop, len, hex);
    T_CHECK(rc == 0 && strcmp(hex, "81151d301d62f5b5db5fb2467dc66816b4d1317bd7a27bdcf1419761210d3eae") == 0, "preprocess crop is the golden (rc %d, %s)", rc, hex);
    free(crop);
    rc = t_run("./jclip decode Makefile -o build/x.ppm 2>&1", out, sizeof out);
    T_CHECK(rc == 1, "decoding a non-image fails (rc %d)", rc);

    /* similarity and search (with a cache that the second run reuses) */
    snprintf(cmd, sizeof cmd, "./jclip similarity -m %s --text 'a cat' --image '%s/testdata/images/%s' --text 'a cat'", tiny, t_shared_dir(), photo);
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 0 && strstr(out, "[3] text  a cat") && strstr(out, "   [1]  1.0000"), "similarity matrix: %s", out);
    remove("build/cli_cache.bin");
    snprintf(cmd, sizeof cmd, "./jclip search -m %s -k 2 --cache build/cli_cache.bin 'a cat' '%s/testdata/images/photos' 2>&1", tiny, t_shared_dir());
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 0 && strstr(out, "0 from the cache"), "search, cold cache (rc %d): %s", rc, out);
    char cold[8192];
    snprintf(cold, sizeof cold, "%s", out);
    rc = t_run(cmd, out, sizeof out);
    T_CHECK(rc == 0 && strstr(out, " 0 embedded"), "search, warm cache re-embeds nothing (rc %d): %s", rc, out);
    T_CHECK(strncmp(cold, out, (size_t)(strchr(cold, 'j') ? strchr(cold, 'j') - cold : 0)) == 0, "same ranking with the cache");
}
