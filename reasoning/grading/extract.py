"""Find the final answer in a model response. Only finds text; deciding equality is equivalence.py's job.

Rules, tried in order; the first that finds something wins:
  "boxed"       the last \\boxed{...} or \\fbox{...} (nested braces allowed)
  "hash"        the last "#### ..." line (GSM8K's gold format)
  "answer_is"   the last "the answer is ..." / "final answer: ..." up to the end of the sentence or line
  "last_number" the last number anywhere (lenient fallback only)

A placeholder copied from a prompt ("The answer is N.", "\\boxed{<answer>}", "...") is never an
answer: that rule is skipped, the next one is tried, and the extraction says it happened.
"""

import re
from typing import NamedTuple

STRICT_RULES = ("boxed", "hash", "answer_is")

_BOXED = re.compile(r"\\(?:boxed|fbox)\b")
_HASH = re.compile(r"####[ \t]*([^\n]*)")
# "is" or ":" is required: "to find the answer, we ..." is no marker.
_ANSWER_IS = re.compile(r"\b(?:final\s+answer|the\s+answer)\s*(?:is\b\s*:?|[:=])", re.IGNORECASE)
# A sentence ends at ". " / "." at end; a decimal point ("3.5") is not followed by a space.
_SENTENCE_END = re.compile(r"\.(?=\s|$)|[!?\n]")
# Thousands groups first so "1,000" stays one number; the unicode minus is common in model output.
_NUMBER = re.compile(r"[-\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|[-\u2212]?\.\d+")
_PROSE_WORD = re.compile(r"(?<![\\\w])[A-Za-z]{2,}\b")
# What prompts write where the answer goes. Single capitals only N and X: "\boxed{C}" is a MATH answer.
_PLACEHOLDER = re.compile(
    r"[NX]|\.{3}|\u2026|_+|(?i:(?:your|the|final)?\s*answer(?:\s+here)?|<[a-z _]+>|\[[a-z _]+\]|\\text\{\s*answer\s*\})")


class Extraction(NamedTuple):
    answer: str | None  # the answer text, before normalisation
    rule: str | None  # which rule found it
    placeholder: bool  # a rule found only a placeholder ("N", "<answer>") and was skipped


def extract(response: str) -> Extraction:
    """The answer by the first rule that finds a real one; the last-number fallback included."""
    strict = extract_strict_full(response)
    if strict.answer is not None:
        return strict
    number = last_number(response)
    return Extraction(number, "last_number" if number is not None else None, strict.placeholder)


def extract_answer(response: str) -> tuple[str | None, str | None]:
    """Return (answer text, rule name), or (None, None) when nothing looks like an answer."""
    return extract(response)[:2]


def extract_strict(response: str) -> tuple[str | None, str | None]:
    """Like extract_answer but only from explicit answer markers (no last-number fallback)."""
    return extract_strict_full(response)[:2]


def extract_strict_full(response: str) -> Extraction:
    placeholder = False
    for rule, finder in (("boxed", last_boxed), ("hash", _last_hash), ("answer_is", _last_answer_is)):
        text = finder(response)
        if text and is_placeholder(text):
            placeholder = True
        elif text:
            return Extraction(text, rule, placeholder)
    return Extraction(None, None, placeholder)


def is_placeholder(text: str) -> bool:
    """"N", "X", "<answer>", "[number]", "...", "your answer": template text, not an answer."""
    return _PLACEHOLDER.fullmatch(text.strip().strip("*")) is not None


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}/\\fbox{...}; None if there is none or its braces never close."""
    for match in reversed(list(_BOXED.finditer(text))):
        content = _braced_content(text, match.end())
        if content is not None and content.strip():
            return content.strip()
    return None


def last_number(text: str) -> str | None:
    """The last number in text, e.g. "1,000", "-3.5", "3/4"; the unicode minus becomes "-"."""
    numbers = _NUMBER.findall(text)
    return numbers[-1].replace("\u2212", "-") if numbers else None


def _braced_content(text: str, start: int) -> str | None:
    """Text inside the brace group that starts at text[start] (after spaces); \\boxed 5 form allowed."""
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":  # "\boxed 5": a single token up to whitespace or "$"
        token = re.match(r"[^\s$]+", text[i:])
        return token.group(0) if token else None
    depth = 0
    j = i
    while j < len(text):
        char = text[j]
        if char == "\\":  # skip escaped characters such as \{ and \} inside sets
            j += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
        j += 1
    return None  # unbalanced: a truncated generation


def _last_hash(text: str) -> str | None:
    matches = _HASH.findall(text)
    return _clean(matches[-1]) if matches else None


def _last_answer_is(text: str) -> str | None:
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end() :].lstrip()
    span = _clean(rest[: _sentence_end(rest)])
    # "the answer is: Janet makes $18 a day" -> keep the number, not the prose around it.
    if span and len(_PROSE_WORD.findall(span)) >= 2 and _NUMBER.search(span):
        return last_number(span)
    return span or None


def _sentence_end(text: str) -> int:
    """Index where the first sentence of text ends, skipping periods inside a closed $...$ pair."""
    i = 0
    while i < len(text):
        if text[i] == "\\":  # \$ is a money sign, not math
            i += 2
            continue
        if text[i] == "$":
            close = text.find("$", i + 1, _line_end(text, i))
            # A lone "$" ("$18. She ...") or one before a digit ("... paid $5") is money, not math.
            if close != -1 and not text[close + 1 : close + 2].isdigit():
                i = close + 1
                continue
        if _SENTENCE_END.match(text, i):
            return i
        i += 1
    return len(text)


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end == -1 else end


def _clean(answer: str) -> str:
    """Strip math delimiters and trailing punctuation: "$18$." -> "18"."""
    answer = answer.strip().rstrip(".,;:").strip()
    for left, right in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if answer.startswith(left) and answer.endswith(right) and len(answer) > len(left) + len(right):
            answer = answer[len(left) : -len(right)].strip()
    return answer.rstrip(".").strip()
