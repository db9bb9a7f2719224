/* test/fuzz/replay.c: runs a fuzz target without libFuzzer. Linked with one fz_<name>.c, it
 * feeds every file named on the command line (directories: every regular file inside, not
 * recursive) to LLVMFuzzerTestOneInput and prints how many ran. Use it to replay a corpus or
 * test/crashers/<name>/ under a sanitizer build, or under gdb. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rp_one(const char *path, long *count)
{
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "replay: cannot open %s\n", path); return 1; }
    size_t cap = 4096, n = 0;
    uint8_t *buf = (uint8_t *)malloc(cap);
    for (;;) {
        if (n == cap) buf = (uint8_t *)realloc(buf, cap *= 2);
        if (!buf) { fclose(f); return 1; }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    /* an exact-size copy, so ASan catches a read one past the end */
    uint8_t *exact = (uint8_t *)malloc(n ? n : 1);
    if (n) memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    (*count)++;
    return 0;
}

int main(int argc, char **argv)
{
    long count = 0;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) { fprintf(stderr, "replay: %s not found\n", argv[i]); bad = 1; continue; }
        if (!S_ISDIR(st.st_mode)) { bad |= rp_one(argv[i], &count); continue; }
        DIR *d = opendir(argv[i]);
        if (!d) { bad = 1; continue; }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) bad |= rp_one(path, &count);
        }
        closedir(d);
    }
    printf("replay: %ld inputs, all returned\n", count);
    return bad;
}
