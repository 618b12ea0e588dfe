"""Trainer callbacks of the curriculum (`curriculum.callbacks`)."""

from .curriculum_callback import CurriculumCallback
from .rollout_callback import RolloutCurriculumCallback
from .stream_recorder import StreamRecorder

__all__ = ["CurriculumCallback", "RolloutCurriculumCallback", "StreamRecorder"]
