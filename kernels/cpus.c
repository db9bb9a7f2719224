/* kernels/cpus.c: how many threads n_threads = 0 means, from the CPUs this process may really
 * use: the scheduler affinity mask (taskset, cpusets), capped by the cgroup CPU quota (v2
 * cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us) rounded up. A container limited to 2 CPUs
 * on a 64-core host then gets 2 threads, not 64.
 *
 * The cgroup files are found under a root directory (normally "", the real filesystem) so that
 * the tests can point the same code at a fake tree: <root>/proc/self/cgroup names the
 * process's cgroup, <root>/sys/fs/cgroup holds the hierarchy. The quota of the process's
 * cgroup and of each ancestor counts (the tightest wins); a group that is not mounted where
 * /proc/self/cgroup says (the usual case inside a container, whose own group is mounted at the
 * root) is looked up at the root instead. Unreadable or malformed files are ignored: they never
 * lower the count, and the reason string says so. */
#include "../jclip_base.h"

#if defined(__linux__)
#include <fcntl.h>
#include <unistd.h>
#endif

#define JC_CPUS_FILE_MAX 4096 /* bytes read from any cgroup file */
#define JC_CPUS_PATH_MAX 1024

/* Reads a small file whole into buf (NUL-terminated); returns its length or -1. */
static long jc_cpus_read(const char *path, char *buf, size_t cap)
{
#if defined(__linux__)
    int fd = open(path, O_RDONLY); /* closed before returning */
    if (fd < 0) return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) { close(fd); return -1; }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    return (long)n;
#else
    (void)path; (void)buf; (void)cap;
    return -1;
#endif
}

/* Parses a non-negative decimal integer at *p (at most 18 digits); advances *p. */
static int jc_cpus_uint(const char **p, long long *out)
{
    const char *s = *p;
    long long v = 0;
    int n = 0;
    while (*s >= '0' && *s <= '9') {
        if (++n > 18) return 0;
        v = v * 10 + (*s++ - '0');
    }
    if (!n) return 0;
    *p = s;
    *out = v;
    return 1;
}

static int jc_cpus_eol(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    return *s == 0;
}

/* The quota of one cgroup directory as a CPU count rounded up: >0 a limit, 0 no limit (or no
 * file), -1 a malformed file (ignored by the caller, noted in the reason). */
static int jc_cpus_quota_dir(const char *dir, int v2, long long *q_out, long long *p_out)
{
    char path[JC_CPUS_PATH_MAX + 64], buf[JC_CPUS_FILE_MAX];
    long long quota = 0, period = 0;
    if (v2) {
        snprintf(path, sizeof path, "%s/cpu.max", dir);
        if (jc_cpus_read(path, buf, sizeof buf) < 0) return 0;
        const char *s = buf;
        if (strncmp(s, "max", 3) == 0 && (s[3] == ' ' || s[3] == '\n' || s[3] == 0)) return 0;
        if (!jc_cpus_uint(&s, &quota)) return -1;
        if (*s == ' ') {
            s++;
            if (!jc_cpus_uint(&s, &period)) return -1;
        } else {
            period = 100000; /* the kernel's default when only the quota is written */
        }
        if (!jc_cpus_eol(s)) return -1;
    } else {
        snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
        if (jc_cpus_read(path, buf, sizeof buf) < 0) return 0;
        const char *s = buf;
        if (*s == '-') { /* -1: no limit */
            s++;
            long long m;
            return jc_cpus_uint(&s, &m) && jc_cpus_eol(s) ? 0 : -1;
        }
        if (!jc_cpus_uint(&s, &quota) || !jc_cpus_eol(s)) return -1;
        snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
        if (jc_cpus_read(path, buf, sizeof buf) < 0) return -1;
        s = buf;
        if (!jc_cpus_uint(&s, &period) || !jc_cpus_eol(s)) return -1;
    }
    if (quota <= 0 || period <= 0) return -1;
    long long n = (quota + period - 1) / period;
    *q_out = quota;
    *p_out = period;
    return n > 1 << 20 ? 1 << 20 : (int)n;
}

/* Tightest quota over dir = mount + cg and its ancestors up to mount; falls back to the mount
 * root alone when the group's own directory does not exist there. Returns the CPU count (0 =
 * none) and describes it in why. *bad is set when a malformed file was skipped. */
static int jc_cpus_quota_walk(const char *mount, const char *cg, int v2, char *why, size_t cap, int *bad)
{
    char dir[JC_CPUS_PATH_MAX];
    int best = 0;
    size_t root_len = strlen(mount), cg_len = strcmp(cg, "/") == 0 ? 0 : strlen(cg);
    if (root_len + cg_len + 1 >= sizeof dir) return 0;
    memcpy(dir, mount, root_len);
    memcpy(dir + root_len, cg, cg_len);
    dir[root_len + cg_len] = 0;
    for (;;) {
        long long q = 0, p = 0;
        int n = jc_cpus_quota_dir(dir, v2, &q, &p);
        if (n < 0) *bad = 1;
        if (n > 0 && (best == 0 || n < best)) {
            best = n;
            if (why && cap)
                snprintf(why, cap, "cgroup %s quota %lld/%lld us = %.2f CPUs, rounded up to %d", v2 ? "v2 cpu.max" : "v1 cfs",
                         q, p, (double)q / (double)p, n);
        }
        size_t len = strlen(dir);
        if (len <= root_len) break;
        char *slash = strrchr(dir + root_len, '/');
        if (!slash) break;
        *slash = 0;
    }
    return best;
}

/* The cgroup CPU quota under root ("" = the real one), rounded up to whole CPUs; 0 = no
 * quota found. why (may be NULL) receives what was found, malformed files included. */
