"""conf/experiment/: every reported run or sweep composes, validates and lands in its pinned folder."""

import pytest
import yaml
from omegaconf import OmegaConf, open_dict

from reasoning.results.identity import flatten
from reasoning.validate import validate
from tests.conftest import CONF

EXPERIMENTS = {"gsm8k_table": "results/runs/gsm8k", "frontier": "results/runs/gsm8k-frontier",
               "refine": "results/runs/gsm8k-refine"}


def sweep_points(experiment: str) -> list[str]:
    params = yaml.safe_load((CONF / "experiment" / f"{experiment}.yaml").read_text())["hydra"]["sweeper"]["params"]
    return params[f"experiment/{experiment}"].split(",")


def composed(experiment: str, point: str):
    from hydra import compose as hydra_compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        # As the sweeper composes each job: its point first, then the experiment.
        return hydra_compose(config_name="config", return_hydra_config=True,
                             overrides=[f"experiment/{experiment}={point}", f"+experiment={experiment}"])


def own_values(experiment: str, point: str) -> dict:
    """The dotted keys a point file sets itself (not its defaults list or its folder name)."""
    own = yaml.safe_load((CONF / "experiment" / experiment / f"{point}.yaml").read_text()) or {}
    own.pop("defaults", None), own.pop("hydra", None)
    return flatten(own)


CASES = [(e, p) for e in EXPERIMENTS for p in sweep_points(e)]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_point_of_a_sweep_has_its_file_and_no_file_is_left_out(experiment):
    files = sorted(p.stem for p in (CONF / "experiment" / experiment).glob("*.yaml"))
    assert sorted(sweep_points(experiment)) == files


@pytest.mark.parametrize("experiment, point", CASES, ids=[f"{e}-{p}" for e, p in CASES])
def test_each_experiment_point_composes_validates_and_has_its_own_folder(experiment, point, tmp_path):
    cfg = composed(experiment, point)
    assert cfg.hydra.sweep.dir == EXPERIMENTS[experiment] and cfg.hydra.sweep.subdir == point
    assert cfg.dataset.path == "../shared/data/gsm8k_test_public.jsonl"
    assert cfg.dataset.limit == own_values(experiment, point).get("dataset.limit", 100)
    assert cfg.dataset.shuffle and cfg.dataset.seed == 0
    rows = tmp_path / "gsm8k.jsonl"
    rows.write_text('{"question": "1+1?", "answer": "#### 2"}\n')
    config = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    with open_dict(config):
        del config["hydra"]
        config.dataset.path = str(rows)  # the shared copy lives next to the main checkout, not in every worktree
    validate(config)


@pytest.mark.parametrize("experiment, point", CASES, ids=[f"{e}-{p}" for e, p in CASES])
def test_a_points_own_values_win_over_the_experiments_shared_ones(experiment, point):
    """A point file is composed after the experiment's common block: chat-sampled's 40 problems are 40."""
    cfg = composed(experiment, point)
    assert {k: OmegaConf.select(cfg, k) for k in own_values(experiment, point)} == own_values(experiment, point)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_the_command_line_check_passes_a_sweep_and_names_a_missing_point(experiment):
    """`-m +experiment=NAME` takes its points from the sweeper; one run without a point is one line."""
    from reasoning.__main__ import CONFIG_DIR
    from reasoning.command_line import check
    from reasoning.errors import ReasoningError

    check(["-m", f"+experiment={experiment}"], CONFIG_DIR)
    check([f"experiment/{experiment}={sweep_points(experiment)[0]}", f"+experiment={experiment}"], CONFIG_DIR)
    with pytest.raises(ReasoningError, match=f"You must specify 'experiment/{experiment}'"):
        check([f"+experiment={experiment}"], CONFIG_DIR)
    with pytest.raises(ReasoningError, match="did you mean dataset.limit"):
        check(["-m", f"+experiment={experiment}", "dataset.limt=3"], CONFIG_DIR)


@pytest.mark.parametrize("point, knobs", [
    ("4-speculative-token-argmax", dict(granularity="token", criterion="argmax")),
    ("3-speculative", dict(granularity="step", criterion="logprob", threshold=-0.8, aggregate="mean")),
])
def test_the_table_runs_speculative_as_the_shipped_script_did(point, knobs):
    setting = composed("gsm8k_table", point).setting
    assert setting._target_.endswith("Speculative") and {k: setting[k] for k in knobs} == knobs


def test_the_frontier_points_differ_only_in_their_criterion_knobs():
    points = {p: OmegaConf.to_container(composed("frontier", p).setting) for p in sweep_points("frontier")}
    assert points["logprob-min-4.6"]["aggregate"] == "min" and points["logprob-min-4.6"]["threshold"] == -4.6
    assert points["score-8"]["criterion"] == "score" and points["score-8"]["score_threshold"] == 8
    assert points["judge-0"]["criterion"] == "judge"
    shared = {k for k in points["score-7"] if k not in ("criterion", "aggregate", "threshold", "score_threshold",
                                                         "judge_threshold")}
    assert all(len({str(s[k]) for s in points.values()}) == 1 for k in shared)  # same granularity, drafts, budgets
    assert all(s["granularity"] == "step" for s in points.values())
