"""The Python binding's per-token overhead on the bundled model (not a test: timings depend on the machine).

    BFFN_LIBRARY=.build/debug/libbffnc.so PYTHONPATH=python \\
        python3 python/benchmarks/overhead.py .build/debug/bffn [MODEL [ROUNDS [THREADS]]]

(the library and the command of one build; scripts/test.sh's debug build optimises with -O).

Each round runs, back to back on one open model:
  plain    bffn_generate with no callback (ctypes, straight): the library's decode_tokens_per_second
  c        bffn_generate with a no-op C callback (compiled with cc): what a C caller that streams pays (the
           library's streaming detokenizer runs only when there is a callback), no Python in the loop
  stream   Model.generate(..., stream=True) consumed by a Python loop: `library` is the library's own figure for
           that run (its decode loop, with the Python callback in it), `consumer` the speed the Python loop sees
           (tokens after the first / seconds from the first piece to the end)
and once per round the `bffn` command (`generate --json`, its decode_tokens_per_second) as a reference.
The binding's overhead is the median over rounds of the paired ratio 1 - consumer / c (each pair ran back to
back, so a loaded machine's drift mostly cancels), split into the Python callback's share (1 - library / c) and
the delivery to the consumer thread (the rest); against `plain` it also counts the library's streaming work.
"""

from __future__ import annotations

import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

import bffn
from bffn._native import TEXT_CALLBACK, lib

PROMPT = "def add(a, b):"


def c_noop_callback() -> Any:
    """A C callback that does nothing (a C caller's streaming, the baseline for Python's): compiled with cc."""
    folder = tempfile.mkdtemp()
    source, library = os.path.join(folder, "noop.c"), os.path.join(folder, "libnoop.so")
    with open(source, "w") as f:
        f.write("#include <stddef.h>\nint noop(const char *p, size_t n, void *u) { (void)p; (void)n; (void)u; return 0; }\n")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", library, source], check=True)
    return TEXT_CALLBACK(("noop", ctypes.CDLL(library)))


def plain(model: bffn.Model, tokens: int, callback: Any = None) -> float:
    """The library's decode speed for a generation with a C callback (or none)."""
    out = ctypes.c_void_p()
    settings = json.dumps({"max_new_tokens": tokens, "ignore_eos": True}).encode()
    status = lib.bffn_generate(model._live(), json.dumps({"text": PROMPT}).encode(), settings, callback or TEXT_CALLBACK(), None,
                               ctypes.byref(out))
    assert status == 0
    text = ctypes.string_at(out.value).decode()
    lib.bffn_string_free(out.value)
    return float(json.loads(text)["decode_tokens_per_second"])


def main() -> None:
    cli = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/bffn"
    path = sys.argv[2] if len(sys.argv) > 2 else "fixtures/trained"
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    tokens = 256
    f: Dict[str, List[float]] = {"cli": [], "plain": [], "c": [], "library": [], "consumer": []}
    noop = c_noop_callback()
    with bffn.Model(path, threads=threads) as model:
        plain(model, 8)  # warm
        for _ in range(rounds):
            run = subprocess.run([cli, "generate", path, "-p", PROMPT, "-n", str(tokens), "-t", str(threads),
                                  "--ignore-eos", "--json"], capture_output=True, text=True, check=True)
            f["cli"].append(json.loads(run.stdout)["decode_tokens_per_second"])
            f["plain"].append(plain(model, tokens))
            f["c"].append(plain(model, tokens, noop))
            stream = model.generate(PROMPT, max_new_tokens=tokens, ignore_eos=True, stream=True)
            first = None
            for _piece in stream:
                if first is None:
                    first = time.perf_counter()
            end = time.perf_counter()
            assert stream.result is not None and first is not None
            f["library"].append(stream.result.decode_tokens_per_second)
            f["consumer"].append((len(stream.result.generated_ids) - 1) / (end - first))
    print(f"model {path}, {tokens} tokens, {threads} threads, {rounds} rounds; decode tokens/s:")
    for k, v in f.items():
        print(f"  {k:9s} median {statistics.median(v):7.1f}   range {min(v):7.1f} .. {max(v):7.1f}")

    def paired(a: str, b: str) -> float:
        return 100 * statistics.median(1 - x / y for x, y in zip(f[a], f[b]))

    for base, what in (("c", "a C callback (the same streaming detokenizer, no Python)"), ("plain", "no callback")):
        per_token = statistics.median(1e6 / c - 1e6 / p for c, p in zip(f["consumer"], f[base]))
        print(f"overhead, streamed Python vs {what} (paired median): {paired('consumer', base):+.2f} % "
              f"({per_token:+.1f} us per token of {1e6 / statistics.median(f[base]):.0f} us)")
    print(f"  of it the callback in the decode loop: {paired('library', 'c'):+.2f} % (vs the C callback), "
          f"delivery to the consumer thread: {paired('consumer', 'library'):+.2f} %")
    print(f"streamed Python vs the bffn command (medians): "
          f"{100 * (1 - statistics.median(f['consumer']) / statistics.median(f['cli'])):+.2f} %")

if __name__ == "__main__":
    main()
