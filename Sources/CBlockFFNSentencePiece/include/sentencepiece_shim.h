// A C interface to Debian's libsentencepiece (C++), so Swift can call it: load a model from bytes, encode, decode,
// and read the pieces. Every function catches C++ exceptions; errors come back as a message in `err`.
#ifndef BFFN_SENTENCEPIECE_SHIM_H
#define BFFN_SENTENCEPIECE_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bffn_sp bffn_sp;

/// Loads a serialized ModelProto (`tokenizer.model` bytes). NULL on failure, with the reason in err.
bffn_sp *bffn_sp_load(const void *bytes, size_t count, char *err, size_t err_size);
void bffn_sp_free(bffn_sp *sp);

/// The number of pieces.
int32_t bffn_sp_piece_count(const bffn_sp *sp);
/// Copies the UTF-8 of piece `id` into buf (up to size bytes); returns the piece's full length in bytes.
size_t bffn_sp_piece(const bffn_sp *sp, int32_t id, char *buf, size_t size);
/// 0 unk, 1 bos, 2 eos, 3 pad; -1 when the model has none.
int32_t bffn_sp_special_id(const bffn_sp *sp, int32_t which);

/// Encodes UTF-8 text. On success returns 0 and a malloc'd array of ids (free with bffn_sp_release).
int bffn_sp_encode(const bffn_sp *sp, const char *text, size_t count, int32_t **ids, size_t *id_count, char *err, size_t err_size);
/// Decodes ids. On success returns 0 and a malloc'd UTF-8 buffer (free with bffn_sp_release).
int bffn_sp_decode(const bffn_sp *sp, const int32_t *ids, size_t id_count, char **text, size_t *count, char *err, size_t err_size);
void bffn_sp_release(void *p);

#ifdef __cplusplus
}
#endif
#endif
