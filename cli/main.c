/* cli/main.c: the `jclip` command-line tool. Everything here is a thin shell over jclip.h:
 * argument parsing, input (arguments, stdin lines, JSONL), output formatting, exit codes.
 * The command table at the end drives both dispatch and `jclip --help`.
 * Exit status: 0 ok, 1 runtime error (bad input, bad model), 2 usage error, 3 some inputs
 * failed under --keep-going (their records are null / NaN). */
#include "cli.h"
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */

void die_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    sink_discard_pending();
    fprintf(stderr, "jclip %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see: jclip %s --help)\n", cmd);
    exit(2);
}

void die(const char *fmt, ...)
{
    va_list ap;
    sink_discard_pending();
    fprintf(stderr, "jclip: error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

const char *model_path(const opts *o)
{
    if (o->model) return o->model;
    const char *env = getenv("JCLIP_MODEL");
    return (env && *env) ? env : DEFAULT_MODEL;
}

jclip_model *load_model(const opts *o)
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

jclip_ctx *make_ctx(const jclip_model *m, const opts *o)
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

static int parse_format(const char *cmd, const char *v)
{
    static const char *const names[] = {"json", "tsv", "raw", "npy"}; /* FMT_* order */
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) return i;
    die_usage(cmd, "--format must be json, tsv, raw or npy, got '%s'", v);
}

/* Parses the common options; positional arguments (which may also follow options) are
 * compacted to the front of argv. */
void parse_opts(const char *cmd, int argc, char **argv, opts *o, const char *allowed, int *n_pos)
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
        else if (strcmp(a, "--format") == 0 && NEEDS("f")) o->format = parse_format(cmd, VALUE());
        else if (strcmp(a, "--ids") == 0 && NEEDS("i")) o->ids = 1;
        else if (strcmp(a, "--jsonl") == 0 && NEEDS("j")) o->jsonl = VALUE();
        else if (strcmp(a, "--max-tokens") == 0 && NEEDS("x")) o->max_tokens = parse_long(cmd, a, VALUE(), 2, 8192);
        else if (strcmp(a, "-k") == 0 && NEEDS("k")) o->k = (int)parse_long(cmd, a, VALUE(), 1, 1000000);
        else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && NEEDS("o")) o->out = VALUE();
        else if (strcmp(a, "--stdin") == 0 && NEEDS("s")) o->from_stdin = 1;
        else if (strcmp(a, "--keep-going") == 0 && NEEDS("g")) o->keep_going = 1;
        else die_usage(cmd, "unknown option '%s'", a);
#undef NEEDS
#undef VALUE
    }
    *n_pos = np;
}

int wants_help(int argc, char **argv)
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
    line_reader lr; int lines; /* reading lines: stdin or --jsonl */
    int jsonl;
    json_value *doc;
    long item; /* inputs returned so far: the number of the last one, from 1 */
} input;

enum { INPUT_END = 0, INPUT_OK = 1, INPUT_BAD = -1, INPUT_FATAL = -2 };

static void input_open(input *in, const opts *o, char **pos, int n_pos)
{
    memset(in, 0, sizeof *in);
    in->pos = pos;
    in->n_pos = n_pos;
    if (o->jsonl) {
        if (n_pos) die("give either TEXT arguments or --jsonl, not both");
        in->jsonl = 1;
        in->lines = 1;
        if (lines_open(&in->lr, o->jsonl, LINE_MAX_BYTES)) die("cannot open %s: %s", o->jsonl, strerror(errno));
        in->lr.name = o->jsonl; /* messages say "FILE:LINE: ..." with FILE as given, "-" too */
    } else if (!n_pos) {
        in->lines = 1;
        if (lines_open(&in->lr, "-", LINE_MAX_BYTES)) die("reading <stdin>: %s", strerror(errno));
    }
}

