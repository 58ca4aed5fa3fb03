/*
 * bf16 products on tiles of 16 rows (see bffn_bf16dot.h): vdpbf16ps on 512-bit registers (one lane a row) where the
 * CPU has AVX512_BF16, the emulation with AVX2 and FMA on other x86-64 CPUs, the emulation in NEON on AArch64, else a
 * portable emulation of the same operations.
 */
#include "bffn_bf16dot.h"
#include "bffn_prefetch.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

void bffn_round_bf16(const float *x, long n, uint16_t *out) {
    for (long i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            out[i] = (uint16_t)((u >> 16) | 0x40);     /* NaN stays a (quiet) NaN */
        } else {
            out[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
        }
    }
}

static inline float widen(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;      /* denormal input read as zero */
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float flush(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;      /* denormal result written as zero */
    memcpy(&f, &u, 4);
    return f;
}

/* Tiles of 16 rows (bffn_bf16dot.h): pair k of a tile is 64 bytes, lane r the elements 2k (low half) and 2k + 1
 * (high half) of row r; rows past the matrix's last and the element past an odd n are zero. */
long bffn_bf16_tile_bytes(long n) { return (n + 1) / 2 * 64; }

void bffn_bf16_tiles_pack(const uint8_t *src, long row_stride, long rows, long n, uint8_t *dst) {
    long np = (n + 1) / 2, tb = np * 64, tiles = (rows + 15) / 16;
    memset(dst, 0, (size_t)(tiles * tb));
    for (long r = 0; r < rows; r++) {
        const uint8_t *row = src + r * row_stride;
        uint8_t *tile = dst + (r / 16) * tb + (r % 16) * 4;
        for (long k = 0; k < np; k++) memcpy(tile + 64 * k, row + 4 * k, 2 * k + 1 < n ? 4 : 2);
    }
}

/* Activation pair k of a segment of n bf16 values (the element past an odd n is zero). */
static inline uint32_t pair_at(const uint16_t *x, long k, long n) {
    uint32_t p = 0;
    memcpy(&p, x + 2 * k, 2 * k + 1 < n ? 4 : 2);
    return p;
}

/* The emulation of one lane of vdpbf16ps: acc + x1 w1, then + x0 w0, each a fused multiply-add (the product is not
 * rounded on its own: it is exact in float32 unless below the normal range or overflowing, and there the instruction
 * keeps it exact: scripts/kernel-check/vdpbf16ps_lane.c, 48 million lanes of every exponent range), with the inputs and
 * each result flushed (see widen and flush). */
static inline float lane_portable(float acc, uint32_t x, uint32_t w) {
    acc = flush(fmaf(widen((uint16_t)(x >> 16)), widen((uint16_t)(w >> 16)), acc));
    return flush(fmaf(widen((uint16_t)x), widen((uint16_t)w), acc));
}

static void tiles_portable(const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows, long n, const uint16_t *x,
                           long x_stride, long tokens, float *out, long os) {
    long np = (n + 1) / 2, tb = np * 64;
    for (long t = 0; t < tokens; t++) {
        for (long i = tile_begin; i < tile_end; i++) {
            float acc[4][16];
            memset(acc, 0, sizeof acc);
            for (long m = 0; m < count; m++) {
                const uint8_t *tile = mats[m] + i * tb;
                const uint16_t *xs = x + t * x_stride + m * n;
                for (long k = 0; k < np; k++) {
                    uint32_t xp = pair_at(xs, k, n);
                    for (int r = 0; r < 16; r++) {
                        uint32_t w;
                        memcpy(&w, tile + 64 * k + 4 * r, 4);
                        acc[k & 3][r] = lane_portable(acc[k & 3][r], xp, w);
                    }
                }
            }
            long r0 = i * 16;
            for (long r = 0; r < 16 && r0 + r < rows; r++) out[r0 + r + t * os] = (acc[0][r] + acc[1][r]) + (acc[2][r] + acc[3][r]);
        }
    }
}

#if defined(__x86_64__)
#define ATTR_BF16 __attribute__((target("avx2,avx512f,avx512vl,avx512bw,avx512bf16")))

/* NT (1 ... 4) tokens through tiles tile_begin ..< tile_end, the four accumulators of each in registers across
 * the matrices (a union's experts in order). */
static inline __attribute__((always_inline)) ATTR_BF16 void tiles_hw_pass(const uint8_t *const *mats, long count, long tile_begin,
                                                                          long tile_end, long rows, long n, const uint16_t *x,
                                                                          long x_stride, long t, const int NT, float *out, long os) {
    long np = (n + 1) / 2, tb = np * 64;
    for (long i = tile_begin; i < tile_end; i++) {
        __m512 A[4][4];
        for (int u = 0; u < NT; u++)
            for (int j = 0; j < 4; j++) A[u][j] = _mm512_setzero_ps();
        for (long m = 0; m < count; m++) {
            const uint8_t *tile = mats[m] + i * tb;
            const uint16_t *xs[4];
            for (int u = 0; u < NT; u++) xs[u] = x + (t + u) * x_stride + m * n;
            long k = 0;
            for (; k + 4 <= n / 2; k += 4) {
                for (int j = 0; j < 4; j++) {
                    __m512bh w = (__m512bh)_mm512_loadu_si512(tile + 64 * (k + j));
                    for (int u = 0; u < NT; u++) {
                        uint32_t p;
                        memcpy(&p, xs[u] + 2 * (k + j), 4);
                        /* the broadcast pair as the instruction's memory operand (a x b is symmetric per pair) */
                        A[u][j] = _mm512_dpbf16_ps(A[u][j], w, (__m512bh)_mm512_set1_epi32((int)p));
                    }
                }
            }
            /* the last pairs (fewer than four, or an odd n's last): accumulator j takes pair k + j, j a constant */
            for (int j = 0; j < 4; j++) {
                if (k + j >= np) break;
                __m512bh w = (__m512bh)_mm512_loadu_si512(tile + 64 * (k + j));
                for (int u = 0; u < NT; u++)
                    A[u][j] = _mm512_dpbf16_ps(A[u][j], w, (__m512bh)_mm512_set1_epi32((int)pair_at(xs[u], k + j, n)));
            }
        }
        long r0 = i * 16, valid = rows - r0 < 16 ? rows - r0 : 16;
        for (int u = 0; u < NT; u++) {
            __m512 s = _mm512_add_ps(_mm512_add_ps(A[u][0], A[u][1]), _mm512_add_ps(A[u][2], A[u][3]));
            float *o = out + r0 + (t + u) * os;
            if (valid == 16) _mm512_storeu_ps(o, s);
            else _mm512_mask_storeu_ps(o, (__mmask16)((1u << valid) - 1), s);
        }
    }
}

static ATTR_BF16 void tiles_hw(const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows, long n, const uint16_t *x,
                               long x_stride, long tokens, float *out, long os) {
    /* Several tokens walk the range span by span (bffn_tile_span), all of them passing over a span while it is in
       the core's cache, instead of each pass of four streaming the whole range from memory; per output nothing
       changes. */
    long span = tokens > 1 ? bffn_tile_span(bffn_bf16_tile_bytes(n) * count) : tile_end - tile_begin;
    for (long s0 = tile_begin; s0 < tile_end; s0 += span) {
        long s1 = tile_end - s0 < span ? tile_end : s0 + span, t = 0;
        for (; t + 4 <= tokens; t += 4) tiles_hw_pass(mats, count, s0, s1, rows, n, x, x_stride, t, 4, out, os);
        /* the rest one at a time: passes of two or three (the same bits) measured slower here, prefill of synth Small
           771-786 tok/s against 799-862, the 4-token call no faster */
        for (; t < tokens; t++) tiles_hw_pass(mats, count, s0, s1, rows, n, x, x_stride, t, 1, out, os);
    }
}
#endif

#if defined(__x86_64__)
/* The emulation with AVX2 and FMA (x86-64 CPUs without AVX512_BF16): 16 rows as two vectors of 8 float32 lanes, each
 * operation of lane_portable lane-wise in the same order (acc = fma(x1, w1, acc), then acc = fma(x0, w0, acc), one
 * rounding each). The zeroing is MXCSR's: with DAZ a denormal input reads as zero of its sign (widen), with FTZ a
 * result that rounds into the denormal range is written as zero of its sign (flush: x86 judges tininess after
 * rounding, as flush() looks at the rounded result). Both are set for the accumulation only and the caller's MXCSR
 * is back before the final sums, which the emulation adds without flushing. The tests compare it with a Swift
 * transcription of the arithmetic, products below the normal range included (BF16DotTests), and `bffn kernels` and
 * scripts/kernel-check (the golden file) with the portable emulation. */
#define ATTR_AVX2 __attribute__((target("avx2,fma")))
#define MXCSR_DAZ_FTZ 0x8040u

/* The compiler does not see that float arithmetic reads MXCSR: these empty statements claim to change the
 * accumulators, so none of their arithmetic moves across the MXCSR writes beside them. */
#define PIN_ACCUMULATORS(A)                                                                                          \
    __asm__ volatile("" : "+x"(A[0][0]), "+x"(A[0][1]), "+x"(A[1][0]), "+x"(A[1][1]), "+x"(A[2][0]), "+x"(A[2][1]), \
                     "+x"(A[3][0]), "+x"(A[3][1]))

/* Pair k of a tile's 16 rows (the 64 bytes at w) into one accumulator (two vectors) for the activation pair p:
 * acc = fma(x1, w1, acc), then acc = fma(x0, w0, acc), lane-wise. */
static inline __attribute__((always_inline)) ATTR_AVX2 void avx2_pair_step(__m256 *acc, const uint8_t *w, uint32_t p, __m256i high) {
    __m256 x1 = _mm256_castsi256_ps(_mm256_set1_epi32((int)(p & 0xffff0000u)));
    __m256 x0 = _mm256_castsi256_ps(_mm256_set1_epi32((int)(p << 16)));
    for (int h = 0; h < 2; h++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(w + 32 * h));
        __m256 a = _mm256_fmadd_ps(x1, _mm256_castsi256_ps(_mm256_and_si256(v, high)), acc[h]);
        acc[h] = _mm256_fmadd_ps(x0, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), a);
    }
}

