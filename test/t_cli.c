/* test/t_cli.c: the ./jclip command line, run as a user would (popen), on the tiny model. */

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs a shell command, captures stdout (up to cap bytes; *got = bytes captured when got is
 * not NULL) and returns the exit status. */
static int t_run_n(const char *cmd, char *out, size_t cap, size_t *got)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = 0;
    if (out && cap) {
        n = fread(out, 1, cap - 1, p);
        out[n] = 0;
    }
    if (got) *got = n;
    char drain[4096];
    while (fread(drain, 1, sizeof drain, p) > 0) {}
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int t_run(const char *cmd, char *out, size_t cap) { return t_run_n(cmd, out, cap, NULL); }

/* ---- What one library call per input gives: the CLI's output before it batched ----------- */

/* Appends v as the CLI's json ("[a,b]") or tsv line to buf at *pos. */
static void t_cli_row(char *buf, size_t cap, size_t *pos, const float *v, int D, int tsv)
{
    if (*pos + 32 * (size_t)D + 8 > cap) return; /* the caller's comparison then fails */
    if (!tsv) buf[(*pos)++] = '[';
    for (int i = 0; i < D; i++) *pos += (size_t)snprintf(buf + *pos, cap - *pos, i ? (tsv ? "\t%.9g" : ",%.9g") : "%.9g", v[i]);
    if (!tsv) buf[(*pos)++] = ']';
    buf[(*pos)++] = '\n';
    buf[*pos] = 0;
}

/* Little-endian float32 bytes of v (the raw format). */
static void t_cli_le(unsigned char *dst, const float *v, int D)
{
    for (int i = 0; i < D; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++) dst[4 * i + k] = (unsigned char)(u >> (8 * k));
    }
}

typedef struct {
    jclip_model *m;
    jclip_ctx *ctx;
    int D;
    char *want, *got; /* 8 MiB each */
} t_cli_env;

/* Words that are one WordPiece each in the BERT vocabulary: n words = n + 2 tokens. */
static const char *const t_cli_words[] = {"cat", "dog", "photo", "blue", "red", "house", "tree", "car", "the", "a"};

/* Writes build/cli_texts.txt: n texts of 0..40 words (token counts on both sides of 8, the
 * batch exception, and more texts than one CLI batch holds). Returns the texts joined. */
static int t_cli_write_texts(int n)
{
    FILE *f = fopen("build/cli_texts.txt", "wb");
    if (!f) return -1;
    static const int lens[] = {0, 1, 5, 6, 7, 2, 40, 3, 7, 6, 11, 25, 4, 9};
    for (int i = 0; i < n; i++) {
        int w = lens[i % (int)(sizeof lens / sizeof lens[0])] + (i / 14) % 3;
        for (int k = 0; k < w; k++) fprintf(f, k ? " %s" : "%s", t_cli_words[(i * 7 + k * 3) % 10]);
        fputc('\n', f);
    }
    return fclose(f);
}

