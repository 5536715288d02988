"""Dataset loaders on files the tests write, the generated set, and the conf/dataset presets."""

import json
import logging
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from reasoning.data import Problem, load_gsm8k, load_math500, load_synthetic
from reasoning.errors import ReasoningError

CONF = Path(__file__).resolve().parents[1] / "conf" / "dataset"

GSM8K_ROWS = [
    {
        "question": f"Tom has {i} apples and buys 1,000 more. How many?",
        "answer": f"{i} + 1000 = <<{i}+1000={i + 1000}>>\n#### {i + 1000:,}",
    }
    for i in range(12)
]
MATH_ROWS = [
    {
        "problem": "Compute $1+1$.",
        "solution": "It is $\\boxed{2}$.",
        "answer": "2",
        "subject": "Algebra",
        "level": 1,
        "unique_id": "test/algebra/1.json",
    },
    {
        "problem": "Simplify $\\frac{2}{4}$.",
        "solution": "$\\boxed{\\frac12}$",
        "answer": "\\frac{1}{2}",
        "subject": "Prealgebra",
        "level": 2,
        "unique_id": "test/prealgebra/7.json",
    },
    {
        "problem": "What is $3^2$?",
        "solution": "$\\boxed{9}$",
        "answer": "9",
        "subject": "Algebra",
        "level": 1,
        "unique_id": "test/algebra/2.json",
    },
]


