#!/usr/bin/env python3
"""Compares bffn's k-quant storages (q4k, q5k, q6k, q3k) with llama.cpp's Q4_K, Q5_K, Q6_K and Q3_K on the same
matrices of a BlockFFN checkpoint, each with and without the same importance vector (scripts/peers/README.md).

llama.cpp side: ggml-quants.c of the llama-cpp-python sdist given as SDIST (read offline, never downloaded), compiled
with gcc -O2 together with ggml_quants_shim.c into a shared library in the cache folder, called through ctypes.
bffn side: `bffn convert MODEL --quant FMT [--imatrix STATS]`, then the pack is read back with the numpy reader below,
written from formats/bfpk.md alone (header, json-c manifest, tensor and block tables, the Q3K ... Q6K row layouts),
and every matrix is dequantized from its bytes.

Importances: `bffn calibrate MODEL --text MODEL/calibration.txt` (formats/calibration.md): per multiplied matrix the
mean x² of each input column, per expert for the experts. They are llama.cpp's imatrix for that matrix and the
weights of the weighted RMSE for both tools.

Usage: compare_quantizers.py SDIST [--model fixtures/trained] [--stats stats.safetensors] [--bffn PATH] [--json]
"""
import argparse
import ctypes
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHIM = os.path.join(HERE, "ggml_quants_shim.c")

FORMATS = ["q4k", "q5k", "q6k", "q3k"]
LLAMA_NAME = {"q3k": "Q3_K", "q4k": "Q4_K", "q5k": "Q5_K", "q6k": "Q6_K"}
# What llama-quantize stores instead when a row is not a multiple of 256 (tensor_type_fallback, src/llama-quant.cpp)
FALLBACK = {"q3k": "Q4_0", "q4k": "Q5_0", "q5k": "Q5_1", "q6k": "Q8_0"}
GGML_TYPE = {"Q4_0": 2, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14}  # ggml.h
GGML_BLOCK = {"Q4_0": 32, "Q5_0": 32, "Q5_1": 32, "Q8_0": 32, "Q3_K": 256, "Q4_K": 256, "Q5_K": 256, "Q6_K": 256}
QK_K = 256
CLASSES = ["embeddings", "attention", "experts_up", "experts_down", "dense_ffn", "head"]
# (tool, layout): bffn's own rows; llama.cpp's K type on the same rows, each zero-padded to a multiple of 256 (what
# it needs), the padding given importance 0, its bytes counted; llama.cpp's K type on the matrix's elements in
# row-major order cut into runs of 256 (its nominal bits, super-blocks straddling rows); and what llama-quantize
# would store: the K type where the rows are multiples of 256, else its fallback type (FALLBACK) on the same rows.
VARIANTS = [("bffn", "rows"), ("llama.cpp", "rows"), ("llama.cpp", "flat"), ("llama.cpp", "fallback")]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sha256_file(path, h=None):
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h


