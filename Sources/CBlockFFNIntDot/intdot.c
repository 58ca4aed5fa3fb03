/*
 * Integer dot products (see bffn_intdot.h and formats/numerics.md). The int32 quad sums come from the best
 * instruction set this CPU has, chosen at run time; they are exact, so every level gives the same sums, and the
 * float steps that follow are the same vector operations at every level, compiled without contraction, so every
 * level gives the same bits.
 */
#include "bffn_intdot.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

typedef float v8f __attribute__((ext_vector_type(8)));
typedef int32_t v8i __attribute__((ext_vector_type(8)));

long bffn_activation_block(long n, long group) {
    return (group % 32 == 0 || group == n) ? 32 : group;
}

void bffn_quantize_activations(const float *x, long n, long block, int8_t *codes, float *scales, int32_t *quad_sums) {
    long bi = 0;
    for (long b0 = 0; b0 < n; b0 += block, bi++) {
        long len = n - b0 < block ? n - b0 : block;
        float amax = 0.0f;
        for (long i = 0; i < len; i++) {
            float a = fabsf(x[b0 + i]);
            amax = a > amax ? a : amax;
        }
        float d = amax / 127.0f;
        if (d > 0.0f) {
            for (long i = 0; i < len; i++) {
                /* round half away from zero: the truncation, plus one away from zero when the (exact) remainder
                   is at least a half; written without branches so it vectorizes. */
                float v = x[b0 + i] / d;
                float t = truncf(v);
                float r = v - t;
                t = fabsf(r) >= 0.5f ? t + copysignf(1.0f, v) : t;
                t = t > 127.0f ? 127.0f : t;
                t = t < -127.0f ? -127.0f : t;
                codes[b0 + i] = (int8_t)(t == t ? (int)t : 0);
            }
        } else {
            memset(codes + b0, 0, (size_t)len);
        }
        scales[bi] = d;
    }
    for (long j = 0; j * 4 < n; j++) {
        int32_t s = 0;
        for (long i = 4 * j; i < n && i < 4 * j + 4; i++) s += codes[i];
        quad_sums[j] = s;
    }
}

static inline float load_f32(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}

/* Quad sums of a block of `len` elements from element k0, by plain loops (short blocks and the portable level). */
static inline __attribute__((always_inline)) v8i quads_q8_portable(const int8_t *w, const int8_t *x, long len) {
    v8i P = 0;
    for (long i = 0; i < len; i++) P[i >> 2] += (int32_t)w[i] * x[i];
    return P;
}
static inline __attribute__((always_inline)) v8i quads_q4_portable(const uint8_t *w, const int8_t *x, long k0, long len) {
    v8i P = 0;
    for (long i = 0; i < len; i++) {
        long e = k0 + i;
        P[i >> 2] += (int32_t)((w[e >> 1] >> (4 * (e & 1))) & 15) * x[i];
    }
    return P;
}

#if defined(__x86_64__)
#define ATTR_AVX2 __attribute__((target("avx2")))
#define ATTR_VNNI512 __attribute__((target("avx2,avx512f,avx512vl,avx512bw,avx512vnni")))
#define ATTR_VNNI256 __attribute__((target("avx2,avxvnni")))

/* The 32 codes of a q4 block (16 bytes) as bytes in element order. */
static inline ATTR_AVX2 __m256i q4_unpack(const uint8_t *w) {
    __m128i b = _mm_loadu_si128((const __m128i *)w), m = _mm_set1_epi8(15);
    __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
    return _mm256_set_m128i(_mm_unpackhi_epi8(lo, hi), _mm_unpacklo_epi8(lo, hi));
}
static inline ATTR_AVX2 v8i cast8(__m256i v) { v8i r; memcpy(&r, &v, 32); return r; }

