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
    """``text`` with every occurrence of each secret replaced by a mask.

    A secret is also found in the forms a server may echo it in: JSON-escaped
    (``\u00f6`` for ``ö``) and percent-encoded.
    """
    for secret in secrets:
        if len(secret) < MIN_SECRET_CHARS:
            continue
        for form in _forms(secret):
            if form in text:
                text = text.replace(form, MASK)
    return text


def _forms(secret: str) -> set[str]:
    import json
    from urllib.parse import quote

    return {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}


def query_secrets(url: str) -> list[str]:
    """The values in ``url``'s query string (a presigned URL's credentials), raw and decoded."""
    from urllib.parse import unquote

    query = url.partition("?")[2].partition("#")[0]
    values: list[str] = []
    for pair in query.split("&"):
        value = pair.partition("=")[2]
        if value:
            values += [value, unquote(value)]
    return values


_SIGNING_ELEMENTS = (
    "AWSAccessKeyId",
    "CanonicalRequest",
    "CanonicalRequestBytes",
    "SignatureProvided",
    "StringToSign",
    "StringToSignBytes",
    "X-Amz-Credential",
    "X-Amz-Signature",
)


def mask_signing_details(text: str) -> str:
    """Mask what an S3 error body echoes of a request's signature (``<StringToSign>``...)."""
    import re

    names = "|".join(_SIGNING_ELEMENTS)
    return re.sub(rf"<({names})>.*?</\1>", rf"<\1>{MASK}</\1>", text, flags=re.DOTALL)
