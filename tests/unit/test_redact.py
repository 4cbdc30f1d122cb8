"""URLs and messages are shown without their secrets."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from seekapi._redact import (
    FRAGMENT_CHARS,
    MASK,
    SCAN_BYTES,
    clean_text,
    display_url,
    excerpt,
    may_hold_secret,
    scrub,
)


def test_presigned_query_is_never_shown() -> None:
    """The query string of a presigned URL (its credentials) is cut off."""
    url = "https://bucket.s3.amazonaws.com/jobs/1/input.json?X-Amz-Signature=abc&X-Amz-Credential=k"
    assert display_url(url) == "https://bucket.s3.amazonaws.com/jobs/1/input.json"


def test_user_info_and_fragment_are_never_shown() -> None:
    """Credentials in the authority and anything after '#' are dropped."""
    assert display_url("http://user:pw@host:8080/p#frag?x") == "http://host:8080/p"


@given(st.text(), st.text(min_size=1))
def test_display_url_never_contains_the_query(path: str, query: str) -> None:
    """Whatever the path, nothing after the first '?' survives."""
    url = f"https://h/{path.replace('?', '').replace('#', '')}?{query}"
    assert "?" not in display_url(url)


def test_scrub_masks_every_occurrence() -> None:
    """Each known secret is masked wherever it appears; blanks are ignored."""
    text = "token-1 token-1 secret"
    assert scrub(text, ["token-1", "secret", ""]) == f"{MASK} {MASK} {MASK}"


# -- excerpts of server text ---------------------------------------------------------------

SECRET = "Qz9/sk.Ab_Cd:Ef/Gh=Ij+Kl@Mn.Op_Rs/Tu"


def _runs(value: str, size: int = FRAGMENT_CHARS) -> list[str]:
    return [value[i : i + size] for i in range(len(value) - size + 1)]


def _shows_part(text: str, value: str, size: int = FRAGMENT_CHARS) -> bool:
    return any(run in text for run in _runs(value, size))


def test_a_clean_body_is_shown_with_whitespace_collapsed() -> None:
    """Text holding no secret is kept, whitespace runs as one space, cut at 300."""
    assert excerpt(b'{"error":\n\n   "busy"}', [SECRET]) == '{"error": "busy"}'
    assert excerpt(b"x" * 1000, [SECRET]) == "x" * 300
    assert excerpt(b"", [SECRET]) == ""


def test_a_secret_as_sent_is_masked_and_the_rest_shown() -> None:
    """The exact secret, JSON-escaped or percent-encoded, is replaced by the mask."""
    quoted = SECRET.replace("/", "%2f").replace(":", "%3a").replace("=", "%3d")
    quoted = quoted.replace("+", "%2b").replace("@", "%40")
    for form in (SECRET, quoted, quoted.upper().replace("%", "%")):
        shown = excerpt(f"denied: {form} (bad)".encode(), [SECRET])
        if "withheld" not in shown:
            assert shown == f"denied: {MASK} (bad)"
        assert not _shows_part(shown, SECRET)


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: base64.b64encode(s.encode()).decode(),
        lambda s: base64.b64encode(b"a" + s.encode()).decode(),
        lambda s: base64.b64encode(b"ab" + s.encode()).decode(),
        lambda s: base64.urlsafe_b64encode(b"a" + s.encode()).decode(),
        lambda s: s.encode().hex(),
        lambda s: s.encode().hex().upper(),
        lambda s: "".join(f"&#x{ord(c):X};" for c in s),
        lambda s: "".join(f"&#{ord(c)};" for c in s),
        lambda s: s.replace("/", "&sol;").replace(".", "&period;").replace("_", "&lowbar;"),
        lambda s: "".join(f"\\u{ord(c):04X}" for c in s),
        lambda s: "".join(f"\\x{ord(c):02x}" for c in s),
        lambda s: "".join(f"%{b:02x}" for b in s.encode()),
        lambda s: s.replace("/", "\\/"),
        lambda s: "\n".join(s[i : i + 5] for i in range(0, len(s), 5)),
        lambda s: "%25" + "%25".join(f"{b:02x}" for b in s.encode()),  # percent, twice
        lambda s: s[10:],  # a part of it
    ],
)
def test_an_encoded_secret_withholds_the_body(encode: Callable[[str], str]) -> None:
    """Any searched form, anywhere in the scanned part, withholds the whole excerpt."""
    payload = encode(SECRET)
    body = f"<p>error</p><pre>{payload}</pre>".encode()
    assert may_hold_secret(body.decode(), [SECRET])
    assert excerpt(body, [SECRET]) == f"({len(body)}-byte body withheld: it may echo a credential)"


def test_a_secret_in_a_basic_token_is_found_at_any_offset() -> None:
    """A password inside 'user:password' encoded as a whole is found."""
    for user in ("u", "us", "use", "user"):
        token = base64.b64encode(f"{user}:{SECRET}".encode()).decode()
        assert may_hold_secret(f"Proxy-Authorization: Basic {token}", [SECRET])


@pytest.mark.parametrize("inside", range(1, len(SECRET)))
def test_a_secret_cut_by_the_window_shows_no_part(inside: int) -> None:
    """Blank space before a secret that the scanned window cuts: no part of it shows."""
    body = b" " * (SCAN_BYTES - inside) + SECRET.encode() + b" more"
    shown = excerpt(body, [SECRET])
    assert SECRET[: min(inside, 2) or 1] not in shown.replace("withheld", "")


@pytest.mark.parametrize("inside", range(1, len(SECRET)))
def test_a_secret_cut_by_the_excerpt_length_shows_no_part(inside: int) -> None:
    """A secret straddling the 300th character is masked before the cut."""
    body = b"y" * (300 - inside) + SECRET.encode() + b" tail"
    shown = excerpt(body, [SECRET])
    assert SECRET[: max(inside, 2)] not in shown


def test_short_values_are_not_looked_for() -> None:
    """A value under six characters would match ordinary words."""
    assert excerpt(b"the host is busy", ["host", "busy"]) == "the host is busy"


def test_a_reason_phrase_is_cleaned_the_same_way() -> None:
    """A short server text is masked, or dropped when it still may hold a secret."""
    assert clean_text(f"Denied {SECRET}", [SECRET]) == f"Denied {MASK}"
    assert clean_text(f"Denied {SECRET.encode().hex()}", [SECRET]) == ""
    assert clean_text("Not Found", [SECRET]) == "Not Found"


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=8, max_size=40),
    before=st.text(max_size=200),
    after=st.text(max_size=200),
    form=st.sampled_from(["raw", "b64", "b64-1", "hex", "entities", "unicode", "pct"]),
)
def test_no_form_of_any_secret_shows(secret: str, before: str, after: str, form: str) -> None:
    """Whatever the secret and the text around it, what shows holds no run of 8 of its
    characters, as written or decoded, nor the encoding of 8 of them."""
    encoders: dict[str, tuple[Callable[[str], str], int]] = {
        # the encoder, and how long the encoding of FRAGMENT_CHARS characters is
        "raw": (lambda s: s, 8),
        "b64": (lambda s: base64.b64encode(s.encode()).decode(), 12),
        "b64-1": (lambda s: base64.b64encode(b"x" + s.encode()).decode(), 12),
        "hex": (lambda s: s.encode().hex(), 16),
        "entities": (lambda s: "".join(f"&#{ord(c)};" for c in s), 64),
        "unicode": (lambda s: "".join(f"\\u{ord(c):04x}" for c in s), 48),
        "pct": (lambda s: "".join(f"%{b:02x}" for b in s.encode()), 24),
    }
    # The summary's own words are no leak of a secret that happens to be spelled like them.
    assume(not _shows_part("byte body withheld: it may echo a credential", secret))
    encode, width = encoders[form]
    payload = encode(secret)
    body = f"{before}{payload}{after}".encode("utf-8", "surrogatepass")
    shown = excerpt(body, [secret])
    views = [
        shown,
        html.unescape(shown),
        unquote(shown),
        re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), shown),
    ]
    assert not any(_shows_part(view, secret) for view in views)
    assert not _shows_part(shown, payload, width)