/* The "text" of one JSONL line; INPUT_BAD with a message naming file:line when it has none. */
static int input_json_text(input *in, char *line, size_t n, const char **text, size_t *len, char *msg, size_t cap)
{
    char err[128];
    const char *name = in->lr.name;
    long ln = in->lr.line;
    json_free(in->doc);
    in->doc = json_parse(line, n, err, sizeof err);
    if (!in->doc) return snprintf(msg, cap, "%s:%ld: invalid JSON: %s", name, ln, err), INPUT_BAD;
    json_value *t = json_get(in->doc, "text");
    if (in->doc->type != JSON_OBJECT) return snprintf(msg, cap, "%s:%ld: expected a JSON object", name, ln), INPUT_BAD;
    if (!t || t->type != JSON_STRING) return snprintf(msg, cap, "%s:%ld: missing string field \"text\"", name, ln), INPUT_BAD;
    *text = t->str;
    *len = t->len;
    return INPUT_OK;
}

/* Next input text (bytes + length), valid until the next call. Returns INPUT_OK, INPUT_END,
 * INPUT_BAD (this input is unusable; it still counts as one, message in msg) or INPUT_FATAL
 * (the input cannot be read further; message in msg). Blank JSONL lines are not inputs. */
static int input_next(input *in, const char **text, size_t *len, char *msg, size_t cap)
{
    if (!in->lines) {
        if (in->next_pos >= in->n_pos) return INPUT_END;
        *text = in->pos[in->next_pos++];
        *len = strlen(*text);
        in->item++;
        return INPUT_OK;
    }
    for (;;) {
        char *line;
        size_t n;
        int st = lines_next(&in->lr, &line, &n);
        if (st == LINE_END) return INPUT_END;
        if (st == LINE_ERROR) return snprintf(msg, cap, "reading %s: %s", in->lr.name, strerror(errno)), INPUT_FATAL;
        if (st == LINE_TOO_LONG) {
            in->item++;
            snprintf(msg, cap, "%s:%ld: line longer than %zu bytes", in->lr.name, in->lr.line, LINE_MAX_BYTES);
            return INPUT_BAD;
        }
        if (in->jsonl) {
            size_t k = 0;
            while (k < n && (line[k] == ' ' || line[k] == '\t')) k++;
            if (k == n) continue; /* blank line */
        }
        in->item++;
        if (in->jsonl) return input_json_text(in, line, n, text, len, msg, cap);
        *text = line;
        *len = n;
        return INPUT_OK;
    }
}

/* 1 when the next input can be had without waiting (see lines_ready). */
static int input_ready(input *in)
{
    return !in->lines || lines_ready(&in->lr);
}

static void input_close(input *in)
{
    if (in->lines) lines_close(&in->lr);
    json_free(in->doc);
}

/* ------------------------------------------------------------------------------------------
 * Batches: up to max_n inputs and about max_bytes, copied out of the reader, then embedded
 * with one library call. A batch ends early at an input that cannot be used (kept in `failed`
 * and reported after the batch's records, so records stay in input order) and when the
 * next input is not ready yet (a program that writes a line and waits gets its record).
 * ------------------------------------------------------------------------------------------ */

typedef struct {
    size_t n, max_n, bytes, max_bytes;
    unsigned char **data; /* [max_n] a text, or an encoded image file */
    size_t *len;          /* [max_n] */
    char **name;          /* [max_n] image path (NULL for texts) */
    long first;           /* input number of data[0], from 1 */
    char failed[1024];    /* the input after the batch that could not be used, "" if none */
    long failed_item;     /* its number */
    int fatal;            /* failed is a read error: nothing can follow */
    int end;              /* the input is exhausted */
} batch;

static void batch_init(batch *b, size_t max_n, size_t max_bytes)
{
    memset(b, 0, sizeof *b);
    b->max_n = max_n;
    b->max_bytes = max_bytes;
    b->data = (unsigned char **)calloc(max_n, sizeof *b->data);
    b->len = (size_t *)calloc(max_n, sizeof *b->len);
    b->name = (char **)calloc(max_n, sizeof *b->name);
    if (!b->data || !b->len || !b->name) die("out of memory");
}

static void batch_clear(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->data[i]);
        free(b->name[i]);
        b->data[i] = NULL;
        b->name[i] = NULL;
    }
    b->n = b->bytes = 0;
    b->failed[0] = 0;
}

