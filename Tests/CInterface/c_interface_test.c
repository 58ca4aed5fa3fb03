// Exercises every function of include/bffn.h, with the errors and misuse a C caller can commit. Run by
// scripts/check-c-interface.sh (and under AddressSanitizer by scripts/sanitize.sh):
//   c_interface_test MODEL_DIR EXPECTED_IDS EXPECTED_GENERATED REFERENCE_SAFETENSORS WORK_DIR
// EXPECTED_IDS: the comma-separated ids of "def add(a, b):" (no special tokens); EXPECTED_GENERATED: the 12 greedy
// ids after that prompt; both as `bffn tokenize` / `bffn generate` give them.
#include "bffn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fprintf(stderr, " [last error: %s]\n", bffn_last_error_message()); } } while (0)

// Parses "1,2,3" into ids; returns the count.
static size_t parse_ids(const char *text, int32_t *out, size_t capacity) {
    size_t n = 0;
    const char *p = text;
    while (*p && n < capacity) {
        out[n++] = (int32_t)strtol(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    return n;
}

struct pieces { char text[4096]; size_t used; int calls; int stop_after; };

static int collect(const char *piece, size_t length, void *user) {
    struct pieces *p = user;
    if (strlen(piece) != length) { failures++; fprintf(stderr, "FAIL: piece length %zu is not strlen %zu\n", length, strlen(piece)); }
    if (p->used + length < sizeof p->text) { memcpy(p->text + p->used, piece, length); p->used += length; p->text[p->used] = 0; }
    p->calls++;
    return p->stop_after > 0 && p->calls >= p->stop_after;
}

// The "generated_ids" list of a generate result, as text between the brackets with spaces and newlines removed.
static void generated_ids(const char *json, char *out, size_t capacity) {
    out[0] = 0;
    const char *p = strstr(json, "\"generated_ids\"");
    if (!p || !(p = strchr(p, '['))) return;
    size_t n = 0;
    for (p++; *p && *p != ']' && n + 1 < capacity; p++) if (*p != ' ' && *p != '\n') out[n++] = *p;
    out[n] = 0;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: %s MODEL_DIR EXPECTED_IDS EXPECTED_GENERATED REFERENCE WORK_DIR\n", argv[0]); return 2; }
    const char *model_dir = argv[1], *expected_ids = argv[2], *expected_generated = argv[3], *reference = argv[4], *work = argv[5];

    // Versions.
    CHECK(bffn_abi_version() == BFFN_ABI_VERSION, "abi %d", bffn_abi_version());
    CHECK(strlen(bffn_version()) >= 5 && strchr(bffn_version(), '.') != NULL, "version '%s'", bffn_version());

    // Opening: misuse and bad input are errors with messages, never crashes.
    bffn_model *model = (bffn_model *)0x1;
    CHECK(bffn_model_open(NULL, NULL, &model) == BFFN_ERROR_USAGE && model == NULL, "NULL path");
    CHECK(strstr(bffn_last_error_message(), "path") != NULL, "message names the parameter");
    CHECK(bffn_model_open(model_dir, NULL, NULL) == BFFN_ERROR_USAGE, "NULL out_model");
    CHECK(bffn_model_open("/nonexistent/model", NULL, &model) == BFFN_ERROR_IO && model == NULL, "missing model");
    CHECK(strstr(bffn_last_error_message(), "/nonexistent/model") != NULL && strcmp(bffn_last_error_name(), "io") == 0, "message names the file");
    CHECK(bffn_last_error_code() == BFFN_ERROR_IO, "last code");
    CHECK(bffn_model_open(model_dir, "{\"threads\": ", &model) == BFFN_ERROR_TRUNCATED, "truncated options JSON");
    CHECK(bffn_model_open(model_dir, "{\"thread\": 1}", &model) == BFFN_ERROR_USAGE, "misspelt option");
    CHECK(strstr(bffn_last_error_message(), "thread") != NULL, "names the member");
    CHECK(bffn_model_open(model_dir, "{\"threads\": 0}", &model) != BFFN_OK, "threads out of range");
    CHECK(bffn_model_open(model_dir, "{\"speculative\": \"bogus\"}", &model) == BFFN_ERROR_USAGE, "unknown drafter");
    CHECK(bffn_model_open(model_dir, "{\"threads\": 1}", &model) == BFFN_OK && model != NULL, "open");
    CHECK(bffn_last_error_code() == BFFN_OK && bffn_last_error_message()[0] == 0, "success clears the last error");

    // Tokenize and detokenize.
    const char *text = "def add(a, b):";
    int32_t *ids = NULL; size_t count = 0;
    CHECK(bffn_tokenize(model, text, 0, &ids, &count) == BFFN_OK, "tokenize");
    int32_t want[64]; size_t want_count = parse_ids(expected_ids, want, 64);
    CHECK(count == want_count && ids && memcmp(ids, want, count * sizeof *ids) == 0, "ids differ from bffn tokenize (%zu vs %zu)", count, want_count);
    char *back = NULL;
    CHECK(bffn_detokenize(model, ids, count, 0, &back) == BFFN_OK && back && strcmp(back, text) == 0, "round trip '%s'", back ? back : "(null)");
    bffn_string_free(back);
    bffn_ids_free(ids);
    CHECK(bffn_tokenize(model, "", 0, &ids, &count) == BFFN_OK && count == 0 && ids == NULL, "empty text");
    CHECK(bffn_tokenize(model, NULL, 0, &ids, &count) == BFFN_ERROR_USAGE, "NULL text");
    CHECK(bffn_tokenize(NULL, text, 0, &ids, &count) == BFFN_ERROR_USAGE, "NULL model");
    int32_t bad[] = {1, 2000000};
    CHECK(bffn_detokenize(model, bad, 2, 0, &back) != BFFN_OK && back == NULL, "id beyond the vocabulary");
    CHECK(bffn_detokenize(model, NULL, 3, 0, &back) == BFFN_ERROR_USAGE, "NULL ids with a count");
    CHECK(bffn_detokenize(model, NULL, 0, 0, &back) == BFFN_OK && back && back[0] == 0, "no ids: empty text");
    bffn_string_free(back);

    // Generate: the CLI's tokens, the streamed text equal to the result's, and stopping from the callback.
    struct pieces got = {0};
    char *result = NULL;
    CHECK(bffn_generate(model, "{\"text\": \"def add(a, b):\"}", "{\"max_new_tokens\": 12}", collect, &got, &result) == BFFN_OK && result, "generate");
    char ids_text[512];
    if (result) {
        generated_ids(result, ids_text, sizeof ids_text);
        CHECK(strcmp(ids_text, expected_generated) == 0, "generated %s, bffn generate gave %s", ids_text, expected_generated);
        CHECK(strstr(result, "\"stop_reason\"") != NULL, "result has stop_reason");
        CHECK(got.calls > 0 && got.used > 0, "callback called");
    }
    bffn_string_free(result);
    struct pieces stopped = {.stop_after = 2};
    CHECK(bffn_generate(model, "{\"ids\": [1, 475, 765]}", "{\"max_new_tokens\": 40, \"ignore_eos\": true}", collect, &stopped, &result) == BFFN_OK, "generate with stop");
    CHECK(result && strstr(result, "\"cancelled\"") != NULL && stopped.calls == 2, "stopped by the callback after %d calls", stopped.calls);
    bffn_string_free(result);
    CHECK(bffn_generate(model, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "{\"max_new_tokens\": 2}", NULL, NULL, NULL) == BFFN_OK, "chat, no callback, no result");
    CHECK(bffn_generate(model, "{\"text\": \"x\", \"ids\": [1]}", NULL, NULL, NULL, NULL) == BFFN_ERROR_USAGE, "two prompts");
    CHECK(bffn_generate(model, "{\"text\": \"x\"}", "{\"temperature\": \"hot\"}", NULL, NULL, NULL) == BFFN_ERROR_USAGE, "wrong type");
    CHECK(bffn_generate(model, "{\"ids\": []}", NULL, NULL, NULL, NULL) == BFFN_ERROR_USAGE, "empty prompt");
    CHECK(bffn_generate(model, NULL, NULL, NULL, NULL, NULL) == BFFN_ERROR_USAGE, "no prompt");

    // Closed handles are refused; closing twice or closing NULL does nothing.
    bffn_model_close(model);
    CHECK(bffn_tokenize(model, text, 0, &ids, &count) == BFFN_ERROR_USAGE, "closed handle");
    CHECK(strstr(bffn_last_error_message(), "not an open") != NULL, "says the handle is not open");
    bffn_model_close(model);
    bffn_model_close(NULL);

    // Inspect.
    char *json = NULL;
    CHECK(bffn_inspect(model_dir, 0, &json) == BFFN_OK && json && strstr(json, "\"format\"") && strstr(json, "\"tokenizer\""), "inspect");
    bffn_string_free(json);
    CHECK(bffn_inspect("/nonexistent.safetensors", 0, &json) == BFFN_ERROR_IO && json == NULL, "inspect a missing file");
    CHECK(bffn_inspect(model_dir, 0, NULL) == BFFN_ERROR_USAGE, "NULL out_json");

    // Convert (atomic, refuses to replace without force) and verify the result.
    char pack[1024];
    snprintf(pack, sizeof pack, "%s/c-interface-q8.bfpk", work);
    char *report = NULL;
    CHECK(bffn_convert(model_dir, pack, "{\"quant\": \"q8\", \"threads\": 1, \"force\": true}", &report) == BFFN_OK && report && strstr(report, "\"file_bytes\"") && strstr(report, "\"schema\": 1"), "convert");
    bffn_string_free(report);
    CHECK(bffn_convert(model_dir, pack, "{\"quant\": \"q8\"}", &report) == BFFN_ERROR_EXISTS && report == NULL, "convert onto an existing file");
    CHECK(bffn_convert(model_dir, pack, "{\"quant\": \"q9\"}", NULL) == BFFN_ERROR_USAGE, "unknown scheme");
    CHECK(bffn_verify(pack, model_dir, "{\"threads\": 1, \"max_new_tokens\": 4}", &report) == BFFN_OK && report && strstr(report, "\"passed\": true"), "verify");
    bffn_string_free(report);
    CHECK(bffn_verify(pack, NULL, NULL, &report) == BFFN_ERROR_USAGE, "NULL reference");

    // Tensors.
    bffn_tensors *tensors = NULL;
    CHECK(bffn_tensors_open(reference, &tensors) == BFFN_OK && tensors, "tensors open");
    size_t n = bffn_tensors_count(tensors);
    CHECK(n > 0, "tensor count");
    const char *name = NULL, *dtype = NULL; size_t rank = 0; const int64_t *shape = NULL; const void *data = NULL; size_t bytes = 0;
    CHECK(bffn_tensor_info(tensors, 0, &name, &dtype, &rank, &shape, &data, &bytes) == BFFN_OK && name && dtype && data, "tensor info");
    if (shape && dtype) {
        size_t elements = 1;
        for (size_t i = 0; i < rank; i++) elements *= (size_t)shape[i];
        size_t width = strcmp(dtype, "F32") == 0 || strcmp(dtype, "I32") == 0 ? 4 : strcmp(dtype, "I64") == 0 || strcmp(dtype, "F64") == 0 ? 8 : strcmp(dtype, "BF16") == 0 || strcmp(dtype, "F16") == 0 ? 2 : 1;
        CHECK(elements * width == bytes, "%s %s: %zu elements x %zu bytes != %zu", name, dtype, elements, width, bytes);
    }
    CHECK(bffn_tensor_info(tensors, n, &name, &dtype, &rank, &shape, &data, &bytes) == BFFN_ERROR_LIMIT, "index out of range");
    bffn_tensors_close(tensors);
    CHECK(bffn_tensors_count(tensors) == 0, "closed tensors count 0");
    CHECK(bffn_tensors_open("/nonexistent.safetensors", &tensors) == BFFN_ERROR_IO && tensors == NULL, "missing file");
    CHECK(bffn_tensors_open(NULL, &tensors) == BFFN_ERROR_USAGE, "NULL path");

    if (failures) { fprintf(stderr, "%d check(s) failed\n", failures); return 1; }
    printf("ok C interface: every function of bffn.h, errors and misuse included\n");
    return 0;
}
