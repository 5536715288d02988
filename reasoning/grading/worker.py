"""Run a function in one persistent helper process, with a hard time limit that works from any thread.

Why a process: sympy can hang in C-level big-integer work, which no thread can interrupt, and SIGALRM
(math-verify's approach) only works on the main thread. A process can always be killed.

One helper is started lazily as a fresh interpreter (safe when the parent has threads or CUDA, and
unlike multiprocessing's spawn it never re-runs the caller's __main__ script), warmed up once outside
any call's budget, reused across calls, and killed + restarted after a timeout. Calls from several
threads are serialised by a lock; each call's budget starts once it holds the lock.
"""

import atexit
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

log = logging.getLogger(__name__)

STARTUP_SECONDS = 120.0  # spawning + importing sympy; generous for a loaded cluster node


class Timeout(Exception):
    """The call ran past its time limit; the helper process was killed."""


class CallError(Exception):
    """The function raised, or the helper died while running it: a property of the input, not the setup.
    (A helper that cannot start at all raises RuntimeError instead, so a broken install is not hidden.)"""


class _Helper:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process = None
        self._conn = None

    def call(self, fn: Callable, args: tuple, timeout_seconds: float):
        """fn(*args) in the helper process; fn must be a module-level (picklable) function."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._start()
            self._conn.send((fn, args))
            if not self._conn.poll(max(timeout_seconds, 0.0)):
                self.stop()
                raise Timeout(f"{getattr(fn, '__name__', fn)} ran past {timeout_seconds} s")
            try:
                ok, value = self._conn.recv()
            except EOFError as error:  # the helper died (e.g. out of memory)
                self.stop()
                raise CallError("grading helper process died") from error
        if not ok:
            raise CallError(value)
        return value

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-c", f"from reasoning.grading.worker import serve; serve({theirs.fileno()})"],
            pass_fds=[theirs.fileno()],
            env=_child_env(),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        if not self._conn.poll(STARTUP_SECONDS):
            self.stop()
            raise RuntimeError(f"grading helper did not start within {STARTUP_SECONDS} s")
        try:
            self._conn.recv()  # the "ready" message
        except EOFError as error:
            self.stop()
            raise RuntimeError("grading helper process failed to start (see its stderr)") from error

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._conn.close()
            log.debug("grading helper process stopped")
        self._process = self._conn = None


def _child_env() -> dict:
    """The caller's environment, plus the folder holding this package (pytest may not have installed it)."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def serve(fd: int) -> None:
    """Helper process loop: import the heavy modules once, then answer calls until the socket closes."""
    from reasoning.grading import symbolic  # noqa: F401  (warm-up: sympy + latex parser)

    conn = Connection(fd)
    conn.send("ready")
    while True:
        try:
            fn, args = conn.recv()
        except EOFError:
            return
        try:
            conn.send((True, fn(*args)))
        except Exception as error:  # report, keep serving
            conn.send((False, f"{type(error).__name__}: {error}"))


_HELPER = _Helper()
atexit.register(_HELPER.stop)  # don't leave a helper computing after the caller exits


def call_with_timeout(fn: Callable, args: tuple, timeout_seconds: float):
    """fn(*args) in the shared helper process; raises Timeout after timeout_seconds."""
    return _HELPER.call(fn, args, timeout_seconds)
