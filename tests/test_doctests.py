"""Run the docstring examples of every module, so an example can't silently go stale."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("assistant", "ingest", "vectorstore", "benchmarks")


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        try:
            root = importlib.import_module(package)
        except ImportError:  # a package that does not exist (yet) has no examples
            continue
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")]
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_examples_are_found() -> None:
    """The collector finds the modules that carry examples (a silent zero would pass everything)."""
    attempted = sum(doctest.testmod(importlib.import_module(n), report=False).attempted for n in ("assistant.query",))
    assert attempted >= 4