/* Quad sums of a full 32-element block: lane i = the four products of elements 4i ... 4i+3. */
static inline ATTR_AVX2 v8i q8_block_avx2(const int8_t *w, const int8_t *x) {
    __m256i wv = _mm256_loadu_si256((const __m256i *)w), xv = _mm256_loadu_si256((const __m256i *)x);
    return cast8(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv)), _mm256_set1_epi16(1)));
}
static inline ATTR_AVX2 v8i q4_block_avx2(const uint8_t *w, const int8_t *x) {
    return cast8(_mm256_madd_epi16(_mm256_maddubs_epi16(q4_unpack(w), _mm256_loadu_si256((const __m256i *)x)), _mm256_set1_epi16(1)));
}
static inline ATTR_VNNI512 v8i q8_block_vnni512(const int8_t *w, const int8_t *x) {
    __m256i wv = _mm256_loadu_si256((const __m256i *)w), xv = _mm256_loadu_si256((const __m256i *)x);
    return cast8(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv)));
}
static inline ATTR_VNNI512 v8i q4_block_vnni512(const uint8_t *w, const int8_t *x) {
    return cast8(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q4_unpack(w), _mm256_loadu_si256((const __m256i *)x)));
}
static inline ATTR_VNNI256 v8i q8_block_vnni256(const int8_t *w, const int8_t *x) {
    __m256i wv = _mm256_loadu_si256((const __m256i *)w), xv = _mm256_loadu_si256((const __m256i *)x);
    return cast8(_mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv)));
}
static inline ATTR_VNNI256 v8i q4_block_vnni256(const uint8_t *w, const int8_t *x) {
    return cast8(_mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), q4_unpack(w), _mm256_loadu_si256((const __m256i *)x)));
}
#endif
static inline v8i q8_block_portable(const int8_t *w, const int8_t *x) { return quads_q8_portable(w, x, 32); }
static inline v8i q4_block_portable(const uint8_t *w, const int8_t *x) { return quads_q4_portable(w, x, 0, 32); }

/* The four accumulators reduced in the documented order. */
static inline float finish(v8f a0, v8f a1, v8f a2, v8f a3) {
    v8f a = (a0 + a1) + (a2 + a3);
    float x0 = a[0] + a[4], x1 = a[1] + a[5], x2 = a[2] + a[6], x3 = a[3] + a[7];
    return (x0 + x2) + (x1 + x3);
}

/* The code sums of the quads of a block from quad index j0 (lanes past the block's quads are 0). */
static inline __attribute__((always_inline)) v8i block_code_sums(const int32_t *quads, long j0, long len) {
    v8i C = 0;
    long count = (len + 3) / 4;
    if (count == 8) {
        memcpy(&C, quads + j0, 32);
    } else {
        for (long i = 0; i < count; i++) C[i] = quads[j0 + i];
    }
    return C;
}

/* One row segment: its weight codes, group scales (and offsets), and the activations it meets. */
typedef struct {
    const uint8_t *row, *w, *offsets;
    const int8_t *x;
    const float *d;
    const int32_t *quads;
    long n, block;
    int asymmetric;
} segment;

static inline __attribute__((always_inline)) segment make_segment(int q4, const uint8_t *const *rows, long r, long n, long group, int asymmetric,
                                   const int8_t *codes, const float *scales, const int32_t *quads, long block) {
    long groups = n / group;
    segment s;
    s.row = rows[r];
    s.offsets = s.row + groups * 4;
    s.w = s.row + groups * 4 * (q4 && asymmetric ? 2 : 1);
    s.x = codes + r * n;
    s.d = scales + r * ((n + block - 1) / block);
    s.quads = quads + r * ((n + 3) / 4);
    s.n = n;
    s.block = block;
    s.asymmetric = asymmetric;
    return s;
}

/* The float terms of block b (in weight group g) of a segment, per level: 8 lanes, one per quad. */
#define TERMS(LEVEL, ATTR, Q8BLOCK, Q4BLOCK)                                                                               \
    static inline __attribute__((always_inline)) ATTR v8f q8_term_##LEVEL(const segment *s, long b, long g) {                                             \
        long k0 = b * s->block, len = s->n - k0 < s->block ? s->n - k0 : s->block;                                         \
        const int8_t *w = (const int8_t *)s->w;                                                                            \
        v8i P = len == 32 ? Q8BLOCK(w + k0, s->x + k0) : quads_q8_portable(w + k0, s->x + k0, len);                        \
        float t = s->d[b] * load_f32(s->row + g * 4);                                                                      \
        return (v8f)t * __builtin_convertvector(P, v8f);                                                                   \
    }                                                                                                                      \
    static inline __attribute__((always_inline)) ATTR v8f q4_term_##LEVEL(const segment *s, long b, long g) {                                             \
        long k0 = b * s->block, len = s->n - k0 < s->block ? s->n - k0 : s->block;                                         \
        v8i P = len == 32 ? Q4BLOCK(s->w + k0 / 2, s->x + k0) : quads_q4_portable(s->w, s->x + k0, k0, len);               \
        v8i C = block_code_sums(s->quads, k0 / 4, len);                                                                    \
        float t = s->d[b] * load_f32(s->row + g * 4);                                                                      \
        if (s->asymmetric) {                                                                                               \
            float u = s->d[b] * load_f32(s->offsets + g * 4);                                                              \
            return ((v8f)t * __builtin_convertvector(P, v8f)) + ((v8f)u * __builtin_convertvector(C, v8f));                \
        }                                                                                                                  \
        return (v8f)t * __builtin_convertvector(P - 8 * C, v8f);                                                           \
    }

