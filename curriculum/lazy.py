"""Package attributes loaded from their module on first use, so that importing a package stays light."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

__all__: list[str] = []


def lazy_getattr(package: str, where: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `name` from its submodule `where[name]` on first use and
    caches it in the package's `namespace` (its `globals()`)."""

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(import_module(f".{where[name]}", package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
