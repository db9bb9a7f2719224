// test/cxx_include.cc: jclip.h must compile as C++ (extern "C", no C-only syntax) and link
// against the C object. Built and run by `make dist-check`; prints the status strings.
#include "jclip.h"

#include <cstdio>

int main()
{
    jclip_model *m = nullptr;
    char err[256];
    int rc = jclip_model_load("/nonexistent.jclip", &m, err, sizeof err);
    std::printf("cxx: %s (%d): %s; version %s\n", jclip_strerror(rc), rc, err, JCLIP_VERSION);
    jclip_ctx_params p;
    jclip_ctx_params_default(&p);
    return (rc == JCLIP_ERR_IO && m == nullptr && p.max_tokens == 512) ? 0 : 1;
}
