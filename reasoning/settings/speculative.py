"""Speculative correction: the student drafts, the teacher verifies unit by unit and corrects the first
rejected unit, the student continues after the correction; repeat until done.

With greedy decoding, `granularity=token` and `criterion=argmax` the final text is exactly the
teacher's own greedy text (as in speculative decoding): every accepted token is the teacher's
argmax and every correction is the teacher's argmax. Both models must share one tokenizer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from reasoning.errors import ReasoningError
from reasoning.models.types import Cost, LanguageModel
from reasoning.prompts import render
from reasoning.settings.trace import Trace
from reasoning.settings.verify import CRITERIA, GRANULARITIES, check_by_judge, check_by_likelihood, split_units


@dataclass
class _State:
    """One problem's progress: its prompt ids and the accepted response ids so far."""

    trace: Trace
    prompt: list[int]
    accepted: list[int] = field(default_factory=list)
    done: bool = False


class Speculative:
    name = "speculative"

    def __init__(self, student: LanguageModel, teacher: LanguageModel, granularity: str = "step",
                 criterion: str = "logprob", threshold: float = -0.8, chunk_tokens: int = 16,
                 max_step_tokens: int = 64, max_interventions: int = 8, draft_tokens: int | None = None,
                 max_new_tokens: int = 512, prompt: str = "student_answer", judge_prompt: str = "teacher_judge"):
        if granularity not in GRANULARITIES:
            raise ReasoningError(f"setting.granularity={granularity}; use one of {', '.join(GRANULARITIES)}")
        if criterion not in CRITERIA:
            raise ReasoningError(f"setting.criterion={criterion}; use one of {', '.join(CRITERIA)}")
        if criterion == "judge" and granularity == "token":
            raise ReasoningError("setting.criterion=judge asks about whole units; use granularity=step or chunk")
        self.student, self.teacher = student, teacher
        self.granularity, self.criterion, self.threshold = granularity, criterion, threshold
        self.chunk_tokens, self.max_step_tokens = chunk_tokens, max_step_tokens
        self.max_interventions, self.draft_tokens = max_interventions, draft_tokens
        self.max_new_tokens = max_new_tokens
        self.prompt, self.judge_prompt = prompt, judge_prompt
        self._check_shared_tokenizer()

    def solve(self, problems):
        states = []
        for problem in problems:
            text = render(self.prompt, question=problem.question)
            trace = Trace(problem, extra={"interventions": []})
            trace.log("prompt", "student", prompt=self.student.render_chat(text))
            states.append(_State(trace, self.student.encode_chat(text)))
        while active := [s for s in states if not s.done]:
            drafts = self._draft(active)
            limited = [s for s in active if len(s.trace.extra["interventions"]) >= self.max_interventions]
            for state in limited:  # out of interventions: the rest of the draft stands unchecked
                state.accepted += drafts[id(state)]
                state.done = True
            checking = [s for s in active if not s.done]
            if checking:
                self._verify_and_correct(checking, drafts)
        for state in states:
            self._finish(state)
        return [s.trace for s in states]

    # --- the three moves ----------------------------------------------------------------------------
    def _draft(self, states) -> dict[int, list[int]]:
        budgets = [self._room(s) if self.draft_tokens is None else min(self.draft_tokens, self._room(s))
                   for s in states]
        gens = self.student.generate([s.prompt + s.accepted for s in states], budgets)
        drafts = {}
        for state, gen in zip(states, gens):
            state.trace.log("draft", "student", gen.cost, position=len(state.accepted), text=gen.text,
                            tokens=len(gen.ids))
            drafts[id(state)] = gen.ids
        return drafts

    def _verify_and_correct(self, states, drafts):
        units = [self._units(drafts[id(s)]) for s in states]
        if self.criterion == "judge":
            verdicts = check_by_judge(self.teacher, [s.trace.problem.question for s in states], self.student.decode,
                                      [s.accepted for s in states], [drafts[id(s)] for s in states], units,
                                      self.threshold, self.judge_prompt)
        else:
            verdicts = check_by_likelihood(self.teacher, [s.prompt + s.accepted for s in states],
                                           [drafts[id(s)] for s in states], units, self.criterion, self.threshold)
        rejected = []
        for state, verdict in zip(states, verdicts):
            draft = drafts[id(state)]
            state.trace.log("verify", "teacher", verdict.cost, position=len(state.accepted), units=verdict.units,
                            rejected_unit=verdict.unit_index, score=verdict.score,
                            unit_scores=[round(x, 4) for x in verdict.unit_scores])
            if verdict.rejected is None:
                state.accepted += draft
                state.done = self._finished(state, draft_ended=len(draft) == 0)
            else:
                rejected.append((state, verdict, draft))
        self._correct(rejected)

    def _correct(self, rejected):
        """The teacher rewrites the first rejected unit: its greedy token, or its own step / chunk."""
        for state, verdict, draft in rejected:
            state.accepted += draft[: verdict.rejected[0]]
        if self.granularity == "token" and self.criterion != "judge":
            # The verification pass already predicted this token: no new forward pass, one token written.
            corrections = [([v.teacher_token], Cost(generated_tokens=1)) for _, v, _ in rejected]
        else:
            budget = self.max_step_tokens if self.granularity == "step" else self.chunk_tokens
            stop = ["\n"] if self.granularity == "step" else []
            gens = self.teacher.generate([s.prompt + s.accepted for s, _, _ in rejected],
                                         [min(budget, self._room(s)) for s, _, _ in rejected], stop)
            corrections = [(g.ids, g.cost) for g in gens]
        for (state, verdict, draft), (ids, cost) in zip(rejected, corrections):
            start, end = verdict.rejected
            intervention = {"index": len(state.trace.extra["interventions"]), "position": len(state.accepted),
                            "unit": self.granularity, "rejected": self.student.decode(draft[start:end]),
                            "score": verdict.score, "correction": self.teacher.decode(ids)}
            state.trace.extra["interventions"].append(intervention)
            state.trace.log("correct", "teacher", cost, **intervention)
            state.accepted += ids
            state.done = self._finished(state)

    # --- helpers ------------------------------------------------------------------------------------
    def _units(self, draft):
        texts = [self.student.decode([t]) for t in draft] if self.granularity == "step" else []
        return split_units(draft, self.granularity, texts, self.chunk_tokens)

    def _room(self, state) -> int:
        return self.max_new_tokens - len(state.accepted)

    def _finished(self, state, draft_ended: bool = False) -> bool:
        ended = bool(state.accepted) and state.accepted[-1] in self.student.eos_ids | self.teacher.eos_ids
        return ended or draft_ended or self._room(state) <= 0

    def _finish(self, state):
        trace = state.trace
        trace.response = self.student.decode(state.accepted)
        trace.extra["response_tokens"] = len(state.accepted)
        for intervention in trace.extra["interventions"]:
            intervention["relative_position"] = intervention["position"] / max(len(state.accepted), 1)

    def _check_shared_tokenizer(self):
        probe = "The answer is 42.\nStep 1: 3 + 4 = 7"
        if self.student.encode(probe) != self.teacher.encode(probe):
            raise ReasoningError(
                f"setting=speculative needs a student and teacher with one tokenizer, but {self.student.name} "
                f"and {self.teacher.name} tokenize text differently; pick a pair from one model family")
