"""The researcher's path on real (tiny) models: a CLI sweep of all four settings, the report, the notebook."""
import os
import shutil
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
    df = load(ROOT / "results" / "runs" / "gsm8k")
    assert df.groupby("setting").size().to_dict() == {"baseline": 100, "feedback": 100, "skyline": 100,
                                                        "speculative": 200}
    assert df.teacher_computed_tokens.notna().all()  # measured with the prefix-cache engine
    assert df.groupby("setting").correct.mean()["skyline"] > df.groupby("setting").correct.mean()["baseline"]
    on_vllm = load(ROOT / "results" / "runs" / "gsm8k-vllm")  # the same 100 problems on the vLLM backend
    assert on_vllm.groupby("setting").size().to_dict() == {"baseline": 100, "feedback": 100, "skyline": 100,
                                                             "speculative": 200}
    assert (on_vllm.loc[on_vllm.setting == "feedback", "setting.refine_format"] == "chat").all()  # the default
    assert set(on_vllm.id) == set(df.id)
    knobs = on_vllm[on_vllm.setting == "speculative"].groupby(["setting.granularity", "setting.criterion"]).size()
    assert knobs.to_dict() == {("step", "logprob"): 100, ("token", "argmax"): 100}
    refine = load(ROOT / "results" / "runs" / "gsm8k-refine")  # feedback's chat format on the same problems
    assert (refine["setting.refine_format"] == "chat").all()
    greedy, sampled = (refine[refine["student.generation.do_sample"] == s] for s in (False, True))
    assert len(greedy) == 100 and set(greedy.id) == set(df.id)
    assert len(sampled) <= 40 and set(sampled.id) <= set(df.id)  # the sampled refine, on the first of them
    frontier = ROOT / "results" / "runs" / "gsm8k-frontier"  # speculative criteria on the first of them
    points = load(frontier) if frontier.is_dir() else df.iloc[:0]
    assert (points.setting == "speculative").all() and set(points.id) <= set(df.id)
    assert len(load(ROOT / "results" / "runs")) == 500 + len(on_vllm) + len(refine) + len(points)  # every folder, as the notebook opens them


# --- the README's main job, as a new user runs it: default run folder, console as printed ----------
MAIN_JOB = ["student=tiny", "teacher=tiny-teacher", "dataset.limit=2", "setting.max_new_tokens=16",
            "setting.review_max_new_tokens=16"]


def _main_job(cwd, env=None, argv=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}  # cwd is not the checkout: import this one
    return subprocess.run(argv or [sys.executable, "-m", "reasoning", *MAIN_JOB], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("user")
    done = _main_job(cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    return cwd, done


def test_the_main_job_into_the_default_folder_prints_no_warning(main_job):
    cwd, done = main_job
    assert "Warning" not in done.stderr and "warn" not in done.stderr.lower(), done.stderr[-2000:]
    assert len(list((cwd / "outputs").glob("*/*-feedback/results.jsonl"))) == 1  # the default folder


def test_the_pre_flight_check_sees_the_default_folder(tmp_path):
    """The default hydra.run.dir interpolates HydraConfig: the check must resolve it, and refuse a file there."""
    (tmp_path / "outputs").write_text("a file where the run folders go")
    done = _main_job(tmp_path)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert done.stderr.startswith("error: hydra.run.dir=outputs/") and "Warning" not in done.stderr


def test_the_bar_moves_every_round_and_log_lines_stay_off_it(main_job):
    _, done = main_job
    frames = [f for f in done.stderr.replace("\n", "\r").split("\r") if f.startswith("feedback:")]
    rounds = [line.split(" round ")[1].split(":")[0] for line in done.stdout.splitlines() if " round " in line]
    assert rounds == ["1", "2", "3"][:len(rounds)] and rounds
    for number in rounds:  # each round's status reached the bar
        assert any(f"round {number}:" in f for f in frames), frames
    assert frames[-1].startswith("feedback: 100%") and "2/2" in frames[-1]
    assert not any("[reasoning" in f for f in frames)  # no log line printed onto the bar's line


def test_the_bar_shows_the_tokens_being_written_between_rounds(tiny_student):
    """Within a model call the bar says which model writes how far (read at every redraw)."""
    from reasoning import progress
    from reasoning.run import _BarText

    class Bar:
        def set_postfix_str(self, text, refresh):
            shown.append(text)

    shown, text, model = [], None, tiny_student
    with progress.listen(lambda line: None):
        text = _BarText(Bar())
        progress.decoding("probe", 3, 16, 2)
        text.show()
        model.generate([model.encode_chat("1 + 1 =")] * 2, 6)
        text.show()  # the call is over: its progress is no longer shown as current
    assert shown[0] == "probe writing 3/16 tokens (2 rows)" and shown[1] == ""
    with progress.listen(lambda line: None):
        seen = []
        original = progress.decoding
        progress.decoding = lambda *a: seen.append(a) or original(*a)
        try:
            model.generate([model.encode_chat("2 + 2 =")], 5)
        finally:
            progress.decoding = original
    assert [a[1] for a in seen] == list(range(1, len(seen) + 1)) and seen[0][2] == 5  # every step, budget 5


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script` for a real terminal")
def test_a_first_run_in_a_real_terminal_is_quiet(tmp_path):
    """In a terminal (where tokenizers and tqdm draw), building the tiny models prints no training bars."""
    command = " ".join([sys.executable, "-m", "reasoning", *MAIN_JOB])
    done = _main_job(tmp_path, env={"REASONING_CACHE": str(tmp_path / "cache")},
                     argv=["script", "-qec", command, str(tmp_path / "console.txt")])
    console = (tmp_path / "console.txt").read_text(errors="replace")
    assert done.returncode == 0, console[-2000:]
    assert (tmp_path / "cache" / "tiny").is_dir()  # built in this run
    assert "Warning" not in console and "Pre-processing" not in console and "Count pairs" not in console, console


def test_joining_a_bundled_model_shows_its_bytes(tmp_path, capsys):
    """The first run's conversion is minutes: the join reports progress in bytes, the check still holds."""
    import hashlib

    from reasoning.models.bundled import BundledModel, _join

    parts = [tmp_path / "a", tmp_path / "b"]
    for part, text in zip(parts, (b"x" * 3000, b"y" * 2000)):
        part.write_bytes(text)
    model = BundledModel("m", (), 5000, hashlib.sha256(b"x" * 3000 + b"y" * 2000).hexdigest(), "m.gguf", 0)
    _join(parts, tmp_path / "m.gguf", model)
    err = capsys.readouterr().err
    assert "joining m" in err and "5.00k/5.00k" in err, err
    assert (tmp_path / "m.gguf").stat().st_size == 5000


def test_the_gguf_dtype_advice_is_dropped_and_other_warnings_kept(caplog):
    import logging

    from reasoning.models.bundled import dropped

    name = "transformers.quantizers.quantizer_gguf"
    with dropped(name, "Pass `dtype=torch.float32`"), caplog.at_level(logging.WARNING):
        logging.getLogger(name).warning("fastest in float32. Pass `dtype=torch.float32` to avoid it")
        logging.getLogger(name).warning("a real problem")
    assert [r.getMessage() for r in caplog.records] == ["a real problem"]
