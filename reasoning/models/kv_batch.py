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
class TokenRow:
    """One row alone, one token per forward pass: batch-invariant mode.

    Matmul and attention kernels may sum in another order for another shape, so in bf16 a row's logits
    can depend on how many rows or tokens share a forward pass. Here every token of every row runs alone
    over its whole past, prompt tokens included, so each position's keys, values and logits come from the
    same call whatever the batch, the prefix cache or the kind of call: a cached prefix is bit for bit a
    fresh one, and scoring a draft computes exactly what the model's own decoding computes (token/argmax
    verification is then lossless in bf16; prefilling in blocks was not: 5 of 8 tiny near-tie texts
    differed). The price: a prefill is one forward per uncached token. Same interface as `KVBatch`, for a
    batch of one row.
    """

    def __init__(self, model, rows: list[list[int]], limits: list[int], cache: PrefixCache | None,
                 pad_id: int, device):
        (row,), (limit,) = rows, limits
        self.model, self.device = model, device
        entry, n = cache.longest_prefix(row, limit) if cache else (None, 0)
        self.cached = [n]
        self.seqs = [list(row)]
        self._past = _past_of(entry, n)

    def prefill(self, keep: int) -> torch.Tensor:
        """Run the uncached tokens one by one; logits of the row's last `keep` tokens ([1, keep, vocab])."""
        seq = self.seqs[0]
        first_kept = len(seq) - keep
        kept = []
        for position in range(self.cached[0], len(seq)):
            logits = self._forward(seq[position], position)
            if position >= first_kept:
                kept.append(logits)
        return torch.cat(kept, dim=1)

    def step(self, tokens: list[int | None]) -> torch.Tensor:
        (token,) = tokens  # a single row is never fed once finished: generate stops with it
        self.seqs[0].append(token)
        return self._forward(token, len(self.seqs[0]) - 1)[:, -1]

    def store(self, cache: PrefixCache) -> None:
        n = self._past.get_seq_length()  # every token whose keys/values were computed (the last one may not be)
        if n:
            cache.store(self.seqs[0][:n], [(layer.keys[0, :, :n].clone(), layer.values[0, :, :n].clone())
                                           for layer in self._past.layers])

    def _forward(self, token: int, position: int) -> torch.Tensor:
        out = self.model(input_ids=torch.tensor([[token]], device=self.device),
                         attention_mask=torch.ones((1, position + 1), dtype=torch.long, device=self.device),
                         position_ids=torch.tensor([[position]], device=self.device),
                         use_cache=True, logits_to_keep=1, **{_cache_argument(self.model): self._past})
        return out.logits


def _past_of(entry, n: int):
    from transformers import DynamicCache

    if not n:
        return DynamicCache()
    return DynamicCache(ddp_cache_data=[(k[None, :, :n], v[None, :, :n]) for k, v in entry.kv])