/* text: json, tsv, --ids, --jsonl, raw and npy against jclip_embed_text / _tokens per input. */
static void t_cli_text_identity(t_cli_env *E, const char *tiny)
{
    const int D = E->D, N = 300;
    char cmd[4096];
    T_CHECK(t_cli_write_texts(N) == 0, "write build/cli_texts.txt");
    size_t len;
    char *txt = t_read_file("build/cli_texts.txt", &len);
    if (!txt) return;
    float *ref = (float *)malloc(sizeof(float) * (size_t)D * N);
    char *ids = (char *)malloc((size_t)N * 64 * 8);
    if (!ref || !ids) { free(txt); free(ref); free(ids); T_CHECK(0, "out of memory"); return; }
    size_t wp = 0, tp = 0, idp = 0;
    int n = 0, short_n = 0, ok = 1;
    for (char *p = txt; *p && n < N; n++) {
        char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        int32_t tok[600];
        size_t nt = 0;
        ok &= jclip_tokenize(E->ctx, p, l, 0, tok, 600, &nt) == 0;
        short_n += nt <= 8;
        for (size_t k = 0; k < nt; k++) idp += (size_t)snprintf(ids + idp, 64 * 8 * (size_t)N - idp, k ? " %d" : "%d", tok[k]);
        ids[idp++] = '\n';
        ok &= jclip_embed_text(E->ctx, p, l, ref + (size_t)n * D, (size_t)D) == 0;
        t_cli_row(E->want, 8 << 20, &wp, ref + (size_t)n * D, D, 0);
        p = nl ? nl + 1 : p + l;
    }
    ids[idp] = 0;
    T_CHECK(ok && n == N && short_n > 50 && short_n < N - 50, "reference embeddings of %d texts (%d of <= 8 tokens, batched like the rest)", n, short_n);
    (void)tp;

    snprintf(cmd, sizeof cmd, "./jclip text -m %s < build/cli_texts.txt", tiny);
    int rc = t_run(cmd, E->got, 8 << 20);
    T_CHECK(rc == 0 && strcmp(E->got, E->want) == 0, "text json of %d texts (batched) == one jclip_embed_text per text, bit for bit (rc %d)", N, rc);
    snprintf(cmd, sizeof cmd, "./jclip text -m %s --stdin < build/cli_texts.txt > build/cli_texts.json", tiny);
    T_CHECK(t_run(cmd, NULL, 0) == 0, "text --stdin");

    FILE *f = fopen("build/cli_ids.txt", "wb");
    if (f) { fputs(ids, f); fclose(f); }
    snprintf(cmd, sizeof cmd, "./jclip text -m %s --ids < build/cli_ids.txt", tiny);
    rc = t_run(cmd, E->got, 8 << 20);
    T_CHECK(rc == 0 && strcmp(E->got, E->want) == 0, "text --ids == one call per input (rc %d)", rc);

    /* raw: n * dim little-endian float32, the same bits */
    unsigned char *le = (unsigned char *)malloc((size_t)N * D * 4);
    if (le) {
        for (int i = 0; i < N; i++) t_cli_le(le + (size_t)i * D * 4, ref + (size_t)i * D, D);
        size_t got = 0;
        snprintf(cmd, sizeof cmd, "./jclip text -m %s --format raw < build/cli_texts.txt", tiny);
        rc = t_run_n(cmd, E->got, 8 << 20, &got);
        T_CHECK(rc == 0 && got == (size_t)N * D * 4 && memcmp(E->got, le, got) == 0, "raw: %d records of %d float32 (rc %d, %zu bytes)", N, D, rc, got);
        free(le);
    }

    /* npy: header, shape, bytes; then numpy.load against the JSON output */
    remove("build/cli_texts.npy");
    snprintf(cmd, sizeof cmd, "./jclip text -m %s --format npy -o build/cli_texts.npy < build/cli_texts.txt", tiny);
    rc = t_run(cmd, NULL, 0);
    t_npy a = {0};
    int loaded = t_npy_load("build/cli_texts.npy", &a) == 0;
    T_CHECK(rc == 0 && loaded && a.ndim == 2 && a.shape[0] == (size_t)N && a.shape[1] == (size_t)D &&
                memcmp(a.data, ref, sizeof(float) * (size_t)N * D) == 0,
            "npy (%d, %d) float32 holds the same bits (rc %d)", N, D, rc);
    free(a.data);
    char *hdr = t_read_file("build/cli_texts.npy", &len);
    T_CHECK(hdr && len == 128 + (size_t)N * D * 4 && memcmp(hdr, "\x93NUMPY\x01\x00", 8) == 0 && hdr[127] == '\n',
            "npy v1.0 with a 128-byte header and nothing after the data (%zu bytes)", len);
    free(hdr);
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0) {
        rc = system("/usr/bin/python3 -c \"import json, sys, numpy as np\n"
                    "a = np.load('build/cli_texts.npy')\n"
                    "j = np.array([json.loads(l) for l in open('build/cli_texts.json')], dtype=np.float32)\n"
                    "sys.exit(0 if a.dtype == np.dtype('<f4') and a.shape == j.shape and a.flags.c_contiguous and a.tobytes() == j.tobytes() else 1)\"");
        T_CHECK(rc == 0, "numpy.load(npy) == the JSON output as float32, bit for bit (status %d)", rc);
    } else if (getenv("CI")) {
        T_CHECK(0, "/usr/bin/python3 with numpy is required (Debian python3-numpy; .ci/run installs it)");
    } else {
        T_NOTE("skipped: numpy.load check (/usr/bin/python3 with numpy not found)");
    }
    free(ref);
    free(ids);
    free(txt);
}

