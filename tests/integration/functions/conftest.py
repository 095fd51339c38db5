"""Fixtures of the in-process handler tests (the helpers live in ``tests/support/lambda_stack.py``)."""

from __future__ import annotations

from tests.support.lambda_stack import bamboohr, stack

__all__ = ["bamboohr", "stack"]