/* The whole product for one level and type. Per segment: the scale products d_b * s_g (and d_b * o_g) of every
 * block first (a scalar loop, the group advancing by counting), then the full 32-element blocks four at a time
 * into four register accumulators, then any short blocks through the generic term. Same operations and order
 * as the definition. */
#define ROWS(NAME, ATTR, Q4, TERM, BLOCKQ8, BLOCKQ4)                                                                       \
    static ATTR float NAME(const uint8_t *const *rows, long count, long n, long group, int asymmetric, const int8_t *codes, \
                           const float *scales, const int32_t *quads, long block) {                                        \
        long nb = (n + block - 1) / block, per_group = n / group == 1 ? nb : group / block;                                \
        long full = block == 32 ? n / 32 : 0;                                                                              \
        v8f a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                                                \
        float T[64], U[64];                                                                                                \
        for (long r = 0; r < count; r++) {                                                                                 \
            segment s = make_segment(Q4, rows, r, n, group, asymmetric, codes, scales, quads, block);                      \
            long b = 0, g = 0, k = 0;                                                                                      \
            while (b < full) {                                                                                             \
                long chunk = full - b < 64 ? full - b : 64;                                                                \
                long g0 = g, k0 = k;                                                                                       \
                for (long i = 0; i < chunk; i++) {                                                                         \
                    T[i] = s.d[b + i] * load_f32(s.row + g0 * 4);                                                          \
                    if (Q4 && asymmetric) U[i] = s.d[b + i] * load_f32(s.offsets + g0 * 4);                                \
                    if (++k0 == per_group) { k0 = 0; g0++; }                                                               \
                }                                                                                                          \
                long i = 0;                                                                                                \
                for (; i + 4 <= chunk; i += 4) {                                                                           \
                    a0 = a0 + FULLTERM(Q4, BLOCKQ8, BLOCKQ4, b + i, i);                                                    \
                    a1 = a1 + FULLTERM(Q4, BLOCKQ8, BLOCKQ4, b + i + 1, i + 1);                                            \
                    a2 = a2 + FULLTERM(Q4, BLOCKQ8, BLOCKQ4, b + i + 2, i + 2);                                            \
                    a3 = a3 + FULLTERM(Q4, BLOCKQ8, BLOCKQ4, b + i + 3, i + 3);                                            \
                }                                                                                                          \
                for (; i < chunk; i++) {                                                                                   \
                    v8f t = FULLTERM(Q4, BLOCKQ8, BLOCKQ4, b + i, i);                                                      \
                    long j = (b + i) & 3;                                                                                  \
                    if (j == 0) a0 = a0 + t; else if (j == 1) a1 = a1 + t; else if (j == 2) a2 = a2 + t; else a3 = a3 + t; \
                }                                                                                                          \
                b += chunk;                                                                                                \
                g = g0;                                                                                                    \
                k = k0;                                                                                                    \
            }                                                                                                              \
            for (; b < nb; b++) {                                                                                          \
                v8f t = TERM(&s, b, g);                                                                                    \
                long j = b & 3;                                                                                            \
                if (j == 0) a0 = a0 + t; else if (j == 1) a1 = a1 + t; else if (j == 2) a2 = a2 + t; else a3 = a3 + t;     \
                if (++k == per_group) { k = 0; g++; }                                                                      \
            }                                                                                                              \
        }                                                                                                                  \
        return finish(a0, a1, a2, a3);                                                                                     \
    }

