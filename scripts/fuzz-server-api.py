#!/usr/bin/env python3
"""Property-based fuzzing of `bffn serve` driven by its OpenAPI description (docs/openapi.json).

Starts `bffn serve fixtures/trained --port 0 --api-key ...` and, with hypothesis, sends requests built from the
description's schemas: valid ones, valid ones with one field changed (wrong types, values out of range, huge
numbers, nested garbage), removed or added (unknown fields), raw bodies that are not the JSON the schema wants
(truncated, invalid UTF-8, duplicate keys, deep nesting, number spellings, random bytes, bodies over the size
limit), other paths and methods, and wrong or missing API keys. The description is the oracle: a request the
request schema accepts must be answered 200 (or 400 for what the schema cannot know: the context length, the
vocabulary), one it refuses 400, a body over 1 MiB 413, a wrong key 401, an unknown route 404.

Every answer is checked: never a 5xx, never a dropped connection or a hang (each request has a timeout), every 4xx
an OpenAI error object as the Error schema says, every 200 valid against its response schema, every stream made
of chunks valid against the event schema and ending in `data: [DONE]`, /health answering throughout. After the
run, once the server is idle, its metrics must show no 5xx, one response per generation request sent and no
connection left open, and its RSS must be within a bound of the RSS after warm-up.

Prints one JSON line: examples and requests run, statuses (by kind: valid, mutated, raw, route), failures, RSS
after warm-up and at the end.
Exit status 0 when nothing failed. A failure shows hypothesis's shrunk example and the request and answer.
Usage: scripts/fuzz-server-api.py [--seconds 40] [--examples 100000] [--seed N] [--bffn .build/debug/bffn]
                                  [--rss-slack-mib 32]
"""
import argparse
import http.client
import json
import math
import os
import random
import re
import subprocess
import sys
import threading
import time

from hypothesis import HealthCheck, Phase, given, note, seed as hypothesis_seed, settings, strategies as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_KEY = "fuzz-key"
MAX_BODY = 1 << 20
MAX_DEPTH = 32
INT_MIN, INT_MAX = -(2**63) + 1, 2**63 - 2
# 400 codes a schema-valid request may still get: they depend on the model (its context and vocabulary) or its
# chat template, which the description cannot state.
MODEL_DEPENDENT = {"context_length_exceeded", "chat_template_error"}
TIMEOUT = 60


# --- the description --------------------------------------------------------------------------------------------

