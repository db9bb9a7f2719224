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
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MODEL "models/jina-clip-v1.jclip"

int cli_bench(int argc, char **argv); /* cli/bench.c */

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


/* ------------------------------------------------------------------------------------------
 * Images
 * ------------------------------------------------------------------------------------------ */

/* Reads a whole file ("-" = stdin) into memory; returns NULL with errno set on failure. */
static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = (unsigned char *)malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        if (cap > ((size_t)1 << 31)) { free(buf); buf = NULL; errno = EFBIG; break; }
        unsigned char *nb = (unsigned char *)realloc(buf, cap * 2);
        if (!nb) { free(buf); buf = NULL; errno = ENOMEM; break; }
        buf = nb;
        cap *= 2;
    }
    int bad = f != stdin && ferror(f);
    if (f != stdin) fclose(f);
    if (bad) { free(buf); errno = EIO; return NULL; }
    *len = n;
    return buf;
}

static const char *IMAGE_HELP =
    "usage: jclip image [-m MODEL] [--format json|tsv] [--threads N] FILE...\n"
    "\n"
    "Embeds each JPEG or PNG file (jina-clip-v1, 768 floats, L2-normalised), one embedding per\n"
    "line in input order, exactly as the reference encode_image(path): decode as Pillow does,\n"
    "convert to RGB (EXIF orientation not applied), bicubic resize of the shorter side to 224,\n"
    "center crop 224, normalise, vision tower. FILE '-' reads one image from stdin.\n"
    "\n"
    "  -m, --model MODEL   .jclip model (default: $JCLIP_MODEL, else " DEFAULT_MODEL ")\n"
    "  --format json|tsv   json: one JSON array per line (default); tsv: tab-separated floats\n"
    "  -t, --threads N     worker threads (default: all cores)\n";

static int cmd_image(int argc, char **argv)
{
    if (wants_help(argc, argv)) { fputs(IMAGE_HELP, stdout); return 0; }
    opts o = {0};
    int np;
    parse_opts("image", argc, argv, &o, "m t f", &np);
    if (np == 0) die_usage("image", "needs at least one FILE");
    jclip_model *m = load_model(&o);
    jclip_ctx *ctx = make_ctx(m, &o);
    int D = jclip_embed_dim(m);
    float *e = (float *)malloc(sizeof(float) * (size_t)D);
    for (int i = 0; i < np; i++) {
        size_t len;
        unsigned char *data = read_all(argv[i], &len);
        if (!data) die("cannot read %s: %s", argv[i], strerror(errno));
        if (jclip_embed_image(ctx, data, len, e, (size_t)D)) die("%s: %s", argv[i], jclip_ctx_error(ctx));
        free(data);
        print_vec(e, D, o.format_tsv);
    }
    free(e);
    jclip_ctx_free(ctx);
    jclip_model_free(m);
    if (fflush(stdout)) die("writing output: %s", strerror(errno));
    return 0;
}

/* Decodes a file to RGB with the public API; returns the pixels (caller frees). */
static unsigned char *decode_file(const char *path, jclip_image_info *info)
{
    size_t len;
    unsigned char *data = read_all(path, &len);
    if (!data) die("cannot read %s: %s", path, strerror(errno));
    char err[512];
    if (jclip_decode_info(data, len, info, err, sizeof err)) die("%s: %s", path, err);
    size_t need = (size_t)info->width * info->height * 3;
    unsigned char *rgb = (unsigned char *)malloc(need ? need : 1);
    if (!rgb) die("%s: out of memory for a %ux%u image", path, (unsigned)info->width, (unsigned)info->height);
    if (jclip_decode_image(data, len, 0, rgb, need, info, err, sizeof err)) die("%s: %s", path, err);
    free(data);
    return rgb;
}

static void write_file(const char *path, const char *header, const unsigned char *data, size_t n)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!f) die("cannot create %s: %s", path, strerror(errno));
    if ((header && fputs(header, f) < 0) || fwrite(data, 1, n, f) != n || (f != stdout ? fclose(f) : fflush(f)))
        die("writing %s: %s", path, strerror(errno));
}