def write(path: Path, rows: list[dict]) -> str:
    """Write rows in the format the suffix names; return the path as a string, as a config gives it."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows, indent=1))
    else:
        pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), path)
    return str(path)


# --- synthetic -------------------------------------------------------------------------------

# Each template's answer from its stored numbers, written apart from the generator; Fraction keeps
# the division exact, so a non-whole answer would fail the comparison with int(gold).
RECOMPUTE = {
    "shopping": lambda x: x["bill"] - x["a"] * x["p"] - x["b"] * x["q"],
    "sharing": lambda x: Fraction(x["boxes"] * x["per_box"] - x["kept"], x["friends"]),
    "factory": lambda x: x["rate"] * x["hours"] * x["days"] - x["broken"] * x["days"],
    "cartons": lambda x: divmod(x["monday"] + x["tuesday"], x["size"])[1 if x["ask_left"] else 0],
    "discount": lambda x: x["count"] * x["price"] * (1 - Fraction(x["percent"], 100)),
    "ages": lambda x: 5 * x["young"] + x["gap"],
    "trip": lambda x: x["fast"] * x["fast_hours"] + x["slow"] * x["slow_hours"],
    "savings": lambda x: Fraction(x["goal"] - (x["weekly"] * x["weeks"] - x["spent"]), x["weekly"]),
    "wages": lambda x: x["rate"] * (5 * x["weekday_hours"] + x["saturday_hours"]),
    "school": lambda x: Fraction(x["students"] * 3, 8),
    "harvest": lambda x: x["rows"] * x["plants"] * x["per_plant"] // x["bag"],
}


def test_synthetic_answers_are_exact_modest_integers():
    problems = [p for seed in range(3) for p in load_synthetic(n=200, seed=seed)]
    assert {p.meta["template"] for p in problems} == set(RECOMPUTE)
    for p in problems:
        assert p.gold.isdigit() and int(p.gold) < 10000, p
        assert RECOMPUTE[p.meta["template"]](p.meta["numbers"]) == int(p.gold), p
        for value in p.meta["numbers"].values():
            assert str(value) in p.question or isinstance(value, bool), p


def test_synthetic_is_deterministic_by_seed_and_index():
    assert load_synthetic(n=20, seed=3) == load_synthetic(n=20, seed=3)
    assert [p.question for p in load_synthetic(n=20, seed=3)] != [
        p.question for p in load_synthetic(n=20, seed=4)
    ]
    # problem i does not depend on n, limit or shuffle
    by_id = {p.id: p for p in load_synthetic(n=30, seed=1)}
    for p in load_synthetic(n=10, seed=1) + load_synthetic(n=30, seed=1, limit=7, shuffle=True):
        assert by_id[p.id] == p
    assert load_synthetic(n=30, seed=1)[4].id == "synthetic-1-0004"


def test_synthetic_limit_and_shuffle():
    assert len(load_synthetic(n=50, limit=5)) == 5
    shuffled = load_synthetic(n=50, seed=2, limit=10, shuffle=True)
    assert shuffled == load_synthetic(n=50, seed=2, limit=10, shuffle=True)
    assert [p.id for p in shuffled] != [p.id for p in load_synthetic(n=50, seed=2, limit=10)]
    with pytest.raises(ReasoningError, match="dataset.limit"):
        load_synthetic(limit=-1)


# --- gsm8k and math500 from local files ------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_gsm8k_reads_every_format(tmp_path, suffix):
    problems = load_gsm8k(path=write(tmp_path / f"gsm{suffix}", GSM8K_ROWS), split="test")
    assert len(problems) == 12
    first = problems[3]
    assert isinstance(first, Problem)
    assert first.id == "gsm-00003"  # named after the file, not the hub split
    assert first.gold == "1003"  # the comma of "1,003" removed
    assert first.question == GSM8K_ROWS[3]["question"]
    assert first.meta["solution"] == "3 + 1000 = <<3+1000=1003>>"


def test_gsm8k_reads_json_lines_in_a_json_file(tmp_path):
    # `datasets.Dataset.to_json("x.json")` writes JSON lines, not an array
    path = tmp_path / "gsm.json"
    path.write_text("".join(json.dumps(row) + "\n" for row in GSM8K_ROWS))
    assert [p.gold for p in load_gsm8k(path=str(path))] == [str(i + 1000) for i in range(12)]


def test_gsm8k_ids_are_stable_across_limit_and_shuffle(tmp_path):
    path = write(tmp_path / "gsm.jsonl", GSM8K_ROWS)
    by_id = {p.id: p for p in load_gsm8k(path=path)}
    picked = load_gsm8k(path=path, limit=5, shuffle=True, seed=7)
    assert len(picked) == 5
    assert all(by_id[p.id] == p for p in picked)
    assert picked == load_gsm8k(path=path, limit=5, shuffle=True, seed=7)
    assert picked != load_gsm8k(path=path, limit=5, shuffle=True, seed=8)
    assert [p.id for p in load_gsm8k(path=path, limit=2)] == ["gsm-00000", "gsm-00001"]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_math500_reads_every_format(tmp_path, suffix):
    problems = load_math500(path=write(tmp_path / f"math{suffix}", MATH_ROWS))
    assert [p.id for p in problems] == [
        "math500-test/algebra/1",
        "math500-test/prealgebra/7",
        "math500-test/algebra/2",
    ]
    assert problems[1].gold == "\\frac{1}{2}"
    assert problems[1].meta["subject"] == "Prealgebra" and problems[1].meta["level"] == 2
    assert problems[1].meta["solution"] == "$\\boxed{\\frac12}$"


def test_math500_without_unique_id_uses_the_file_and_row(tmp_path):
    rows = [{k: v for k, v in row.items() if k != "unique_id"} for row in MATH_ROWS]
    problems = load_math500(
        path=write(tmp_path / "m.jsonl", rows), split="train", limit=2, shuffle=True, seed=1
    )
    assert {p.id for p in problems} <= {"m-00000", "m-00001", "m-00002"}
    assert len(problems) == 2


# --- malformed rows and missing files --------------------------------------------------------


def gsm8k_with_bad_rows(tmp_path) -> str:
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(row) for row in GSM8K_ROWS[:3]]
    lines.insert(1, "")  # a blank line is not a row, but it counts for line numbers
    lines.append(json.dumps({"question": "No answer here."}))  # line 5
    lines.append(json.dumps({"question": "Q?", "answer": "no final marker"}))  # line 6
    lines.append('{"question": "broken')  # line 7
    lines.append(json.dumps({"question": "  ", "answer": "#### 1"}))  # line 8
    lines.append(json.dumps(GSM8K_ROWS[3]))  # line 9: fine, row index 7
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_malformed_row_error_names_file_line_and_fix(tmp_path):
    path = gsm8k_with_bad_rows(tmp_path)
    with pytest.raises(ReasoningError) as caught:
        load_gsm8k(path=path)
    message = str(caught.value)
    assert message.startswith(f"{path} line 5: missing field 'answer'")
    assert "dataset.on_malformed=skip" in message and "\n" not in message


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([{"question": "Q?", "answer": "no final marker"}], "line 1: answer does not end in '#### N'"),
        ([{"question": "", "answer": "#### 1"}], "line 1: empty field 'question'"),
        (["not an object"], "line 1: not a JSON object"),
    ],
)
def test_each_kind_of_malformed_row_is_named(tmp_path, rows, problem):
    with pytest.raises(ReasoningError, match=problem):
        load_gsm8k(path=write(tmp_path / "x.jsonl", rows))


def test_invalid_json_line_is_named(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(GSM8K_ROWS[0]) + "\n{oops\n")
    with pytest.raises(ReasoningError, match=r"x.jsonl line 2: invalid JSON"):
        load_gsm8k(path=str(path))


def test_malformed_math500_row_names_parquet_row(tmp_path):
    rows = [MATH_ROWS[0], {**MATH_ROWS[1], "answer": None}]
    with pytest.raises(ReasoningError, match=r"m.parquet row 1: missing field 'answer' \(MATH-500 rows need"):
        load_math500(path=write(tmp_path / "m.parquet", rows))


def test_skip_mode_drops_and_counts_malformed_rows(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        problems = load_gsm8k(path=gsm8k_with_bad_rows(tmp_path), on_malformed="skip")
    assert [p.id for p in problems] == ["bad-00000", "bad-00001", "bad-00002", "bad-00007"]
    assert "skipped 4 malformed rows of 8" in caplog.text


def test_unknown_policy_and_missing_path_are_errors(tmp_path):
    with pytest.raises(ReasoningError, match="on_malformed"):
        load_gsm8k(path=write(tmp_path / "g.jsonl", GSM8K_ROWS), on_malformed="ignore")
    missing = str(tmp_path / "nowhere.jsonl")
    with pytest.raises(ReasoningError, match=f"dataset file {missing} does not exist"):
        load_math500(path=missing)
    (tmp_path / "g.csv").write_text("question,answer\n")
    with pytest.raises(ReasoningError, match="suffix '.csv'"):
        load_gsm8k(path=str(tmp_path / "g.csv"))


def test_hub_failure_is_one_line_with_the_fix(tmp_path):
    # Offline mode and an empty cache: `datasets` fails at once, without the network. A fresh
    # process, because `datasets` reads HF_HUB_OFFLINE when it is imported.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    code = (
        "from reasoning.data import load_gsm8k\n"
        "try: load_gsm8k()\n"
        "except Exception as e: print(type(e).__name__, e)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=CONF.parents[1], capture_output=True, text=True
    )
    assert out.stdout.startswith("ReasoningError could not load openai/gsm8k"), out.stderr
    assert out.stdout.rstrip().endswith("set dataset.path to a local copy")


# --- conf/dataset presets ---------------------------------------------------------------------


def test_every_dataset_preset_instantiates(tmp_path):
    local = {
        "gsm8k.yaml": write(tmp_path / "gsm.jsonl", GSM8K_ROWS),
        "math500.yaml": write(tmp_path / "math.parquet", MATH_ROWS),
    }
    presets = sorted(CONF.glob("*.yaml"))
    assert {p.name for p in presets} >= {"synthetic.yaml", "gsm8k.yaml", "math500.yaml"}
    for preset in presets:
        cfg = OmegaConf.load(preset)
        if "path" in cfg:
            assert cfg.path is None  # the hub by default; tests never touch the network
            cfg.path = local[preset.name]
        problems = instantiate(cfg)
        assert problems and all(isinstance(p, Problem) for p in problems), preset.name
        assert len(problems) == (cfg.limit or len(problems))


def test_the_shared_public_copy_keeps_the_hub_splits_ids(tmp_path):
    """results/runs/gsm8k was made from ../shared/data/gsm8k_test_public.jsonl with ids gsm8k-test-N: it resumes."""
    (tmp_path / "shared").mkdir()
    copy = write(tmp_path / "shared" / "gsm8k_test_public.jsonl", GSM8K_ROWS)
    assert [p.id for p in load_gsm8k(path=copy, limit=2)] == ["gsm8k-test-00000", "gsm8k-test-00001"]
    other = write(tmp_path / "my_problems.jsonl", GSM8K_ROWS)
    assert [p.id for p in load_gsm8k(path=other, limit=1)] == ["my_problems-00000"]
    rows = [{k: v for k, v in row.items() if k != "unique_id"} for row in MATH_ROWS]
    assert [p.id for p in load_math500(path=write(tmp_path / "mine.jsonl", rows))][:1] == ["mine-00000"]


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_file_saved_with_a_utf8_bom_is_read_whole(tmp_path, suffix):
    path = tmp_path / f"bom{suffix}"
    body = ("".join(json.dumps(row) + "\n" for row in GSM8K_ROWS) if suffix == ".jsonl"
            else json.dumps(GSM8K_ROWS))
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    problems = load_gsm8k(path=str(path))
    assert len(problems) == 12 and problems[0].question == GSM8K_ROWS[0]["question"]