/* The term of full block bb whose scale products are T[ii] (and U[ii]). */
#define FULLTERM(Q4, BLOCKQ8, BLOCKQ4, bb, ii)                                                                             \
    (Q4 ? (asymmetric                                                                                                      \
               ? (((v8f)T[ii] * __builtin_convertvector(BLOCKQ4(s.w + (bb) * 16, s.x + (bb) * 32), v8f)) +                 \
                  ((v8f)U[ii] * __builtin_convertvector(load_quads(s.quads + (bb) * 8), v8f)))                             \
               : ((v8f)T[ii] * __builtin_convertvector(BLOCKQ4(s.w + (bb) * 16, s.x + (bb) * 32) -                         \
                                                       8 * load_quads(s.quads + (bb) * 8), v8f)))                          \
        : ((v8f)T[ii] * __builtin_convertvector(BLOCKQ8((const int8_t *)s.w + (bb) * 32, s.x + (bb) * 32), v8f)))

static inline __attribute__((always_inline)) v8i load_quads(const int32_t *q) {
    v8i v;
    memcpy(&v, q, 32);
    return v;
}

TERMS(portable, , q8_block_portable, q4_block_portable)
ROWS(q8_rows_portable, , 0, q8_term_portable, q8_block_portable, q4_block_portable)
ROWS(q4_rows_portable, , 1, q4_term_portable, q8_block_portable, q4_block_portable)
#if defined(__x86_64__)
TERMS(avx2, ATTR_AVX2, q8_block_avx2, q4_block_avx2)
ROWS(q8_rows_avx2, ATTR_AVX2, 0, q8_term_avx2, q8_block_avx2, q4_block_avx2)
ROWS(q4_rows_avx2, ATTR_AVX2, 1, q4_term_avx2, q8_block_avx2, q4_block_avx2)
TERMS(vnni512, ATTR_VNNI512, q8_block_vnni512, q4_block_vnni512)
ROWS(q8_rows_vnni512, ATTR_VNNI512, 0, q8_term_vnni512, q8_block_vnni512, q4_block_vnni512)
ROWS(q4_rows_vnni512, ATTR_VNNI512, 1, q4_term_vnni512, q8_block_vnni512, q4_block_vnni512)
TERMS(vnni256, ATTR_VNNI256, q8_block_vnni256, q4_block_vnni256)
ROWS(q8_rows_vnni256, ATTR_VNNI256, 0, q8_term_vnni256, q8_block_vnni256, q4_block_vnni256)
ROWS(q4_rows_vnni256, ATTR_VNNI256, 1, q4_term_vnni256, q8_block_vnni256, q4_block_vnni256)
#endif

/* ---- four tokens at a time ----
 * The same operations per token as the functions above (the same terms into the same accumulators in the same
 * order), with each full block's weight codes loaded and unpacked once for the four tokens. */

#if defined(__x86_64__)
static inline __attribute__((always_inline)) ATTR_AVX2 __m256i dp_avx2(__m256i u, __m256i s8) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s8), _mm256_set1_epi16(1));
}
static inline __attribute__((always_inline)) ATTR_VNNI512 __m256i dp_vnni512(__m256i u, __m256i s8) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s8);
}
static inline __attribute__((always_inline)) ATTR_VNNI256 __m256i dp_vnni256(__m256i u, __m256i s8) {
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s8);
}

#define ADD_TO(A, j, t) do { if ((j) == 0) A##0 = A##0 + (t); else if ((j) == 1) A##1 = A##1 + (t);                     \
                             else if ((j) == 2) A##2 = A##2 + (t); else A##3 = A##3 + (t); } while (0)

