"""`RepeatCurriculumSampler`: a curriculum's prompt stream laid out as GRPO's generation batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import Sampler

from .curriculum_sampler import CurriculumSampler

__all__ = ["RepeatCurriculumSampler"]


class RepeatCurriculumSampler(Sampler[int]):
    r"""
    The stream of a [`~curriculum.samplers.CurriculumSampler`] (the prompts, `batch_size` per generation round) in
    the layout of TRL's `RepeatSampler`: each round's prompts, each repeated `mini_repeat_count` times in a row
    (the completions of a prompt's group), the whole round repeated `repeat_count` times (the batches that reuse
    one generation: `steps_per_generation x num_iterations`). Identical on every process: under `accelerate`, every
    process iterates it whole and takes its share of each batch.

    Args:
        sampler ([`~curriculum.samplers.CurriculumSampler`]): the prompt stream; its curriculum's global batch must
            be `batch_size`.
        mini_repeat_count (`int`): completions per prompt (`num_generations`).
        batch_size (`int`): prompts per generation round (`generation_batch_size // num_generations`).
        repeat_count (`int`, *optional*, defaults to `1`): batches per generation round.

    Example:

    ```python
    >>> from curriculum import Curriculum, CurriculumConfig
    >>> from curriculum.samplers import CurriculumSampler, RepeatCurriculumSampler
    >>> curriculum = Curriculum.from_arrays(CurriculumConfig(signal="pass_rate"), 4, global_batch=2,
    ...                                     num_generations=2)
    >>> sampler = RepeatCurriculumSampler(CurriculumSampler(curriculum, seed=0), 2, batch_size=2, repeat_count=2)
    >>> stream = list(sampler)
    >>> len(stream) == len(sampler) == 16, stream[:8]
    (True, [0, 0, 1, 1, 0, 0, 1, 1])
    ```
    """

    def __init__(self, sampler: CurriculumSampler, mini_repeat_count: int, batch_size: int, repeat_count: int = 1):
        if sampler.curriculum.global_batch != batch_size:
            raise ValueError(
                f"the curriculum was built for {sampler.curriculum.global_batch} prompts per generation round but the "
                f"trainer generates for {batch_size} (generation_batch_size // num_generations); build it with "
                "`build_curriculum(config, train_dataset, trainer.args)`"
            )
        self.sampler = sampler
        self.mini_repeat_count, self.batch_size, self.repeat_count = mini_repeat_count, batch_size, repeat_count

    def __len__(self) -> int:
        return len(self.sampler) * self.mini_repeat_count * self.repeat_count

    def __iter__(self) -> Iterator[int]:
        chunk: list[int] = []
        for index in self.sampler:
            chunk.append(index)
            if len(chunk) == self.batch_size:
                for _ in range(self.repeat_count):
                    for row in chunk:
                        yield from (row,) * self.mini_repeat_count
                chunk = []

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state)
