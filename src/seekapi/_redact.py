"""Keep secrets out of messages: URLs shown without query or credentials, known secrets masked,
server text withheld when it may echo one.

The secrets are the internal secret, the execution token, the values of a presigned URL's
query string and proxy credentials. A server may echo one back in its reply, and not only
as it was sent, so a reply's body (or reason phrase) is shown only after two steps:

1. every occurrence of a secret as it was sent, JSON-escaped or percent-encoded (either
   case of hex digits) is replaced by :data:`MASK`;
2. the result is searched for what is left of any secret in any of the forms below; if
   anything is found, the text is withheld, replaced by a short summary.

The forms searched for: the secret itself, its base64 encoding (standard and URL-safe,
at each of the three byte alignments, as inside a longer encoded value such as a Basic
``Authorization`` header) and its hexadecimal encoding (either case), each also after
decoding the text's HTML character references (``&#x73;``, ``&#115;``, ``&sol;``...),
backslash escapes (``\\u0073``, ``\\x73``, ``\\/``), and percent-encoding (either case),
and with all whitespace removed (a secret split across lines). A match is any run of
:data:`FRAGMENT_CHARS` or more consecutive characters of one of these forms (case is
ignored), or the whole of a shorter form. Values shorter than :data:`MIN_SECRET_CHARS`
are not looked for: they cannot be told apart from ordinary words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MASK = "<hidden>"

MIN_SECRET_CHARS = 6
"""Shorter values are not masked: they cannot be told apart from ordinary words, and real
secrets and tokens are far longer."""

FRAGMENT_CHARS = 8
"""A run of this many characters of a secret (in any searched form) withholds the text."""

SCAN_BYTES = 16 * 300
"""How much of a body is looked at for an excerpt; the rest is never shown."""

_EXCERPT_CHARS = 300
# Characters at the end of a scanned window that is not the whole body and that are never
# shown: they may be the start of a secret whose rest was not scanned. Enough for a run of
# FRAGMENT_CHARS characters in the widest form (&#x...; or \\uXXXX per character).
_UNSEEN_TAIL = 16 * FRAGMENT_CHARS


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


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by a mask.

    A secret is also found in the forms a server may echo it in unchanged: JSON-escaped
    (``\\u00f6`` for ``ö``) and percent-encoded (``%2F`` or ``%2f``).
    """
    for secret in secrets:
        if len(secret) < MIN_SECRET_CHARS:
            continue
        for form in _forms(secret):
            if form in text:
                text = text.replace(form, MASK)
    return text


def _forms(secret: str) -> list[str]:
    import json
    from urllib.parse import quote

    quoted = quote(secret, safe="")
    forms = {secret, json.dumps(secret)[1:-1], quoted, _lower_escapes(quoted)}
    # Longest first, so that a form inside another is not masked in part first.
    return sorted(forms, key=len, reverse=True)


def _lower_escapes(quoted: str) -> str:
    parts = quoted.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


def withheld(size: int) -> str:
    """The summary shown instead of a body that may echo a credential."""
    return f"({size}-byte body withheld: it may echo a credential)"


def excerpt(body: bytes | bytearray, secrets: Sequence[str], limit: int = _EXCERPT_CHARS) -> str:
    """The start of ``body`` fit for a message: at most ``limit`` characters, runs of
    whitespace shown as one space, secrets masked; or :func:`withheld` when what is left
    may still hold a secret in any searched form. ``""`` for an empty body."""
    if not body:
        return ""
    cut = len(body) > SCAN_BYTES
    text = bytes(body[:SCAN_BYTES]).decode("utf-8", "replace")
    text = scrub(mask_signing_details(text), secrets)
    if may_hold_secret(text, secrets):
        return withheld(len(body))
    if cut:
        # Never show the end of a partial window: a secret may start there.
        text = text[: max(0, len(text) - _UNSEEN_TAIL)]
    return " ".join(text.split())[:limit]


def clean_text(text: str, secrets: Sequence[str]) -> str:
    """Short server text (a reason phrase) with secrets masked, or ``""`` when what is left
    may still hold one."""
    text = scrub(text, secrets)
    return "" if may_hold_secret(text, secrets) else text


def may_hold_secret(text: str, secrets: Iterable[str]) -> bool:
    """True when ``text`` holds a run of :data:`FRAGMENT_CHARS` characters (or the whole)
    of any secret in any searched form, after any of the decodings (see the module)."""
    wanted = [s for s in secrets if len(s) >= MIN_SECRET_CHARS]
    if not wanted or not text:
        return False
    views = _views(text)
    runs: set[str] = set()
    for view in views:
        runs.update(view[i : i + FRAGMENT_CHARS] for i in range(len(view) - FRAGMENT_CHARS + 1))
    for secret in wanted:
        for form in _encoded_forms(secret):
            if len(form) < FRAGMENT_CHARS:
                if any(form in view for view in views):
                    return True
                continue
            for i in range(len(form) - FRAGMENT_CHARS + 1):
                if form[i : i + FRAGMENT_CHARS] in runs:
                    return True
    return False


def _views(text: str) -> list[str]:
    """``text`` as written and decoded, each also without whitespace; all lower-case.

    The decodings (HTML references, backslash escapes, percent-encoding) are applied alone
    and in sequence, up to three deep: a value may be encoded more than once, and one
    decoding may spoil what another would find (a backslash that is part of a secret).
    """
    import html
    from urllib.parse import unquote

    decoders = (
        html.unescape,
        _unescape_backslashes,
        lambda t: unquote(t, errors="replace"),
    )
    seen = {text}
    layer = [text]
    for _ in range(3):
        next_layer = []
        for item in layer:
            for decode in decoders:
                decoded = decode(item)
                if decoded not in seen and len(seen) < _MAX_VIEWS:
                    seen.add(decoded)
                    next_layer.append(decoded)
        layer = next_layer
    views = {v.lower() for v in seen}
    views |= {"".join(v.split()) for v in views}
    return list(views)


_MAX_VIEWS = 24


def _unescape_backslashes(text: str) -> str:
    if "\\" not in text:
        return text
    import re

    def pair(match: re.Match[str]) -> str:
        high, low = int(match.group(1), 16), int(match.group(2), 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    def one(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape[0] in "ux" and len(escape) > 1:
            return chr(int(escape[1:], 16))
        return _SIMPLE_ESCAPES.get(escape, escape)

    text = re.sub(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})", pair, text)
    return re.sub(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", one, text, flags=re.DOTALL)


_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _encoded_forms(secret: str) -> list[str]:
    """The secret, its hex and its base64 at each alignment; lower-case."""
    import base64

    raw = secret.encode("utf-8", "surrogatepass")
    forms = [secret.lower(), raw.hex()]
    for align in range(3):
        # The characters that depend on the secret's bytes only, whatever comes before
        # or after it in a longer encoded value.
        first = -(-8 * align // 6)
        last = 8 * (align + len(raw)) // 6
        encoded = base64.b64encode(b"\0" * align + raw).decode("ascii")[first:last]
        forms.append(encoded.lower())
        forms.append(encoded.replace("+", "-").replace("/", "_").lower())
    return [f for f in forms if f]


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
    if "<" not in text:
        return text
    import re

    names = "|".join(_SIGNING_ELEMENTS)
    return re.sub(rf"<({names})>.*?</\1>", rf"<\1>{MASK}</\1>", text, flags=re.DOTALL)
