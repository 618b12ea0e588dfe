"""Samplers of the curriculum (`curriculum.samplers`)."""

from .curriculum_sampler import CurriculumSampler
from .weights import KERNELS, normalized_entropy, sampling_weights, task_shares

__all__ = ["KERNELS", "CurriculumSampler", "normalized_entropy", "sampling_weights", "task_shares"]
