/* test/run.c: the one test runner. It compiles the library's unity build (jclip.c) into its own
 * translation unit, so every static module function is reachable, then runs the suites named on
 * the command line (all when none). Its last line is "N passed, N failed".
 * Shared test data is read from $JCLIP_SHARED (default ../shared). */
#include "../jclip.c"

#include <sys/wait.h>

#include "test.h"
#include "sha256.h"
#include "../cli/json.h"
#include "npy.h"
#include "../cli/http.c"

#include "t_tokenizer.c"
#include "t_bpe.c"
#include "t_jpeg.c"
#include "t_png.c"
#include "t_preprocess.c"
#include "t_model.c"
#include "t_cli.c"
#include "t_convert.c"
#include "t_kernels.c"
#include "t_qkernels.c"
#include "t_hostile.c"
#include "t_dtype.c"
#include "t_formats.c"
#include "t_webp.c"
#include "t_server.c"
#include "t_python.c"
#include "t_families.c"

typedef struct { const char *name; void (*fn)(void); } t_suite;

static const t_suite t_suites[] = {
    {"tokenizer", suite_tokenizer},
    {"bpe", suite_bpe},
    {"jpeg", suite_jpeg},
    {"png", suite_png},
    {"preprocess", suite_preprocess},
    {"model", suite_model},
    {"cli", suite_cli},
    {"convert", suite_convert},
    {"kernels", suite_kernels},
    {"qkernels", suite_qkernels},
    {"hostile", suite_hostile},
    {"dtype", suite_dtype},
    {"formats", suite_formats},
    {"webp", suite_webp},
    {"server", suite_server},
    {"python", suite_python},
    {"families", suite_families},
};

int main(int argc, char **argv)
{
    size_t n = sizeof t_suites / sizeof t_suites[0];
    for (size_t i = 0; i < n; i++) {
        int selected = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strcmp(argv[a], t_suites[i].name) == 0) selected = 1;
        if (!selected) continue;
        int p0 = t_passed, f0 = t_failed;
        printf("== %s\n", t_suites[i].name);
        fflush(stdout);
        t_suites[i].fn();
        printf("   %s: %d passed, %d failed\n", t_suites[i].name, t_passed - p0, t_failed - f0);
    }
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}