static void batch_free(batch *b)
{
    batch_clear(b);
    free(b->data);
    free(b->len);
    free(b->name);
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = (char *)malloc(n + 1);
    if (!d) die("out of memory");
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Adds one input: a copy of the text, or the contents of the image file it names. Returns 0,
 * or -1 with the reason in b->failed when the image cannot be read. */
static int batch_add(batch *b, const char *t, size_t len, int images, const input *in)
{
    size_t i = b->n;
    if (!images) {
        b->data[i] = (unsigned char *)dup_bytes(t, len);
        b->len[i] = len;
    } else {
        errno = EINVAL; /* "-" would read the rest of the path list as an image */
        b->data[i] = in->lines && strcmp(t, "-") == 0 ? NULL : read_all(t, &b->len[i]);
        if (!b->data[i]) {
            if (in->lines) snprintf(b->failed, sizeof b->failed, "%s:%ld: cannot read %s: %s", in->lr.name, in->lr.line, t, strerror(errno));
            else snprintf(b->failed, sizeof b->failed, "cannot read %s: %s", t, strerror(errno));
            return -1;
        }
        b->name[i] = dup_bytes(t, len);
    }
    b->bytes += b->len[i];
    b->n++;
    return 0;
}

/* Empties the batch and reads the next inputs into it. */
static void batch_fill(batch *b, input *in, int images)
{
    batch_clear(b);
    b->first = in->item + 1;
    while (b->n < b->max_n && b->bytes < b->max_bytes) {
        if (b->n > 0 && !input_ready(in)) break;
        const char *t = NULL;
        size_t len = 0;
        int st = input_next(in, &t, &len, b->failed, sizeof b->failed);
        if (st == INPUT_END) { b->end = 1; break; }
        if (st == INPUT_OK && batch_add(b, t, len, images, in) == 0) continue;
        b->failed_item = in->item;
        b->fatal = st == INPUT_FATAL;
        break;
    }
}

/* The message for input i of the batch that failed in the library. */
static void batch_fail_msg(const batch *b, size_t i, const input *in, jclip_ctx *ctx, char *msg, size_t cap)
{
    if (!b->name[i]) snprintf(msg, cap, "input %ld: %s", b->first + (long)i, jclip_ctx_error(ctx));
    else if (in->lines) snprintf(msg, cap, "%s:%ld: %s: %s", in->lr.name, b->first + (long)i, b->name[i], jclip_ctx_error(ctx));
    else snprintf(msg, cap, "%s: %s", b->name[i], jclip_ctx_error(ctx));
}

/* ------------------------------------------------------------------------------------------
 * Embedding a batch exactly as one call per input would.
 * ------------------------------------------------------------------------------------------ */

size_t cli_embed_images(jclip_ctx *ctx, const void *const *data, const size_t *lens, size_t n, float *E, int dim)
{
    const size_t D = (size_t)dim;
    size_t i = 0;
    while (i < n) {
        /* images whose header reads go together; one that does not is embedded alone, which
         * gives its own message (and a batch is not redone for a file that is not an image) */
        size_t t = i;
        jclip_image_info info;
        while (t < n && jclip_decode_info(data[t], lens[t], &info, NULL, 0) == 0) t++;
        if (t > i && jclip_embed_images(ctx, data + i, lens + i, t - i, E + i * D, (t - i) * D) != 0) {
            for (; i < t; i++) /* redo one at a time: the same bits, and the failing one's message */
                if (jclip_embed_image(ctx, data[i], lens[i], E + i * D, D)) return i;
        }
        i = t;
        if (i < n) {
            if (jclip_embed_image(ctx, data[i], lens[i], E + i * D, D)) return i;
            i++;
        }
    }
    return n;
}

/* Token ids of the texts of one batch, back to back. */
typedef struct {
    int32_t *v;
    size_t n, cap;
    size_t off[TEXT_BATCH], cnt[TEXT_BATCH];
    float *W; /* [TEXT_BATCH, dim] rows of the batched call */
} text_ids;

static void ids_reserve(text_ids *L, size_t more)
{
    if (L->cap - L->n >= more) return;
    size_t ncap = L->cap ? L->cap : 1024;
    while (ncap - L->n < more) {
        if (ncap > ((size_t)1 << 40)) die("out of memory");
        ncap *= 2;
    }
    int32_t *nv = (int32_t *)realloc(L->v, ncap * sizeof *nv);
    if (!nv) die("out of memory");
    L->v = nv;
    L->cap = ncap;
}

/* "101 2129 102" -> ids appended to L; returns the count, or -1 with the bad token in msg. */
static long parse_ids(const char *s, size_t len, text_ids *L, char *msg, size_t cap, long item)
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
            snprintf(msg, cap, "input %ld: '%.*s' is not a token id (expected non-negative integers separated by spaces)", item,
                     (int)(e - i), s + i);
            return -1;
        }
        ids_reserve(L, 1);
        L->v[L->n++] = (int32_t)v;
        n++;
        i = j;
    }
    return (long)n;
}

