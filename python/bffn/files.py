"""Calls on files: inspect, convert and verify, returning the documents ``bffn ... --json`` prints."""

from __future__ import annotations

import ctypes
import json
import os
from typing import Any, Dict, Mapping, Optional, Union

from ._native import check as _check, encode, lib, take_string

__all__ = ["inspect", "convert", "verify"]

PathLike = Union[str, "os.PathLike[str]"]


def options_json(options: Mapping[str, Any]) -> Optional[bytes]:
    """The members that are not None as a JSON object (None when there are none: the library's defaults)."""
    given = {k: v for k, v in options.items() if v is not None}
    return json.dumps(given, ensure_ascii=False).encode("utf-8") if given else None


def _document(pointer: ctypes.c_void_p) -> Dict[str, Any]:
    text = take_string(pointer.value)
    if text is None:
        raise RuntimeError("bffn returned no document")
    result: Dict[str, Any] = json.loads(text)
    return result


def inspect(path: PathLike, check: bool = False) -> Dict[str, Any]:
    """What ``bffn inspect PATH --json`` prints: format, files, parameters, the model's shape, every tensor
    (name, dtype, shape, bytes), the tokenizer, the context, the chat template (docs/json.md, "inspect").

    Args:
        path: a checkpoint (folder, .safetensors, .bin, shard index), a .bfpk pack, or ORG/NAME in the local
            Hugging Face cache.
        check: also read every byte and verify every checksum (``--check``); the document gets a ``check``
            member.

    Raises:
        IOFailure: the path cannot be read. Other :class:`~bffn.BFFNError` subclasses for malformed files.
    """
    out = ctypes.c_void_p()
    _check(lib.bffn_inspect(encode(path, "path"), 1 if check else 0, ctypes.byref(out)))
    return _document(out)


def convert(source: PathLike, output: PathLike, quant: Optional[str] = None,
            overrides: Optional[Mapping[str, str]] = None, force: bool = False, *,
            alignment: Optional[int] = None, threads: Optional[int] = None) -> Dict[str, Any]:
    """Converts a checkpoint to a .bfpk pack, as ``bffn convert SOURCE -o OUTPUT --json`` does, and returns its
    report (docs/json.md, "convert"; plus ``carried_files``: the tokenizer and other files carried into the pack).

    Args:
        source: the checkpoint (folder, .safetensors, .bin, shard index, ORG/NAME in the Hugging Face cache).
        output: the pack to write. It is written atomically (a temporary file renamed into place).
        quant: a recipe (``"q4"``, ``"q4_k_m"``, ``"q5_k_m"``, ``"q6_k"``, ``"q3_k_m"``, ``"q4-all"``, ``"q8"``: as
            ``bffn convert --quant``) or a storage for every class: ``"f32"``, ``"f16"``, ``"bf16"``, ``"q8"``, ``"q4k"``, with
            ``"/gN"`` for a group size (``"q4/g64"``); None: the command's default (lossless).
        overrides: per scope, e.g. ``{"head": "q8", "experts.down": "q6k", "attention@0-2": "q8"}`` (``--override``).
        force: replace an existing output (else :class:`~bffn.OutputExistsError`).
        alignment: expert block alignment in bytes; threads: threads to quantize with.

    Raises:
        UsageError: an unknown scheme or class. OutputExistsError: the output exists without ``force``.
    """
    out = ctypes.c_void_p()
    opts = options_json({"quant": quant, "overrides": dict(overrides) if overrides else None,
                         "force": True if force else None, "alignment": alignment, "threads": threads})
    _check(lib.bffn_convert(encode(source, "source"), encode(output, "output"), opts, ctypes.byref(out)))
    return _document(out)


def verify(model: PathLike, reference: PathLike, text: Optional[PathLike] = None, *,
           threads: Optional[int] = None, max_new_tokens: Optional[int] = None) -> Dict[str, Any]:
    """Verifies a model (usually a pack) against a reference (its source checkpoint, or a reference file), as
    ``bffn verify MODEL --reference REFERENCE --json`` does, and returns the report (docs/json.md, "verify").

    A model that fails its thresholds is not an exception: the report has ``"passed": False`` and ``failures``.

    Args:
        model: the model to check. reference: the checkpoint or reference .safetensors to compare with.
        text: a text file to score (perplexity, KL divergence, top-1 agreement); threads: threads to use;
        max_new_tokens: greedy tokens compared per prompt.
    """
    out = ctypes.c_void_p()
    opts = options_json({"text": os.fspath(text) if text is not None else None, "threads": threads,
                         "max_new_tokens": max_new_tokens})
    _check(lib.bffn_verify(encode(model, "model"), encode(reference, "reference"), opts, ctypes.byref(out)))
    return _document(out)
