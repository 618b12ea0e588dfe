"""Online curriculum for the Hugging Face Trainer and TRL's SFTTrainer and GRPOTrainer."""

from __future__ import annotations

from .config import ConfigError, CurriculumConfig
from .core import Curriculum
from .lazy import lazy_getattr
from .scores import ScoreTable

__version__ = "0.1.0"

# The Trainer integration imports torch, transformers and trl: load it on first use, so that the framework-free
# core (`Curriculum`) and `curriculum validate` start fast and need none of them.
_LAZY = {
    "CurriculumGRPOMixin": "grpo",
    "CurriculumHandle": "integration",
    "CurriculumTrainerMixin": "integration",
    "attach": "integration",
    "build_curriculum": "integration",
}

__all__ = ["ConfigError", "Curriculum", "CurriculumConfig", "ScoreTable", *_LAZY]


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
