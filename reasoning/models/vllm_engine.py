"""A vLLM engine in a process of its own: one per model, with its own GPUs (CUDA_VISIBLE_DEVICES).

vLLM does not support two `LLM` objects in one process (vLLM #9198), and the GPUs an engine sees are
fixed when it starts, so each model gets a child process. The parent talks to it over a pipe with
plain lists (token ids, numbers); `serve` is the child's side. The child runs in a session of its own,
so a signal to the run's process group (Ctrl-C) reaches only the parent, which stops it cleanly. It ends
when the parent says so, when the pipe closes, or when the parent process is gone (checked every
second), and vLLM's own engine-core process follows it.

`Engine`s are shared within a process by what they load (`Engine.get`): a `-m` sweep on the basic
launcher, or a test session, starts each engine once. `release` stops it unless `keep_engines()` is
active; at exit every engine still running is stopped.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time

from reasoning.errors import ReasoningError

log = logging.getLogger(__name__)
STOP_SECONDS = 30  # how long a polite stop may take before the engine is killed
_ENGINES: dict[tuple, "Engine"] = {}
_KEEP = [0]


class Engine:
    """The parent's handle on one engine process."""

    def __init__(self, label: str, engine_args: dict, env: dict):
        self.label = label
        self.key = _key(engine_args, env)
        context = multiprocessing.get_context("spawn")  # vLLM must not inherit a forked torch
        self._conn, child_end = context.Pipe()
        self.process = context.Process(target=serve, args=(child_end, engine_args, env, os.getpid()),
                                       name=f"vllm-{label}", daemon=False)  # vLLM starts processes of its own
        start = time.perf_counter()
        self.process.start()
        child_end.close()
        reply = self._receive()
        self.load_seconds = time.perf_counter() - start
        self.info = reply
        log.info("%s: vLLM engine ready in %.1fs (pid %d, %s)", label, self.load_seconds, self.process.pid,
                 reply.get("device", "?"))

    @classmethod
    def get(cls, label: str, engine_args: dict, env: dict) -> "Engine":
        """The running engine for these arguments, or a new one."""
        engine = _ENGINES.get(_key(engine_args, env))
        if engine is None or not engine.process.is_alive():
            engine = cls(label, engine_args, env)
            _ENGINES[engine.key] = engine
        return engine

    def call(self, kind: str, *args):
        if not self.process.is_alive():
            raise ReasoningError(f"{self.label}: the vLLM engine process has exited (code "
                                 f"{self.process.exitcode}); see the log above, then rerun to resume")
        self._conn.send((kind, args))
        return self._receive()

    def _receive(self):
        try:
            status, payload = self._conn.recv()
        except (EOFError, ConnectionError):
            self.stop()
            raise ReasoningError(f"{self.label}: the vLLM engine process died (exit code {self.process.exitcode}); "
                                 "see the log above (out of memory?), then rerun to resume") from None
        if status == "error":
            if payload.get("fatal"):
                self.stop()
            raise ReasoningError(f"{self.label}: vLLM: {payload['message']}")
        return payload

    def release(self) -> None:
        if not _KEEP[0]:
            self.stop()

    def stop(self) -> None:
        """Stop the engine and every process under it; memory is freed when they exit."""
        _ENGINES.pop(self.key, None)
        if self.process.pid is None or not self.process.is_alive():
            return
        descendants = _descendants(self.process.pid)
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        for child in descendants:  # vLLM's engine core, should it outlive its parent
            with contextlib.suppress(Exception):
                child.wait(5)
            with contextlib.suppress(Exception):
                child.kill()
        self._conn.close()
        log.info("%s: vLLM engine stopped", self.label)


@contextlib.contextmanager
def keep_engines():
    """Within this block released engines keep running for the next run with the same models."""
    _KEEP[0] += 1
    try:
        yield
    finally:
        _KEEP[0] -= 1


def stop_all() -> None:
    for engine in list(_ENGINES.values()):
        engine.stop()


atexit.register(stop_all)


def _key(engine_args: dict, env: dict) -> tuple:
    """What makes two engines the same: their arguments and environment."""
    return repr(sorted(engine_args.items())), repr(sorted(env.items()))


def _descendants(pid: int) -> list:
    try:
        import psutil

        return psutil.Process(pid).children(recursive=True)
    except Exception:  # noqa: BLE001 - psutil missing or the process gone: nothing more to collect
        return []


