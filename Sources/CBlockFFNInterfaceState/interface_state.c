// Thread-local error state and the allocation helpers of the C interface. Including the public header checks these
// definitions against the declarations callers compile with.
#include "../../include/bffn.h"
#include "bffn_interface_state.h"

#include <stdlib.h>
#include <string.h>

enum { MESSAGE_BYTES = 4096, NAME_BYTES = 64 };

static _Thread_local int last_code = BFFN_OK;
static _Thread_local char last_message[MESSAGE_BYTES];
static _Thread_local char last_name[NAME_BYTES];

// Copies `text` into `out` (capacity bytes), cut at a UTF-8 character boundary when it does not fit.
static void copy_cut(char *out, size_t capacity, const char *text) {
    if (!text) { out[0] = 0; return; }
    size_t n = strlen(text);
    if (n >= capacity) {
        n = capacity - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;  // not inside a multi-byte character
    }
    memcpy(out, text, n);
    out[n] = 0;
}

void bffn_interface_set_error(int code, const char *name, const char *message) {
    last_code = code;
    copy_cut(last_name, NAME_BYTES, name);
    copy_cut(last_message, MESSAGE_BYTES, message);
}

void bffn_interface_clear_error(void) {
    last_code = BFFN_OK;
    last_name[0] = 0;
    last_message[0] = 0;
}

int bffn_last_error_code(void) { return last_code; }
const char *bffn_last_error_message(void) { return last_message; }
const char *bffn_last_error_name(void) { return last_name; }
void bffn_string_free(char *text) { free(text); }
void bffn_ids_free(int32_t *ids) { free(ids); }
int bffn_abi_version(void) { return BFFN_ABI_VERSION; }
