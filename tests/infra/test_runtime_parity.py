"""Runtime parity: the Python and the packages the tests run are the ones the Lambdas run.

The Lambdas run `infra.constants.RUNTIME` with the layer built from `infra/layer-requirements.lock`;
`make install` builds the venv with the same Python minor version, constrained to the lock's versions.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

from infra.bundling import LOCK, lock_is_current, read_lock, runtime_requirements
from infra.constants import RUNTIME, RUNTIME_PYTHON_VERSION
from tests.infra.conftest import REPO_ROOT


def test_the_tests_run_on_the_python_the_lambdas_run() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert running == RUNTIME_PYTHON_VERSION, f"tests on Python {running}, Lambdas on {RUNTIME.name}"
    assert RUNTIME.name == f"python{RUNTIME_PYTHON_VERSION}"


def test_the_makefile_builds_the_venv_with_the_runtimes_python() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    (version,) = re.findall(r"^RUNTIME_PYTHON := (\S+)$", makefile, flags=re.MULTILINE)
    assert version == RUNTIME_PYTHON_VERSION


def test_the_lock_was_made_from_pyprojects_runtime_dependencies() -> None:
    sources, packages = read_lock()
    assert sources == runtime_requirements(REPO_ROOT / "pyproject.toml"), "run `make lock`"
    assert lock_is_current(REPO_ROOT / "pyproject.toml")
    # Every line pins one version and one 64-hex sha256 (pip --require-hashes needs both).
    assert packages
    for package in packages:
        assert re.fullmatch(r"[a-z0-9-]+", package.name), package.name
        assert package.version and re.fullmatch(r"[0-9a-f]{64}", package.sha256), package.name
    assert len({package.name for package in packages}) == len(packages)


def test_the_venv_holds_the_locked_versions_of_every_layer_package() -> None:
    """The tests import exactly the versions the layer ships (make install constrains the venv)."""
    _, packages = read_lock()
    differing = {
        package.name: (package.version, metadata.version(package.name))
        for package in packages
        if metadata.version(package.name) != package.version
    }
    assert not differing, f"venv differs from {LOCK.name} (locked, installed): {differing}"
