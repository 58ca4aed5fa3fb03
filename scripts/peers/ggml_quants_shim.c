// The few symbols ggml-quants.c needs from ggml.c, and three entry points, so that compare_quantizers.py can load
// llama.cpp's CPU quantizers (ggml-quants.c of the llama-cpp-python sdist, compiled beside this file) with ctypes
// without building ggml. Only the types the comparison uses are known here: Q3_K ... Q6_K, and Q4_0, Q5_0, Q5_1,
// Q8_0 (what llama-quantize stores instead of Q3_K, Q4_K, Q5_K, Q6_K when a row is not a multiple of 256).
#define GGML_COMMON_DECL_C
#include "ggml-common.h"
#include "ggml.h"
#include "ggml-quants.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef size_t (*quantize_fn)(const float *, void *, int64_t, int64_t, const float *);
typedef void (*dequantize_fn)(const void *, float *, int64_t);

struct peer_type {
    enum ggml_type type;
    const char * name;
    int64_t block;  // elements a block
    size_t size;    // bytes a block
    quantize_fn quantize;
    dequantize_fn dequantize;
};

static const struct peer_type TYPES[] = {
    {GGML_TYPE_Q3_K, "q3_K", QK_K, sizeof(block_q3_K), quantize_q3_K, (dequantize_fn) dequantize_row_q3_K},
    {GGML_TYPE_Q4_K, "q4_K", QK_K, sizeof(block_q4_K), quantize_q4_K, (dequantize_fn) dequantize_row_q4_K},
    {GGML_TYPE_Q5_K, "q5_K", QK_K, sizeof(block_q5_K), quantize_q5_K, (dequantize_fn) dequantize_row_q5_K},
    {GGML_TYPE_Q6_K, "q6_K", QK_K, sizeof(block_q6_K), quantize_q6_K, (dequantize_fn) dequantize_row_q6_K},
    {GGML_TYPE_Q4_0, "q4_0", QK4_0, sizeof(block_q4_0), quantize_q4_0, (dequantize_fn) dequantize_row_q4_0},
    {GGML_TYPE_Q5_0, "q5_0", QK5_0, sizeof(block_q5_0), quantize_q5_0, (dequantize_fn) dequantize_row_q5_0},
    {GGML_TYPE_Q5_1, "q5_1", QK5_1, sizeof(block_q5_1), quantize_q5_1, (dequantize_fn) dequantize_row_q5_1},
    {GGML_TYPE_Q8_0, "q8_0", QK8_0, sizeof(block_q8_0), quantize_q8_0, (dequantize_fn) dequantize_row_q8_0},
};

static const struct peer_type * find(int type) {
    for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); ++i) {
        if ((int) TYPES[i].type == type) {
            return &TYPES[i];
        }
    }
    return NULL;
}

void ggml_abort(const char * file, int line, const char * fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "ggml_abort %s:%d: ", file, line);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    abort();
}

size_t ggml_type_size(enum ggml_type type) {
    const struct peer_type * t = find((int) type);
    if (t == NULL) {
        ggml_abort(__FILE__, __LINE__, "type %d is not known to the shim", (int) type);
    }
    return t->size;
}

const char * ggml_type_name(enum ggml_type type) {
    const struct peer_type * t = find((int) type);
    return t == NULL ? "unknown" : t->name;
}

size_t ggml_row_size(enum ggml_type type, int64_t ne) {
    const struct peer_type * t = find((int) type);
    if (t == NULL || ne % t->block != 0) {
        ggml_abort(__FILE__, __LINE__, "type %d: no rows of %lld", (int) type, (long long) ne);
    }
    return t->size * (size_t) (ne / t->block);
}

// Bytes of one row of n_per_row elements; 0 for a type the shim does not know or a row its blocks do not divide.
size_t peers_row_size(int type, int64_t n_per_row) {
    const struct peer_type * t = find(type);
    return t == NULL || n_per_row % t->block != 0 ? 0 : t->size * (size_t) (n_per_row / t->block);
}

// quantize_<type>(src, dst, nrows, n_per_row, imatrix), as llama-quantize calls it: imatrix NULL or one vector of
// n_per_row importances for every row. With per_row, imatrix holds one vector per row (nrows × n_per_row, row-major)
// and each row is quantized alone with its own. Returns the bytes written (0 for an unknown type).
size_t peers_quantize(int type, const float * src, void * dst, int64_t nrows, int64_t n_per_row,
                      const float * imatrix, int per_row) {
    const struct peer_type * t = find(type);
    if (t == NULL || n_per_row % t->block != 0) {
        return 0;
    }
    if (imatrix == NULL || !per_row) {
        return t->quantize(src, dst, nrows, n_per_row, imatrix);
    }
    const size_t row_size = ggml_row_size(t->type, n_per_row);
    char * out = (char *) dst;
    for (int64_t r = 0; r < nrows; ++r) {
        t->quantize(src + r * n_per_row, out + (size_t) r * row_size, 1, n_per_row, imatrix + r * n_per_row);
    }
    return (size_t) nrows * row_size;
}

// dequantize_row_<type> over k elements of consecutive blocks (k a multiple of the block). 0, or −1 when unknown.
int peers_dequantize(int type, const void * src, float * dst, int64_t k) {
    const struct peer_type * t = find(type);
    if (t == NULL || k % t->block != 0) {
        return -1;
    }
    t->dequantize(src, dst, k);
    return 0;
}
