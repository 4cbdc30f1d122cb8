"""Keep secrets out of messages: URLs shown without query or credentials, known secrets masked."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "<hidden>"


def display_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: no user info, no query string, no fragment.

    A presigned URL carries its credentials in the query string, so that part is never shown.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    # Cut at the first of '?' or '#': everything after may be a credential.
    for mark in ("?", "#"):
        rest = rest.split(mark, 1)[0]
    authority, slash, path = rest.partition("/")
    authority = authority.rpartition("@")[2]
    shown = f"{authority}{slash}{path}"
    return f"{scheme}://{shown}" if sep else shown


MIN_SECRET_CHARS = 6
"""Shorter values are not masked: they cannot be told apart from ordinary words, and real
secrets and tokens are far longer."""


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by a mask."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_CHARS and secret in text:
            text = text.replace(secret, MASK)
    return text