/* Token ids of texts from..n-1 (tokenized, or parsed with --ids). Returns the index of the
 * first that fails (b->n when none), with its message. */
static size_t text_ids_of(jclip_ctx *ctx, const opts *o, const batch *b, size_t from, text_ids *L, char *msg, size_t cap)
{
    const size_t max_tok = o->max_tokens > 0 ? (size_t)o->max_tokens : 512;
    L->n = 0;
    for (size_t i = from; i < b->n; i++) {
        long item = b->first + (long)i;
        L->off[i] = L->n;
        if (o->ids) {
            long k = parse_ids((const char *)b->data[i], b->len[i], L, msg, cap, item);
            if (k < 0) return i;
            L->cnt[i] = (size_t)k;
            continue;
        }
        ids_reserve(L, max_tok);
        if (jclip_tokenize(ctx, (const char *)b->data[i], b->len[i], max_tok, L->v + L->n, max_tok, &L->cnt[i])) {
            snprintf(msg, cap, "input %ld: %s", item, jclip_ctx_error(ctx));
            return i;
        }
        L->n += L->cnt[i];
    }
    return b->n;
}

/* Embeds texts from..n-1 into E (row i for text i). Returns how far it got: b->n, or the
 * index of the first text that fails, with its message. */
static size_t text_embed(jclip_ctx *ctx, const opts *o, const batch *b, size_t from, text_ids *L, float *E, int dim,
                         char *msg, size_t cap)
{
    const size_t D = (size_t)dim;
    size_t stop = text_ids_of(ctx, o, b, from, L, msg, cap);
    const int32_t *seq[TEXT_BATCH];
    size_t cnt[TEXT_BATCH], at[TEXT_BATCH], nb = 0;
    /* one batched call (bitwise one call per text, jclip.h) */
    for (size_t i = from; i < stop; i++) seq[nb] = L->v + L->off[i], cnt[nb] = L->cnt[i], at[nb++] = i;
    int batched = nb > 0 && jclip_embed_tokens_batch(ctx, seq, cnt, nb, L->W, nb * D) == 0;
    if (batched)
        for (size_t k = 0; k < nb; k++) memcpy(E + at[k] * D, L->W + k * D, sizeof(float) * D);
    for (size_t i = from; i < stop && !batched; i++) {
        /* after a failed batched call, one by one to find the failing text (same bits) */
        if (jclip_embed_tokens(ctx, L->v + L->off[i], L->cnt[i], E + i * D, D)) {
            snprintf(msg, cap, "input %ld: %s", b->first + (long)i, jclip_ctx_error(ctx));
            return i;
        }
    }
    return stop;
}

/* ------------------------------------------------------------------------------------------
 * The embedding loop shared by `text` and `image`: read a batch, embed it, write its records,
 * report failures (stop, or with --keep-going write a null/NaN record and go on).
 * ------------------------------------------------------------------------------------------ */

typedef struct {
    jclip_ctx *ctx;
    const opts *o;
    int dim, images;
    input in;
    batch b;
    text_ids ids;
    float *E; /* [batch max_n, dim] */
    sink out;
    long failed;
} embed_job;