/* One token through tiles tile_begin ..< tile_end of every matrix (four accumulators of two vectors a tile; sixteen
 * registers hold no second token's). */
static ATTR_AVX2 void tiles_avx2_token(const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows, long n,
                                       const uint16_t *xt, float *o) {
    long np = (n + 1) / 2, tb = np * 64;
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    unsigned saved = _mm_getcsr();
    for (long i = tile_begin; i < tile_end; i++) {
        __m256 A[4][2];
        for (int j = 0; j < 4; j++) A[j][0] = A[j][1] = _mm256_setzero_ps();
        _mm_setcsr(saved | MXCSR_DAZ_FTZ);
        PIN_ACCUMULATORS(A);
        for (long m = 0; m < count; m++) {
            const uint8_t *tile = mats[m] + i * tb;
            const uint16_t *xs = xt + m * n;
            long k = 0;
            /* four whole pairs at a time: accumulator j (a constant, so A stays in registers) takes pair k + j */
            for (; k + 4 <= n / 2; k += 4)
                for (int j = 0; j < 4; j++) {
                    uint32_t p;
                    memcpy(&p, xs + 2 * (k + j), 4);
                    avx2_pair_step(A[j], tile + 64 * (k + j), p, high);
                }
            /* the last pairs (fewer than four, or an odd n's last) */
            for (int j = 0; j < 4 && k + j < np; j++) avx2_pair_step(A[j], tile + 64 * (k + j), pair_at(xs, k + j, n), high);
        }
        PIN_ACCUMULATORS(A);
        _mm_setcsr(saved);
        PIN_ACCUMULATORS(A);
        long r0 = i * 16, valid = rows - r0 < 16 ? rows - r0 : 16;
        float s[16];
        for (int h = 0; h < 2; h++)
            _mm256_storeu_ps(s + 8 * h, _mm256_add_ps(_mm256_add_ps(A[0][h], A[1][h]), _mm256_add_ps(A[2][h], A[3][h])));
        for (long r = 0; r < valid; r++) o[r0 + r] = s[r];
    }
}

