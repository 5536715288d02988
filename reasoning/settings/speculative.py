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
from reasoning.settings.verify import VERIFIERS, Draft, build, split_units
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


def unescaped(text: str) -> str:
    """A `\\n` typed on the command line (Hydra keeps the backslash) is a newline, as in the YAML's "\\n"."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


@dataclass
class _State:
    """One problem's progress: its prompt ids, the accepted response ids so far, its latest draft."""

    trace: Trace
    prompt: list[int]
    draft_length: int | None
    accepted: list[int] = field(default_factory=list)
    draft: Draft | None = None  # the student's latest draft, not yet accepted
    done: bool = False
    unchecked: bool = False  # out of interventions: the student writes the rest alone

    @property
    def interventions(self) -> list[dict]:
        return self.trace.extra["interventions"]


class Speculative:
    name = "speculative"

    def __init__(self, student: LanguageModel, teacher: LanguageModel,
                 granularity: Literal["token", "step", "chunk"] = "step",
                 criterion: Literal["argmax", "logprob", "judge", "score"] = "logprob", threshold: float = -0.8,
                 aggregate: Literal["mean", "min"] = "mean", judge_threshold: float = 0.0,
                 score_threshold: Annotated[float, Range(min=0, max=9)] = 7,
                 score_mode: Literal["greedy", "expected"] = "greedy", step_delimiter: str = "\n",
                 chunk_tokens: Count = 16, max_step_tokens: Count = 64,
                 max_interventions: Annotated[int, Range(min=0)] | None = None,
                 draft_tokens: Count | Literal["auto", "rest", "adaptive"] = "auto", max_new_tokens: Count = 512,
                 prompt: Annotated[str, Prompt("question")] = "student_answer",
                 judge_prompt: Annotated[str, Prompt("question", "solution", "step")] = "teacher_judge",
                 score_prompt: Annotated[str, Prompt("question", "solution", "step")] = "teacher_score"):
        knobs = {name: value for name, value in locals().items() if name not in ("self", "student", "teacher")}
        check_arguments(Speculative, "setting", knobs)
        self.student, self.teacher = student, teacher
        self.granularity, self.criterion, self.step_delimiter = granularity, criterion, unescaped(step_delimiter)
        self.chunk_tokens, self.max_step_tokens = chunk_tokens, max_step_tokens
        self.max_interventions, self.draft_policy = max_interventions, DraftLength(draft_tokens, granularity)
        self.max_new_tokens, self.prompt = max_new_tokens, prompt
        self._check_shared_tokenizer()
        self._check_teacher_decoding()
        self.verifier = build(VERIFIERS[criterion], dict(knobs, teacher=teacher, decode=student.decode))

    @classmethod
    def check_knobs(cls, knobs: dict) -> None:
        """Rules between knobs, checked before anything loads: each criterion's own, then the delimiter."""
        rule = getattr(VERIFIERS.get(knobs["criterion"]), "check_knobs", None)
        if rule is not None:
            rule(knobs)
        if knobs["granularity"] == "step" and not unescaped(knobs["step_delimiter"]):
            raise ReasoningError("setting.step_delimiter is empty, so every token would be a step; "
                                 "use \"\\n\" (a line) or \"\\n\\n\" (a blank line), or granularity=token")

    def solve(self, problems):
        states = []
        for problem in problems:
            text = render(self.prompt, question=problem.question)
            trace = Trace(problem, extra={"interventions": [], "hit_intervention_limit": False})
            trace.log("prompt", "student", prompt=self.student.render_chat(text))
            state = _State(trace, self.student.encode_chat(text), self.draft_policy.first())
            self._stop_checking_if_out_of_interventions(state)  # max_interventions=0: never corrected
            states.append(state)
        round_no = 0
        while active := [s for s in states if not s.done]:
            round_no += 1
            self._draft(active)
            for state in (s for s in active if s.unchecked):  # out of interventions: the rest stands
                state.accepted += state.draft.ids
                state.done = True
            checking = [s for s in active if not s.done]
            if checking:
                self._verify_and_correct(checking)
            progress.round_done(self.name, round_no, active=sum(not s.done for s in states), total=len(states),
                                interventions=sum(len(s.interventions) for s in states))
        for state in states:
            self._finish(state)
        return [s.trace for s in states]

    # --- the three moves ----------------------------------------------------------------------------
    def _draft(self, states):
        budgets = [self._room(s) if s.unchecked or s.draft_length is None else min(s.draft_length, self._room(s))
                   for s in states]
        gens = self.student.generate([s.prompt + s.accepted for s in states], budgets)
        for state, gen in zip(states, gens):
            state.trace.log("draft", "student", gen.cost, position=len(state.accepted), text=gen.text,
                            tokens=len(gen.ids), finish_reason=gen.finish_reason, checked=not state.unchecked)
            units = [] if state.unchecked else self._units(gen.ids)
            state.draft = Draft(state.trace.problem.question, state.prompt + state.accepted, list(state.accepted),
                                gen.ids, units)

    def _verify_and_correct(self, states):
        rejected = []
        for state, verdict in zip(states, self.verifier([s.draft for s in states])):
            draft, rejection = state.draft, verdict.rejection
            state.trace.log("verify", "teacher", verdict.cost, **self._verify_fields(state, verdict))
            state.draft_length = self.draft_policy.after(state.draft_length, fully_accepted=rejection is None)
            if rejection is None:
                state.accepted += draft.ids
                self._take_free_token(state, verdict)
                state.done = self._finished(state) or not draft.ids
            else:
                rejected.append((state, rejection))
        self._correct(rejected)

    def _verify_fields(self, state, verdict) -> dict:
        rejection = verdict.rejection
        fields = dict(position=len(state.accepted), units=len(state.draft.units),
                      rejected_unit=None if rejection is None else rejection.index,
                      score=None if rejection is None else rejection.score,
                      unit_scores=[round(x, 4) for x in verdict.unit_scores])
        if verdict.unit_agrees is not None:  # argmax, logprob: the label calibrate_threshold.py reads
            fields["unit_agrees"] = verdict.unit_agrees
        else:  # judge, score: where each checked unit's text lies, to label it from a token/argmax run's text
            ends = [end for _, end in state.draft.units[: len(verdict.unit_scores)]]
            fields["solution_chars"] = len(self.student.decode(state.accepted))
            fields["unit_ends"] = [len(self.student.decode(state.draft.ids[:end])) for end in ends]
        return fields

    def _take_free_token(self, state, verdict):
        """argmax: after a fully accepted draft the teacher's greedy next token came with the same pass."""
        if verdict.next_token is not None and not self._finished(state):
            state.accepted.append(verdict.next_token)
            state.trace.log("next_token", "teacher", Cost(generated_tokens=1), position=len(state.accepted) - 1,
                            text=self.teacher.decode([verdict.next_token]))

    def _correct(self, rejected):
        """The teacher rewrites the first rejected unit: its greedy token, or its own step / chunk."""
        for state, rejection in rejected:
            state.accepted += state.draft.ids[: rejection.start]
        for (state, rejection), (ids, cost) in zip(rejected, self._corrections(rejected)):
            doubted = state.draft.ids[rejection.start: rejection.end]
            if ids == doubted:
                # The teacher writes exactly the unit it doubted: the unit stands, no intervention.
                state.trace.log("confirm", "teacher", cost, position=len(state.accepted), score=rejection.score)
            else:
                intervention = {"index": len(state.interventions), "position": len(state.accepted),
                                "unit": self.granularity, "rejected": self.student.decode(doubted),
                                "score": rejection.score, "correction": self.teacher.decode(ids)}
                state.interventions.append(intervention)
                state.trace.log("correct", "teacher", cost, **intervention)
                self._stop_checking_if_out_of_interventions(state)
            state.accepted += ids
            state.done = self._finished(state)

    def _corrections(self, rejected) -> list[tuple[list[int], Cost]]:
        if self.granularity == "token":
            # The verification pass already predicted this token: no new forward pass, one token written.
            return [([r.teacher_token], Cost(generated_tokens=1)) for _, r in rejected]
        budget = self.max_step_tokens if self.granularity == "step" else self.chunk_tokens
        stop = [self.step_delimiter] if self.granularity == "step" else []
        gens = self.teacher.generate([s.prompt + s.accepted for s, _ in rejected],
                                     [min(budget, self._room(s)) for s, _ in rejected], stop)
        return [(g.ids, g.cost) for g in gens]

    def _stop_checking_if_out_of_interventions(self, state):
        if self.max_interventions is not None and len(state.interventions) >= self.max_interventions:
            state.unchecked = True
            state.trace.extra["hit_intervention_limit"] = True

    # --- helpers ------------------------------------------------------------------------------------
    def _units(self, draft):
        texts = [self.student.decode([t]) for t in draft] if self.granularity == "step" else []
        return split_units(draft, self.granularity, texts, self.chunk_tokens, self.step_delimiter)

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
        penalty = self.teacher.decoding.get("repetition_penalty", 1.0)
        if self.criterion == "argmax" and penalty != 1.0:
            raise ReasoningError(f"setting.criterion=argmax checks against the teacher's plain greedy tokens, but "
                                 f"teacher.generation.repetition_penalty={penalty}; set it to 1.0 or use criterion=logprob")
