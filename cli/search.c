/* cli/search.c: `jclip search`: ranks the images under some folders by cosine similarity to a
 * text query, with an optional embedding cache that later searches reuse. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct { char *path; long long size, mtime, mtime_ns; float score; int have; } sr_file;
typedef struct { sr_file *v; size_t n, cap; } sr_list;

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    char ext[8] = {0};
    for (int i = 0; i < 6 && dot[i + 1]; i++) ext[i] = (char)(dot[i + 1] | 0x20);
    static const char *const exts[] = {"jpg", "jpeg", "png", "webp", "gif", "bmp", "pnm", "pbm", "pgm", "ppm"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcmp(ext, exts[i]) == 0) return 1;
    return 0;
}

static void sr_add(sr_list *l, const char *path, const struct stat *st)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        sr_file *nv = (sr_file *)realloc(l->v, ncap * sizeof *l->v);
        if (!nv) die("out of memory");
        l->v = nv;
        l->cap = ncap;
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
    "Ranks the images (.jpg .jpeg .png .webp .gif .bmp .pnm .pbm .pgm .ppm) in the given files and\n"
    "folders (searched recursively) by cosine similarity to the text QUERY and prints the top K as\n"
    "`score<TAB>path`, best first.\n"
    "Images that cannot be decoded are reported on stderr and skipped.\n"
    "\n"
    "  -k K            how many results (default 10)\n"
    "  --cache FILE    keep image embeddings in FILE: a later search re-embeds only images that\n"
    "                  are new or changed (by size and modification time) and reuses the rest\n"
    "  -m, --model     .jclip model (default: $JCLIP_MODEL, else " DEFAULT_MODEL ")\n"
    "  -t, --threads N worker threads (default: all cores)\n"
    "\n"
    "A progress bar is shown on stderr (when it is a terminal) while many images are embedded.\n";

typedef struct {
    opts o;
    const char *cache; /* --cache FILE, or NULL */
    char **pos;        /* QUERY PATH... */
    int n_pos;
} search_args;

/* Takes --cache FILE out, then the common options; dies on a usage error. */
static void search_parse(int argc, char **argv, search_args *a)
{
    memset(a, 0, sizeof *a);
    a->o.k = 10;
    a->pos = (char **)calloc((size_t)argc + 1, sizeof *a->pos);
    if (!a->pos) die("out of memory");
    int nr = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--cache") == 0) {
            if (i + 1 >= argc) die_usage("search", "--cache needs a file");
            a->cache = argv[++i];
        } else a->pos[nr++] = argv[i];
    }
    parse_opts("search", nr, a->pos, &a->o, "m t k", &a->n_pos);
    if (a->n_pos < 2) die_usage("search", "needs a QUERY and at least one PATH");
}

/* Copies the cached embedding of every unchanged file (same path, size and mtime) into its
 * row of E and marks it; returns how many. */
static size_t search_reuse(sr_list *l, const cache_ent *ce, size_t nce, float *E, int D)
{
    size_t reused = 0;
    for (size_t i = 0; i < l->n; i++) {
        sr_file *f = &l->v[i];
        for (size_t j = 0; j < nce; j++)
            if (ce[j].size == f->size && ce[j].mtime == f->mtime && ce[j].mtime_ns == f->mtime_ns && strcmp(ce[j].path, f->path) == 0) {
                memcpy(E + i * (size_t)D, ce[j].e, sizeof(float) * (size_t)D);
                f->have = 1;
                reused++;
                break;
            }
    }
    return reused;
}

static void search_skip(const sr_file *f, const char *why, int show)
{
    fprintf(stderr, "%sjclip: warning: skipping %s: %s\n", show ? "\n" : "", f->path, why);
}

/* Reads the next files without an embedding, from *next on, up to IMAGE_BATCH of them and
 * IMAGE_BATCH_BYTES; stops after a file that cannot be read (returned in *unreadable with
 * errno kept in *err_no, so warnings stay in path order). Returns how many were read. */
static size_t search_read_batch(sr_list *l, size_t *next, unsigned char **data, size_t *len, size_t *idx,
                                size_t *unreadable, int *err_no)
{
    size_t n = 0, bytes = 0;
    *unreadable = (size_t)-1;
    while (*next < l->n && n < IMAGE_BATCH && bytes < IMAGE_BATCH_BYTES) {
        size_t i = (*next)++;
        if (l->v[i].have) continue;
        data[n] = read_all(l->v[i].path, &len[n]);
        if (!data[n]) {
            *unreadable = i;
            *err_no = errno;
            break;
        }
        bytes += len[n];
        idx[n++] = i;
    }
    return n;
}

