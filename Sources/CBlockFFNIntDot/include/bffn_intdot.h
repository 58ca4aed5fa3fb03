#ifndef BFFN_INTDOT_H
#define BFFN_INTDOT_H
/*
 * Integer dot products of int8-quantized activations with q8 / q4 weight rows (formats/numerics.md).
 *
 * Activations: a vector of n floats is cut into blocks of `block` elements (the last may be shorter); each block
 * gets the scale d = max|x| / 127 (a float division; 0 for an all-zero block) and the codes
 * q = round(x / d) (true division, to nearest, ties away from zero, clamped to -127...127; 0 when d is 0).
 * Every run of four elements (a quad: elements 4j ... 4j+3, the last maybe shorter) also gets its code sum C_j.
 *
 * Products over one row: the exact int32 sum P_j of the quad's code products (q8: activation codes times weight
 * codes; q4: activation codes times the 4-bit codes 0...15) gives the float term
 *   q8:            (d_b * s_g) * (float)P_j
 *   q4 symmetric:  (d_b * s_g) * (float)(P_j - 8 * C_j)
 *   q4 asymmetric: ((d_b * s_g) * (float)P_j) + ((d_b * o_g) * (float)C_j)
 * (b the quad's block, s_g / o_g the scale / offset of the weight group holding it; every operation rounded on
 * its own, no fused multiply-add). Terms go to 4 x 8 float accumulators: lane = the quad's index within its
 * block, accumulator = the block's index within its row segment, mod 4; blocks in ascending order. The result is
 * A = (A0 + A1) + (A2 + A3) lane-wise, then ((A[0]+A[4]) + (A[2]+A[6])) + ((A[1]+A[5]) + (A[3]+A[7])).
 * Integer sums are exact, so every instruction set (portable C, AVX2, AVX-512 VNNI, AVX-VNNI) gives the same
 * bits; a segment whose activations are all zero adds only zero terms (dense = sparse).
 *
 * The block is 32 when the weight group is a multiple of 32 or the whole row, else the group (8 or 16): a block
 * never straddles two weight groups.
 */
#include <stdint.h>

/* The block length for weight rows of n elements in groups of `group`. */
long bffn_activation_block(long n, long group);

/* Quantizes n activations in blocks of `block`: codes (n bytes), one scale per block, one code sum per quad. */
void bffn_quantize_activations(const float *x, long n, long block, int8_t *codes, float *scales, int32_t *quad_sums);

/* The product over `count` row segments of n elements each (one plain row: count 1; the experts of a down
 * projection's union, in order): segment r is the row at rows[r] (q8: group scales, then n int8 codes; q4: group
 * scales, offsets when asymmetric, then n/2 bytes with element 2i in the low nibble of byte i) against
 * codes + r * n, scales + r * ceil(n / block) and quad sums + r * ceil(n / 4). */
float bffn_dot_q8_segments(const uint8_t *const *rows, long count, long n, long group, const int8_t *codes, const float *scales,
                           const int32_t *quad_sums, long block);
float bffn_dot_q4_segments(const uint8_t *const *rows, long count, long n, long group, int asymmetric, const int8_t *codes,
                           const float *scales, const int32_t *quad_sums, long block);

/* The same products for four tokens at once (q4: 1 for q4 rows, 0 for q8): token t's activations at codes +
 * t * code_stride, scales + t * scale_stride, quad sums + t * quad_stride; its result at out[t * out_stride].
 * The same bits as four calls of the functions above; each weight block is read and unpacked once. */
void bffn_dot_segments4(int q4, const uint8_t *const *rows, long count, long n, long group, int asymmetric, const int8_t *codes,
                        long code_stride, const float *scales, long scale_stride, const int32_t *quad_sums, long quad_stride,
                        long block, float *out, long out_stride);

/* The instruction set the products use: 0 portable C, 1 AVX2, 2 AVX-512 VNNI (256-bit), 3 AVX-VNNI. */
int bffn_intdot_level(void);
/* The name of a level ("portable", "avx2", "avx512-vnni", "avx-vnni"). */
const char *bffn_intdot_level_name(int level);
/* Uses `level` from now on when this CPU has it, else the best it has (tests compare the levels); returns the
 * level in use. */
int bffn_intdot_use_level(int level);
#endif
