"""Skyline: the teacher alone writes a chain of thought and an answer (the upper reference)."""
from typing import Annotated

from reasoning.models.types import LanguageModel
from reasoning.settings.alone import refuse_empty_stop, solve_alone
from reasoning.validate import Count, Prompt


class Skyline:
    name = "skyline"

    def __init__(self, teacher: LanguageModel, prompt: Annotated[str, Prompt("question")] = "student_answer",
                 max_new_tokens: Count = 512, stop: list[str] | None = None):
        self.teacher = teacher
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.stop = list(stop or [])

    @classmethod
    def check_knobs(cls, knobs: dict) -> None:
        refuse_empty_stop(knobs)

    def solve(self, problems):
        return solve_alone(self.teacher, "teacher", problems, self.prompt, self.max_new_tokens, self.stop)