#define ROWS4(NAME, ATTR, Q4, TERM, DP)                                                                                    \
    static ATTR void NAME(const uint8_t *const *rows, long count, long n, long group, int asymmetric, const int8_t *codes,  \
                          long cs, const float *scales, long ss, const int32_t *quads, long qs, long block, float *out,    \
                          long os) {                                                                                       \
        long nb = (n + block - 1) / block, per_group = n / group == 1 ? nb : group / block;                                \
        long full = block == 32 ? n / 32 : 0;                                                                              \
        v8f p0 = 0, p1 = 0, p2 = 0, p3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;                                                \
        v8f r0 = 0, r1 = 0, r2 = 0, r3 = 0, u0 = 0, u1 = 0, u2 = 0, u3 = 0;                                                \
        for (long r = 0; r < count; r++) {                                                                                 \
            segment s[4];                                                                                                  \
            for (int t = 0; t < 4; t++)                                                                                    \
                s[t] = make_segment(Q4, rows, r, n, group, asymmetric, codes + t * cs, scales + t * ss, quads + t * qs, block); \
            long b = 0, g = 0, k = 0;                                                                                      \
            for (; b < full; b++) {                                                                                        \
                float sg = load_f32(s[0].row + g * 4), og = Q4 && asymmetric ? load_f32(s[0].offsets + g * 4) : 0.0f;     \
                __m256i wv = Q4 ? q4_unpack(s[0].w + b * 16) : _mm256_loadu_si256((const __m256i *)(s[0].w + b * 32));    \
                __m256i uw = Q4 ? wv : _mm256_sign_epi8(wv, wv);                                                           \
                v8f term[4];                                                                                               \
                for (int t = 0; t < 4; t++) {                                                                              \
                    __m256i xv = _mm256_loadu_si256((const __m256i *)(s[t].x + b * 32));                                   \
                    v8i P = cast8(DP(uw, Q4 ? xv : _mm256_sign_epi8(xv, wv)));                                             \
                    float tt = s[t].d[b] * sg;                                                                             \
                    if (Q4) {                                                                                              \
                        v8i C = load_quads(s[t].quads + b * 8);                                                            \
                        if (asymmetric) {                                                                                  \
                            float uu = s[t].d[b] * og;                                                                     \
                            term[t] = ((v8f)tt * __builtin_convertvector(P, v8f)) + ((v8f)uu * __builtin_convertvector(C, v8f)); \
                        } else {                                                                                           \
                            term[t] = (v8f)tt * __builtin_convertvector(P - 8 * C, v8f);                                   \
                        }                                                                                                  \
                    } else {                                                                                               \
                        term[t] = (v8f)tt * __builtin_convertvector(P, v8f);                                               \
                    }                                                                                                      \
                }                                                                                                          \
                long j = b & 3;                                                                                            \
                ADD_TO(p, j, term[0]); ADD_TO(q, j, term[1]); ADD_TO(r, j, term[2]); ADD_TO(u, j, term[3]);               \
                if (++k == per_group) { k = 0; g++; }                                                                      \
            }                                                                                                              \
            for (; b < nb; b++) {                                                                                          \
                long j = b & 3;                                                                                            \
                ADD_TO(p, j, TERM(&s[0], b, g)); ADD_TO(q, j, TERM(&s[1], b, g));                                         \
                ADD_TO(r, j, TERM(&s[2], b, g)); ADD_TO(u, j, TERM(&s[3], b, g));                                         \
                if (++k == per_group) { k = 0; g++; }                                                                      \
            }                                                                                                              \
        }                                                                                                                  \
        out[0] = finish(p0, p1, p2, p3);                                                                                   \
        out[os] = finish(q0, q1, q2, q3);                                                                                  \
        out[2 * os] = finish(r0, r1, r2, r3);                                                                              \
        out[3 * os] = finish(u0, u1, u2, u3);                                                                              \
    }

ROWS4(q8_rows4_avx2, ATTR_AVX2, 0, q8_term_avx2, dp_avx2)
ROWS4(q4_rows4_avx2, ATTR_AVX2, 1, q4_term_avx2, dp_avx2)
ROWS4(q8_rows4_vnni512, ATTR_VNNI512, 0, q8_term_vnni512, dp_vnni512)
ROWS4(q4_rows4_vnni512, ATTR_VNNI512, 1, q4_term_vnni512, dp_vnni512)
ROWS4(q8_rows4_vnni256, ATTR_VNNI256, 0, q8_term_vnni256, dp_vnni256)
ROWS4(q4_rows4_vnni256, ATTR_VNNI256, 1, q4_term_vnni256, dp_vnni256)
#endif

/* ---- dispatch ---- */

static int level_in_use = -1;

static int has_level(int level) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    switch (level) {
    case 1: return __builtin_cpu_supports("avx2");
    case 2: return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    case 3: return __builtin_cpu_supports("avxvnni");
    }
#endif
    return level == 0;
}

