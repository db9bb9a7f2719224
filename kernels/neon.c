/* kernels/neon.c: NEON kernels for aarch64 (placeholder: scalar twins). */
#include "scalar.c"

#if defined(__aarch64__)
static const jk_ops jk_neon_ops = {
    "neon", 16, jk_scalar_linear_ws, jk_scalar_linear, jk_scalar_layernorm, jk_scalar_attention_ws,
    jk_scalar_attention, jk_scalar_geglu, jk_scalar_swiglu, jk_scalar_add,
};
#endif
