"""One batched model call over rows whose cached prefixes differ in length.

Each row's cached prefix (from the `PrefixCache`) is left-padded to the batch's longest one, and its
uncached tokens are left-padded after it, so every row ends at the last column:

    row 0:  [pad pad c c c | pad n n]        c = keys/values served from the cache
    row 1:  [c c c c c     | n n n  ]        n = tokens computed in this call

The attention mask marks the holes and position ids count only a row's real tokens, so each row sees
exactly what it would see alone. Afterwards each row's keys/values are cut out again and stored.
"""
from __future__ import annotations

import torch

from reasoning.models.prefix_cache import PrefixCache


class KVBatch:
    def __init__(self, model, rows: list[list[int]], limits: list[int], cache: PrefixCache | None,
                 pad_id: int, device):
        self.model, self.pad_id, self.device = model, pad_id, device
        self._cache_argument = _cache_argument(model)
        reuse = [cache.longest_prefix(row, limit) if cache else (None, 0) for row, limit in zip(rows, limits)]
        self.cached = [n for _, n in reuse]
        self.seqs = [list(row) for row in rows]  # per row: the tokens whose keys/values the batch holds
        self._past = self._assemble([entry for entry, _ in reuse])
        self._mask = None
        self._positions = None

    def prefill(self, keep: int) -> torch.Tensor:
        """Run every row's uncached tokens; logits of the last `keep` columns ([rows, keep, vocab])."""
        width = max(len(s) - n for s, n in zip(self.seqs, self.cached))
        ids = torch.full((len(self.seqs), width), self.pad_id, dtype=torch.long)
        new_mask = torch.zeros((len(self.seqs), width), dtype=torch.long)
        for i, (seq, n) in enumerate(zip(self.seqs, self.cached)):
            fresh = seq[n:]
            ids[i, width - len(fresh):] = torch.tensor(fresh, dtype=torch.long)
            new_mask[i, width - len(fresh):] = 1
        self._mask = torch.cat([self._cached_mask(), new_mask], dim=1)
        positions = (self._mask.cumsum(-1) - 1).clamp(min=0)
        self._positions = positions[:, -1]
        return self._forward(ids, positions[:, -width:], keep)

    def step(self, tokens: list[int | None]) -> torch.Tensor:
        """Feed one token per row (None: the row is done, a masked pad); next-token logits [rows, vocab]."""
        ids = torch.tensor([[self.pad_id if t is None else t] for t in tokens], dtype=torch.long)
        live = torch.tensor([[0 if t is None else 1] for t in tokens], dtype=torch.long)
        for seq, token in zip(self.seqs, tokens):
            if token is not None:
                seq.append(token)
        self._mask = torch.cat([self._mask, live], dim=1)
        self._positions = self._positions + live[:, 0]
        return self._forward(ids, self._positions[:, None], 1)[:, -1]

    def store(self, cache: PrefixCache) -> None:
        """Cut each row's keys/values out of the batch (its mask's columns) and keep them for later calls."""
        layers = [(layer.keys, layer.values) for layer in self._past.layers]
        for i, seq in enumerate(self.seqs):
            columns = self._mask[i].nonzero().squeeze(-1)
            kv = [(k[i][:, columns.to(k.device)], v[i][:, columns.to(v.device)]) for k, v in layers]
            cache.store(seq, kv)

    # --- helpers ------------------------------------------------------------------------------------
    def _forward(self, ids, positions, keep) -> torch.Tensor:
        out = self.model(input_ids=ids.to(self.device), attention_mask=self._mask.to(self.device),
                         position_ids=positions.to(self.device), use_cache=True, logits_to_keep=keep,
                         **{self._cache_argument: self._past})
        return out.logits

    def _cached_mask(self) -> torch.Tensor:
        width = max(self.cached)
        mask = torch.zeros((len(self.seqs), width), dtype=torch.long)
        for i, n in enumerate(self.cached):
            mask[i, width - n:] = 1 if n else 0
        return mask

    def _assemble(self, entries):
        from transformers import DynamicCache

        width = max(self.cached)
        if width == 0:
            return DynamicCache()
        reference = next(e for e in entries if e is not None)
        layers = []
        for layer, (ref_k, ref_v) in enumerate(reference.kv):
            keys = ref_k.new_zeros((len(entries), ref_k.shape[0], width, ref_k.shape[2]))
            values = ref_v.new_zeros((len(entries), ref_v.shape[0], width, ref_v.shape[2]))
            for i, (entry, n) in enumerate(zip(entries, self.cached)):
                if n:
                    keys[i, :, width - n:] = entry.kv[layer][0][:, :n]
                    values[i, :, width - n:] = entry.kv[layer][1][:, :n]
            layers.append((keys, values))
        return DynamicCache(ddp_cache_data=layers)


