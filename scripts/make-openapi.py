#!/usr/bin/env python3
"""Writes docs/openapi.json: the OpenAPI 3.1 description of `bffn serve` (docs/server.md) as the server behaves.

The document is built here from Python values and written with a fixed layout (two-space indent, keys in the order
written below, UTF-8, a final newline), so the same script always gives the same bytes. `--check` compares instead
of writing and fails when the file is stale (and, where openapi-spec-validator is installed, when the document is
not valid OpenAPI 3.1); scripts/check-server.sh runs it, BFFNServerTests checks that the paths
it lists are exactly the routes the server registers and that each request schema names exactly the fields the
parser reads (CompletionRequest.fieldsRead), and scripts/fuzz-server-api.py drives and judges the server with it.

Request schemas say what Sources/BFFNServer/CompletionRequest.swift enforces: a value the schema refuses is a 400,
one it accepts is served, except for limits that depend on the model (the context length, the vocabulary, a chat
template that refuses a conversation), which are 400s the schema cannot state. Two rules are stricter than plain
JSON Schema, and the document says so: an integer field takes an integer literal only (2.0 or 1e3 is 400
invalid_type), and anywhere in a body integers must lie within ±(2^63 - 2) and keys must not hold U+0000 (400
invalid_json).
Usage: scripts/make-openapi.py [--check]
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "openapi.json")

with open(os.path.join(ROOT, "Sources", "BFFNPack", "PackWriter.swift"), encoding="utf-8") as f:
    VERSION = re.search(r'toolVersion = "([^"]+)"', f.read()).group(1)

INT64_MIN, INT64_MAX = -(2**63) + 1, 2**63 - 2  # json-c saturates at the extremes, which the server refuses
MAX_STOP = 16  # CompletionRequest.maxStopStrings
MAX_PROMPT_IDS = 1 << 20  # CompletionRequest.maxPromptIds


def ref(name):
    return {"$ref": "#/components/schemas/" + name}


def nullable(schema, description=None):
    """`schema` or null (null is the same as absent)."""
    out = {}
    if description:
        out["description"] = description
    out["anyOf"] = [schema, {"type": "null"}]
    return out


def integer(description, minimum=INT64_MIN, maximum=INT64_MAX):
    return nullable({"type": "integer", "minimum": minimum, "maximum": maximum}, description)


def number(description, **bounds):
    return nullable(dict({"type": "number"}, **bounds), description)


def boolean(description):
    return nullable({"type": "boolean"}, description)


# The fields both generation endpoints read, in the order CompletionRequest.parse reads them after the input.
COMMON_FIELDS = {
    "model": nullable({"type": "string"}, "Any name: the one model served answers, and responses carry its id."),
    "n": nullable({"type": "integer", "const": 1}, "Only 1 (400 unsupported_value otherwise)."),
    "best_of": nullable({"type": "integer", "const": 1}, "Only 1 (400 unsupported_value otherwise)."),
    "echo": nullable({"const": False}, "Only false (400 unsupported_value otherwise)."),
    "suffix": {"description": "Not supported: only absent or null (400 unsupported_value otherwise).", "type": "null"},
    "frequency_penalty": number("OpenAI's additive penalty is not implemented: only 0 (use repeat_penalty).", minimum=0, maximum=0),
    "presence_penalty": number("OpenAI's additive penalty is not implemented: only 0 (use repeat_penalty).", minimum=0, maximum=0),
    "max_tokens": integer("The most tokens to generate (default: the rest of the context). Prompt plus max_tokens beyond the "
                          "model's context is 400 context_length_exceeded.", 1),
    "max_completion_tokens": integer("As max_tokens, and wins when both are given (both are checked).", 1),
    "temperature": {"description": "0: greedy (argmax, ties to the lowest id); otherwise softmax(logits / T), T at least 1e-6 (below, "
                                   "1 / T could overflow). Default 1.",
                    "anyOf": [{"type": "number", "minimum": 0, "maximum": 0},
                              {"type": "number", "minimum": 1e-6, "maximum": 2}, {"type": "null"}]},
    "top_p": number("Nucleus sampling. Default 1.", exclusiveMinimum=0, maximum=1),
    "top_k": integer("Sample among the k most likely tokens (llama.cpp's name); 0: all. Default 0.", 0, 1_000_000),
    "min_p": number("Drop tokens below min_p times the most likely one's probability (llama.cpp's name). Default 0.",
                    minimum=0, maximum=1),
    "repeat_penalty": number("Logits of tokens seen in the last repeat_last_n are divided (positive) or multiplied (negative) "
                             "by it (bffn generate --repeat-penalty). Default 1.", minimum=0.01, maximum=100),
    "repeat_last_n": integer("The window of repeat_penalty: 0 none, -1 all. Default 64.", -1, 1_000_000),
    "seed": integer("The same seed and fields give the same tokens (the seed's bits read as unsigned). Default: random."),
    "stop": {"description": "Generation ends when the text contains one of these; the text is cut before it (finish_reason stop).",
             "anyOf": [{"type": "string", "minLength": 1},
                       {"type": "array", "maxItems": MAX_STOP, "items": {"type": "string", "minLength": 1}},
                       {"type": "null"}]},
    "ignore_eos": boolean("Go on past end-of-sequence tokens, up to max_tokens (llama-server's name). Default false."),
    "stream": boolean("Answer as server-sent events (text/event-stream). Default false."),
    "stream_options": nullable(ref("StreamOptions")),
}

CHAT_FIELDS = {"messages": {"type": "array", "minItems": 1, "items": ref("ChatMessage"),
                            "description": "The conversation, rendered with the model's chat template (or the published "
                                           "BlockFFN format without one)."},
               "logprobs": boolean("Each generated token's log-probability in choices[0].logprobs.content (docs/server.md, "
                                   "Log-probabilities). Default false."),
               "top_logprobs": integer("Alternatives per token, 0...20; above 0 it asks for log-probabilities even without "
                                       "logprobs: true (which OpenAI requires).", 0, 20)}
COMPLETION_FIELDS = {"prompt": {"description": "Text (encoded as bffn generate --prompt encodes it), a list of one text, or token "
                                               "ids (each below the model's vocabulary size: 400 invalid_value otherwise). Several "
                                               "prompts are 400 unsupported_value.",
                                "anyOf": [{"type": "string"},
                                          {"type": "array", "minItems": 1, "maxItems": 1, "items": {"type": "string"}},
                                          {"type": "array", "minItems": 1, "maxItems": MAX_PROMPT_IDS,
                                           "items": {"type": "integer", "minimum": 0, "maximum": INT64_MAX}}]},
                     "logprobs": {"description": "Each generated token's log-probability with this many alternatives, 0...5, in "
                                                 "choices[0].logprobs (docs/server.md, Log-probabilities); false or null: none.",
                                  "anyOf": [{"type": "integer", "minimum": 0, "maximum": 5}, {"const": False}, {"type": "null"}]}}


def request_schema(description, required, fields):
    return {"description": description, "type": "object", "required": [required],
            "properties": dict(fields, **COMMON_FIELDS), "additionalProperties": True}


ERROR_TYPES = ["invalid_request_error", "authentication_error", "not_found_error", "rate_limit_error", "server_error"]


def finish_reason(nullable_):
    values = ["stop", "length"] + ([None] if nullable_ else [])
    return {"description": "length: max_tokens or the context ended the text; stop: an end-of-sequence token or a stop string."
                           + (" null until the last chunk of a choice." if nullable_ else ""), "enum": values}


ENVELOPE = {
    "id": None,
    "object": None,
    "created": {"type": "integer", "minimum": 0, "description": "Unix seconds when the request arrived."},
    "model": {"type": "string", "description": "The served model's id (--model-name)."},
    "system_fingerprint": {"type": "string", "pattern": "^bffn-"},
    "choices": None,
}


def envelope(id_prefix, object_, choices, usage_required):
    props = dict(ENVELOPE)
    props["id"] = {"type": "string", "pattern": "^" + id_prefix, "description": "The same in every chunk of one response."}
    props["object"] = {"const": object_}
    props["choices"] = choices
    props["usage"] = ref("Usage")
    required = list(ENVELOPE) + (["usage"] if usage_required else [])
    return {"type": "object", "required": required, "properties": props, "additionalProperties": False}


def choice(fields, logprobs):
    props = {"index": {"const": 0}}
    props.update(fields)
    props["logprobs"] = {"description": "null unless the request asked for log-probabilities.", "anyOf": [ref(logprobs), {"type": "null"}]}
    return {"type": "object", "required": list(props), "properties": props, "additionalProperties": False}


def token_logprob(top):
    props = {"token": {"type": "string", "description": "The text the token adds (\"\" for a token that ends inside a character)."},
             "logprob": {"type": "number", "maximum": 0},
             "bytes": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}}}
    if top:
        props["top_logprobs"] = {"type": "array", "maxItems": 20, "items": ref("ChatTopLogprob"),
                                 "description": "Most likely first, ties to the lower id."}
    return {"type": "object", "required": list(props), "properties": props, "additionalProperties": False}


SCHEMAS = {
    "Error": {
        "description": "OpenAI's error object; every error the server answers has this body (Content-Type application/json).",
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {
            "type": "object", "required": ["message", "type", "param", "code"], "additionalProperties": False,
            "properties": {
                "message": {"type": "string", "minLength": 1},
                "type": {"enum": ERROR_TYPES},
                "param": {"type": ["string", "null"], "description": "The request field at fault, e.g. messages[2].content."},
                "code": {"type": ["string", "null"],
                         "description": "invalid_json, invalid_type, invalid_value, missing_field, unsupported_value, "
                                        "context_length_exceeded, chat_template_error, invalid_http, invalid_api_key, request_too_large, "
                                        "queue_full, queue_timeout, client_closed, or null."},
            }}},
    },
    "ChatCompletionRequest": request_schema("POST /v1/chat/completions. Unknown fields are ignored, as OpenAI does; null is "
                                            "the same as absent.", "messages", CHAT_FIELDS),
    "CompletionRequest": request_schema("POST /v1/completions. Unknown fields are ignored, as OpenAI does; null is the same "
                                        "as absent.", "prompt", COMPLETION_FIELDS),
    "ChatMessage": {
        "type": "object", "required": ["role"], "additionalProperties": True,
        "properties": {
            "role": {"enum": ["system", "developer", "user", "assistant"], "description": "developer is read as system."},
            "content": {"description": "A string, or text parts joined; absent or null is the empty string.",
                        "anyOf": [{"type": "string"}, {"type": "array", "items": ref("TextPart")}, {"type": "null"}]},
        },
    },
    "TextPart": {
        "description": "Only text parts are supported (another part type is 400 unsupported_value).",
        "type": "object", "required": ["type", "text"], "additionalProperties": True,
        "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
    },
    "StreamOptions": {
        "type": "object", "additionalProperties": True,
        "properties": {"include_usage": boolean("A last chunk with usage and no choices.")},
    },
    "Usage": {
        "type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"], "additionalProperties": False,
        "properties": {
            "prompt_tokens": {"type": "integer", "minimum": 1},
            "completion_tokens": {"type": "integer", "minimum": 0,
                                  "description": "Generated ids, the end-of-sequence id included when one ended the text."},
            "total_tokens": {"type": "integer", "minimum": 1},
        },
    },
    "ChatCompletion": envelope("chatcmpl-", "chat.completion", {
        "type": "array", "minItems": 1, "maxItems": 1,
        "items": choice({"message": {"type": "object", "required": ["role", "content"], "additionalProperties": False,
                                     "properties": {"role": {"const": "assistant"}, "content": {"type": "string"}}},
                         "finish_reason": finish_reason(False)}, "ChatLogprobs")}, True),
    "TextCompletion": envelope("cmpl-", "text_completion", {
        "type": "array", "minItems": 1, "maxItems": 1,
        "items": choice({"text": {"type": "string"}, "finish_reason": finish_reason(False)}, "CompletionLogprobs")}, True),
    "ChatLogprobs": {
        "description": "One entry per generated token (usage.completion_tokens of them in a whole answer; streamed, those of the "
                       "chunk's text): the log-softmax of the logits after the repeat penalty, temperature 1.",
        "type": "object", "required": ["content", "refusal"], "additionalProperties": False,
        "properties": {"content": {"type": "array", "items": token_logprob(True)}, "refusal": {"type": "null"}},
    },
    "ChatTopLogprob": token_logprob(False),
    "CompletionLogprobs": {
        "description": "OpenAI's legacy shape, one entry per generated token in each list.",
        "type": "object", "required": ["tokens", "token_logprobs", "top_logprobs", "text_offset"], "additionalProperties": False,
        "properties": {
            "tokens": {"type": "array", "items": {"type": "string"}},
            "token_logprobs": {"type": "array", "items": {"type": "number", "maximum": 0}},
            "top_logprobs": {"type": "array", "items": {"type": "object", "maxProperties": 5,
                                                        "additionalProperties": {"type": "number", "maximum": 0}}},
            "text_offset": {"type": "array", "items": {"type": "integer", "minimum": 0},
                            "description": "Characters (Unicode scalars) from the start of the completion."},
        },
    },
    "ChatCompletionChunk": dict(envelope("chatcmpl-", "chat.completion.chunk", {
        "type": "array", "maxItems": 1, "description": "One choice; none in the usage chunk.",
        "items": choice({"delta": {"type": "object", "additionalProperties": False,
                                   "description": "First {role: assistant, content: \"\"}, then {content: PIECE}, then {} with the "
                                                  "finish reason.",
                                   "properties": {"role": {"const": "assistant"}, "content": {"type": "string"}}},
                         "finish_reason": finish_reason(True)}, "ChatLogprobs")}, False),
        description="One event of a streamed chat completion."),
    "TextCompletionChunk": dict(envelope("cmpl-", "text_completion", {
        "type": "array", "maxItems": 1, "description": "One choice; none in the usage chunk.",
        "items": choice({"text": {"type": "string", "description": "The last chunk of a choice has \"\" and the finish reason."},
                         "finish_reason": finish_reason(True)}, "CompletionLogprobs")}, False),
        description="One event of a streamed text completion."),
    "ModelList": {
        "type": "object", "required": ["object", "data"], "additionalProperties": False,
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                "type": "object", "required": ["id", "object", "created", "owned_by"], "additionalProperties": False,
                "properties": {"id": {"type": "string"}, "object": {"const": "model"},
                               "created": {"type": "integer", "minimum": 0, "description": "When the server started (Unix seconds)."},
                               "owned_by": {"const": "bffn"}}}},
        },
    },
    "Health": {
        "type": "object", "required": ["status", "slots"], "additionalProperties": False,
        "properties": {"status": {"const": "ok"}, "slots": {"type": "integer", "minimum": 1, "maximum": 64}},
    },
}


def error_response(description, headers=None):
    out = {"description": description, "content": {"application/json": {"schema": ref("Error")}}}
    if headers:
        out["headers"] = headers
    return out


RESPONSES = {
    "BadRequest": error_response(
        "invalid_request_error: invalid_json (malformed, invalid UTF-8, an integer beyond 64 bits, nesting deeper than 32, a "
        "repeated key, not an object), invalid_type, invalid_value, missing_field, unsupported_value (param names the field), "
        "context_length_exceeded, chat_template_error; invalid_http when the body stops being HTTP part-way (a malformed chunk, or the "
        "connection closed mid-body, when no client reads it)."),
    "Unauthorized": error_response("authentication_error invalid_api_key: --api-key was given and Authorization: Bearer KEY is "
                                   "missing or wrong.", {"WWW-Authenticate": {"schema": {"const": "Bearer"}}}),
    "NotFound": error_response("not_found_error: no such path, or not with this method."),
    "TooLarge": error_response("invalid_request_error request_too_large: the body is over 1 MiB."),
    "TooManyRequests": error_response("rate_limit_error queue_full (all slots busy and --max-queue waiting) or queue_timeout "
                                      "(no slot within --queue-timeout).", {"Retry-After": {"schema": {"const": "1"}}}),
    "ClientClosed": error_response("invalid_request_error client_closed: the client left while the request waited for a slot. "
                                   "No client reads it; bffn_responses_total counts it."),
    "ServerError": error_response("server_error: an engine failure."),
    "Unavailable": error_response("server_error: no thread could be started for the generation."),
}


def generation(summary, request, answer, chunk):
    return {"post": {
        "summary": summary,
        "operationId": request[0].lower() + request[1:],
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref(request)}}},
        "responses": {
            "200": {"description": "The whole answer, or with stream: true server-sent events: `data: {chunk}` per event, then "
                                   "`data: [DONE]`. An engine failure after the stream began is sent as one `data: {error}` "
                                   "event (the Error schema) before [DONE].",
                    "content": {"application/json": {"schema": ref(answer)},
                                "text/event-stream": {"schema": {"type": "string"},
                                                      "x-event-schema": {"anyOf": [ref(chunk), ref("Error")]}}}},
            "400": {"$ref": "#/components/responses/BadRequest"},
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "404": {"$ref": "#/components/responses/NotFound"},
            "413": {"$ref": "#/components/responses/TooLarge"},
            "429": {"$ref": "#/components/responses/TooManyRequests"},
            "499": {"$ref": "#/components/responses/ClientClosed"},
            "500": {"$ref": "#/components/responses/ServerError"},
            "503": {"$ref": "#/components/responses/Unavailable"},
        },
    }}


def get(summary, operation, content, needs_key=True):
    op = {"summary": summary, "operationId": operation, "responses": {"200": {"description": summary, "content": content}}}
    if needs_key:
        op["responses"]["401"] = {"$ref": "#/components/responses/Unauthorized"}
    else:
        op["security"] = []
    op["responses"]["404"] = {"$ref": "#/components/responses/NotFound"}
    return {"get": op}


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "bffn serve",
        "version": VERSION,
        "summary": "The OpenAI-compatible HTTP API of `bffn serve` (docs/server.md).",
        "description": "Written by scripts/make-openapi.py; edit that, not this file. Any other path or method is 404 with the "
                       "Error object; paths match with the query and empty segments ignored (/health/ is /health). Bodies are "
                       "at most 1 MiB (413), and must be valid UTF-8 JSON nested at most 32 deep, without repeated keys, keys "
                       "holding U+0000 or integers beyond ±(2^63 - 2) (400 invalid_json); NaN, Infinity and -Infinity are "
                       "read as numbers, which every number field refuses. Integer fields take integer literals only: 2.0 or "
                       "1e3 is 400 invalid_type, though JSON Schema would accept it. A request the HTTP layer cannot parse is answered 400 "
                       "with an empty body and the connection closed. At most --max-connections connections are open at once "
                       "(256); one more is closed without an answer. A connection that makes no progress for --idle-timeout "
                       "seconds (120) is closed.",
        "license": {"name": "MIT", "identifier": "MIT"},
    },
    "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
    "servers": [{"url": "http://127.0.0.1:8080", "description": "bffn serve's default address"}],
    "security": [{}, {"apiKey": []}],
    "paths": {
        "/health": get("Liveness and the number of slots.", "health", {"application/json": {"schema": ref("Health")}}, needs_key=False),
        "/metrics": get("Prometheus text format 0.0.4 (docs/server.md, Metrics).", "metrics",
                        {"text/plain": {"schema": {"type": "string"}}}),
        "/v1/chat/completions": generation("A chat completion.", "ChatCompletionRequest", "ChatCompletion", "ChatCompletionChunk"),
        "/v1/completions": generation("A text completion.", "CompletionRequest", "TextCompletion", "TextCompletionChunk"),
        "/v1/models": get("The one model served.", "listModels", {"application/json": {"schema": ref("ModelList")}}),
    },
    "components": {
        "schemas": SCHEMAS,
        "responses": RESPONSES,
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                       "description": "Only when the server runs with --api-key; /health never needs it."}},
    },
}


def main():
    text = json.dumps(DOCUMENT, indent=2, ensure_ascii=False) + "\n"
    if sys.argv[1:] == ["--check"]:
        with open(OUT, encoding="utf-8") as f:
            if f.read() != text:
                sys.exit("docs/openapi.json is stale: run scripts/make-openapi.py")
        try:  # the document against the OpenAPI 3.1 schema, where the validator is installed
            from openapi_spec_validator import validate
        except ImportError:
            return
        validate(DOCUMENT)
        return
    if sys.argv[1:]:
        sys.exit(__doc__)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
