"""Reads of untrusted files, each in a child process stopped at a time limit (NARRATE_PARSE_SECONDS).

A pipeline reads whatever lands in its inbox: one file crafted to make a reader
spin (a pathological regular expression, a decompression bomb, a parser's worst
case) must end as that file's failure, never as a worker stuck for good. The
children come from a fork server that has imported the readers once, so a read
costs a fork, not an interpreter start; a child that runs past the limit is
killed, and one that dies (out of memory, a crash in a C library) is reported
as such. What a child returns, or raises, comes back pickled.
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.process as mp_process
import os
import pickle
import resource
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from worker.errors import BadInput, NarrateError, TransientError

T = TypeVar("T")

# Imported once by the fork server, so each child starts with the readers loaded.
PRELOAD = ["producer.pipelines.parsing", "producer.pipelines.voices"]

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


class ReadTimedOut(BadInput):
    """A file took longer to read than NARRATE_PARSE_SECONDS allows: it was stopped, and is refused."""


def within(seconds: float, fn: Callable[..., T], /, *args: Any, what: str, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` run in a child process; ReadTimedOut when it runs longer than `seconds`.

    `fn` must be a module-level function (the child imports it by name); `what`
    names the file in messages. The child sees this process's environment.
    """
    receive, send = _context.Pipe(duplex=False)
    with _as_plain_process():
        child = _context.Process(target=_run, args=(send, fn, args, kwargs, dict(os.environ), seconds), daemon=True)
        child.start()
    send.close()  # the child holds the only writing end: its death reads as end of file
    try:
        if not receive.poll(seconds):
            raise ReadTimedOut(
                f"{what}: reading it took longer than {seconds:g} s (NARRATE_PARSE_SECONDS) and was stopped;"
                " a file this slow to read is most likely malformed: check that it opens in an ordinary"
                " reader and upload it again (raise NARRATE_PARSE_SECONDS only for very large books)"
            )
        try:
            ok, value = receive.recv()
        except EOFError:
            child.join(5)
            raise BadInput(
                f"{what}: the reader stopped while reading it (exit code {child.exitcode}, e.g. out of memory);"
                " check that the file opens in an ordinary reader and upload it again"
            ) from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    if ok:
        return value  # type: ignore[no-any-return]
    raise value


@contextmanager
def _as_plain_process() -> Iterator[None]:
    """multiprocessing's view of this process while a child is made: in a Celery pool process it is billiard's, a daemon
    (which may have no children) whose key multiprocessing refuses to pickle.

    The daemon rule guards against orphans; this child never outlives the call that waits for it and kills it,
    and bounds its own CPU time should its parent be killed first.
    """
    current = mp_process._current_process  # type: ignore[attr-defined]
    if type(current._config.get("authkey")) is mp_process.AuthenticationString and not current._config.get("daemon"):
        yield
        return
    plain = mp_process.BaseProcess(name=current.name)
    plain._identity, plain._config = (
        (),
        {"authkey": mp_process.AuthenticationString(os.urandom(32)), "semprefix": "/mp"},
    )
    mp_process._current_process = plain  # type: ignore[attr-defined]
    try:
        yield
    finally:
        mp_process._current_process = current  # type: ignore[attr-defined]


def _run(
    send: Connection,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    environ: dict[str, str],
    seconds: float,
) -> None:
    limit = math.ceil(seconds) + 5  # an orphan (its parent killed mid-read) stops spinning soon after the limit
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 5))
    os.environ.clear()
    os.environ.update(environ)  # the fork server's environment is the one it started with
    from worker.settings import get_settings

    get_settings.cache_clear()
    try:
        answer: tuple[bool, Any] = (True, fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001  (whatever it was goes back to the caller)
        answer = (False, _portable(exc))
    try:
        send.send(answer)
    except Exception as exc:  # noqa: BLE001  (an answer that cannot be pickled is an error of the reader)
        send.send(
            (False, RuntimeError(f"the reader's answer could not be passed back ({exc.__class__.__name__}: {exc})"))
        )
    send.close()


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else one of the same kind and message.

    The kind: permanent, transient, or not ours.
    """
    try:
        pickle.loads(pickle.dumps(exc))
        copy = exc
    except Exception:  # noqa: BLE001
        kind = (
            BadInput
            if isinstance(exc, BadInput)
            else TransientError
            if isinstance(exc, TransientError)
            else (NarrateError if isinstance(exc, NarrateError) else RuntimeError)
        )
        copy = kind(f"{exc.__class__.__name__}: {exc}" if kind is RuntimeError else str(exc))
    if not isinstance(exc, NarrateError):
        copy.add_note("in the reading process:\n" + "".join(traceback.format_exception(exc)))
    return copy
