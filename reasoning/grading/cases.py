"""Labelled grading cases shared by tests/test_grading.py and benchmarks/grader_agreement.py.

Each case is (response, gold, correct, category); `correct` is the label a careful human grader would
give under this package's documented decisions (e.g. "50\\%" == "50").
"""

from typing import NamedTuple


class Case(NamedTuple):
    response: str
    gold: str
    correct: bool
    category: str


_COLUMN_12 = r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"

CASES: list[Case] = [
    # GSM8K-style: worked solutions ending in "#### N", "The answer is N", or just a number.
    Case("Janet sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18 every day.\n#### 18", "18", True, "gsm8k"),
    Case("She has 5 + 7 = 12 apples.\n#### 12", "13", False, "gsm8k"),
    Case("The total is 1,000 + 250 = 1,250.\n#### 1,250", "1250", True, "gsm8k"),
    Case("He pays 3 * 4 = 12 dollars. The answer is 12.", "12", True, "gsm8k"),
    Case("So the answer is $18.", "18", True, "gsm8k"),
    Case("Therefore, the answer is: Janet makes $18 every day.", "18", True, "gsm8k"),
    Case("The final answer is 42. I hope it is correct.", "42", True, "gsm8k"),
    Case("Final Answer: 7", "7", True, "gsm8k"),
    Case("The answer is 18 dollars.", "18", True, "gsm8k"),
    Case("The answer is 17.", "18", False, "gsm8k"),
    Case("First 2 + 3 = 5, then 5 * 4 = 20. So she has 20 cookies left.", "20", True, "gsm8k"),
    Case("First 2 + 3 = 5, then 5 * 4 = 20. She gives away 4, leaving 16", "20", False, "gsm8k"),
    Case("The cost is 3 * $1.50 = $4.50", "4.5", True, "gsm8k"),
    Case("It takes 2.5 hours in total.", "2.5", True, "gsm8k"),
    Case("The temperature dropped to -5 degrees.", "-5", True, "gsm8k"),
    Case("The difference is \u22123.", "-3", True, "gsm8k"),
    Case("Total: $1,234,567.", "1234567", True, "gsm8k"),
    Case("She earned $18.00 in all.\n#### 18.00", "18", True, "gsm8k"),
    Case("I am not sure how to solve this.", "18", False, "gsm8k"),
    Case("#### 72", "#### 72", True, "gsm8k"),
    Case("The answer is 1000", "1,000", True, "gsm8k"),
    Case("The answer is 60 miles per hour.", "60", True, "gsm8k"),
    Case("#### $1,000", "1000", True, "gsm8k"),
    Case("The answer is 18.\nNote: step 3 used 2 eggs.", "18", True, "gsm8k"),
    Case("So he needs 12 more.\n\nThe answer is: 12", "12", True, "gsm8k"),
    Case("She has 3 apples. The answer is three.", "3", False, "gsm8k"),
    Case(r"Hence the answer is $\frac{3}{4}$. Done.", "0.75", True, "gsm8k"),
    # MATH-style boxed answers: nested braces, \fbox, the last box wins.
    Case(r"Thus $x = \boxed{5}$.", "5", True, "boxed"),
    Case(r"We get $\boxed{\frac{\sqrt{3}}{2}}$.", r"\frac{\sqrt{3}}{2}", True, "boxed"),
    Case(r"First guess \boxed{3}, but correcting, \boxed{4}.", "4", True, "boxed"),
    Case(r"First guess \boxed{3}, but correcting, \boxed{4}.", "3", False, "boxed"),
    Case(r"The answer is \fbox{12}.", "12", True, "boxed"),
    Case(r"So the area is $\boxed{12\text{ cm}^2}$.", "12", True, "boxed"),
    Case(r"$\boxed{\{1, 2, 3\}}$", r"\{3, 2, 1\}", True, "boxed"),
    Case(r"The result is \boxed{x^2 + 2x + 1}.", "(x+1)^2", True, "boxed"),
    Case(r"The result is \boxed{x^2 + 2x + 1}.", "(x-1)^2", False, "boxed"),
    Case(r"The answer is \boxed{\text{(C)}}", r"\text{(C)}", True, "boxed"),
    Case(r"The answer is \boxed{C}", r"\text{(C)}", True, "boxed"),
    Case(r"The answer is \boxed{B}", r"\text{(C)}", False, "boxed"),
    # Fractions and decimals.
    Case(r"\boxed{0.5}", r"\frac{1}{2}", True, "fraction"),
    Case(r"\boxed{\dfrac12}", "0.5", True, "fraction"),
    Case(r"\boxed{1/2}", r"\frac12", True, "fraction"),
    Case(r"\boxed{\tfrac{3}{4}}", "0.75", True, "fraction"),
    Case(r"\boxed{-\frac{2}{3}}", r"\frac{-2}{3}", True, "fraction"),
    Case(r"\boxed{0.33}", r"\frac{1}{3}", False, "fraction"),
    Case(r"\boxed{\frac{6}{8}}", r"\frac{3}{4}", True, "fraction"),
    Case("The answer is 3/4", "0.75", True, "fraction"),
    Case(r"\boxed{\frac{7}{2}}", "3.5", True, "fraction"),
    Case(r"\boxed{\frac{7}{2}}", "2.5", False, "fraction"),
    Case(r"\boxed{1/3}", "0.333333", True, "fraction"),  # 6 digits, correctly rounded (numbers.py)
    Case(r"\boxed{2/3}", "0.666666", False, "fraction"),  # truncated, not rounded
    # Integers compare exactly: no relative tolerance, however large.
    Case(r"\boxed{1450001}", "1450000", False, "integer"),
    Case(r"\boxed{1000001}", "1000000", False, "integer"),
    Case(r"\boxed{123456789}", "123456790", False, "integer"),
    Case(r"\boxed{1,450,000}", "1450000", True, "integer"),
    # Percentages: "50\%" == "50" by decision, and "50\%" == 0.5 as well (against a decimal or fraction only).
    Case(r"\boxed{50\%}", "50", True, "percent"),
    Case("The answer is 50%.", "50", True, "percent"),
    Case(r"\boxed{25}", r"25\%", True, "percent"),
    Case(r"\boxed{0.5}", r"50\%", True, "percent"),
    Case(r"\boxed{40\%}", "50", False, "percent"),
    Case(r"\boxed{2\%}", "0.02", True, "percent"),
    Case(r"\boxed{5000\%}", "50", False, "percent"),
    # Money, units, degrees, text wrappers.
    Case(r"\boxed{\$18.90}", "18.90", True, "units"),
    Case(r"\boxed{30^\circ}", "30", True, "units"),
    Case(r"\boxed{45^{\circ}}", "45", True, "units"),
    Case(r"\boxed{5\text{ cm}}", "5", True, "units"),
    Case(r"\boxed{12 \mbox{ inches}}", "12", True, "units"),
    Case(r"\boxed{x = 3}", "3", True, "units"),
    Case(r"\boxed{6\text{ meters}}", "7", False, "units"),
    Case(r"\boxed{\$1,\!000}", "1000", True, "units"),
    Case(r"\boxed{10}", r"10\text{ inches}", True, "units"),
    # LaTeX expressions that need sympy.
    Case(r"\boxed{2\sqrt{3}}", r"\sqrt{12}", True, "latex"),
    Case(r"\boxed{\sqrt{2}}", r"\frac{2}{\sqrt{2}}", True, "latex"),
    Case(r"\boxed{\sqrt{3}}", r"\sqrt{2}", False, "latex"),
    Case(r"\boxed{\pi/2}", r"\frac{\pi}{2}", True, "latex"),
    Case(r"\boxed{2\pi}", r"\pi", False, "latex"),
    Case(r"\boxed{\frac{1}{\sqrt{2}}}", r"\frac{\sqrt{2}}{2}", True, "latex"),
    Case(r"\boxed{3\sqrt{2}}", r"\sqrt{18}", True, "latex"),
    Case(r"\boxed{2^{10}}", "1024", True, "latex"),
    Case(r"\boxed{10^{-3}}", "0.001", True, "latex"),
    Case(r"\boxed{4\pi}", r"4 \pi", True, "latex"),
    Case(r"\boxed{1\frac{1}{2}}", "1.5", True, "latex"),
    Case(r"\boxed{\sqrt[3]{2}}", "2^{1/3}", True, "latex"),
    Case(r"\boxed{1.5\times 10^3}", "1500", True, "latex"),
    Case(r"\boxed{\log_2 8}", "3", True, "latex"),
    Case(r"\boxed{x^2-1}", "(x-1)(x+1)", True, "latex"),
    Case(r"\boxed{\frac{x+1}{2}}", r"\frac{1}{2}(x+1)", True, "latex"),
    Case(r"\boxed{y = 2x + 3}", "y=2x+3", True, "latex"),
    Case(r"\boxed{3.14}", r"\pi", False, "latex"),
    Case(r"\boxed{\frac{\sqrt{2}}{2}}", "0.7071", False, "latex"),
    Case(rf"\boxed{{{_COLUMN_12}}}", _COLUMN_12, True, "latex"),
    Case(rf"\boxed{{{_COLUMN_12}}}", r"\begin{pmatrix} 2 \\ 1 \end{pmatrix}", False, "latex"),
    # Tuples, coordinates, intervals: open/closed ends must match.
    Case(r"\boxed{(1, 2)}", "(1,2)", True, "tuple"),
    Case(r"The point is \boxed{\left( 3, -\frac{1}{2} \right)}", r"(3, -0.5)", True, "tuple"),
    Case(r"\boxed{(2, 1)}", "(1, 2)", False, "tuple"),
    Case(r"\boxed{(1, 2, 3)}", "(1, 2)", False, "tuple"),
    Case(r"\boxed{[0, 1)}", "[0, 1)", True, "interval"),
    Case(r"\boxed{[0, 1)}", "[0, 1]", False, "interval"),
    Case(r"\boxed{(-\infty, 2]}", r"(-\infty, 2]", True, "interval"),
    Case(r"\boxed{(-\infty, 2)}", r"(-\infty, 2]", False, "interval"),
    Case(r"\boxed{2, 5}", "5, 2", True, "tuple"),
    Case(r"\boxed{x=-1, x=2}", "-1, 2", True, "tuple"),
    Case(r"\boxed{\left[ -1, 1 \right]}", "[-1,1]", True, "interval"),
    Case(r"\boxed{(-\infty, 0) \cup (1, \infty)}", r"(-\infty,0)\cup(1,\infty)", True, "interval"),
    Case(r"\boxed{(-\infty, 0) \cup (1, \infty)}", r"(-\infty,0]\cup(1,\infty)", False, "interval"),
    # Plain text answers.
    Case(r"\boxed{\text{Evelyn}}", "Evelyn", True, "text"),
    Case("The answer is evelyn.", r"\text{Evelyn}", True, "text"),
    Case(r"\boxed{\text{Monday}}", r"\text{Tuesday}", False, "text"),
    Case(r"\boxed{\text{  even }}", r"\text{even}", True, "text"),
    Case("The answer is (A).", r"\text{(A)}", True, "text"),
]
