"""Online curriculum for the Hugging Face Trainer and TRL's SFTTrainer."""

from .config import ConfigError, CurriculumConfig
from .difficulty import Difficulty, quantile_rank
from .integration import CurriculumHandle, CurriculumTrainerMixin, attach, build_curriculum
from .scores import ScoreTable

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "CurriculumConfig",
    "CurriculumHandle",
    "CurriculumTrainerMixin",
    "Difficulty",
    "ScoreTable",
    "attach",
    "build_curriculum",
    "quantile_rank",
]