static int best_level(void) {
    if (has_level(2)) return 2;
    if (has_level(3)) return 3;
    if (has_level(1)) return 1;
    return 0;
}

int bffn_intdot_level(void) {
    int level = __atomic_load_n(&level_in_use, __ATOMIC_RELAXED);
    if (level < 0) {
        level = best_level();
        __atomic_store_n(&level_in_use, level, __ATOMIC_RELAXED);
    }
    return level;
}

const char *bffn_intdot_level_name(int level) {
    switch (level) {
    case 1: return "avx2";
    case 2: return "avx512-vnni";
    case 3: return "avx-vnni";
    default: return "portable";
    }
}

int bffn_intdot_use_level(int level) {
    int use = level >= 0 && level <= 3 && has_level(level) ? level : best_level();
    __atomic_store_n(&level_in_use, use, __ATOMIC_RELAXED);
    return use;
}

float bffn_dot_q8_segments(const uint8_t *const *rows, long count, long n, long group, const int8_t *codes, const float *scales,
                           const int32_t *quad_sums, long block) {
    switch (bffn_intdot_level()) {
#if defined(__x86_64__)
    case 1: return q8_rows_avx2(rows, count, n, group, 0, codes, scales, quad_sums, block);
    case 2: return q8_rows_vnni512(rows, count, n, group, 0, codes, scales, quad_sums, block);
    case 3: return q8_rows_vnni256(rows, count, n, group, 0, codes, scales, quad_sums, block);
#endif
    default: return q8_rows_portable(rows, count, n, group, 0, codes, scales, quad_sums, block);
    }
}

float bffn_dot_q4_segments(const uint8_t *const *rows, long count, long n, long group, int asymmetric, const int8_t *codes,
                           const float *scales, const int32_t *quad_sums, long block) {
    switch (bffn_intdot_level()) {
#if defined(__x86_64__)
    case 1: return q4_rows_avx2(rows, count, n, group, asymmetric, codes, scales, quad_sums, block);
    case 2: return q4_rows_vnni512(rows, count, n, group, asymmetric, codes, scales, quad_sums, block);
    case 3: return q4_rows_vnni256(rows, count, n, group, asymmetric, codes, scales, quad_sums, block);
#endif
    default: return q4_rows_portable(rows, count, n, group, asymmetric, codes, scales, quad_sums, block);
    }
}

void bffn_dot_segments4(int q4, const uint8_t *const *rows, long count, long n, long group, int asymmetric, const int8_t *codes,
                        long code_stride, const float *scales, long scale_stride, const int32_t *quad_sums, long quad_stride,
                        long block, float *out, long out_stride) {
    switch (bffn_intdot_level()) {
#if defined(__x86_64__)
    case 1:
        if (q4) q4_rows4_avx2(rows, count, n, group, asymmetric, codes, code_stride, scales, scale_stride, quad_sums, quad_stride, block, out, out_stride);
        else q8_rows4_avx2(rows, count, n, group, 0, codes, code_stride, scales, scale_stride, quad_sums, quad_stride, block, out, out_stride);
        return;
    case 2:
        if (q4) q4_rows4_vnni512(rows, count, n, group, asymmetric, codes, code_stride, scales, scale_stride, quad_sums, quad_stride, block, out, out_stride);
        else q8_rows4_vnni512(rows, count, n, group, 0, codes, code_stride, scales, scale_stride, quad_sums, quad_stride, block, out, out_stride);
        return;
    case 3:
        if (q4) q4_rows4_vnni256(rows, count, n, group, asymmetric, codes, code_stride, scales, scale_stride, quad_sums, quad_stride, block, out, out_stride);
        else q8_rows4_vnni256(rows, count, n, group, 0, codes, code_stride, scales, scale_stride, quad_sums, quad_stride, block, out, out_stride);
        return;
#endif
    default:
        for (int t = 0; t < 4; t++) {
            out[t * out_stride] = q4 ? bffn_dot_q4_segments(rows, count, n, group, asymmetric, codes + t * code_stride, scales + t * scale_stride,
                                                            quad_sums + t * quad_stride, block)
                                     : bffn_dot_q8_segments(rows, count, n, group, codes + t * code_stride, scales + t * scale_stride,
                                                            quad_sums + t * quad_stride, block);
        }
    }
}
