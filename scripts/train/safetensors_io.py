"""A safetensors writer for the training scripts (numpy arrays in, one file out; no safetensors package needed)."""
import json
import struct


def write_safetensors(path, tensors):
    """Writes {name: (dtype, numpy array)} in the given order: an 8-byte little-endian header length, the JSON
    header padded with spaces to a multiple of 8, then the raw little-endian bytes of each array."""
    header, offset, blobs = {}, 0, []
    for name, (dtype, arr) in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors_raw(path):
    """The tensors of a safetensors file as {name: (dtype, shape, raw little-endian bytes)} in header order
    (the `__metadata__` entry skipped); the caller converts the dtypes it handles."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = (e["dtype"], e["shape"], raw[8 + n + a:8 + n + b])
    return out