static ATTR_AVX2 void tiles_avx2(const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows, long n, const uint16_t *x,
                                 long x_stride, long tokens, float *out, long os) {
    /* Several tokens walk the range span by span (bffn_tile_span), every token passing over each span while it is in
       the core's cache; per output nothing changes. */
    long span = tokens > 1 ? bffn_tile_span(bffn_bf16_tile_bytes(n) * count) : tile_end - tile_begin;
    for (long s0 = tile_begin; s0 < tile_end; s0 += span) {
        long s1 = tile_end - s0 < span ? tile_end : s0 + span;
        for (long t = 0; t < tokens; t++) tiles_avx2_token(mats, count, s0, s1, rows, n, x + t * x_stride, out + t * os);
    }
}
#endif

#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The emulation in NEON (every AArch64 CPU; not BFDOT, whose arithmetic is another: formats/numerics.md): 16 rows
 * as four vectors of 4 float32 lanes, each operation of lane_portable done lane-wise in the same order. AArch64
 * vector float arithmetic is IEEE 754 with denormals (FPCR.FZ is clear in user processes), as the scalar code's, and
 * the flushes are explicit, so every lane has the emulation's bits. */
#define BFFN_BF16_NEON 1
#include <arm_neon.h>

#define NEON_AI static inline __attribute__((always_inline))

