/* kernels/scalar.c: portable reference kernels (the test oracle for every SIMD table).
 * Plain C11, no intrinsics; written so that compilers can still vectorise the inner loops. */
#ifndef JC_SCALAR_C
#define JC_SCALAR_C
#include "kernels.h"

/* Dot product with 8 independent partial sums: keeps the reduction order fixed (so results
 * are reproducible) while letting the compiler use vector registers. */
static float jc_scalar_dot(const float *a, const float *b, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int u = 0; u < 8; u++) acc[u] += a[k + u] * b[k + u];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

/* Tile: 4 rows of X against one row of W at a time, so each W row is read from cache once per
 * 4 outputs.
 *           k ->
 *   X  m0 [........]        W  n [........]
 *      m1 [........]   x
 *      m2 [........]          -> Y[m0..m3, n]
 *      m3 [........]
 */
static size_t jc_scalar_linear_ws(int M, int K)
{
    (void)M, (void)K;
    return 0;
}

static void jc_scalar_linear(float *Y, size_t ldy, const float *X, size_t ldx, const float *W,
                             const float *bias, int M, int K, int n0, int n1, float *ws)
{
    (void)ws;
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        const float *x0 = X + (size_t)m * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
        for (int n = n0; n < n1; n++) {
            const float *w = W + (size_t)n * K;
            float b = bias ? bias[n] : 0.0f;
            Y[(size_t)m * ldy + n] = jc_scalar_dot(x0, w, K) + b;
            Y[(size_t)(m + 1) * ldy + n] = jc_scalar_dot(x1, w, K) + b;
            Y[(size_t)(m + 2) * ldy + n] = jc_scalar_dot(x2, w, K) + b;
            Y[(size_t)(m + 3) * ldy + n] = jc_scalar_dot(x3, w, K) + b;
        }
    }
    for (; m < M; m++) {
        const float *x = X + (size_t)m * ldx;
        for (int n = n0; n < n1; n++)
            Y[(size_t)m * ldy + n] = jc_scalar_dot(x, W + (size_t)n * K, K) + (bias ? bias[n] : 0.0f);
    }
}

static void jc_scalar_layernorm(float *y, const float *x, const float *w, const float *b, int n,
                                float eps)
{
    /* Two passes in double: mean, then the biased variance of the deviations. */
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) {
        double d = x[i] - mean;
        var += d * d;
    }
    var /= n;
    float inv = (float)(1.0 / sqrt(var + eps));
    float fm = (float)mean;
    for (int i = 0; i < n; i++) y[i] = (x[i] - fm) * inv * w[i] + b[i];
}

static size_t jc_scalar_attention_ws(int L, int d_head, int nq)
{
    (void)d_head, (void)nq;
    return (size_t)L;
}

static void jc_scalar_geglu(float *u, const float *g, int n)
{
    for (int i = 0; i < n; i++) {
        float z = g[i];
        u[i] = 0.5f * z * (1.0f + erff(z * 0.70710678118654752f)) * g[n + i];
    }
}

static void jc_scalar_swiglu(float *u, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++) {
        float z = a[i];
        u[i] = z / (1.0f + expf(-z)) * b[i];
    }
}

static void jc_scalar_quick_gelu(float *y, int n)
{
    for (int i = 0; i < n; i++) {
        float z = y[i] * 1.702f;
        y[i] = z / (1.0f + expf(-z)) * (1.0f / 1.702f);
    }
}

static void jc_scalar_add(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i++) y[i] += x[i];
}

/* ---- bf16 and q8 references (the contract is in kernels.h) ---------------------------------- */

static void jc_scalar_bf16_row(uint16_t *y, const float *x, int n)
{
    for (int i = 0; i < n; i++) y[i] = jc_bf16_from_f32(x[i]);
}

/* A bf16 operand with DAZ: exponent 0 (zero or denormal) -> signed zero. */
static float jc_scalar_bf16_daz(uint16_t h)
{
    return jc_bf16_to_f32((h & 0x7F80u) ? h : (uint16_t)(h & 0x8000u));
}

/* One vdpbf16ps half-step: FTZ(fmaf(a, b, acc)), acc already flushed. */
static float jc_scalar_bf16_step(uint16_t a, uint16_t b, float acc)
{
    float r = fmaf(jc_scalar_bf16_daz(a), jc_scalar_bf16_daz(b), acc);
    return fabsf(r) < 0x1p-126f ? copysignf(0.0f, r) : r;
}

