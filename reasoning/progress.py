"""Progress inside a batch, so that a long batch shows it is moving (or stuck).

Settings call `round_done` once per round of their loop, the model backend calls `model_call` once
per batched call and `decoding` at every decode step; whoever runs the problems (the runner) installs
a listener with `listen` and reads `activity()` as often as it redraws. With no listener every call is
nearly free, so settings and models stay usable on their own.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

_listener: Callable[[str], None] | None = None
_finished: Callable[[int], None] | None = None  # told how many of the batch's problems are done
_throughput: dict[str, list[float]] = {}  # model name -> [tokens computed, seconds] in this listening span
_activity = ""  # what a model is doing right now, e.g. "student writing 130/512 tokens"


@contextmanager
def listen(show: Callable[[str], None], finished: Callable[[int], None] | None = None):
    """Send a one-line status to `show` after every round while the block runs, and the number of the
    batch's problems that need no more rounds to `finished` (a progress bar's position)."""
    global _listener, _finished, _activity
    _listener, _finished, _activity = show, finished, ""
    _throughput.clear()
    try:
        yield
    finally:
        _listener = _finished = None
        _activity = ""
        _throughput.clear()


def decoding(model: str, written: int, budget: int, rows: int) -> None:
    """A decode step of a batched call: the longest-running of `rows` rows has `written` of `budget` tokens."""
    global _activity
    if _listener is not None:
        _activity = f"{model} writing {written}/{budget} tokens ({rows} rows)"


def activity() -> str:
    return _activity


def model_call(model: str, computed_tokens: int, seconds: float) -> None:
    global _activity
    if _listener is not None:
        _activity = ""
        tokens_seconds = _throughput.setdefault(model, [0, 0.0])
        tokens_seconds[0] += computed_tokens
        tokens_seconds[1] += seconds


def round_done(setting: str, round_no: int, active: int, total: int, **counts: int) -> None:
    """One round of a setting's loop is over: `active` of `total` problems still need more rounds."""
    if _listener is None:
        return
    speeds = ", ".join(f"{name} {tokens / max(seconds, 1e-9):.0f} tok/s"
                       for name, (tokens, seconds) in _throughput.items())
    extra = "".join(f", {name} {value}" for name, value in counts.items())
    _listener(f"{setting} round {round_no}: {active}/{total} problems active{extra}; {speeds}")
    if _finished is not None:
        _finished(total - active)
