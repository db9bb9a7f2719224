/* cli/cli.h: what the source files of the `jclip` command share. The command is a thin shell
 * over jclip.h: main.c holds the command table, the common helpers and most commands; lines.c
 * reads input lines with bounded memory; sink.c writes embeddings (json, tsv, raw, npy);
 * search.c is `jclip search`; bench.c is `jclip bench`.
 * Exit status of every command: 0 ok, 1 runtime error (bad input, bad model), 2 usage error,
 * 3 finished with --keep-going but some inputs failed (their records hold NaN / null). */
#ifndef JCLIP_CLI_H
#define JCLIP_CLI_H

#include "../jclip.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DEFAULT_MODEL "models/jina-clip-v1.jclip"

/* ---- main.c: errors, options, model loading, files -------------------------------------- */

/* Prints "jclip: error: ..." and exits 1 / prints "jclip CMD: ... (see: jclip CMD --help)" and
 * exits 2. Both remove an unfinished -o output file first (sink.c). */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void die_usage(const char *cmd, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

/* Output formats of the embedding commands. */
enum { FMT_JSON, FMT_TSV, FMT_RAW, FMT_NPY };

/* Common options shared by the model commands. */
typedef struct {
    const char *model;
    int threads;
    int format;         /* FMT_* */
    int ids;
    const char *jsonl;
    long max_tokens;
    int k;
    const char *out;    /* -o FILE: written under a temporary name, renamed when complete */
    int from_stdin;     /* --stdin: one input per stdin line */
    int keep_going;     /* --keep-going: a failing input gets a NaN/null record, exit 3 */
} opts;

/* Parses the options whose letters appear in `allowed` ("m t f i j x k o s g"); positional
 * arguments are compacted to argv[0..*n_pos). */
void parse_opts(const char *cmd, int argc, char **argv, opts *o, const char *allowed, int *n_pos);
int wants_help(int argc, char **argv);
const char *model_path(const opts *o);
jclip_model *load_model(const opts *o);
jclip_ctx *make_ctx(const jclip_model *m, const opts *o);

/* Reads a whole file ("-" = stdin) into memory; returns NULL with errno set on failure. */
unsigned char *read_all(const char *path, size_t *len);

/* Inputs per embedding call: bounded, so memory stays bounded on any number of inputs. Eight
 * images is the library's default vision pass (max_images); texts are grouped further by the
 * library into passes of up to max_tokens ids. */
#define IMAGE_BATCH 8
#define IMAGE_BATCH_BYTES ((size_t)64 << 20)
#define TEXT_BATCH 256
#define TEXT_BATCH_BYTES ((size_t)1 << 20)
#define LINE_MAX_BYTES ((size_t)64 << 20) /* longer input lines are reported and skipped */

/* Embeds n encoded images into E (row i for image i) with jclip_embed_images, whose rows are
 * bitwise those of one jclip_embed_image call each. Returns how many images from the first
 * one are embedded: n, or the index of the first that fails (jclip_ctx_error says why, as
 * one jclip_embed_image call on it would). */
size_t cli_embed_images(jclip_ctx *ctx, const void *const *data, const size_t *lens, size_t n, float *E, int dim);

/* ---- lines.c: one input per line, bounded memory ----------------------------------------- */

typedef struct {
    int fd;
    const char *name; /* for messages: a file name or "<stdin>" */
    char *buf;
    size_t cap, start, end; /* unread bytes are buf[start..end) */
    size_t max_line;        /* longer lines are skipped and reported (LINE_TOO_LONG) */
    long line;              /* number of the line last returned, from 1 */
    int eof;
} line_reader;

enum { LINE_END = 0, LINE_OK = 1, LINE_ERROR = -1, LINE_TOO_LONG = -2 };

/* Opens path ("-" = stdin) for reading lines; returns 0 or -1 with errno set. */
int lines_open(line_reader *r, const char *path, size_t max_line);
void lines_close(line_reader *r);
/* Next line without its "\n" / "\r\n", NUL-terminated, valid until the next call. Returns
 * LINE_OK, LINE_END, LINE_ERROR (read error, errno set) or LINE_TOO_LONG (the line was
 * consumed and counted but not returned). */
int lines_next(line_reader *r, char **line, size_t *len);
/* 1 when lines_next would not block: a whole line is buffered, the input ended, or the file
 * descriptor has data. A batch stops growing when this is 0, so a program that writes one
 * line and waits for its record gets it at once. */
int lines_ready(line_reader *r);

/* ---- sink.c: embedding output ------------------------------------------------------------- */

typedef struct {
    int format, dim;
    FILE *f;
    const char *path; /* -o FILE, or NULL for stdout */
    char *tmp;        /* the temporary name written until sink_close renames it */
    uint64_t rows;
    unsigned char *le; /* dim * 4 bytes: one row in little-endian order */
} sink;

/* Opens the output (path NULL = stdout). npy needs a path: its header holds the row count,
 * written when the sink is closed. Returns 0 or -1 with a message in err. */
int sink_open(sink *s, int format, const char *path, int dim, char *err, size_t errcap);
/* Appends one row; v == NULL writes a failed input's record (null / NaN). 0 or -1 (errno). */
int sink_row(sink *s, const float *v);
/* Flushes what was written so far (once per batch). 0 or -1 (errno). */
int sink_flush(sink *s);
/* Completes the output: the npy header, fclose, the rename. 0 or -1 with a message. */
int sink_close(sink *s, char *err, size_t errcap);
/* Removes an unfinished temporary file (die() calls it; safe to call at any time). */
void sink_discard_pending(void);

/* ---- commands in other files ------------------------------------------------------------- */
/* Every command gets argv[0] = its name, like main(). */
int cli_bench(int argc, char **argv);  /* bench.c */
int cli_search(int argc, char **argv); /* search.c */
int cli_serve(int argc, char **argv);  /* serve.c */

#endif
