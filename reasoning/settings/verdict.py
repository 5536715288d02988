"""Reading a teacher's review: ACCEPT, or REVISE plus feedback, parsed from text or scored from tokens."""
from __future__ import annotations

import re

ACCEPT, REVISE, UNPARSEABLE = "accept", "revise", "unparseable"
_VERDICT = re.compile(r"\b(accept(?:ed)?|revise|reject(?:ed)?|incorrect|correct)\b", re.IGNORECASE)
_MEANING = {"accept": ACCEPT, "accepted": ACCEPT, "correct": ACCEPT,
            "revise": REVISE, "reject": REVISE, "rejected": REVISE, "incorrect": REVISE}


def parse_verdict(text: str) -> tuple[str, str]:
    """The first verdict word in the review decides; the text after it is the feedback.

    Reviews often start with markdown or "Verdict:"; the first keyword, not the first line, counts.
    """
    match = _VERDICT.search(text)
    if not match:
        return UNPARSEABLE, text.strip()
    verdict = _MEANING[match.group(1).lower()]
    feedback = text[match.end():].lstrip(" :.-*\n").strip()
    return verdict, feedback if verdict == REVISE else ""
