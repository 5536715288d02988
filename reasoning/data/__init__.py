"""Datasets as lists of Problems: the generated offline set, GSM8K and MATH-500."""

from reasoning.data.gsm8k import load_gsm8k
from reasoning.data.math500 import load_math500
from reasoning.data.problem import Problem
from reasoning.data.synthetic import load_synthetic

__all__ = ["Problem", "load_gsm8k", "load_math500", "load_synthetic"]
