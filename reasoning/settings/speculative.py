"""Speculative correction: the student drafts, the teacher verifies unit by unit and corrects the first
rejected unit, the student continues after the correction; repeat until done.

With greedy decoding, `granularity=token` and `criterion=argmax` the final text is exactly the
teacher's own greedy text (as in speculative decoding): every accepted token is the teacher's
argmax, every correction is the teacher's argmax, and after a fully accepted draft the teacher's
next greedy token (free from the same pass) is taken too. Both models must share one tokenizer.

The setting sends whole token sequences; the model backend's prefix cache makes each round compute
only what is new (the draft for the teacher, the correction and the next draft for the student).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from reasoning import progress
from reasoning.errors import ReasoningError
from reasoning.models.types import Cost, LanguageModel
from reasoning.prompts import render
from reasoning.settings.trace import Trace
from reasoning.settings.verify import check_by_judge, check_by_likelihood, split_units
from reasoning.validate import Count, Prompt, Range, check_arguments


class DraftLength:
    """How many tokens the student drafts next, per problem.

    `auto` (default): the measured best per granularity (`AUTO`). `rest`: the whole rest of the
    response (the protocol as first described; a rejection throws the rest of that draft away). N: at
    most N tokens. `adaptive`: start at 8, double after a fully accepted draft, halve after a rejection.
    Measured on the bundled pair (8 GSM8K problems, 256 tokens; benchmarks/draft_length.py): token
    drafts of 8 made the teacher compute 444 tokens per problem against 541 (16), 774 (32) and 500
    (adaptive), and were fastest; for steps `rest` needs 1.5 rounds per problem, and fixed drafts cut
    lines in two, so partial steps get scored (3x the interventions at 16).
    """

    AUTO = {"token": 8, "step": "rest", "chunk": "rest"}

    def __init__(self, knob: int | str, granularity: str = "token", smallest: int = 4, largest: int = 256):
        if knob not in ("auto", "rest", "adaptive") and not (isinstance(knob, int) and knob >= 1):
            raise ReasoningError(f"setting.draft_tokens={knob}; use auto, rest, adaptive or a whole number >= 1")
        self.knob = self.AUTO[granularity] if knob == "auto" else knob
        self.smallest, self.largest = smallest, largest
        self.start = self.knob if isinstance(self.knob, int) else 8

    def first(self) -> int | None:
        return None if self.knob == "rest" else self.start

    def after(self, length: int | None, fully_accepted: bool) -> int | None:
        if self.knob != "adaptive":
            return length
        return min(length * 2, self.largest) if fully_accepted else max(length // 2, self.smallest)


@dataclass
class _State:
    """One problem's progress: its prompt ids, the accepted response ids so far, its next draft length."""

    trace: Trace
    prompt: list[int]
    draft_length: int | None
    accepted: list[int] = field(default_factory=list)
    done: bool = False
    unchecked: bool = False  # out of interventions: the student writes the rest alone

    @property
    def interventions(self) -> list[dict]:
        return self.trace.extra["interventions"]


