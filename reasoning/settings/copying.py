"""How much of its previous attempt a refinement kept: the one definition the feedback setting records
and the summary and report count.

A refinement is round r > 1 of a problem. `identical_to_previous`: its text is the previous round's,
character for character (a verbatim copy). `kept`: difflib's similarity ratio of the two texts (1.0 =
the same, 0.0 = nothing in common), rounded to 3 places. The copy rate of a set of refinements is the
share that are identical.
"""
from __future__ import annotations

from difflib import SequenceMatcher

FIELDS = ("identical_to_previous", "kept")


def compare(previous: str, current: str) -> dict:
    """The copy fields of `current` as a refinement of `previous`."""
    # autojunk off: on texts over 200 characters it would ignore frequent characters and skew the ratio.
    ratio = SequenceMatcher(None, previous, current, autojunk=False).ratio()
    return {"identical_to_previous": current == previous, "kept": round(ratio, 3)}


def refinements(rounds: list[dict]) -> list[dict]:
    """The copy fields of every refinement of one problem's rounds (in round order): as recorded, or
    computed from the round texts for records written before the setting recorded them."""
    return [_recorded(current) or compare(previous["response"], current["response"])
            for previous, current in zip(rounds, rounds[1:])]


def _recorded(entry: dict) -> dict | None:
    identical, kept = entry.get("identical_to_previous"), entry.get("kept")
    # Real values only: a frame mixing old and new records holds NaN or None for the old ones.
    if identical in (True, False) and isinstance(kept, (int, float)) and kept == kept:
        return {"identical_to_previous": bool(identical), "kept": float(kept)}
    return None
