"""Model backends. The only package that imports transformers; settings use `LanguageModel` only."""
from reasoning.models.types import Cost, Generation, LanguageModel, Scores

__all__ = ["Cost", "Generation", "LanguageModel", "Scores"]