/* Embeds every image without an embedding yet, a batch at a time (jclip_embed_images; the
 * same bits as one call each). Images that cannot be read or decoded are reported and
 * skipped. Returns how many were skipped. */
static size_t search_embed_missing(jclip_ctx *ctx, sr_list *l, float *E, int D, size_t todo)
{
    const int show = todo >= 8 && isatty(2);
    unsigned char *data[IMAGE_BATCH];
    size_t len[IMAGE_BATCH], idx[IMAGE_BATCH], done = 0, failed = 0, next = 0;
    float *B = (float *)malloc(sizeof(float) * (size_t)D * IMAGE_BATCH);
    if (!B) die("out of memory");
    while (next < l->n) {
        size_t unreadable;
        int err_no = 0;
        size_t n = search_read_batch(l, &next, data, len, idx, &unreadable, &err_no);
        for (size_t k = 0; k < n;) {
            size_t ok = k + cli_embed_images(ctx, (const void *const *)(data + k), len + k, n - k, B + k * (size_t)D, D);
            for (; k < ok; k++) {
                memcpy(E + idx[k] * (size_t)D, B + k * (size_t)D, sizeof(float) * (size_t)D);
                l->v[idx[k]].have = 1;
            }
            if (k < n) {
                search_skip(&l->v[idx[k]], jclip_ctx_error(ctx), show);
                failed++;
                k++;
            }
        }
        for (size_t k = 0; k < n; k++) free(data[k]);
        done += n;
        if (unreadable != (size_t)-1) {
            search_skip(&l->v[unreadable], strerror(err_no), show);
            failed++;
            done++;
        }
        if (show && (n || unreadable != (size_t)-1)) progress(done, todo);
    }
    free(B);
    return failed;
}

/* Cosine of the query with every embedded image (embeddings are L2-normalised). */
static void search_score(sr_list *l, const float *q, const float *E, int D)
{
    for (size_t i = 0; i < l->n; i++) {
        if (!l->v[i].have) continue;
        double c = 0;
        for (int k = 0; k < D; k++) c += (double)q[k] * E[i * (size_t)D + k];
        l->v[i].score = (float)c;
    }
}

int cli_search(int argc, char **argv)
{
    argc--, argv++; /* past the command name */
    if (wants_help(argc, argv)) { fputs(SEARCH_HELP, stdout); return 0; }
    search_args a;
    search_parse(argc, argv, &a);
    const char *query = a.pos[0];
    sr_list l = {0};
    for (int i = 1; i < a.n_pos; i++) sr_collect(&l, a.pos[i], 1);
    if (l.n == 0) die("no image files (.jpg .jpeg .png .webp .gif .bmp .pnm .pbm .pgm .ppm) under the given paths");
    qsort(l.v, l.n, sizeof *l.v, sr_by_path);

    jclip_model *m = load_model(&a.o);
    jclip_ctx *ctx = make_ctx(m, &a.o);
    int D = jclip_embed_dim(m);
    float *q = (float *)malloc(sizeof(float) * (size_t)D);
    float *E = (float *)malloc(sizeof(float) * (size_t)D * l.n);
    if (!q || !E) die("out of memory");
    if (jclip_embed_text(ctx, query, strlen(query), q, (size_t)D)) die("query: %s", jclip_ctx_error(ctx));

    unsigned long long mid = model_id(model_path(&a.o));
    cache_ent *ce = NULL;
    size_t nce = a.cache ? cache_load(a.cache, D, mid, &ce) : 0;
    size_t reused = search_reuse(&l, ce, nce, E, D);
    size_t failed = search_embed_missing(ctx, &l, E, D, l.n - reused);
    search_score(&l, q, E, D);
    if (a.cache) cache_save(a.cache, D, mid, &l, E);
    /* sorted by score only now: the cache above is written in path order, aligned with E */
    qsort(l.v, l.n, sizeof *l.v, sr_by_score);
    for (size_t i = 0; i < l.n && (int)i < a.o.k; i++)
        if (l.v[i].have) printf("%.4f\t%s\n", l.v[i].score, l.v[i].path);
    if (a.cache) fprintf(stderr, "jclip: %zu images, %zu from the cache, %zu embedded, %zu skipped\n", l.n, reused, l.n - reused - failed, failed);

    for (size_t j = 0; j < nce; j++) { free(ce[j].path); free(ce[j].e); }
    free(ce);
    for (size_t i = 0; i < l.n; i++) free(l.v[i].path);
    free(l.v);
    free(q);
    free(E);
    free(a.pos);
    jclip_ctx_free(ctx);
    jclip_model_free(m);
    if (fflush(stdout)) die("writing output: %s", strerror(errno));
    return 0;
}
