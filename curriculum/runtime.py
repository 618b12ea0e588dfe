"""The curriculum's background thread: each step's observations and the draws they make due, in order, off the loop."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["Runtime"]


class Runtime:
    """One background thread that runs the tasks handed to it in the order they were submitted, and every wait for
    them: the training loop hands it each optimizer step's observations and the blocks they make due
    (`CurriculumCallback`), the sampler waits on it before it draws a block itself, and readers of the curriculum's
    state wait on it first ([`join`]). The thread starts with the first task and stops at [`close`]; a later
    [`submit`] starts a new one. A task's exception is raised by the [`join`] that waits for it.

    Example:

    ```python
    >>> from curriculum.runtime import Runtime
    >>> runtime, done = Runtime(), []
    >>> runtime.submit(done.append, 1); runtime.submit(done.append, 2)
    >>> runtime.join(); done
    [1, 2]
    >>> runtime.close()
    ```
    """

    def __init__(self) -> None:
        self._pending: list[Future] = []  # tasks not yet waited for, in order
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` in the background thread after every task submitted before it."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="curriculum")
        self._pending.append(self._executor.submit(fn, *args))

    def join(self) -> None:
        """Wait for every task submitted so far."""
        pending, self._pending = self._pending, []
        for task in pending:
            task.result()

    def close(self) -> None:
        """Wait for every task and stop the thread."""
        self.join()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
