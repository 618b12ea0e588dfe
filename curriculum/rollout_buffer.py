"""`RolloutBuffer`: recent GRPO rollout groups with non-zero advantages, kept with their behaviour log-probabilities."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch

__all__ = ["RolloutBuffer", "pad_rows"]


def pad_rows(rows: list[torch.Tensor], value: float, left: bool = False) -> torch.Tensor:
    """Stack 1-D tensors into one (rows, longest) tensor, padding each on the right (or the left) with `value`."""
    width = max((int(r.numel()) for r in rows), default=0)
    out = rows[0].new_full((len(rows), width), value) if rows else torch.empty(0, 0)
    for i, r in enumerate(rows):
        n = int(r.numel())
        if left:
            out[i, width - n :] = r
        else:
            out[i, :n] = r
    return out


class RolloutBuffer:
    r"""
    Rollout replay for `GRPOTrainer` (DOTS+RR, Sun et al. 2025): a bounded FIFO of one process's recent prompt
    groups whose advantages are not all zero. Each group keeps its prompt and completion tokens, its advantages,
    the reference log-probabilities when GRPO computed them, and the behaviour policy's per-token log-probabilities
    (filled in by [`record_logps`] from the training forward that first trains on the group, or given at admission
    when GRPO computed them), so that GRPO's clipped importance ratio corrects a replayed group for the policy having
    moved since. A group is replayable for `max_age` generation rounds after its own.

    Args:
        capacity (`int`): most groups held.
        max_age (`int`): most generation rounds a group stays replayable.
        group_size (`int`): completions per group (`num_generations`).

    Example:

    ```python
    >>> import torch
    >>> from curriculum.rollout_buffer import RolloutBuffer
    >>> buffer = RolloutBuffer(capacity=8, max_age=2, group_size=2)
    >>> batch = {"prompt_ids": torch.tensor([[0, 5], [0, 5]]), "prompt_mask": torch.tensor([[0, 1], [0, 1]]),
    ...          "completion_ids": torch.tensor([[7, 8], [9, 0]]), "completion_mask": torch.tensor([[1, 1], [1, 0]]),
    ...          "advantages": torch.tensor([0.7, -0.7])}
    >>> ids = buffer.admit(1, batch)
    >>> buffer.record_logps(ids, torch.tensor([[-0.1, -0.2], [-0.3, 0.0]]))
    >>> replay = buffer.take(1, 2, seed=0)
    >>> replay["completion_ids"].tolist(), replay["old_per_token_logps"].tolist()
    ([[7, 8], [9, 0]], [[-0.10000000149011612, -0.20000000298023224], [-0.30000001192092896, 0.0]])
    ```
    """

    def __init__(self, capacity: int, max_age: int, group_size: int) -> None:
        self.capacity, self.max_age, self.group_size = int(capacity), int(max_age), int(group_size)
        self._groups: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._next = 0
        self.replayed = 0  # completions replayed so far

    def __len__(self) -> int:
        return len(self._groups)

    def admit(self, round_: int, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Keep the groups of `batch` (whole groups of `group_size` consecutive rows, as GRPO returns them before it
        shuffles) whose advantages are not all zero; returns each row's id in the buffer (-1: not kept). With
        `old_per_token_logps` in `batch` those are the behaviour log-probabilities; otherwise [`record_logps`]
        gives them."""
        g = self.group_size
        advantages = batch["advantages"].detach().reshape(-1, g, *batch["advantages"].shape[1:])
        informative = (advantages.reshape(advantages.shape[0], -1) != 0).any(dim=1).tolist()
        ids = torch.full((advantages.shape[0] * g,), -1, dtype=torch.long)
        old = batch.get("old_per_token_logps")
        ref = batch.get("ref_per_token_logps")
        for k, keep in enumerate(informative):
            if not keep:
                continue
            rows = range(k * g, (k + 1) * g)
            lengths = [self._completion_length(batch["completion_mask"][i]) for i in rows]
            group = {
                "round": int(round_),
                "prompt": [batch["prompt_ids"][i][batch["prompt_mask"][i].bool()].cpu() for i in rows],
                "completion": [batch["completion_ids"][i, :n].cpu() for i, n in zip(rows, lengths)],
                "mask": [batch["completion_mask"][i, :n].cpu() for i, n in zip(rows, lengths)],
                "advantages": advantages[k].cpu().clone(),
                "logps": None if old is None else [old[i, :n].detach().cpu() for i, n in zip(rows, lengths)],
                "ref": None if ref is None else [ref[i, :n].detach().cpu() for i, n in zip(rows, lengths)],
            }
            self._groups[self._next] = group
            ids[k * g : (k + 1) * g] = torch.arange(self._next * g, (self._next + 1) * g)
            self._next += 1
        self._evict(round_)
        return ids

    @staticmethod
    def _completion_length(mask: torch.Tensor) -> int:
        on = torch.nonzero(mask).flatten()
        return int(on[-1]) + 1 if on.numel() else int(mask.numel())

    def _evict(self, round_: int) -> None:
        for key in [k for k, g in self._groups.items() if round_ - g["round"] > self.max_age]:
            del self._groups[key]
        while len(self._groups) > self.capacity:
            self._groups.popitem(last=False)

    def record_logps(self, ids: torch.Tensor, logps: torch.Tensor) -> None:
        """The behaviour log-probabilities of rows `ids` (one row of `logps` each; -1 and unknown ids are skipped),
        from the forward that first trains on them; a row's are kept once."""
        g = self.group_size
        for i, row_id in enumerate(ids.tolist()):
            group = self._groups.get(row_id // g) if row_id >= 0 else None
            if group is None:
                continue
            if group["logps"] is None:
                group["logps"] = [None] * g
            j = row_id % g
            if group["logps"][j] is None:
                group["logps"][j] = logps[i, : group["completion"][j].numel()].detach().float().cpu()

    def ready(self, round_: int) -> list[int]:
        """The groups replayable at generation round `round_`: younger than `max_age` rounds, from an earlier round,
        with every behaviour log-probability known."""
        return [k for k, g in self._groups.items() if 0 < round_ - g["round"] <= self.max_age
                and g["logps"] is not None and all(x is not None for x in g["logps"])]

    def take(self, count: int, round_: int, seed: int) -> dict[str, torch.Tensor]:
        """`count` replayable groups chosen at random (without replacement, from `seed`) as a batch: padded prompt
        and completion tokens and masks, advantages, `old_per_token_logps` (the behaviour policy's) and
        `ref_per_token_logps` when kept."""
        ready = self.ready(round_)
        if count > len(ready):
            raise ValueError(f"{count} groups asked of the rollout buffer, but {len(ready)} are replayable")
        chosen = [ready[i] for i in sorted(np.random.default_rng(seed).choice(len(ready), count, replace=False))]
        groups = [self._groups[k] for k in chosen]

        def rows(key: str) -> list[torch.Tensor]:
            return [x for g in groups for x in g[key]]

        batch = {
            "prompt_ids": pad_rows(rows("prompt"), 0, left=True),
            "prompt_mask": pad_rows([torch.ones_like(p) for p in rows("prompt")], 0, left=True),
            "completion_ids": pad_rows(rows("completion"), 0),
            "completion_mask": pad_rows(rows("mask"), 0),
            "advantages": torch.cat([g["advantages"] for g in groups]),
            "old_per_token_logps": pad_rows(rows("logps"), 0.0),
        }
        if all(g["ref"] is not None for g in groups):
            batch["ref_per_token_logps"] = pad_rows(rows("ref"), 0.0)
        self.replayed += count * self.group_size
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"groups": list(self._groups.items()), "next": self._next, "replayed": self.replayed,
                "capacity": self.capacity, "max_age": self.max_age, "group_size": self.group_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["group_size"]) != self.group_size:
            raise ValueError(
                f"the saved rollout buffer holds groups of {state['group_size']} completions but num_generations is "
                f"{self.group_size}; resume with the same num_generations"
            )
        self._groups = OrderedDict(state["groups"])
        self._next, self.replayed = int(state["next"]), int(state["replayed"])
