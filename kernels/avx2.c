/* kernels/avx2.c: AVX2 + FMA kernels for x86-64 (placeholder: scalar twins). */
#include "scalar.c"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
static const jk_ops jk_avx2_ops = {
    "avx2", 16, jk_scalar_linear_ws, jk_scalar_linear, jk_scalar_layernorm, jk_scalar_attention_ws,
    jk_scalar_attention, jk_scalar_geglu, jk_scalar_swiglu, jk_scalar_add,
};
#endif
