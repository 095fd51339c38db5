"""Local bundling, for real, once: the layer holds the runtime dependencies built for the Lambda
platform plus `shared/`, each function's asset holds its own folder, and no bytecode ships."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.bundling import WHEELHOUSE, read_lock, tree_digest, wheelhouse_serves
from tests.infra.conftest import FIXTURE_FUNCTIONS, REPO_ROOT


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A stack with the layer and one function, synthesized with bundling on (offline, from the
    wheelhouse `make wheelhouse` fills): asset id -> its bundled folder."""
    if not wheelhouse_serves():
        pytest.skip(f"the wheelhouse is not filled: run `make wheelhouse` (expected {WHEELHOUSE})")
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_

    from infra import bundling
    from infra.constants import ARCHITECTURE, RUNTIME

    outdir = tmp_path_factory.mktemp("bundled")
    app = App(outdir=str(outdir))
    stack = Stack(app, "Bundled")
    layer = lambda_.LayerVersion(
        stack, "Layer", code=bundling.layer_code(REPO_ROOT), compatible_runtimes=[RUNTIME]
    )
    lambda_.Function(
        stack,
        "AdminApi",
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler="functions.admin_api.handler.handler",
        code=bundling.function_code(FIXTURE_FUNCTIONS / "admin_api"),
        layers=[layer],
    )
    app.synth()
    manifest = json.loads((outdir / "Bundled.assets.json").read_text())
    return {
        asset_id: outdir / entry["source"]["path"]
        for asset_id, entry in manifest["files"].items()
        if entry["source"].get("packaging") == "zip"
    }


def test_the_layer_holds_the_runtime_dependencies_and_shared_for_arm64(bundled: dict[str, Path]) -> None:
    layers = [path for path in bundled.values() if (path / "python").is_dir()]
    assert len(layers) == 1
    site = layers[0] / "python"
    for package in (
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "httpx",
        "aws_lambda_powertools",
        "boto3",
        "jwt",
        "cryptography",
    ):
        assert (site / package).is_dir(), package
    assert (site / "shared" / "domain" / "models.py").is_file()
    assert (site / "shared" / "adapters" / "table_schema.py").is_file()
    native = [p.name for p in (site / "pydantic_core").glob("_pydantic_core*.so")]
    assert native and all("cpython-312-aarch64-linux-gnu" in name for name in native), native
    # cryptography (PyJWT's RS256/ES256) ships one abi3 Rust extension: the aarch64 one.
    rust = list((site / "cryptography" / "hazmat" / "bindings").glob("_rust*.so"))
    assert rust and all("abi3" in p.name for p in rust), rust
    elf_machine_aarch64 = (183).to_bytes(2, "little")  # ELF header e_machine, at byte 18
    assert all(p.read_bytes()[18:20] == elf_machine_aarch64 for p in rust), rust
    assert not (site / "bin").exists()


def test_the_layer_holds_exactly_the_locked_versions(bundled: dict[str, Path]) -> None:
    """What is deployed is what the lock names, package for package and version for version."""
    (layer,) = [path for path in bundled.values() if (path / "python").is_dir()]
    shipped = {}
    for info in (layer / "python").glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        shipped[name.replace("_", "-").lower()] = version
    _, locked = read_lock()
    assert shipped == {package.name: package.version for package in locked}


def test_no_stray_bytecode_ships(bundled: dict[str, Path]) -> None:
    for path in bundled.values():
        assert not list(path.rglob("*.pyc")), path
        assert not list(path.rglob("__pycache__")), path


def test_a_function_asset_holds_only_its_own_folder(bundled: dict[str, Path]) -> None:
    functions = [path for path in bundled.values() if (path / "functions").is_dir()]
    assert len(functions) == 1
    files = sorted(p.relative_to(functions[0]).as_posix() for p in functions[0].rglob("*") if p.is_file())
    assert files == ["functions/__init__.py", "functions/admin_api/handler.py"]


def test_asset_hashes_follow_content_and_ignore_bytecode(tmp_path: Path) -> None:
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "handler.py").write_text("x = 1\n")
    before = tree_digest(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\0")
    assert tree_digest(folder) == before
    (folder / "handler.py").write_text("x = 2\n")
    assert tree_digest(folder) != before
    assert tree_digest(folder, extra=("dep==1",)) != tree_digest(folder, extra=("dep==2",))
