"""The smallest SeekAPI worker: greets whoever the input names."""

from __future__ import annotations

from typing import Any

import seekapi


def greet(data: dict[str, Any]) -> dict[str, Any]:
    """The worker's own logic: input in, result out."""
    name = data.get("name") or "world"
    return {"message": f"hello {name}"}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The Lambda entry point."""
    return seekapi.run(event, context, greet)