static float jc_scalar_dot_bf16(const uint16_t *x, const uint16_t *w, int K)
{
    float acc = 0.0f;
    for (int k = 0; k + 1 < K; k += 2) {
        acc = jc_scalar_bf16_step(x[k + 1], w[k + 1], acc);
        acc = jc_scalar_bf16_step(x[k], w[k], acc);
    }
    return acc;
}

/* dot_bf16 of two fp32 rows, bf16(x[k] * sx) and bf16(w[k]) (an odd K: the last product alone). */
static float jc_scalar_dot_bf16f(const float *x, float sx, const float *w, int K)
{
    float acc = 0.0f;
    int k = 0;
    for (; k + 1 < K; k += 2) {
        acc = jc_scalar_bf16_step(jc_bf16_from_f32(x[k + 1] * sx), jc_bf16_from_f32(w[k + 1]), acc);
        acc = jc_scalar_bf16_step(jc_bf16_from_f32(x[k] * sx), jc_bf16_from_f32(w[k]), acc);
    }
    if (k < K) acc = jc_scalar_bf16_step(jc_bf16_from_f32(x[k] * sx), jc_bf16_from_f32(w[k]), acc);
    return acc;
}

/* attention (bf = 0) and attention_bf16 (bf = 1, kernels.h: q * scale, k, v and each probability
 * rounded to bf16, the products summed as vdpbf16ps does (jc_scalar_bf16_step: pairs in order,
 * the odd element first; in PV the pairs of keys 2j, 2j + 1), the output scaled by 1 / sum). */
