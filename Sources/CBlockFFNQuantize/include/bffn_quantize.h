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
enum { BFFN_ENCODE_F32 = 0, BFFN_ENCODE_F16 = 1, BFFN_ENCODE_BF16 = 2, BFFN_ENCODE_Q8 = 3, BFFN_ENCODE_Q4 = 4 };

/*
 * Encodes the n values at `values` (stored as `source_type`, widened to float exactly) of one row as `type`
 * into out (exactly the row's stored bytes), adds the error to *err, and, when decoded is not NULL, writes the
 * values the kernels will read back.
 * q8: one float32 scale per group, then n int8 codes. q4: the group scales, then (asymmetric) the group
 * offsets, then n/2 bytes, the even element in the low nibble. group must be a multiple of 8 dividing n
 * (q8/q4); for the float types n is any count and group is ignored. Returns 0, or -1 for a bad group or
 * source type.
 */
int bffn_encode_row(const void *values, int source_type, long n, int type, long group, int asymmetric,
                    uint8_t *out, float *decoded, bffn_error_sums *err);
#endif
