"""Lambda assets bundled on this machine, without Docker.

Two kinds of asset:
- the dependency layer: the runtime dependencies of pyproject.toml installed by pip for the
  Lambda platform (`--platform manylinux2014_aarch64 --only-binary=:all:`, the runtime's Python
  version, `--no-compile`: no bytecode of the wrong interpreter), plus the `shared/` package;
- one asset per function: `functions/__init__.py` and that function's own folder, nothing else.

Each asset's hash is computed from what goes into it (files, dependency list, platform), so an
asset changes exactly when its content would.

Offline: `python -m infra.bundling download` (run by `make wheelhouse`, a prerequisite of
`make synth`) fetches the layer's wheels once into `.tools/wheelhouse/`; when that folder exists,
bundling installs from it alone (`--no-index`), so a synth never reaches the network.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
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


def wheelhouse_serves(requirements: list[str], wheelhouse: Path = WHEELHOUSE) -> bool:
    """True when the wheelhouse was completely filled for exactly these requirements."""
    marker = _marker(wheelhouse)
    return marker.is_file() and marker.read_text() == "\n".join(requirements)


def download_wheels(requirements: list[str], wheelhouse: Path = WHEELHOUSE) -> None:
    """Fetch every wheel the layer needs (the only step that uses the network)."""
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
    _pip([*download, *requirements], "download the layer's wheels")
    _marker(wheelhouse).write_text("\n".join(requirements))


def pip_install(requirements: list[str], target: Path, wheelhouse: Path | None = WHEELHOUSE) -> None:
    """Install wheels for the Lambda platform into `target` (no sdists, no bytecode); only from the
    wheelhouse when it was filled for these requirements, from the index otherwise."""
    offline = wheelhouse is not None and wheelhouse_serves(requirements, wheelhouse)
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
            *requirements,
        ],
        "install the layer's dependencies",
    )
    # Console scripts are of no use in a layer.
    shutil.rmtree(target / "bin", ignore_errors=True)


def build_layer(output: Path, *, requirements: list[str], shared: Path) -> None:
    site = output / "python"
    site.mkdir(parents=True, exist_ok=True)
    pip_install(requirements, site)
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
    requirements = runtime_requirements(repo_root / "pyproject.toml")
    return lambda_.Code.from_asset(
        str(shared),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=tree_digest(shared, extra=(RUNTIME.name, PIP_PLATFORM, *requirements)),
        bundling=_options(lambda out: build_layer(out, requirements=requirements, shared=shared)),
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
    """`python -m infra.bundling download`: fill the wheelhouse for offline synths."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments != ["download"]:
        raise SystemExit("usage: python -m infra.bundling download")
    download_wheels(runtime_requirements(REPO_ROOT / "pyproject.toml"))


if __name__ == "__main__":
    main()
