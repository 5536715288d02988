"""One model writes a chain of thought and an answer: what baseline (student) and skyline (teacher) share."""
from __future__ import annotations

from reasoning.data.problem import Problem
from reasoning.errors import ReasoningError
from reasoning.models.types import LanguageModel
from reasoning.prompts import render
from reasoning.settings.trace import Trace


def solve_alone(model: LanguageModel, role: str, problems: list[Problem], prompt: str,
                max_new_tokens: int, stop: list[str]) -> list[Trace]:
    traces = [Trace(p) for p in problems]
    texts = [render(prompt, question=p.question) for p in problems]
    generations = model.generate([model.encode_chat(t) for t in texts], max_new_tokens, stop)
    for trace, text, gen in zip(traces, texts, generations):
        trace.log("generate", role, gen.cost, prompt=model.render_chat(text), text=gen.text,
                  finish_reason=gen.finish_reason)
        trace.response = gen.text
    return traces


def refuse_empty_stop(knobs: dict) -> None:
    """An empty stop string is found in every text: generation would end after one token."""
    if "" in (knobs.get("stop") or []):
        raise ReasoningError("setting.stop holds an empty string, which every text contains, so each answer "
                             "would end after one token; remove it (setting.stop=[] keeps only eos)")
