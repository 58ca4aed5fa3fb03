"""Finding and loading libbffnc (the C ABI of include/bffn.h) and declaring its functions for ctypes.

The library is looked for, in this order:

1. the path in the environment variable ``BFFN_LIBRARY``;
2. the copy inside the package, ``bffn/_lib/libbffnc.so`` (``.dylib`` on macOS), put there by
   ``scripts/build-python.sh``;
3. ``ctypes.util.find_library("bffnc")`` (the system's library path, e.g. after installing it to /usr/local/lib).

The first that exists is loaded; a library that fails to load, or whose ``bffn_abi_version()`` is not
:data:`ABI_VERSION`, is an :class:`ImportError` naming what was tried.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

#: The ABI version of include/bffn.h this package was written for (BFFN_ABI_VERSION). A library reporting another
#: version is refused: a function's signature or meaning may have changed.
ABI_VERSION = 1

_LIBRARY_NAME = "libbffnc.dylib" if sys.platform == "darwin" else "libbffnc.so"

c_char_p_p = ctypes.POINTER(ctypes.c_char_p)
c_void_p = ctypes.c_void_p
c_int32_p = ctypes.POINTER(ctypes.c_int32)

#: ``int (*bffn_text_callback)(const char *piece, size_t length, void *user_data)``. The piece is taken as a
#: void pointer so ctypes does not convert it (the callback reads ``length`` bytes with ctypes.string_at).
TEXT_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


def _candidates() -> List[Tuple[str, Optional[str]]]:
    """(description, path or None when that source gave nothing) for each place looked at, in order."""
    tried: List[Tuple[str, Optional[str]]] = []
    env = os.environ.get("BFFN_LIBRARY")
    tried.append(("$BFFN_LIBRARY", env if env else None))
    bundled = Path(__file__).resolve().parent / "_lib" / _LIBRARY_NAME
    tried.append(("the package's copy", str(bundled) if bundled.is_file() else None))
    found = ctypes.util.find_library("bffnc")
    tried.append(('ctypes.util.find_library("bffnc")', found))
    return tried


def _declare(lib: ctypes.CDLL) -> None:
    """Sets argtypes/restype of every function of include/bffn.h."""
    def sig(name: str, restype: Any, *argtypes: Any) -> None:
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = list(argtypes)

    size_t = ctypes.c_size_t
    int_ = ctypes.c_int
    sig("bffn_version", ctypes.c_char_p)
    sig("bffn_abi_version", int_)
    sig("bffn_last_error_code", int_)
    sig("bffn_last_error_message", ctypes.c_char_p)
    sig("bffn_last_error_name", ctypes.c_char_p)
    sig("bffn_string_free", None, c_void_p)
    sig("bffn_ids_free", None, c_void_p)
    sig("bffn_model_open", int_, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(c_void_p))
    sig("bffn_model_close", None, c_void_p)
    sig("bffn_tokenize", int_, c_void_p, ctypes.c_char_p, int_, ctypes.POINTER(c_int32_p), ctypes.POINTER(size_t))
    sig("bffn_detokenize", int_, c_void_p, c_int32_p, size_t, int_, ctypes.POINTER(c_void_p))
    sig("bffn_generate", int_, c_void_p, ctypes.c_char_p, ctypes.c_char_p, TEXT_CALLBACK, c_void_p,
        ctypes.POINTER(c_void_p))
    sig("bffn_inspect", int_, ctypes.c_char_p, int_, ctypes.POINTER(c_void_p))
    sig("bffn_convert", int_, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(c_void_p))
    sig("bffn_verify", int_, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(c_void_p))
    sig("bffn_tensors_open", int_, ctypes.c_char_p, ctypes.POINTER(c_void_p))
    sig("bffn_tensors_count", size_t, c_void_p)
    sig("bffn_tensor_info", int_, c_void_p, size_t, c_char_p_p, c_char_p_p, ctypes.POINTER(size_t),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)), ctypes.POINTER(c_void_p), ctypes.POINTER(size_t))
    sig("bffn_tensors_close", None, c_void_p)


def _load() -> Tuple[ctypes.CDLL, str]:
    """Loads the first library found; ImportError naming every place tried when none loads or fits."""
    notes: List[str] = []
    for what, path in _candidates():
        if path is None:
            notes.append(f"{what}: not set or not found")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            notes.append(f"{what} = {path}: {e}")
            if what == "$BFFN_LIBRARY":
                break  # an explicit choice that fails is not silently replaced by another library
            continue
        try:
            _declare(lib)
        except AttributeError as e:
            raise ImportError(f"bffn: {path} ({what}) is not libbffnc: {e}") from None
        abi = lib.bffn_abi_version()
        if abi != ABI_VERSION:
            raise ImportError(
                f"bffn: {path} ({what}) has C ABI version {abi}, but this Python package was written for version "
                f"{ABI_VERSION}; install the package and the library from the same bffn release")
        return lib, path
    raise ImportError(
        "bffn: cannot load libbffnc (the C library of bffn). Tried:\n  " + "\n  ".join(notes) +
        "\nBuild it with scripts/build-python.sh (which puts a copy into the package), or set BFFN_LIBRARY to the "
        "path of libbffnc.so (e.g. .build/debug/libbffnc.so after `swift build`).")


lib, library_path = _load()


def take_string(pointer: Optional[int]) -> Optional[str]:
    """The UTF-8 text of a char* the library handed over, freed with bffn_string_free (None for NULL)."""
    if not pointer:
        return None
    try:
        return ctypes.string_at(pointer).decode("utf-8")
    finally:
        lib.bffn_string_free(pointer)


def encode(text: Union[str, "os.PathLike[str]"], what: str) -> bytes:
    """``text`` as NUL-terminated UTF-8 for the library; TypeError for a non-string, ValueError for NUL inside."""
    if isinstance(text, os.PathLike):
        text = os.fspath(text)
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str or a path, not {type(text).__name__}")
    if "\0" in text:
        raise ValueError(f"{what} must not contain a NUL character")
    return text.encode("utf-8")



def check(status: int) -> None:
    """Raises the exception of a non-zero status, with the calling thread's last error message."""
    if status == 0:
        return
    from .errors import error_class
    message = (lib.bffn_last_error_message() or b"").decode("utf-8", "replace")
    name = (lib.bffn_last_error_name() or b"").decode("utf-8", "replace")
    raise error_class(status)(message or f"bffn call failed with status {status}", status, name)
