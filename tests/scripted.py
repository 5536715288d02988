"""A scripted stand-in for a model, to force exact branches of a setting's control flow.

Characters are tokens (id = code point; 0 is eos). Replies come from a function of the prompt text,
so a test states outright what the model says. Real-model paths are tested on the tiny models.
"""
from __future__ import annotations

from reasoning.models.types import Cost, Generation, Scores, as_messages

EOS = 0


class ScriptedModel:
    def __init__(self, name="scripted", reply=None, logprob=None):
        self.name = name
        self.eos_ids = frozenset({EOS})
        self.decoding = dict(do_sample=False, temperature=1.0, top_p=1.0, repetition_penalty=1.0)
        self.reply = reply or (lambda prompt: "")
        self.logprob = logprob or (lambda prompt, continuation, i: -0.1)  # log p of continuation[i]
        self.prompts_seen: list[str] = []

    def render_chat(self, messages):
        """Each turn as "U:" / "A:" / "S:" + its text on a line, then "A:" for the reply: "U:question\nA:"."""
        turns = "".join(f"{m['role'][0].upper()}:{m['content']}\n" for m in as_messages(messages))
        return turns + "A:"

    def encode_chat(self, messages):
        return self.encode(self.render_chat(messages))

    def encode(self, text):
        return [ord(c) for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids if i != EOS)

    def generate(self, prompts, max_new_tokens, stop=()):
        budgets = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
        out = []
        for prompt, budget in zip(prompts, budgets):
            text = self.decode(prompt)
            self.prompts_seen.append(text)
            ids = self.encode(self.reply(text)) + [EOS]
            reason = None
            for s in stop:
                at = self.decode(ids).find(s)
                if at >= 0 and at + len(s) <= budget:
                    ids, reason = ids[: at + len(s)], "stop"
            ids = ids[:budget]
            reason = reason or ("eos" if ids and ids[-1] == EOS else "length")
            out.append(Generation(ids, self.decode(ids), reason, Cost(len(prompt), len(ids), len(ids), 0.0)))
        return out

    def close(self):
        pass

    def score(self, prompts, continuations, next_tokens=()):
        out = []
        for prompt, cont in zip(prompts, continuations):
            text, cont_text = self.decode(prompt), self.decode(cont)
            logprobs = [self.logprob(text, cont_text, i) for i in range(len(cont))]
            # The greedy token agrees with the continuation wherever the continuation is likely.
            argmax = [c if lp > -1.0 else ord("#") for c, lp in zip(cont, logprobs)]
            # Asked for next tokens, the model gives each the log-prob it gives that text as a continuation.
            nxt = {t: self.logprob(text, chr(t), 0) for t in next_tokens}
            # Where the greedy token is the continuation's, its log-prob is the continuation's (one token).
            best = [lp if a == c else max(lp, -0.05) for a, c, lp in zip(argmax, cont, logprobs)]
            out.append(Scores(logprobs, argmax, best, EOS,
                              Cost(len(prompt) + len(cont), 0, 1, 0.0), nxt))
        return out
