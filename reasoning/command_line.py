"""The command line's typos, said in one line with the fix before Hydra composes the config.

Hydra refuses a misspelt group option or key with a multi-line message (and, for a key, advice to
add it with `+key`, which only fails later). `check(argv)` composes the same config first and turns
those failures into one `ReasoningError` naming the closest option or knob:

    setting=feedbak       -> no setting named feedbak; did you mean feedback? (options: baseline, ...)
    setting.max_round=2   -> setting.max_round is not a knob of feedback; did you mean setting.max_rounds?

With HYDRA_FULL_ERROR=1 the check is skipped and Hydra prints its own full message.
"""
from __future__ import annotations

import difflib
import os

from reasoning.errors import ReasoningError

FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p"}
# Hydra's own screens and other config folders: Hydra handles these, the check stays out of the way.
LEAVE_TO_HYDRA = {"--help", "-h", "--hydra-help", "--version", "--info", "-i", "--shell-completion", "-sc",
                  "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun"}


def check(argv: list[str], config_dir: str, config_name: str = "config") -> None:
    """Raise a one-line ReasoningError for the first override of `argv` that Hydra would refuse."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1" or any(a.split("=")[0] in LEAVE_TO_HYDRA for a in argv):
        return
    overrides = _parse(_override_args(argv))
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    # A sweep may take its point from the config's own sweeper params (an experiment's `???` point), which
    # Hydra's multirun composition leaves open: compose as it does.
    mode = RunMode.MULTIRUN if {"-m", "--multirun"} & set(argv) else RunMode.RUN

    def compose(name: str, overrides: list[str]):
        return GlobalHydra.instance().hydra.compose_config(name, overrides, run_mode=mode, from_shell=False)

    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        groups = [o for o in overrides if loader.get_group_options(o.key_or_group)]
        for override in groups:
            _check_option(override, loader.get_group_options(override.key_or_group))
        chosen = [_first(o) for o in groups]
        try:
            compose(config_name, [_first(o) for o in overrides])
            return
        except Exception as error:  # noqa: BLE001 - explained below, or said in its first line
            hydra_says = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        try:
            base = compose(config_name, chosen)
        except Exception:  # noqa: BLE001 - the groups alone fail: Hydra's first line is all we know
            base = None
        for override in overrides if base is not None else []:
            if override not in groups and not override.is_add() and not override.is_delete():
                _check_key(override.key_or_group, base)
    raise ReasoningError(f"{hydra_says} (HYDRA_FULL_ERROR=1 shows Hydra's full message)")


def _override_args(argv: list[str]) -> list[str]:
    """The `key=value` arguments: flags dropped, and the value after `--cfg`/`--package`."""
    args, skip = [], False
    for arg in argv:
        if skip or arg.startswith("-"):
            skip = not skip and arg in FLAGS_WITH_VALUE
            continue
        args.append(arg)
    return args


def _parse(args: list[str]):
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    for i, arg in enumerate(args):  # `a = b`, `a= b`, `a =b`: the shell split one override in pieces
        if i + 1 < len(args) and (arg.endswith("=") or args[i + 1].startswith("=")):
            shown = " ".join(args[i:i + 3] if args[i + 1] == "=" else args[i:i + 2])
            raise ReasoningError(f"cannot read `{shown}`: write each override as key=value, without spaces around =")
    parser = OverridesParser.create()
    overrides = []
    for arg in args:
        try:
            overrides += parser.parse_overrides([arg])
        except OverrideParseException:
            raise ReasoningError(f"cannot read the override `{arg}`; write key=value (quote values with spaces "
                                 "or commas), e.g. setting=baseline or dataset.limit=5") from None
    return overrides


def _first(override) -> str:
    """The override with a sweep's first value: enough to compose the config a sweep's jobs share."""
    key = override.input_line.split("=", 1)[0]
    if not override.is_sweep_override():
        return override.input_line
    return f"{key}={next(iter(override.sweep_string_iterator()))}"


def _check_option(override, options: list[str]) -> None:
    group = override.key_or_group
    values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [
        override.get_value_element_as_str()]
    for value in values:
        if value not in options and value != "null":
            raise ReasoningError(f"no {group} named {value}{_did_you_mean(value, options)} "
                                 f"(options: {', '.join(options)})")


def _check_key(key: str, config) -> None:
    """`key` must exist in the composed config; else name the closest knob at the first wrong level."""
    from omegaconf import DictConfig, OmegaConf

    node, path = config, []
    for part in key.split("."):
        if not isinstance(node, DictConfig) or OmegaConf.is_interpolation(node):
            return  # below a value that is not a mapping: let Hydra say it
        if part not in node:
            owner = _owner(path, config)
            siblings = [str(k) for k in node.keys() if not str(k).startswith("_")]
            prefix = ".".join(path) + "." if path else ""
            guess = difflib.get_close_matches(part, siblings, n=1)
            fix = (f"; did you mean {prefix}{guess[0]}?" if guess
                   else f"; its knobs are {', '.join(siblings)}" if siblings else "")
            raise ReasoningError(f"{key} is not a knob of {owner}{fix}")
        if OmegaConf.is_interpolation(node, part):  # e.g. hydra.run.dir: resolving needs HydraConfig
            return
        node, path = node[part], [*path, part]


def _owner(path: list[str], config) -> str:
    """What a person calls the node at `path`: the chosen option of a group (feedback), else its key."""
    if not path:
        return "the config"
    choice = config.hydra.runtime.choices.get("/".join(path)) if "hydra" in config else None
    return str(choice) if choice else ".".join(path)


def _did_you_mean(value: str, options: list[str]) -> str:
    guess = difflib.get_close_matches(value, options, n=1)
    return f"; did you mean {guess[0]}?" if guess else ""