static void job_input_failed(embed_job *j, const char *msg)
{
    if (!j->o->keep_going) die("%s", msg);
    fprintf(stderr, "jclip: error: %s (its record is %s)\n", msg, j->o->format == FMT_JSON ? "null" : "NaN");
    if (sink_row(&j->out, NULL)) die("writing output: %s", strerror(errno));
    j->failed++;
}

/* Embeds and writes the current batch, then reports the input that ended it, if any. */
static void job_run_batch(embed_job *j)
{
    batch *b = &j->b;
    char msg[1024];
    size_t from = 0;
    while (from < b->n) {
        size_t k = j->images ? from + cli_embed_images(j->ctx, (const void *const *)(b->data + from), b->len + from, b->n - from,
                                                       j->E + from * (size_t)j->dim, j->dim)
                             : text_embed(j->ctx, j->o, b, from, &j->ids, j->E, j->dim, msg, sizeof msg);
        for (size_t i = from; i < k; i++)
            if (sink_row(&j->out, j->E + i * (size_t)j->dim)) die("writing output: %s", strerror(errno));
        if (k == b->n) break;
        if (j->images) batch_fail_msg(b, k, &j->in, j->ctx, msg, sizeof msg);
        job_input_failed(j, msg);
        from = k + 1;
    }
    if (b->failed[0]) {
        if (b->fatal) die("%s", b->failed);
        job_input_failed(j, b->failed);
    }
    if (sink_flush(&j->out)) die("writing output: %s", strerror(errno));
}

/* Runs a whole `text` or `image` job; returns the exit status (0, or 3 when inputs failed
 * under --keep-going). */
static int embed_job_run(const opts *o, char **pos, int n_pos, int images)
{
    if (o->format == FMT_NPY && (!o->out || strcmp(o->out, "-") == 0))
        die_usage(images ? "image" : "text", "--format npy needs -o FILE (its header holds the row count, written at the end)");
    embed_job j;
    memset(&j, 0, sizeof j);
    j.o = o;
    j.images = images;
    jclip_model *m = load_model(o);
    j.ctx = make_ctx(m, o);
    j.dim = jclip_embed_dim(m);
    char err[512];
    if (sink_open(&j.out, o->format, o->out, j.dim, err, sizeof err)) die("%s", err);
    batch_init(&j.b, images ? IMAGE_BATCH : TEXT_BATCH, images ? IMAGE_BATCH_BYTES : TEXT_BATCH_BYTES);
    j.E = (float *)malloc(sizeof(float) * (size_t)j.dim * j.b.max_n);
    j.ids.W = (float *)malloc(sizeof(float) * (size_t)j.dim * TEXT_BATCH);
    if (!j.E || !j.ids.W) die("out of memory");
    input_open(&j.in, o, pos, n_pos);
    do {
        batch_fill(&j.b, &j.in, images);
        job_run_batch(&j);
    } while (!j.b.end);
    if (sink_close(&j.out, err, sizeof err)) die("%s", err);
    input_close(&j.in);
    batch_free(&j.b);
    free(j.ids.v);
    free(j.ids.W);
    free(j.E);
    jclip_ctx_free(j.ctx);
    jclip_model_free(m);
    if (j.failed) fprintf(stderr, "jclip: %ld input(s) failed; their records are %s\n", j.failed, o->format == FMT_JSON ? "null" : "NaN");
    return j.failed ? 3 : 0;
}

/* ------------------------------------------------------------------------------------------ */

#define OUTPUT_HELP \
    "  --format FMT        json: one JSON array per line (default); tsv: tab-separated floats;\n" \
    "                      raw: dim little-endian float32 per input, nothing else (fixed-size\n" \
    "                      records for pipelines); npy: a NumPy .npy file, float32 (n, dim),\n" \
    "                      needs -o\n" \
    "  -o, --output FILE   write FILE (via a temporary name, renamed when complete: a failed\n" \
    "                      run leaves no FILE); default stdout\n" \
    "  --keep-going        an input that fails gets a record of NaN (json: null), a message on\n" \
    "                      stderr, and the run goes on; exit status 3 if any failed\n" \
    "                      (default: stop at the first failure, exit 1, records before it kept)\n"