class Speculative:
    name = "speculative"

    def __init__(self, student: LanguageModel, teacher: LanguageModel,
                 granularity: Literal["token", "step", "chunk"] = "step",
                 criterion: Literal["argmax", "logprob", "judge"] = "logprob", threshold: float = -0.8,
                 aggregate: Literal["mean", "min"] = "mean", judge_threshold: float = 0.0,
                 chunk_tokens: Count = 16, max_step_tokens: Count = 64,
                 max_interventions: Annotated[int, Range(min=0)] | None = None,
                 draft_tokens: Count | Literal["auto", "rest", "adaptive"] = "auto", max_new_tokens: Count = 512,
                 prompt: Annotated[str, Prompt("question")] = "student_answer",
                 judge_prompt: Annotated[str, Prompt("question", "solution", "step")] = "teacher_judge"):
        check_arguments(Speculative, "setting", dict(
            granularity=granularity, criterion=criterion, aggregate=aggregate, chunk_tokens=chunk_tokens,
            max_step_tokens=max_step_tokens, max_new_tokens=max_new_tokens, max_interventions=max_interventions,
            prompt=prompt, judge_prompt=judge_prompt))
        if criterion == "judge" and granularity == "token":
            raise ReasoningError("setting.criterion=judge asks about whole units; use granularity=step or chunk")
        self.student, self.teacher = student, teacher
        self.granularity, self.criterion = granularity, criterion
        self.threshold, self.aggregate, self.judge_threshold = threshold, aggregate, judge_threshold
        self.chunk_tokens, self.max_step_tokens = chunk_tokens, max_step_tokens
        self.max_interventions, self.draft = max_interventions, DraftLength(draft_tokens, granularity)
        self.max_new_tokens = max_new_tokens
        self.prompt, self.judge_prompt = prompt, judge_prompt
        self._check_shared_tokenizer()
        self._check_teacher_decoding()

    def solve(self, problems):
        states = []
        for problem in problems:
            text = render(self.prompt, question=problem.question)
            trace = Trace(problem, extra={"interventions": [], "hit_intervention_limit": False})
            trace.log("prompt", "student", prompt=self.student.render_chat(text))
            states.append(_State(trace, self.student.encode_chat(text), self.draft.first()))
        round_no = 0
        while active := [s for s in states if not s.done]:
            round_no += 1
            drafts = self._draft(active)
            for state in (s for s in active if s.unchecked):  # out of interventions: the rest stands
                state.accepted += drafts[id(state)]
                state.done = True
            checking = [s for s in active if not s.done]
            if checking:
                self._verify_and_correct(checking, drafts)
            progress.round_done(self.name, round_no, active=sum(not s.done for s in states), total=len(states),
                                interventions=sum(len(s.interventions) for s in states))
        for state in states:
            self._finish(state)
        return [s.trace for s in states]

    # --- the three moves ----------------------------------------------------------------------------
    def _draft(self, states) -> dict[int, list[int]]:
        budgets = [self._room(s) if s.unchecked or s.draft_length is None else min(s.draft_length, self._room(s))
                   for s in states]
        gens = self.student.generate([s.prompt + s.accepted for s in states], budgets)
        drafts = {}
        for state, gen in zip(states, gens):
            state.trace.log("draft", "student", gen.cost, position=len(state.accepted), text=gen.text,
                            tokens=len(gen.ids), finish_reason=gen.finish_reason, checked=not state.unchecked)
            drafts[id(state)] = gen.ids
        return drafts

    def _verify_and_correct(self, states, drafts):
        units = [self._units(drafts[id(s)]) for s in states]
        if self.criterion == "judge":
            verdicts = check_by_judge(self.teacher, [s.trace.problem.question for s in states], self.student.decode,
                                      [s.accepted for s in states], [drafts[id(s)] for s in states], units,
                                      self.judge_threshold, self.judge_prompt, self.granularity)
        else:
            verdicts = check_by_likelihood(self.teacher, [s.prompt + s.accepted for s in states],
                                           [drafts[id(s)] for s in states], units, self.criterion, self.threshold,
                                           self.aggregate)
        rejected = []
        for state, verdict in zip(states, verdicts):
            draft = drafts[id(state)]
            state.trace.log("verify", "teacher", verdict.cost, position=len(state.accepted), units=verdict.units,
                            rejected_unit=verdict.unit_index, score=verdict.score,
                            unit_scores=[round(x, 4) for x in verdict.unit_scores])
            state.draft_length = self.draft.after(state.draft_length, fully_accepted=verdict.rejected is None)
            if verdict.rejected is None:
                state.accepted += draft
                self._take_free_token(state, verdict)
                state.done = self._finished(state) or not draft
            else:
                rejected.append((state, verdict, draft))
        self._correct(rejected)

    def _take_free_token(self, state, verdict):
        """argmax: after a fully accepted draft the teacher's greedy next token came with the same pass."""
        if self.criterion == "argmax" and verdict.next_token is not None and not self._finished(state):
            state.accepted.append(verdict.next_token)
            state.trace.log("next_token", "teacher", Cost(generated_tokens=1), position=len(state.accepted) - 1,
                            text=self.teacher.decode([verdict.next_token]))

    def _correct(self, rejected):
        """The teacher rewrites the first rejected unit: its greedy token, or its own step / chunk."""
        for state, verdict, draft in rejected:
            state.accepted += draft[: verdict.rejected[0]]
        if self.granularity == "token":
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
            if self.granularity != "token" and ids == draft[start:end]:
                # The teacher writes exactly the unit it doubted: the unit stands, no intervention.
                state.trace.log("confirm", "teacher", cost, position=len(state.accepted), score=verdict.score)
            else:
                intervention = {"index": len(state.interventions), "position": len(state.accepted),
                                "unit": self.granularity, "rejected": self.student.decode(draft[start:end]),
                                "score": verdict.score, "correction": self.teacher.decode(ids)}
                state.interventions.append(intervention)
                state.trace.log("correct", "teacher", cost, **intervention)
                if self.max_interventions is not None and len(state.interventions) >= self.max_interventions:
                    state.unchecked = True
                    state.trace.extra["hit_intervention_limit"] = True
            state.accepted += ids
            state.done = self._finished(state)

    # --- helpers ------------------------------------------------------------------------------------
    def _units(self, draft):
        texts = [self.student.decode([t]) for t in draft] if self.granularity == "step" else []
        return split_units(draft, self.granularity, texts, self.chunk_tokens)

    def _room(self, state) -> int:
        return self.max_new_tokens - len(state.accepted)

    def _finished(self, state) -> bool:
        ended = bool(state.accepted) and state.accepted[-1] in self.student.eos_ids | self.teacher.eos_ids
        return ended or self._room(state) <= 0

    def _finish(self, state):
        trace = state.trace
        trace.response = self.student.decode(state.accepted)
        trace.extra["response_tokens"] = len(state.accepted)
        for intervention in state.interventions:
            intervention["relative_position"] = intervention["position"] / max(len(state.accepted), 1)

    def _check_shared_tokenizer(self):
        probe = "The answer is 42.\nStep 1: 3 + 4 = 7"
        same = (self.student.encode(probe) == self.teacher.encode(probe)
                and self.student.render_chat(probe) == self.teacher.render_chat(probe)
                and self.student.eos_ids == self.teacher.eos_ids)
        if not same:
            raise ReasoningError(
                f"setting=speculative needs a student and teacher with one tokenizer, chat template and eos tokens, "
                f"but {self.student.name} and {self.teacher.name} differ; pick a pair from one model family")

    def _check_teacher_decoding(self):
        """argmax compares with the teacher's raw greedy tokens; a logits processor would change its own text."""
        penalty = getattr(self.teacher, "decoding", {}).get("repetition_penalty", 1.0)
        if self.criterion == "argmax" and penalty != 1.0:
            raise ReasoningError(f"setting.criterion=argmax checks against the teacher's plain greedy tokens, but "
                                 f"teacher.generation.repetition_penalty={penalty}; set it to 1.0 or use criterion=logprob")