static const char *DECODE_HELP =
    "usage: jclip decode FILE -o OUT.ppm\n"
    "       jclip decode --info FILE\n"
    "\n"
    "Decodes a JPEG or PNG with jclip's own decoders into binary PPM (P6, maxval 255): the same\n"
    "RGB bytes as Pillow 9.4's Image.open(FILE).convert('RGB'). --info prints the header:\n"
    "format, size, components, bit depth, sampling, progressive/interlaced, EXIF orientation.\n"
    "No model is needed.\n";

static int cmd_decode(int argc, char **argv)
{
    if (wants_help(argc, argv)) { fputs(DECODE_HELP, stdout); return 0; }
    const char *out = NULL, *in = NULL;
    int info_only = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) out = argv[++i];
        else if (strcmp(argv[i], "--info") == 0) info_only = 1;
        else if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0) die_usage("decode", "unknown option '%s'", argv[i]);
        else if (in) die_usage("decode", "takes one FILE");
        else in = argv[i];
    }
    if (!in) die_usage("decode", "needs a FILE");
    jclip_image_info info;
    if (info_only) {
        size_t len;
        unsigned char *data = read_all(in, &len);
        if (!data) die("cannot read %s: %s", in, strerror(errno));
        char err[512];
        if (jclip_decode_info(data, len, &info, err, sizeof err)) die("%s: %s", in, err);
        free(data);
        printf("file:        %s\nformat:      %s\nsize:        %ux%u\ncomponents:  %d (%s)\nbit depth:   %d\n", in,
               info.format == JCLIP_FORMAT_JPEG ? "JPEG" : "PNG", (unsigned)info.width, (unsigned)info.height,
               info.components, info.color, info.bit_depth);
        if (info.format == JCLIP_FORMAT_JPEG)
            printf("sampling:    %s\nprogressive: %s\narithmetic:  %s\norientation: %d%s\n", info.sampling,
                   info.progressive ? "yes" : "no", info.arithmetic ? "yes" : "no", info.exif_orientation,
                   info.exif_orientation ? " (EXIF; reported, not applied)" : " (no EXIF orientation)");
        else
            printf("interlaced:  %s\n", info.progressive ? "yes (Adam7)" : "no");
        return 0;
    }
    if (!out) die_usage("decode", "needs -o OUT.ppm (or --info)");
    unsigned char *rgb = decode_file(in, &info);
    char header[64];
    snprintf(header, sizeof header, "P6\n%u %u\n255\n", (unsigned)info.width, (unsigned)info.height);
    write_file(out, header, rgb, (size_t)info.width * info.height * 3);
    free(rgb);
    return 0;
}

static const char *PREPROCESS_HELP =
    "usage: jclip preprocess FILE -o OUT.rgb\n"
    "\n"
    "Writes the 224x224x3 uint8 image (HWC, 150528 bytes) that jina-clip-v1's preprocessing\n"
    "feeds to normalisation: decode, convert to RGB, bicubic resize of the shorter side to 224\n"
    "(Pillow's resampler, bit-exact), center crop. For verification against the reference.\n"
    "No model is needed.\n";

static int cmd_preprocess(int argc, char **argv)
{
    if (wants_help(argc, argv)) { fputs(PREPROCESS_HELP, stdout); return 0; }
    const char *out = NULL, *in = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) out = argv[++i];
        else if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0) die_usage("preprocess", "unknown option '%s'", argv[i]);
        else if (in) die_usage("preprocess", "takes one FILE");
        else in = argv[i];
    }
    if (!in || !out) die_usage("preprocess", "needs FILE and -o OUT.rgb");
    jclip_image_info info;
    unsigned char *rgb = decode_file(in, &info);
    size_t ss = jclip_preprocess_scratch_size(info.width, info.height);
    if (!ss) die("%s: image size %ux%u is out of range", in, (unsigned)info.width, (unsigned)info.height);
    void *scratch = malloc(ss);
    static unsigned char crop[224 * 224 * 3];
    char err[512];
    if (!scratch) die("out of memory");
    if (jclip_preprocess_crop(rgb, info.width, info.height, crop, sizeof crop, scratch, ss, err, sizeof err)) die("%s: %s", in, err);
    write_file(out, NULL, crop, sizeof crop);
    free(scratch);
    free(rgb);
    return 0;
}

