#ifndef BFFN_INTDOT_H
#define BFFN_INTDOT_H
/*
 * Integer products of int8-quantized activations with q8 / q4 weights repacked into row tiles
 * (formats/numerics.md, "int8").
 *
 * Activations: a segment of n floats (n a multiple of 8) is cut into blocks of `block` elements (32, 16 or 8; a
 * block never straddles two weight groups; the last block of a whole-row group may be shorter). Each block gets
 * d = max|x| / 127 (a float division; 0 for an all-zero block) and codes q = round(x * (127 / max|x|)) (the
 * inverse one float division per block, the product rounded once; to nearest, ties away from zero, clamped to
 * -127 ... 127; 0 for an all-zero block), kept in element order, and its code sum
 * C. q4 asymmetric weights also need, per weight group, S_g = the float sum from +0, in block order, of
 * d_b * (float)C_b.
 *
 * Weights: a matrix of q8 / q4 rows is repacked once into tiles of 16 rows (bffn_tiles_pack); within a tile, per
 * weight group, the 16 rows' scales (and offsets), then the codes four elements of the 16 rows at a time, so
 * that one lane of an integer vector is one row. A tile's rows past the matrix's last are zero.
 *
 * Products, per row and token: for each block b, the exact integer I_b = sum of activation code x weight code
 * (q8: the signed code; q4 symmetric: the nibble - 8; q4 asymmetric: the nibble 0 ... 15). Per weight group g
 * (in order): G = +0; for its blocks in order G = fma((float)I_b, d_b, G); then R = fma(G, s_g, R) and, for q4
 * asymmetric, R = fma(o_g, S_g, R). R starts at +0 and runs across the matrices of a union (a down projection
 * over experts, each expert one segment of the activations). Every fma is rounded once; integer sums are exact,
 * so every instruction set (portable C, AVX2, AVX-512 VNNI, AVX-VNNI, NEON with or without DotProd and I8MM)
 * gives the same bits.
 */
#include <stdint.h>

/* The kinds of weight rows. */
enum {
    BFFN_INTDOT_Q8 = 0,
    BFFN_INTDOT_Q4_SYMMETRIC = 1,
    BFFN_INTDOT_Q4_ASYMMETRIC = 2,
    BFFN_INTDOT_Q4K = 3,
    BFFN_INTDOT_Q5K = 4,
    BFFN_INTDOT_Q6K = 5,
    BFFN_INTDOT_Q3K = 6
};

/* q4k rows (formats/bfpk.md, "Q4K rows": super-blocks of up to 256 elements, sub-blocks of 32 with 6-bit scales
 * and mins under float16 d and dmin) are computed as q4 asymmetric rows in groups of 32 whose scale is
 * s_j = d * sc_j and offset o_j = 0 - dmin * m_j (both exact in float32): bffn_tiles_pack writes exactly those
 * tiles (group must be 32), and every other function treats BFFN_INTDOT_Q4K as BFFN_INTDOT_Q4_ASYMMETRIC.
 * q5k rows ("Q5K rows": value = (q - 16) * d * sc_j) are likewise q8 rows in groups of 32 with scale d * sc_j and
 * codes q - 16: BFFN_INTDOT_Q5K is tiled as such and otherwise treated as BFFN_INTDOT_Q8; so are q6k rows ("Q6K
 * rows": value = (u - 32) * d * sc_j, BFFN_INTDOT_Q6K). q3k rows ("Q3K rows": sub-blocks of 16, value = c * d * sc_j
 * with c = u - 4, or 4 - u in a mirrored sub-block) are q4 symmetric rows in groups of 16 with scale d * sc_j and
 * nibble c + 8: BFFN_INTDOT_Q3K is tiled as such (group must be 16) and otherwise treated as
 * BFFN_INTDOT_Q4_SYMMETRIC. */

/* Rows per tile. */
enum { BFFN_TILE_ROWS = 16 };

/* The block length for weight rows of n elements in groups of `group` (a multiple of 8 dividing n): 32 when the
 * group is a multiple of 32 or the whole row, else 16 or 8 (the largest dividing the group). */
long bffn_activation_block(long n, long group);

/* Quantizes one segment of n activations (rows in groups of `group`, blocks of `block`): n codes in element
 * order, one scale and one code sum per block, and when `group_sums` is not NULL one S_g per group. */
void bffn_quantize_activations(const float *x, long n, long group, long block, int8_t *codes, float *scales, int32_t *sums,
                               float *group_sums);

/* Bytes of one tile of 16 rows of n elements of `kind` in groups of `group` (a multiple of 64). */
long bffn_tile_bytes(int kind, long n, long group);

/* Repacks rows 0 ..< rows (row r at src + r * row_stride bytes, in the stored row layout of formats/bfpk.md: group
 * scales, offsets when asymmetric, then the codes) into ceil(rows / 16) tiles at dst. */
void bffn_tiles_pack(int kind, const uint8_t *src, long row_stride, long rows, long n, long group, uint8_t *dst);

/* Quantized activations of `tokens` tokens: token t's codes at codes + t * code_stride, its block scales and sums
 * at + t * block_stride, its group sums at + t * group_stride. A token's row may hold several segments of n
 * elements (a down projection's union): segment m's data at codes + m * n, scales / sums + m * (blocks per
 * segment), group_sums + m * n / group. group_sums may be NULL unless the rows are q4 asymmetric. */
typedef struct {
    const int8_t *codes;
    const float *scales;
    const int32_t *sums;
    const float *group_sums;
    long code_stride, block_stride, group_stride;
    long tokens, block;
} bffn_int8_activations;

/* Tiles tile_begin ..< tile_end of `count` tiled matrices (`mats[m]`: matrix m's tiles, each of rows x n, the
 * activations' segment m) against every token: out[r + t * out_stride] for the tiles' rows r < rows, summed over
 * the matrices in order (one matrix: a plain product). Four tokens a pass through each tile. */
void bffn_tiles_product(int kind, const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows, long n,
                        long group, const bffn_int8_activations *a, float *out, long out_stride);

/* The instruction set the products use: 0 portable C; x86-64: 1 AVX2, 2 AVX-512 VNNI, 3 AVX-VNNI; AArch64: 4 NEON
 * (ARMv8.0), 5 NEON with the dot product extension, 6 NEON with dot product and int8 matrix multiply. By default
 * the best this CPU has: 2, 3, 1 on x86-64; 6, 5, 4 on AArch64. */
int bffn_intdot_level(void);
/* The name of a level ("portable", "avx2", "avx512-vnni", "avx-vnni", "neon", "neon-dotprod", "neon-i8mm"). */
const char *bffn_intdot_level_name(int level);
/* Uses `level` from now on when this CPU has it, else the best it has (tests compare the levels); returns the
 * level in use. */
int bffn_intdot_use_level(int level);

/* Peak arithmetic of one core (peak.c): runs `iterations` rounds of twelve independent multiply-add instructions
 * in registers and returns the operations done (a multiply-add counts two; 0 when this CPU lacks the kind). The
 * caller times the call. BFFN_PEAK_INT8: the int8 instruction of the level in use (vpdpbusd, vpmaddubsw with
 * vpmaddwd, sdot, NEON widening multiplies; 0 for the portable level); BFFN_PEAK_BF16: vdpbf16ps (AVX512_BF16 only);
 * BFFN_PEAK_FLOAT: float32 fma at the widest vectors the CPU has. */
enum { BFFN_PEAK_FLOAT = 0, BFFN_PEAK_INT8 = 1, BFFN_PEAK_BF16 = 2 };
double bffn_peak_operations(int kind, long iterations);
#endif
