"""Samplers of the curriculum (`curriculum.samplers`)."""

from .curriculum_sampler import CurriculumSampler

__all__ = ["CurriculumSampler"]
