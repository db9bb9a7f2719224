/* cli/sink.c: where `jclip text` and `jclip image` write embeddings.
 *
 *   json  one JSON array per line, "%.9g" (round-trips float32 exactly); a failed input: null
 *   tsv   the same numbers separated by tabs; a failed input: dim fields "nan"
 *   raw   dim little-endian IEEE float32 per input, nothing else (fixed-size records);
 *         a failed input: dim quiet NaNs
 *   npy   NumPy .npy v1.0: '<f4', C order, shape (rows, dim), readable by numpy.load; the
 *         128-byte header is written first with a row count of 0 and rewritten when the sink
 *         is closed, so rows stream to the file and memory stays bounded
 *
 * With -o FILE the output goes to "FILE.tmp-PID" first and is renamed to FILE only when
 * complete: a failed or interrupted run (error, SIGINT, SIGTERM, SIGHUP, SIGPIPE) removes the
 * temporary file and never leaves a half-written FILE. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NPY_HEADER_BYTES 128 /* magic 6 + version 2 + length 2 + dict padded to a 64 multiple */

/* The temporary file being written, removed by die() and by the signal handler. Only the CLI
 * process has one output, so one slot suffices. */
static char *volatile pending_tmp;

void sink_discard_pending(void)
{
    char *t = pending_tmp;
    if (t) {
        pending_tmp = NULL;
        unlink(t);
    }
}

static void sink_on_signal(int sig)
{
    char *t = pending_tmp;
    if (t) unlink(t); /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void npy_header(unsigned char *h, uint64_t rows, int dim)
{
    char dict[NPY_HEADER_BYTES - 10 + 1];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%llu, %d), }",
                     (unsigned long long)rows, dim);
    const int len = NPY_HEADER_BYTES - 10; /* 118: fits any 20-digit row count */
    for (int i = n; i < len - 1; i++) dict[i] = ' ';
    dict[len - 1] = '\n';
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (unsigned char)(len & 0xff);
    h[9] = (unsigned char)(len >> 8);
    memcpy(h + 10, dict, (size_t)len);
}

int sink_open(sink *s, int format, const char *path, int dim, char *err, size_t errcap)
{
    memset(s, 0, sizeof *s);
    s->format = format;
    s->dim = dim;
    if (path && strcmp(path, "-") == 0) path = NULL;
    if (format == FMT_NPY && !path) {
        snprintf(err, errcap, "--format npy needs -o FILE (the header holds the row count, written at the end)");
        return -1;
    }
    s->le = (unsigned char *)malloc((size_t)dim * 4);
    if (!s->le) { snprintf(err, errcap, "out of memory"); return -1; }
    if (!path) {
        s->f = stdout;
    } else {
        size_t tl = strlen(path) + 32;
        s->tmp = (char *)malloc(tl);
        if (!s->tmp) { snprintf(err, errcap, "out of memory"); return -1; }
        snprintf(s->tmp, tl, "%s.tmp-%ld", path, (long)getpid());
        int fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0) { snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno)); return -1; }
        s->f = fdopen(fd, "wb");
        if (!s->f) {
            snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
            close(fd);
            unlink(s->tmp);
            return -1;
        }
        s->path = path;
        pending_tmp = s->tmp;
        signal(SIGINT, sink_on_signal);
        signal(SIGTERM, sink_on_signal);
        signal(SIGHUP, sink_on_signal);
        signal(SIGPIPE, sink_on_signal);
    }
    if (format == FMT_NPY) {
        unsigned char h[NPY_HEADER_BYTES];
        npy_header(h, 0, dim);
        if (fwrite(h, 1, sizeof h, s->f) != sizeof h) {
            snprintf(err, errcap, "writing %s: %s", s->tmp, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int sink_text_row(sink *s, const float *v)
{
    FILE *f = s->f;
    if (!v && s->format == FMT_JSON) return fputs("null\n", f) < 0 ? -1 : 0;
    if (s->format == FMT_JSON) putc('[', f);
    for (int i = 0; i < s->dim; i++) {
        if (i) putc(s->format == FMT_TSV ? '\t' : ',', f);
        if (v) fprintf(f, "%.9g", v[i]);
        else fputs("nan", f);
    }
    if (s->format == FMT_JSON) putc(']', f);
    return putc('\n', f) == EOF ? -1 : 0;
}

int sink_row(sink *s, const float *v)
{
    s->rows++;
    if (s->format == FMT_JSON || s->format == FMT_TSV) return sink_text_row(s, v);
    const float qnan = nanf("");
    for (int i = 0; i < s->dim; i++) { /* little-endian whatever the host order */
        uint32_t u;
        memcpy(&u, v ? &v[i] : &qnan, 4);
        s->le[4 * i + 0] = (unsigned char)u;
        s->le[4 * i + 1] = (unsigned char)(u >> 8);
        s->le[4 * i + 2] = (unsigned char)(u >> 16);
        s->le[4 * i + 3] = (unsigned char)(u >> 24);
    }
    return fwrite(s->le, 4, (size_t)s->dim, s->f) == (size_t)s->dim ? 0 : -1;
}

int sink_flush(sink *s)
{
    return fflush(s->f) == 0 && !ferror(s->f) ? 0 : -1;
}

int sink_close(sink *s, char *err, size_t errcap)
{
    const char *name = s->tmp ? s->tmp : "<stdout>";
    int ok = sink_flush(s) == 0;
    if (ok && s->format == FMT_NPY) {
        unsigned char h[NPY_HEADER_BYTES];
        npy_header(h, s->rows, s->dim);
        ok = fseek(s->f, 0, SEEK_SET) == 0 && fwrite(h, 1, sizeof h, s->f) == sizeof h && fflush(s->f) == 0;
    }
    if (!ok) snprintf(err, errcap, "writing %s: %s", name, strerror(errno));
    if (s->tmp) {
        if (fclose(s->f) != 0 && ok) {
            snprintf(err, errcap, "writing %s: %s", name, strerror(errno));
            ok = 0;
        }
        if (ok && rename(s->tmp, s->path) != 0) {
            snprintf(err, errcap, "cannot rename %s to %s: %s", s->tmp, s->path, strerror(errno));
            ok = 0;
        }
        if (ok) pending_tmp = NULL; /* renamed: nothing to remove any more */
        else sink_discard_pending();
        free(s->tmp);
        s->tmp = NULL;
    }
    free(s->le);
    s->le = NULL;
    return ok ? 0 : -1;
}
