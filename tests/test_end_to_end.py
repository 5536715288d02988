"""The researcher's path on real (tiny) models: a CLI sweep of all four settings, the report, the notebook."""
import subprocess
import sys

import pytest

from reasoning.results import load, load_events
from tests.conftest import ROOT
from tests.fixtures_results import execute_notebook

SETTINGS = ["baseline", "skyline", "feedback", "speculative"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    done = subprocess.run(
        [sys.executable, "-m", "reasoning", "-m", f"setting={','.join(SETTINGS)}", "student=tiny",
         "teacher=tiny-teacher", "dataset.limit=3", "setting.max_new_tokens=8", "run.progress=false",
         f"hydra.sweep.dir={out}"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_the_sweep_loads_into_one_frame(sweep):
    df = load(sweep)
    assert sorted(df.setting.unique()) == sorted(SETTINGS)
    assert df.groupby("setting").size().tolist() == [3, 3, 3, 3]
    assert (df.loc[df.setting == "baseline", "teacher_generated_tokens"] == 0).all()
    assert (df.loc[df.setting == "skyline", "teacher_generated_tokens"] > 0).all()
    assert len(load_events(sweep, level="rounds")) >= 3


def test_report_runs_on_the_sweep(sweep, tmp_path):
    done = subprocess.run([sys.executable, "-m", "reasoning.report", str(sweep), "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert all(f"| {s}" in done.stdout for s in SETTINGS)
    assert (tmp_path / "cost_accuracy.png").stat().st_size > 1000


def test_the_notebook_executes_on_the_sweep(sweep, monkeypatch):
    outputs = execute_notebook(ROOT / "results" / "compare_settings.ipynb", [sweep], monkeypatch)
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_the_shipped_measured_runs_still_load():
    """results/runs/ holds the measured bundled-pair runs the notebook opens by default."""
    df = load(ROOT / "results" / "runs")
    assert df.groupby("setting").size().to_dict() == {"baseline": 100, "feedback": 100, "skyline": 100,
                                                        "speculative": 200}
    assert df.teacher_computed_tokens.notna().all()  # measured with the prefix-cache engine
    assert df.groupby("setting").correct.mean()["skyline"] > df.groupby("setting").correct.mean()["baseline"]
