/*
 * bffn.h: the C interface of bffn, a toolkit for BlockFFN model checkpoints (libbffnc.so / libbffnc.dylib).
 *
 * Conventions
 *   - Every function that can fail returns an int status: BFFN_OK (0) or one of the BFFN_ERROR_* codes. The
 *     message of the last failure on the calling thread (naming the file, the field and the byte offset where
 *     they are known) is bffn_last_error_message(); it stays valid until the next bffn call on that thread.
 *   - Strings in and out are UTF-8 and NUL-terminated. Structured values (options, settings, reports) are JSON
 *     text, spelled as `bffn ... --json` prints them (docs/json.md) and as docs/api.md describes the inputs.
 *   - Ownership: a char* or int32_t* returned through an out-parameter belongs to the caller, who frees it with
 *     bffn_string_free / bffn_ids_free. Handles are opaque; each *_open/_close pair owns one. NULL handles and
 *     NULL required pointers are refused with BFFN_ERROR_USAGE, never dereferenced; closing NULL does nothing.
 *   - Threads: a model handle may be used from several threads; calls on one model run one at a time (a second
 *     caller waits), or with the "parallel_sequences" option generations are decoded together. Different models
 *     are independent.
 *   - Compatibility: BFFN_ABI_VERSION grows when a function here changes its signature or meaning; functions
 *     may be added without changing it. bffn_abi_version() reports the library's, to compare with the header's.
 */
#ifndef BFFN_H
#define BFFN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BFFN_ABI_VERSION 1

/* Status codes (the `code` of bffn's JSON errors in parentheses). */
enum {
    BFFN_OK = 0,
    BFFN_ERROR_USAGE = 1,            /* (usage) a wrong argument or option, a NULL handle */
    BFFN_ERROR_IO = 2,               /* (io) a file could not be opened, read or written */
    BFFN_ERROR_TRUNCATED = 3,        /* (truncated) a file ends early */
    BFFN_ERROR_MALFORMED = 4,        /* (malformed, invalid_json, bad_layout, duplicate_name, unknown_dtype, ...) */
    BFFN_ERROR_UNSUPPORTED = 5,      /* (unsupported, forbidden_global) */
    BFFN_ERROR_CHECKSUM = 6,         /* (checksum_mismatch) */
    BFFN_ERROR_LIMIT = 7,            /* (limit_exceeded, budget_exceeded, out_of_bounds, shape_mismatch) */
    BFFN_ERROR_CONFIG = 8,           /* (invalid_config, missing_tensor) */
    BFFN_ERROR_EXISTS = 9,           /* (output_exists) */
    BFFN_ERROR_VERIFICATION = 10,    /* (verification_failed) */
    BFFN_ERROR_INTERNAL = 11,        /* (internal) a bug to report */
    BFFN_ERROR_TEMPLATE = 12         /* (template_syntax, template_raised, template_error) a chat template failed */
};

/* Versions: the release ("0.1.0"; a static string) and the library's ABI version. */
const char *bffn_version(void);
int bffn_abi_version(void);

/* The last failure on this thread: its status code (BFFN_OK when the last call succeeded), its message ("" when
 * none), and its code as bffn's JSON errors spell it ("io", "malformed", ...; "" when none). */
int bffn_last_error_code(void);
const char *bffn_last_error_message(void);
const char *bffn_last_error_name(void);

/* Frees what bffn returned (NULL does nothing). */
void bffn_string_free(char *text);
void bffn_ids_free(int32_t *ids);

/* ---- Models ---------------------------------------------------------------------------------------------- */

typedef struct bffn_model bffn_model;

/* Opens a model: a .bfpk pack, a checkpoint (folder, .safetensors, .bin, shard index) or ORG/NAME in the local
 * Hugging Face cache. options_json may be NULL or a JSON object with any of: "threads" (int), "memory_budget"
 * (bytes, int, or a string like "64M"), "speculative" ("none", "ngram", "draft:PATH", "eagle", "eagle:PATH"),
 * "fixed_draft" (bool), "activations" ("auto", "float", "int8", "bf16"), "kv_cache" ("f32", "bf16"),
 * "tokenizer" (a path), "parallel_sequences" (int 1...256: up to this many bffn_generate calls made at once from
 * several threads are decoded together in shared forward passes, each getting the tokens it gets alone; without it
 * they run one after another). On success *out_model is a handle to close with bffn_model_close. */
