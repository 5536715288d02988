"""An offline set of 2-4 step arithmetic word problems with exact integer answers, made from a seed.

Problem `index` of `seed` comes from its own random stream, so it is the same whatever `n` or `limit`.
Each template returns its numbers too (kept in `meta`), so a test can recompute every answer.
"""

import math
import random

from reasoning.data.loading import select
from reasoning.data.problem import Problem
from reasoning.errors import ReasoningError

PEOPLE = [
    ("Maya", "she"),
    ("Liam", "he"),
    ("Aisha", "she"),
    ("Diego", "he"),
    ("Chen", "he"),
    ("Sofia", "she"),
    ("Omar", "he"),
    ("Priya", "she"),
    ("Lukas", "he"),
    ("Hana", "she"),
]
GOODS = ["notebooks", "pencils", "apples", "comics", "muffins", "candles", "sticker packs"]
COLLECTIBLES = ["marbles", "stickers", "cookies", "seashells", "stamps", "beads"]
PRODUCTS = ["bottles", "toy cars", "bolts", "loaves of bread", "paper cups"]
SALE_ITEMS = ["jacket", "bicycle", "lamp", "backpack", "pair of boots", "chair"]


def load_synthetic(
    n: int = 50, seed: int = 0, limit: int | None = None, shuffle: bool = False
) -> list[Problem]:
    """The first `n` problems of `seed`, then shuffled with `seed` (if asked) and cut to `limit`."""
    if n < 0:
        raise ReasoningError(f"dataset.n is {n}; set it to a count >= 0")
    return select([make_problem(seed, index) for index in range(n)], limit, shuffle, seed)


def make_problem(seed: int, index: int) -> Problem:
    # A string seed is hashed with sha512 by `random`: stable across runs and PYTHONHASHSEED.
    rng = random.Random(f"synthetic-{seed}-{index}")
    template = rng.choice(TEMPLATES)
    question, answer, numbers = template(rng)
    return Problem(
        id=f"synthetic-{seed}-{index:04d}",
        question=question,
        gold=str(answer),
        meta={"dataset": "synthetic", "template": template.__name__, "numbers": numbers},
    )


def shopping(rng):
    name, pron = rng.choice(PEOPLE)
    first, second = rng.sample(GOODS, 2)
    a, p, b, q = rng.randint(2, 6), rng.randint(2, 9), rng.randint(2, 5), rng.randint(3, 12)
    bill = 50 * math.ceil((a * p + b * q + 1) / 50)  # a round note that always leaves change
    text = (
        f"{name} buys {a} {first} for ${p} each and {b} {second} for ${q} each. "
        f"{pron.capitalize()} pays with ${bill}. How much change, in dollars, does {pron} get back?"
    )
    return text, bill - (a * p + b * q), dict(a=a, p=p, b=b, q=q, bill=bill)


