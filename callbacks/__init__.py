"""Trainer callbacks of the curriculum (`curriculum.callbacks`)."""

from .curriculum_callback import CurriculumCallback

__all__ = ["CurriculumCallback"]