static void jc_scalar_attn(float *out, size_t ldo, const float *q, size_t ldq, const float *k, size_t ldk, const float *v,
                           size_t ldv, const uint8_t *key_valid, int L, int d_head, int i0, int i1, float scale,
                           float slope, int causal, float *scratch, int bf)
{
    for (int i = i0; i < i1; i++) {
        const float *qi = q + (size_t)i * ldq;
        if (causal) L = i + 1; /* exactly the call for this query alone */
        float mx = -INFINITY;
        for (int j = 0; j < L; j++) {
            if (key_valid && !key_valid[j]) continue;
            const float *kj = k + (size_t)j * ldk;
            const float dist = (float)(i > j ? i - j : j - i);
            float s;
            if (bf) /* the query scaled before it is rounded; ALiBi in one step */
                s = slope != 0.0f ? fmaf(-slope, dist, jc_scalar_dot_bf16f(qi, scale, kj, d_head)) : jc_scalar_dot_bf16f(qi, scale, kj, d_head);
            else
                s = jc_scalar_dot(qi, kj, d_head) * scale - (slope != 0.0f ? slope * dist : 0.0f);
            scratch[j] = s;
            if (s > mx) mx = s;
        }
        float sum = 0;
        for (int j = 0; j < L; j++) {
            if (key_valid && !key_valid[j]) continue;
            float e = expf(scratch[j] - mx);
            if (bf) e = jc_bf16_to_f32(jc_bf16_from_f32(e));
            scratch[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        float *o = out + (size_t)i * ldo;
        for (int c = 0; c < d_head; c++) o[c] = 0;
        for (int j = 0; j < L && !bf; j++) {
            if (key_valid && !key_valid[j]) continue;
            const float *vj = v + (size_t)j * ldv;
            float p = scratch[j] * inv;
            for (int c = 0; c < d_head; c++) o[c] += p * vj[c];
        }
        for (int c = 0; c < d_head && bf; c++) {
            float acc = 0.0f;
            for (int j = 0; j < L; j += 2)
                for (int e = 1; e >= 0; e--) /* a key not seen adds 0 * v: nothing */
                    if (j + e < L && (!key_valid || key_valid[j + e]))
                        acc = jc_scalar_bf16_step(jc_bf16_from_f32(scratch[j + e]),
                                                  jc_bf16_from_f32(v[(size_t)(j + e) * ldv + c]), acc);
            o[c] = acc * inv;
        }
    }
}

static void jc_scalar_attention(float *out, size_t ldo, const float *q, size_t ldq, const float *k, size_t ldk,
                                const float *v, size_t ldv, const uint8_t *key_valid, int L, int d_head, int i0, int i1,
                                float scale, float slope, int causal, float *scratch)
{
    jc_scalar_attn(out, ldo, q, ldq, k, ldk, v, ldv, key_valid, L, d_head, i0, i1, scale, slope, causal, scratch, 0);
}

static JC_UNUSED void jc_scalar_attention_bf16(float *out, size_t ldo, const float *q, size_t ldq, const float *k,
                                               size_t ldk, const float *v, size_t ldv, const uint8_t *key_valid, int L,
                                               int d_head, int i0, int i1, float scale, float slope, int causal,
                                               float *scratch)
{
    jc_scalar_attn(out, ldo, q, ldq, k, ldk, v, ldv, key_valid, L, d_head, i0, i1, scale, slope, causal, scratch, 1);
}

static size_t jc_scalar_linear_q_ws(int M, int K)
{
    (void)M, (void)K;
    return 0;
}

static void jc_scalar_linear_bf16(float *Y, size_t ldy, const uint16_t *Xb, size_t ldxb, const uint16_t *Wb,
                                  const float *bias, int M, int K, int n0, int n1, float *ws)
{
    (void)ws;
    for (int m = 0; m < M; m++)
        for (int n = n0; n < n1; n++) {
            float acc = jc_scalar_dot_bf16(Xb + (size_t)m * ldxb, Wb + (size_t)n * K, K);
            Y[(size_t)m * ldy + n] = bias ? acc + bias[n] : acc;
        }
}

static void jc_scalar_q8_row(void *xq, const float *x, int K, int S)
{
    int8_t *q = (int8_t *)xq;
    float *d = (float *)(void *)(q + K);
    int32_t *s = (int32_t *)(void *)(d + K / 32);
    for (int c = 0; c < K / 32 / S; c++) {
        const float *xc = x + 32 * S * c;
        float amax = 0.0f;
        for (int i = 0; i < 32 * S; i++) {
            float a = fabsf(xc[i]);
            if (a > amax) amax = a; /* NaN never compares greater */
        }
        float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (int b = S * c; b < S * c + S; b++) {
            const float *xb = x + 32 * b;
            d[b] = amax / 127.0f;
            int32_t sum = 0;
            for (int i = 0; i < 32; i++) {
                float v = xb[i] * id;
                v = v != v ? 0.0f : v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
                int qi = (int)nearbyintf(v);
                q[32 * b + i] = (int8_t)qi;
                sum += qi;
            }
            s[b] = -128 * sum;
        }
    }
}

static float jc_scalar_dot_q8(const void *xq, const int8_t *w, const float *sw, int K, int S)
{
    const int8_t *q = (const int8_t *)xq;
    const float *d = (const float *)(const void *)(q + K);
    float acc = 0.0f;
    for (int b = 0; b < K / 32; b += S) {
        int32_t is = 0;
        for (int i = 0; i < 32 * S; i++) is += (int32_t)q[32 * b + i] * w[32 * b + i];
        acc = fmaf((float)is, d[b] * sw[b], acc);
    }
    return acc;
}

static void jc_scalar_linear_q8(float *Y, size_t ldy, const void *Xq, const int8_t *Wq, const float *Sw,
                                const float *bias, int M, int K, int S, int n0, int n1, float *ws)
{
    (void)ws;
    size_t rb = jc_q8_row_bytes(K);
    for (int m = 0; m < M; m++)
        for (int n = n0; n < n1; n++) {
            float acc = jc_scalar_dot_q8((const char *)Xq + (size_t)m * rb, Wq + (size_t)n * K, Sw + (size_t)n * (K / 32), K, S);
            Y[(size_t)m * ldy + n] = bias ? acc + bias[n] : acc;
        }
}

/* ---- packed forms shared by the SIMD tables ---------------------------------------------------
 *
 * bf16, sliver width NR: pairs of k interleaved per column, DAZ applied (denormal -> signed 0):
 *     Wp[s][p][j] (uint32) = Wb[NR s + j][2p] | Wb[NR s + j][2p + 1] << 16,  p < K/2, j < NR
 * one uint32 per (pair, column), so a vector load at (s, p) is NR columns of one k pair
 * (vdpbf16ps / BFDOT element layout); columns >= N are zero.
 *
 * q8, sliver width NR, group G (4: quads for vpdpbusd / SDOT, 2: pairs for vpmaddwd), per block
 * b of 32 along K (block bytes 36 * NR, a multiple of 64 for NR = 16, 48):
 *     bytes [32/G][NR][G]: byte (g, j, e) = Wq[NR s + j][32 b + G g + e] (^ 0x80 with xor80:
 *                          w + 128 as u8 for vpdpbusd's unsigned operand)
 *     then float [NR]:      Sw[NR s + j][b]
 * columns >= N are zero weights (0x80 with xor80) and zero scales. */
static JC_UNUSED size_t jc_pack_bf16_size_nr(int N, int K, int NR)
{
    return (size_t)((N + NR - 1) / NR) * (size_t)NR * (size_t)K * 2;
}

/* k pairs p0 .. p0+pc-1 of the NR rows from n (rows >= nmax zero): dst[p][j], pc * NR uint32. */
static JC_UNUSED void jc_pack_bf16_blk(uint32_t *dst, const uint16_t *Wb, int K, int n, int nmax, int p0, int pc, int NR)
{
    for (int j = 0; j < NR; j++) {
        const uint16_t *w = n + j < nmax ? Wb + (size_t)(n + j) * K + 2 * p0 : NULL;
        for (int p = 0; p < pc; p++) {
            uint32_t lo = 0, hi = 0;
            if (w) {
                lo = (w[2 * p] & 0x7F80u) ? w[2 * p] : (w[2 * p] & 0x8000u);
                hi = (w[2 * p + 1] & 0x7F80u) ? w[2 * p + 1] : (w[2 * p + 1] & 0x8000u);
            }
            dst[(size_t)p * NR + j] = lo | hi << 16;
        }
    }
}

static JC_UNUSED void jc_pack_bf16_nr(void *Wp, const uint16_t *Wb, int N, int K, int s0, int s1, int NR)
{
    for (int s = s0; s < s1; s++) jc_pack_bf16_blk((uint32_t *)Wp + (size_t)s * NR * (K / 2), Wb, K, s * NR, N, 0, K / 2, NR);
}

static JC_UNUSED size_t jc_pack_q8_size_nr(int N, int K, int NR)
{
    return (size_t)((N + NR - 1) / NR) * (size_t)(K / 32) * 36 * (size_t)NR;
}

/* Blocks b0 .. b0+bc-1 of the NR rows from n (rows >= nmax zero) into dst (bc blocks). */
static JC_UNUSED void jc_pack_q8_blk(uint8_t *dst, const int8_t *Wq, const float *Sw, int K, int n, int nmax, int b0, int bc,
                           int NR, int G, int xor80)
{
    size_t blk = (size_t)36 * NR;
    uint8_t x = xor80 ? 0x80 : 0;
    for (int b = 0; b < bc; b++) {
        uint8_t *o = dst + (size_t)b * blk;
        float *so = (float *)(void *)(o + 32 * NR);
        for (int j = 0; j < NR; j++) {
            const int8_t *w = n + j < nmax ? Wq + (size_t)(n + j) * K + 32 * (b0 + b) : NULL;
            for (int g = 0; g < 32 / G; g++)
                for (int e = 0; e < G; e++) o[((size_t)g * NR + j) * G + e] = (uint8_t)((w ? (uint8_t)w[G * g + e] : 0) ^ x);
            so[j] = w ? Sw[(size_t)(n + j) * (K / 32) + b0 + b] : 0.0f;
        }
    }
}

static JC_UNUSED void jc_pack_q8_nr(void *Wp, const int8_t *Wq, const float *Sw, int N, int K, int s0, int s1, int NR,
                                    int G, int xor80)
{
    for (int s = s0; s < s1; s++)
        jc_pack_q8_blk((uint8_t *)Wp + (size_t)s * (K / 32) * 36 * NR, Wq, Sw, K, s * NR, N, 0, K / 32, NR, G, xor80);
}

static const jc_ops jc_scalar_ops = {
    "scalar",
    16,
    jc_scalar_linear_ws,
    jc_scalar_linear,
    NULL, /* weights read in place */
    NULL,
    NULL,
    jc_scalar_layernorm,
    jc_scalar_attention_ws,
    jc_scalar_attention,
    NULL, /* attention_bf16: no bf16 dot product (jc_scalar_attention_bf16 is the reference) */
    jc_scalar_geglu,
    jc_scalar_swiglu,
    jc_scalar_quick_gelu,
    jc_scalar_add,
    "bf16 fmaf, q8 int32",
    jc_scalar_bf16_row,
    jc_scalar_linear_q_ws,
    jc_scalar_linear_bf16,
    NULL, /* weights read in place */
    NULL,
    NULL,
    jc_scalar_q8_row,
    jc_scalar_linear_q_ws,
    jc_scalar_linear_q8,
    NULL,
    NULL,
    NULL,
};

/* ---- WebP lossy upsampling: the per-pixel row ends shared by the SIMD tables -------------------
 * The AVX2 and NEON jc_vp8_ops upsamplers vectorise the middle of a row; its first pixel and
 * the positions after the last full vector go one at a time, with the arithmetic of the scalar
 * twin in image/vp8.c (which kernels/ cannot call). uv: u | v << 16. */

/* libwebp's 14-bit YUV->RGB of one pixel. */
static JC_UNUSED void jc_scalar_vp8_yuv1(int y, uint32_t uv, uint8_t *o)
{
    const int u = (int)(uv & 0xff), v = (int)(uv >> 16), yy = (y * 19077) >> 8;
    const int r = yy + ((v * 26149) >> 8) - 14234, g = yy - ((u * 6419) >> 8) - ((v * 13320) >> 8) + 8708;
    const int b = yy + ((u * 33050) >> 8) - 17685;
    o[0] = (uint8_t)(r < 0 ? 0 : r > 16383 ? 255 : r >> 6);
    o[1] = (uint8_t)(g < 0 ? 0 : g > 16383 ? 255 : g >> 6);
    o[2] = (uint8_t)(b < 0 ? 0 : b > 16383 ? 255 : b >> 6);
}

#define JC_VP8_UV(u, v) ((uint32_t)(u) | ((uint32_t)(v) << 16))

/* The first output pixel of a row pair (chroma sample 0 alone). */
static JC_UNUSED void jc_scalar_vp8_up_head(const uint8_t *top_y, const uint8_t *bot_y, const uint8_t *tu, const uint8_t *tv,
                                           const uint8_t *cu, const uint8_t *cv, uint8_t *td, uint8_t *bd)
{
    const uint32_t tl = JC_VP8_UV(tu[0], tv[0]), l = JC_VP8_UV(cu[0], cv[0]);
    jc_scalar_vp8_yuv1(top_y[0], (3 * tl + l + 0x00020002u) >> 2, td);
    if (bot_y) jc_scalar_vp8_yuv1(bot_y[0], (3 * l + tl + 0x00020002u) >> 2, bd);
}

/* Chroma positions x .. (len - 1) / 2 one at a time, then the last pixel of an even row. */
static JC_UNUSED void jc_scalar_vp8_up_tail(const uint8_t *top_y, const uint8_t *bot_y, const uint8_t *tu, const uint8_t *tv,
                                           const uint8_t *cu, const uint8_t *cv, uint8_t *td, uint8_t *bd, uint32_t x,
                                           uint32_t len)
{
    const uint32_t last = (len - 1) >> 1;
    if (x > last && (len & 1)) return;
    uint32_t tl = JC_VP8_UV(tu[x - 1], tv[x - 1]), l = JC_VP8_UV(cu[x - 1], cv[x - 1]);
    for (; x <= last; x++) {
        const uint32_t t = JC_VP8_UV(tu[x], tv[x]), uv = JC_VP8_UV(cu[x], cv[x]);
        const uint32_t avg = tl + t + l + uv + 0x00080008u;
        const uint32_t d12 = (avg + 2 * (t + l)) >> 3, d03 = (avg + 2 * (tl + uv)) >> 3;
        jc_scalar_vp8_yuv1(top_y[2 * x - 1], (d12 + tl) >> 1, td + (2 * x - 1) * 3);
        jc_scalar_vp8_yuv1(top_y[2 * x], (d03 + t) >> 1, td + (2 * x) * 3);
        if (bot_y) {
            jc_scalar_vp8_yuv1(bot_y[2 * x - 1], (d03 + l) >> 1, bd + (2 * x - 1) * 3);
            jc_scalar_vp8_yuv1(bot_y[2 * x], (d12 + uv) >> 1, bd + (2 * x) * 3);
        }
        tl = t;
        l = uv;
    }
    if (!(len & 1)) {
        jc_scalar_vp8_yuv1(top_y[len - 1], (3 * tl + l + 0x00020002u) >> 2, td + (len - 1) * 3);
        if (bot_y) jc_scalar_vp8_yuv1(bot_y[len - 1], (3 * l + tl + 0x00020002u) >> 2, bd + (len - 1) * 3);
    }
}

#undef JC_VP8_UV

#endif /* JC_SCALAR_C */