/* Copies the small golden images, and a non-image named .jpg, into build/cli_images/. Returns
 * how many were copied; paths[] (sorted, as search sorts) get the copies' names. */
static int t_cli_copy_images(char paths[][256], int max)
{
    size_t len;
    char *list = t_read_file(t_shared("golden/model/tiny-s1/file_images.txt"), &len);
    if (!list) return 0;
    mkdir("build/cli_images", 0777);
    int n = 0;
    for (char *p = strtok(list, "\n"); p && n < max - 1; p = strtok(NULL, "\n")) {
        if (strncmp(p, "photos/", 7) == 0) continue; /* large: the search test below has them */
        size_t dl;
        char rel[512];
        snprintf(rel, sizeof rel, "testdata/images/%s", p);
        char *data = t_read_file(t_shared(rel), &dl);
        snprintf(paths[n], 256, "build/cli_images/%02d_%s", n, strrchr(p, '/') ? strrchr(p, '/') + 1 : p);
        FILE *f = data ? fopen(paths[n], "wb") : NULL;
        if (f) { fwrite(data, 1, dl, f); fclose(f); n++; }
        free(data);
    }
    free(list);
    snprintf(paths[n], 256, "build/cli_images/%02d_not_an_image.jpg", n);
    FILE *f = fopen(paths[n], "wb");
    if (f) { fputs("this is not a JPEG\n", f); fclose(f); n++; }
    return n;
}