/* Both bf16 halves of each 32-bit lane with a zero exponent (denormals, zeros) read as zero, their signs kept. */
NEON_AI uint32x4_t flush_halves(uint32x4_t v) {
    uint16x8_t h = vreinterpretq_u16_u32(v);
    uint16x8_t keep = vorrq_u16(vtstq_u16(h, vdupq_n_u16(0x7f80)), vdupq_n_u16(0x8000));
    return vreinterpretq_u32_u16(vandq_u16(h, keep));
}
/* The high (element 2k + 1) and low (element 2k) bf16 halves widened to float32: exact, by masking and shifting. */
NEON_AI float32x4_t high_f32(uint32x4_t v) { return vreinterpretq_f32_u32(vandq_u32(v, vdupq_n_u32(0xffff0000u))); }
NEON_AI float32x4_t low_f32(uint32x4_t v) { return vreinterpretq_f32_u32(vshlq_n_u32(v, 16)); }
/* flush() lane-wise: a denormal result written as zero of its sign (zeros stay, NaN and infinities stay). */
NEON_AI float32x4_t flush4(float32x4_t f) {
    uint32x4_t u = vreinterpretq_u32_f32(f);
    uint32x4_t keep = vorrq_u32(vtstq_u32(u, vdupq_n_u32(0x7f800000u)), vdupq_n_u32(0x80000000u));
    return vreinterpretq_f32_u32(vandq_u32(u, keep));
}
/* Pair k of a tile's 16 rows (the 64 bytes at w) into the accumulator acc (four vectors) for one token's pair, its
 * halves already widened and flushed (x1: element 2k + 1, x0: element 2k, in every lane): lane_portable lane-wise,
 * acc = flush(fma(x1, w1, acc)), then acc = flush(fma(x0, w0, acc)), each a fused fmla (rounded once). */
NEON_AI void pair_step(float32x4_t *acc, const uint8_t *w, float32x4_t x1, float32x4_t x0) {
    for (int i = 0; i < 4; i++) {
        uint32x4_t wv = flush_halves(vld1q_u32((const uint32_t *)(const void *)(w + 16 * i)));
        acc[i] = flush4(vfmaq_f32(acc[i], x1, high_f32(wv)));
        acc[i] = flush4(vfmaq_f32(acc[i], x0, low_f32(wv)));
    }
}

/* One token through one tile of every matrix (R's four accumulators across them, a union's experts in order), out
 * its `valid` rows. */
NEON_AI void tile_neon(const uint8_t *const *mats, long count, long i, long n, const uint16_t *xt, long valid, float *o) {
    long np = (n + 1) / 2, tb = np * 64;
    float32x4_t A[4][4];
    for (int j = 0; j < 4; j++)
        for (int r = 0; r < 4; r++) A[j][r] = vdupq_n_f32(0.0f);
    for (long m = 0; m < count; m++) {
        const uint8_t *tile = mats[m] + i * tb;
        const uint16_t *xs = xt + m * n;
        long k = 0;
        /* four whole pairs at a time: accumulator j takes pair k + j */
        for (; k + 4 <= n / 2; k += 4) {
            uint32x4_t xv = flush_halves(vreinterpretq_u32_u16(vld1q_u16(xs + 2 * k)));
            float32x4_t x1 = high_f32(xv), x0 = low_f32(xv);
            pair_step(A[0], tile + 64 * k, vdupq_laneq_f32(x1, 0), vdupq_laneq_f32(x0, 0));
            pair_step(A[1], tile + 64 * (k + 1), vdupq_laneq_f32(x1, 1), vdupq_laneq_f32(x0, 1));
            pair_step(A[2], tile + 64 * (k + 2), vdupq_laneq_f32(x1, 2), vdupq_laneq_f32(x0, 2));
            pair_step(A[3], tile + 64 * (k + 3), vdupq_laneq_f32(x1, 3), vdupq_laneq_f32(x0, 3));
        }
        /* the last pairs (fewer than four, or an odd n's last, its second element zero) */
        for (int j = 0; j < 4 && k + j < np; j++) {
            uint32x4_t xv = flush_halves(vdupq_n_u32(pair_at(xs, k + j, n)));
            pair_step(A[j], tile + 64 * (k + j), high_f32(xv), low_f32(xv));
        }
    }
    float s[16];
    for (int r = 0; r < 4; r++) vst1q_f32(s + 4 * r, vaddq_f32(vaddq_f32(A[0][r], A[1][r]), vaddq_f32(A[2][r], A[3][r])));
    for (long r = 0; r < valid; r++) o[r] = s[r];
}

