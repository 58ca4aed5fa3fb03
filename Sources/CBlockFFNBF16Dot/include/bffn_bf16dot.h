#ifndef BFFN_BF16DOT_H
#define BFFN_BF16DOT_H
/*
 * bf16 products of bf16-rounded activations with bf16 weights repacked into tiles of 16 rows (formats/numerics.md,
 * "bf16").
 *
 * Activations are rounded to bf16 once per call (to nearest, ties to even; NaN stays NaN). A row of n elements is
 * taken as pairs k = 0 ... ceil(n / 2) - 1 (elements 2k, 2k + 1; the one past an odd n is zero); pair k adds to the
 * row's accumulator k mod 4 (k counted within each row segment: an expert of a down projection's union; the
 * accumulators run across the segments) as the AVX-512 BF16 instruction vdpbf16ps does: acc = fma(x[2k+1], w[2k+1],
 * acc), then acc = fma(x[2k], w[2k], acc), each a fused multiply-add rounded once to nearest even (the product of
 * two bf16 values is exact in float32 unless below the normal range or overflowing), denormal inputs and results
 * read and written as zero. Result: (A0 + A1) + (A2 + A3). In a tile one lane of the instruction is one
 * row; the instruction (where the CPU has AVX512_BF16), the AVX2 emulation (other x86-64), the NEON emulation
 * (AArch64) and the portable emulation give the same bits.
 */
#include <stdint.h>

/* x (n floats) rounded to bf16 into out (n values; the bits of the upper half of each float32). */
void bffn_round_bf16(const float *x, long n, uint16_t *out);

/* Bytes of one tile of 16 rows of n bf16 elements: 64 per pair of elements. */
long bffn_bf16_tile_bytes(long n);

/* Repacks rows 0 ..< rows of n bf16 values (row r at src + r * row_stride bytes) into ceil(rows / 16) tiles at dst:
 * pair k of a tile is 64 bytes, lane r holding elements 2k (low half) and 2k + 1 (high half) of row r. */
void bffn_bf16_tiles_pack(const uint8_t *src, long row_stride, long rows, long n, uint8_t *dst);

/* Tiles tile_begin ..< tile_end of `count` tiled matrices (each rows x n; matrix m against segment m of each
 * token's activations, x + t * x_stride + m * n) summed in order: out[r + t * out_stride] for the tiles' rows
 * r < rows. Four tokens a pass. */
void bffn_bf16_tiles_product(const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows, long n,
                             const uint16_t *x, long x_stride, long tokens, float *out, long out_stride);

/* The paths: the portable emulation; vdpbf16ps (x86-64 with AVX512_BF16); the emulation with AVX2 and FMA (other
 * x86-64 CPUs with them); the emulation in NEON (AArch64). All give the same bits. */
enum { BFFN_BF16_PATH_PORTABLE = 0, BFFN_BF16_PATH_AVX512 = 1, BFFN_BF16_PATH_AVX2 = 2, BFFN_BF16_PATH_NEON = 3 };
/* Whether this CPU can run `path`. */
int bffn_bf16dot_has_path(int path);
/* The path in use: by default the first of AVX512, AVX2, NEON this CPU has, else the portable emulation. */
int bffn_bf16dot_path(void);
/* Uses `path` from now on where the CPU has it, else the best it has (tests and `bffn kernels` compare the paths);
 * returns the path in use. */
int bffn_bf16dot_use_path(int path);
/* The name of a path ("portable", "avx512-bf16", "avx2", "neon"), and of the one in use. */
const char *bffn_bf16dot_path_name_of(int path);
const char *bffn_bf16dot_path_name(void);
#endif
