"""What the settings see of a model: a batch-first interface over token ids, and the cost of each call.

Settings never import transformers; they talk to a `LanguageModel` only through this module's types.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol, Sequence, Union

from reasoning.errors import ReasoningError

ROLES = ("system", "user", "assistant")
# A prompt for a chat model: a list of {"role", "content"} turns, or one str (a single user turn).
Conversation = Union[str, Sequence[dict]]


def as_messages(conversation: Conversation) -> list[dict]:
    """The turns of `conversation`; a str is one user turn, so one-shot prompts need no wrapping.

    It must end with a user turn: the chat template then opens the assistant's reply.
    """
    if isinstance(conversation, str):
        return [{"role": "user", "content": conversation}]
    messages = [{"role": m["role"], "content": m["content"]} for m in conversation]
    if any(m["role"] not in ROLES for m in messages) or not messages or messages[-1]["role"] != "user":
        roles = [m["role"] for m in messages]
        raise ReasoningError(f"a chat prompt's turns were {roles}; use roles among {', '.join(ROLES)}, "
                             "ending with a user turn")
    return messages


@dataclass
class Cost:
    """What one or more model calls cost one problem.

    In a batched call, token counts are each row's own; `forward_passes` counts the passes a row took
    part in (prompt pass + one per further generated token; in batch-invariant mode, where every token
    runs alone, one per computed token); `seconds` is the call's wall time split
    evenly across its rows.

    `prompt_tokens` is the context a call was given (for `score`: prompt + continuation). Of that,
    `cached_tokens` came from the backend's prefix cache and were not computed again;
    `computed_tokens` counts every token the model actually ran a forward pass over (uncached
    context + fed-back generated tokens): the honest compute cost, the report's cost axis.
    """

    prompt_tokens: int = 0
    generated_tokens: int = 0
    forward_passes: int = 0
    seconds: float = 0.0
    cached_tokens: int = 0
    computed_tokens: int = 0

    def __iadd__(self, other: "Cost") -> "Cost":
        self.prompt_tokens += other.prompt_tokens
        self.generated_tokens += other.generated_tokens
        self.forward_passes += other.forward_passes
        self.seconds += other.seconds
        self.cached_tokens += other.cached_tokens
        self.computed_tokens += other.computed_tokens
        return self

    @classmethod
    def total(cls, costs) -> "Cost":
        """Separate calls' costs added up (forward passes too)."""
        total = cls()
        for cost in costs:
            total += cost
        return total

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Generation:
    """One row of a batched `generate` call."""

    ids: list[int]  # generated token ids, stop/eos token included when it ended the text
    text: str  # decoded `ids`, special tokens removed
    finish_reason: str  # "eos" | "stop" (a stop string) | "length"
    cost: Cost = field(default_factory=Cost)


@dataclass
class Scores:
    """One row of a `score` call: the model's view of a given continuation, from one forward pass."""

    logprobs: list[float]  # log p(continuation[i] | prompt, continuation[:i])
    argmax_ids: list[int]  # the model's greedy token at each continuation position
    argmax_logprobs: list[float]  # log-prob of that greedy token
    next_argmax_id: int  # the greedy token after the whole continuation (a free extra prediction)
    cost: Cost = field(default_factory=Cost)
    next_logprobs: dict[int, float] = field(default_factory=dict)  # log p of the asked `next_tokens` there


class LanguageModel(Protocol):
    """A causal LM with its tokenizer. All calls take a batch and return one result per row."""

    name: str
    eos_ids: frozenset[int]
    decoding: dict  # the decoding knobs generate follows (do_sample, temperature, top_p, repetition_penalty)

    def encode_chat(self, messages: Conversation) -> list[int]:
        """The model's chat template around the turns of `messages` (see `as_messages`; a str is one
        user turn), ending where the assistant's next reply starts."""

    def render_chat(self, messages: Conversation) -> str:
        """The same prompt as text, exactly as sent (recorded in traces)."""

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        max_new_tokens: int | Sequence[int],
        stop: Sequence[str] = (),
    ) -> list[Generation]: ...

    def score(
        self, prompts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]],
        next_tokens: Sequence[int] = (),
    ) -> list[Scores]:
        """Teacher-forced log-probs of each continuation after its prompt, from one forward pass;
        `next_tokens`: also the log-probs of these tokens after the whole continuation."""

    def close(self) -> None:
        """Free what the model holds (a vLLM engine process stops); the run calls it once, at its end."""
