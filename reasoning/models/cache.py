"""Where built and converted models live: $REASONING_CACHE, else the user's cache dir."""
import os
from pathlib import Path


def cache_root() -> Path:
    if os.environ.get("REASONING_CACHE"):
        return Path(os.environ["REASONING_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reasoning"
