"""Tiny random-weight models that share one locally trained tokenizer: the whole pipeline in seconds.

Built on first use into the cache and reused; nothing touches the network. Greedy-equivalence
properties (lossless speculative decoding) hold whatever the weights are.
"""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

from reasoning.models.cache import cache_root

VERSION = "v2"  # bump when the recipe below changes, so stale caches are not reused
SPECIALS = ["<|pad|>", "<|endoftext|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
# name -> architecture; different sizes and seeds, one tokenizer. Heads of 32 dims: the smallest that
# vLLM's CPU attention supports (32, 64, 80, ...), so the tiny pair runs on both backends.
SIZES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, seed=0),
    "tiny-teacher": dict(hidden_size=96, intermediate_size=192, num_hidden_layers=3, num_attention_heads=3,
                         num_key_value_heads=1, seed=1),
}


def ensure_tiny(name: str, cache_dir: str | None = None) -> Path:
    """Return the folder of tiny model `name`, building it (and the shared tokenizer) if missing."""
    root = Path(cache_dir) if cache_dir else cache_root() / "tiny"
    folder = root / f"{name}-{VERSION}"
    if not (folder / "config.json").exists():
        _publish(folder, lambda tmp: _build(name, tmp))
    return folder


def _build(name: str, folder: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _train_tokenizer()
    spec = dict(SIZES[name])
    torch.manual_seed(spec.pop("seed"))
    config = LlamaConfig(
        vocab_size=len(tokenizer), max_position_embeddings=4096,
        # A wide init gives peaked logits, so greedy choices are not near-ties that float noise flips.
        initializer_range=0.5, bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **spec,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _train_tokenizer():
    """A byte-level BPE tokenizer trained on generated arithmetic text (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|endoftext|>", chat_template=CHAT_TEMPLATE,
    )


def _corpus(lines: int = 3000):
    rng = random.Random(0)
    names = ["Ann", "Ben", "Cara", "Dev", "Eli", "Fay"]
    things = ["apples", "books", "coins", "pens", "cakes", "marbles"]
    for _ in range(lines):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        yield (f"{rng.choice(names)} has {a} {rng.choice(things)} and buys {b} more. "
               f"Step 1: {a} + {b} = {a + b}. Step 2: {a + b} * 2 = {2 * (a + b)}. "
               f"The answer is {a + b}. Verdict: ACCEPT REVISE Yes No. Feedback: check step 2.")


def _publish(folder: Path, build) -> None:
    """Build into a temporary sibling and rename it into place, so a half-built folder never loads."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    build(tmp)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process published it first; theirs is as good as ours
        shutil.rmtree(tmp, ignore_errors=True)
