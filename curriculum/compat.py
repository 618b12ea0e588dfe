"""Every private member of `Trainer`, TRL and accelerate that the curriculum touches, in one place.

`PRIVATE_MEMBERS` lists them; `tests/integration/test_compat.py` checks that each exists in the installed versions, and
`pyproject.toml` bounds the major versions tested.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__: list[str] = []

# (owner, member): methods are looked up on the class, attributes on a built instance.
PRIVATE_MEMBERS: tuple[tuple[str, str], ...] = (
    ("transformers.Trainer", "_get_collator_with_removed_columns"),
    ("transformers.Trainer", "_set_signature_columns_if_needed"),
    ("transformers.Trainer", "_signature_columns"),
    ("transformers.Trainer", "_remove_unused_columns"),
    ("transformers.Trainer", "_get_dataloader"),
    ("transformers.Trainer", "_get_train_sampler"),
    ("transformers.Trainer", "_train_batch_size"),
    ("transformers.Trainer", "_loss_shifts_labels"),
    # Overridden by the mixin: called right after trainer_state.json is read on resume (elastic resume's hook).
    ("transformers.Trainer", "_load_callback_state"),
    # Overridden by the GRPO mixin: the generation round (rows in, rollout replay spliced), the gathered rewards
    # (the per-prompt scores), the loss and its per-token log-probabilities (the behaviour's, for replay).
    ("trl.GRPOTrainer", "_generate_and_score_completions"),
    ("trl.GRPOTrainer", "_calculate_rewards"),
    ("trl.GRPOTrainer", "_compute_loss"),
    ("trl.GRPOTrainer", "_get_per_token_logps_and_entropies"),
)


def training_collator(trainer: Any) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """The collator the Trainer uses for training batches, with its unused-column removal."""
    return trainer._get_collator_with_removed_columns(trainer.data_collator, description="training")


def add_signature_column(trainer: Any, name: str) -> None:
    """Keep the column `name` through the Trainer's removal of columns the model's forward does not take."""
    trainer._set_signature_columns_if_needed()
    if name not in trainer._signature_columns:
        trainer._signature_columns = [*trainer._signature_columns, name]


def remove_unused_columns(trainer: Any, dataset: Any) -> Any:
    """The dataset without the columns the model does not take (as the Trainer does for its own dataloader)."""
    return trainer._remove_unused_columns(dataset, description="Training")


def train_dataloader(
    trainer: Any, dataset: Any, sampler_fn: Callable[[Any], Any], batch_size: int | None = None
) -> Any:
    """The Trainer's own training dataloader (workers, pinning, accelerate's preparation) over `dataset`, batches
    of `batch_size` rows per process (default: the per-device training batch)."""
    return trainer._get_dataloader(
        dataset=dataset,
        description="Training",
        batch_size=trainer._train_batch_size if batch_size is None else batch_size,
        sampler_fn=sampler_fn,
        is_training=True,
    )


def loss_shifts_labels(trainer: Any) -> bool:
    """Whether the model's loss shifts the labels by one (a causal language model)."""
    return bool(getattr(trainer, "_loss_shifts_labels", False))
