"""`python -m reasoning setting=NAME ...`: compose the Hydra config and run it.

Whatever goes wrong reaches the user as one line on stderr and an exit code != 0: a bad knob, a
folder in use, an interrupt, a full or read-only disk. `reasoning.validate.CheckFirst` (a Hydra
callback, conf/config.yaml) checks the config and the run folder before Hydra creates that folder.
"""
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
    logging.raiseExceptions = False  # a log file on a full disk must not print a traceback of its own
    try:
        from reasoning.run import run

        summary = run(cfg)
    except ReasoningError as error:
        log.error("%s", error)
        if _in_launched_job():  # let the launcher report it at once as this job's error
            raise
        _fail(str(error), getattr(error, "exit_code", 2))
    except KeyboardInterrupt:  # before the run counted anything (while importing)
        _fail("interrupted before any problem was solved; rerun the same command to start", 130)
    except OSError as error:
        _fail(f"{error.strerror or error}{f': {error.filename}' if error.filename else ''}; "
              "check hydra.run.dir and the disk, then rerun the same command to resume", 1)
    accuracy = "n/a" if summary["accuracy"] is None else f"{summary['accuracy']:.3f}"
    print(f"{summary['setting']}: accuracy {accuracy} on {summary['n']} problems; results in {summary['run_dir']}")
    return summary["accuracy"]  # the value a Hydra sweeper would optimise


def _fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def _in_launched_job() -> bool:
    """A sweep job that a launcher runs elsewhere (submitit, on SLURM): raising is how its launcher learns
    that it failed. A local sweep runs its jobs in this process: there, as in a single run, one line."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra = HydraConfig.get()
    return hydra.mode == RunMode.MULTIRUN and not str(hydra.launcher.get("_target_", "")).endswith(".BasicLauncher")


def entry() -> None:
    """Typos in the overrides are one line with the fix (reasoning.command_line); then Hydra runs `main`."""
    from reasoning.command_line import check

    try:
        check(sys.argv[1:], CONFIG_DIR)
    except ReasoningError as error:
        _fail(str(error), 2)
    main()


if __name__ == "__main__":
    entry()
