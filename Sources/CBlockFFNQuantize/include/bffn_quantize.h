#ifndef BFFN_QUANTIZE_H
#define BFFN_QUANTIZE_H
/*
 * Row encoders for the converter: float32 values in, stored bytes out (formats/bfpk.md, "Quantized rows"),
 * together with the quantization error. AVX2/FMA/F16C where the compiler targets them, portable C otherwise;
 * both give the same bytes. Rounding of codes is to nearest, ties away from zero.
 */
#include <stdint.h>

/* Error sums over encoded elements: sum of x^2, sum of (stored - x)^2, and max |stored - x|. */
typedef struct {
    double signal;
    double noise;
    float max_abs;
} bffn_error_sums;

/* How source values are stored (the values of the `source_type` argument). */
enum { BFFN_SOURCE_F32 = 0, BFFN_SOURCE_F16 = 1, BFFN_SOURCE_BF16 = 2 };

/* Storage types (the values of the `type` argument). */
enum { BFFN_ENCODE_F32 = 0, BFFN_ENCODE_F16 = 1, BFFN_ENCODE_BF16 = 2, BFFN_ENCODE_Q8 = 3, BFFN_ENCODE_Q4 = 4, BFFN_ENCODE_Q4K = 5, BFFN_ENCODE_Q5K = 6,
       BFFN_ENCODE_Q6K = 7, BFFN_ENCODE_Q3K = 8 };

/*
 * Encodes the n values at `values` (stored as `source_type`, widened to float exactly) of one row as `type`
 * into out (exactly the row's stored bytes), adds the error to *err, and, when decoded is not NULL, writes the
 * values the kernels will read back.
 * q8: one float32 scale per group, then n int8 codes. q4: the group scales, then (asymmetric) the group
 * offsets, then n/2 bytes, the even element in the low nibble. group must be a multiple of 8 dividing n
 * (q8/q4); for the float types n is any count and group is ignored. q4k (formats/bfpk.md, "Q4K rows"): n a
 * multiple of 32, group and asymmetric ignored; q5k and q6k likewise; q3k a multiple of 16. Returns 0, or -1 for a bad
 * group or source type.
 */
int bffn_encode_row(const void *values, int source_type, long n, int type, long group, int asymmetric,
                    uint8_t *out, float *decoded, bffn_error_sums *err);

/* How q8/q4 scales (and offsets) are chosen (the values of the `search` argument): round to nearest from the
 * group's extremes (NONE); or the importance-weighted search of formats/bfpk.md, "Choosing scales", with
 * weights x^2 (SQUARES) or the given per-element importance (COLUMNS). */
enum { BFFN_SEARCH_NONE = 0, BFFN_SEARCH_SQUARES = 1, BFFN_SEARCH_COLUMNS = 2 };

/*
 * bffn_encode_row with the scale search `search`; `importance` holds n non-negative weights (one per element of
 * the row) for BFFN_SEARCH_COLUMNS and is ignored otherwise. The row bytes have the same layout; only the group
 * scales and offsets differ. Returns 0, or -1 for a bad group, source type or search (or no memory).
 */
int bffn_encode_row_weighted(const void *values, int source_type, long n, int type, long group, int asymmetric,
                             int search, const float *importance, uint8_t *out, float *decoded, bffn_error_sums *err);

/*
 * The searches themselves, on one group of g float values x with weights w (exposed for the tests). Each
 * returns the scale (and offset) whose codes, rounded to nearest as the encoder rounds them, give the smallest
 * sum of w_i (decoded_i - x_i)^2 (in double, element order) among round to nearest's own (the value passed in)
 * and the candidates of formats/bfpk.md, "Choosing scales"; ties keep the earlier candidate.
 * Symmetric: codes in lo...hi (q8: -127...127, q4: -8...7), decoded q * scale.
 */
float bffn_search_symmetric(const float *x, const float *w, long g, int hi, int lo, float nearest_scale);
/* Asymmetric q4: codes 0...15, decoded fma(q, scale, offset); *scale and *offset hold round to nearest's on entry. */
void bffn_search_asymmetric(const float *x, const float *w, long g, float *scale, float *offset);

/* Bytes of one q4k row of n elements (n a multiple of 32): 4 per super-block of up to 256, ceil(3 n / 64) of
 * 12-bit sub-block fields, n / 2 of codes. */
long bffn_q4k_row_bytes(long n);
/*
 * Encodes one q4k row of n float values (n a multiple of 32) into out (bffn_q4k_row_bytes(n) bytes), adds the
 * error to *err and writes the decoded values when `decoded` is not NULL. `search` as for
 * bffn_encode_row_weighted: NONE takes each sub-block's extremes and unit weights for the choice of its 6-bit
 * scale and min; SQUARES and COLUMNS run the asymmetric search per sub-block and weigh every choice by x^2 or
 * `importance`. Returns 0, or -1 for a bad n or search.
 */
int bffn_encode_q4k_row(const float *x, long n, int search, const float *importance, uint8_t *out, float *decoded,
                        bffn_error_sums *err);

/* Bytes of one q5k row of n elements (a multiple of 32): 2 per super-block, ceil(6 n / 256) of 6-bit sub-block
 * scales, n / 2 of low nibbles, n / 8 of high bits (formats/bfpk.md, "Q5K rows"). */
long bffn_q5k_row_bytes(long n);
/* Encodes one q5k row (symmetric: value = (q - 16) * d * sc); arguments as bffn_encode_q4k_row. */
int bffn_encode_q5k_row(const float *x, long n, int search, const float *importance, uint8_t *out, float *decoded,
                        bffn_error_sums *err);

/* Bytes of one q6k row of n elements (a multiple of 32): 2 per super-block, n / 32 of 8-bit sub-block scales, n / 2
 * of low nibbles, n / 4 of high bit pairs (formats/bfpk.md, "Q6K rows"). */
long bffn_q6k_row_bytes(long n);
/* Encodes one q6k row (symmetric: value = (u - 32) * d * sc); arguments as bffn_encode_q4k_row. */
int bffn_encode_q6k_row(const float *x, long n, int search, const float *importance, uint8_t *out, float *decoded,
                        bffn_error_sums *err);

/* Bytes of one q3k row of n elements (a multiple of 16): 2 per super-block, ceil(6 n / 128) of 6-bit sub-block
 * fields (5-bit scale and a mirror bit per 16), n / 4 of low bit pairs, n / 8 of high bits (formats/bfpk.md, "Q3K
 * rows"). */
long bffn_q3k_row_bytes(long n);
/* Encodes one q3k row (value = c * d * sc, c = u - 4, or 4 - u in a mirrored sub-block); arguments as
 * bffn_encode_q4k_row, except that n is a multiple of 16. */
int bffn_encode_q3k_row(const float *x, long n, int search, const float *importance, uint8_t *out, float *decoded,
                        bffn_error_sums *err);
#endif
