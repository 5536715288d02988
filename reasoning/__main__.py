"""`python -m reasoning setting=NAME ...`: compose the Hydra config and run it."""
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from reasoning.errors import ReasoningError

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
log = logging.getLogger("reasoning")


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from reasoning.run import run

    try:
        summary = run(cfg)
    except ReasoningError as error:
        log.error("%s", error)
        if _in_sweep():  # let the launcher report it at once as this job's error
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    accuracy = "n/a" if summary["accuracy"] is None else f"{summary['accuracy']:.3f}"
    print(f"{summary['setting']}: accuracy {accuracy} on {summary['n']} problems; results in {summary['run_dir']}")
    return summary["accuracy"]  # the value a Hydra sweeper would optimise


def _in_sweep() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.get().mode == RunMode.MULTIRUN


if __name__ == "__main__":
    main()