static const char *SIMILARITY_HELP =
    "usage: jclip similarity [-m MODEL] [--threads N] --text T ... --image FILE ...\n"
    "\n"
    "Embeds every text and image given and prints their cosine similarity matrix, each row and\n"
    "column labelled (the legend lists the inputs in the order given). Any number of --text and\n"
    "--image arguments, in any order; each flag takes one value.\n"
    "\n"
    "Note: text-image cosines run much lower than text-text ones (jina-clip-v1 ranks images for\n"
    "a text well, but its cross-modal scores sit around 0.2-0.4 where text pairs score 0.6-0.9),\n"
    "so compare scores within one modality pair, and normalise each modality's scores separately\n"
    "before combining text and image results, as the model card advises.\n";

typedef struct { int is_image; const char *s; } sim_item;

static int cmd_similarity(int argc, char **argv)
{
    if (wants_help(argc, argv)) { fputs(SIMILARITY_HELP, stdout); return 0; }
    opts o = {0};
    sim_item *items = (sim_item *)calloc((size_t)argc + 1, sizeof *items);
    int n = 0;
    char **rest = (char **)calloc((size_t)argc + 1, sizeof *rest);
    int nr = 0;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "--text") == 0 || strcmp(argv[i], "--image") == 0)) {
            if (i + 1 >= argc) die_usage("similarity", "%s needs a value", argv[i]);
            items[n].is_image = argv[i][2] == 'i';
            items[n++].s = argv[++i];
        } else rest[nr++] = argv[i];
    }
    int np;
    parse_opts("similarity", nr, rest, &o, "m t", &np);
    if (np) die_usage("similarity", "unexpected argument '%s' (use --text or --image)", rest[0]);
    if (n < 1) die_usage("similarity", "needs at least one --text or --image");
    jclip_model *m = load_model(&o);
    jclip_ctx *ctx = make_ctx(m, &o);
    int D = jclip_embed_dim(m);
    float *E = (float *)malloc(sizeof(float) * (size_t)D * (size_t)n);
    for (int i = 0; i < n; i++) {
        float *e = E + (size_t)i * D;
        if (items[i].is_image) {
            size_t len;
            unsigned char *data = read_all(items[i].s, &len);
            if (!data) die("cannot read %s: %s", items[i].s, strerror(errno));
            if (jclip_embed_image(ctx, data, len, e, (size_t)D)) die("%s: %s", items[i].s, jclip_ctx_error(ctx));
            free(data);
        } else if (jclip_embed_text(ctx, items[i].s, strlen(items[i].s), e, (size_t)D)) {
            die("text %d: %s", i + 1, jclip_ctx_error(ctx));
        }
    }
    for (int i = 0; i < n; i++) printf("[%d] %-5s %s\n", i + 1, items[i].is_image ? "image" : "text", items[i].s);
    printf("\n%6s", "");
    for (int j = 0; j < n; j++) {
        char lab[16];
        snprintf(lab, sizeof lab, "[%d]", j + 1);
        printf(" %7s", lab);
    }
    putchar('\n');
    for (int i = 0; i < n; i++) {
        char lab[16];
        snprintf(lab, sizeof lab, "[%d]", i + 1);
        printf("%6s", lab);
        for (int j = 0; j < n; j++) {
            double c = 0;
            for (int k = 0; k < D; k++) c += (double)E[(size_t)i * D + k] * E[(size_t)j * D + k];
            printf(" %7.4f", c);
        }
        putchar('\n');
    }
    free(E);
    free(items);
    free(rest);
    jclip_ctx_free(ctx);
    jclip_model_free(m);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * search: rank images by similarity to a text, with an optional embedding cache
 * ------------------------------------------------------------------------------------------ */

typedef struct { char *path; long long size, mtime, mtime_ns; float score; int have; } sr_file;
typedef struct { sr_file *v; size_t n, cap; } sr_list;

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    char ext[8] = {0};
    for (int i = 0; i < 6 && dot[i + 1]; i++) ext[i] = (char)(dot[i + 1] | 0x20);
    return strcmp(ext, "jpg") == 0 || strcmp(ext, "jpeg") == 0 || strcmp(ext, "png") == 0;
}

