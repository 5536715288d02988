"""Feedback: the student answers, the teacher reviews; on REVISE the student refines with the feedback.

Round r = one student attempt (r = 1 answers, r > 1 refines) and, unless it is the last allowed
round, the teacher's review of it. The loop ends when the teacher accepts or after `max_rounds`
attempts (the last attempt is not reviewed: no round would use that review).
"""
from __future__ import annotations

from reasoning.models.types import LanguageModel
from reasoning.prompts import render
from reasoning.settings.trace import Trace, one_call
from reasoning.settings.verdict import ACCEPT, REVISE, parse_verdict


class Feedback:
    name = "feedback"

    def __init__(self, student: LanguageModel, teacher: LanguageModel, max_rounds: int = 3,
                 verdict_mode: str = "generate", max_new_tokens: int = 512, review_max_new_tokens: int = 256,
                 answer_prompt: str = "student_answer", review_prompt: str = "teacher_review",
                 refine_prompt: str = "student_refine"):
        if verdict_mode not in ("generate", "score"):
            raise ValueError(f"setting.verdict_mode={verdict_mode}; use generate or score")
        self.student, self.teacher = student, teacher
        self.max_rounds = max_rounds
        self.verdict_mode = verdict_mode
        self.max_new_tokens = max_new_tokens
        self.review_max_new_tokens = review_max_new_tokens
        self.prompts = dict(answer=answer_prompt, review=review_prompt, refine=refine_prompt)

    def solve(self, problems):
        traces = [Trace(p, extra={"rounds": []}) for p in problems]
        asks = {i: render(self.prompts["answer"], question=p.question) for i, p in enumerate(problems)}
        active = list(range(len(problems)))
        for round_no in range(1, self.max_rounds + 1):
            self._attempt(traces, active, asks, round_no)
            if round_no == self.max_rounds:
                break
            verdicts = self._review(traces, active, round_no)
            active = [i for i in active if verdicts[i] != ACCEPT]
            if not active:
                break
            asks = {i: render(self.prompts["refine"], question=traces[i].problem.question,
                              solution=traces[i].response, feedback=traces[i].extra["rounds"][-1]["feedback"])
                    for i in active}
        return traces

    def _attempt(self, traces, active, asks, round_no):
        prompts = [self.student.encode_chat(asks[i]) for i in active]
        for i, gen in zip(active, self.student.generate(prompts, self.max_new_tokens)):
            trace = traces[i]
            trace.log("generate", "student", gen.cost, round=round_no, prompt=self.student.render_chat(asks[i]),
                      text=gen.text, finish_reason=gen.finish_reason)
            trace.response = gen.text
            trace.extra["rounds"].append({"round": round_no, "response": gen.text, "verdict": None,
                                          "feedback": None, "student_generated_tokens": gen.cost.generated_tokens,
                                          "teacher_generated_tokens": 0})

    def _review(self, traces, active, round_no) -> dict[int, str]:
        texts = {i: render(self.prompts["review"], question=traces[i].problem.question,
                           solution=traces[i].response) for i in active}
        review = self._review_by_score if self.verdict_mode == "score" else self._review_by_text
        verdicts = review(traces, active, texts)
        for i in active:
            verdict, feedback, text, cost = verdicts[i]
            traces[i].log("review", "teacher", cost, round=round_no, prompt=self.teacher.render_chat(texts[i]),
                          verdict=verdict, text=text)
            entry = traces[i].extra["rounds"][-1]
            entry.update(verdict=verdict, feedback=feedback, teacher_generated_tokens=cost.generated_tokens)
        return {i: verdicts[i][0] for i in active}

    def _review_by_text(self, traces, active, texts):
        gens = self.teacher.generate([self.teacher.encode_chat(texts[i]) for i in active], self.review_max_new_tokens)
        out = {}
        for i, gen in zip(active, gens):
            # An unparseable review is not an acceptance: the student sees the whole review as feedback.
            verdict, feedback = parse_verdict(gen.text)
            out[i] = (verdict, feedback, gen.text, gen.cost)
        return out

    def _review_by_score(self, traces, active, texts):
        """Verdict from one forward pass: log p("ACCEPT") vs log p("REVISE") as the reply's first tokens;
        on REVISE the teacher then writes its feedback after the word."""
        prompts = {i: self.teacher.encode_chat(texts[i]) for i in active}
        accept, revise = self.teacher.encode("ACCEPT"), self.teacher.encode("REVISE\n")
        rows = [prompts[i] for i in active for _ in (0, 1)]
        scores = self.teacher.score(rows, [accept, revise] * len(active))
        out, to_explain = {}, []
        for k, i in enumerate(active):
            yes, no = scores[2 * k], scores[2 * k + 1]
            cost = one_call([yes.cost, no.cost])
            margin = sum(yes.logprobs) - sum(no.logprobs)
            out[i] = (ACCEPT if margin > 0 else REVISE, "", f"verdict score log p(ACCEPT) - log p(REVISE) = {margin:.3f}", cost)
            if margin <= 0:
                to_explain.append(i)
        gens = self.teacher.generate([prompts[i] + revise for i in to_explain], self.review_max_new_tokens)
        for i, gen in zip(to_explain, gens):
            verdict, _, note, cost = out[i]
            cost += gen.cost
            out[i] = (verdict, gen.text.strip(), f"REVISE\n{gen.text}\n[{note}]", cost)
        return out
