/* test/npy.h: reads little-endian float32 C-order .npy arrays (the goldens' format). */
#ifndef JCLIP_TEST_NPY_H
#define JCLIP_TEST_NPY_H

#include <stdlib.h>
#include <string.h>

typedef struct { float *data; size_t shape[4]; int ndim; size_t count; } t_npy;

/* Loads path into a malloc'd array; returns 0 on success. Only '<f4', fortran_order False. */
static __attribute__((unused)) int t_npy_load(const char *path, t_npy *a)
{
    size_t len;
    char *buf = t_read_file(path, &len);
    memset(a, 0, sizeof *a);
    if (!buf) return -1;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) { free(buf); return -1; }
    int major = (unsigned char)buf[6];
    size_t hl, off;
    if (major == 1) { hl = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8; off = 10; }
    else { if (len < 12) { free(buf); return -1; }
           hl = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8 | (size_t)(unsigned char)buf[10] << 16 | (size_t)(unsigned char)buf[11] << 24; off = 12; }
    if (off + hl > len) { free(buf); return -1; }
    char *hdr = buf + off;
    char save = hdr[hl - 1];
    hdr[hl - 1] = 0;
    int ok = strstr(hdr, "'descr': '<f4'") && strstr(hdr, "'fortran_order': False");
    char *sh = strstr(hdr, "'shape': (");
    if (ok && sh) {
        sh += 10;
        a->count = 1;
        while (*sh && *sh != ')' && a->ndim < 4) {
            while (*sh == ' ' || *sh == ',') sh++;
            if (*sh == ')') break;
            size_t d = strtoul(sh, &sh, 10);
            a->shape[a->ndim++] = d;
            a->count *= d;
        }
    } else ok = 0;
    hdr[hl - 1] = save;
    if (!ok || off + hl + a->count * 4 > len) { free(buf); return -1; }
    a->data = (float *)malloc(a->count * 4 + 1);
    if (a->data) memcpy(a->data, buf + off + hl, a->count * 4);
    free(buf);
    return a->data ? 0 : -1;
}

#endif
