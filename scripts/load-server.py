"""Load for bffn serve (run by scripts/load-server.sh): N concurrent streaming clients for S seconds on loopback.

Each client loops over a fixed set of greedy completion prompts with stream=true; every response is compared with
the text the same prompt gave when it ran alone first. Reports errors, mismatches, p50/p99 time to first token,
aggregate generated tokens per second (stream chunks, one per token piece) and the server's peak RSS.
"""
import asyncio
import json
import sys
import time

PROMPTS = ["def add(a, b):", "The list type", "import os", "class Tree:", "for i in range(", "A tuple is"]


async def completion(port, prompt, max_tokens):
    """One streaming request; returns (seconds to first text, text, chunks)."""
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True}).encode()
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(status.decode().strip())
        first, text, chunks, buffer = None, "", 0, b""
        while True:
            data = await reader.read(65536)
            if not data:
                break
            buffer += data
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                line = event[event.find(b"data: "):]
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                piece = json.loads(line[6:])["choices"][0]["text"]
                if piece:
                    if first is None:
                        first = time.monotonic() - start
                    text += piece
                    chunks += 1
        return first or (time.monotonic() - start), text, chunks
    finally:
        writer.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def main(port, pid, clients, seconds, max_tokens):
    reference = {p: (await completion(port, p, max_tokens))[1] for p in PROMPTS}
    ttft, tokens, errors, mismatches, peak = [], 0, 0, 0, rss_kib(pid)
    deadline = time.monotonic() + seconds

    async def client(k):
        nonlocal tokens, errors, mismatches
        i = k
        while time.monotonic() < deadline:
            p = PROMPTS[i % len(PROMPTS)]
            i += 1
            try:
                first, text, chunks = await asyncio.wait_for(completion(port, p, max_tokens), timeout=seconds + 60)
                ttft.append(first)
                tokens += chunks
                mismatches += text != reference[p]
            except Exception as e:
                errors += 1
                print("error:", e, file=sys.stderr)

    async def watch():
        nonlocal peak
        while time.monotonic() < deadline:
            peak = max(peak, rss_kib(pid))
            await asyncio.sleep(0.2)

    began = time.monotonic()
    await asyncio.gather(watch(), *(client(k) for k in range(clients)))
    elapsed = time.monotonic() - began
    ttft.sort()
    q = lambda f: ttft[min(len(ttft) - 1, int(f * len(ttft)))] if ttft else float("nan")
    print(json.dumps({"clients": clients, "seconds": round(elapsed, 1), "requests": len(ttft), "errors": errors, "mismatches": mismatches,
                      "ttft_p50_s": round(q(0.5), 3), "ttft_p99_s": round(q(0.99), 3), "tokens_per_s": round(tokens / elapsed, 1),
                      "peak_rss_mib": round(peak / 1024, 1), "rss_after_mib": round(rss_kib(pid) / 1024, 1)}))
    return 1 if errors or mismatches else 0


if __name__ == "__main__":
    port, pid, clients, seconds, max_tokens = (int(a) for a in sys.argv[1:6])
    sys.exit(asyncio.run(main(port, pid, clients, seconds, max_tokens)))
