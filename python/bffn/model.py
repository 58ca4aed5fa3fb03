"""Models: open once, tokenize, detokenize and generate (plain, streamed, or chat) any number of times."""

from __future__ import annotations

import codecs
import ctypes
import json
import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, TypeVar, Union

from ._native import TEXT_CALLBACK, check, encode, lib, take_string
from .files import options_json

_Self = TypeVar("_Self", bound="_Closing")

__all__ = ["Model", "GenerationResult", "GenerationStream", "Message", "PromptInput"]

#: A chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``.
Message = Mapping[str, str]
#: What a generation starts from: text (encoded with the model's tokenizer, bos added as its configuration says),
#: token ids (used as given), or a conversation (written in the model's chat format).
PromptInput = Union[str, Sequence[int], Sequence[Message]]


@dataclass
class GenerationResult:
    """One generation: what ``bffn generate --json`` prints, with the main members as attributes.

    Attributes:
        text: the generated ids decoded (None for a model without a tokenizer); with ``stop_reason`` ``"stop"``,
            cut before the stop string.
        prompt_ids: the prompt as token ids. generated_ids: the tokens generated.
        stop_reason: ``"max_new_tokens"``, ``"eos"``, ``"stop"`` (a stop string), ``"context_limit"`` or
            ``"cancelled"`` (the stream was closed early, or an ``on_text`` callback asked to stop).
        decode_tokens_per_second: generated tokens after the first / decode seconds, as the library measured.
        prefill_seconds: the prompt's forward pass.
        logprobs: with ``logprobs=N``, one ``{"id", "logprob", "top": [{"id", "logprob"}, ...]}`` per generated
            id (natural log of the softmax after the repeat penalty, temperature 1); else None.
        document: the whole JSON document (``speculative``, ``memory``, ``activations``, ... included).
    """

    text: Optional[str]
    prompt_ids: List[int]
    generated_ids: List[int]
    stop_reason: str
    decode_tokens_per_second: float
    prefill_seconds: float
    document: Dict[str, Any] = field(repr=False)
    logprobs: Optional[List[Dict[str, Any]]] = field(default=None, repr=False)

    @classmethod
    def from_document(cls, document: Dict[str, Any]) -> "GenerationResult":
        """Builds the result from the library's JSON document."""
        return cls(text=document.get("text"), prompt_ids=list(document.get("prompt_ids", [])),
                   generated_ids=list(document.get("generated_ids", [])),
                   stop_reason=str(document.get("stop_reason", "")),
                   decode_tokens_per_second=float(document.get("decode_tokens_per_second") or 0.0),
                   prefill_seconds=float(document.get("prefill_seconds") or 0.0), document=document,
                   logprobs=document.get("logprobs"))


def _prompt_json(prompt: Any) -> bytes:
    """{"text": ...} | {"ids": [...]} | {"messages": [...]} for a prompt given as text, ids or messages."""
    if isinstance(prompt, (str, os.PathLike)) and not isinstance(prompt, str):
        raise TypeError("a prompt is text, token ids or chat messages, not a path")
    if isinstance(prompt, str):
        body: Dict[str, Any] = {"text": prompt}
    elif isinstance(prompt, (bytes, bytearray)):
        raise TypeError("a prompt is a str (text), not bytes")
    else:
        items = list(prompt)
        if items and all(isinstance(m, Mapping) for m in items):
            body = {"messages": [dict(m) for m in items]}
        else:
            try:
                body = {"ids": [_as_id(i) for i in items]}
            except TypeError:
                raise TypeError("a prompt is text (str), token ids (ints) or chat messages (dicts with role and "
                                "content)") from None
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _as_id(value: Any) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"token ids are ints, not {type(value).__name__}")
    return int(value.__index__())


def _settings_json(max_new_tokens: int, temperature: float, top_p: float, top_k: int, seed: int,
                   stop: Union[None, str, Iterable[str]], min_p: Optional[float], repeat_penalty: Optional[float],
                   repeat_last_n: Optional[int], ignore_eos: bool, logprobs: Optional[int] = None) -> Optional[bytes]:
    stops = [stop] if isinstance(stop, str) else (list(stop) if stop is not None else None)
    return options_json({"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
                         "top_k": top_k, "seed": seed, "stop": stops or None, "min_p": min_p,
                         "repeat_penalty": repeat_penalty, "repeat_last_n": repeat_last_n,
                         "ignore_eos": True if ignore_eos else None, "logprobs": logprobs})


