/* cli/main.c: the `jclip` command-line tool. Everything here is a thin shell over jclip.h:
 * argument parsing, input (arguments, stdin lines, JSONL), output formatting, exit codes.
 * Exit status: 0 ok, 1 runtime error (bad input, bad model), 2 usage error. */
#include "../jclip.h"
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MODEL "models/jina-clip-v1.jclip"

/* ------------------------------------------------------------------------------------------ */

static void die_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "jclip %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see: jclip %s --help)\n", cmd);
    exit(2);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "jclip: error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* Common options shared by the model commands. */
typedef struct {
    const char *model;
    int threads;
    int format_tsv;
    int ids;
    const char *jsonl;
    long max_tokens;
    int k;
} opts;

static const char *model_path(const opts *o)
{
    if (o->model) return o->model;
    const char *env = getenv("JCLIP_MODEL");
    return (env && *env) ? env : DEFAULT_MODEL;
}

static jclip_model *load_model(const opts *o)
{
    const char *path = model_path(o);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            die("model %s not found. Get one with `make model` (downloads and converts jinaai/jina-clip-v1), "
                "or convert a Hugging Face checkpoint: python3 convert/convert.py HF_DIR -o %s; "
                "choose another with -m MODEL or $JCLIP_MODEL",
                path, DEFAULT_MODEL);
        die("cannot open model %s: %s", path, strerror(errno));
    }
    fclose(f);
    jclip_model *m = NULL;
    char err[512];
    if (jclip_model_load(path, &m, err, sizeof err)) die("%s", err);
    return m;
}

static jclip_ctx *make_ctx(const jclip_model *m, const opts *o)
{
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    p.n_threads = o->threads;
    if (o->max_tokens > 0) p.max_tokens = (size_t)o->max_tokens;
    jclip_ctx *ctx = NULL;
    char err[512];
    if (jclip_ctx_create(m, &p, &ctx, err, sizeof err)) die("%s", err);
    return ctx;
}

static long parse_long(const char *cmd, const char *flag, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) die_usage(cmd, "%s needs an integer in [%ld, %ld], got '%s'", flag, lo, hi, v);
    return x;
}

/* Parses the common options; returns the index of the first positional argument. Positional
 * arguments may also follow options; they are compacted to the front of argv[first..]. */
static int parse_opts(const char *cmd, int argc, char **argv, opts *o, const char *allowed, int *n_pos)
{
    int np = 0;
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) { argv[np++] = argv[i]; continue; }
        if (strcmp(a, "--") == 0) { only_pos = 1; continue; }
#define NEEDS(flag) (strstr(allowed, flag) != NULL)
#define VALUE() (i + 1 < argc ? argv[++i] : (die_usage(cmd, "%s needs a value", a), ""))
        if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && NEEDS("m")) o->model = VALUE();
        else if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) && NEEDS("t")) o->threads = (int)parse_long(cmd, a, VALUE(), 1, 256);
        else if (strcmp(a, "--format") == 0 && NEEDS("f")) {
            const char *v = VALUE();
            if (strcmp(v, "json") == 0) o->format_tsv = 0;
            else if (strcmp(v, "tsv") == 0) o->format_tsv = 1;
            else die_usage(cmd, "--format must be json or tsv, got '%s'", v);
        } else if (strcmp(a, "--ids") == 0 && NEEDS("i")) o->ids = 1;
        else if (strcmp(a, "--jsonl") == 0 && NEEDS("j")) o->jsonl = VALUE();
        else if (strcmp(a, "--max-tokens") == 0 && NEEDS("x")) o->max_tokens = parse_long(cmd, a, VALUE(), 2, 8192);
        else if (strcmp(a, "-k") == 0 && NEEDS("k")) o->k = (int)parse_long(cmd, a, VALUE(), 1, 1000000);
        else die_usage(cmd, "unknown option '%s'", a);
#undef NEEDS
#undef VALUE
    }
    *n_pos = np;
    return 0;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Inputs: positional arguments, else --jsonl FILE ("text" field per object), else stdin lines.
 * ------------------------------------------------------------------------------------------ */

typedef struct {
    char **pos; int n_pos, next_pos;
    FILE *f; const char *fname; int jsonl;
    long line;
    char *buf; size_t cap;
    json_value *doc;
} input;

static void input_open(input *in, const opts *o, char **pos, int n_pos)
{
    memset(in, 0, sizeof *in);
    in->pos = pos;
    in->n_pos = n_pos;
    if (o->jsonl) {
        if (n_pos) die("give either TEXT arguments or --jsonl, not both");
        in->jsonl = 1;
        in->fname = o->jsonl;
        in->f = strcmp(o->jsonl, "-") == 0 ? stdin : fopen(o->jsonl, "rb");
        if (!in->f) die("cannot open %s: %s", o->jsonl, strerror(errno));
    } else if (!n_pos) {
        in->f = stdin;
        in->fname = "<stdin>";
    }
}

/* Next input text (bytes + length); returns 0 at the end. The text stays valid until the next
 * call. */
