#ifndef BFFN_BF16DOT_H
#define BFFN_BF16DOT_H
/*
 * bf16 dot products of bf16-rounded activations with bf16 weight rows (formats/numerics.md, "bf16").
 *
 * Activations are rounded to bf16 once per call (to nearest, ties to even; NaN stays NaN). A row of n elements is
 * taken in chunks of 16 (the last zero-padded); chunk c adds to accumulator c mod 4 (within each row segment),
 * and within a chunk lane i (0...7) takes the pair of elements 2i, 2i+1 as the AVX-512 BF16 instruction
 * vdpbf16ps does: acc = acc + x[2i+1]*w[2i+1], then acc = acc + x[2i]*w[2i], each product exact in float32 and
 * each sum rounded to nearest even, denormal inputs and results read and written as zero. Result: the four
 * accumulators' sum (A0 + A1) + (A2 + A3) lane-wise, then ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
 * The instruction (where the CPU has AVX512_BF16) and the portable emulation give the same bits.
 */
#include <stdint.h>

/* x (n floats) rounded to bf16 into out (n values; the bits of the upper half of each float32). */
void bffn_round_bf16(const float *x, long n, uint16_t *out);

/* The products of `count` bf16 row segments of n elements (one row, or the experts of a down projection's
 * union in order) with `tokens` (1 ... 4) rows of bf16 activations (token t's segment r at
 * x + t * x_stride + r * n); token t's result at out[t * out_stride]. */
void bffn_dot_bf16(const uint16_t *const *rows, long count, long n, const uint16_t *x, long x_stride, long tokens, float *out,
                   long out_stride);

/* Whether the products use the AVX-512 BF16 instruction (1) or the portable emulation (0). */
int bffn_bf16dot_hardware(void);
/* Uses the emulation (0) or the instruction where the CPU has it (1); returns the one in use (tests). */
int bffn_bf16dot_use_hardware(int on);
#endif
