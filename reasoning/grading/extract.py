"""Find the final answer in a model response. Only finds text; deciding equality is equivalence.py's job.

Rules, tried in order; the first that finds something wins:
  "boxed"       the last \\boxed{...} or \\fbox{...} (nested braces allowed)
  "hash"        the last "#### ..." line (GSM8K's gold format)
  "answer_is"   the last "the answer is ..." / "final answer: ..." (one inside a "Check: ..." or
                "Let's verify ..." sentence only if there is no other): the expression it states, up to
                the first prose word (", because ..."), ";" or "(dollars)": "The answer is 18 apples
                for the 3 kids." -> "18", "60 km/h" -> "60", "3 + 4 = 7" -> "7"; a matrix or tuple
                stays whole
  "last_number" the last number anywhere (lenient fallback only)

Markdown emphasis ("**18**", "**Final Answer:** 18") is no part of an answer. A placeholder copied
from a prompt ("The answer is N.", "\\boxed{<answer>}", "...") is never an answer: the rule's
earlier match is taken instead ("\\boxed{18} ... \\boxed{N}" -> "18"), else the next rule is tried,
and the extraction says a placeholder was skipped.
"""

import re
from collections.abc import Iterator
from typing import NamedTuple

STRICT_RULES = ("boxed", "hash", "answer_is")

_BOXED = re.compile(r"\\(?:boxed|fbox)\b")
_HASH = re.compile(r"####[ \t]*([^\n]*)")
# "is" or ":" is required: "to find the answer, we ..." is no marker.
# "**Final Answer**: 18": emphasis may sit between the words and the colon.
_ANSWER_IS = re.compile(r"\b(?:final\s+answer|the\s+answer)\**\s*(?:is\b\s*:?|[:=])", re.IGNORECASE)
# A sentence that checks a result restates numbers; its "the answer is" states no answer.
_CHECK_SENTENCE = re.compile(
    r"\W*(?:let(?:'s|\s+us|\s+me)\s+)?(?:double[- ]?)?(?:check|verify|verification|verifying|checking)\b",
    re.IGNORECASE)
# A sentence ends at ". " / "." at end; a decimal point ("3.5") is not followed by a space.
_SENTENCE_END = re.compile(r"\.(?=\s|$)|[!?\n]")
# Thousands groups first so "1,000" stays one number; the unicode minus is common in model output.
_NUMBER = re.compile(r"[-\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|[-\u2212]?\.\d+")
_PROSE_WORD = re.compile(r"(?<![\\\w])[A-Za-z]{2,}\b")
_WORD = re.compile(r"[A-Za-z]{2,}")
_MATH_WORDS = {"sqrt", "pi", "log", "ln", "sin", "cos", "tan", "exp", "inf", "infty"}  # not prose in "2 sqrt(3)"
_COMMAND = re.compile(r"\\(?:[A-Za-z]+|.)", re.DOTALL)  # \frac, \sqrt, or an escaped character such as \$
_LETTER = re.compile(r"[A-Za-z]")
_EMPHASIS = re.compile(r"\*\*|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])")  # "**" anywhere, "*" hugging a word
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
    for rule, finder in (("boxed", _boxes), ("hash", _hashes), ("answer_is", _answers_stated)):
        for text in finder(response):  # from the last match to the first
            if not is_placeholder(text):
                return Extraction(text, rule, placeholder)
            placeholder = True
    return Extraction(None, None, placeholder)


def is_placeholder(text: str) -> bool:
    """"N", "X", "<answer>", "[number]", "...", "your answer": template text, not an answer."""
    return _PLACEHOLDER.fullmatch(text.strip().strip("*")) is not None


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}/\\fbox{...}; None if there is none or its braces never close."""
    return next(_boxes(text), None)


def _boxes(text: str) -> Iterator[str]:
    """Contents of the closed, non-empty boxes of text, the last first."""
    for match in reversed(list(_BOXED.finditer(text))):
        content = _braced_content(text, match.end())
        if content is not None and content.strip():
            yield content.strip()


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


def _hashes(text: str) -> Iterator[str]:
    for answer in reversed(_HASH.findall(text)):
        if cleaned := _clean(answer):
            yield cleaned


def _answers_stated(text: str) -> Iterator[str]:
    """What each "the answer is ..." states, the last first; those in a check sentence after all others."""
    matches = list(_ANSWER_IS.finditer(text))[::-1]
    for match in sorted(matches, key=lambda m: _in_check_sentence(text, m.start())):  # a stable sort
        rest = text[match.end() :].lstrip()
        if answer := _stated(_clean(rest[: _sentence_end(rest)])):
            yield answer


def _in_check_sentence(text: str, position: int) -> bool:
    start = max(text.rfind(end, 0, position) for end in (". ", "!", "?", "\n", ";")) + 1
    return _CHECK_SENTENCE.match(text, start) is not None


def _stated(span: str) -> str:
    """The answer a sentence after "the answer is" states: its leading expression, else the prose."""
    expression = _leading_expression(span)
    if expression:
        return _result_of_arithmetic(expression)
    # "the answer is: Janet makes $18 a day" -> keep the number, not the prose around it.
    if span and len(_PROSE_WORD.findall(span)) >= 2 and _NUMBER.search(span):
        return last_number(span)
    return span


def _leading_expression(span: str) -> str:
    """The math at the start of span, up to the first prose word, "(word" or ";" outside brackets.

    "18 apples for the 3 kids" -> "18", "$60/hour" -> "$60", "7, because 3 + 4 = 7" -> "7",
    "(3, 4) for x and y" -> "(3, 4)", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}" -> all of it.
    """
    depth, i = 0, 0
    while i < len(span):
        char = span[i]
        if command := _COMMAND.match(span, i):  # LaTeX is never prose
            i = command.end()
            continue
        if depth == 0 and _starts_prose(span, i):
            break
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif depth == 0 and char == ";":
            break
        i += 1
    return span[:i].rstrip(" ,:=+-*/").strip()


def _starts_prose(span: str, i: int) -> bool:
    """A word of two letters or more starts at i (after a space or "("), and is no math function."""
    if i > 0 and span[i - 1] not in " \t(/":
        return False  # "2xy" is math; "60/hour" is a unit
    word = _WORD.match(span, i + (span[i] == "("))  # "(dollars)", "(check: ...)" open prose too
    return word is not None and word.group(0).lower() not in _MATH_WORDS


def _result_of_arithmetic(expression: str) -> str:
    """"3 + 4 = 7" -> "7": a chain of numeric equalities states its last side; "x = 5" is left whole."""
    sides = expression.split("=")
    if len(sides) > 1 and not any(_LETTER.search(_COMMAND.sub("", side)) for side in sides[:-1]):
        return sides[-1].strip()
    return expression


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
    """Strip emphasis, math delimiters and trailing punctuation: "**$18$**." -> "18"."""
    answer = _EMPHASIS.sub("", answer).strip().rstrip(".,;:").strip()
    for left, right in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if answer.startswith(left) and answer.endswith(right) and len(answer) > len(left) + len(right):
            answer = answer[len(left) : -len(right)].strip()
    return answer.rstrip(".").strip()