static const char *TEXT_HELP =
    "usage: jclip text [-m MODEL] [--format json|tsv|raw|npy] [-o FILE] [--ids] [--jsonl FILE]\n"
    "                  [--stdin] [--keep-going] [--threads N] [TEXT ...]\n"
    "\n"
    "Embeds each TEXT (jina-clip-v1, 768 floats, L2-normalised) and writes one embedding per\n"
    "input, in input order. With no TEXT and no --jsonl (or with --stdin), reads one text per\n"
    "line from stdin, streaming: records are written and flushed batch by batch, and a batch\n"
    "never waits for input that has not arrived, so memory stays bounded on endless input.\n"
    "\n"
    "  -m, --model MODEL   .jclip model (default: $JCLIP_MODEL, else " DEFAULT_MODEL ")\n"
    OUTPUT_HELP
    "  --ids               each input is a space-separated list of token ids, embedded as given\n"
    "  --jsonl FILE        read JSON objects, one per line, and embed each one's \"text\" field\n"
    "                      (FILE '-' is stdin; blank lines are skipped)\n"
    "  --stdin             read one text per stdin line (the default without TEXT arguments)\n"
    "  --max-tokens N      truncate to N tokens incl. [CLS]/[SEP] (default 512, up to 8192)\n"
    "  -t, --threads N     worker threads (default: all cores)\n"
    "\n"
    "Texts longer than the token limit are truncated like the reference (keeping [SEP]).\n"
    "Errors name the input by number (= the line number for stdin lines).\n"
    "Example: jclip text \"a photo of a cat\" \"a photo of a dog\"\n"
    "         cut -f2 titles.tsv | jclip text --format raw > titles.f32\n";

