"""Tests of the bffn Python package against independent references: the `safetensors` and `tokenizers` Python
packages, the CRC-32s and first values that torch and a numpy/zipfile reader recorded for the .bin fixtures, and
the `bffn` command (generate, inspect) run in a subprocess.

Run by scripts/check-python.sh with BFFN_LIBRARY pointing at the library and BFFN_CLI at the bffn command of the
same build (default: .build/debug under the repository root).
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import re
import subprocess
import sys
import concurrent.futures
import threading
import weakref
import zlib
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

import bffn

REPO = Path(__file__).resolve().parents[2]
CLI = os.environ.get("BFFN_CLI", str(REPO / ".build" / "debug" / "bffn"))
TRAINED = REPO / "fixtures" / "trained"
REFERENCE = REPO / "fixtures" / "reference"


def cli_json(*args: str) -> Dict[str, Any]:
    """`bffn ARGS --json` parsed."""
    run = subprocess.run([CLI, *args, "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result: Dict[str, Any] = json.loads(run.stdout)
    return result


@pytest.fixture(scope="module")
def model() -> Any:
    with bffn.Model(TRAINED, threads=2) as m:
        yield m


# ---- versions -----------------------------------------------------------------------------------------------

def test_versions_and_abi() -> None:
    header = (REPO / "include" / "bffn.h").read_text()
    declared = int(header.split("#define BFFN_ABI_VERSION", 1)[1].split()[0])
    assert bffn.ABI_VERSION == declared == bffn.abi_version()
    v = bffn.version()
    assert v.count(".") == 2 and all(p.isdigit() for p in v.split("-")[0].split("."))
    assert bffn.library_path and Path(bffn.library_path).name.startswith("libbffnc")


def test_import_error_names_what_was_tried(tmp_path: Path) -> None:
    env = dict(os.environ, BFFN_LIBRARY=str(tmp_path / "nowhere" / "libbffnc.so"))
    run = subprocess.run([sys.executable, "-c", "import bffn"], env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "ImportError" in run.stderr and "$BFFN_LIBRARY" in run.stderr and "nowhere/libbffnc.so" in run.stderr


def test_abi_mismatch_is_refused(tmp_path: Path) -> None:
    # A stand-in library that has every function of bffn.h but reports ABI version 99.
    header = (REPO / "include" / "bffn.h").read_text()
    names = sorted(set(re.findall(r"\b(bffn_\w+)\s*\(", header)))
    assert "bffn_generate" in names and "bffn_tensor_info" in names
    stub = tmp_path / "stub.c"
    stub.write_text("".join(f"int {n}(void) {{ return 0; }}\n" for n in names if n != "bffn_abi_version")
                    + "int bffn_abi_version(void) { return 99; }\n")
    lib = tmp_path / "libbffnc.so"
    cc = subprocess.run(["cc", "-shared", "-fPIC", "-w", "-o", str(lib), str(stub)], capture_output=True, text=True)
    if cc.returncode != 0:
        pytest.skip(f"no C compiler: {cc.stderr}")
    env = dict(os.environ, BFFN_LIBRARY=str(lib))
    run = subprocess.run([sys.executable, "-c", "import bffn"], env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "ABI version 99" in run.stderr and f"version {bffn.ABI_VERSION}" in run.stderr


# ---- load_tensors --------------------------------------------------------------------------------------------

def safetensors_reference(path: Path) -> Dict[str, np.ndarray]:
    """The tensors of a .safetensors file as the safetensors package reads them: `safetensors.numpy.load_file`
    where numpy has the dtype; BF16 (which it refuses) as the raw uint16 bits from `safetensors.deserialize`."""
    import safetensors
    import safetensors.numpy
    raw = dict(safetensors.deserialize(path.read_bytes()))
    if all(v["dtype"] != "BF16" for v in raw.values()):
        return safetensors.numpy.load_file(str(path))
    out = {}
    for name, v in raw.items():
        if v["dtype"] == "BF16":
            out[name] = np.frombuffer(bytes(v["data"]), dtype=np.uint16).reshape(v["shape"])
        else:
            out[name] = np.frombuffer(bytes(v["data"]), dtype=safetensors.numpy._TYPES[v["dtype"]]).reshape(v["shape"])
    return out


def assert_bitwise_equal(ours: Dict[str, np.ndarray], reference: Dict[str, np.ndarray], where: str) -> None:
    assert sorted(ours) == sorted(reference), where
    for name, want in reference.items():
        got = ours[name]
        if got.dtype != want.dtype and want.dtype == np.uint16:  # BF16 under ml_dtypes: compare the bits
            got = got.view(np.uint16)
        assert got.dtype == want.dtype, f"{where} {name}: {got.dtype} != {want.dtype}"
        assert got.shape == want.shape, f"{where} {name}: {got.shape} != {want.shape}"
        assert got.tobytes() == want.tobytes(), f"{where} {name}: bytes differ"


SAFETENSORS_FILES = sorted(p for folder in ("reference", "engine", "trained")
                           for p in (REPO / "fixtures" / folder).rglob("*.safetensors"))


@pytest.mark.parametrize("path", SAFETENSORS_FILES, ids=lambda p: str(p.relative_to(REPO / "fixtures")))
def test_load_tensors_equals_safetensors(path: Path) -> None:
    assert_bitwise_equal(bffn.load_tensors(path, bfloat16="uint16"), safetensors_reference(path), str(path))


def test_sharded_safetensors_folder_equals_its_shards() -> None:
    folder = REPO / "fixtures" / "engine" / "mha-block-rms-sharded-bf16"
    want: Dict[str, np.ndarray] = {}
    for shard in sorted(folder.glob("model-*.safetensors")):
        want.update(safetensors_reference(shard))
    assert_bitwise_equal(bffn.load_tensors(folder, bfloat16="uint16"), want, str(folder))
    assert_bitwise_equal(bffn.load_tensors(folder / "model.safetensors.index.json", bfloat16="uint16"), want, "index")


def expected_records(path: Path) -> List[Dict[str, Any]]:
    records: List[Dict[str, Any]] = json.loads(path.read_text())["tensors"]
    return records


BIN_CASES = [
    (REFERENCE / "mla-blocklinear-rms-bf16-bin", REFERENCE / "mla-blocklinear-rms-bf16-bin" / "expected-tensors.json"),
    (REPO / "fixtures/torch/sharded-bin", REPO / "fixtures/torch/sharded-bin/expected.json"),
    (REPO / "fixtures/torch/variants/variants.bin", REPO / "fixtures/torch/variants/expected.json"),
    (REPO / "fixtures/torch/variants/plain_dict.bin", REPO / "fixtures/torch/variants/plain_dict.expected.json"),
    (REPO / "fixtures/torch/variants/module_state_dict.bin",
     REPO / "fixtures/torch/variants/module_state_dict.expected.json"),
]


@pytest.mark.parametrize("source,expected", BIN_CASES, ids=lambda p: p.name)
def test_load_tensors_bin_equals_torch_records(source: Path, expected: Path) -> None:
    """pytorch_model.bin through the restricted pickle reader: dtype, shape, bytes, the CRC-32 of the row-major
    bytes and the first values, as torch itself (fixtures/torch) or an independent numpy/zipfile reader
    (fixtures/reference) recorded them."""
    tensors = bffn.load_tensors(source, bfloat16="uint16")
    records = expected_records(expected)
    assert sorted(tensors) == sorted(r["name"] for r in records)
    for r in records:
        a = tensors[r["name"]]
        assert list(a.shape) == r["shape"], r["name"]
        assert a.nbytes == r["bytes"], r["name"]
        assert zlib.crc32(a.tobytes()) == r["crc32"], r["name"]
        firsts = r.get("first") or []
        if firsts:
            flat = a.reshape(-1)[:len(firsts)]
            if r["dtype"] == "BF16":
                values = bffn.bf16_to_float32(flat).astype(np.float64)
            elif r["dtype"].startswith("F8") or r["dtype"] in ("F4",) or r["dtype"].startswith("F6"):
                continue  # raw bits; the CRC above covers them
            else:
                values = flat.astype(np.float64)
            np.testing.assert_array_equal(values, np.array(firsts, dtype=np.float64), err_msg=r["name"])


def test_load_tensors_bin_equals_its_safetensors_export(tmp_path: Path) -> None:
    """The .bin reference checkpoint read directly equals its lossless pack exported back to safetensors (read
    by the safetensors package)."""
    source = REFERENCE / "mla-blocklinear-rms-bf16-bin"
    pack = tmp_path / "model.bfpk"
    bffn.convert(source, pack, quant="bf16", threads=1)
    run = subprocess.run([CLI, "export", str(pack), "-o", str(tmp_path / "export")], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    want = safetensors_reference(tmp_path / "export" / "model.safetensors")
    assert_bitwise_equal(bffn.load_tensors(source, bfloat16="uint16"), want, "export")


def test_arrays_are_read_only_views_that_keep_the_handle() -> None:
    tensors = bffn.load_tensors(TRAINED / "model.safetensors")
    name = sorted(tensors)[0]
    a = tensors[name]
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a.flags.writeable = True
    with pytest.raises(ValueError):
        a.reshape(-1)[0] = 0
    view = a.base
    while isinstance(view, np.ndarray):  # reshape's view, then the array over the buffer
        view = view.base
    assert isinstance(view, memoryview) and view.readonly
    owner = view.obj._bffn_tensors  # type: ignore[attr-defined]
    assert isinstance(owner, bffn.TensorSet)
    alive = weakref.ref(owner)
    del view, owner
    keep = a.copy()
    tensors.clear()
    gc.collect()
    assert alive() is not None, "the handle closed while an array still views it"
    assert a.tobytes() == keep.tobytes()
    del a
    gc.collect()
    assert alive() is None, "the handle outlived every array"


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_big_safetensors_file_is_viewed_not_copied(tmp_path: Path) -> None:
    """A 192 MiB safetensors file: the arrays point into the file's mapping and anonymous memory stays flat
    while every byte is read."""
    path = tmp_path / "big.safetensors"
    count, rows, cols = 3, 4096, 4096  # three 64 MiB F32 tensors
    header: Dict[str, Any] = {}
    for i in range(count):
        start = i * rows * cols * 4
        header[f"t{i}"] = {"dtype": "F32", "shape": [rows, cols], "data_offsets": [start, start + rows * cols * 4]}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    marks = {}
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        base = 8 + len(text)
        f.truncate(base + count * rows * cols * 4)  # sparse: fast to write
        for i in range(count):  # a few known values per tensor
            for k, (r, c) in enumerate([(0, 0), (rows // 2, 7), (rows - 1, cols - 1)]):
                value = np.float32(i * 10 + k + 0.5)
                f.seek(base + (i * rows * cols + r * cols + c) * 4)
                f.write(value.tobytes())
                marks[(i, r, c)] = value
    gc.collect()
    anon_before = _status("RssAnon")
    tensors = bffn.load_tensors(path)
    total = 0.0
    for i in range(count):
        total += float(tensors[f"t{i}"].sum(dtype=np.float64))  # reads every page
    anon_after = _status("RssAnon")
    assert anon_after - anon_before < 24 << 20, f"anonymous memory grew {(anon_after - anon_before) >> 20} MiB"
    for (i, r, c), v in marks.items():
        assert tensors[f"t{i}"][r, c] == v
    assert total == pytest.approx(sum(float(v) for v in marks.values()))
    # Every array lies inside a mapping of the file.
    maps = [line.split() for line in Path("/proc/self/maps").read_text().splitlines() if str(path) in line]
    assert maps, "the file is not mapped"
    ranges = [tuple(int(x, 16) for x in m[0].split("-")) for m in maps]
    for a in tensors.values():
        lo = a.ctypes.data
        assert any(start <= lo and lo + a.nbytes <= end for start, end in ranges), "an array is not in the mapping"


def test_load_tensors_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(bffn.IOFailure) as e:
        bffn.load_tensors(missing)
    assert str(missing) in str(e.value) and e.value.code == 2 and e.value.name == "io"
    assert isinstance(e.value, OSError) and isinstance(e.value, bffn.BFFNError)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((10_000).to_bytes(8, "little") + b"{}")
    with pytest.raises(bffn.BFFNError) as e2:
        bffn.load_tensors(bad)
    assert str(bad) in e2.value.message and "byte" in e2.value.message and e2.value.code in (3, 4)
    with pytest.raises(ValueError):
        bffn.load_tensors(TRAINED, bfloat16="float32")


def test_bf16_dtype_choices() -> None:
    path = REFERENCE / "mla-block-rms-bf16" / "model.safetensors"
    bits = bffn.load_tensors(path, bfloat16="uint16")
    assert all(a.dtype == np.uint16 for a in bits.values())
    if importlib.util.find_spec("ml_dtypes") is None:
        assert all(a.dtype == np.uint16 for a in bffn.load_tensors(path).values())
        with pytest.raises(ImportError):
            bffn.load_tensors(path, bfloat16="ml_dtypes")
    else:
        typed = bffn.load_tensors(path, bfloat16="ml_dtypes")
        for name, a in typed.items():
            np.testing.assert_array_equal(a.astype(np.float32), bffn.bf16_to_float32(bits[name]))


# ---- inspect, convert, verify ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [TRAINED, REFERENCE / "mla-blocklinear-rms-bf16-bin"], ids=lambda p: p.name)
def test_inspect_equals_the_cli(path: Path) -> None:
    assert bffn.inspect(path) == cli_json("inspect", str(path))


def test_inspect_check_and_errors(tmp_path: Path) -> None:
    doc = bffn.inspect(REFERENCE / "mla-block-rms-bf16", check=True)
    assert doc["check"]["passed"] is True
    with pytest.raises(bffn.IOFailure) as e:
        bffn.inspect(tmp_path / "nothing-here")
    assert str(tmp_path / "nothing-here") in str(e.value)


def test_convert_and_verify(tmp_path: Path) -> None:
    source = REFERENCE / "mla-block-rms-bf16"
    pack = tmp_path / "q8.bfpk"
    report = bffn.convert(source, pack, quant="q8", threads=1)
    assert report["schema"] == 1 and report["file_bytes"] == pack.stat().st_size
    with pytest.raises(bffn.OutputExistsError) as e:
        bffn.convert(source, pack, quant="q8")
    assert isinstance(e.value, FileExistsError) and str(pack) in str(e.value)
    assert bffn.convert(source, pack, quant="q8", force=True, threads=1)["file_bytes"] == pack.stat().st_size
    with pytest.raises(bffn.UsageError):
        bffn.convert(source, tmp_path / "x.bfpk", quant="q9")
    report = bffn.verify(pack, source, threads=1, max_new_tokens=4)
    assert report["passed"] is True and report["failures"] == []
    assert bffn.inspect(pack)["format"] == "bfpk"


def test_convert_takes_recipes_and_scoped_overrides(tmp_path: Path) -> None:
    """``quant`` names a recipe as ``bffn convert --quant`` does; ``overrides`` take scopes (an expert part, layers)."""
    source = REFERENCE / "mla-block-rms-bf16"
    pack = tmp_path / "q4.bfpk"
    report = bffn.convert(source, pack, quant="q4", overrides={"experts.down": "q8", "attention@1": "q6k"}, threads=1)
    classes = report["classes"]
    assert classes["head"]["dtype"] == "Q6K" or classes["head"]["dtype"].startswith("Q8")  # q6k, or q8 where rows do not fit
    assert "+" in classes["experts"]["dtype"] and "+" in classes["attention"]["dtype"]
    dtypes = {t["name"]: t["dtype"] for t in bffn.inspect(pack)["tensors"]}
    layer1 = [d for n, d in dtypes.items() if n.startswith("model.layers.1.self_attn") and n.endswith("proj.weight")]
    layer0 = [d for n, d in dtypes.items() if n.startswith("model.layers.0.self_attn") and n.endswith("proj.weight")]
    assert "Q6K" in layer1 and layer0 and "Q6K" not in layer0
    with pytest.raises(bffn.UsageError):
        bffn.convert(source, tmp_path / "y.bfpk", quant="q4", overrides={"experts@1": "q8"})


# ---- models ------------------------------------------------------------------------------------------------

TEXTS = ["def add(a, b):", "import os\nimport sys\n", "  héllo wörld — 中文 🙂\ttabs\n\n", "", "The list type is"]


def test_tokenize_equals_the_tokenizers_package(model: bffn.Model) -> None:
    from tokenizers import Tokenizer
    reference = Tokenizer.from_file(str(TRAINED / "tokenizer.json"))
    for text in TEXTS:
        want = reference.encode(text, add_special_tokens=False).ids
        assert model.tokenize(text) == want, text
        assert model.detokenize(want) == reference.decode(want, skip_special_tokens=False), text
    # The tokenizer.json has no post-processor; tokenizer_config.json says add_bos_token (as transformers reads it).
    info = bffn.inspect(TRAINED)["tokenizer"]
    assert info["add_bos"] is True and info["add_eos"] is False
    assert model.tokenize("x = 1", add_special_tokens=True) == [info["bos"]["id"]] + reference.encode("x = 1").ids
    assert model.detokenize([info["bos"]["id"]] + reference.encode("x = 1").ids, skip_special_tokens=True) == "x = 1"


def test_detokenize_errors(model: bffn.Model) -> None:
    assert model.detokenize([]) == ""
    with pytest.raises(bffn.BFFNError):
        model.detokenize([1, 2_000_000])
    with pytest.raises(TypeError):
        model.detokenize(["a"])  # type: ignore[list-item]


def cli_generate(prompt: str, *flags: str) -> Dict[str, Any]:
    return cli_json("generate", str(TRAINED), "-p", prompt, "-t", "2", *flags)


def test_greedy_generation_equals_the_cli(model: bffn.Model) -> None:
    want = cli_generate("def add(a, b):", "-n", "24")
    got = model.generate_result("def add(a, b):", max_new_tokens=24)
    assert got.generated_ids == want["generated_ids"] and got.prompt_ids == want["prompt_ids"]
    assert got.text == want["text"] and got.stop_reason == want["stop_reason"]
    assert model.generate("def add(a, b):", max_new_tokens=24) == want["text"]
    assert model.generate_ids("def add(a, b):", max_new_tokens=24) == want["generated_ids"]


def test_seeded_sampling_equals_the_cli(model: bffn.Model) -> None:
    want = cli_generate("import os", "-n", "24", "--temperature", "0.9", "--top-p", "0.95", "--top-k", "50",
                        "--seed", "7")
    got = model.generate_result("import os", max_new_tokens=24, temperature=0.9, top_p=0.95, top_k=50, seed=7)
    assert got.generated_ids == want["generated_ids"]
    other = model.generate_result("import os", max_new_tokens=24, temperature=0.9, top_p=0.95, top_k=50, seed=8)
    assert other.generated_ids != got.generated_ids


def test_chat_equals_the_cli(model: bffn.Model) -> None:
    want = cli_generate("What is a list?", "--chat", "-n", "8")
    got = model.generate_result([{"role": "user", "content": "What is a list?"}], max_new_tokens=8)
    assert got.generated_ids == want["generated_ids"] and got.prompt_ids == want["prompt_ids"]
    assert model.chat("What is a list?", max_new_tokens=8) == want["text"]


def test_generation_from_ids_and_stop_strings(model: bffn.Model) -> None:
    by_text = model.generate_result("def add(a, b):", max_new_tokens=12)
    by_ids = model.generate_result(by_text.prompt_ids, max_new_tokens=12)
    assert by_ids.prompt_ids == by_text.prompt_ids and by_ids.generated_ids == by_text.generated_ids
    full = by_text.text or ""
    stop = full.strip()[:3]
    cut = model.generate_result("def add(a, b):", max_new_tokens=12, stop=stop)
    assert cut.stop_reason == "stop" and stop not in (cut.text or "")


def test_streaming_pieces_join_to_the_text(model: bffn.Model) -> None:
    want = model.generate_result("import os", max_new_tokens=32)
    stream = model.generate("import os", max_new_tokens=32, stream=True)
    assert isinstance(stream, bffn.GenerationStream)
    pieces = list(stream)
    assert len(pieces) > 1 and "".join(pieces) == want.text
    assert stream.result is not None and stream.result.generated_ids == want.generated_ids
    assert stream.text == want.text


def test_closing_a_stream_stops_generation(model: bffn.Model) -> None:
    stream = model.generate("import os", max_new_tokens=200, ignore_eos=True, stream=True)
    first = [next(stream), next(stream)]
    assert all(first)
    stream.close()
    assert stream.result is not None and stream.result.stop_reason == "cancelled"
    assert len(stream.result.generated_ids) < 200
    assert list(stream) == []
    with model.generate("import os", max_new_tokens=200, ignore_eos=True, stream=True) as s:
        for _ in s:
            break
    assert s.result is not None and s.result.stop_reason == "cancelled"
    # The model serves the next call normally.
    assert model.generate_result("import os", max_new_tokens=4).stop_reason == "max_new_tokens"


def test_on_text_callback_can_stop_and_raise(model: bffn.Model) -> None:
    seen: List[str] = []
    r = model.generate_result("import os", max_new_tokens=50, ignore_eos=True, on_text=lambda t: seen.append(t) or len(seen) < 3)
    assert r.stop_reason == "cancelled" and len(seen) == 3

    def boom(text: str) -> None:
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        model.generate_result("import os", max_new_tokens=8, on_text=boom)


def test_parallel_sequences_give_each_thread_its_own_result(model: bffn.Model) -> None:
    """Generations started together on a parallel model are decoded together and give what each gives alone,
    log-probabilities included (greedy and seeded sampling); the log-probabilities agree with the ids."""
    jobs = [("def f(x):", 0.0, 0), ("class A:", 0.8, 3), ("import sys", 0.0, 0), ("x = [", 1.1, 9)]
    alone = [model.generate_result(p, max_new_tokens=10, temperature=t, seed=s, logprobs=2) for p, t, s in jobs]
    with bffn.Model(TRAINED, threads=2, parallel_sequences=4) as parallel:
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            together = list(pool.map(lambda j: parallel.generate_result(j[0], max_new_tokens=10, temperature=j[1],
                                                                        seed=j[2], logprobs=2), jobs))
    assert [r.generated_ids for r in together] == [r.generated_ids for r in alone]
    assert [r.logprobs for r in together] == [r.logprobs for r in alone]
    for r in alone:
        assert [e["id"] for e in r.logprobs] == r.generated_ids
        assert all(e["logprob"] <= 0 and len(e["top"]) == 2 for e in r.logprobs)
    assert model.generate_result("x", max_new_tokens=2).logprobs is None
    with pytest.raises(bffn.LimitError):
        model.generate_result("x", logprobs=21)


def test_threads_share_a_model(model: bffn.Model) -> None:
    want = model.generate_ids("def f(x):", max_new_tokens=8)
    results: List[List[int]] = []
    threads = [threading.Thread(target=lambda: results.append(model.generate_ids("def f(x):", max_new_tokens=8)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [want] * 3


def test_model_errors(tmp_path: Path, model: bffn.Model) -> None:
    with pytest.raises(bffn.IOFailure) as e:
        bffn.Model(tmp_path / "no-model")
    assert str(tmp_path / "no-model") in str(e.value)
    with pytest.raises(bffn.UsageError) as e2:
        bffn.Model(TRAINED, speculative="bogus")
    assert "bogus" in str(e2.value) and isinstance(e2.value, ValueError)
    with pytest.raises(bffn.BFFNError):
        bffn.Model(TRAINED, threads=0)
    with pytest.raises(bffn.UsageError) as e3:
        model.generate("x", temperature="hot")  # type: ignore[arg-type]
    assert "temperature" in str(e3.value)
    with pytest.raises(bffn.UsageError):
        model.generate([], max_new_tokens=2)
    with pytest.raises(TypeError):
        model.generate(3.5)  # type: ignore[arg-type]
    with pytest.raises(bffn.BFFNError, match="max_new_tokens"):  # out of range: a LimitError (out_of_bounds)
        list(model.generate("x", max_new_tokens=-1, stream=True))


def test_close_and_context_manager() -> None:
    m = bffn.Model(TRAINED, threads=1)
    assert not m.closed and "fixtures/trained" in repr(m)
    m.close()
    m.close()
    assert m.closed
    with pytest.raises(bffn.UsageError, match="closed"):
        m.tokenize("x")
    with bffn.Model(TRAINED, threads=1, speculative="ngram") as m2:
        assert m2.generate_ids("def add(a, b):", max_new_tokens=8) == \
            cli_generate("def add(a, b):", "-n", "8")["generated_ids"]
    assert m2.closed


def test_dropping_a_stream_stops_generation(model: bffn.Model) -> None:
    """`for piece in model.generate(..., stream=True): break` without a `with`: the stream is collected when the
    loop drops it, which stops generation instead of leaving a thread running to max_new_tokens."""
    for piece in model.generate("import os", max_new_tokens=100_000, ignore_eos=True, stream=True):
        assert piece
        break
    gc.collect()
    assert not [t for t in threading.enumerate() if t.name == "bffn-generate"]
    assert model.generate_result("import os", max_new_tokens=2).stop_reason == "max_new_tokens"