/* image (json, --stdin raw) and search against one jclip_embed_image per file. */
static void t_cli_image_identity(t_cli_env *E, const char *tiny)
{
    const int D = E->D;
    char paths[32][256], cmd[8192];
    int n = t_cli_copy_images(paths, 32);
    T_CHECK(n >= 10, "copied %d test images", n);
    float *ref = (float *)malloc(sizeof(float) * (size_t)D * 32);
    int ok[32];
    if (!ref) return;
    size_t wp = 0, cp = 0;
    int good = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        char *data = t_read_file(paths[i], &len);
        ok[i] = data && jclip_embed_image(E->ctx, data, len, ref + (size_t)i * D, (size_t)D) == 0;
        good += ok[i];
        if (ok[i]) t_cli_row(E->want, 8 << 20, &wp, ref + (size_t)i * D, D, 0);
        free(data);
    }
    T_CHECK(good == n - 1 && !ok[n - 1], "reference: %d of %d images embed", good, n);

    /* image with the good files as arguments: more than one batch of 8 */
    cp = (size_t)snprintf(cmd, sizeof cmd, "./jclip image -m %s", tiny);
    for (int i = 0; i < n - 1; i++) cp += (size_t)snprintf(cmd + cp, sizeof cmd - cp, " '%s'", paths[i]);
    int rc = t_run(cmd, E->got, 8 << 20);
    T_CHECK(rc == 0 && strcmp(E->got, E->want) == 0, "image json of %d files (batched) == one jclip_embed_image each (rc %d)", n - 1, rc);

    /* --stdin raw, failing input in the middle: stop (exit 1, line named, records before it) or
     * --keep-going (exit 3, a NaN record in its place, the rest embedded) */
    FILE *f = fopen("build/cli_image_list.txt", "wb");
    if (f) {
        for (int i = 0; i < n; i++) fprintf(f, "%s\n", paths[i]);
        fprintf(f, "%s\n", paths[0]);
        fclose(f);
    }
    size_t got = 0;
    snprintf(cmd, sizeof cmd, "./jclip image -m %s --stdin --format raw --keep-going < build/cli_image_list.txt 2>/dev/null", tiny);
    rc = t_run_n(cmd, E->got, 8 << 20, &got);
    int same = got == (size_t)(n + 1) * D * 4;
    unsigned char *le = (unsigned char *)malloc((size_t)D * 4);
    for (int i = 0; same && le && i <= n; i++) {
        const unsigned char *rec = (const unsigned char *)E->got + (size_t)i * D * 4;
        if (i == n - 1) {
            float v;
            memcpy(&v, rec, 4);
            same = isnan(v);
        } else {
            t_cli_le(le, ref + (size_t)(i == n ? 0 : i) * D, D);
            same = memcmp(rec, le, (size_t)D * 4) == 0;
        }
    }
    free(le);
    T_CHECK(rc == 3 && same, "image --stdin --format raw --keep-going: %d records, NaN for the bad one (rc %d, %zu bytes)", n + 1, rc, got);
    snprintf(cmd, sizeof cmd, "./jclip image -m %s --stdin --format raw < build/cli_image_list.txt 2>build/cli_err.txt", tiny);
    rc = t_run_n(cmd, E->got, 8 << 20, &got);
    char *err = t_read_file("build/cli_err.txt", NULL);
    char where[64];
    snprintf(where, sizeof where, "<stdin>:%d:", n);
    T_CHECK(rc == 1 && got == (size_t)(n - 1) * D * 4 && err && strstr(err, where) && strstr(err, "unrecognised image format"),
            "image --stdin stops at the bad line, naming it, after %d records (rc %d, %zu bytes): %s", n - 1, rc, got, err ? err : "");
    free(err);

    /* search: the ranking one call per image gives (the bad file skipped with a warning) */
    double score[32];
    int order[32], k = 0;
    float q[1024];
    T_CHECK(D <= 1024 && jclip_embed_text(E->ctx, "a red cat", 9, q, (size_t)D) == 0, "query embedding");
    for (int i = 0; i < n; i++) {
        if (!ok[i]) continue;
        double c = 0;
        for (int j = 0; j < D; j++) c += (double)q[j] * ref[(size_t)i * D + j];
        score[i] = (float)c;
        order[k++] = i;
    }
    for (int a = 0; a < k; a++) /* by score, then path (paths are already sorted) */
        for (int b = a + 1; b < k; b++)
            if (score[order[b]] > score[order[a]]) { int t = order[a]; order[a] = order[b]; order[b] = t; }
    wp = 0;
    for (int a = 0; a < k; a++) wp += (size_t)snprintf(E->want + wp, 4096, "%.4f\t%s\n", score[order[a]], paths[order[a]]);
    snprintf(cmd, sizeof cmd, "./jclip search -m %s -k 100 'a red cat' build/cli_images 2>build/cli_err.txt", tiny);
    rc = t_run(cmd, E->got, 8 << 20);
    err = t_read_file("build/cli_err.txt", NULL);
    T_CHECK(rc == 0 && strcmp(E->got, E->want) == 0 && err && strstr(err, "skipping build/cli_images/") && strstr(err, "not_an_image"),
            "search ranks as one call per image (rc %d):\n%s---\n%s", rc, E->got, E->want);
    free(err);
    free(ref);
}

/* The CLI's line reader (cli/lines.c) on awkward input, through `jclip tokenize`: CRLF, a
 * "\r\r\n" ending, empty lines, a missing last newline, a 200000-byte line across its 64 KiB
 * reads. (Lines over the 64 MiB limit: t_cli_failures.) */
static void t_cli_lines(const char *tiny, char *out, size_t cap)
{
    FILE *f = fopen("build/cli_lines.txt", "wb");
    if (!f) { T_CHECK(0, "write build/cli_lines.txt"); return; }
    fputs("a\r\n\nbcd\r\r\n", f);
    for (int i = 0; i < 100000; i++) fputs("z ", f);
    fputs("\nlast", f);
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "./jclip tokenize -m %s --max-tokens 4 < build/cli_lines.txt", tiny);
    int rc = t_run(cmd, out, cap);
    char want[1024];
    snprintf(cmd, sizeof cmd, "./jclip tokenize -m %s --max-tokens 4 a '' bcd \"$(printf 'z %%.0s' 1 2 3)\" last", tiny);
    int rc2 = t_run(cmd, want, sizeof want);
    T_CHECK(rc == 0 && rc2 == 0 && strcmp(out, want) == 0, "stdin lines split as the arguments are:\n%s---\n%s", out, want);
}