static int jc_cpus_quota(const char *root, char *why, size_t cap)
{
    char path[JC_CPUS_PATH_MAX], buf[JC_CPUS_FILE_MAX], mount[JC_CPUS_PATH_MAX];
    if (why && cap) why[0] = 0;
    if (!root) root = "";
    if (strlen(root) > JC_CPUS_PATH_MAX - 64) return 0;
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    if (jc_cpus_read(path, buf, sizeof buf) < 0) return 0;
    int best = 0, bad = 0;
    char best_why[192] = "";
    /* lines: "0::/path" (v2) or "N:ctrl,ctrl:/path" (v1) */
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c1 && c2 && c2[1] == '/' && strlen(c2 + 1) < JC_CPUS_PATH_MAX / 2) {
            const char *cg = c2 + 1;
            *c2 = 0;
            const char *ctrl = c1 + 1;
            int n = 0;
            char w[192];
            if (*ctrl == 0 && c1 == line + 1 && line[0] == '0') {
                snprintf(mount, sizeof mount, "%s/sys/fs/cgroup", root);
                n = jc_cpus_quota_walk(mount, cg, 1, w, sizeof w, &bad);
                if (!n) { /* hybrid hosts mount v2 at .../unified */
                    snprintf(mount, sizeof mount, "%s/sys/fs/cgroup/unified", root);
                    n = jc_cpus_quota_walk(mount, cg, 1, w, sizeof w, &bad);
                }
            } else {
                /* v1: the line must name the cpu controller */
                int has_cpu = 0;
                for (const char *t = ctrl; *t;) {
                    const char *e = strchr(t, ',');
                    size_t l = e ? (size_t)(e - t) : strlen(t);
                    if (l == 3 && strncmp(t, "cpu", 3) == 0) has_cpu = 1;
                    t += l + (e != NULL);
                }
                static const char *const dirs[] = {"cpu,cpuacct", "cpu", "cpuacct,cpu"};
                for (int d = 0; has_cpu && !n && d < 3; d++) {
                    snprintf(mount, sizeof mount, "%s/sys/fs/cgroup/%s", root, dirs[d]);
                    n = jc_cpus_quota_walk(mount, cg, 0, w, sizeof w, &bad);
                }
            }
            if (n > 0 && (best == 0 || n < best)) {
                best = n;
                memcpy(best_why, w, sizeof w < sizeof best_why ? sizeof w : sizeof best_why);
                best_why[sizeof best_why - 1] = 0;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (why && cap) {
        if (best) snprintf(why, cap, "%s%s", best_why, bad ? "; a malformed quota file was ignored" : "");
        else if (bad) snprintf(why, cap, "malformed cgroup quota file ignored");
    }
    return best;
}

/* Counts a CPU list such as "0-3,8,10-11" (as in /proc/self/status); 0 when malformed. */
static int jc_cpus_list(const char *s)
{
    long long total = 0;
    for (;;) {
        long long lo, hi;
        if (!jc_cpus_uint(&s, &lo)) return 0;
        hi = lo;
        if (*s == '-') {
            s++;
            if (!jc_cpus_uint(&s, &hi) || hi < lo) return 0;
        }
        total += hi - lo + 1;
        if (total > 1 << 20) return 0;
        if (*s != ',') break;
        s++;
    }
    return jc_cpus_eol(s) ? (int)total : 0;
}

/* CPUs in this process's affinity mask, read from <root>/proc/self/status (Cpus_allowed_list,
 * which taskset and cpusets set; no _GNU_SOURCE needed), else sysconf's online count. */
static int jc_cpus_affinity(const char *root)
{
    char path[JC_CPUS_PATH_MAX], buf[JC_CPUS_FILE_MAX * 4];
    snprintf(path, sizeof path, "%s/proc/self/status", root);
    if (jc_cpus_read(path, buf, sizeof buf) > 0) {
        const char *k = strstr(buf, "\nCpus_allowed_list:");
        if (k) {
            k += 20;
            while (*k == ' ' || *k == '\t') k++;
            char line[JC_CPUS_FILE_MAX];
            size_t n = 0;
            while (k[n] && k[n] != '\n' && n + 1 < sizeof line) { line[n] = k[n]; n++; }
            line[n] = 0;
            int c = jc_cpus_list(line);
            if (c > 0) return c;
        }
    }
#if !defined(_WIN32) && defined(_SC_NPROCESSORS_ONLN)
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 65536 ? 65536 : (int)n;
#else
    return 1;
#endif
}

/* The default thread count under root: min(affinity CPUs, cgroup quota rounded up), at least
 * 1, at most JC_MAX_THREADS, with the reason in why. */
static JC_UNUSED int jc_cpus_default(const char *root, char *why, size_t cap)
{
    if (!root) root = "";
    if (strlen(root) > JC_CPUS_PATH_MAX - 64) root = "";
    int aff = jc_cpus_affinity(root);
    char q[256];
    int quota = jc_cpus_quota(root, q, sizeof q);
    int n = quota > 0 && quota < aff ? quota : aff;
    if (n > JC_MAX_THREADS) n = JC_MAX_THREADS;
    if (why && cap) {
        if (quota > 0 && quota < aff)
            snprintf(why, cap, "%s (affinity mask: %d CPUs)", q, aff);
        else
            snprintf(why, cap, "%d CPUs in the affinity mask%s%s%s", aff, q[0] ? "; " : ", no cgroup CPU quota",
                     q[0] ? q : "", quota > 0 ? " (not lower)" : "");
        if (n < aff && n == JC_MAX_THREADS) snprintf(why, cap, "capped at %d threads", JC_MAX_THREADS);
    }
    return n;
}
