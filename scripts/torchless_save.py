"""Writes the torch.save zip format without torch, for fixtures and synthetic checkpoints.

The pickle names torch's globals (`torch._utils._rebuild_tensor_v2`, `torch.BFloat16Storage`, ...) through
stand-in objects registered under those module names, exactly as torch.save records them; storages are stored
(uncompressed) zip entries `FOLDER/data/KEY`. Contiguous tensors only, one storage per tensor.

save(path, [(name, dtype, shape, bytes_or_callable)], folder) -- dtype in BF16, F16, F32.
"""
import collections
import io
import pickle
import sys
import types
import zipfile

_torch = sys.modules.setdefault("torch", types.ModuleType("torch"))
_utils = sys.modules.setdefault("torch._utils", types.ModuleType("torch._utils"))

STORAGE = {"BF16": "BFloat16Storage", "F16": "HalfStorage", "F32": "FloatStorage"}
SIZE = {"BF16": 2, "F16": 2, "F32": 4}
_classes = {}
for _dt, _name in STORAGE.items():
    _cls = type(_name, (), {})
    _cls.__module__ = "torch"
    setattr(_torch, _name, _cls)
    _classes[_dt] = _cls


def _rebuild_tensor_v2(*args):
    raise RuntimeError("stand-in, never called")


_rebuild_tensor_v2.__module__ = "torch._utils"
_utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class _Storage:
    def __init__(self, pid):
        self.pid = pid


class _Tensor:
    def __init__(self, key, dtype, shape):
        self.key, self.dtype, self.shape = key, dtype, tuple(shape)

    def __reduce__(self):
        strides, acc = [], 1
        for d in reversed(self.shape):
            strides.insert(0, acc)
            acc *= d
        numel = 1
        for d in self.shape:
            numel *= d
        pid = ("storage", _classes[self.dtype], self.key, "cpu", numel)
        return (_rebuild_tensor_v2, (_Storage(pid), 0, self.shape, tuple(strides), False, collections.OrderedDict()))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Storage) else None


def save(path, tensors, folder="archive"):
    state = collections.OrderedDict((name, _Tensor(str(i), dt, shape)) for i, (name, dt, shape, _) in enumerate(tensors))
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(state)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        z.writestr(f"{folder}/data.pkl", buf.getvalue())
        z.writestr(f"{folder}/byteorder", b"little")
        for i, (name, dt, shape, data) in enumerate(tensors):
            with z.open(f"{folder}/data/{i}", "w", force_zip64=True) as f:
                if callable(data):
                    data(f)
                else:
                    f.write(data)
        z.writestr(f"{folder}/version", b"3\n")
