"""The Python binding's per-token overhead: decode speed of `Model.generate(..., stream=True)` against the `bffn`
command on the same model and settings (not a test: timings depend on the machine and its load).

    BFFN_LIBRARY=.build/release/libbffnc.so python3 python/benchmarks/overhead.py .build/release/bffn [MODEL]

Runs are interleaved (CLI, Python stream, Python plain, repeated) and medians compared. Figures:
  cli      the command's own decode_tokens_per_second (`bffn generate --json`)
  library  the library's figure for the Python streamed run (its decode loop, with the Python callback in it)
  stream   tokens after the first / seconds between the first piece and the end, as the Python consumer sees them
  plain    the library's figure for `generate_result` without a consumer thread
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Dict, List

import bffn

PROMPT = "def add(a, b):"


def main() -> None:
    cli = sys.argv[1] if len(sys.argv) > 1 else ".build/release/bffn"
    path = sys.argv[2] if len(sys.argv) > 2 else "fixtures/trained"
    tokens, threads, rounds = 256, 2, 7
    figures: Dict[str, List[float]] = {"cli": [], "library": [], "stream": [], "plain": []}
    with bffn.Model(path, threads=threads) as model:
        model.generate(PROMPT, max_new_tokens=8)  # warm
        for _ in range(rounds):
            run = subprocess.run([cli, "generate", path, "-p", PROMPT, "-n", str(tokens), "-t", str(threads),
                                  "--ignore-eos", "--json"], capture_output=True, text=True, check=True)
            figures["cli"].append(json.loads(run.stdout)["decode_tokens_per_second"])

            stream = model.generate(PROMPT, max_new_tokens=tokens, ignore_eos=True, stream=True)
            first = None
            count = 0
            for _piece in stream:
                if first is None:
                    first = time.perf_counter()
                count += 1
            end = time.perf_counter()
            assert stream.result is not None and first is not None
            n = len(stream.result.generated_ids)
            figures["library"].append(stream.result.decode_tokens_per_second)
            figures["stream"].append((n - 1) / (end - first))

            figures["plain"].append(model.generate_result(PROMPT, max_new_tokens=tokens,
                                                          ignore_eos=True).decode_tokens_per_second)
    median = {k: statistics.median(v) for k, v in figures.items()}
    print(f"model {path}, {tokens} tokens, {threads} threads, {rounds} interleaved rounds, medians (tokens/s):")
    for k, v in median.items():
        spread = f"{min(figures[k]):.1f} .. {max(figures[k]):.1f}"
        print(f"  {k:8s} {v:8.1f}   ({spread})")
    print(f"overhead of the streamed binding vs the CLI: {100 * (1 - median['stream'] / median['cli']):+.2f} % "
          f"(per token: {1e6 / median['stream'] - 1e6 / median['cli']:+.1f} us of {1e6 / median['cli']:.0f} us)")
    print(f"overhead inside the library's decode loop (callback): {100 * (1 - median['library'] / median['cli']):+.2f} %")


if __name__ == "__main__":
    main()