class Description:
    """docs/openapi.json with $ref resolution and the small JSON Schema subset it uses."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = json.load(f)

    def lookup(self, ref):
        node = self.doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def resolve(self, schema):
        while isinstance(schema, dict) and "$ref" in schema:
            schema = self.lookup(schema["$ref"])
        return schema

    def routes(self):
        """{(METHOD, path): operation}"""
        out = {}
        for path, item in self.doc["paths"].items():
            for method, op in item.items():
                out[(method.upper(), path)] = op
        return out

    def response_schema(self, op, status, content_type):
        r = self.resolve(op["responses"][str(status)])
        media = r["content"][content_type]
        return media.get("x-event-schema") if content_type == "text/event-stream" else media["schema"]

    def request_schema(self, op):
        return op["requestBody"]["content"]["application/json"]["schema"]

    # A validator for the keywords the description uses. Integers are integer literals (Python ints, not floats
    # such as 2.0) and booleans are not numbers, as the server reads them.
    @staticmethod
    def is_type(v, t):
        return {"null": v is None, "boolean": isinstance(v, bool),
                "integer": isinstance(v, int) and not isinstance(v, bool),
                "number": isinstance(v, (int, float)) and not isinstance(v, bool),
                "string": isinstance(v, str), "array": isinstance(v, list), "object": isinstance(v, dict)}[t]

    @staticmethod
    def same(a, b):
        if type(a) is not type(b):
            return False
        if isinstance(a, list):
            return len(a) == len(b) and all(Description.same(x, y) for x, y in zip(a, b))
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(Description.same(a[k], b[k]) for k in a)
        return a == b

    def errors(self, schema, v, path="$"):
        """Why `v` does not match `schema` (empty when it does)."""
        s = self.resolve(schema)
        if s is True or s == {}:
            return []
        if s is False:
            return [f"{path}: not allowed"]
        out = []
        if "anyOf" in s and not any(not self.errors(sub, v, path) for sub in s["anyOf"]):
            out.append(f"{path}: matches none of anyOf")
        if "oneOf" in s and sum(not self.errors(sub, v, path) for sub in s["oneOf"]) != 1:
            out.append(f"{path}: does not match exactly one of oneOf")
        if "type" in s:
            types = s["type"] if isinstance(s["type"], list) else [s["type"]]
            if not any(self.is_type(v, t) for t in types):
                return out + [f"{path}: {type(v).__name__} is not {types}"]
        if "const" in s and not self.same(v, s["const"]):
            out.append(f"{path}: {v!r} is not {s['const']!r}")
        if "enum" in s and not any(self.same(v, e) for e in s["enum"]):
            out.append(f"{path}: {v!r} is not one of {s['enum']!r}")
        if self.is_type(v, "number"):
            # Written so that NaN fails every bound.
            if "minimum" in s and not v >= s["minimum"]:
                out.append(f"{path}: {v!r} < {s['minimum']}")
            if "maximum" in s and not v <= s["maximum"]:
                out.append(f"{path}: {v!r} > {s['maximum']}")
            if "exclusiveMinimum" in s and not v > s["exclusiveMinimum"]:
                out.append(f"{path}: {v!r} <= {s['exclusiveMinimum']}")
        if isinstance(v, str):
            if len(v) < s.get("minLength", 0):
                out.append(f"{path}: shorter than {s['minLength']}")
            if "pattern" in s and not re.search(s["pattern"], v):
                out.append(f"{path}: {v!r} does not match {s['pattern']}")
        if isinstance(v, list):
            if len(v) < s.get("minItems", 0) or len(v) > s.get("maxItems", math.inf):
                out.append(f"{path}: {len(v)} items, not {s.get('minItems', 0)}...{s.get('maxItems', 'any')}")
            if "items" in s:
                for i, item in enumerate(v):
                    out += self.errors(s["items"], item, f"{path}[{i}]")
        if isinstance(v, dict):
            props = s.get("properties", {})
            out += [f"{path}: {k} is required" for k in s.get("required", []) if k not in v]
            for k, item in v.items():
                if k in props:
                    out += self.errors(props[k], item, f"{path}.{k}")
                elif s.get("additionalProperties", True) is False:
                    out.append(f"{path}: unexpected field {k!r}")
        return out

    # Strategies for values a schema accepts.
    def values(self, schema, depth=0):
        s = self.resolve(schema)
        if s is True or s == {}:
            return json_values()
        if "anyOf" in s or "oneOf" in s:
            return st.one_of([self.values(sub, depth) for sub in s.get("anyOf", s.get("oneOf"))])
        if "const" in s:
            return st.just(s["const"])
        if "enum" in s:
            return st.sampled_from(s["enum"])
        t = s.get("type")
        if isinstance(t, list):
            return st.one_of([self.values(dict(s, type=x), depth) for x in t])
        if t == "null":
            return st.none()
        if t == "boolean":
            return st.booleans()
        if t == "integer":
            return st.integers(s.get("minimum", INT_MIN), s.get("maximum", INT_MAX))
        if t == "number":
            lo = s.get("minimum", s.get("exclusiveMinimum", -1e300))
            hi = s.get("maximum", 1e300)
            floats = st.floats(lo, hi, allow_nan=False, allow_infinity=False, exclude_min="exclusiveMinimum" in s)
            first = math.floor(lo) + 1 if "exclusiveMinimum" in s else math.ceil(lo)
            return st.one_of(floats, st.integers(first, math.floor(hi))) if first <= math.floor(hi) else floats
        if t == "string":
            return st.text(min_size=s.get("minLength", 0), max_size=48)
        if t == "array":
            lo, hi = s.get("minItems", 0), min(s.get("maxItems", 6), 6 if depth else 24)
            return st.lists(self.values(s.get("items", {}), depth + 1), min_size=lo, max_size=max(lo, hi))
        if t == "object":
            props = s.get("properties", {})
            required = {k: self.values(v, depth + 1) for k, v in props.items() if k in s.get("required", [])}
            optional = {k: self.values(v, depth + 1) for k, v in props.items() if k not in required}
            known = st.fixed_dictionaries(required, optional=optional)
            if s.get("additionalProperties", True) is False:
                return known
            unknown = st.dictionaries(unknown_keys(list(props)), json_values(), max_size=2)
            return st.tuples(known, unknown).map(lambda kv: {**kv[1], **kv[0]})
        return json_values()


def unknown_keys(known):
    """Field names the schema does not list: random text, near-misses of known names, known names with a NUL."""
    near = st.sampled_from(known or ["x"]).flatmap(lambda k: st.sampled_from([k.upper(), k + " ", k + "\x00", k + "\x00x", "_" + k]))
    return st.one_of(st.text(max_size=12), near).filter(lambda k: k not in known)


def json_values(max_leaves=10):
    """Any JSON value, including integers beyond 64 bits and non-finite numbers."""
    leaves = st.one_of(st.none(), st.booleans(), st.integers(INT_MIN, INT_MAX), st.integers(), st.floats(),
                       st.text(max_size=24), st.sampled_from(INTERESTING))
    return st.recursive(leaves, lambda children: st.one_of(st.lists(children, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), children, max_size=4)),
                        max_leaves=max_leaves)


INTERESTING = [None, True, False, 0, -1, 1, 2, 8, 64, 512, 513, 10**6, 10**6 + 1, INT_MAX, INT_MAX + 1, INT_MIN, INT_MIN - 1,
               2**64, -(2**64), 10**30, 0.0, -0.0, 0.5, 1.0, 2.0, 2.5, 1e-300, 1e300, -1e300, math.inf, -math.inf, math.nan,
               "", " ", "x", "\x00", "\ud800", "<用户>", "\u202e", "[DONE]", "data: x\n\n", [], {}, [[[]]], [None], {"": None}]


# --- the oracle -------------------------------------------------------------------------------------------------

class Expectation:
    """The statuses a request may get and, for its 4xx, the error codes (None: any); `allowed` lists the (code, param)
    pairs a schema-valid request may still be refused with (param None: any)."""

    def __init__(self, statuses, why, codes=None, allowed=()):
        self.statuses, self.why, self.codes, self.allowed = statuses, why, codes, allowed


def normalized(path):
    """The route a path reaches: the router ignores the query and empty segments."""
    return "/" + "/".join(p for p in path.split("?", 1)[0].split("/") if p)


def read_json(body):
    """What the server's JSON reader makes of the body: (value, None), or (None, why it is refused)."""
    if len(body) > MAX_BODY:
        return None, "too_large"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, "invalid UTF-8"
    duplicate = []

    def pairs(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            duplicate.append(keys)
        return dict(items)
    try:
        value = json.loads(text, object_pairs_hook=pairs)
    except (json.JSONDecodeError, RecursionError, ValueError) as e:
        return None, f"not JSON: {e}"
    if duplicate:
        return None, "a repeated key"

    def walk(v, depth):
        if isinstance(v, (list, dict)):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH}"
            items = v.values() if isinstance(v, dict) else v
            if isinstance(v, dict) and any("\x00" in k for k in v):
                return "a key holding U+0000"
            for item in items:
                why = walk(item, depth + 1)
                if why:
                    return why
        elif isinstance(v, int) and not isinstance(v, bool) and not INT_MIN <= v <= INT_MAX:
            return "an integer beyond 64 bits"
        return None
    why = walk(value, 1)
    return (None, why) if why else (value, None)


