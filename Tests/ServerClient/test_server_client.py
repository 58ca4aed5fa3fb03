"""bffn serve against the real `openai` Python client (scripts/check-server.sh runs it).

Starts `bffn serve fixtures/trained --port 0 --parallel 2` as a child, reads the port it prints, and checks chat and
text completions, streamed and not, stop strings, seeded sampling, and greedy output equal to `bffn generate`.
Usage: python3 test_server_client.py BFFN_BINARY
"""
import json
import math
import os
import re
import subprocess
import sys
import traceback

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "fixtures", "trained")


def start(binary, *extra):
    proc = subprocess.Popen([binary, "serve", MODEL, "--port", "0", "--threads", "1", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"serving '.*' on (http://\S+)", line)
        if m:
            return proc, m.group(1)
    raise RuntimeError("bffn serve exited before listening (status %s)" % proc.wait())


def generate(binary, *args):
    out = subprocess.run([binary, "generate", MODEL, "--json", "--threads", "1", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["text"]


def main():
    binary = sys.argv[1]
    proc, base = start(binary, "--parallel", "2")
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=60)
    tests = []

    def test(f):
        tests.append(f)
        return f

    @test
    def models_lists_the_model():
        assert [m.id for m in client.models.list().data] == ["trained"]

    @test
    def completion_greedy_equals_bffn_generate():
        r = client.completions.create(model="x", prompt="def add(a, b):", max_tokens=24, temperature=0)
        assert r.choices[0].text == generate(binary, "--prompt", "def add(a, b):", "--max-new-tokens", "24"), r
        assert r.choices[0].finish_reason in ("stop", "length")
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens and r.usage.completion_tokens <= 24

    @test
    def chat_greedy_equals_bffn_generate_chat():
        r = client.chat.completions.create(model="blockffn", messages=[{"role": "user", "content": "What is a tuple?"}],
                                           max_tokens=20, temperature=0)
        assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
        assert r.choices[0].message.content == generate(binary, "--prompt", "What is a tuple?", "--chat", "--max-new-tokens", "20"), r

    @test
    def streaming_gives_the_same_text():
        kw = dict(model="m", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Sort a list"}],
                  max_tokens=16, temperature=0)
        whole = client.chat.completions.create(**kw).choices[0].message.content
        chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == whole, (text, whole)
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 16
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finish in (["stop"], ["length"]), finish
        streamed = "".join(c.choices[0].text for c in client.completions.create(model="m", prompt="import os", max_tokens=12,
                                                                              temperature=0, stream=True))
        assert streamed == client.completions.create(model="m", prompt="import os", max_tokens=12, temperature=0).choices[0].text

    @test
    def stop_strings_cut_the_text():
        full = client.completions.create(model="m", prompt="def add(a, b):", max_tokens=24, temperature=0).choices[0].text
        word = next(w for w in full.split() if len(w) > 1 and full.index(w) > 0)
        cut = client.completions.create(model="m", prompt="def add(a, b):", max_tokens=24, temperature=0, stop=[word, "zzzz"])
        assert cut.choices[0].text == full[:full.index(word)] and cut.choices[0].finish_reason == "stop", (full, word, cut)
        streamed = "".join(c.choices[0].text for c in client.completions.create(model="m", prompt="def add(a, b):", max_tokens=24,
                                                                              temperature=0, stop=word, stream=True))
        assert streamed == cut.choices[0].text

    @test
    def seeded_sampling_is_reproducible():
        kw = dict(model="m", prompt="The list type", max_tokens=20, temperature=0.9, top_p=0.95)
        a = client.completions.create(seed=11, **kw).choices[0].text
        b = client.completions.create(seed=11, **kw).choices[0].text
        c = client.completions.create(seed=12, **kw).choices[0].text
        assert a == b and (a != c or len(a) == 0), (a, b, c)
        assert a == generate(binary, "--prompt", "The list type", "--max-new-tokens", "20", "--temperature", "0.9", "--top-p", "0.95", "--seed", "11")

    @test
    def errors_are_openai_errors():
        try:
            client.completions.create(model="m", prompt="x", n=2)
            raise AssertionError("n=2 accepted")
        except openai.BadRequestError as e:
            assert e.status_code == 400 and e.body["param"] == "n", e.body

    @test
    def logprobs_parse_in_the_client():
        r = client.completions.create(model="m", prompt="def add(a, b):", max_tokens=12, temperature=0, logprobs=3)
        lp = r.choices[0].logprobs
        assert "".join(lp.tokens) == r.choices[0].text and len(lp.token_logprobs) == r.usage.completion_tokens, lp
        for value, top in zip(lp.token_logprobs, lp.top_logprobs):
            # Greedy: the chosen token is the most likely; three alternatives hold at most all the probability.
            assert value <= 0 and abs(max(top.values()) - value) < 1e-12 and sum(math.exp(v) for v in top.values()) <= 1 + 1e-9, top
        c = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=6, temperature=0,
                                           logprobs=True, top_logprobs=2)
        content = c.choices[0].logprobs.content
        assert len(content) == c.usage.completion_tokens and all(len(t.top_logprobs) == 2 for t in content), content
        assert "".join(t.token for t in content) == c.choices[0].message.content
        streamed = [x for ch in client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=6,
                                                               temperature=0, logprobs=True, top_logprobs=2, stream=True)
                    if ch.choices and ch.choices[0].logprobs for x in ch.choices[0].logprobs.content]
        assert [(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob) for t in content]

    @test
    def speculative_greedy_text_is_the_same():
        spec, spec_base = start(binary, "--speculative", "eagle:" + os.path.join(MODEL, "eagle"))
        try:
            sc = openai.OpenAI(base_url=spec_base + "/v1", api_key="unused", max_retries=0, timeout=60)
            kw = dict(model="m", prompt="def add(a, b):", max_tokens=24, temperature=0, logprobs=2)
            a, b = sc.completions.create(**kw).choices[0], client.completions.create(**kw).choices[0]
            assert a.text == b.text and a.logprobs.token_logprobs == b.logprobs.token_logprobs, (a, b)
        finally:
            spec.terminate()
            spec.wait(timeout=30)

    passed = failed = 0
    try:
        for f in tests:
            try:
                f()
                passed += 1
                print("ok", f.__name__)
            except Exception:
                failed += 1
                print("FAILED", f.__name__)
                traceback.print_exc()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
