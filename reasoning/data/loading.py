"""What every loader shares: rows to Problems under the malformed-row policy, then shuffle and limit."""

import logging
import random
from collections.abc import Callable, Sequence

from reasoning.data.files import Row
from reasoning.data.problem import Problem
from reasoning.errors import ReasoningError

log = logging.getLogger(__name__)

POLICIES = ("error", "skip")


class Malformed(ValueError):
    """A row a loader cannot use; the message says what is wrong with it."""


def field(fields: dict, name: str) -> str:
    """The named field as a stripped string; missing or empty is malformed."""
    value = fields.get(name)
    if value is None:
        raise Malformed(f"missing field {name!r}")
    text = str(value).strip()
    if not text:
        raise Malformed(f"empty field {name!r}")
    return text


def to_problems(
    rows: Sequence[Row], to_problem: Callable[[Row], Problem], on_malformed: str, rule: str
) -> list[Problem]:
    """Convert each row; a malformed one raises (on_malformed=error) or is skipped and counted.

    `rule` says what a good row looks like, for the error message.
    """
    if on_malformed not in POLICIES:
        raise ReasoningError(f"dataset.on_malformed is {on_malformed!r}; set it to 'error' or 'skip'")
    problems, skipped = [], []
    for row in rows:
        try:
            if row.error:
                raise Malformed(row.error)
            problems.append(to_problem(row))
        except Malformed as err:
            if on_malformed == "error":
                raise ReasoningError(
                    f"{row.where}: {err} ({rule}); fix the row or set dataset.on_malformed=skip"
                ) from None
            skipped.append(f"{row.where}: {err}")
    if skipped:
        log.warning("skipped %d malformed rows of %d (first: %s)", len(skipped), len(rows), skipped[0])
    return problems


def select(problems: Sequence[Problem], limit: int | None, shuffle: bool, seed: int) -> list[Problem]:
    """Shuffle with `seed` (if asked) before taking the first `limit`: a reproducible random subset."""
    if limit is not None and limit < 0:
        raise ReasoningError(f"dataset.limit is {limit}; set it to a count >= 0 or null for all problems")
    chosen = list(problems)
    if shuffle:
        random.Random(seed).shuffle(chosen)
    return chosen if limit is None else chosen[:limit]
