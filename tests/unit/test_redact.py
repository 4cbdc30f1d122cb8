"""URLs and messages are shown without their secrets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from seekapi._redact import MASK, display_url, scrub


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
