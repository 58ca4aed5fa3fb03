// The C interface in 30 lines: open a model, stream a reply, print the result document's stop reason.
//   cc -I include Examples/C/generate.c -L .build/debug -lbffnc -Wl,-rpath,$PWD/.build/debug -o generate
//   ./generate fixtures/trained "def add(a, b):"
#include "bffn.h"
#include <stdio.h>
#include <string.h>

static int print_piece(const char *piece, size_t length, void *user_data) {
    (void)user_data;
    fwrite(piece, 1, length, stdout);
    return 0;  // non-zero would stop generation here
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s MODEL PROMPT\n", argv[0]); return 2; }
    bffn_model *model = NULL;
    if (bffn_model_open(argv[1], "{\"threads\": 2}", &model) != BFFN_OK) {
        fprintf(stderr, "bffn: %s\n", bffn_last_error_message());
        return 1;
    }
    char prompt[1024];
    snprintf(prompt, sizeof prompt, "{\"text\": \"%s\"}", argv[2]);  // (a real program escapes the text as JSON)
    char *result = NULL;
    printf("%s", argv[2]);
    int status = bffn_generate(model, prompt, "{\"max_new_tokens\": 24}", print_piece, NULL, &result);
    if (status == BFFN_OK) printf("\n-- %s", strstr(result, "\"stop_reason\""));
    else fprintf(stderr, "bffn: %s\n", bffn_last_error_message());
    bffn_string_free(result);
    bffn_model_close(model);
    return status == BFFN_OK ? 0 : 1;
}
