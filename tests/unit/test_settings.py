"""The backend base URL check: what is a usable WORKER_API_BASE_URL."""

from __future__ import annotations

import pytest

from seekapi._settings import check_api_base
from seekapi.errors import ConfigurationError


@pytest.mark.parametrize(
    "url",
    [
        "https://api.seek-api.com",
        "http://127.0.0.1:8080",
        "HTTPS://API.example.com/prefix/",
        "http://[::1]:9000",
        "http://[2001:db8::1]",
        "http://localhost",
        "https://bücher.example",
        "https://internal_host.corp.:443/a%20b/",
    ],
)
def test_usable_base_urls(url: str) -> None:
    """http or https, a host, maybe a port and a path prefix."""
    check_api_base(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://h", "scheme must be http or https, not 'ftp'"),
        ("h:80", "must start with http"),
        ("http://h#x", "'?' or '#'"),
        ("http://h/p?x=1", "'?' or '#'"),
        ("http://user:hunter2@h", "user info"),
        ("http://h st", "space or a control character"),
        ("http://h/\x00", "space or a control character"),
        ("http://h\\x", "backslash"),
        ("http://[::1", "not closed"),
        ("http://[::1]x", "after the IPv6 host"),
        ("http://[fe80::1%25eth0]", "not an IPv6 address"),
        ("http://a[b", "'[' or ']'"),
        ("http://", "no host"),
        ("http://:80", "no host"),
        ("http://h:", "port"),
        ("http://h:8o", "port"),
        ("http://h:0", "port"),
        ("http://h:123456", "port"),
        ("http://::1", "no host"),
        ("http://h::1", "in brackets"),
        ("http://h\ufffdst", "internationalised"),
        ("http://a\u3000b", "cannot have"),
        ("http://a..b", "empty or over-long"),
        ("http://" + "a" * 64 + ".com", "empty or over-long"),
        ("http://h/pä", "not ASCII"),
    ],
)
def test_unusable_base_urls(url: str, why: str) -> None:
    """Each is refused with a reason, never with the URL itself."""
    with pytest.raises(ConfigurationError, match="WORKER_API_BASE_URL") as info:
        check_api_base(url)
    assert why in str(info.value)
    assert "hunter2" not in str(info.value)
