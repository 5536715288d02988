"""Every config composes; every node's keys match its target's signature; the CLI behaves as Hydra users expect."""
import inspect
import subprocess
import sys

import pytest
from hydra.utils import get_method, instantiate
from omegaconf import OmegaConf

from tests.conftest import CONF, ROOT, compose

GROUPS = {group: sorted(p.stem for p in (CONF / group).glob("*.yaml")) for group in ("setting", "model", "dataset", "grader")}


def _check_signature(node, extra=()):
    target = get_method(node["_target_"])
    params = inspect.signature(target).parameters
    keys = {k for k in node if not k.startswith("_")} | set(extra)
    assert keys <= set(params), f"{node['_target_']} has no parameter {keys - set(params)}"


@pytest.mark.parametrize("name", GROUPS["model"])
def test_every_model_preset_matches_its_loader_and_composes_as_student_and_teacher(name):
    cfg = compose(f"student={name}", f"teacher={name}")
    assert cfg.student == cfg.teacher
    _check_signature(OmegaConf.to_container(cfg.student), extra=["role"])


@pytest.mark.parametrize("name", GROUPS["setting"])
def test_every_setting_composes_and_instantiates_on_tiny_models(name, tiny_student, tiny_teacher):
    cfg = compose(f"setting={name}", "student=tiny", "teacher=tiny-teacher")
    params = inspect.signature(get_method(cfg.setting._target_)).parameters
    models = {k: v for k, v in dict(student=tiny_student, teacher=tiny_teacher).items() if k in params}
    setting = instantiate(cfg.setting, **models)
    assert setting.name == name


@pytest.mark.parametrize("name", GROUPS["dataset"])
def test_every_dataset_preset_matches_its_loader(name):
    _check_signature(OmegaConf.to_container(compose(f"dataset={name}").dataset))


def test_default_dataset_and_grader_instantiate():
    cfg = compose()
    problems = instantiate(cfg.dataset)
    assert problems and len({p.id for p in problems}) == len(problems)
    grader = instantiate(cfg.grader)
    assert grader("The answer is 42.", "42").correct


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "reasoning", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_cli_help_and_cfg_job():
    help_ = _cli("--help")
    assert help_.returncode == 0 and "setting: baseline, feedback, skyline, speculative" in help_.stdout
    job = _cli("setting=speculative", "setting.granularity=token", "--cfg", "job")
    assert job.returncode == 0 and "granularity: token" in job.stdout


def test_cli_unknown_setting_is_one_line_with_the_options():
    # Checked before Hydra composes (reasoning.command_line): one line, exit 2, every option named.
    result = _cli("setting=nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: no setting named nope (options: baseline, feedback, skyline, speculative)"]


def test_cli_missing_device_is_a_one_line_error(tmp_path):
    result = _cli("setting=baseline", "student=tiny", "student.device=cuda:7", "dataset.limit=1",
                  f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "cuda:7" in line]
    assert errors == [result.stderr.strip().splitlines()[-1]], "one line, the last, names the problem"
    assert errors[0].startswith("error: student.device=cuda:7 but this machine has")
    assert errors[0].endswith("set student.device=cpu or auto")
    assert "Traceback" not in result.stderr


def test_cli_multirun_sweep_writes_one_run_per_setting(tmp_path):
    result = _cli("-m", "setting=baseline,skyline", "student=tiny", "teacher=tiny-teacher", "dataset.limit=2",
                  "setting.max_new_tokens=4", "run.progress=false", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    runs = sorted(p.parent.name for p in tmp_path.glob("*/results.jsonl"))
    assert runs == ["0-baseline", "1-skyline"]


def test_cli_runs_a_local_gsm8k_file_and_names_a_malformed_row(tmp_path):
    import json
    data = tmp_path / "gsm8k.jsonl"
    rows = [{"question": "What is 2 + 3?", "answer": "2 + 3 = 5\n#### 5"},
            {"question": "What is 1,000 + 1?", "answer": "#### 1,001"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ok = _cli("setting=baseline", "student=tiny", "dataset=gsm8k", f"dataset.path={data}",
              "setting.max_new_tokens=4", "run.progress=false", f"hydra.run.dir={tmp_path / 'run'}")
    assert ok.returncode == 0, ok.stderr
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert [(r["id"], r["gold"]) for r in records] == [("gsm8k-00000", "5"), ("gsm8k-00001", "1001")]

    with open(data, "a") as f:
        f.write(json.dumps({"question": "No answer here"}) + "\n")
    bad = _cli("setting=baseline", "student=tiny", "dataset=gsm8k", f"dataset.path={data}",
               f"hydra.run.dir={tmp_path / 'bad'}")
    assert bad.returncode == 2
    assert f"{data} line 3: missing field 'answer'" in bad.stderr and "Traceback" not in bad.stderr


def test_prompt_without_a_needed_field_is_refused(tmp_path):
    from reasoning.errors import ReasoningError
    from reasoning.settings.baseline import Baseline
    from reasoning.validate import check_arguments

    blind = tmp_path / "blind.txt"
    blind.write_text("Solve it step by step.\n")  # no $question: the model would never see the problem
    with pytest.raises(ReasoningError, match=r"setting.prompt=.*blind.txt does not use \$question"):
        check_arguments(Baseline, "setting", {"prompt": str(blind)})
    seeing = tmp_path / "seeing.txt"
    seeing.write_text("Problem: ${question}\n")
    check_arguments(Baseline, "setting", {"prompt": str(seeing)})


def test_check_knobs_gets_every_knob_with_defaults():
    from reasoning.validate import check_arguments

    seen = {}

    class Setting:
        def __init__(self, student, alpha: int = 1, beta: str = "b"):
            pass

        @classmethod
        def check_knobs(cls, knobs):
            seen.update(knobs)

    check_arguments(Setting, "setting", {"alpha": 3})
    assert seen == {"alpha": 3, "beta": "b"}
