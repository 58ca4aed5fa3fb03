/*
 * bf16 products on tiles of 16 rows (see bffn_bf16dot.h): vdpbf16ps on 512-bit registers (one lane a row) where the
 * CPU has AVX512_BF16, else a portable emulation of the same operations.
 */
#include "bffn_bf16dot.h"
#include "bffn_prefetch.h"
#include <math.h>
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
        for (; t < tokens; t++) tiles_hw_pass(mats, count, s0, s1, rows, n, x, x_stride, t, 1, out, os);
    }
}
#endif

static int hardware = -1;

static int has_hardware(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

int bffn_bf16dot_hardware(void) {
    int h = __atomic_load_n(&hardware, __ATOMIC_RELAXED);
    if (h < 0) {
        h = has_hardware();
        __atomic_store_n(&hardware, h, __ATOMIC_RELAXED);
    }
    return h;
}

int bffn_bf16dot_use_hardware(int on) {
    int h = on && has_hardware();
    __atomic_store_n(&hardware, h, __ATOMIC_RELAXED);
    return h;
}

void bffn_bf16_tiles_product(const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows, long n,
                             const uint16_t *x, long x_stride, long tokens, float *out, long out_stride) {
    if (tile_end <= tile_begin || count <= 0 || tokens <= 0) return;
#if defined(__x86_64__)
    if (bffn_bf16dot_hardware()) {
        tiles_hw(mats, count, tile_begin, tile_end, rows, n, x, x_stride, tokens, out, out_stride);
        return;
    }
#endif
    tiles_portable(mats, count, tile_begin, tile_end, rows, n, x, x_stride, tokens, out, out_stride);
}
