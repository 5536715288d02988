"""parse_verdict on the shapes of review teachers really write: only an explicit verdict counts."""
import pytest

from reasoning.settings.verdict import ACCEPT, REVISE, UNPARSEABLE, parse_verdict

REVIEWS = [
    # Explicit VERDICT: markers, as the review prompt asks.
    ("Step 1: 3 * 4 = 12. Step 2: 2 + 12 = 14. All correct.\nVERDICT: ACCEPT", ACCEPT),
    ("Recomputing: 5 * 4 = 20 is wrong, multiplication first.\nVERDICT: REVISE\nStep 1 adds before multiplying.", REVISE),
    ("**Verdict:** accept.", ACCEPT),
    ("**VERDICT**: REVISE - the second step drops the 3.", REVISE),
    ("Verdict - The student's answer is wrong.", REVISE),
    ("VERDICT: The answer is not correct.", REVISE),
    ("VERDICT: the solution isn't correct, 12 + 2 = 14.", REVISE),
    ("VERDICT: incorrect", REVISE),
    ("VERDICT: partially correct, step 3 is off by one.", REVISE),
    ("Verdict: correct", ACCEPT),
    ("verdict: Accepted", ACCEPT),
    ("VERDICT: REJECT", REVISE),
    # The last marker decides (a teacher that changes its mind).
    ("VERDICT: ACCEPT\nWait, step 2 should be 12 + 2.\nVERDICT: REVISE", REVISE),
    ("VERDICT: REVISE\nOn second thought the steps hold.\nVERDICT: ACCEPT", ACCEPT),
    # The verdict-first shape: the reply opens with the capitalised word.
    ("ACCEPT", ACCEPT),
    ("REVISE\nStep 2 is wrong.", REVISE),
    ("**ACCEPT**", ACCEPT),
    # No explicit verdict: never ACCEPT, whatever words of praise the reasoning holds.
    ("The answer is not correct.", UNPARSEABLE),
    ("Step 1 is correct but step 2 is wrong.", UNPARSEABLE),
    ("The solution is correct.", UNPARSEABLE),
    ("The answer is incorrect: 3*4=12", UNPARSEABLE),
    ("Everything checks out, I accept this solution.", UNPARSEABLE),
    ("accept", UNPARSEABLE),  # lower case opening word: prose, not the verdict format
    ("hmm", UNPARSEABLE),
    ("", UNPARSEABLE),
    # A prompt echoed back is no verdict.
    ("VERDICT: ACCEPT if every step and the final answer are correct;\nVERDICT: REVISE otherwise", UNPARSEABLE),
    ("VERDICT: ACCEPT/REVISE", UNPARSEABLE),
    ("ACCEPT or REVISE?", UNPARSEABLE),
    # The marker's line without a verdict word falls back to an earlier marker.
    ("VERDICT: ACCEPT\nMy verdict: see above.", ACCEPT),
]


@pytest.mark.parametrize("text, verdict", REVIEWS, ids=[f"{i}" for i in range(len(REVIEWS))])
def test_parse_verdict_table(text, verdict):
    assert parse_verdict(text)[0] == verdict


def test_the_table_is_large_and_covers_every_verdict():
    assert len(REVIEWS) >= 20 and {v for _, v in REVIEWS} == {ACCEPT, REVISE, UNPARSEABLE}


@pytest.mark.parametrize("text, feedback", [
    ("VERDICT: REVISE\nStep 1 adds before multiplying.", "Step 1 adds before multiplying."),
    ("5 * 4 = 20 is wrong.\nVERDICT: REVISE", "5 * 4 = 20 is wrong."),  # nothing after: the reasoning
    ("VERDICT: ACCEPT", ""),
    ("I am not sure.", "I am not sure."),  # unparseable: the whole review
])
def test_feedback_text(text, feedback):
    assert parse_verdict(text)[1] == feedback