static int input_next(input *in, const char **text, size_t *len)
{
    if (!in->f) {
        if (in->next_pos >= in->n_pos) return 0;
        *text = in->pos[in->next_pos++];
        *len = strlen(*text);
        return 1;
    }
    for (;;) {
        ssize_t n = getline(&in->buf, &in->cap, in->f);
        if (n < 0) {
            if (ferror(in->f)) die("reading %s: %s", in->fname, strerror(errno));
            return 0;
        }
        in->line++;
        while (n > 0 && (in->buf[n - 1] == '\n' || in->buf[n - 1] == '\r')) in->buf[--n] = 0;
        if (!in->jsonl) {
            *text = in->buf;
            *len = (size_t)n;
            return 1;
        }
        size_t k = 0;
        while (k < (size_t)n && (in->buf[k] == ' ' || in->buf[k] == '\t')) k++;
        if (k == (size_t)n) continue; /* blank line */
        char err[128];
        json_free(in->doc);
        in->doc = json_parse(in->buf, (size_t)n, err, sizeof err);
        if (!in->doc) die("%s:%ld: invalid JSON: %s", in->fname, in->line, err);
        json_value *t = json_get(in->doc, "text");
        if (in->doc->type != JSON_OBJECT) die("%s:%ld: expected a JSON object", in->fname, in->line);
        if (!t || t->type != JSON_STRING) die("%s:%ld: missing string field \"text\"", in->fname, in->line);
        *text = t->str;
        *len = t->len;
        return 1;
    }
}

static void input_close(input *in)
{
    if (in->f && in->f != stdin) fclose(in->f);
    json_free(in->doc);
    free(in->buf);
}

/* "101 2129 102" -> ids; returns the count or dies naming the bad token. */
static size_t parse_ids(const char *s, size_t len, int32_t **ids, size_t *cap, const char *where)
{
    size_t n = 0, i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) i++;
        if (i >= len) break;
        size_t j = i;
        long v = 0;
        while (j < len && s[j] >= '0' && s[j] <= '9') {
            v = v * 10 + (s[j] - '0');
            if (v > 0x7fffffff) break;
            j++;
        }
        if (j == i || (j < len && s[j] != ' ' && s[j] != '\t' && s[j] != ',')) {
            size_t e = i;
            while (e < len && s[e] != ' ' && s[e] != '\t' && s[e] != ',' && e - i < 40) e++;
            die("%s: '%.*s' is not a token id (expected non-negative integers separated by spaces)", where,
                (int)(e - i), s + i);
        }
        if (n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *ids = (int32_t *)realloc(*ids, *cap * sizeof(int32_t));
            if (!*ids) die("out of memory");
        }
        (*ids)[n++] = (int32_t)v;
        i = j;
    }
    return n;
}

static void print_vec(const float *v, int n, int tsv)
{
    if (!tsv) putchar('[');
    for (int i = 0; i < n; i++) {
        if (i) fputs(tsv ? "\t" : ",", stdout);
        printf("%.9g", v[i]);
    }
    if (!tsv) putchar(']');
    putchar('\n');
}

/* ------------------------------------------------------------------------------------------ */

static const char *TEXT_HELP =
    "usage: jclip text [-m MODEL] [--format json|tsv] [--ids] [--jsonl FILE] [--threads N] [TEXT ...]\n"
    "\n"
    "Embeds each TEXT (jina-clip-v1, 768 floats, L2-normalised) and prints one embedding per\n"
    "line, in input order. With no TEXT and no --jsonl, reads one text per line from stdin.\n"
    "\n"
    "  -m, --model MODEL   .jclip model (default: $JCLIP_MODEL, else " DEFAULT_MODEL ")\n"
    "  --format json|tsv   json: one JSON array per line (default); tsv: tab-separated floats\n"
    "  --ids               each input is a space-separated list of token ids, embedded as given\n"
    "  --jsonl FILE        read JSON objects, one per line, and embed each one's \"text\" field\n"
    "                      (FILE '-' is stdin)\n"
    "  --max-tokens N      truncate to N tokens incl. [CLS]/[SEP] (default 512, up to 8192)\n"
    "  -t, --threads N     worker threads (default: all cores)\n"
    "\n"
    "Texts longer than the token limit are truncated like the reference (keeping [SEP]).\n"
    "Example: jclip text \"a photo of a cat\" \"a photo of a dog\"\n";

