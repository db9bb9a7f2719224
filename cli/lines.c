/* cli/lines.c: reads input lines from a file descriptor with bounded memory, and says whether
 * the next line is already available (so a batch can stop growing instead of waiting).
 * stdio's getline cannot tell the latter (its buffer is opaque) and grows without limit on an
 * endless line; here a line longer than max_line is skipped and reported instead. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINES_CHUNK ((size_t)1 << 16)

int lines_open(line_reader *r, const char *path, size_t max_line)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->max_line = max_line;
    if (strcmp(path, "-") == 0) {
        r->fd = 0;
        r->name = "<stdin>";
    } else {
        r->fd = open(path, O_RDONLY);
        if (r->fd < 0) return -1;
        r->name = path;
    }
    r->cap = LINES_CHUNK;
    r->buf = (char *)malloc(r->cap + 1);
    if (!r->buf) {
        if (r->fd > 0) close(r->fd);
        r->fd = -1;
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void lines_close(line_reader *r)
{
    if (r->fd > 0) close(r->fd);
    r->fd = -1;
    free(r->buf);
    r->buf = NULL;
}

/* Appends what one read() gives to the buffer (growing it up to max_line + 1 bytes of one
 * line). Returns bytes read, 0 at the end, -1 on error. */
static long lines_fill(line_reader *r)
{
    if (r->start > 0) { /* move the unread part to the front */
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) {
        size_t ncap = r->cap * 2;
        if (ncap > r->max_line + 1) ncap = r->max_line + 1;
        if (ncap <= r->cap) return -2; /* the line is too long: caller skips it */
        char *nb = (char *)realloc(r->buf, ncap + 1);
        if (!nb) { errno = ENOMEM; return -1; }
        r->buf = nb;
        r->cap = ncap;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) r->eof = 1;
        r->end += (size_t)n;
        return (long)n;
    }
}

/* Discards input up to and including the next newline (the rest of a too-long line). */
static int lines_skip(line_reader *r)
{
    for (;;) {
        char *nl = (char *)memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) { r->start = (size_t)(nl - r->buf) + 1; return 0; }
        r->start = r->end = 0;
        if (r->eof) return 0;
        long n = lines_fill(r);
        if (n < 0) return -1;
    }
}

int lines_next(line_reader *r, char **line, size_t *len)
{
    size_t scanned = 0; /* bytes of the current line already searched for '\n' */
    for (;;) {
        char *p = r->buf + r->start;
        size_t avail = r->end - r->start;
        char *nl = (char *)memchr(p + scanned, '\n', avail - scanned);
        if (nl || (r->eof && avail > 0)) {
            size_t n = nl ? (size_t)(nl - p) : avail;
            r->start += nl ? n + 1 : n;
            r->line++;
            if (n > r->max_line) return LINE_TOO_LONG;
            while (n > 0 && p[n - 1] == '\r') n--; /* as the old getline loop: "a\r\r\n" is "a" */
            p[n] = 0; /* over the '\n', or the spare byte after the buffer */
            *line = p;
            *len = n;
            return LINE_OK;
        }
        if (r->eof) return LINE_END;
        scanned = avail;
        long got = lines_fill(r);
        if (got == -2) {
            r->line++;
            if (lines_skip(r)) return LINE_ERROR;
            return LINE_TOO_LONG;
        }
        if (got < 0) return LINE_ERROR;
    }
}

int lines_ready(line_reader *r)
{
    if (r->eof || memchr(r->buf + r->start, '\n', r->end - r->start)) return 1;
    struct pollfd pfd = {r->fd, POLLIN, 0};
    return poll(&pfd, 1, 0) > 0;
}
