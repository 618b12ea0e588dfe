"""`BlockSchedule`: which table draws each block of an epoch's stream, as fixed stream positions."""

from __future__ import annotations

from typing import Any

__all__ = ["BlockSchedule"]


class BlockSchedule:
    """Block j of an epoch of a [`~curriculum.Curriculum`]'s stream (its `block_size` and `epoch_length`, which an
    elastic resume may change) is drawn from the table as it is at a fixed stream position: the epoch's start for
    the first `ahead` blocks, else once the position `(j - ahead) x block_size` is trained on. It counts the
    positions claimed (drawn or being drawn) and the position training has reached, so the weights never depend on
    timing."""

    def __init__(self, ahead: int, curriculum: Any) -> None:
        self.ahead, self.curriculum = ahead, curriculum
        self.trained = -1  # the stream position trained on so far, as told by `claim` (-1: not training)
        self.start(0)

    def start(self, epoch: int, claimed: int = 0) -> None:
        """Start epoch `epoch` with its first `claimed` positions already drawn."""
        self.epoch, self.claimed = epoch, claimed

    @property
    def block_size(self) -> int:
        return self.curriculum.block_size

    @property
    def epoch_length(self) -> int:
        return self.curriculum.epoch_length

    def trigger(self, start: int) -> int:
        """The stream position whose table draws the block that starts at `start` of the current epoch."""
        return self.epoch * self.epoch_length + max(0, start - self.ahead * self.block_size)

    def claim(self, position: int) -> int:
        """Training has reached stream `position`: claim the blocks whose table is the one as of `position` or
        earlier, and return how many."""
        self.trained = position
        due = 0
        while self.claimed < self.epoch_length and self.trigger(self.claimed) <= position:
            due += 1
            self.claimed = min(self.claimed + self.block_size, self.epoch_length)
        return due

    def on_demand(self, drawn: int) -> int:
        """The data loader reached position `drawn` with no block claimed there (an epoch's start, or no training):
        claim that block and the next ones drawn from the same table, and return how many. During training, a block
        whose table training has not reached yet is an error: its draw would depend on timing."""
        trigger = self.trigger(drawn)
        if self.trained >= 0 and trigger > self.trained and drawn > 0:
            raise RuntimeError(
                f"curriculum: the data loader reached stream position {self.epoch * self.epoch_length + drawn} "
                f"while training had reached {self.trained}: that block is drawn from the table as of position "
                f"{trigger}, which training has not reached, so its rows would depend on timing. The sampler draws "
                f"{self.ahead} block(s) ahead, fewer than this data loader reads ahead: lower dataloader_num_workers "
                "or dataloader_prefetch_factor, or raise refresh_every_steps."
            )
        due, self.claimed = 0, drawn
        while self.claimed < self.epoch_length and self.trigger(self.claimed) <= trigger:
            due += 1
            self.claimed = min(self.claimed + self.block_size, self.epoch_length)
        return due