def _cache_argument(model) -> str:
    """transformers 5.24 renamed forward's `past_key_values` to `cache` (the old name warns on every call)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
BLOCK = 32  # tokens per prefill block in batch-invariant mode


class BlockRow:
    """One row alone, with the same shapes whatever the batch or the prefix cache: batch-invariant mode.

    Matmul and attention kernels may sum in another order for another shape, so in bf16 a row's logits
    can depend on how many rows or tokens share a forward pass. Here a row never shares one: its
    uncached tokens are prefilled in blocks at fixed absolute positions ([0, 32), [32, 64), ...) and
    generated tokens are fed one at a time. Only keys/values of whole blocks are stored in (and
    served from) the prefix cache, so a cached prefix is bit for bit what a fresh prefill computes.
    Same interface as `KVBatch`, for a batch of one row.
    """

    def __init__(self, model, rows: list[list[int]], limits: list[int], cache: PrefixCache | None,
                 pad_id: int, device, block: int = BLOCK):
        (row,), (limit,) = rows, limits
        self.model, self.device, self.block = model, device, block
        entry, n = cache.longest_prefix(row, limit) if cache else (None, 0)
        n = n // block * block  # reuse whole blocks only
        self.cached = [n]
        self.seqs = [list(row)]
        self._whole = n  # tokens whose keys/values were computed as whole aligned blocks
        self._past = _past_of(entry, n)

    def prefill(self, keep: int) -> torch.Tensor:
        """Run the uncached tokens block by block; logits of the row's last `keep` tokens ([1, keep, vocab])."""
        seq, first_kept = self.seqs[0], len(self.seqs[0]) - keep
        kept = []
        for start in range(self.cached[0], len(seq), self.block):
            end = min(start + self.block, len(seq))
            wanted = end - max(start, first_kept)  # this block's share of the kept logits (a suffix of it)
            logits = self._forward(seq[start:end], start, max(wanted, 1))
            if wanted > 0:
                kept.append(logits[:, -wanted:])
            if end - start == self.block:
                self._whole = end
        return torch.cat(kept, dim=1)

    def step(self, tokens: list[int | None]) -> torch.Tensor:
        (token,) = tokens  # a single row is never fed once finished: generate stops with it
        self.seqs[0].append(token)
        return self._forward([token], len(self.seqs[0]) - 1, 1)[:, -1]

    def store(self, cache: PrefixCache) -> None:
        """Keep the whole blocks only: a partial block or a decoded token was computed in another shape."""
        n = self._whole
        if n:
            cache.store(self.seqs[0][:n], [(layer.keys[0, :, :n].clone(), layer.values[0, :, :n].clone())
                                           for layer in self._past.layers])

    def _forward(self, ids: list[int], start: int, keep: int) -> torch.Tensor:
        end = start + len(ids)
        out = self.model(input_ids=torch.tensor([ids], device=self.device),
                         attention_mask=torch.ones((1, end), dtype=torch.long, device=self.device),
                         position_ids=torch.arange(start, end, device=self.device)[None],
                         use_cache=True, logits_to_keep=keep, **{_cache_argument(self.model): self._past})
        return out.logits


def _past_of(entry, n: int):
    from transformers import DynamicCache

    if not n:
        return DynamicCache()
    return DynamicCache(ddp_cache_data=[(k[None, :, :n], v[None, :, :n]) for k, v in entry.kv])