def sharing(rng):
    name, pron = rng.choice(PEOPLE)
    things = rng.choice(COLLECTIBLES)
    boxes, per_box, friends = rng.randint(2, 8), rng.choice([6, 8, 10, 12, 15, 20, 24]), rng.randint(2, 6)
    total = boxes * per_box
    kept = rng.randint(1, total // 3)
    kept += (total - kept) % friends  # make the rest split evenly
    text = (
        f"{name} has {boxes} boxes with {per_box} {things} in each box. {pron.capitalize()} keeps "
        f"{kept} {things} and shares the rest equally among {friends} friends. "
        f"How many {things} does each friend get?"
    )
    return text, (total - kept) // friends, dict(boxes=boxes, per_box=per_box, kept=kept, friends=friends)


def factory(rng):
    product = rng.choice(PRODUCTS)
    rate, hours, days = rng.randint(5, 40), rng.randint(2, 8), rng.randint(2, 6)
    broken = rng.randint(1, rate)
    text = (
        f"A machine makes {rate} {product} per hour. It runs {hours} hours a day for {days} days. "
        f"Every day, {broken} of the {product} made that day are faulty and thrown away. "
        f"How many good {product} are left at the end?"
    )
    return text, (rate * hours - broken) * days, dict(rate=rate, hours=hours, days=days, broken=broken)


def cartons(rng):
    name, pron = rng.choice(PEOPLE)
    monday, tuesday, size = rng.randint(12, 60), rng.randint(12, 60), rng.choice([6, 10, 12])
    ask_left = rng.random() < 0.5
    question = (
        f"How many eggs are left over after {pron} fills as many full cartons as possible?"
        if ask_left
        else f"How many cartons can {pron} fill completely?"
    )
    text = (
        f"{name}'s hens lay {monday} eggs on Monday and {tuesday} eggs on Tuesday. "
        f"{pron.capitalize()} packs the eggs into cartons that hold {size} eggs each. {question}"
    )
    total = monday + tuesday
    answer = total % size if ask_left else total // size
    return text, answer, dict(monday=monday, tuesday=tuesday, size=size, ask_left=ask_left)


def discount(rng):
    name, pron = rng.choice(PEOPLE)
    item = rng.choice(SALE_ITEMS)
    percent = rng.choice([10, 15, 20, 25, 30, 40, 50, 75])
    step = 100 // math.gcd(percent, 100)  # price is a multiple of this, so the sale price is whole
    price = step * rng.randint(max(1, 20 // step), 400 // step)
    count = rng.randint(1, 4)
    text = (
        f"A {item} normally costs ${price}. This week it is {percent}% off. {name} buys {count} of them. "
        f"How many dollars does {pron} pay in total?"
    )
    return text, count * price * (100 - percent) // 100, dict(price=price, percent=percent, count=count)


def ages(rng):
    (oldest, _), (middle, _), (youngest, _) = rng.sample(PEOPLE, 3)
    young, gap = rng.randint(3, 15), rng.randint(2, 12)
    text = (
        f"{youngest} is {young} years old. {middle} is twice as old as {youngest}. "
        f"{oldest} is {gap} years older than {middle}. What is the sum of their three ages?"
    )
    return text, young + 2 * young + (2 * young + gap), dict(young=young, gap=gap)


def trip(rng):
    name, pron = rng.choice(PEOPLE)
    fast, fast_hours = rng.choice([50, 60, 70, 80, 90]), rng.randint(1, 4)
    slow, slow_hours = rng.choice([20, 30, 40, 45]), rng.randint(1, 3)
    text = (
        f"{name} drives at {fast} km per hour for {fast_hours} hours, then at {slow} km per hour "
        f"for {slow_hours} hours. How many kilometers does {pron} drive in total?"
    )
    return (
        text,
        fast * fast_hours + slow * slow_hours,
        dict(fast=fast, fast_hours=fast_hours, slow=slow, slow_hours=slow_hours),
    )


def savings(rng):
    name, pron = rng.choice(PEOPLE)
    weekly, weeks, more = rng.choice([5, 10, 15, 20, 25]), rng.randint(3, 10), rng.randint(2, 8)
    spent = weekly * rng.randint(1, weeks - 1)
    goal = weekly * (weeks + more) - spent  # reached after exactly `more` further weeks
    text = (
        f"{name} saves ${weekly} every week. After {weeks} weeks {pron} spends ${spent} on a gift. "
        f"{pron.capitalize()} wants to have ${goal} saved. How many more weeks must {pron} save?"
    )
    return text, more, dict(weekly=weekly, weeks=weeks, spent=spent, goal=goal)


def wages(rng):
    name, pron = rng.choice(PEOPLE)
    rate, weekday_hours, saturday_hours = rng.randint(8, 25), rng.randint(2, 8), rng.randint(2, 6)
    text = (
        f"{name} earns ${rate} per hour. {pron.capitalize()} works {weekday_hours} hours on each of "
        f"the 5 weekdays and {saturday_hours} hours on Saturday. How many dollars does {pron} earn "
        f"in that week?"
    )
    return (
        text,
        rate * (5 * weekday_hours + saturday_hours),
        dict(rate=rate, weekday_hours=weekday_hours, saturday_hours=saturday_hours),
    )


def school(rng):
    students = 8 * rng.randint(10, 60)  # a multiple of 8: a quarter, then half the rest, stay whole
    text = (
        f"A school has {students} students. A quarter of them play in the band. Half of the other "
        f"students sing in the choir. How many students are in neither the band nor the choir?"
    )
    return text, (students - students // 4) // 2, dict(students=students)


def harvest(rng):
    name, pron = rng.choice(PEOPLE)
    rows, plants, per_plant, bag = (
        rng.randint(2, 6),
        rng.randint(3, 10),
        rng.randint(4, 12),
        rng.choice([5, 6, 8, 10]),
    )
    text = (
        f"{name} plants {rows} rows of tomato plants with {plants} plants in each row. Each plant gives "
        f"{per_plant} tomatoes. {pron.capitalize()} sells the tomatoes in bags of {bag}. "
        f"How many full bags can {pron} sell?"
    )
    return (
        text,
        rows * plants * per_plant // bag,
        dict(rows=rows, plants=plants, per_plant=per_plant, bag=bag),
    )


TEMPLATES = [shopping, sharing, factory, cartons, discount, ages, trip, savings, wages, school, harvest]