static void tiles_neon(const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows, long n, const uint16_t *x,
                       long x_stride, long tokens, float *out, long os) {
    /* Several tokens walk the range span by span (bffn_tile_span), every token passing over each tile while it is
       in cache; per output nothing changes. */
    long span = tokens > 1 ? bffn_tile_span(bffn_bf16_tile_bytes(n) * count) : tile_end - tile_begin;
    for (long s0 = tile_begin; s0 < tile_end; s0 += span) {
        long s1 = tile_end - s0 < span ? tile_end : s0 + span;
        for (long i = s0; i < s1; i++) {
            long r0 = i * 16, valid = rows - r0 < 16 ? rows - r0 : 16;
            for (long t = 0; t < tokens; t++) tile_neon(mats, count, i, n, x + t * x_stride, valid, out + r0 + t * os);
        }
    }
}
#endif

/* The path in use (BFFN_BF16_PATH_*); -1 until first asked: the best this CPU has. */
static int path_in_use = -1;

int bffn_bf16dot_has_path(int path) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (path == BFFN_BF16_PATH_AVX512) return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl");
    if (path == BFFN_BF16_PATH_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#elif defined(BFFN_BF16_NEON)
    if (path == BFFN_BF16_PATH_NEON) return 1;
#endif
    return path == BFFN_BF16_PATH_PORTABLE;
}

static int best_path(void) {
    /* BFFN_BF16_PATH names another path this CPU has (measuring what a CPU without AVX512_BF16 runs). */
    const char *asked = getenv("BFFN_BF16_PATH");
    for (int p = 0; asked && p <= BFFN_BF16_PATH_NEON; p++)
        if (strcmp(asked, p == BFFN_BF16_PATH_PORTABLE ? "emulated" : bffn_bf16dot_path_name_of(p)) == 0 && bffn_bf16dot_has_path(p)) return p;
    static const int order[] = {BFFN_BF16_PATH_AVX512, BFFN_BF16_PATH_AVX2, BFFN_BF16_PATH_NEON};
    for (int i = 0; i < 3; i++)
        if (bffn_bf16dot_has_path(order[i])) return order[i];
    return BFFN_BF16_PATH_PORTABLE;
}

int bffn_bf16dot_path(void) {
    int p = __atomic_load_n(&path_in_use, __ATOMIC_RELAXED);
    if (p < 0) {
        p = best_path();
        __atomic_store_n(&path_in_use, p, __ATOMIC_RELAXED);
    }
    return p;
}

int bffn_bf16dot_use_path(int path) {
    int p = path >= 0 && bffn_bf16dot_has_path(path) ? path : best_path();
    __atomic_store_n(&path_in_use, p, __ATOMIC_RELAXED);
    return p;
}

const char *bffn_bf16dot_path_name_of(int path) {
    switch (path) {
    case BFFN_BF16_PATH_AVX512: return "avx512-bf16";
    case BFFN_BF16_PATH_AVX2: return "avx2";
    case BFFN_BF16_PATH_NEON: return "neon";
    default: return "portable";
    }
}

const char *bffn_bf16dot_path_name(void) { return bffn_bf16dot_path_name_of(bffn_bf16dot_path()); }

void bffn_bf16_tiles_product(const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows, long n,
                             const uint16_t *x, long x_stride, long tokens, float *out, long out_stride) {
    if (tile_end <= tile_begin || count <= 0 || tokens <= 0) return;
    switch (bffn_bf16dot_path()) {
#if defined(__x86_64__)
    case BFFN_BF16_PATH_AVX512: tiles_hw(mats, count, tile_begin, tile_end, rows, n, x, x_stride, tokens, out, out_stride); return;
    case BFFN_BF16_PATH_AVX2: tiles_avx2(mats, count, tile_begin, tile_end, rows, n, x, x_stride, tokens, out, out_stride); return;
#endif
#if defined(BFFN_BF16_NEON)
    case BFFN_BF16_PATH_NEON: tiles_neon(mats, count, tile_begin, tile_end, rows, n, x, x_stride, tokens, out, out_stride); return;
#endif
    default: break;
    }
    tiles_portable(mats, count, tile_begin, tile_end, rows, n, x, x_stride, tokens, out, out_stride);
}