# --- the child's side -------------------------------------------------------------------------------
def serve(conn, engine_args: dict, env: dict, parent_pid: int) -> None:
    """Load the engine, then answer requests until told to stop or the parent is gone."""
    os.environ.update(env)  # before vLLM (and torch) are imported: CUDA_VISIBLE_DEVICES, VLLM_* knobs
    # Ctrl-C and `kill -- -PGID` signal the whole process group. The parent decides when the engine stops,
    # so it can shut down cleanly (vLLM's processes, when signalled, die leaking their shared memory):
    # the engine and the processes it starts get a session of their own.
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _follow_parent(parent_pid)
    try:
        from vllm import LLM

        llm = LLM(**engine_args)
    except BaseException as error:  # noqa: BLE001 - the parent shows it as one line
        conn.send(("error", {"message": _first_line(error), "fatal": True}))
        return
    conn.send(("ok", {"device": env.get("CUDA_VISIBLE_DEVICES") and f"GPUs {env['CUDA_VISIBLE_DEVICES']}" or "cpu"}))
    handlers = {"generate": _generate, "score": _score}
    while True:
        try:
            request = conn.recv()
        except (EOFError, ConnectionError, KeyboardInterrupt):
            break
        if request is None:
            break
        kind, args = request
        try:
            reply = ("ok", handlers[kind](llm, *args))
        except Exception as error:  # noqa: BLE001 - the parent raises it; the engine stays up
            reply = ("error", {"message": _first_line(error)})
        try:
            conn.send(reply)
        except (OSError, ValueError):
            break
    with contextlib.suppress(Exception):
        llm.llm_engine.engine_core.shutdown()


def _follow_parent(parent_pid: int) -> None:
    """Exit when the parent is gone (killed without a chance to stop us); vLLM's engine core then follows."""
    def watch():
        while True:
            time.sleep(1)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="follow-parent").start()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def _generate(llm, rows: list[dict], sampling: dict) -> list[dict]:
    """rows: {"prompt", "max_tokens", "seed"}; sampling: SamplingParams knobs shared by every row."""
    from vllm import SamplingParams

    params = [SamplingParams(max_tokens=row["max_tokens"], seed=row["seed"], **sampling) for row in rows]
    outputs = llm.generate([{"prompt_token_ids": row["prompt"]} for row in rows], params, use_tqdm=False)
    return [dict(ids=list(o.outputs[0].token_ids), finish_reason=o.outputs[0].finish_reason,
                 stop_string=isinstance(o.outputs[0].stop_reason, str), cached=o.num_cached_tokens or 0)
            for o in outputs]


def _score(llm, rows: list[dict], next_tokens: list[int]) -> list[dict]:
    """rows: {"ids": prompt + continuation, "start": where the continuation starts}.

    Prompt log-probs with the top-1 token give each continuation token's log-prob and the greedy token
    there; one greedy step after the row gives the next greedy token (and the asked tokens' log-probs).
    vLLM skips the prefix cache for such a request by default, since it leaves the log-probs of cached
    positions unwritten; we only read the continuation's, so a verification reads the cache for its
    context (the last round's) and computes only the new tokens. Without detokenizing, as the unwritten
    positions hold arbitrary token ids. A row whose cache reached into the continuation is computed again
    whole, and both passes are counted.
    """
    from vllm import SamplingParams

    def run(some: list[dict], read_cache: bool):
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False,
                                skip_reading_prefix_cache=not read_cache,
                                **({"logprob_token_ids": list(next_tokens)} if next_tokens else {}))
        return llm.generate([{"prompt_token_ids": row["ids"]} for row in some], params, use_tqdm=False)

    outputs = run(rows, read_cache=True)
    cached = [o.num_cached_tokens or 0 for o in outputs]
    # the log-prob of token p comes from position p - 1: it was computed only if p - 1 was not cached
    again = [i for i, row in enumerate(rows) if cached[i] > row["start"] - 1]
    if again:
        for i, output in zip(again, run([rows[i] for i in again], read_cache=False)):
            outputs[i] = output
    results = []
    for i, (row, output) in enumerate(zip(rows, outputs)):
        positions = output.prompt_logprobs[row["start"]:]
        tokens = row["ids"][row["start"]:]
        best = [min(p.items(), key=lambda kv: kv[1].rank) for p in positions]
        sample = output.outputs[0]
        asked = sample.logprobs[0] if next_tokens and sample.logprobs else {}
        results.append(dict(
            logprobs=[p[t].logprob for p, t in zip(positions, tokens)],
            argmax_ids=[token for token, _ in best], argmax_logprobs=[lp.logprob for _, lp in best],
            next_argmax_id=sample.token_ids[0],
            next_logprobs={t: asked[t].logprob for t in next_tokens if t in asked},
            cached=cached[i], scored_again=i in again,  # the first pass's cache hit; the backend counts both passes
        ))
    return results