static void sr_add(sr_list *l, const char *path, const struct stat *st)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = (sr_file *)realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) die("out of memory");
    }
    sr_file *f = &l->v[l->n++];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) die("out of memory");
    f->size = (long long)st->st_size;
    f->mtime = (long long)st->st_mtim.tv_sec;
    f->mtime_ns = (long long)st->st_mtim.tv_nsec;
}

/* Collects image files under path (directories recursively; symlinked directories are not
 * followed, so cycles cannot occur). An explicitly named file is taken whatever its name. */
static void sr_collect(sr_list *l, const char *path, int top)
{
    struct stat st;
    if ((top ? stat(path, &st) : lstat(path, &st)) != 0) {
        if (top) die("cannot access %s: %s", path, strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) { fprintf(stderr, "jclip: warning: cannot open directory %s: %s\n", path, strerror(errno)); return; }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            size_t n = strlen(path) + strlen(e->d_name) + 2;
            char *child = (char *)malloc(n);
            if (!child) die("out of memory");
            snprintf(child, n, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", e->d_name);
            struct stat cs;
            if (lstat(child, &cs) == 0 && (S_ISDIR(cs.st_mode) || (S_ISREG(cs.st_mode) && has_image_ext(e->d_name))))
                sr_collect(l, child, 0);
            free(child);
        }
        closedir(d);
    } else if (S_ISREG(st.st_mode)) {
        sr_add(l, path, &st);
    } else if (top) {
        die("%s is not a file or directory", path);
    }
}

static int sr_by_path(const void *a, const void *b) { return strcmp(((const sr_file *)a)->path, ((const sr_file *)b)->path); }
static int sr_by_score(const void *a, const void *b)
{
    const sr_file *x = (const sr_file *)a, *y = (const sr_file *)b;
    if (x->have != y->have) return y->have - x->have;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return strcmp(x->path, y->path);
}

/* Identity of a model file for the cache: size + FNV-1a of its first 64 KiB (metadata). */
static unsigned long long model_id(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned long long h = 1469598103934665603ull;
    if (!f) return 0;
    unsigned char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    for (size_t i = 0; i < n; i++) h = (h ^ buf[i]) * 1099511628211ull;
    fseek(f, 0, SEEK_END);
    h ^= (unsigned long long)ftell(f);
    fclose(f);
    return h;
}

#define CACHE_MAGIC "JCLIPSC1"

/* Cache file: magic, u32 dim, u64 model id, u32 count, then per entry u32 path length, path,
 * i64 size, i64 mtime, i64 mtime_ns, dim floats (host byte order: the cache is local). A file
 * that does not parse completely is ignored (and rewritten) rather than trusted. */
typedef struct { char *path; long long size, mtime, mtime_ns; float *e; } cache_ent;

static size_t cache_load(const char *file, int D, unsigned long long mid, cache_ent **out)
{
    *out = NULL;
    size_t len;
    unsigned char *b = read_all(file, &len);
    if (!b) return 0;
    size_t p = 0, n = 0;
    uint32_t dim = 0, count = 0;
    unsigned long long id = 0;
    cache_ent *v = NULL;
#define TAKE(dst, k) do { if (len - p < (size_t)(k)) goto bad; memcpy((dst), b + p, (k)); p += (k); } while (0)
    if (len < 8 || memcmp(b, CACHE_MAGIC, 8) != 0) goto bad;
    p = 8;
    TAKE(&dim, 4);
    TAKE(&id, 8);
    TAKE(&count, 4);
    if ((int)dim != D || id != mid) goto bad; /* another model: start afresh */
    if (count > len / (4 + 24 + 4 * (size_t)D)) goto bad;
    v = (cache_ent *)calloc(count ? count : 1, sizeof *v);
    if (!v) goto bad;
    for (; n < count; n++) {
        uint32_t pl;
        TAKE(&pl, 4);
        if (pl == 0 || pl > 65536 || len - p < pl) goto bad;
        v[n].path = (char *)malloc(pl + 1);
        v[n].e = (float *)malloc(sizeof(float) * (size_t)D);
        if (!v[n].path || !v[n].e) { free(v[n].path); free(v[n].e); goto bad; }
        memcpy(v[n].path, b + p, pl);
        v[n].path[pl] = 0;
        p += pl;
        TAKE(&v[n].size, 8);
        TAKE(&v[n].mtime, 8);
        TAKE(&v[n].mtime_ns, 8);
        TAKE(v[n].e, sizeof(float) * (size_t)D);
    }
#undef TAKE
    free(b);
    *out = v;
    return n;
bad:
    if (b && !(len >= 8 && memcmp(b, CACHE_MAGIC, 8) == 0 && p >= 24))
        fprintf(stderr, "jclip: warning: ignoring unreadable cache %s\n", file);
    for (size_t i = 0; i < n; i++) { free(v[i].path); free(v[i].e); }
    free(v);
    free(b);
    return 0;
}