def short_hash(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------
# llama.cpp's quantizers


def build_ggml(sdist, cache):
    """Extracts ggml-quants.c and the headers it includes from the sdist; compiles them with the shim."""
    key = short_hash(sha256_file(sdist).hexdigest(), open(SHIM, "rb").read(),
                     subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout)
    out = os.path.join(cache, "ggml-" + key)
    lib = os.path.join(out, "libggml_quants_peers.so")
    if os.path.exists(lib):
        return lib
    log(f"building llama.cpp's quantizers from {os.path.basename(sdist)} into {out}")
    work = tempfile.mkdtemp(prefix="ggml-build-", dir=cache)
    found = 0
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if "vendor" not in parts or not member.isfile():
                continue
            rel = parts[parts.index("vendor"):]  # vendor/llama.cpp/ggml/...
            if rel[:3] != ["vendor", "llama.cpp", "ggml"] or ".." in rel:
                continue
            tail = rel[3:]
            wanted = ((len(tail) == 2 and tail[0] == "include" and tail[1].endswith(".h"))
                      or (len(tail) == 2 and tail[0] == "src"
                          and (tail[1].endswith(".h") or tail[1] == "ggml-quants.c"))
                      or (len(tail) == 3 and tail[:2] == ["src", "ggml-cpu"] and tail[2].endswith(".h")))
            if not wanted:
                continue
            dest = os.path.join(work, *tail)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with tar.extractfile(member) as src, open(dest, "wb") as f:
                f.write(src.read())
            found += 1
    src_dir = os.path.join(work, "src")
    if not os.path.exists(os.path.join(src_dir, "ggml-quants.c")):
        sys.exit(f"{sdist}: no vendor/llama.cpp/ggml/src/ggml-quants.c inside")
    flags = ["-O2", "-fPIC", "-std=gnu11", "-I", src_dir, "-I", os.path.join(work, "include"),
             "-I", os.path.join(src_dir, "ggml-cpu")]
    objs = []
    for c in (os.path.join(src_dir, "ggml-quants.c"), SHIM):
        o = os.path.join(work, os.path.basename(c) + ".o")
        subprocess.run(["gcc", *flags, "-c", c, "-o", o], check=True)
        objs.append(o)
    tmp_lib = os.path.join(work, "lib.so")
    subprocess.run(["gcc", "-shared", "-Wl,--no-undefined", "-o", tmp_lib, *objs, "-lm"], check=True)
    os.makedirs(out, exist_ok=True)
    os.replace(tmp_lib, lib)
    shutil.rmtree(work)
    log(f"  {found} files from the sdist, {lib}")
    return lib


class Ggml:
    """ggml-quants.c through the shim: quantize_<type>(src, dst, nrows, n_per_row, imatrix), dequantize_row_<type>."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        vp, i64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
        self.lib.peers_row_size.argtypes, self.lib.peers_row_size.restype = [c_int, i64], ctypes.c_size_t
        self.lib.peers_quantize.argtypes = [c_int, vp, vp, i64, i64, vp, c_int]
        self.lib.peers_quantize.restype = ctypes.c_size_t
        self.lib.peers_dequantize.argtypes, self.lib.peers_dequantize.restype = [c_int, vp, vp, i64], c_int

    def row_size(self, typ, n):
        size = self.lib.peers_row_size(GGML_TYPE[typ], n)
        assert size > 0, (typ, n)
        return size

    def quantize(self, typ, x, imatrix, per_row=False):
        """x: float32 [rows, n]. imatrix: None, float32 [n] (quantize_<type>'s own argument: every row) or, with
        per_row, float32 [rows, n] (each row quantized alone with its own vector). Returns the bytes."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        rows, n = x.shape
        dst = np.zeros(rows * self.row_size(typ, n), dtype=np.uint8)
        if imatrix is not None:
            imatrix = np.ascontiguousarray(imatrix, dtype=np.float32)
            assert imatrix.size == (rows * n if per_row else n)
        written = self.lib.peers_quantize(GGML_TYPE[typ], x.ctypes.data, dst.ctypes.data, rows, n,
                                          None if imatrix is None else imatrix.ctypes.data, int(per_row))
        assert written == dst.size, (typ, written, dst.size)
        return dst

    def dequantize(self, typ, data, rows, n):
        out = np.empty((rows, n), dtype=np.float32)
        assert self.lib.peers_dequantize(GGML_TYPE[typ], data.ctypes.data, out.ctypes.data, rows * n) == 0
        return out


def llama_roundtrip(ggml, typ, x, w, layout):
    """llama.cpp's stored bytes and dequantized values of matrix x [R, C] in type typ with importances w [C] (or
    None): layout `rows` (each row zero-padded to the type's block, the padding with importance 0) or `flat` (the
    elements in row-major order cut into rows of one block, each with its elements' importances)."""
    R, C = x.shape
    block = GGML_BLOCK[typ]
    if layout == "rows":
        Cp = -(-C // block) * block
        xp = np.zeros((R, Cp), dtype=np.float32)
        xp[:, :C] = x
        wp = None
        if w is not None:
            wp = np.zeros(Cp, dtype=np.float32)
            wp[:C] = w
        data = ggml.quantize(typ, xp, wp)
        return data.size, ggml.dequantize(typ, data, R, Cp)[:, :C]
    flat = x.reshape(-1)
    total = -(-flat.size // block) * block
    xp = np.zeros(total, dtype=np.float32)
    xp[:flat.size] = flat
    wp = None
    if w is not None:
        wp = np.zeros(total, dtype=np.float32)
        wp[:flat.size] = np.tile(w.astype(np.float32), R)
    data = ggml.quantize(typ, xp.reshape(-1, block), wp, per_row=True)
    return data.size, ggml.dequantize(typ, data, total // block, block).reshape(-1)[:flat.size].reshape(R, C)


# ---------------------------------------------------------------------------------------------------------------
# safetensors (the model and the calibration statistics)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack_from("<Q", raw, 0)[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        buf = np.frombuffer(raw, dtype=np.uint8, count=b - a, offset=base + a)
        dt, shape = info["dtype"], info["shape"]
        if dt == "BF16":
            arr = (buf.view("<u2").astype(np.uint32) << 16).view(np.float32)
        elif dt == "F16":
            arr = buf.view("<f2").astype(np.float32)
        elif dt == "F32":
            arr = buf.view("<f4").astype(np.float32)
        elif dt == "I64":
            arr = buf.view("<i8").copy()
        else:
            sys.exit(f"{path}: {name} has dtype {dt}, not read here")
        tensors[name] = arr.reshape(shape)
    return tensors, meta


def read_model(model):
    if os.path.isdir(model):
        single = os.path.join(model, "model.safetensors")
        index = os.path.join(model, "model.safetensors.index.json")
        files = [single] if os.path.exists(single) else None
        if files is None and os.path.exists(index):
            with open(index) as f:
                files = sorted({os.path.join(model, v) for v in json.load(f)["weight_map"].values()})
        if files is None:
            sys.exit(f"{model}: no model.safetensors (or its index) inside")
        with open(os.path.join(model, "config.json")) as f:
            config = json.load(f)
    else:
        files = [model]
        with open(os.path.join(os.path.dirname(model), "config.json")) as f:
            config = json.load(f)
    tensors = {}
    for path in files:
        tensors.update(read_safetensors(path)[0])
    return tensors, config, files


def matrices(tensors, config, stats):
    """The multiplied matrices bffn quantizes, each as (name, class, float32 [rows, cols], importance [cols] or
    None): the same rows both tools quantize (for experts: up [de, H] rows of H; down [H, de] rows of de,
    formats/bfpk.md "Expert block": quantized down rows group along de)."""
    out = []
    E, de = config.get("num_experts"), config.get("expert_size")
    layers = config["num_hidden_layers"]

    def dense(name, cls):
        w = stats.get(name)
        out.append((name, cls, tensors[name], None if w is None else w.astype(np.float32)))

    dense("model.embed_tokens.weight", "embeddings")
    for l in range(layers):
        p = f"model.layers.{l}."
        for name in sorted(n for n in tensors if n.startswith(p + "self_attn.") and tensors[n].ndim == 2):
            dense(name, "attention")
        up, down = tensors.get(p + "mlp.up_proj"), tensors.get(p + "mlp.down_proj")
        if up is not None and down is not None:
            up_w, down_w = stats.get(f"experts.{l}.up"), stats.get(f"experts.{l}.down")
            for e in range(E):
                if up.ndim == 2:  # block_linear: up [E·de, H], down [H, E·de]
                    u, d = up[e * de:(e + 1) * de, :], down[:, e * de:(e + 1) * de]
                else:  # block: up [E, de, H], down [E, H, de]
                    u, d = up[e], down[e]
                out.append((f"{p}mlp.up_proj[{e}]", "experts_up", np.ascontiguousarray(u),
                            None if up_w is None else up_w[e].astype(np.float32)))
                out.append((f"{p}mlp.down_proj[{e}]", "experts_down", np.ascontiguousarray(d),
                            None if down_w is None else down_w[e].astype(np.float32)))
        for part in ("gate_proj", "up_proj", "down_proj"):
            name = f"{p}mlp.{part}.weight"
            if name in tensors:
                dense(name, "dense_ffn")
    if "lm_head.weight" in tensors:
        dense("lm_head.weight", "head")
    return out


# ---------------------------------------------------------------------------------------------------------------
# The .bfpk reader, from formats/bfpk.md only


class SpecProblem(Exception):
    pass


def ceil_div(a, b):
    return -(-a // b)


def row_bytes(storage, cols):
    """Bytes of one stored row ("Quantized rows", "Q3K rows" ... "Q6K rows")."""
    dt = storage["dtype"]
    if dt in ("F32", "F16", "BF16"):
        return cols * {"F32": 4, "F16": 2, "BF16": 2}[dt]
    if dt == "Q8":
        return cols // storage["group"] * 4 + cols
    if dt == "Q4":
        n = cols // storage["group"]
        return n * 4 * (2 if storage["asymmetric"] else 1) + cols // 2
    B = ceil_div(cols, 256)
    if dt == "Q4K":
        return 4 * B + ceil_div(3 * cols, 64) + cols // 2
    if dt == "Q5K":
        return 2 * B + ceil_div(6 * cols, 256) + 5 * cols // 8
    if dt == "Q6K":
        return 2 * B + cols // 32 + 3 * cols // 4
    if dt == "Q3K":
        return 2 * B + ceil_div(3 * cols, 64) + 3 * cols // 8
    raise SpecProblem(f"unknown storage {dt}")


def bit_fields(table, width, n, what, problems):
    """Field j of `width` bits at bits width·j ... of each row's table, read as one little-endian bit string."""
    bits = np.unpackbits(table, axis=1, bitorder="little")
    if bits[:, n * width:].any():
        problems.add(f"{what}: unused bits of the sub-block table are not 0")
    used = bits[:, :n * width].reshape(table.shape[0], n, width).astype(np.uint32)
    return (used << np.arange(width, dtype=np.uint32)).sum(axis=2, dtype=np.uint32)


def nibbles(b):
    q = np.empty((b.shape[0], b.shape[1] * 2), dtype=np.uint8)
    q[:, 0::2], q[:, 1::2] = b & 15, b >> 4
    return q


def crumbs(b):
    q = np.empty((b.shape[0], b.shape[1] * 4), dtype=np.uint8)
    for k in range(4):
        q[:, k::4] = (b >> (2 * k)) & 3
    return q


def bits1(b):
    return np.unpackbits(b, axis=1, bitorder="little")


def f16(b):
    return np.ascontiguousarray(b).view("<f2").astype(np.float32)


def dequantize_rows(storage, raw, cols, what, problems):
    """raw: uint8 [rows, row_bytes] → float32 [rows, cols], exactly as formats/bfpk.md says each row decodes."""
    dt, R = storage["dtype"], raw.shape[0]
    if dt == "F32":
        return raw.view("<f4").astype(np.float32)
    if dt == "F16":
        return raw.view("<f2").astype(np.float32)
    if dt == "BF16":
        return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
    if dt in ("Q8", "Q4"):
        g = storage["group"]
        n = cols // g
        scales = np.ascontiguousarray(raw[:, :4 * n]).view("<f4")
        if dt == "Q8":
            q = raw[:, 4 * n:].view(np.int8).astype(np.float32).reshape(R, n, g)
            return (q * scales[:, :, None]).reshape(R, cols)
        if storage["asymmetric"]:
            offsets = np.ascontiguousarray(raw[:, 4 * n:8 * n]).view("<f4")
            q = nibbles(raw[:, 8 * n:]).astype(np.float64).reshape(R, n, g)
            # fma(q, scale, offset): q·scale is exact in float64, one rounding to float32 after the add
            return (q * scales[:, :, None].astype(np.float64) + offsets[:, :, None]).astype(np.float32).reshape(R, cols)
        q = nibbles(raw[:, 4 * n:]).astype(np.int16) - 8
        return (q.astype(np.float32).reshape(R, n, g) * scales[:, :, None]).reshape(R, cols)
    B = ceil_div(cols, 256)
    if dt == "Q4K":
        n = cols // 32
        hdr = f16(raw[:, :4 * B]).reshape(R, B, 2)
        t0, tb = 4 * B, ceil_div(3 * n, 2)
        fields = bit_fields(raw[:, t0:t0 + tb], 12, n, what, problems)
        sc, m = (fields & 63).astype(np.float32), (fields >> 6).astype(np.float32)
        sb = np.arange(n) // 8
        s = hdr[:, sb, 0] * sc  # exact: an 11-bit significand times a 6-bit integer
        o = np.float32(0) - hdr[:, sb, 1] * m
        q = nibbles(raw[:, t0 + tb:t0 + tb + cols // 2]).astype(np.float32).reshape(R, n, 32)
        # fma(q, s, o) = q·s + o with one rounding, since q·s (a 4-bit code times s) is exact in float32
        return (q * s[:, :, None] + o[:, :, None]).reshape(R, cols)
    if dt == "Q5K":
        n = cols // 32
        d = f16(raw[:, :2 * B])
        t0, tb = 2 * B, ceil_div(6 * n, 8)
        sc = bit_fields(raw[:, t0:t0 + tb], 6, n, what, problems).astype(np.float32)
        lo0 = t0 + tb
        u = nibbles(raw[:, lo0:lo0 + cols // 2]) | (bits1(raw[:, lo0 + cols // 2:lo0 + cols // 2 + cols // 8]) << 4)
        s = d[:, np.arange(n) // 8] * sc
        return ((u.astype(np.float32) - 16).reshape(R, n, 32) * s[:, :, None]).reshape(R, cols)
    if dt == "Q6K":
        n = cols // 32
        d = f16(raw[:, :2 * B])
        sc = raw[:, 2 * B:2 * B + n].astype(np.float32)
        lo0 = 2 * B + n
        u = nibbles(raw[:, lo0:lo0 + cols // 2]) | (crumbs(raw[:, lo0 + cols // 2:lo0 + cols // 2 + cols // 4]) << 4)
        s = d[:, np.arange(n) // 8] * sc
        return ((u.astype(np.float32) - 32).reshape(R, n, 32) * s[:, :, None]).reshape(R, cols)
    if dt == "Q3K":
        n = cols // 16
        d = f16(raw[:, :2 * B])
        t0, tb = 2 * B, ceil_div(6 * n, 8)
        fields = bit_fields(raw[:, t0:t0 + tb], 6, n, what, problems)
        sc, mirror = (fields & 31).astype(np.float32), (fields >> 5) & 1
        lo0 = t0 + tb
        u = crumbs(raw[:, lo0:lo0 + cols // 4]) | (bits1(raw[:, lo0 + cols // 4:lo0 + cols // 4 + cols // 8]) << 2)
        c = u.astype(np.int16).reshape(R, n, 16) - 4
        c = np.where(mirror[:, :, None] == 1, -c, c)  # c = u − 4, or 4 − u when mirrored
        s = d[:, np.arange(n) // 16] * sc
        return (c.astype(np.float32) * s[:, :, None]).reshape(R, cols)
    raise SpecProblem(f"{what}: unknown storage {dt}")


class Pack:
    """A .bfpk file, checked as formats/bfpk.md "Checks a reader makes" 1-5 (and the CRCs of check 6)."""

    def __init__(self, path, problems):
        self.path, self.problems = path, problems
        with open(path, "rb") as f:
            self.raw = f.read()
        raw = self.raw
        if len(raw) < 64 or raw[:8] != b"BFFNPACK":
            raise SpecProblem(f"{path}: not a bfpk file")
        version, bom, hlen, moff, mlen, mcrc, align, flen, hcrc, reserved = struct.unpack_from("<IIQQQIIQII", raw, 8)
        checks = [(version == 1, "version 1"), (raw[12:16] == b"\x04\x03\x02\x01", "byte-order mark"),
                  (hcrc == zlib.crc32(raw[:56]), "header CRC"), (hlen == 64, "header length 64"),
                  (align & (align - 1) == 0 and 64 <= align <= 1 << 20, "alignment"), (flen == len(raw), "file length"),
                  (moff + mlen == len(raw), "manifest ends the file"), (moff % 64 == 0, "manifest at a multiple of 64"),
                  (zlib.crc32(raw[moff:moff + mlen]) == mcrc, "manifest CRC"), (reserved == 0, "reserved 0")]
        for ok, what in checks:
            if not ok:
                raise SpecProblem(f"{path}: header check failed: {what}")
        self.manifest = json.loads(raw[moff:moff + mlen], object_pairs_hook=self._no_duplicates)
        self.data_end = moff
        m = self.manifest
        for key in ("format", "version", "config", "architecture", "alignment", "tensors", "experts", "quantization",
                    "provenance", "attachments"):
            if key not in m:
                problems.add(f"manifest key `{key}` (formats/bfpk.md, Manifest) is missing")
        if m.get("alignment") != align:
            problems.add("manifest `alignment` differs from the header's")
        self.tensors = {t["name"]: t for t in m["tensors"]}
        ranges = []
        for t in m["tensors"]:
            self._check_tensor(t)
            ranges.append((t["offset"], t["offset"] + t["bytes"], t["name"]))
        x = m.get("experts")
        if x:
            if x["offset"] % align:
                problems.add(f"experts.offset {x['offset']} is not a multiple of the alignment")
            ranges.append((x["offset"], x["offset"] + x["layers"] * x["count"] * x["block_bytes"], "experts"))
        ranges.sort()
        for (a0, a1, an), (b0, b1, bn) in zip(ranges, ranges[1:]):
            if b0 < a1:
                problems.add(f"{an} and {bn} overlap")
        if ranges and ranges[-1][1] > moff:
            problems.add(f"{ranges[-1][2]} runs into the manifest")

    @staticmethod
    def _no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise SpecProblem("manifest has a duplicate key")
        return dict(pairs)

    def _check_tensor(self, t):
        shape = t["shape"]
        rows, cols = (int(np.prod(shape[:-1])) if len(shape) > 1 else 1), shape[-1]
        expect = rows * row_bytes(t, cols)
        if expect != t["bytes"]:
            self.problems.add(f"tensor {t['name']} ({t['dtype']} {shape}): {t['bytes']} bytes, the row formula gives "
                              f"{expect}")
        if t["offset"] % 64 or t["offset"] + t["bytes"] > self.data_end:
            self.problems.add(f"tensor {t['name']}: offset {t['offset']} not 64-aligned or past the data region")
        if zlib.crc32(self.raw[t["offset"]:t["offset"] + t["bytes"]]) != t["crc32"]:
            self.problems.add(f"tensor {t['name']}: crc32 does not match its bytes")

    def dense(self, name):
        t = self.tensors[name]
        shape = t["shape"]
        cols = shape[-1]
        rb = row_bytes(t, cols)
        rows = t["bytes"] // rb
        raw = np.frombuffer(self.raw, dtype=np.uint8, count=t["bytes"], offset=t["offset"]).reshape(rows, rb)
        return t, rb, dequantize_rows(t, raw, cols, name, self.problems).reshape(shape)

    def experts(self, layer):
        """Per source expert e: (up storage, up row bytes, up [de, H], down storage, down row bytes, down [H, de])."""
        x = self.manifest["experts"]
        E, L, de, H = x["count"], x["layers"], x["expert_size"], x["hidden_size"]
        R = x.get("resident_count", E)
        up, down = x["up"], x["down"]
        rb_up, rb_down = row_bytes(up, H), row_bytes(down, de)
        data = de * rb_up + H * rb_down
        if data > x["block_bytes"] or x["block_bytes"] % self.manifest["alignment"]:
            self.problems.add(f"experts: block_bytes {x['block_bytes']} below the data ({data}) or not aligned")
        order = x["order"][layer]
        if sorted(order) != list(range(E)):
            self.problems.add(f"experts.order[{layer}] is not a permutation")
        out = {}
        for s in range(E):
            if s < R:
                start = x["offset"] + (layer * R + s) * x["block_bytes"]
            else:
                start = x["offset"] + (L * R + layer * (E - R) + s - R) * x["block_bytes"]
            block = self.raw[start:start + data]
            if zlib.crc32(block) != x["blocks"][layer][s]:
                self.problems.add(f"experts: layer {layer} slot {s}: block crc32 does not match its data bytes")
            b = np.frombuffer(block, dtype=np.uint8)
            u = dequantize_rows(up, b[:de * rb_up].reshape(de, rb_up), H, f"experts.up l{layer}", self.problems)
            d = dequantize_rows(down, b[de * rb_up:].reshape(H, rb_down), de, f"experts.down l{layer}", self.problems)
            out[order[s]] = (up, rb_up, u, down, rb_down, d)
        return out


# ---------------------------------------------------------------------------------------------------------------
# bffn's side: statistics and packs


def bffn_version(bffn):
    return subprocess.run([bffn, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def run_bffn(args):
    log("  $ " + " ".join(args))
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def calibration_stats(bffn, model, model_files, text, cache, bin_hash):
    key = short_hash(bin_hash, *[sha256_file(f).hexdigest() for f in model_files], sha256_file(text).hexdigest())
    path = os.path.join(cache, f"stats-{key}.safetensors")
    if not os.path.exists(path):
        log("calibrating (bffn calibrate; minutes on a busy 2-core machine; cached in " + cache + ")")
        tmp = path + ".tmp.safetensors"
        run_bffn([bffn, "calibrate", model, "--text", text, "-o", tmp, "--force", "-q"])
        os.replace(tmp, path)
    return path


def bffn_pack(bffn, model, fmt, stats, folder, key):
    path = os.path.join(folder, f"{fmt}{'-imatrix' if stats else ''}-{key}.bfpk")
    if not os.path.exists(path):
        args = [bffn, "convert", model, "-o", path, "--quant", fmt, "--no-tokenizer", "--force", "-q"]
        if stats:
            args += ["--imatrix", stats]
        run_bffn(args)
    return path


# ---------------------------------------------------------------------------------------------------------------
# The comparison


def errors(x, q, w):
    """(Σ(x−q)², Σ_elements w_col (x−q)², Σ_elements w_col) in float64 (w: norm_weights)."""
    diff = (q.astype(np.float64) - x.astype(np.float64)) ** 2
    col = diff.sum(axis=0)
    return float(col.sum()), float((col * w).sum()), float(w.sum() * x.shape[0])


def new_acc():
    return {"bytes": 0, "elements": 0, "sse": 0.0, "wsse": 0.0, "wsum": 0.0, "matrices": 0}


def add(acc, nbytes, n, e):
    acc["bytes"] += nbytes
    acc["elements"] += n
    acc["sse"] += e[0]
    acc["wsse"] += e[1]
    acc["wsum"] += e[2]
    acc["matrices"] += 1


def summary(acc):
    if not acc["elements"]:
        return None
    return {"bpw": acc["bytes"] * 8 / acc["elements"], "rmse": math.sqrt(acc["sse"] / acc["elements"]),
            "wrmse": math.sqrt(acc["wsse"] / acc["wsum"]), "elements": acc["elements"], "bytes": acc["bytes"],
            "matrices": acc["matrices"]}


def config_key(tool, layout, fmt, imatrix):
    return f"{tool}/{layout}/{fmt}/{'imatrix' if imatrix else 'plain'}"


def norm_weights(x, w):
    """The weights of the weighted RMSE: the importances normalised to mean 1 over the columns (1 without)."""
    return np.ones(x.shape[1]) if w is None else w.astype(np.float64) / w.astype(np.float64).mean()


def measure_pack(pack, mats, key, results, problems):
    """Every matrix dequantized from the pack; returns the reader's RMSE per manifest class beside the manifest's."""
    own = {}
    experts = {}
    for name, cls, x, w in mats:
        if cls.startswith("experts"):
            layer, e = int(name.split(".")[2]), int(name.split("[")[1][:-1])
            if layer not in experts:
                experts = {layer: pack.experts(layer)}
            up, rb_up, u, down, rb_down, d = experts[layer][e]
            storage, rb, q = (up, rb_up, u) if cls == "experts_up" else (down, rb_down, d)
        else:
            storage, rb, q = pack.dense(name)
        e_ = errors(x, q, norm_weights(x, w))
        results[name][key] = (rb * x.shape[0], x.size, e_, storage["dtype"])
        c = own.setdefault("experts" if cls.startswith("experts") else cls, [0.0, 0])
        c[0] += e_[0]
        c[1] += x.size
    classes = pack.manifest["quantization"]["classes"]
    check = {}
    for c, (sse, n) in own.items():
        if c not in classes:
            problems.add(f"{os.path.basename(pack.path)}: no `quantization.classes.{c}`")
            continue
        err = classes[c]["error"]
        check[c] = {"reader_rmse": math.sqrt(sse / n), "manifest_rmse": err["rmse"], "elements": n,
                    "manifest_elements": err["elements"]}
        if n != err["elements"] or abs(check[c]["reader_rmse"] - err["rmse"]) > 1e-6 * err["rmse"]:
            problems.add(f"{os.path.basename(pack.path)}: class {c}: the reader's RMSE {check[c]['reader_rmse']:.9g} "
                         f"over {n} elements differs from the manifest's {err['rmse']:.9g} over {err['elements']}")
    return check


def measure_llama(ggml, fmt, use, x, w, per):
    """llama.cpp's K type on the rows (padded) and flat, and what llama-quantize would store, for matrix x."""
    wn, imatrix, typ = norm_weights(x, w), (w if use else None), LLAMA_NAME[fmt]
    rows_key = config_key("llama.cpp", "rows", fmt, use)
    nbytes, q = llama_roundtrip(ggml, typ, x, imatrix, "rows")
    per[rows_key] = (nbytes, x.size, errors(x, q, wn), typ)
    if x.shape[1] % QK_K == 0:  # flat runs are the rows' own super-blocks, and nothing falls back
        per[config_key("llama.cpp", "flat", fmt, use)] = per[rows_key]
        per[config_key("llama.cpp", "fallback", fmt, use)] = per[rows_key]
        return
    nbytes, q = llama_roundtrip(ggml, typ, x, imatrix, "flat")
    per[config_key("llama.cpp", "flat", fmt, use)] = (nbytes, x.size, errors(x, q, wn), typ)
    if x.shape[1] % GGML_BLOCK[FALLBACK[fmt]] == 0:
        nbytes, q = llama_roundtrip(ggml, FALLBACK[fmt], x, imatrix, "rows")
        stored = FALLBACK[fmt]
    else:  # llama-quantize's last resort
        nbytes, q, stored = 2 * x.size, x.astype(np.float16).astype(np.float32), "F16"
    per[config_key("llama.cpp", "fallback", fmt, use)] = (nbytes, x.size, errors(x, q, wn), stored)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sdist", help="llama_cpp_python-0.3.36.tar.gz (read offline)")
    ap.add_argument("--model", default=os.path.join(REPO, "fixtures", "trained"))
    ap.add_argument("--text", help="calibration text (default: MODEL/calibration.txt)")
    ap.add_argument("--stats", help="statistics from `bffn calibrate` (default: made and cached)")
    ap.add_argument("--bffn", default=os.environ.get("BFFN", os.path.join(REPO, ".build", "release", "bffn")))
    ap.add_argument("--cache", default=os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                                                   "bffn-peers"),
                    help="folder for the compiled quantizers and the statistics (never inside the repository)")
    ap.add_argument("--pack-dir", help="keep the packs here and reuse them (default: a temporary folder)")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    ap.add_argument("--per-matrix", action="store_true", help="with --json: every matrix's figures too")
    args = ap.parse_args()

    formats = [f for f in args.formats.split(",") if f]
    if any(f not in FORMATS for f in formats):
        ap.error(f"--formats takes {','.join(FORMATS)}")
    for folder in [args.cache] + ([args.pack_dir] if args.pack_dir else []):
        real = os.path.realpath(folder)
        if real == os.path.realpath(REPO) or real.startswith(os.path.realpath(REPO) + os.sep):
            ap.error(f"{folder} is inside the repository; give a folder outside it")
    os.makedirs(args.cache, exist_ok=True)
    if not os.path.exists(args.bffn):
        ap.error(f"{args.bffn}: no bffn binary (build it, or pass --bffn or BFFN)")

    ggml = Ggml(build_ggml(args.sdist, args.cache))
    tensors, config, model_files = read_model(args.model)
    bin_hash = sha256_file(args.bffn).hexdigest()
    stats_path = args.stats or calibration_stats(args.bffn, args.model, model_files,
                                                 args.text or os.path.join(args.model, "calibration.txt"),
                                                 args.cache, bin_hash)
    stats, stats_meta = read_safetensors(stats_path)
    mats = matrices(tensors, config, stats)

    pack_dir = args.pack_dir or tempfile.mkdtemp(prefix="bffn-peers-packs-")
    os.makedirs(pack_dir, exist_ok=True)
    pack_key = short_hash(bin_hash, *[sha256_file(f).hexdigest() for f in model_files],
                          sha256_file(stats_path).hexdigest())
    problems = set()
    results = {name: {} for name, *_ in mats}  # matrix → config key → (bytes, elements, errors, stored type)
    manifest_check = {}
    t_start = time.time()
    try:
        for fmt in formats:
            for use in (False, True):
                path = bffn_pack(args.bffn, args.model, fmt, stats_path if use else None, pack_dir, pack_key)
                key = config_key("bffn", "rows", fmt, use)
                manifest_check[key] = measure_pack(Pack(path, problems), mats, key, results, problems)
                log(f"bffn {fmt}{' --imatrix' if use else ''}: read back {len(mats)} matrices")
    finally:
        if not args.pack_dir:
            shutil.rmtree(pack_dir, ignore_errors=True)
    for fmt in formats:
        for use in (False, True):
            for name, cls, x, w in mats:
                measure_llama(ggml, fmt, use, x, w, results[name])
            log(f"llama.cpp {LLAMA_NAME[fmt]}{' imatrix' if use else ''}: {len(mats)} matrices")

    # aggregate
    groups = {c: [m for m in mats if m[1] == c] for c in CLASSES}
    groups = {c: v for c, v in groups.items() if v}
    groups["overall"] = mats
    table = {}
    for g, members in groups.items():
        for fmt in formats:
            for use in (False, True):
                for tool, layout in VARIANTS:
                    key = config_key(tool, layout, fmt, use)
                    acc = new_acc()
                    for name, *_ in members:
                        nbytes, n, e_, _ = results[name][key]
                        add(acc, nbytes, n, e_)
                    table.setdefault(g, {})[key] = summary(acc)
    qualify = {}
    for name, cls, x, w in mats:
        q = qualify.setdefault(cls, {"matrices": 0, "row_lengths": set(), "qualifying": 0, "with_importance": 0})
        q["matrices"] += 1
        q["row_lengths"].add(x.shape[1])
        q["qualifying"] += x.shape[1] % QK_K == 0
        q["with_importance"] += w is not None
    for q in qualify.values():
        q["row_lengths"] = sorted(q["row_lengths"])
    fallbacks = sorted({(name, key, r[3]) for name, per in results.items() for key, r in per.items()
                        if key.startswith("bffn") and r[3].lower() != key.split("/")[2]})

    report = {
        "schema": 1,
        "model": os.path.relpath(os.path.abspath(args.model), REPO) if os.path.abspath(args.model).startswith(REPO)
        else args.model,
        "bffn_version": bffn_version(args.bffn),
        "llama_cpp": os.path.basename(args.sdist),
        "calibration": {k: stats_meta.get(k) for k in ("tokens", "sequences", "prior_tokens", "sources")},
        "formats": formats,
        "qualification": qualify,
        "bffn_fallbacks": [{"matrix": n, "config": k, "stored": s} for n, k, s in fallbacks],
        "llama_quantize_types": {fmt: sorted({per[config_key("llama.cpp", "fallback", fmt, False)][3]
                                              for per in results.values()}) for fmt in formats},
        "classes": table,
        "pack_reader": {"manifest_rmse_check": manifest_check, "spec_problems": sorted(problems)},
    }
    if args.per_matrix:
        report["matrices"] = {name: {k: {"bytes": r[0], "elements": r[1], "sse": r[2][0], "wsse": r[2][1],
                                         "wsum": r[2][2], "stored": r[3]} for k, r in per.items()}
                              for name, per in results.items()}
    log(f"done in {time.time() - t_start:.0f} s (packs and quantizers)")
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        print(markdown(report))
    return 0


def markdown(r):
    out = []
    cal = r["calibration"]
    out.append(f"Model `{r['model']}`, bffn {r['bffn_version']}, llama.cpp from {r['llama_cpp']}; importances from "
               f"`bffn calibrate` over {cal['tokens']} tokens ({cal['sources']}).")
    out.append("")
    out.append("| class | matrices | row length (elements) | rows a multiple of 256 (llama.cpp K-quants) | "
               "with importances |")
    out.append("|---|---|---|---|---|")
    for cls, q in r["qualification"].items():
        out.append(f"| {cls} | {q['matrices']} | {', '.join(map(str, q['row_lengths']))} | "
                   f"{q['qualifying']} of {q['matrices']} | {q['with_importance']} of {q['matrices']} |")
    out.append("")
    out.append("bpw: stored bits per weight (super-block headers and scales included; llama.cpp `rows`: the zero "
               "padding to 256 included); RMSE and wRMSE ×10⁻³ (wRMSE: each column weighted by its importance, "
               "normalised to mean 1 per matrix). `ratio`: bffn's wRMSE / llama.cpp flat's (below 1: bffn better).")
    for fmt in r["formats"]:
        ln = LLAMA_NAME[fmt]
        out.append("")
        out.append(f"#### bffn {fmt} vs llama.cpp {ln}")
        out.append("")
        out.append(f"| class | imatrix | bffn bpw | bffn RMSE | bffn wRMSE | {ln} rows bpw | RMSE | wRMSE | "
                   f"{ln} flat bpw | RMSE | wRMSE | ratio |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for cls, per in r["classes"].items():
            for use in (False, True):
                b = per[config_key("bffn", "rows", fmt, use)]
                lr = per[config_key("llama.cpp", "rows", fmt, use)]
                lf = per[config_key("llama.cpp", "flat", fmt, use)]
                cells = [cls if not use else "", "yes" if use else "no"]
                for s in (b, lr, lf):
                    cells += [f"{s['bpw']:.3f}", f"{s['rmse'] * 1e3:.4f}", f"{s['wrmse'] * 1e3:.4f}"]
                cells.append(f"{b['wrmse'] / lf['wrmse']:.3f}")
                out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("#### Format pairs, every quantized matrix")
    out.append("")
    out.append("wRMSE ×10⁻³ at bpw. `llama-quantize`: what llama.cpp would store: the K type where rows are "
               "multiples of 256, else its fallback type on the same rows. Ratios: bffn's wRMSE over llama.cpp's.")
    out.append("")
    out.append("| pair | imatrix | bffn | llama.cpp K, flat | llama.cpp K, rows padded | llama-quantize | "
               "bffn / flat | bffn / llama-quantize |")
    out.append("|---|---|---|---|---|---|---|---|")
    per = r["classes"]["overall"]
    for fmt in r["formats"]:
        for use in (False, True):
            b, lr, lf, lq = (per[config_key(t, l, fmt, use)] for t, l in VARIANTS)
            stored = ", ".join(r["llama_quantize_types"][fmt])
            out.append(f"| {fmt} vs {LLAMA_NAME[fmt]} | {'yes' if use else 'no'} | {b['wrmse'] * 1e3:.4f} at "
                       f"{b['bpw']:.3f} | {lf['wrmse'] * 1e3:.4f} at {lf['bpw']:.3f} | {lr['wrmse'] * 1e3:.4f} at "
                       f"{lr['bpw']:.3f} | {lq['wrmse'] * 1e3:.4f} at {lq['bpw']:.3f} ({stored}) | "
                       f"{b['wrmse'] / lf['wrmse']:.3f} | {b['wrmse'] / lq['wrmse']:.3f} |")
    out.append("")
    if r["bffn_fallbacks"]:
        out.append(f"bffn stored {len(r['bffn_fallbacks'])} matrix/format pairs in a fallback storage (see --json).")
    probs = r["pack_reader"]["spec_problems"]
    checks = [v for per in r["pack_reader"]["manifest_rmse_check"].values() for v in per.values()]
    worst = max((abs(v["reader_rmse"] - v["manifest_rmse"]) / v["manifest_rmse"] for v in checks if v["manifest_rmse"]),
                default=0.0)
    out.append("Pack reader (formats/bfpk.md): " + ("every header, CRC, row-size, layout and manifest-RMSE check passed"
                                                     if not probs else "problems: " + "; ".join(probs))
               + f"; its RMSE per class agrees with the manifest's `quantization.classes.*.error.rmse` within "
               f"{worst:.1e} (relative) over {len(checks)} class/pack pairs.")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
