"""Samplers of the curriculum (`curriculum.samplers`)."""

from .curriculum_sampler import CurriculumSampler
from .repeat_sampler import RepeatCurriculumSampler

__all__ = ["CurriculumSampler", "RepeatCurriculumSampler"]