static void cache_save(const char *file, int D, unsigned long long mid, const sr_list *l, const float *E)
{
    size_t tl = strlen(file) + 8;
    char *tmp = (char *)malloc(tl);
    if (!tmp) return;
    snprintf(tmp, tl, "%s.tmp", file);
    FILE *f = fopen(tmp, "wb");
    if (!f) { fprintf(stderr, "jclip: warning: cannot write cache %s: %s\n", file, strerror(errno)); free(tmp); return; }
    uint32_t dim = (uint32_t)D, count = 0;
    for (size_t i = 0; i < l->n; i++) count += l->v[i].have;
    int ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&dim, 4, 1, f) == 1 && fwrite(&mid, 8, 1, f) == 1 &&
             fwrite(&count, 4, 1, f) == 1;
    for (size_t i = 0; ok && i < l->n; i++) {
        if (!l->v[i].have) continue;
        uint32_t pl = (uint32_t)strlen(l->v[i].path);
        ok = fwrite(&pl, 4, 1, f) == 1 && fwrite(l->v[i].path, 1, pl, f) == pl && fwrite(&l->v[i].size, 8, 1, f) == 1 &&
             fwrite(&l->v[i].mtime, 8, 1, f) == 1 && fwrite(&l->v[i].mtime_ns, 8, 1, f) == 1 &&
             fwrite(E + i * (size_t)D, sizeof(float), (size_t)D, f) == (size_t)D;
    }
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, file) != 0) {
        fprintf(stderr, "jclip: warning: cannot write cache %s\n", file);
        remove(tmp);
    }
    free(tmp);
}

static void progress(size_t done, size_t total)
{
    int w = 30, k = (int)(total ? done * (size_t)w / total : (size_t)w);
    fprintf(stderr, "\rembedding images %zu/%zu [", done, total);
    for (int i = 0; i < w; i++) fputc(i < k ? '=' : ' ', stderr);
    fputs(done == total ? "]\n" : "]", stderr);
    fflush(stderr);
}

static const char *SEARCH_HELP =
    "usage: jclip search [-m MODEL] [-k K] [--cache FILE] [--threads N] QUERY PATH...\n"
    "\n"
    "Ranks the images (.jpg, .jpeg, .png) in the given files and folders (searched recursively)\n"
    "by cosine similarity to the text QUERY and prints the top K as `score<TAB>path`, best first.\n"
    "Images that cannot be decoded are reported on stderr and skipped.\n"
    "\n"
    "  -k K            how many results (default 10)\n"
    "  --cache FILE    keep image embeddings in FILE: a later search re-embeds only images that\n"
    "                  are new or changed (by size and modification time) and reuses the rest\n"
    "  -m, --model     .jclip model (default: $JCLIP_MODEL, else " DEFAULT_MODEL ")\n"
    "  -t, --threads N worker threads (default: all cores)\n"
    "\n"
    "A progress bar is shown on stderr (when it is a terminal) while many images are embedded.\n";

