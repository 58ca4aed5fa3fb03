"""bffn for Python: BlockFFN checkpoints and models through bffn's C library (libbffnc, include/bffn.h).

A pure-Python package over the C ABI with ctypes:

* :func:`inspect`, :func:`convert`, :func:`verify`: the documents ``bffn inspect/convert/verify --json`` print,
  as dicts.
* :func:`load_tensors`: every tensor of a ``.safetensors`` file, a sharded checkpoint or a ``pytorch_model.bin``
  (read without executing pickle) as read-only numpy arrays viewing the mapped file: no copy.
* :class:`Model`: open a model (checkpoint, ``.bfpk`` pack, Hugging Face cache id) once; ``tokenize``,
  ``detokenize``, ``generate`` (text, or a stream of pieces), ``chat``.
* Errors raise :class:`BFFNError` subclasses whose message names the file, field and byte offset.

Example::

    >>> import bffn
    >>> model = bffn.Model("fixtures/trained", threads=2)
    >>> model.generate("def add(a, b):", max_new_tokens=12)
    '\\n    return a + b\\n\\n\\ndef sub(a, b):\\n'

The library is found through ``$BFFN_LIBRARY``, the copy in ``bffn/_lib/``, or the system's library path, and
must have the C ABI version this package was written for (:data:`ABI_VERSION`); see python/README.md for the
compatibility promise.
"""

from __future__ import annotations

from ._native import ABI_VERSION, lib as _lib, library_path
from .errors import (BFFNError, ChecksumError, ConfigError, InternalError, IOFailure, LimitError, MalformedError,
                     OutputExistsError, TemplateError, TruncatedError, UnsupportedError, UsageError,
                     VerificationError)
from .files import convert, inspect, verify
from .model import GenerationResult, GenerationStream, Message, Model, PromptInput
from .tensors import TensorSet, bf16_to_float32, load_tensors

#: This Python package's version (it follows bffn's releases; see :func:`version` for the library's).
__version__ = "0.1.0"

__all__ = [
    "ABI_VERSION", "library_path", "version", "abi_version", "__version__",
    "inspect", "convert", "verify", "load_tensors", "bf16_to_float32", "TensorSet",
    "Model", "GenerationResult", "GenerationStream", "Message", "PromptInput",
    "BFFNError", "UsageError", "IOFailure", "TruncatedError", "MalformedError", "UnsupportedError", "ChecksumError",
    "LimitError", "ConfigError", "OutputExistsError", "VerificationError", "InternalError", "TemplateError",
]


def version() -> str:
    """The bffn library's release, e.g. ``"0.1.0"`` (``bffn_version()``)."""
    return (_lib.bffn_version() or b"").decode("utf-8")


def abi_version() -> int:
    """The loaded library's C ABI version (``bffn_abi_version()``); equal to :data:`ABI_VERSION`, or the import
    would have failed."""
    return int(_lib.bffn_abi_version())
