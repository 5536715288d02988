"""Model backends. The only package that imports transformers; settings use `LanguageModel` only."""
from reasoning.models.types import Cost, Generation, LanguageModel, Scores


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (all devices), so sampled generations repeat."""
    from transformers import set_seed

    set_seed(seed)


__all__ = ["Cost", "Generation", "LanguageModel", "Scores", "seed_all"]
