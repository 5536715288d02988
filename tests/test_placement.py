"""Placement by role over fake device inventories (0, 1, 2, 4, 8 GPUs), its errors, and real tiny models on cpu."""
import json

import pytest
import torch
from omegaconf import OmegaConf

from reasoning.environment import plan_placements
from reasoning.errors import ReasoningError
from reasoning.models import placement as pl
from reasoning.models.placement import GIB, HEADROOM, Inventory, Placement, check_fits, place
from tests.conftest import compose

H100 = 80 * GIB


def gpus(n, size=H100):
    return Inventory((size,) * n)


# GPUs -> (student auto, teacher auto, GPUs a teacher with device_map=auto spreads over)
LAYOUTS = {
    0: ("cpu", "cpu", ()),
    1: ("cuda:0", "cuda:0", (0,)),  # one GPU: the teacher shares the student's
    2: ("cuda:0", "cuda:1", (1,)),
    4: ("cuda:0", "cuda:1", (1, 2, 3)),
    8: ("cuda:0", "cuda:1", (1, 2, 3, 4, 5, 6, 7)),
}


@pytest.mark.parametrize("n", LAYOUTS)
def test_auto_places_by_role(n):
    student, teacher, spread = LAYOUTS[n]
    assert place("student", "auto", inventory=gpus(n)).device == student
    assert place("teacher", "auto", inventory=gpus(n)).device == teacher
    big = place("teacher", "auto", "auto", inventory=gpus(n))
    assert big.gpus == spread
    assert 0 not in big.max_memory or n == 1  # the student's GPU is left out whenever there is another
    if n:
        assert big.kwargs() == {"device_map": "auto", "max_memory": {g: int(H100 * HEADROOM) for g in spread}}
    else:
        assert big.kwargs() == {"device_map": "cpu"}


def test_the_teacher_keeps_off_wherever_the_student_went():
    assert place("teacher", "auto", inventory=gpus(4), student_gpus=(1,)).device == "cuda:0"
    assert place("teacher", "auto", "auto", inventory=gpus(4), student_gpus=()).gpus == (0, 1, 2, 3)  # student on cpu


def test_a_given_max_memory_overrides_the_computed_one():
    mine = place("teacher", None, "auto", {1: "40GiB", 2: "40GiB"}, gpus(4))
    assert mine.kwargs() == {"device_map": "auto", "max_memory": {1: "40GiB", 2: "40GiB"}}
    with pytest.raises(ReasoningError, match=r"teacher.max_memory names GPU 5 but this machine has only GPUs 0..3"):
        place("teacher", None, "auto", {1: "40GiB", 5: "40GiB"}, gpus(4))


@pytest.mark.parametrize("kwargs, message", [
    (dict(device="cuda:0", device_map="auto"),
     "teacher.device=cuda:0 and teacher.device_map=auto are both set; keep one (e.g. teacher.device_map=null)"),
    (dict(device="cpu", max_memory={1: "4GiB"}), "teacher.max_memory is set but teacher.device_map is not"),
    (dict(device="cuda:2"), "teacher.device=cuda:2 but this machine has only cuda:0..cuda:1; set teacher.device=cpu or auto"),
])
def test_conflicts_are_one_line_errors(kwargs, message):
    with pytest.raises(ReasoningError) as error:
        place("teacher", inventory=gpus(2), **kwargs)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_two_models_forced_onto_one_gpu_that_cannot_hold_them(monkeypatch):
    monkeypatch.setattr(pl, "PLACED", {"student": {"gpus": [0]}})
    on_zero = place("teacher", "cuda:0", inventory=gpus(2, 24 * GIB))
    with pytest.raises(ReasoningError) as error:  # 8B teacher in bf16 where the 8B student left 8 GiB
        check_fits(on_zero, 16 * GIB, {0: 8 * GIB}, "bfloat16")
    assert str(error.value) == (
        "teacher needs ~16.0 GiB for its bfloat16 parameters but cuda:0 has 8.0 GiB free (student already there); "
        "put teacher on another GPU (teacher.device=cuda:N or teacher.device_map=auto) or use a smaller dtype")
    check_fits(place("teacher", "auto", inventory=gpus(2, 24 * GIB)), 16 * GIB, {1: 24 * GIB}, "bfloat16")


def test_a_spread_is_checked_against_its_max_memory():
    table = place("teacher", None, "auto", {1: "40GiB", 2: "40GiB"}, gpus(4))
    with pytest.raises(ReasoningError, match=r"~131.0 GiB .* cuda:1, cuda:2 has 80.0 GiB free"):
        check_fits(table, 131 * GIB, {g: H100 for g in range(4)}, "bfloat16")
    check_fits(place("teacher", None, "auto", None, gpus(4)), 131 * GIB, {g: H100 for g in range(4)}, "bfloat16")
    # A table with cpu (or disk) offloads what the GPUs cannot hold: accelerate splits it, we do not refuse.
    split = place("teacher", None, "auto", {0: "600MiB", "cpu": "8GiB"}, gpus(1))
    check_fits(split, 1 * GIB, {0: H100}, "bfloat16")
    with pytest.raises(ReasoningError, match="8.6 GiB free"):
        check_fits(split, 16 * GIB, {0: H100}, "bfloat16")


@pytest.mark.parametrize("n, teacher_gpus", [(4, [1, 2, 3]), (8, [1, 2, 3, 4, 5, 6, 7])])
def test_llama_presets_put_the_student_on_gpu0_and_the_teacher_on_the_rest(monkeypatch, n, teacher_gpus):
    monkeypatch.setattr(Inventory, "here", classmethod(lambda cls: gpus(n)))
    config = OmegaConf.to_container(compose("student=llama3-8b-instruct", "teacher=llama3-70b-instruct"))
    plan = plan_placements(config)
    assert plan["student"]["gpus"] == [0] and plan["teacher"]["gpus"] == teacher_gpus
    small = plan_placements(OmegaConf.to_container(compose("student=llama3-8b-instruct", "teacher=llama3-8b-instruct")))
    assert small["student"]["planned"] == "cuda:0" and small["teacher"]["planned"] == "cuda:1"


def test_real_tiny_models_on_cpu_record_where_they_are(monkeypatch):
    from reasoning.models.loaders import load_tiny

    monkeypatch.setattr(pl, "PLACED", {})
    monkeypatch.setattr(Inventory, "here", classmethod(lambda cls: Inventory()))
    student = load_tiny("tiny", role="student", device="auto")
    teacher = load_tiny("tiny-teacher", role="teacher", device="auto")
    for role, model in (("student", student), ("teacher", teacher)):
        entry = pl.PLACED[role]
        assert entry["devices"] == ["cpu"] and entry["dtype"] == "float32" and entry["gpus"] == []
        assert entry["parameter_bytes"] == model.model.num_parameters() * 4
        assert next(model.model.parameters()).device == torch.device("cpu")


def test_a_run_records_the_planned_placement(tmp_path):
    from reasoning.run import run

    run(compose("setting=baseline", "student=tiny", "dataset.limit=1", "setting.max_new_tokens=2",
                "run.progress=false"), tmp_path)
    models = json.loads((tmp_path / "environment.json").read_text())["models"]
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert models["student"]["planned"] == "cpu" and models["student"]["dtype"] == "float32"
    assert models["teacher"]["planned"] in ("cpu", expected)


def test_a_placement_describes_itself():
    assert Placement("student", device="cuda:0").describe() == "cuda:0"
    assert place("teacher", None, "auto", None, gpus(4)).describe() == "device_map=auto over cuda:1, cuda:2, cuda:3"
