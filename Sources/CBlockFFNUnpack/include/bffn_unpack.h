#ifndef BFFN_UNPACK_H
#define BFFN_UNPACK_H
/*
 * Quantized codes to float32, eight at a time, in C vector extensions (Swift's SIMD shifts and integer-to-float
 * conversions compile to scalar or lane-by-lane code; these compile to a handful of vector instructions: with
 * AVX2, vpbroadcastd + vpsrlvd + vpand + vcvtdq2ps for int4, vpmovsxbd + vcvtdq2ps for int8). Header-only and
 * static inline so Swift inlines them into the kernels. The results are exact small integers, so they are the
 * same values on every instruction set; scales and offsets are applied by the Swift loaders.
 */
#include <string.h>

typedef float bffn_float8 __attribute__((ext_vector_type(8)));
typedef int bffn_int8 __attribute__((ext_vector_type(8)));
typedef unsigned int bffn_uint8 __attribute__((ext_vector_type(8)));
typedef signed char bffn_schar8 __attribute__((ext_vector_type(8)));

/* The eight 4-bit codes in the 4 bytes at p (element 2i in the low nibble of byte i), as floats 0...15. */
static inline __attribute__((always_inline)) bffn_float8 bffn_unpack_nibbles8(const void *p) {
    unsigned int word;
    memcpy(&word, p, 4);
    const bffn_uint8 shifts = {0, 4, 8, 12, 16, 20, 24, 28};
    bffn_uint8 codes = ((bffn_uint8)word >> shifts) & 15u;
    return __builtin_convertvector((bffn_int8)codes, bffn_float8);
}

/* The eight bits of the byte at p (element i in bit i) as floats 0 or 1 (q5k's high bits). */
static inline __attribute__((always_inline)) bffn_float8 bffn_unpack_bits8(const void *p) {
    unsigned char byte;
    memcpy(&byte, p, 1);
    const bffn_uint8 shifts = {0, 1, 2, 3, 4, 5, 6, 7};
    bffn_uint8 bits = ((bffn_uint8)(unsigned int)byte >> shifts) & 1u;
    return __builtin_convertvector((bffn_int8)bits, bffn_float8);
}

/* The eight 2-bit fields in the 2 bytes at p (element i in bits 2(i mod 4) ... of byte i / 4) as floats 0...3 (q6k's
 * high bit pairs, q3k's low bit pairs). */
static inline __attribute__((always_inline)) bffn_float8 bffn_unpack_pairs8(const void *p) {
    unsigned short half;
    memcpy(&half, p, 2);
    const bffn_uint8 shifts = {0, 2, 4, 6, 8, 10, 12, 14};
    bffn_uint8 pairs = ((bffn_uint8)(unsigned int)half >> shifts) & 3u;
    return __builtin_convertvector((bffn_int8)pairs, bffn_float8);
}

/* The eight signed bytes at p as floats -128...127. */
static inline __attribute__((always_inline)) bffn_float8 bffn_unpack_bytes8(const void *p) {
    bffn_schar8 codes;
    memcpy(&codes, p, 8);
    return __builtin_convertvector(codes, bffn_float8);
}
#endif
