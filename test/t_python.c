/* test/t_python.c: the Python package (python/), installed as a user would into a throwaway
 * venv under build/, then its pytest suite (parity with the CLI, errors, threads, the corpus
 * job in process and on a 2-worker Dask LocalCluster, kill and resume). Needs Debian
 * python3-venv, python3-pip, python3-setuptools, python3-wheel, python3-numpy, python3-pytest,
 * python3-distributed (.ci/run installs them): missing ones fail under $CI, else skip.
 *
 * Under the sanitizers (make SANITIZE=1 test) the suite is skipped: pip builds the package's
 * library without them, so the run would repeat the plain `make test` run exactly, and an ASan
 * library cannot be loaded into a plain python3 without LD_PRELOAD of the runtime. Against the
 * amalgamation (make dist-check) the package is built from dist/jclip.c instead: test what you
 * ship. */

#if defined(__SANITIZE_ADDRESS__)
#define T_PY_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define T_PY_SANITIZED 1
#endif
#endif

#ifndef T_PY_SANITIZED
/* Runs cmd through sh, echoing its output indented; keeps the last non-empty line in last.
 * Returns the exit status (-1 if it could not run or was killed by a signal). */
static int t_py_sh(const char *cmd, char *last, size_t lastcap)
{
    if (last && lastcap) last[0] = 0;
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[4096];
    while (fgets(line, sizeof line, p)) {
        printf("    %s", line);
        size_t n = strlen(line);
        if (n && line[n - 1] != '\n') putchar('\n');
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
        if (n && last && lastcap) snprintf(last, lastcap, "%s", line);
    }
    fflush(stdout);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A missing tool: a failure under $CI, a note otherwise. */
static void t_py_missing(const char *what)
{
    const char *ci = getenv("CI");
    if (ci && *ci) T_CHECK(0, "python suite: %s ($CI is set, so this fails)", what);
    else T_NOTE("python suite SKIPPED: %s", what);
}

#endif

static void suite_python(void)
{
#ifdef T_PY_SANITIZED
    T_NOTE("python suite skipped under the sanitizers: pip builds the package's library without "
           "them (same run as in the plain make test), and an ASan library needs LD_PRELOAD into python3");
    return;
#else
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
#ifdef JCLIP_AMALGAMATION
    const char *venv = "build/amalg/pyvenv", *src = "JCLIP_SRC=\"$r/dist\" ";
#else
    const char *venv = "build/pyvenv", *src = "";
#endif
    char cmd[4096], last[1024];
    snprintf(cmd, sizeof cmd,
             "%s -W ignore -c 'import venv, numpy, pytest, setuptools, wheel, pip, distributed; print(\"ok\")' 2>&1", py);
    if (t_py_sh(cmd, last, sizeof last) != 0 || strcmp(last, "ok") != 0) {
        t_py_missing("needs python3-venv python3-pip python3-setuptools python3-wheel python3-numpy "
                     "python3-pytest python3-distributed (apt-get install them)");
        return;
    }
    /* A fresh venv seeing Debian's packages (as Debian 12 wants), the package installed from
     * another directory, offline (--no-index), as a user would. */
    snprintf(cmd, sizeof cmd,
             "r=$PWD && rm -rf %s && %s -m venv --system-site-packages --without-pip %s 2>&1 && cd build && "
             "%s timeout 300 ../%s/bin/python -m pip install -q --no-index --no-build-isolation "
             "--no-deps --disable-pip-version-check ../python 2>&1",
             venv, py, venv, src, venv);
    int rc = t_py_sh(cmd, last, sizeof last);
    T_CHECK(rc == 0, "pip install --no-build-isolation ./python into %s failed (exit %d)", venv, rc);
    if (rc) return;
    snprintf(cmd, sizeof cmd,
             "r=$PWD && cd / && \"$r/%s/bin/python\" -c 'import jclip, numpy; print(jclip.__file__)' 2>&1", venv);
    rc = t_py_sh(cmd, last, sizeof last);
    T_CHECK(rc == 0 && strstr(last, venv) && strstr(last, "site-packages/jclip/__init__.py"),
            "import jclip from the venv (exit %d): %s", rc, last);
    /* The tests, bounded in time; their summary line ("N passed in S s") is echoed. */
    snprintf(cmd, sizeof cmd,
             "timeout 600 %s/bin/python -m pytest -q -p no:cacheprovider -rfEs python/tests 2>&1", venv);
    rc = t_py_sh(cmd, last, sizeof last);
    T_CHECK(rc == 0 && strstr(last, " passed") && !strstr(last, "failed") && !strstr(last, "error"),
            "pytest python/tests failed (exit %d%s): %s", rc, rc == 124 ? ", timed out" : "", last);
    T_NOTE("pytest: %s", last);
#endif
}
