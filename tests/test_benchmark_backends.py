"""benchmarks/backends.py on the tiny pair: a cell is measured once, a rerun skips it, a cut-short cell starts over."""
import json
import subprocess
import sys

from tests.conftest import ROOT, benchmark_script

SCRIPT = ROOT / "benchmarks" / "backends.py"
backends = benchmark_script("backends")

TINY = ["--backends", "hf", "--settings", "baseline", "--batch", "2", "--problems", "2", "--tokens", "4",
        "--", "student=tiny", "teacher=tiny-teacher"]


def bench(out):
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *TINY], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_a_rerun_keeps_measured_cells_and_a_cut_short_cell_is_measured_from_scratch(tmp_path):
    first = bench(tmp_path)
    assert first.returncode == 0, first.stderr
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert [(r["backend"], r["setting"], r["batch"]) for r in rows] == [("hf", "baseline", 2)]
    assert "error" not in rows[0] and rows[0]["wall"] > 0
    folder = tmp_path / "hf-baseline-b2"
    assert len((folder / "results.jsonl").read_text().splitlines()) == 2

    second = bench(tmp_path)  # every cell measured: nothing runs again, the same row is reported
    assert second.returncode == 0, second.stderr
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == 1
    assert f"| {rows[0]['wall']:.0f} |" in (tmp_path / "backends.md").read_text()

    # A cell cut short (its folder holds one record, rows.jsonl none): measured again over both problems,
    # not resumed over the one left.
    (tmp_path / "rows.jsonl").unlink()
    records = (folder / "results.jsonl").read_text().splitlines()
    (folder / "results.jsonl").write_text(records[0] + "\n")
    third = bench(tmp_path)
    assert third.returncode == 0, third.stderr
    assert len((folder / "results.jsonl").read_text().splitlines()) == 2
    assert "1 already done" not in (folder / "__main__.log").read_text()
    assert len((folder / "history.jsonl").read_text().splitlines()) == 1  # one start: a fresh folder


def test_the_ratios_name_each_target_from_the_rows():
    rows = [dict(backend=b, setting=s, batch=n, solve=t, wall=t, load=0, **{f"{r}_tok_s": v})
            for b, s, n, t, r, v in [("hf", "baseline", 8, 10, "student", 10.0), ("vllm", "baseline", 8, 8, "student", 15.0),
                                     ("vllm", "skyline", 8, 20, "teacher", 5.0), ("vllm", "skyline", 32, 20, "teacher", 12.0),
                                     ("vllm", "speculative-token", 8, 30, "teacher", 1.0)]]
    said = backends.ratios(rows, 8)
    assert said == ["vLLM / transformers tokens/s, baseline batch 8: 1.50 (target >= 1.4)",
                    "vLLM skyline throughput batch 32 / batch 8: 2.40 (target >= 2)",
                    "vLLM speculative token/argmax solve time / skyline solve time, batch 8: 1.50 (target <= 1)"]
