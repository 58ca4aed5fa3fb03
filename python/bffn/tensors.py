"""Reading the tensors of a checkpoint into numpy arrays without copying them (``bffn.load_tensors``)."""

from __future__ import annotations

import ctypes
import os
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from ._native import check, encode, lib

__all__ = ["load_tensors", "TensorSet", "bf16_to_float32"]

# Safetensors dtype names to numpy dtypes (BF16 and the 8-bit floats are handled apart: numpy has no such dtype).
_NUMPY_DTYPES: Dict[str, Any] = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16, "U16": np.uint16, "F16": np.float16,
    "I32": np.int32, "U32": np.uint32, "F32": np.float32, "F64": np.float64, "I64": np.int64, "U64": np.uint64,
    "C64": np.complex64,
}
_ML_DTYPES_NAMES = {"BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E8M0": "float8_e8m0fnu"}
_RAW_BITS = {"BF16": np.uint16, "F8_E4M3": np.uint8, "F8_E5M2": np.uint8, "F8_E8M0": np.uint8}


class TensorSet:
    """An open ``bffn_tensors`` handle: the checkpoint's files stay mapped (and the library's buffers alive) while
    this object lives. Every array :func:`load_tensors` returns keeps it alive through its ``base`` chain
    (``array.base`` is a read-only memoryview whose ``obj`` is a ctypes buffer whose ``_bffn_tensors`` is this
    object), so the handle closes only when the last array is gone."""

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        self.path = os.fspath(path)
        handle = ctypes.c_void_p()
        check(lib.bffn_tensors_open(encode(path, "path"), ctypes.byref(handle)))
        self._handle: Optional[int] = handle.value
        self._lib = lib  # keeps the library for __del__ at interpreter exit

    def __len__(self) -> int:
        return int(lib.bffn_tensors_count(self._handle)) if self._handle else 0

    def info(self, index: int) -> Tuple[str, str, Tuple[int, ...], int, int]:
        """The index-th tensor in name order: (name, safetensors dtype, shape, data address, byte count)."""
        name = ctypes.c_char_p()
        dtype = ctypes.c_char_p()
        rank = ctypes.c_size_t()
        shape = ctypes.POINTER(ctypes.c_int64)()
        data = ctypes.c_void_p()
        nbytes = ctypes.c_size_t()
        check(lib.bffn_tensor_info(self._handle, index, ctypes.byref(name), ctypes.byref(dtype), ctypes.byref(rank),
                                   ctypes.byref(shape), ctypes.byref(data), ctypes.byref(nbytes)))
        dims = tuple(int(shape[i]) for i in range(rank.value))
        return (name.value or b"").decode("utf-8"), (dtype.value or b"").decode("ascii"), dims, data.value or 0, nbytes.value

    def close(self) -> None:
        """Closes the handle. Only safe when no array of this set is in use any more: arrays keep the set alive
        on their own, so there is normally no need to call this."""
        if self._handle:
            self._lib.bffn_tensors_close(self._handle)
            self._handle = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # at interpreter exit the library may already be gone
            pass


def _dtype(name: str, bfloat16: str) -> Tuple[Any, bool]:
    """(numpy dtype, whether it is the raw bits of a type numpy lacks) for a safetensors dtype name."""
    if name in _NUMPY_DTYPES:
        return np.dtype(_NUMPY_DTYPES[name]), False
    if name in _RAW_BITS:
        if bfloat16 != "uint16":
            try:
                import ml_dtypes  # type: ignore[import-not-found]
                return np.dtype(getattr(ml_dtypes, _ML_DTYPES_NAMES[name])), False
            except (ImportError, AttributeError):
                if bfloat16 == "ml_dtypes":
                    raise ImportError(f"bfloat16='ml_dtypes' needs the ml_dtypes package for {name} tensors") from None
        return np.dtype(_RAW_BITS[name]), True
    return np.dtype(np.uint8), True  # packed sub-byte floats (F4, F6_*): the raw bytes


def load_tensors(path: Union[str, "os.PathLike[str]"], bfloat16: str = "auto") -> Dict[str, np.ndarray]:
    """Every tensor of a checkpoint as a read-only numpy array viewing the library's memory (no copy).

    Args:
        path: a ``.safetensors`` file (any, not only a model's), a checkpoint folder (single or sharded
            safetensors, or ``pytorch_model.bin``), a shard index, or a ``pytorch_model.bin`` file. The ``.bin``
            reader never executes pickle: it interprets only the opcodes and globals a state dict needs.
        bfloat16: how to type BF16 (and 8-bit float) tensors, which numpy has no dtype for. ``"auto"`` (the
            default): ``ml_dtypes.bfloat16`` (``float8_*``) when the ml_dtypes package is installed, else the raw
            bits as ``uint16`` (``uint8``); ``"uint16"``: always the raw bits; ``"ml_dtypes"``: always ml_dtypes
            (ImportError without it). :func:`bf16_to_float32` widens raw bits exactly.

    Returns:
        name -> array, in name order, with the stored dtype and shape (``F32`` -> float32, ``F16`` -> float16,
        ``F64``, ``I8``/``I16``/``I32``/``I64``, ``U8``/``U16``/``U32``/``U64``, ``BOOL`` -> bool, ``C64`` ->
        complex64; packed 4/6-bit floats: their bytes as a 1-D uint8 array). Arrays of safetensors files (and of
        ``.bin`` entries stored row-major) view the mapped file; strided ``.bin`` views are gathered once by the
        library into buffers it owns. The arrays are read-only (``flags.writeable`` is False and cannot be set);
        the mapping is released when the last of them is garbage-collected.

    Raises:
        IOFailure: the path cannot be opened (the message names it).
        BFFNError: a malformed, truncated or unsupported file, with the file, tensor and byte offset.
    """
    if bfloat16 not in ("auto", "uint16", "ml_dtypes"):
        raise ValueError(f"bfloat16 must be 'auto', 'uint16' or 'ml_dtypes', not {bfloat16!r}")
    tensors = TensorSet(path)
    out: Dict[str, np.ndarray] = {}
    for i in range(len(tensors)):
        name, dtype_name, shape, address, nbytes = tensors.info(i)
        dtype, raw = _dtype(dtype_name, bfloat16)
        count = 1
        for d in shape:
            count *= d
        if raw and dtype_name not in _RAW_BITS:
            shape = (nbytes,)
        elif count * dtype.itemsize != nbytes:
            raise _native_error(f"{tensors.path}, '{name}': {dtype_name} {list(shape)} needs "
                                f"{count * dtype.itemsize} bytes, the library gave {nbytes}")
        if nbytes == 0 or not address:
            array = np.empty(shape, dtype=dtype)
        else:
            buffer = (ctypes.c_char * nbytes).from_address(address)
            buffer._bffn_tensors = tensors  # type: ignore[attr-defined]  # keeps the handle (and mapping) alive
            array = np.frombuffer(memoryview(buffer).toreadonly(), dtype=dtype).reshape(shape)
        array.flags.writeable = False
        out[name] = array
    return out


def _native_error(message: str) -> Exception:
    from .errors import InternalError
    return InternalError(message + " [internal]", 11, "internal")


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """BF16 values given as their raw ``uint16`` bits (as :func:`load_tensors` returns them without ml_dtypes)
    widened to float32 exactly (a new array)."""
    b = np.asarray(bits)
    if b.dtype != np.uint16:
        b = b.view(np.uint16)
    return (b.astype(np.uint32) << 16).view(np.float32)