def expect(desc, method, path, body, auth):
    routes = desc.routes()
    route = normalized(path)
    if route != "/health" and (auth or "").strip(" \t") != f"Bearer {API_KEY}":
        return Expectation({401}, "no or a wrong API key", {"invalid_api_key"})
    op = routes.get((method, route))
    if op is None:
        return Expectation({404}, "no such route")
    if "requestBody" not in op:
        return Expectation({200}, "a GET route")
    value, refused = read_json(body)
    if refused == "too_large":
        return Expectation({413}, "body over 1 MiB", {"request_too_large"})
    if refused:
        return Expectation({400}, refused, {"invalid_json"})
    if not isinstance(value, dict):
        return Expectation({400}, "not an object", {"invalid_json"})
    errs = desc.errors(desc.request_schema(op), value)
    if errs:
        return Expectation({400}, "; ".join(errs[:3]), {"invalid_type", "invalid_value", "missing_field", "unsupported_value"})
    # A prompt of token ids may name ids beyond this model's vocabulary, and text may encode to no tokens.
    return Expectation({200, 400}, "schema-valid", allowed=[(c, None) for c in MODEL_DEPENDENT] + [("invalid_value", "prompt")])


# --- the requests -----------------------------------------------------------------------------------------------

def body_cases(desc):
    """(kind, method, path, body bytes) for the generation endpoints."""
    routes = desc.routes()
    posts = [(path, desc.request_schema(op)) for (m, path), op in routes.items() if m == "POST"]

    with open(os.path.join(ROOT, "fixtures", "trained", "config.json")) as f:
        vocabulary = json.load(f)["vocab_size"]

    def bounded(t):
        # In nine requests in ten, one that would generate to the end of the context (up to 512 tokens) gets a small
        # max_tokens, so that more examples fit in the time, and token ids are made ids of the served model, so that
        # more are served.
        body, roll, n = t
        if roll == 5 or not isinstance(body, dict):
            return body
        if body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
            body["max_tokens"] = n
        if isinstance(body.get("prompt"), list) and all(isinstance(i, int) for i in body["prompt"]):
            body["prompt"] = [i % vocabulary for i in body["prompt"]]
        return body

    def valid(schema):
        return st.tuples(desc.values(schema), st.integers(0, 9), st.integers(1, 24)).map(bounded)

    @st.composite
    def mutated(draw, schema):
        body = draw(valid(schema))
        s = desc.resolve(schema)
        kind = draw(st.sampled_from(["set", "set", "set", "set_nested", "delete", "wrap"]))
        if kind == "set":
            key = draw(st.sampled_from(sorted(s["properties"])))
            body[key] = draw(st.one_of(st.sampled_from(INTERESTING), json_values()))
        elif kind == "set_nested":
            places = []

            def collect(v, at):
                if isinstance(v, dict):
                    for k in v:
                        places.append((v, k))
                        collect(v[k], at)
                elif isinstance(v, list):
                    for i in range(len(v)):
                        places.append((v, i))
                        collect(v[i], at)
            collect(body, ())
            if places:
                container, key = draw(st.sampled_from(places))
                container[key] = draw(st.one_of(st.sampled_from(INTERESTING), json_values(6)))
        elif kind == "delete" and body:
            del body[draw(st.sampled_from(sorted(body)))]
        elif kind == "wrap":
            body = draw(st.sampled_from([[body], [], "x", 1, None, True]))
        return body

    @st.composite
    def raw(draw, schema):
        body = draw(valid(schema))
        text = json.dumps(body).encode()
        kind = draw(st.sampled_from(["truncated", "invalid_utf8", "duplicate", "deep", "number", "bytes", "bom", "spaces",
                                     "trailing", "empty", "huge", "nul_key"]))
        if kind == "truncated":
            return kind, text[:draw(st.integers(0, max(0, len(text) - 1)))]
        if kind == "invalid_utf8":
            bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82"]))
            at = draw(st.integers(0, len(text)))
            return kind, text[:at] + bad + text[at:]
        if kind == "duplicate":
            key = json.dumps(draw(st.sampled_from(sorted(body) or ["model"])))
            return kind, b"{" + f"{key}: 1, {key}: 2, ".encode() + text[1:]
        if kind == "deep":
            d = draw(st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3))
            return kind, text[:-1] + (b", " if len(body) else b"") + b'"user": ' + b"[" * (d - 1) + b"]" * (d - 1) + b"}"
        if kind == "number":
            literal = draw(st.sampled_from(["1e400", "-1e400", "1E2", "-0", "01", ".5", "+1", "0x10", "Infinity", "-Infinity",
                                            "NaN", "1e-400", "18446744073709551615", "-9223372036854775808", "9223372036854775807",
                                            "9223372036854775806", "4.0", "1.5e1"]))
            key = draw(st.sampled_from(sorted(desc.resolve(schema)["properties"]) + ["user"]))
            return kind, text[:-1] + (b", " if len(body) else b"") + f'"{key}": {literal}'.encode() + b"}"
        if kind == "bytes":
            return kind, draw(st.binary(max_size=64))
        if kind == "bom":
            return kind, b"\xef\xbb\xbf" + text
        if kind == "spaces":
            return kind, b" \n\t" + text + b"\r\n "
        if kind == "trailing":
            return kind, text + draw(st.sampled_from([b"x", b"{}", b",", b"\x00", b"]"]))
        if kind == "empty":
            return kind, b""
        if kind == "huge":
            # The request with an ignored field that brings it just under, just over or well over the limit.
            n = draw(st.sampled_from([MAX_BODY - 1, MAX_BODY + 1, MAX_BODY + 5000]))
            head = text[:-1] + (b", " if len(body) else b"") + b'"user": "'
            return kind, head + b"a" * max(0, n - len(head) - 2) + b'"}'
        key = json.dumps(draw(st.sampled_from(sorted(desc.resolve(schema)["properties"]))))[:-1] + "\\u0000\""
        return kind, text[:-1] + (b", " if len(body) else b"") + f"{key}: 1".encode() + b"}"

    @st.composite
    def case(draw):
        path, schema = draw(st.sampled_from(posts))
        roll = draw(st.integers(0, 99))
        if roll < 35:
            # ASCII JSON, or UTF-8 with lone surrogates written as they are (then not valid UTF-8).
            text = draw(valid(schema).flatmap(lambda v: st.sampled_from([
                json.dumps(v).encode(), json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")])))
            return "valid", "POST", path, text
        if roll < 75:
            return "mutated", "POST", path, json.dumps(draw(mutated(schema))).encode()
        kind, text = draw(raw(schema))
        return "raw:" + kind, "POST", path, text
    return case()


def route_cases(desc):
    """Requests to the GET routes, other methods and unknown paths."""
    paths = sorted({p for _, p in desc.routes()})
    segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyzV01-_.", min_size=1, max_size=10)
    unknown = st.lists(segment, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
    variants = st.sampled_from(paths).flatmap(lambda p: st.sampled_from([p, p + "/", "/" + p, p + "?x=1&y", p.upper()]))
    method = st.sampled_from(["GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
    return st.tuples(st.just("route"), method, st.one_of(variants, unknown), st.sampled_from([b"", b"{}", b"x"]))


def cases(desc):
    """(request, Authorization header): three in four requests to the generation endpoints, one in ten without the
    right key."""
    bodies, routes = body_cases(desc), route_cases(desc)
    wrong = st.sampled_from([None, "", "Bearer", f"bearer {API_KEY}", f"Bearer {API_KEY[:-1]}", f"Bearer {API_KEY}x",
                             f"Bearer  {API_KEY}", API_KEY, f"Basic {API_KEY}"])
    right = st.sampled_from([f"Bearer {API_KEY}", f" Bearer {API_KEY}\t"])  # HTTP drops the spaces around a value
    request = st.integers(0, 3).flatmap(lambda r: routes if r == 2 else bodies)  # not 0: hypothesis favours it
    auth = st.integers(0, 9).flatmap(lambda r: wrong if r == 5 else right)
    return st.tuples(request, auth)


# --- the server and the checks ----------------------------------------------------------------------------------

class Server:
    def __init__(self, bffn):
        self.proc = subprocess.Popen([bffn, "serve", os.path.join(ROOT, "fixtures", "trained"), "--port", "0", "--threads", "1",
                                      "--api-key", API_KEY], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = None
        self.log = []
        # What the server's bffn_responses_total should add up to: POSTs to paths starting with /v1/.
        self.generation_requests = 0
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"serving '.*' on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            raise SystemExit("bffn serve exited before listening: " + "".join(self.log))
        threading.Thread(target=lambda: [self.log.append(l) for l in self.proc.stderr], daemon=True).start()

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(next(l for l in f if l.startswith("VmRSS")).split()[1]) / 1024

    def request(self, method, path, body=b"", auth=f"Bearer {API_KEY}"):
        """(status, content type, body bytes); raises on a dropped connection or a timeout."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        self.generation_requests += method == "POST" and path.startswith("/v1/")
        try:
            headers = {"Content-Type": "application/json"}
            if auth is not None:
                headers["Authorization"] = auth
            c.request(method, path, body=body if (body or method in ("POST", "PUT", "PATCH")) else None, headers=headers)
            r = c.getresponse()
            return r.status, r.getheader("Content-Type") or "", r.read()
        finally:
            c.close()

    def metrics(self):
        _, _, text = self.request("GET", "/metrics")
        return text.decode()


def metric(text, name):
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


class Failure(AssertionError):
    pass


class ServerExited(Exception):
    pass


class Run:
    def __init__(self, desc, server, deadline):
        self.desc, self.server, self.deadline = desc, server, deadline
        self.examples = self.requests = 0
        self.statuses, self.kinds = {}, {}
        # Schema-valid requests refused for what the schema cannot know, by code.
        self.valid_refused = {}
        self.failing = False
        self.last_failure = None

    def fail(self, why, **detail):
        self.failing = True
        self.last_failure = dict(why=why, **{k: (v[:600] if isinstance(v, (str, bytes)) else v) for k, v in detail.items()})
        if isinstance(self.last_failure.get("body"), bytes):
            self.last_failure["body"] = repr(self.last_failure["body"])
        if isinstance(self.last_failure.get("answer"), bytes):
            self.last_failure["answer"] = repr(self.last_failure["answer"])
        raise Failure(why)

    def check_error(self, status, ctype, answer, e, ctx):
        if not ctype.startswith("application/json"):
            self.fail(f"{status} with Content-Type {ctype!r}", **ctx)
        try:
            obj = json.loads(answer)
        except ValueError:
            self.fail(f"{status} body is not JSON", **ctx)
        errs = self.desc.errors({"$ref": "#/components/schemas/Error"}, obj)
        if errs:
            self.fail(f"{status} body is not the Error object: {errs[:3]}", **ctx)
        code, param = obj["error"]["code"], obj["error"]["param"]
        if e.codes is not None and code not in e.codes:
            self.fail(f"{status} code {code!r}, expected one of {sorted(e.codes)} ({e.why})", **ctx)
        if e.allowed and not any(code == c and p in (None, param) for c, p in e.allowed):
            self.fail(f"a schema-valid request refused: {code!r} for {param!r}", **ctx)

    def check_stream(self, answer, schema, request, ctx):
        text = answer.decode("utf-8")
        if not text.endswith("\n\n"):
            self.fail("stream does not end with a blank line", **ctx)
        events = text[:-2].split("\n\n")
        if events[-1] != "data: [DONE]":
            self.fail("stream does not end with data: [DONE]", **ctx)
        finishes, usage = 0, 0
        for event in events[:-1]:
            if not event.startswith("data: "):
                self.fail(f"event without data: {event[:80]!r}", **ctx)
            chunk = json.loads(event[6:])
            if "error" in chunk:
                self.fail(f"error event in the stream (an engine failure): {event[:200]}", **ctx)
            errs = self.desc.errors(schema, chunk)
            if errs:
                self.fail(f"chunk does not match the event schema: {errs[:3]}", **ctx)
            finishes += any(c["finish_reason"] for c in chunk["choices"])
            usage += "usage" in chunk
        include = (request.get("stream_options") or {}).get("include_usage") is True
        if finishes != 1 or usage != int(include):
            self.fail(f"{finishes} finish chunks and {usage} usage chunks (include_usage {include})", **ctx)

    def run_case(self, case):
        (kind, method, path, body), auth = case
        if time.monotonic() > self.deadline and not self.failing:
            return
        self.examples += 1
        e = expect(self.desc, method, path, body, auth)
        ctx = dict(kind=kind, method=method, path=path, body=body[:600], auth=auth, expected=sorted(e.statuses), because=e.why)
        note(f"{method} {path} ({kind}) expecting {sorted(e.statuses)}: {e.why}")
        try:
            self.requests += 1
            status, ctype, answer = self.server.request(method, path, body, auth)
        except Exception as x:  # a dropped connection, a reset, a timeout, a crash
            time.sleep(0.2)
            exited = self.server.proc.poll()
            if exited is not None:
                self.fail(f"the server exited ({exited}) on this request: {''.join(self.server.log)[-1500:]}", **ctx)
            self.fail(f"no answer: {type(x).__name__}: {x}", **ctx)
        ctx.update(status=status, answer=answer[:600])
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        by_kind = self.kinds.setdefault(kind.split(":")[0], {})
        by_kind[str(status)] = by_kind.get(str(status), 0) + 1
        if status >= 500:
            self.fail(f"server error {status}", **ctx)
        if status not in e.statuses:
            self.fail(f"{status}, expected {sorted(e.statuses)} ({e.why})", **ctx)
        op = self.desc.routes().get((method, normalized(path)))
        if status != 200:
            self.check_error(status, ctype, answer, e, ctx)
            if e.allowed:
                code = json.loads(answer)["error"]["code"]
                self.valid_refused[code] = self.valid_refused.get(code, 0) + 1
            return
        value, _ = read_json(body)
        if isinstance(value, dict) and value.get("stream") is True:
            if not ctype.startswith("text/event-stream"):
                self.fail(f"stream answered with {ctype!r}", **ctx)
            self.check_stream(answer, self.desc.response_schema(op, 200, "text/event-stream"), value, ctx)
        elif ctype.startswith("application/json"):
            errs = self.desc.errors(self.desc.response_schema(op, 200, "application/json"), json.loads(answer))
            if errs:
                self.fail(f"200 body does not match its schema: {errs[:3]}", **ctx)
            if "usage" in (parsed := json.loads(answer)):
                u = parsed["usage"]
                if u["total_tokens"] != u["prompt_tokens"] + u["completion_tokens"]:
                    self.fail("usage does not add up", **ctx)
        elif not ctype.startswith("text/plain"):
            self.fail(f"200 with Content-Type {ctype!r}", **ctx)
        if self.examples % 25 == 0:
            s, _, _ = self.server.request("GET", "/health", auth=None)
            if s != 200:
                self.fail(f"/health answered {s}", **ctx)


def describe(x):
    """Lines telling what failed: each exception of a group with hypothesis's notes (the request it sent)."""
    if isinstance(x, BaseExceptionGroup):
        return [line for sub in x.exceptions for line in describe(sub)]
    tb = x.__traceback__
    while tb and tb.tb_next:
        tb = tb.tb_next
    where = f" (line {tb.tb_lineno})" if tb and not isinstance(x, Failure) else ""
    return [f"{type(x).__name__}: {x}{where}"] + [str(n)[:700] for n in getattr(x, "__notes__", [])]


def warm_up(server):
    for path, body in [("/v1/completions", {"prompt": "def add(a, b):", "max_tokens": 64, "temperature": 0.7}),
                       ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 64, "stream": True}),
                       ("/v1/completions", {"prompt": "x", "ignore_eos": True}),
                       ("/v1/completions", {"prompt": "a" * (MAX_BODY - 100)}),
                       ("/v1/completions", {"prompt": "x", "max_tokens": "bad"})]:
        for _ in range(3):
            server.request("POST", path, json.dumps(body).encode())
    server.request("GET", "/v1/models")
    server.request("GET", "/metrics")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=40, help="stop starting examples after this long (default 40)")
    p.add_argument("--examples", type=int, default=100_000, help="stop after this many examples (default 100000)")
    p.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random; printed)")
    p.add_argument("--bffn", default=os.path.join(ROOT, ".build", "debug", "bffn"))
    p.add_argument("--rss-slack-mib", type=float, default=32, help="how far the idle RSS may end above the warm RSS")
    args = p.parse_args()
    base_seed = args.seed if args.seed is not None else random.randrange(2**32)
    desc = Description(os.path.join(ROOT, "docs", "openapi.json"))
    server = Server(args.bffn)
    started = time.monotonic()
    result = {"seed": base_seed}
    try:
        warm_up(server)
        time.sleep(1)
        rss_warm = server.rss_mib()
        run = Run(desc, server, started + args.seconds)
        strategy = cases(desc)
        error = None
        rounds = 0
        # Each round of examples gets a seed of its own, drawn from the run's: runs with nearby seeds do not share
        # rounds.
        round_seeds = random.Random(base_seed)
        while run.examples < args.examples and time.monotonic() < run.deadline and error is None:
            batch = min(50, args.examples - run.examples)

            @settings(max_examples=batch, deadline=None, database=None, print_blob=False,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
            @hypothesis_seed(round_seeds.getrandbits(64))
            @given(strategy)
            def prop(case):
                run.run_case(case)
            try:
                prop()
            except Exception as x:  # hypothesis re-raises the shrunk failure (a group when it found several)
                error = "\n".join(describe(x))
            rounds += 1
        failures = []
        if error:
            failures.append({"error": error[:4000], "request": run.last_failure})
        if server.proc.poll() is not None:
            raise ServerExited()
        # Idle: no slot busy, nobody queued, no connection but the one asking.
        idle = False
        for _ in range(300):
            m = server.metrics()
            if metric(m, "bffn_slots_busy") == 0 and metric(m, "bffn_queue_length") == 0 and metric(m, "bffn_connections") == 1:
                idle = True
                break
            time.sleep(0.1)
        if not idle:
            failures.append({"error": "the server did not go idle: connections or slots stayed in use",
                             "connections": metric(m, "bffn_connections"), "slots_busy": metric(m, "bffn_slots_busy")})
        time.sleep(1)
        rss_after = server.rss_mib()
        m = server.metrics()
        responses = {s: int(float(v)) for s, v in re.findall(r'^bffn_responses_total\{status="(\d+)"\} (\S+)$', m, re.M)}
        if any(s.startswith("5") for s in responses):
            failures.append({"error": "the server counted 5xx responses", "responses": responses})
        if sum(responses.values()) != server.generation_requests:
            failures.append({"error": "responses counted differ from generation requests sent",
                             "counted": sum(responses.values()), "sent": server.generation_requests})
        health, _, _ = server.request("GET", "/health", auth=None)
        if health != 200:
            failures.append({"error": f"/health answered {health} after the run"})
        bound = rss_warm + args.rss_slack_mib
        if rss_after > bound:
            failures.append({"error": f"RSS grew from {rss_warm:.1f} to {rss_after:.1f} MiB (bound {bound:.1f})"})
        result.update(seconds=round(time.monotonic() - started, 1), rounds=rounds, examples=run.examples, requests=run.requests,
                      kinds={k: dict(sorted(v.items())) for k, v in sorted(run.kinds.items())}, statuses=dict(sorted(run.statuses.items())),
                      valid_refused=dict(sorted(run.valid_refused.items())), server_responses=responses,
                      rss_warm_mib=round(rss_warm, 1), rss_after_mib=round(rss_after, 1), failures=failures,
                      alive=server.proc.poll() is None)
    except (ServerExited, ConnectionError):
        result.update(examples=run.examples, requests=run.requests, failures=failures if "failures" in locals() else [])
    finally:
        alive = server.proc.poll() is None
        server.proc.terminate()
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
    if not alive:
        result.setdefault("failures", []).append({"error": "the server exited", "log": "".join(server.log)[-2000:]})
    print(json.dumps(result))
    sys.exit(1 if result.get("failures") else 0)


if __name__ == "__main__":
    main()
