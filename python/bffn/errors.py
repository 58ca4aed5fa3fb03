"""The exceptions of bffn: one class per status code of include/bffn.h, all under :class:`BFFNError`.

Every exception carries the library's message, which names the file, the field (tensor, JSON key) and the byte
offset where they are known, e.g. ``/tmp/x.safetensors, byte 8: header length 999999 runs past the end of the
file (120 bytes) [truncated]``.

Some classes also derive from the matching built-in exception, so ``except ValueError`` or ``except OSError``
catch them too: :class:`UsageError` is a ``ValueError``, :class:`IOFailure` an ``OSError`` and
:class:`OutputExistsError` a ``FileExistsError``.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "BFFNError", "UsageError", "IOFailure", "TruncatedError", "MalformedError", "UnsupportedError",
    "ChecksumError", "LimitError", "ConfigError", "OutputExistsError", "VerificationError", "InternalError",
    "TemplateError", "error_class",
]


class BFFNError(Exception):
    """A failure reported by the bffn library.

    Attributes:
        code: the status code of include/bffn.h (``BFFN_ERROR_*``, 1 ... 12).
        name: the error code as bffn's JSON errors spell it (``"io"``, ``"malformed"``, ``"unknown_dtype"``, ...).
        message: the library's message: ``FILE, 'FIELD', byte OFFSET: reason [name]`` (the parts known).
    """

    #: The status code this class stands for (0 on the base class: any).
    status: int = 0
    code: int
    name: str
    message: str

    def __init__(self, message: str, code: Optional[int] = None, name: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.status
        self.name = name

    def __str__(self) -> str:
        return self.message


class UsageError(BFFNError, ValueError):
    """BFFN_ERROR_USAGE: a wrong argument or option (an unknown option, a value of the wrong type or range)."""
    status = 1


class IOFailure(BFFNError, OSError):
    """BFFN_ERROR_IO: a file could not be opened, read or written (the message names it)."""
    status = 2


class TruncatedError(BFFNError):
    """BFFN_ERROR_TRUNCATED: a file (or JSON text) ends early."""
    status = 3


class MalformedError(BFFNError):
    """BFFN_ERROR_MALFORMED: a header or record is not what the format allows (also invalid JSON, a bad layout,
    a duplicate name, an unknown dtype)."""
    status = 4


class UnsupportedError(BFFNError):
    """BFFN_ERROR_UNSUPPORTED: a feature bffn does not read, or a pickle global outside the allowed set."""
    status = 5


class ChecksumError(BFFNError):
    """BFFN_ERROR_CHECKSUM: a checksum does not match the data."""
    status = 6


class LimitError(BFFNError):
    """BFFN_ERROR_LIMIT: a bound was hit (sizes, memory budget, an index or byte range out of bounds, a shape)."""
    status = 7


class ConfigError(BFFNError):
    """BFFN_ERROR_CONFIG: config.json has an impossible value, or a tensor the architecture needs is missing."""
    status = 8


class OutputExistsError(BFFNError, FileExistsError):
    """BFFN_ERROR_EXISTS: the output exists and ``force`` was not given."""
    status = 9


class VerificationError(BFFNError):
    """BFFN_ERROR_VERIFICATION: a model failed verification against its reference."""
    status = 10


class InternalError(BFFNError):
    """BFFN_ERROR_INTERNAL: bffn contradicted itself; a bug to report."""
    status = 11


class TemplateError(BFFNError):
    """BFFN_ERROR_TEMPLATE: a chat template failed (syntax, raise_exception, rendering)."""
    status = 12


_BY_STATUS: Dict[int, Type[BFFNError]] = {
    cls.status: cls for cls in (UsageError, IOFailure, TruncatedError, MalformedError, UnsupportedError,
                                ChecksumError, LimitError, ConfigError, OutputExistsError, VerificationError,
                                InternalError, TemplateError)
}


def error_class(code: int) -> Type[BFFNError]:
    """The exception class of a status code (:class:`BFFNError` itself for a code this package does not know)."""
    return _BY_STATUS.get(code, BFFNError)
