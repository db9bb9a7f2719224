/* test/t_convert.c: runs test/test_convert.py (the converter's own checks, Python + numpy)
 * on the tiny checkpoints (jina-clip-v1, CLIP, jina-embeddings-v2) and folds its counts into
 * the runner's. */
static void suite_convert(void)
{
    const char *py = getenv("JCLIP_PYTHON");
    if (!py || !*py) py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char cmd[1024], line[1024];
    snprintf(cmd, sizeof cmd, "%s test/test_convert.py build/ckpt/tiny-s1 build/convert-test build/ckpt/tiny-b32-s1 build/ckpt/jina-v2-tiny-s1 2>&1",
             py);
    FILE *p = popen(cmd, "r");
    T_CHECK(p != NULL, "cannot run %s", cmd);
    if (!p) return;
    int np = -1, nf = -1;
    while (fgets(line, sizeof line, p)) {
        if (strncmp(line, "FAIL", 4) == 0) fprintf(stderr, "  %s", line);
        sscanf(line, "convert: %d passed, %d failed", &np, &nf);
    }
    int st = pclose(p);
    T_CHECK(np > 0 && nf == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "converter checks: %d passed, %d failed (%s)", np, nf, cmd);
    if (np > 0) T_NOTE("converter: %d checks passed, %d failed", np, nf);
}
