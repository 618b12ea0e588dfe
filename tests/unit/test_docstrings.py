"""The `>>>` examples in the docstrings of every module of the `curriculum` package run as doctests."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import re

import pytest

ROOTS = ("curriculum", "curriculum.samplers", "curriculum.callbacks", "curriculum.scoring", "curriculum.factors")
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
FENCE = re.compile(r"^\s*```.*$", flags=re.MULTILINE)


def module_names(roots: tuple[str, ...] = ROOTS) -> list[str]:
    """The packages in `roots` and every module under them, found on disk without importing them."""
    names: dict[str, None] = {}
    todo = list(roots)
    while todo:
        package = todo.pop(0)
        if package in names:
            continue
        spec = importlib.util.find_spec(package)
        if spec is None:  # a root or subpackage that cannot be found is an error, not an empty list
            raise ModuleNotFoundError(f"{package} is not importable: the doctests would silently skip it")
        names[package] = None
        for info in pkgutil.iter_modules(spec.submodule_search_locations or []):
            name = f"{package}.{info.name}"
            if info.ispkg:
                todo.append(name)
            else:
                names[name] = None
    return sorted(names)


class FencedParser(doctest.DocTestParser):
    """Examples sit in Markdown fences: a fence line ends the expected output, as a blank line does."""

    def parse(self, string: str, name: str = "<string>"):
        return super().parse(FENCE.sub("", string), name)


@pytest.mark.parametrize("name", module_names())
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as error:  # skip only for a missing optional dependency, never for a break in the package
        if error.name and error.name.split(".")[0] != "curriculum":
            pytest.skip(f"{name} needs {error.name}, which is not installed")
        raise
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in doctest.DocTestFinder(parser=FencedParser()).find(module, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