static int cmd_text(int argc, char **argv)
{
    argc--, argv++; /* past the command name */
    if (wants_help(argc, argv)) { fputs(TEXT_HELP, stdout); return 0; }
    opts o = {0};
    int np;
    parse_opts("text", argc, argv, &o, "m t f i j x o s g", &np);
    if (o.from_stdin && (np || o.jsonl)) die_usage("text", "--stdin reads the texts from stdin: give no TEXT and no --jsonl");
    return embed_job_run(&o, argv, np, 0);
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
    argc--, argv++; /* past the command name */
    if (wants_help(argc, argv)) { fputs(TOKENIZE_HELP, stdout); return 0; }
    opts o = {0};
    int np;
    parse_opts("tokenize", argc, argv, &o, "m j x", &np);
    o.threads = 1;
    jclip_model *m = load_model(&o);
    jclip_ctx *ctx = make_ctx(m, &o);
    size_t max = o.max_tokens > 0 ? (size_t)o.max_tokens : 512;
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * max);
    if (!ids) die("out of memory");
    input in;
    input_open(&in, &o, argv, np);
    const char *t;
    size_t len, n;
    char msg[1024];
    int st;
    while ((st = input_next(&in, &t, &len, msg, sizeof msg)) != INPUT_END) {
        if (st != INPUT_OK) die("%s", msg);
        if (jclip_tokenize(ctx, t, len, max, ids, max, &n)) die("input %ld: %s", in.item, jclip_ctx_error(ctx));
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
    argc--, argv++; /* past the command name */
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
    char why[256];
    int nt = jclip_default_threads(why, sizeof why);
    printf("threads:      %d by default (%s)\n", nt, why);
    jclip_model_free(m);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Images
 * ------------------------------------------------------------------------------------------ */

/* Reads a whole file ("-" = stdin) into memory; returns NULL with errno set on failure. */
unsigned char *read_all(const char *path, size_t *len)
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
    "usage: jclip image [-m MODEL] [--format json|tsv|raw|npy] [-o FILE] [--stdin] [--keep-going]\n"
    "                   [--threads N] FILE...\n"
    "\n"
    "Embeds each image file (JPEG, PNG, WebP, GIF, BMP, PNM; 768 floats, L2-normalised), one embedding per\n"
    "input in input order, exactly as the reference encode_image(path): decode as Pillow does,\n"
    "convert to RGB (EXIF orientation not applied), bicubic resize of the shorter side to 224,\n"
    "center crop 224, normalise, vision tower. FILE '-' reads one image from stdin. Images go\n"
    "through the vision tower " "8 at a time (the same bits as one at a time, faster).\n"
    "\n"
    "  -m, --model MODEL   .jclip model (default: $JCLIP_MODEL, else " DEFAULT_MODEL ")\n"
    OUTPUT_HELP
    "  --stdin             read one image path per stdin line instead of FILE arguments,\n"
    "                      streaming (records flushed batch by batch, bounded memory)\n"
    "  -t, --threads N     worker threads (default: all cores)\n"
    "\n"
    "Example: find photos -name '*.jpg' | jclip image --stdin --format raw > photos.f32\n"
    "         jclip image --format npy -o photos.npy photos/*.jpg\n";

static int cmd_image(int argc, char **argv)
{
    argc--, argv++; /* past the command name */
    if (wants_help(argc, argv)) { fputs(IMAGE_HELP, stdout); return 0; }
    opts o = {0};
    int np;
    parse_opts("image", argc, argv, &o, "m t f o s g", &np);
    if (o.from_stdin && np) die_usage("image", "--stdin reads the paths from stdin: give no FILE");
    if (!o.from_stdin && np == 0) die_usage("image", "needs at least one FILE (or --stdin)");
    return embed_job_run(&o, argv, np, 1);
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
    "Decodes a JPEG, PNG, WebP, GIF (first frame), BMP or PNM with jclip's own decoders into binary\n"
    "PPM (P6, maxval 255): the same RGB bytes as Pillow 9.4's Image.open(FILE).convert('RGB').\n"
    "--info prints the header: format, size, frames, alpha, lossy/lossless, components, bit depth,\n"
    "and for JPEG sampling, progressive, EXIF orientation. Other formats are refused by name.\n"
    "No model is needed.\n";

static int cmd_decode(int argc, char **argv)
{
    argc--, argv++; /* past the command name */
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
        static const char *const fmt[] = {"unknown", "JPEG", "PNG", "WebP", "GIF", "BMP", "PNM"};
        printf("file:        %s\nformat:      %s\nsize:        %ux%u\nframes:      %d\nalpha:       %s\ncompression: %s\n"
               "components:  %d (%s)\nbit depth:   %d\n", in, info.format >= 0 && info.format <= 6 ? fmt[info.format] : "unknown",
               (unsigned)info.width, (unsigned)info.height, info.frames, info.alpha ? "yes" : "no", info.lossy ? "lossy" : "lossless",
               info.components, info.color, info.bit_depth);
        if (info.format == JCLIP_FORMAT_JPEG)
            printf("sampling:    %s\nprogressive: %s\narithmetic:  %s\norientation: %d%s\n", info.sampling,
                   info.progressive ? "yes" : "no", info.arithmetic ? "yes" : "no", info.exif_orientation,
                   info.exif_orientation ? " (EXIF; reported, not applied)" : " (no EXIF orientation)");
        else if (info.format == JCLIP_FORMAT_PNG || info.format == JCLIP_FORMAT_GIF)
            printf("interlaced:  %s\n", info.progressive ? (info.format == JCLIP_FORMAT_PNG ? "yes (Adam7)" : "yes") : "no");
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
    argc--, argv++; /* past the command name */
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

/* Collects the --text / --image values in order and the common options. */
static sim_item *sim_parse(int argc, char **argv, opts *o, int *n_items)
{
    sim_item *items = (sim_item *)calloc((size_t)argc + 1, sizeof *items);
    char **rest = (char **)calloc((size_t)argc + 1, sizeof *rest);
    if (!items || !rest) die("out of memory");
    int n = 0, nr = 0;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "--text") == 0 || strcmp(argv[i], "--image") == 0)) {
            if (i + 1 >= argc) die_usage("similarity", "%s needs a value", argv[i]);
            items[n].is_image = argv[i][2] == 'i';
            items[n++].s = argv[++i];
        } else rest[nr++] = argv[i];
    }
    int np;
    parse_opts("similarity", nr, rest, o, "m t", &np);
    if (np) die_usage("similarity", "unexpected argument '%s' (use --text or --image)", rest[0]);
    if (n < 1) die_usage("similarity", "needs at least one --text or --image");
    free(rest);
    *n_items = n;
    return items;
}