static int cmd_text(int argc, char **argv)
{
    if (wants_help(argc, argv)) { fputs(TEXT_HELP, stdout); return 0; }
    opts o = {0};
    int np;
    parse_opts("text", argc, argv, &o, "m t f i j x", &np);
    jclip_model *m = load_model(&o);
    jclip_ctx *ctx = make_ctx(m, &o);
    int D = jclip_embed_dim(m);
    float *e = (float *)malloc(sizeof(float) * (size_t)D);
    int32_t *ids = NULL;
    size_t idcap = 0;
    input in;
    input_open(&in, &o, argv, np);
    const char *t;
    size_t len;
    long item = 0;
    while (input_next(&in, &t, &len)) {
        item++;
        int rc;
        if (o.ids) {
            char where[64];
            snprintf(where, sizeof where, "input %ld", item);
            size_t n = parse_ids(t, len, &ids, &idcap, where);
            rc = jclip_embed_tokens(ctx, ids, n, e, (size_t)D);
        } else {
            rc = jclip_embed_text(ctx, t, len, e, (size_t)D);
        }
        if (rc) die("input %ld: %s", item, jclip_ctx_error(ctx));
        print_vec(e, D, o.format_tsv);
    }
    input_close(&in);
    free(ids);
    free(e);
    jclip_ctx_free(ctx);
    jclip_model_free(m);
    if (fflush(stdout)) die("writing output: %s", strerror(errno));
    return 0;
}

static const char *TOKENIZE_HELP =
    "usage: jclip tokenize [-m MODEL] [--jsonl FILE] [--max-tokens N] [TEXT ...]\n"
    "\n"
    "Prints the token ids of each TEXT on one line, separated by single spaces:\n"
    "[CLS] (101) ... [SEP] (102), BERT uncased WordPiece exactly as Hugging Face's\n"
    "BertTokenizerFast. With no TEXT and no --jsonl, reads one text per line from stdin.\n"
    "\n"
    "  -m, --model MODEL   .jclip model holding the vocabulary (default: $JCLIP_MODEL, else\n"
    "                      " DEFAULT_MODEL ")\n"
    "  --jsonl FILE        read JSON objects, one per line, and tokenize each \"text\" field\n"
    "  --max-tokens N      truncate to N ids keeping [SEP] last (default 512, up to 8192)\n";

static int cmd_tokenize(int argc, char **argv)
{
    if (wants_help(argc, argv)) { fputs(TOKENIZE_HELP, stdout); return 0; }
    opts o = {0};
    int np;
    parse_opts("tokenize", argc, argv, &o, "m j x", &np);
    o.threads = 1;
    jclip_model *m = load_model(&o);
    jclip_ctx *ctx = make_ctx(m, &o);
    size_t max = o.max_tokens > 0 ? (size_t)o.max_tokens : 512;
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * max);
    input in;
    input_open(&in, &o, argv, np);
    const char *t;
    size_t len, n;
    long item = 0;
    while (input_next(&in, &t, &len)) {
        item++;
        if (jclip_tokenize(ctx, t, len, max, ids, max, &n)) die("input %ld: %s", item, jclip_ctx_error(ctx));
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    input_close(&in);
    free(ids);
    jclip_ctx_free(ctx);
    jclip_model_free(m);
    if (fflush(stdout)) die("writing output: %s", strerror(errno));
    return 0;
}

static const char *INFO_HELP =
    "usage: jclip info [MODEL]\n"
    "\n"
    "Describes a .jclip model: architecture, tower sizes, tokenizer, dtype, file size and the\n"
    "kernels that will run on this CPU (override with JCLIP_ISA=scalar|avx2|avx512|neon).\n"
    "MODEL defaults to $JCLIP_MODEL, else " DEFAULT_MODEL ".\n";

static int cmd_info(int argc, char **argv)
{
    if (wants_help(argc, argv)) { fputs(INFO_HELP, stdout); return 0; }
    opts o = {0};
    int np;
    parse_opts("info", argc, argv, &o, "m", &np);
    if (np > 1) die_usage("info", "takes at most one MODEL");
    if (np == 1) o.model = argv[0];
    jclip_model *m = load_model(&o);
    char buf[2048];
    jclip_model_describe(m, buf, sizeof buf);
    printf("model:        %s\n%s\n", model_path(&o), buf);
    jclip_model_free(m);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

static const char *MAIN_HELP =
    "jclip " JCLIP_VERSION ": jina-clip-v1 text and image embeddings in plain C\n"
    "\n"
    "usage: jclip COMMAND [options] [args]\n"
    "\n"
    "commands:\n"
    "  text       embed texts (arguments, stdin lines or --jsonl)\n"
    "  tokenize   print the WordPiece token ids of texts\n"
    "  info       describe a model file and the kernels it will use\n"
    "\n"
    "Run `jclip COMMAND --help` for a command's options. The model is -m MODEL, else\n"
    "$JCLIP_MODEL, else " DEFAULT_MODEL " (`make model` downloads and converts it).\n";

int main(int argc, char **argv)
{
    if (argc < 2) { fputs(MAIN_HELP, stderr); return 2; }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) { fputs(MAIN_HELP, stdout); return 0; }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) { printf("jclip %s\n", JCLIP_VERSION); return 0; }
    if (strcmp(cmd, "text") == 0) return cmd_text(argc - 2, argv + 2);
    if (strcmp(cmd, "tokenize") == 0) return cmd_tokenize(argc - 2, argv + 2);
    if (strcmp(cmd, "info") == 0) return cmd_info(argc - 2, argv + 2);
    fprintf(stderr, "jclip: unknown command '%s' (see: jclip --help)\n", cmd);
    return 2;
}
