#!/usr/bin/env python3
"""Fault figures for bffn serve (not a test): starts `bffn serve fixtures/trained` on a free loopback port and, for
SECONDS, sends a mix of hostile traffic from several threads: random bytes, half-sent requests left open, requests
whose declared body never arrives, truncated and malformed JSON, invalid UTF-8, huge numbers, streaming requests
dropped mid-stream. Every few hundred faults it checks that /health answers and that a normal completion gives
the same text as at the start. Prints one JSON line: faults sent by kind, health and consistency checks passed,
the server's RSS before and after, and whether the server is still alive.
Usage: python3 scripts/fault-server.py [SECONDS=30] [BFFN=.build/debug/bffn]"""
import json, os, random, re, socket, subprocess, sys, threading, time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30
bffn = sys.argv[2] if len(sys.argv) > 2 else ".build/debug/bffn"
server = subprocess.Popen([bffn, "serve", "fixtures/trained", "--port", "0", "--parallel", "2", "--max-queue", "16"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
port = None
for line in server.stderr:
    m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if m:
        port = int(m.group(1))
        break
threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()

def rss():
    with open(f"/proc/{server.pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1]) // 1024

def request(raw, read=True, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        if not read:
            return b""
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    except (socket.timeout, ConnectionError):
        return b""
    finally:
        s.close()

def post(path, body, extra=b""):
    body = body if isinstance(body, bytes) else body.encode()
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n").encode() + extra + b"\r\n" + body

def completion():
    r = request(post("/v1/completions", json.dumps({"prompt": "def add(a, b):", "max_tokens": 12, "temperature": 0})))
    m = re.search(rb"\r\n\r\n(.*)", r, re.S)
    return json.loads(m.group(1))["choices"][0]["text"] if m and r.startswith(b"HTTP/1.1 200") else None

reference = completion()
rss_before = rss()
counts, checks, failures, lock = {}, 0, [], threading.Lock()
rng = random.Random(7)
faults = {
    "random_bytes": lambda r: request(bytes(r.randrange(256) for _ in range(r.randrange(1, 4000)))),
    "half_request": lambda r: request(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Len", read=False),
    "body_never_sent": lambda r: request(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"prompt\":", timeout=2),
    "truncated_json": lambda r: request(post("/v1/completions", '{"prompt": "x", "max_tokens": ')),
    "invalid_utf8": lambda r: request(post("/v1/completions", b'{"prompt": "\xff\xfe\xc3", "max_tokens": 2}')),
    "huge_numbers": lambda r: request(post("/v1/completions", '{"prompt": "x", "max_tokens": 1e400, "seed": 99999999999999999999999}')),
    "wrong_types": lambda r: request(post("/v1/chat/completions", '{"messages": "hi", "temperature": [1]}')),
    "dropped_stream": lambda r: request(post("/v1/completions", '{"prompt": "x", "max_tokens": 200, "stream": true, "ignore_eos": true}'), read=False),
    "huge_body": lambda r: request(post("/v1/completions", '{"prompt": "' + "a" * (2 << 20) + '"}')),
}

def worker(seed):
    global checks
    r = random.Random(seed)
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        kind = r.choice(list(faults))
        faults[kind](r)
        n += 1
        with lock:
            counts[kind] = counts.get(kind, 0) + 1
        if n % 50 == 0:
            ok = request(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200") and completion() == reference
            with lock:
                checks += 1
                if not ok:
                    failures.append(kind)

threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
time.sleep(1)
alive = server.poll() is None
final_ok = alive and completion() == reference
result = {"seconds": seconds, "faults": counts, "total": sum(counts.values()), "checks": checks, "check_failures": len(failures),
          "alive": alive, "final_completion_same": final_ok, "rss_before_mib": rss_before, "rss_after_mib": rss() if alive else None}
print(json.dumps(result))
server.terminate()
sys.exit(0 if alive and final_ok and not failures else 1)
