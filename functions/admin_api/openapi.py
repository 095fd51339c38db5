"""Write the admin API's OpenAPI document: ``python -m functions.admin_api.openapi [path]``.

``make openapi`` writes ``docs/openapi.json``; a test fails when the code and that file differ.
Generating it builds the resolver only (no settings, no AWS).
"""

from __future__ import annotations

import sys
from pathlib import Path

from functions.admin_api.app import create_app, openapi_json

DEFAULT_PATH = Path("docs/openapi.json")


def document() -> str:
    return openapi_json(create_app())


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else DEFAULT_PATH
    target.write_text(document(), encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