/* Embeds every item into row i of E, one call each. */
static void sim_embed(jclip_ctx *ctx, const sim_item *items, int n, float *E, int D)
{
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
}

/* The legend, then the matrix of cosines with labelled rows and columns. */
static void sim_print(const sim_item *items, int n, const float *E, int D)
{
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
}

static int cmd_similarity(int argc, char **argv)
{
    argc--, argv++; /* past the command name */
    if (wants_help(argc, argv)) { fputs(SIMILARITY_HELP, stdout); return 0; }
    opts o = {0};
    int n;
    sim_item *items = sim_parse(argc, argv, &o, &n);
    jclip_model *m = load_model(&o);
    jclip_ctx *ctx = make_ctx(m, &o);
    int D = jclip_embed_dim(m);
    float *E = (float *)malloc(sizeof(float) * (size_t)D * (size_t)n);
    if (!E) die("out of memory");
    sim_embed(ctx, items, n, E, D);
    sim_print(items, n, E, D);
    free(E);
    free(items);
    jclip_ctx_free(ctx);
    jclip_model_free(m);
    if (fflush(stdout)) die("writing output: %s", strerror(errno));
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * The command table: dispatch and `jclip --help` both come from it, so a new command is one
 * line here. Each function gets argv[0] = the command name, like main(), and handles its own
 * --help (`jclip CMD --help`, also `jclip help CMD`).
 * ------------------------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* one line in `jclip --help` */
} command;

static const command commands[] = {
    {"text", cmd_text, "embed texts (arguments, stdin lines or --jsonl); json, tsv, raw or npy"},
    {"image", cmd_image, "embed image files (JPEG, PNG, WebP, GIF, BMP, PNM); json, tsv, raw or npy"},
    {"similarity", cmd_similarity, "cosine similarity matrix of texts and images"},
    {"search", cli_search, "rank the images under folders by similarity to a text (with a cache)"},
    {"tokenize", cmd_tokenize, "print the WordPiece token ids of texts"},
    {"info", cmd_info, "describe a model file and the kernels it will use"},
    {"decode", cmd_decode, "decode an image to PPM as Pillow does (or print its header)"},
    {"preprocess", cmd_preprocess, "write the 224x224 RGB crop the vision tower sees"},
    {"bench", cli_bench, "time text and image embedding on this machine"},
    {"serve", cli_serve, "HTTP server for embeddings (OpenAI and Jina /v1/embeddings)"},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void main_help(FILE *f)
{
    fputs("jclip " JCLIP_VERSION ": jina-clip-v1 text and image embeddings in plain C\n"
          "\n"
          "usage: jclip COMMAND [options] [args]\n"
          "\n"
          "commands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "Run `jclip COMMAND --help` for a command's options. The model is -m MODEL, else\n"
          "$JCLIP_MODEL, else " DEFAULT_MODEL " (`make model` downloads and converts it).\n"
          "Exit status: 0 ok, 1 error, 2 usage error, 3 some inputs failed under --keep-going.\n", f);
}

int main(int argc, char **argv)
{
    if (argc < 2) { main_help(stderr); return 2; }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) { main_help(stdout); return 0; }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) { printf("jclip %s\n", JCLIP_VERSION); return 0; }
    if (strcmp(name, "help") == 0) { /* `jclip help CMD` is `jclip CMD --help` */
        if (argc < 3) { main_help(stdout); return 0; }
        const command *c = find_command(argv[2]);
        if (!c) { fprintf(stderr, "jclip: unknown command '%s' (see: jclip --help)\n", argv[2]); return 2; }
        char *help_argv[] = {argv[2], (char *)"--help", NULL};
        return c->run(2, help_argv);
    }
    const command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "jclip: unknown command '%s' (see: jclip --help)\n", name);
        return 2;
    }
    return c->run(argc - 1, argv + 1);
}
