"""Prefix caching: keep the KV of recent sequences and serve the longest cached prefix of a new request.

The same idea as vLLM's automatic prefix caching, at the scale of one process: callers stay stateless
and send whole token sequences; the backend finds how much of each sequence it has already computed.
Entries are whole sequences (one per row of a finished call). An entry that is a prefix of a newer one
is dropped (the newer one serves it too); past `max_tokens`, the least recently used entries go.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(eq=False)  # entries are compared by identity
class _Entry:
    ids: np.ndarray  # the token ids whose keys/values are held
    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values, each [heads, len(ids), head_dim]
    last_used: int


class PrefixCache:
    def __init__(self, max_tokens: int):
        self.max_tokens = max_tokens
        self._entries: list[_Entry] = []
        self._clock = 0

    @property
    def tokens(self) -> int:
        return sum(len(e.ids) for e in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def longest_prefix(self, ids, limit: int) -> tuple[_Entry | None, int]:
        """The entry sharing the longest prefix with `ids` and that length, at most `limit` tokens."""
        ids = np.asarray(ids, dtype=np.int64)
        best, best_n = None, 0
        for entry in self._entries:
            n = _common_prefix(entry.ids, ids, limit)
            if n > best_n:
                best, best_n = entry, n
        if best is not None:
            best.last_used = self._tick()
        return best, best_n

    def store(self, ids, kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0 or len(ids) > self.max_tokens:
            return
        for entry in self._entries:
            if len(entry.ids) >= len(ids) and _common_prefix(entry.ids, ids, len(ids)) == len(ids):
                entry.last_used = self._tick()  # already held inside a longer entry
                return
        self._entries = [e for e in self._entries
                         if not (len(e.ids) < len(ids) and _common_prefix(e.ids, ids, len(e.ids)) == len(e.ids))]
        self._entries.append(_Entry(ids, kv, self._tick()))
        while self.tokens > self.max_tokens:
            self._entries.remove(min(self._entries, key=lambda e: e.last_used))

    def clear(self) -> None:
        self._entries.clear()

    def _tick(self) -> int:
        self._clock += 1
        return self._clock


def _common_prefix(a: np.ndarray, b: np.ndarray, limit: int) -> int:
    m = min(len(a), len(b), limit)
    differ = np.flatnonzero(a[:m] != b[:m])
    return int(differ[0]) if len(differ) else m
