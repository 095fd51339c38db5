"""Lambda assets bundled on this machine, without Docker.

Two kinds of asset:
- the dependency layer: the runtime dependencies of pyproject.toml installed by pip for the
  Lambda platform (`--platform manylinux2014_aarch64 --only-binary=:all:`, the runtime's Python
  version, `--no-compile`: no bytecode of the wrong interpreter), plus the `shared/` package;
- one asset per function: `functions/__init__.py` and that function's own folder, nothing else.

Each asset's hash is computed from what goes into it (files, dependency list, platform), so an
asset changes exactly when its content would.

What the layer holds is pinned: `infra/layer-requirements.lock` lists every package with its version
and the sha256 of its Lambda-platform wheel, resolved from pyproject's `[project].dependencies` by
`python -m infra.bundling lock` (`make lock`). The layer installs exactly that (`--require-hashes
--no-deps`), and the development venv is constrained to the same versions (`make install`), so what
the tests run is what is deployed.

Offline: `python -m infra.bundling download` (run by `make wheelhouse`, a prerequisite of
`make synth`) fetches the locked wheels once into `.tools/wheelhouse/`; when that folder holds them,
bundling installs from it alone (`--no-index`), so a synth never reaches the network.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.constants import PIP_PLATFORM, RUNTIME, RUNTIME_PYTHON_VERSION

_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".mypy_cache")
_NOT_SHIPPED = {"__pycache__", ".pytest_cache", ".mypy_cache"}


class BundlingError(RuntimeError):
    """Building an asset failed; the message says which and why (pip's own words)."""


def runtime_requirements(pyproject: Path) -> list[str]:
    """The `[project].dependencies` the layer ships (the runtime's, not the dev or infra extras)."""
    with pyproject.open("rb") as file:
        project = tomllib.load(file)["project"]
    return list(project.get("dependencies", []))


def tree_digest(*paths: Path, extra: tuple[str, ...] = ()) -> str:
    """A stable digest of files (relative names and bytes) and extra strings; bytecode ignored."""
    digest = hashlib.sha256()
    for item in extra:
        digest.update(item.encode())
        digest.update(b"\0")
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(root.parent)
            if _NOT_SHIPPED & set(relative.parts) or file.suffix in (".pyc", ".pyo"):
                continue
            digest.update(relative.as_posix().encode())
            digest.update(b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()


REPO_ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = REPO_ROOT / ".tools" / "wheelhouse" / f"{PIP_PLATFORM}-py{RUNTIME_PYTHON_VERSION}"
LOCK = REPO_ROOT / "infra" / "layer-requirements.lock"
_LOCK_SOURCE = "#   "  # the lock's header lines that quote the pyproject requirements it was made from


class LockedPackage:
    """One line of the lock: a package, its exact version and its wheel's sha256."""

    __slots__ = ("name", "sha256", "version")

    def __init__(self, name: str, version: str, sha256: str) -> None:
        self.name = re.sub(r"[-_.]+", "-", name).lower()  # PEP 503's normal form
        self.version = version
        self.sha256 = sha256

    def line(self) -> str:
        return f"{self.name}=={self.version} --hash=sha256:{self.sha256}"


def read_lock(lock: Path = LOCK) -> tuple[list[str], list[LockedPackage]]:
    """The pyproject requirements the lock was made from, and its packages."""
    sources: list[str] = []
    packages: list[LockedPackage] = []
    for raw in lock.read_text().splitlines():
        if raw.startswith(_LOCK_SOURCE):
            sources.append(raw.removeprefix(_LOCK_SOURCE))
        elif raw and not raw.startswith("#"):
            pin, _, digest = raw.partition(" --hash=sha256:")
            name, _, version = pin.partition("==")
            packages.append(LockedPackage(name, version, digest))
    return sources, packages


def lock_is_current(pyproject: Path, lock: Path = LOCK) -> bool:
    """True when the lock was made from exactly pyproject's runtime dependencies."""
    return lock.is_file() and read_lock(lock)[0] == runtime_requirements(pyproject)


def _platform_flags() -> list[str]:
    return [
        "--only-binary=:all:",
        "--platform",
        PIP_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        RUNTIME_PYTHON_VERSION,
    ]


def _pip(arguments: list[str], what: str) -> None:
    command = [sys.executable, "-m", "pip", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise BundlingError(f"pip could not {what} for {PIP_PLATFORM}:\n{tail}")


def _marker(wheelhouse: Path) -> Path:
    return wheelhouse / ".requirements"


def resolve_lock(requirements: list[str], lock: Path = LOCK) -> None:
    """Resolve the requirements for the Lambda platform (pip's own resolver, nothing installed) and
    write every package with its version and its wheel's sha256 into the lock."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        _pip(
            [
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--dry-run",
                "--ignore-installed",
                *_platform_flags(),
                "--target",
                str(Path(scratch) / "never-written"),
                "--report",
                str(report),
                *requirements,
            ],
            "resolve the layer's dependencies",
        )
        installs = json.loads(report.read_text())["install"]
    packages = sorted(
        (
            LockedPackage(
                item["metadata"]["name"],
                item["metadata"]["version"],
                item["download_info"]["archive_info"]["hashes"]["sha256"],
            )
            for item in installs
        ),
        key=lambda package: package.name,
    )
    header = [
        f"# The Lambda layer's exact dependencies: {RUNTIME.name} on {PIP_PLATFORM}.",
        "# Made by `make lock` (python -m infra.bundling lock) from pyproject.toml's dependencies:",
        *(f"{_LOCK_SOURCE}{requirement}" for requirement in requirements),
    ]
    lock.write_text("\n".join([*header, *(package.line() for package in packages)]) + "\n")


def _locked_install_flags(lock: Path) -> list[str]:
    return ["--no-deps", "--require-hashes", "-r", str(lock)]


def wheelhouse_serves(lock: Path = LOCK, wheelhouse: Path = WHEELHOUSE) -> bool:
    """True when the wheelhouse was completely filled for exactly this lock."""
    marker = _marker(wheelhouse)
    return lock.is_file() and marker.is_file() and marker.read_text() == lock.read_text()


def download_wheels(lock: Path = LOCK, wheelhouse: Path = WHEELHOUSE) -> None:
    """Fetch every locked wheel (the only step that uses the network); pip checks each hash."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    _marker(wheelhouse).unlink(missing_ok=True)
    download = [
        "download",
        "--quiet",
        "--disable-pip-version-check",
        *_platform_flags(),
        "-d",
        str(wheelhouse),
    ]
    _pip([*download, *_locked_install_flags(lock)], "download the layer's wheels")
    _marker(wheelhouse).write_text(lock.read_text())


def pip_install(target: Path, lock: Path = LOCK, wheelhouse: Path | None = WHEELHOUSE) -> None:
    """Install exactly the locked wheels for the Lambda platform into `target` (hashes checked, no
    sdists, no bytecode); only from the wheelhouse when it was filled for this lock."""
    offline = wheelhouse is not None and wheelhouse_serves(lock, wheelhouse)
    source = ["--no-index", "--find-links", str(wheelhouse)] if offline else []
    _pip(
        [
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            *_platform_flags(),
            *source,
            "--target",
            str(target),
            *_locked_install_flags(lock),
        ],
        "install the layer's dependencies",
    )
    # Console scripts are of no use in a layer.
    shutil.rmtree(target / "bin", ignore_errors=True)


def build_layer(output: Path, *, lock: Path, shared: Path) -> None:
    site = output / "python"
    site.mkdir(parents=True, exist_ok=True)
    pip_install(site, lock)
    shutil.copytree(shared, site / shared.name, ignore=_SKIPPED, dirs_exist_ok=True)
    strip_bytecode(output)


def build_function(output: Path, *, folder: Path) -> None:
    package = output / folder.parent.name
    package.mkdir(parents=True, exist_ok=True)
    init = folder.parent / "__init__.py"
    if init.is_file():
        shutil.copy2(init, package / "__init__.py")
    else:
        (package / "__init__.py").write_text("")
    shutil.copytree(folder, package / folder.name, ignore=_SKIPPED, dirs_exist_ok=True)
    strip_bytecode(output)


def strip_bytecode(root: Path) -> None:
    for cache in list(root.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    for file in list(root.rglob("*.py[co]")):
        file.unlink()


@jsii.implements(ILocalBundling)
class _Local:
    """CDK's local bundling hook: builds into the output folder, never falls back to Docker."""

    def __init__(self, build: Any) -> None:
        self._build = build

    def try_bundle(self, output_dir: str, options: Any = None, **_kw: Any) -> bool:
        del options, _kw  # pip and copies need none of the Docker options
        self._build(Path(output_dir))
        return True


def _options(build: Any) -> BundlingOptions:
    # The image is never pulled: local bundling always succeeds or raises.
    return BundlingOptions(image=DockerImage.from_registry("local-bundling-only"), local=_Local(build))


def layer_code(repo_root: Path) -> lambda_.Code:
    shared = repo_root / "shared"
    lock = repo_root / LOCK.relative_to(REPO_ROOT)
    if not lock_is_current(repo_root / "pyproject.toml", lock):
        raise BundlingError(f"{lock} does not match pyproject.toml's dependencies: run `make lock`")
    return lambda_.Code.from_asset(
        str(shared),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=tree_digest(shared, extra=(RUNTIME.name, PIP_PLATFORM, lock.read_text())),
        bundling=_options(lambda out: build_layer(out, lock=lock, shared=shared)),
    )


def function_code(folder: Path) -> lambda_.Code:
    init = folder.parent / "__init__.py"
    sources = (init, folder) if init.is_file() else (folder,)
    return lambda_.Code.from_asset(
        str(folder),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=tree_digest(*sources, extra=(folder.name,)),
        bundling=_options(lambda out: build_function(out, folder=folder)),
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m infra.bundling lock`: resolve the layer's lock from pyproject;
    `python -m infra.bundling download`: fill the wheelhouse from the lock for offline synths."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments == ["lock"]:
        resolve_lock(runtime_requirements(REPO_ROOT / "pyproject.toml"))
    elif arguments == ["download"]:
        if not lock_is_current(REPO_ROOT / "pyproject.toml"):
            raise SystemExit(f"{LOCK} does not match pyproject.toml's dependencies: run `make lock`")
        download_wheels()
    else:
        raise SystemExit("usage: python -m infra.bundling lock|download")


if __name__ == "__main__":
    main()
