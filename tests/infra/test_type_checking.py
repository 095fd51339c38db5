"""The type checker's scope (pyproject.toml `[tool.mypy]`, run by `make typecheck`).

STYLE.md: mypy strict on shared/ and functions/; infra and the tests type-checked too. Every tree of
Python in the repository is in mypy's `files`; tests/ only through its shared support for now.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from typing import Any

from tests.infra.conftest import REPO_ROOT

NOT_PYTHON_TREES = {".venv", ".tools", ".local", "cdk.out", "node_modules"}
# Trees mypy checks only in part, and the part.
PARTLY_CHECKED = {"tests": {"tests/support"}}


def _mypy() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    return config


def _python_trees() -> set[str]:
    return {
        tree.name
        for tree in REPO_ROOT.iterdir()
        if tree.is_dir()
        and tree.name not in NOT_PYTHON_TREES
        and not tree.name.startswith(".")
        and next(tree.rglob("*.py"), None) is not None
    }


def test_mypy_checks_every_python_tree_of_the_repository() -> None:
    files = set(_mypy()["files"])
    trees = _python_trees()
    assert {"shared", "functions", "infra", "bench", "tests"} <= trees
    unchecked = [
        tree
        for tree in sorted(trees)
        if tree not in files and not (tree in PARTLY_CHECKED and PARTLY_CHECKED[tree] <= files)
    ]
    assert not unchecked, f"not type-checked: {unchecked}"


def test_make_typecheck_runs_mypy_on_the_configured_files() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "\ntypecheck: install\n\t$(BIN)/mypy\n" in makefile


def test_mypy_is_strict_and_overrides_relax_nothing_of_ours() -> None:
    config = _mypy()
    assert config["strict"] is True
    for override in config.get("overrides", []):
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        assert set(override) == {"module", "ignore_missing_imports"}, f"{modules} relaxes {set(override)}"
        for module in modules:
            assert module.split(".")[0] not in _python_trees(), f"{module} is ours: type it"


def test_mypy_overrides_name_no_library_that_ships_its_types() -> None:
    """An `ignore_missing_imports` for a typed package (py.typed) is dead, and hides a typo."""
    for override in _mypy().get("overrides", []):
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        for module in modules:
            spec = importlib.util.find_spec(module.removesuffix(".*"))
            locations = (spec.submodule_search_locations or []) if spec is not None else []
            typed = [where for where in locations if (Path(where) / "py.typed").exists()]
            assert not typed, f"{module} ships its types ({typed[0]}): drop its override"
