"""Reading a teacher's review: ACCEPT, or REVISE plus feedback, parsed from its explicit verdict.

A verdict is explicit in one of two shapes: a `VERDICT:` marker ("VERDICT: ACCEPT", "**Verdict:**
revise", "Verdict: the answer is not correct") or a reply that opens with the capitalised word itself
("ACCEPT", "REVISE\\n...": the verdict-first prompt's shape). Anything else is UNPARSEABLE, never
ACCEPT: a review that reasons "step 1 is correct but step 2 is wrong" has given no verdict.
"""
from __future__ import annotations

import re

ACCEPT, REVISE, UNPARSEABLE = "accept", "revise", "unparseable"
VERDICTS = (ACCEPT, REVISE, UNPARSEABLE)

_ACCEPT_WORDS = r"accept(?:ed|able)?|correct|approved?"
_REVISE_WORDS = r"revise|revision|reject(?:ed)?|incorrect|wrong|not\s+correct"
_WORD = re.compile(rf"\b(?:(?P<accept>{_ACCEPT_WORDS})|(?P<revise>{_REVISE_WORDS}))\b", re.IGNORECASE)
# "not", "isn't", "partially" ... in the two words before an accept word turn it into a rejection.
_NEGATION = re.compile(r"\b(?:not|never|no|cannot|partially|partly|mostly|almost)\b|n't\b", re.IGNORECASE)
_MARKER = re.compile(r"\bverdict\b[*_\s]*[:=\-][*_\s]*", re.IGNORECASE)
_OPENING = re.compile(r"[\s*#_]*\b(ACCEPT|REVISE)\b")
# A prompt echoed back ("VERDICT: ACCEPT if every step ...", "VERDICT: ACCEPT/REVISE") is no verdict.
_ECHO = re.compile(r"\s*(?:if\b|otherwise\b|or\b|/|\|)", re.IGNORECASE)


def parse_verdict(text: str) -> tuple[str, str]:
    """(verdict, feedback). The last explicit verdict decides; without one, UNPARSEABLE.

    On REVISE the feedback is the text after the verdict, or the review's reasoning when nothing
    follows; on UNPARSEABLE it is the whole review (the student still sees what the teacher wrote).
    """
    found = _last_marked(text) or _opening(text)
    if found is None:
        return UNPARSEABLE, text.strip()
    verdict, start, end = found
    if verdict == ACCEPT:
        return ACCEPT, ""
    after = text[end:].lstrip(" :.-*\n").strip()
    return verdict, after or text[:start].strip()


def _last_marked(text: str) -> tuple[str, int, int] | None:
    """The verdict on the line of the last VERDICT: marker that reads as one."""
    for marker in reversed(list(_MARKER.finditer(text))):
        line_end = text.find("\n", marker.end())
        line_end = len(text) if line_end == -1 else line_end
        word = _WORD.search(text, marker.end(), line_end)
        if word is None or _ECHO.match(text, word.end()):
            continue
        return _meaning(text, word, since=marker.end()), marker.start(), word.end()
    return None


def _opening(text: str) -> tuple[str, int, int] | None:
    match = _OPENING.match(text)
    if match is None or _ECHO.match(text, match.end()):
        return None
    return (ACCEPT if match.group(1) == "ACCEPT" else REVISE), match.start(), match.end()


def _meaning(text: str, word: re.Match, since: int) -> str:
    if word.group("revise"):
        return REVISE
    before = " ".join(text[since:word.start()].split()[-2:])
    return REVISE if _NEGATION.search(before) else ACCEPT
