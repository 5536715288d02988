"""Baseline: the student alone writes a chain of thought and an answer."""
from typing import Annotated

from reasoning.models.types import LanguageModel
from reasoning.settings.alone import refuse_empty_stop, solve_alone
from reasoning.validate import Count, Prompt


class Baseline:
    name = "baseline"

    def __init__(self, student: LanguageModel, prompt: Annotated[str, Prompt("question")] = "student_answer",
                 max_new_tokens: Count = 512, stop: list[str] | None = None):
        self.student = student
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.stop = list(stop or [])

    @classmethod
    def check_knobs(cls, knobs: dict) -> None:
        refuse_empty_stop(knobs)

    def solve(self, problems):
        return solve_alone(self.student, "student", problems, self.prompt, self.max_new_tokens, self.stop)
