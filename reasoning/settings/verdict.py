"""Reading a teacher's review: ACCEPT, or REVISE plus feedback, parsed from text or scored from tokens."""
from __future__ import annotations

import re

ACCEPT, REVISE, UNPARSEABLE = "accept", "revise", "unparseable"
_WORD = r"(accept(?:ed)?|revise|reject(?:ed)?|incorrect|correct)"
_MARKED = re.compile(rf"verdict\W*{_WORD}\b", re.IGNORECASE)
_BARE = re.compile(rf"\b{_WORD}\b", re.IGNORECASE)
_MEANING = {"accept": ACCEPT, "accepted": ACCEPT, "correct": ACCEPT,
            "revise": REVISE, "reject": REVISE, "rejected": REVISE, "incorrect": REVISE}


def parse_verdict(text: str) -> tuple[str, str]:
    """(verdict, feedback). The last "VERDICT: X" decides; without one, the first verdict word does.

    Reviews that reason first mention "correct" along the way, so an explicit marker wins. On REVISE
    the feedback is the text after the verdict word, or the review's reasoning when nothing follows.
    """
    marked = list(_MARKED.finditer(text))
    match = marked[-1] if marked else _BARE.search(text)
    if not match:
        return UNPARSEABLE, text.strip()
    verdict = _MEANING[match.group(1).lower()]
    if verdict == ACCEPT:
        return verdict, ""
    after = text[match.end():].lstrip(" :.-*\n").strip()
    return verdict, after or text[:match.start()].strip()