/* The command table: every command in `jclip --help` with a summary, and its --help. */
static void t_cli_table(char *out, size_t cap)
{
    char cmd[512], help[8192];
    int rc = t_run("./jclip --help", help, sizeof help);
    char *p = strstr(help, "commands:\n");
    T_CHECK(rc == 0 && p, "jclip --help lists commands (rc %d)", rc);
    if (!p) return;
    p += 10;
    int n = 0;
    static const char *const known[] = {"text", "image", "similarity", "search", "tokenize", "info", "decode", "preprocess", "bench"};
    int seen[sizeof known / sizeof known[0]] = {0};
    while (strncmp(p, "  ", 2) == 0 && n < 64) {
        char name[32] = "", summary[256] = "";
        int ok = sscanf(p, " %31s %255[^\n]", name, summary) == 2 && strlen(summary) > 10;
        T_CHECK(ok, "command line with a summary: %.60s", p);
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) seen[i] |= strcmp(name, known[i]) == 0;
        snprintf(cmd, sizeof cmd, "./jclip %s --help", name);
        rc = t_run(cmd, out, cap);
        char usage[64];
        snprintf(usage, sizeof usage, "usage: jclip %s", name);
        T_CHECK(rc == 0 && strstr(out, usage), "jclip %s --help (rc %d)", name, rc);
        snprintf(cmd, sizeof cmd, "./jclip help %s", name);
        T_CHECK(t_run(cmd, out, cap) == 0 && strstr(out, usage), "jclip help %s", name);
        n++;
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) T_CHECK(seen[i], "jclip --help lists %s", known[i]);
    rc = t_run("./jclip frobnicate 2>&1", out, cap);
    T_CHECK(rc == 2 && strstr(out, "unknown command 'frobnicate'"), "unknown command: exit 2 and a message (rc %d): %s", rc, out);
    T_CHECK(t_run("./jclip 2>/dev/null", out, cap) == 2, "no command: exit 2");
}

/* A program that writes one line and waits gets its record at once (no batch waits for more
 * input), and the stream ends cleanly when stdin closes. */
static void t_cli_coprocess(const char *tiny, int D)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out)) { T_CHECK(0, "pipe"); return; }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]); close(in[1]); close(out[0]); close(out[1]);
        execl("./jclip", "jclip", "text", "-m", tiny, "--stdin", "--format", "raw", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    int records = 0, eof = 0;
    static unsigned char rec[1 << 16];
    for (int r = 0; r < 3 && pid > 0; r++) {
        if (r < 2) {
            const char *line = r ? "a photo of a dog\n" : "a cat\n";
            if (write(in[1], line, strlen(line)) < 0) break;
        } else {
            close(in[1]);
            in[1] = -1;
        }
        size_t want = r < 2 ? (size_t)D * 4 : 1, got = 0;
        while (got < want) { /* at most 60 s per record */
            struct pollfd pfd = {out[0], POLLIN, 0};
            if (poll(&pfd, 1, 60000) <= 0) break;
            ssize_t k = read(out[0], rec + got, want - got);
            if (k <= 0) { eof = k == 0; break; }
            got += (size_t)k;
        }
        if (r < 2) records += got == want;
    }
    if (in[1] >= 0) close(in[1]);
    close(out[0]);
    int st = -1;
    if (pid > 0) waitpid(pid, &st, 0);
    signal(SIGPIPE, old);
    T_CHECK(records == 2 && eof && WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "text --stdin --format raw answers each line before the next arrives (%d records, eof %d)", records, eof);
}

