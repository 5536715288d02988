import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # bundled and tiny models never need the network

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"


@pytest.fixture(scope="session")
def tiny_student():
    from reasoning.models.loaders import load_tiny
    return load_tiny("tiny", role="student")


@pytest.fixture(scope="session")
def tiny_teacher():
    from reasoning.models.loaders import load_tiny
    return load_tiny("tiny-teacher", role="teacher")


@pytest.fixture(scope="session")
def problems():
    from reasoning.data import load_synthetic
    return load_synthetic(n=8, limit=8)


def compose(*overrides: str):
    """The real config, composed as `python -m reasoning OVERRIDES` would."""
    from hydra import compose as hydra_compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))
