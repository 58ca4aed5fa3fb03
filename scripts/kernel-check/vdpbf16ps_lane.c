/*
 * What one lane of vdpbf16ps computes, measured: the instruction against flush(fma(x1, w1, acc)) then
 * flush(fma(x0, w0, acc)) (bf16 inputs read with denormals as zero), and against the same with each product rounded
 * to float32 before the sum, on random lanes of every exponent range (tiny products, overflow, infinities, NaN).
 * x86-64 with AVX512_BF16 only (formats/numerics.md, "aarch64": "The fused steps of vdpbf16ps").
 *   clang -O2 scripts/kernel-check/vdpbf16ps_lane.c -lm -o /tmp/lane && /tmp/lane
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float widen(uint16_t h) { uint32_t u = (uint32_t)h << 16; if ((u & 0x7f800000u) == 0) u &= 0x80000000u; return from_bits(u); }
static float flush(float f) { uint32_t u = bits(f); if ((u & 0x7f800000u) == 0) u &= 0x80000000u; return from_bits(u); }

/* The accumulator is read with denormals as zero too (in the products it never is one: it starts at +0 and every
   result is flushed). */
static float fused(float acc, uint32_t x, uint32_t w) {
    acc = flush(fmaf(widen((uint16_t)(x >> 16)), widen((uint16_t)(w >> 16)), flush(acc)));
    return flush(fmaf(widen((uint16_t)x), widen((uint16_t)w), acc));
}
static float rounded_products(float acc, uint32_t x, uint32_t w) {
    float p1 = widen((uint16_t)(x >> 16)) * widen((uint16_t)(w >> 16)), p0 = widen((uint16_t)x) * widen((uint16_t)w);
    acc = flush(flush(acc) + p1);
    return flush(acc + p0);
}

__attribute__((target("avx512f,avx512bf16,avx512vl"))) static void hardware(const float *acc, const uint32_t *x, const uint32_t *w, float *out) {
    __m512bh xb = (__m512bh)_mm512_loadu_si512(x), wb = (__m512bh)_mm512_loadu_si512(w);
    _mm512_storeu_ps(out, _mm512_dpbf16_ps(_mm512_loadu_ps(acc), xb, wb));
}

static uint64_t state = 88172645463325252ull;
static uint32_t rnd(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return (uint32_t)state; }

/* A bf16 value: any exponent, about 2^-64 (products below the normal range), or near the ends of the range. */
static uint16_t value(int mode) {
    uint32_t e = mode == 0 ? rnd() % 256 : mode == 1 ? 127 - 64 + rnd() % 16 - 8 : rnd() % 2 ? 250 + rnd() % 6 : 1 + rnd() % 4;
    return (uint16_t)(((rnd() & 1) << 15) | (e << 7) | (rnd() & 0x7f));
}

int main(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bf16")) {
        printf("this CPU has no AVX512_BF16\n");
        return 0;
    }
    long lanes = 0, nan = 0, differ_fused = 0, differ_rounded = 0;
    for (long i = 0; i < 3000000; i++) {
        float acc[16], out[16];
        uint32_t x[16], w[16];
        for (int l = 0; l < 16; l++) {
            int mode = rnd() % 3, c = rnd() % 4;
            x[l] = (uint32_t)value(mode) << 16 | value(mode);
            w[l] = (uint32_t)value(mode) << 16 | value(mode);
            uint32_t e = c == 0 ? 0 : c == 1 ? 1 + rnd() % 254 : c == 2 ? 1 + rnd() % 6 : 248 + rnd() % 7;
            acc[l] = from_bits((rnd() & 0x80000000u) | e << 23 | (rnd() & 0x7fffff));
        }
        hardware(acc, x, w, out);
        for (int l = 0; l < 16; l++) {
            float f = fused(acc[l], x[l], w[l]), r = rounded_products(acc[l], x[l], w[l]);
            lanes++;
            if (isnan(out[l])) {
                nan++;
                differ_fused += !isnan(f);
                differ_rounded += !isnan(r);
                continue;
            }
            differ_fused += bits(f) != bits(out[l]);
            differ_rounded += bits(r) != bits(out[l]);
        }
    }
    printf("%ld lanes (%ld NaN): fused steps differ in %ld, rounded products in %ld\n", lanes, nan, differ_fused, differ_rounded);
    return differ_fused != 0;
}
