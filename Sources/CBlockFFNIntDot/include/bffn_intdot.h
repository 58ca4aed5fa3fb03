#ifndef BFFN_INTDOT_H
#define BFFN_INTDOT_H
/*
 * Integer dot products of int8-quantized activations with q8 / q4 weight rows (formats/numerics.md, "int8").
 *
 * Activations: a row segment of n floats (n a multiple of 8) is cut into blocks of `block` elements (32, 16 or 8;
 * the last may be shorter); each block gets the scale d = max|x| / 127 (a float division; 0 for an all-zero
 * block) and the codes q = round(x / d) (true division, to nearest, ties away from zero, clamped to -127...127; 0
 * when d is 0). For q4 rows the codes of each block are stored in nibble order (the block's even elements, then
 * its odd ones: the order in which one load of the packed bytes gives the low, then the high nibbles).
 * A quad is four consecutive stored codes. q4 symmetric rows also need 8 x each quad's code sum (K_j);
 * q4 asymmetric rows the sum per weight group S_g = sum over the group's blocks, ascending, of d_b * (float)C_b
 * (C_b the block's code sum).
 *
 * Products over one row segment, per block b (weight group g holding it) and quad j (lane j):
 *   T_b = d_b * s_g;   P_j = the exact int32 sum of the quad's code products (q4: with the codes 0...15)
 *   q8 and q4 asymmetric: A[b mod 4][j] = fma((float)P_j, T_b, A[b mod 4][j])
 *   q4 symmetric:         A[b mod 4][j] = fma((float)(P_j - K_j), T_b, A[b mod 4][j])
 * and for q4 asymmetric, per group g: O[g mod 8] = fma(o_g, S_g, O[g mod 8]) (o_g the group's offset). Block and
 * group indices restart at every segment; accumulators start at +0 and run across the segments of a union.
 * Result: a = (A0 + A1) + (A2 + A3) lane-wise (then a + O for q4 asymmetric), then
 * ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)). Each fma is rounded once, every other operation on its own.
 * Integer sums are exact, so every instruction set (portable C, AVX2, AVX-512 VNNI, AVX-VNNI) gives the same
 * bits; a segment whose activations are all zero adds only zero terms (dense = sparse).
 */
#include <stdint.h>

/* The kinds of weight rows. */
enum { BFFN_INTDOT_Q8 = 0, BFFN_INTDOT_Q4_SYMMETRIC = 1, BFFN_INTDOT_Q4_ASYMMETRIC = 2 };

/* The block length for weight rows of n elements in groups of `group` (a multiple of 8 dividing n): 32 when the
 * group is a multiple of 32 or the whole row, else 16 or 8 (the largest dividing the group). */
long bffn_activation_block(long n, long group);

/* Quantizes one segment of n activations for rows of `kind` in groups of `group`, blocks of `block`: codes
 * (n bytes, nibble order per block for q4), one scale per block, 8 x the code sum of each quad (n / 4 values;
 * `quad_offsets`: what q4 symmetric rows subtract), and for q4 asymmetric one sum per group (n / group values;
 * `group_sums`, which may be NULL for the other kinds). */
void bffn_quantize_activations(int kind, const float *x, long n, long group, long block, int8_t *codes, float *scales,
                               int32_t *quad_offsets, float *group_sums);

/* Quantized activations of `tokens` tokens; token t's data at codes + t * code_stride and so on. A token's row may
 * hold several segments of n elements (a down projection's union): segment r's data at codes + r * n,
 * scales + r * ceil(n / block), quad_offsets + r * n / 4, group_sums + r * n / group. Every pointer but group_sums
 * (NULL unless the rows are q4 asymmetric) must be valid: the kernels form addresses in them for every kind. */
typedef struct {
    const int8_t *codes;
    const float *scales;
    const int32_t *quad_offsets;
    const float *group_sums;
    long code_stride, scale_stride, quad_stride, sum_stride;
    long tokens, block;
} bffn_int8_activations;

/* Rows 0 ..< rows of a matrix (row r at base + r * row_stride bytes: q8 group scales then n int8 codes; q4 group
 * scales, offsets when asymmetric, then n / 2 bytes with element 2i in the low nibble of byte i) against every
 * token: out[r + t * out_stride]. Four tokens a pass through each row. */
void bffn_intdot_rows(int kind, const uint8_t *base, long row_stride, long rows, long n, long group, const bffn_int8_activations *a,
                      float *out, long out_stride);

/* One output per token over `count` row segments of n elements (the experts of a down projection's union, in
 * order; segment r at segments[r]) against each token's segments: out[t * out_stride]. */
void bffn_intdot_segments(int kind, const uint8_t *const *segments, long count, long n, long group, const bffn_int8_activations *a,
                          float *out, long out_stride);

/* Outputs j0 ..< j1 of a down projection over a union of `count` experts: output j's segment r at
 * bases[r] + j * strides[r] (bytes); out[j + t * out_stride]; `scratch` holds `count` pointers. */
void bffn_intdot_union(int kind, const uint8_t *const *bases, const long *strides, long count, long j0, long j1, long n, long group,
                       const bffn_int8_activations *a, const uint8_t **scratch, float *out, long out_stride);

/* The instruction set the products use: 0 portable C, 1 AVX2, 2 AVX-512 VNNI (256-bit), 3 AVX-VNNI. */
int bffn_intdot_level(void);
/* The name of a level ("portable", "avx2", "avx512-vnni", "avx-vnni"). */
const char *bffn_intdot_level_name(int level);
/* Uses `level` from now on when this CPU has it, else the best it has (tests compare the levels); returns the
 * level in use. */
int bffn_intdot_use_level(int level);
#endif