static int cmd_search(int argc, char **argv)
{
    if (wants_help(argc, argv)) { fputs(SEARCH_HELP, stdout); return 0; }
    opts o = {0};
    o.k = 10;
    const char *cache = NULL;
    char **rest = (char **)calloc((size_t)argc + 1, sizeof *rest);
    int nr = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--cache") == 0) {
            if (i + 1 >= argc) die_usage("search", "--cache needs a file");
            cache = argv[++i];
        } else rest[nr++] = argv[i];
    }
    int np;
    parse_opts("search", nr, rest, &o, "m t k", &np);
    if (np < 2) die_usage("search", "needs a QUERY and at least one PATH");
    const char *query = rest[0];
    sr_list l = {0};
    for (int i = 1; i < np; i++) sr_collect(&l, rest[i], 1);
    if (l.n == 0) die("no .jpg, .jpeg or .png files under the given paths");
    qsort(l.v, l.n, sizeof *l.v, sr_by_path);

    jclip_model *m = load_model(&o);
    jclip_ctx *ctx = make_ctx(m, &o);
    int D = jclip_embed_dim(m);
    float *q = (float *)malloc(sizeof(float) * (size_t)D);
    float *E = (float *)malloc(sizeof(float) * (size_t)D * l.n);
    if (!q || !E) die("out of memory");
    if (jclip_embed_text(ctx, query, strlen(query), q, (size_t)D)) die("query: %s", jclip_ctx_error(ctx));

    unsigned long long mid = model_id(model_path(&o));
    cache_ent *ce = NULL;
    size_t nce = cache ? cache_load(cache, D, mid, &ce) : 0;
    size_t todo = 0, reused = 0;
    for (size_t i = 0; i < l.n; i++) {
        sr_file *f = &l.v[i];
        for (size_t j = 0; j < nce; j++)
            if (ce[j].size == f->size && ce[j].mtime == f->mtime && ce[j].mtime_ns == f->mtime_ns && strcmp(ce[j].path, f->path) == 0) {
                memcpy(E + i * (size_t)D, ce[j].e, sizeof(float) * (size_t)D);
                f->have = 1;
                reused++;
                break;
            }
        todo += !f->have;
    }
    int show = todo >= 8 && isatty(2);
    size_t done = 0, failed = 0;
    for (size_t i = 0; i < l.n; i++) {
        sr_file *f = &l.v[i];
        if (f->have) continue;
        size_t len;
        unsigned char *data = read_all(f->path, &len);
        if (!data) {
            fprintf(stderr, "%sjclip: warning: skipping %s: %s\n", show ? "\n" : "", f->path, strerror(errno));
            failed++;
        } else if (jclip_embed_image(ctx, data, len, E + i * (size_t)D, (size_t)D)) {
            fprintf(stderr, "%sjclip: warning: skipping %s: %s\n", show ? "\n" : "", f->path, jclip_ctx_error(ctx));
            failed++;
        } else {
            f->have = 1;
        }
        free(data);
        if (show) progress(++done, todo);
    }
    for (size_t i = 0; i < l.n; i++) {
        if (!l.v[i].have) continue;
        double c = 0;
        for (int k = 0; k < D; k++) c += (double)q[k] * E[i * (size_t)D + k];
        l.v[i].score = (float)c;
    }
    if (cache) cache_save(cache, D, mid, &l, E);
    /* scores sorted on a copy of the list so that the cache above stays aligned with E */
    qsort(l.v, l.n, sizeof *l.v, sr_by_score);
    for (size_t i = 0; i < l.n && (int)i < o.k; i++)
        if (l.v[i].have) printf("%.4f\t%s\n", l.v[i].score, l.v[i].path);
    if (cache) fprintf(stderr, "jclip: %zu images, %zu from the cache, %zu embedded, %zu skipped\n", l.n, reused, l.n - reused - failed, failed);
    for (size_t j = 0; j < nce; j++) { free(ce[j].path); free(ce[j].e); }
    free(ce);
    for (size_t i = 0; i < l.n; i++) free(l.v[i].path);
    free(l.v);
    free(q);
    free(E);
    free(rest);
    jclip_ctx_free(ctx);
    jclip_model_free(m);
    if (fflush(stdout)) die("writing output: %s", strerror(errno));
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
    if (strcmp(cmd, "image") == 0) return cmd_image(argc - 2, argv + 2);
    if (strcmp(cmd, "decode") == 0) return cmd_decode(argc - 2, argv + 2);
    if (strcmp(cmd, "preprocess") == 0) return cmd_preprocess(argc - 2, argv + 2);
    if (strcmp(cmd, "similarity") == 0) return cmd_similarity(argc - 2, argv + 2);
    if (strcmp(cmd, "search") == 0) return cmd_search(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0) return cli_bench(argc - 1, argv + 1);
    fprintf(stderr, "jclip: unknown command '%s' (see: jclip --help)\n", cmd);
    return 2;
}