/* Exit statuses, and -o never leaving a half-written file. */
static void t_cli_failures(const char *tiny, char *out, size_t cap)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "./jclip text -m %s --format npy hi 2>&1", tiny);
    T_CHECK(t_run(cmd, out, cap) == 2 && strstr(out, "needs -o"), "npy without -o is a usage error: %s", out);
    snprintf(cmd, sizeof cmd, "./jclip text -m %s --stdin hi 2>&1", tiny);
    T_CHECK(t_run(cmd, out, cap) == 2, "--stdin with TEXT arguments is a usage error");
    snprintf(cmd, sizeof cmd, "./jclip image -m %s 2>&1", tiny);
    T_CHECK(t_run(cmd, out, cap) == 2, "image without FILE or --stdin is a usage error");

    /* a bad third input: exit 1, no output file and no temporary file left */
    remove("build/cli_fail.npy");
    snprintf(cmd, sizeof cmd, "printf '101 102\\n101 2028 102\\n101 oops 102\\n101 102\\n' | ./jclip text -m %s --ids --format npy -o build/cli_fail.npy 2>&1", tiny);
    int rc = t_run(cmd, out, cap);
    int left = 0;
    DIR *d = opendir("build");
    for (struct dirent *e; d && (e = readdir(d));) left += strncmp(e->d_name, "cli_fail.npy", 12) == 0;
    if (d) closedir(d);
    T_CHECK(rc == 1 && strstr(out, "input 3") && strstr(out, "oops") && left == 0, "failed npy run: exit 1, input 3 named, no file left (rc %d, %d files): %s", rc, left, out);
    snprintf(cmd, sizeof cmd, "printf '101 102\\n101 2028 102\\n101 oops 102\\n101 102\\n' | ./jclip text -m %s --ids --format npy -o build/cli_fail.npy --keep-going 2>/dev/null", tiny);
    rc = t_run(cmd, out, cap);
    t_npy a = {0};
    int loaded = t_npy_load("build/cli_fail.npy", &a) == 0;
    T_CHECK(rc == 3 && loaded && a.shape[0] == 4 && isnan(a.data[2 * a.shape[1]]) && !isnan(a.data[3 * a.shape[1]]),
            "--keep-going: exit 3, 4 rows, NaN for the bad one (rc %d)", rc);
    free(a.data);
    snprintf(cmd, sizeof cmd, "printf 'a\\n\\n{\"text\": 1}\\n{\"text\": \"b\"}\\n' | ./jclip text -m %s --jsonl - --keep-going 2>&1", tiny);
    rc = t_run(cmd, out, cap);
    T_CHECK(rc == 3 && strstr(out, "-:1: invalid JSON") && strstr(out, "-:3: missing string field") && strstr(out, "\nnull\n"),
            "--keep-going with bad JSONL lines: null records, file:line messages (rc %d): %s", rc, out);
    /* a line over the 64 MiB line limit is one failed input, read in bounded memory */
    snprintf(cmd, sizeof cmd, "{ head -c 67108870 /dev/zero | tr '\\0' a; printf '\\nok\\n'; } | ./jclip text -m %s --format raw --keep-going 2>&1 >/dev/null", tiny);
    rc = t_run(cmd, out, cap);
    T_CHECK(rc == 3 && strstr(out, "<stdin>:1: line longer than"), "an endless line is reported, not buffered (rc %d): %s", rc, out);
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

    t_cli_table(out, sizeof out);
    t_cli_lines(tiny, out, sizeof out);

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
    T_CHECK(rc == 1 && strstr(out, "Makefile") && strstr(out, "unrecognised image format"), "non-image is a one-line error (rc %d): %s", rc, out);

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

    /* batched outputs against one library call per input; npy, raw, streaming, failures */
    t_cli_env env = {0};
    char err[512];
    env.want = (char *)malloc(8 << 20);
    env.got = (char *)malloc(8 << 20);
    int loaded = env.want && env.got && jclip_model_load(tiny, &env.m, err, sizeof err) == 0 &&
             jclip_ctx_create(env.m, NULL, &env.ctx, err, sizeof err) == 0;
    T_CHECK(loaded, "load %s in-process", tiny);
    if (loaded) {
        env.D = jclip_embed_dim(env.m);
        t_cli_text_identity(&env, tiny);
        t_cli_image_identity(&env, tiny);
        t_cli_coprocess(tiny, env.D);
    }
    t_cli_failures(tiny, out, sizeof out);
    jclip_ctx_free(env.ctx);
    jclip_model_free(env.m);
    free(env.want);
    free(env.got);
}
