"""Online curriculum for the Hugging Face Trainer and TRL's SFTTrainer."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .config import ConfigError, CurriculumConfig
from .core import Curriculum
from .scores import ScoreTable

__version__ = "0.1.0"

# The Trainer integration imports torch, transformers and trl: load it on first use, so that the framework-free
# core (`Curriculum`) and `curriculum validate` start fast and need none of them.
_LAZY = {
    "CurriculumHandle": "integration",
    "CurriculumTrainerMixin": "integration",
    "attach": "integration",
    "build_curriculum": "integration",
}

__all__ = ["ConfigError", "Curriculum", "CurriculumConfig", "ScoreTable", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