class _Closing:
    """``close()`` on leaving a ``with`` block and when garbage-collected (errors at interpreter exit, when the
    library may already be gone, are ignored)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Model(_Closing):
    """A model opened once for many calls: a .bfpk pack, a checkpoint (folder, .safetensors, .bin, shard index)
    or ORG/NAME in the local Hugging Face cache.

    Calls on one model run one at a time (the library serialises them; a second thread waits), so a model can
    be shared by threads. Use it as a context manager, or call :meth:`close`; it is also closed when collected.

    Example::

        with bffn.Model("fixtures/trained", threads=2) as model:
            print(model.generate("def add(a, b):", max_new_tokens=12))
            for piece in model.generate("import os", stream=True):
                print(piece, end="", flush=True)
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], threads: Optional[int] = None,
                 memory_budget: Union[None, int, str] = None, speculative: Optional[str] = None, *,
                 fixed_draft: Optional[bool] = None, activations: Optional[str] = None,
                 kv_cache: Optional[str] = None, tokenizer: Union[None, str, "os.PathLike[str]"] = None,
                 parallel_sequences: Optional[int] = None) -> None:
        """Opens the model.

        Args:
            path: the model (see the class).
            threads: compute threads (default: the library's, all cores).
            memory_budget: bytes for weights, an int or a string like ``"64M"``: experts beyond it are streamed
                from the file through a cache (``--memory-budget``).
            speculative: a lossless drafter: ``"none"``, ``"ngram"`` (prompt lookup), ``"draft:PATH"`` (a draft
                model), ``"eagle"`` (the pack's or the checkpoint's EAGLE head), ``"eagle:PATH"``.
            fixed_draft: keep the draft tree fixed instead of adapting it (``--fixed-draft``).
            activations: ``"auto"``, ``"float"``, ``"int8"``, ``"bf16"``; kv_cache: ``"f32"`` or ``"bf16"``.
            tokenizer: a tokenizer.json / tokenizer.model to use instead of the model's own.
            parallel_sequences: up to this many generations started at once from several threads are decoded
                together in shared forward passes (each gets the tokens it gets alone); an ``on_text`` callback may
                then run on another generating thread. Default: generations run one after another.

        Raises:
            IOFailure: the path cannot be read (the message names it). UsageError: a bad option.
            BFFNError: other failures, with the file, field and offset.
        """
        self.path = os.fspath(path)
        self._lib = lib
        self._handle: Optional[int] = None
        opts = options_json({"threads": threads, "memory_budget": memory_budget, "speculative": speculative,
                             "fixed_draft": fixed_draft, "activations": activations, "kv_cache": kv_cache,
                             "tokenizer": os.fspath(tokenizer) if tokenizer is not None else None,
                             "parallel_sequences": parallel_sequences})
        handle = ctypes.c_void_p()
        check(lib.bffn_model_open(encode(path, "path"), opts, ctypes.byref(handle)))
        self._handle = handle.value

    # ---- life cycle ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the model (closing twice does nothing). A generation still running on another thread finishes
        first; calls after closing raise :class:`~bffn.UsageError`."""
        if self._handle:
            self._lib.bffn_model_close(self._handle)
            self._handle = None

    def _live(self) -> int:
        """The handle; UsageError once closed."""
        if not self._handle:
            from .errors import UsageError
            raise UsageError(f"{self.path}: the model is closed [usage]", 1, "usage")
        return self._handle

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return not self._handle


    def __repr__(self) -> str:
        return f"bffn.Model({self.path!r}{', closed' if self.closed else ''})"

    # ---- tokens ----------------------------------------------------------------------------------------------

    def tokenize(self, text: str, add_special_tokens: bool = False) -> List[int]:
        """Text to token ids with the model's tokenizer (the ids the Python ``tokenizers`` package gives for a
        tokenizer.json). ``add_special_tokens``: add bos/eos as the tokenizer's configuration says."""
        ids = ctypes.POINTER(ctypes.c_int32)()
        count = ctypes.c_size_t()
        check(lib.bffn_tokenize(self._live(), encode(text, "text"), 1 if add_special_tokens else 0,
                                ctypes.byref(ids), ctypes.byref(count)))
        if not ids:
            return []
        try:
            return ids[:count.value]
        finally:
            lib.bffn_ids_free(ids)

    def detokenize(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Token ids to text. ``skip_special_tokens``: leave out bos, eos, pad and unk.

        Raises:
            LimitError: an id outside the vocabulary. UsageError: a negative id.
        """
        values = [_as_id(i) for i in ids]
        if any(not -2**31 <= v < 2**31 for v in values):
            raise OverflowError("token ids must fit in 32 bits")
        array = (ctypes.c_int32 * len(values))(*values)
        out = ctypes.c_void_p()
        check(lib.bffn_detokenize(self._live(), array if values else None, len(values),
                                  1 if skip_special_tokens else 0, ctypes.byref(out)))
        return take_string(out.value) or ""

    # ---- generation ----------------------------------------------------------------------------------------

    def generate_result(self, prompt: PromptInput, max_new_tokens: int = 32, temperature: float = 0.0,
                        top_p: float = 1.0, top_k: int = 0, seed: int = 0,
                        stop: Union[None, str, Iterable[str]] = None, *, min_p: Optional[float] = None,
                        repeat_penalty: Optional[float] = None, repeat_last_n: Optional[int] = None,
                        ignore_eos: bool = False, logprobs: Optional[int] = None,
                        on_text: Optional[Callable[[str], Optional[bool]]] = None) -> GenerationResult:
        """Generates and returns everything about it (ids, text, stop reason, speeds): see :meth:`generate` for
        the arguments. ``on_text`` is called with each piece of text as tokens are accepted, on this thread;
        returning False stops generation after the current token (``stop_reason`` ``"cancelled"``); an exception
        it raises stops generation and is raised here. Ctrl-C stops generation too (KeyboardInterrupt).
        ``logprobs`` (0...20): each generated token's log-probability with that many most likely alternatives, in
        ``result.logprobs``."""
        settings = _settings_json(max_new_tokens, temperature, top_p, top_k, seed, stop, min_p, repeat_penalty,
                                  repeat_last_n, ignore_eos, logprobs)
        return self._generate(_prompt_json(prompt), settings, on_text)

    def _generate(self, prompt_json: bytes, settings_json: Optional[bytes],
                  on_text: Optional[Callable[[str], Optional[bool]]]) -> GenerationResult:
        """bffn_generate with a callback that decodes the pieces and hands them to on_text."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        raised: List[BaseException] = []

        def piece(pointer: int, length: int, _user: int) -> int:
            try:
                text = decoder.decode(ctypes.string_at(pointer, length))
                if on_text is not None and text:
                    return 1 if on_text(text) is False else 0
                return 0
            except BaseException as e:  # noqa: B902 - KeyboardInterrupt must stop generation too
                raised.append(e)
                return 1

        callback = TEXT_CALLBACK(piece)
        out = ctypes.c_void_p()
        status = lib.bffn_generate(self._live(), prompt_json, settings_json, callback, None, ctypes.byref(out))
        document = take_string(out.value)
        if raised:
            raise raised[0]
        check(status)
        if document is None:
            raise RuntimeError("bffn_generate returned no result")
        return GenerationResult.from_document(json.loads(document))

    def generate(self, prompt: PromptInput, max_new_tokens: int = 32, temperature: float = 0.0, top_p: float = 1.0,
                 top_k: int = 0, seed: int = 0, stop: Union[None, str, Iterable[str]] = None,
                 stream: bool = False, *, min_p: Optional[float] = None, repeat_penalty: Optional[float] = None,
                 repeat_last_n: Optional[int] = None, ignore_eos: bool = False) -> Any:
        """Generates text after a prompt, with the options and defaults of ``bffn generate``.

        Args:
            prompt: text (encoded with the model's tokenizer, bos added as its configuration says), a list of
                token ids, or chat messages (as :meth:`chat` takes them).
            max_new_tokens: the most tokens to generate.
            temperature: 0 for greedy decoding, else the sampling temperature.
            top_p: sample from the most likely tokens whose probabilities reach p (1: all).
            top_k: sample from the k most likely tokens (0: all).
            seed: the sampling seed: the same seed and settings give the same tokens (and the CLI's ``--seed``).
            stop: a string or strings that end generation; the text is cut before the first one found.
            stream: return an iterator of text pieces (a :class:`GenerationStream`) instead of the text.
            min_p: drop tokens less likely than min_p times the most likely one.
            repeat_penalty, repeat_last_n: llama.cpp's repetition penalty over the last n tokens.
            ignore_eos: go on past end-of-sequence ids.

        Returns:
            The generated text (str); with ``stream=True`` a :class:`GenerationStream`: iterate it for the pieces
            as tokens are accepted (they join to the text), close it (or leave a ``with`` block) to stop early;
            its ``result`` is the :class:`GenerationResult` once it is over. Use :meth:`generate_result` for the
            ids, the stop reason and the speeds.

        Raises:
            UsageError: a bad setting (the message names it). BFFNError: other failures.
        """
        settings = _settings_json(max_new_tokens, temperature, top_p, top_k, seed, stop, min_p, repeat_penalty,
                                  repeat_last_n, ignore_eos)
        if stream:
            return GenerationStream(self, _prompt_json(prompt), settings)
        return self._generate(_prompt_json(prompt), settings, None).text or ""

    def generate_ids(self, prompt: PromptInput, max_new_tokens: int = 32, temperature: float = 0.0,
                     top_p: float = 1.0, top_k: int = 0, seed: int = 0, **options: Any) -> List[int]:
        """The generated token ids (see :meth:`generate` for the arguments)."""
        return self.generate_result(prompt, max_new_tokens, temperature, top_p, top_k, seed, **options).generated_ids

    def chat(self, messages: Union[str, Sequence[Message]], max_new_tokens: int = 32, temperature: float = 0.0,
             top_p: float = 1.0, top_k: int = 0, seed: int = 0, stop: Union[None, str, Iterable[str]] = None,
             stream: bool = False, **options: Any) -> Any:
        """The reply to a conversation, written in the model's chat format (BlockFFN/MiniCPM: system text, then
        ``<用户>{user}<AI>{assistant}`` per turn, ending with ``<AI>``).

        Args:
            messages: ``[{"role": "system" | "user" | "assistant", "content": "..."}, ...]``, or one user
                message as a str.
            The other arguments are :meth:`generate`'s.

        Returns:
            The reply (str), or with ``stream=True`` a :class:`GenerationStream` of its pieces.
        """
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        if not messages:
            raise ValueError("chat needs at least one message")
        return self.generate(list(messages), max_new_tokens, temperature, top_p, top_k, seed, stop, stream, **options)


class _Done:
    """The end of a stream: its result or the exception generation raised."""

    def __init__(self, result: Optional[GenerationResult], error: Optional[BaseException]) -> None:
        self.result = result
        self.error = error


def _produce(model: Model, prompt_json: bytes, settings_json: Optional[bytes],
             pieces: "queue.SimpleQueue[Union[str, _Done]]", stop: threading.Event) -> None:
    """A stream's thread: generates, putting each piece into the queue and a _Done at the end; once `stop` is
    set the callback asks the library to stop."""
    def on_text(text: str) -> bool:
        if stop.is_set():
            return False
        pieces.put(text)
        return True

    try:
        pieces.put(_Done(model._generate(prompt_json, settings_json, on_text), None))
    except BaseException as e:  # noqa: B902 - handed to the consumer
        pieces.put(_Done(None, e))


class GenerationStream(_Closing, Iterator[str]):
    """The pieces of one generation as tokens are accepted (``Model.generate(..., stream=True)``).

    Generation runs on a background thread that feeds a queue; iterating takes the pieces from it. Closing the
    stream (:meth:`close`, the end of a ``with`` block, or the stream being collected) before the end stops
    generation after the current token (``result.stop_reason == "cancelled"``). After the last piece, ``result``
    holds the :class:`GenerationResult`; an error in generation is raised by the iteration.
    """

    def __init__(self, model: Model, prompt_json: bytes, settings_json: Optional[bytes]) -> None:
        self.result: Optional[GenerationResult] = None
        # The thread holds the queue and the stop flag, not this object, so dropping the stream collects it
        # (and __del__ stops generation).
        self._queue: "queue.SimpleQueue[Union[str, _Done]]" = queue.SimpleQueue()
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=_produce, args=(model, prompt_json, settings_json, self._queue,
                                                               self._stop), name="bffn-generate", daemon=True)
        self._thread.start()

    def __iter__(self) -> "GenerationStream":
        return self

    def __next__(self) -> str:
        if self._finished:
            raise StopIteration
        try:
            item = self._queue.get()
        except BaseException:  # e.g. KeyboardInterrupt while waiting: stop generating before leaving
            self.close()
            raise
        if isinstance(item, _Done):
            self._finish(item)
            raise StopIteration
        return item

    def _finish(self, done: _Done) -> None:
        self._finished = True
        self._thread.join()
        self.result = done.result
        if done.error is not None:
            raise done.error

    def close(self) -> None:
        """Stops generation after the current token (if it is still running) and waits for it to end. The
        pieces not yet taken are dropped; ``result`` is then set (``stop_reason`` ``"cancelled"`` when it was
        stopped). Closing twice does nothing."""
        if self._finished:
            return
        self._stop.set()
        while True:
            item = self._queue.get()
            if isinstance(item, _Done):
                try:
                    self._finish(item)
                except Exception:
                    pass  # a failure after the consumer stopped listening is nobody's to handle
                return

    @property
    def text(self) -> Optional[str]:
        """The whole text once the stream is over (None before)."""
        return self.result.text if self.result is not None else None