int bffn_model_open(const char *path, const char *options_json, bffn_model **out_model);
void bffn_model_close(bffn_model *model);

/* Text to token ids with the model's tokenizer (add_special: add bos/eos as its configuration says). On success
 * *out_ids (free with bffn_ids_free; NULL when *out_count is 0) holds *out_count ids. */
int bffn_tokenize(bffn_model *model, const char *text, int add_special, int32_t **out_ids, size_t *out_count);

/* Token ids to text (skip_special: leave out bos, eos, pad and unk). *out_text: free with bffn_string_free. */
int bffn_detokenize(bffn_model *model, const int32_t *ids, size_t count, int skip_special, char **out_text);

/* Called with each piece of generated text (UTF-8, `length` bytes, also NUL-terminated) as tokens are accepted;
 * return 0 to go on, non-zero to stop after the current token (stop_reason "cancelled"). */
typedef int (*bffn_text_callback)(const char *piece, size_t length, void *user_data);

/* Generates. prompt_json: {"text": "..."} | {"ids": [1, 2, 3]} | {"messages": [{"role": "system"|"user"|
 * "assistant", "content": "..."}]}. settings_json may be NULL or an object with any of "max_new_tokens",
 * "temperature", "top_k", "top_p", "min_p", "seed", "repeat_penalty", "repeat_last_n", "stop" (a list of
 * strings), "ignore_eos", "logprobs" (0...20 alternatives). callback may be NULL. On success *out_result_json (may
 * be NULL when not wanted) is `bffn generate --json`'s document: prompt_ids, generated_ids, text, stop_reason,
 * speeds, speculative figures, and with "logprobs" one {"id", "logprob", "top": [{"id", "logprob"}]} per
 * generated id. */
int bffn_generate(bffn_model *model, const char *prompt_json, const char *settings_json, bffn_text_callback callback,
                  void *user_data, char **out_result_json);

/* ---- Files ----------------------------------------------------------------------------------------------- */

/* `bffn inspect PATH --json`'s document (check: also read every byte and verify every checksum). */
int bffn_inspect(const char *path, int check, char **out_json);

/* `bffn convert SOURCE -o OUTPUT --json`'s report. options_json may be NULL or an object with any of "quant"
 * (a recipe as `--quant` names it: "q4", "q4_k_m", "q5_k_m", "q6_k", "q3_k_m", "q4-all", "q8"; or a storage for
 * every class: "f32", "f16", "bf16", "q8/row", "q4k", "q4/g64/sym", ...), "overrides" (scope to storage:
 * {"head": "q8", "experts.down": "q6k", "attention@0-2": "q8"}),
 * "alignment" (bytes), "threads", "force" (bool: replace an existing output). The pack is written atomically. */
int bffn_convert(const char *source, const char *output, const char *options_json, char **out_report_json);

/* `bffn verify MODEL --reference REFERENCE --json`'s report. options_json may be NULL or an object with any of
 * "threads", "text" (a text file to score), "max_new_tokens". A model that fails its thresholds is not an error:
 * the report says "passed": false. */
int bffn_verify(const char *model, const char *reference, const char *options_json, char **out_report_json);

/* ---- Tensors ------------------------------------------------------------------------------------------------ */

typedef struct bffn_tensors bffn_tensors;

/* Opens the tensors of a checkpoint (a .safetensors file, a sharded folder or index, a pytorch_model.bin read
 * without executing pickle) for reading. Data pointers point into the mapped files where the bytes are stored
 * row-major (no copy), else into buffers the handle owns; all stay valid until bffn_tensors_close. */
int bffn_tensors_open(const char *path, bffn_tensors **out_tensors);
size_t bffn_tensors_count(const bffn_tensors *tensors);
/* The index-th tensor in name order: name, dtype as safetensors spells it ("F32", "BF16", "I64", ...), rank and
 * shape (outermost first), its row-major bytes. Pointers stay valid until bffn_tensors_close. */
int bffn_tensor_info(const bffn_tensors *tensors, size_t index, const char **out_name, const char **out_dtype,
                     size_t *out_rank, const int64_t **out_shape, const void **out_data, size_t *out_bytes);
void bffn_tensors_close(bffn_tensors *tensors);

#ifdef __cplusplus
}
#endif

#endif /* BFFN_H */
