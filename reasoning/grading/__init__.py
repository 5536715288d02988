"""Answer grading: extraction (extract.py) kept apart from equivalence (equivalence.py); pure functions."""

from reasoning.grading.equivalence import is_equivalent
from reasoning.grading.extract import extract_answer
from reasoning.grading.grader import Grade, grade

__all__ = ["Grade", "extract_answer", "grade", "is_equivalent"]
