"""Proxies from HTTP_PROXY / HTTPS_PROXY / NO_PROXY, with the rules urllib applies."""

from __future__ import annotations

import base64
import time

import pytest

from seekapi._proxy import Proxy, credentials_for, proxy_for
from seekapi.errors import ConfigurationError


def basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode("ascii")


# -- which variable applies -----------------------------------------------------------------


def test_no_variables_means_no_proxy() -> None:
    """Without proxy variables requests go direct."""
    assert proxy_for("https", "api.example.com", 443, {}) is None


def test_https_request_uses_https_proxy() -> None:
    """An https request uses HTTPS_PROXY, not HTTP_PROXY."""
    env = {"HTTPS_PROXY": "http://secure-proxy:3128", "HTTP_PROXY": "http://plain-proxy:8080"}
    assert proxy_for("https", "api.example.com", 443, env) == Proxy(
        host="secure-proxy", port=3128, scheme="http", authorization=None
    )


def test_http_request_uses_http_proxy() -> None:
    """An http request uses HTTP_PROXY, not HTTPS_PROXY."""
    env = {"HTTPS_PROXY": "http://secure-proxy:3128", "HTTP_PROXY": "http://plain-proxy:8080"}
    proxy = proxy_for("http", "api.example.com", 80, env)
    assert proxy is not None
    assert (proxy.host, proxy.port) == ("plain-proxy", 8080)


def test_scheme_argument_is_case_insensitive() -> None:
    """'HTTPS' as the request scheme reads the same variables as 'https'."""
    env = {"https_proxy": "http://p:1"}
    assert proxy_for("HTTPS", "h", 443, env) == proxy_for("https", "h", 443, env)


def test_lowercase_variable_wins_over_uppercase() -> None:
    """https_proxy is used when both it and HTTPS_PROXY are set."""
    env = {"HTTPS_PROXY": "http://upper:1111", "https_proxy": "http://lower:2222"}
    proxy = proxy_for("https", "h", 443, env)
    assert proxy is not None
    assert proxy.host == "lower"


def test_empty_lowercase_variable_disables_the_uppercase_one() -> None:
    """https_proxy set to empty means no proxy even when HTTPS_PROXY is set."""
    env = {"HTTPS_PROXY": "http://upper:1111", "https_proxy": ""}
    assert proxy_for("https", "h", 443, env) is None


@pytest.mark.parametrize("blank", ["", "   "])
def test_empty_uppercase_variable_is_ignored(blank: str) -> None:
    """An empty or blank HTTPS_PROXY means no proxy rather than an error."""
    assert proxy_for("https", "h", 443, {"HTTPS_PROXY": blank}) is None


def test_uppercase_http_proxy_is_ignored_under_cgi() -> None:
    """With REQUEST_METHOD set, HTTP_PROXY is ignored (httpoxy)."""
    env = {"HTTP_PROXY": "http://attacker:8080", "REQUEST_METHOD": "GET"}
    assert proxy_for("http", "h", 80, env) is None


def test_lowercase_http_proxy_still_counts_under_cgi() -> None:
    """With REQUEST_METHOD set, http_proxy (lowercase) is still used."""
    env = {"http_proxy": "http://trusted:3128", "REQUEST_METHOD": "POST"}
    proxy = proxy_for("http", "h", 80, env)
    assert proxy is not None
    assert proxy.host == "trusted"


def test_request_method_does_not_affect_https_proxy() -> None:
    """REQUEST_METHOD only discards HTTP_PROXY; HTTPS_PROXY is still used."""
    env = {"HTTPS_PROXY": "http://p:3128", "REQUEST_METHOD": "GET"}
    assert proxy_for("https", "h", 443, env) is not None


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit mapping the process environment is read, on every call."""
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_for("https", "h", 443) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://from-env:3128")
    proxy = proxy_for("https", "h", 443)
    assert proxy is not None
    assert proxy.host == "from-env"


# -- proxy URL forms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "host", "port"),
    [
        ("http://proxy:3128", "proxy", 3128),
        ("HTTP://Proxy.Corp:3128/", "Proxy.Corp", 3128),
        ("proxy:3128", "proxy", 3128),
        ("proxy", "proxy", 80),
        ("http://proxy", "proxy", 80),
        ("http://proxy:", "proxy", 80),
        ("http://proxy:3128/some/path?q=1#f", "proxy", 3128),
        ("http://10.0.0.5:8080", "10.0.0.5", 8080),
        ("http://[::1]:3128", "::1", 3128),
        ("[fd00::5]", "fd00::5", 80),
        ("  http://proxy:3128  ", "proxy", 3128),
    ],
)
def test_proxy_url_forms(value: str, host: str, port: int) -> None:
    """Scheme-less values mean http://, the port defaults to 80, paths are ignored."""
    proxy = proxy_for("https", "target", 443, {"HTTPS_PROXY": value})
    assert proxy == Proxy(host=host, port=port, scheme="http", authorization=None)


def test_credentials_become_a_basic_proxy_authorization() -> None:
    """user:password@ in the proxy URL yields a Proxy-Authorization Basic value."""
    proxy = proxy_for("https", "h", 443, {"HTTPS_PROXY": "http://alice:s3cret@proxy:3128"})
    assert proxy is not None
    assert proxy.authorization == basic(b"alice:s3cret")
    assert (proxy.host, proxy.port) == ("proxy", 3128)


def test_credentials_are_percent_decoded() -> None:
    """Percent-escapes in user and password are decoded before encoding the header."""
    env = {"HTTPS_PROXY": "http://dom%5Cuser:p%40ss%3Aw%2Fd%25@proxy:3128"}
    proxy = proxy_for("https", "h", 443, env)
    assert proxy is not None
    assert proxy.authorization == basic(b"dom\\user:p@ss:w/d%")


def test_unencoded_at_and_slash_in_password_are_kept() -> None:
    """The host starts after the last '@', so '@' and '/' in a password survive."""
    proxy = proxy_for("https", "h", 443, {"HTTPS_PROXY": "http://bob:pa/ss@word@proxy:3128"})
    assert proxy is not None
    assert proxy.host == "proxy"
    assert proxy.authorization == basic(b"bob:pa/ss@word")


def test_non_ascii_credentials_are_sent_as_utf8() -> None:
    """Non-ASCII user names are encoded as UTF-8 in the Basic credentials."""
    proxy = proxy_for("https", "h", 443, {"HTTPS_PROXY": "http://jos%C3%A9:ñ@proxy:1"})
    assert proxy is not None
    assert proxy.authorization == basic("josé:ñ".encode())


@pytest.mark.parametrize(
    ("userinfo", "credentials"), [("token", b"token:"), (":pw", b":pw"), ("u:", b"u:")]
)
def test_partial_credentials_still_authenticate(userinfo: str, credentials: bytes) -> None:
    """A user without password (or the reverse) is sent with the missing half empty."""
    proxy = proxy_for("https", "h", 443, {"HTTPS_PROXY": f"http://{userinfo}@proxy:1"})
    assert proxy is not None
    assert proxy.authorization == basic(credentials)


def test_empty_userinfo_sends_no_authorization() -> None:
    """An '@' with nothing before it adds no Proxy-Authorization."""
    proxy = proxy_for("https", "h", 443, {"HTTPS_PROXY": "http://@proxy:1"})
    assert proxy is not None
    assert proxy.authorization is None


def test_repr_hides_the_credentials() -> None:
    """repr() and str() show host and port but neither the password nor the header."""
    proxy = proxy_for("https", "h", 443, {"HTTPS_PROXY": "http://alice:s3cret@proxy:3128"})
    assert proxy is not None
    assert proxy.authorization is not None
    for text in (repr(proxy), str(proxy)):
        assert "proxy" in text
        assert "3128" in text
        assert "alice" not in text
        assert "s3cret" not in text
        assert proxy.authorization.split()[1] not in text
        assert "<hidden>" in text


def test_proxies_are_hashable_values() -> None:
    """Equal proxy settings give equal, hashable Proxy values (usable as pool keys)."""
    env = {"HTTPS_PROXY": "http://u:p@proxy:3128"}
    a, b = proxy_for("https", "h", 443, env), proxy_for("https", "other", 443, env)
    assert a == b
    assert hash(a) == hash(b)


# -- malformed proxy URLs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("http://alice:s3cret@proxy:notaport", "invalid port"),
        ("http://alice:s3cret@proxy:0", "invalid port"),
        ("http://alice:s3cret@proxy:65536", "invalid port"),
        ("http://alice:s3cret@proxy:-1", "invalid port"),
        ("http://alice:s3cret@proxy:٣١٢٨", "invalid port"),
        ("http://alice:s3cret@:3128", "no host"),
        ("http://alice:s3cret@", "no host"),
        ("http://", "no host"),
        ("http://alice:s3cret@::1:3128", "brackets"),
        ("http://alice:s3cret@[::1:3128", "invalid IPv6"),
        ("http://alice:s3cret@[::1]x:3128", "invalid IPv6"),
        ("http://alice:s3cret@pro xy:3128", "invalid host"),
        ("http://alice:s3cret@proxy\r\nX-Evil: 1:3128", "invalid host"),
    ],
)
def test_malformed_proxy_url_names_the_variable_not_the_credentials(
    value: str, reason: str
) -> None:
    """A malformed proxy URL raises ConfigurationError naming the variable, hiding secrets."""
    with pytest.raises(ConfigurationError, match=reason) as caught:
        proxy_for("https", "h", 443, {"HTTPS_PROXY": value})
    message = str(caught.value)
    assert "HTTPS_PROXY" in message
    assert "s3cret" not in message
    assert "alice" not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


def test_https_proxy_scheme_is_refused_with_a_hint() -> None:
    """An https:// proxy URL raises ConfigurationError explaining to use http://."""
    with pytest.raises(ConfigurationError, match=r"only http:// proxies") as caught:
        proxy_for("https", "h", 443, {"https_proxy": "https://alice:s3cret@proxy:443"})
    assert "https_proxy" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_socks_proxy_scheme_is_refused() -> None:
    """A socks5:// proxy URL raises ConfigurationError."""
    with pytest.raises(ConfigurationError, match=r"'socks5'.*only http://"):
        proxy_for("http", "h", 80, {"HTTP_PROXY": "socks5://proxy:1080"})


def test_malformed_proxy_is_not_checked_for_bypassed_hosts() -> None:
    """A host listed in NO_PROXY goes direct even when the proxy URL is unusable."""
    env = {"HTTPS_PROXY": "http://proxy:notaport", "NO_PROXY": "internal.example"}
    assert proxy_for("https", "internal.example", 443, env) is None
    with pytest.raises(ConfigurationError):
        proxy_for("https", "public.example", 443, env)


def test_malformed_proxy_of_another_scheme_is_not_checked() -> None:
    """A broken HTTP_PROXY does not affect https requests."""
    env = {"HTTP_PROXY": "http://proxy:notaport"}
    assert proxy_for("https", "h", 443, env) is None


# -- NO_PROXY -------------------------------------------------------------------------------

PROXY_ENV = {"HTTPS_PROXY": "http://proxy:3128", "HTTP_PROXY": "http://proxy:3128"}


def goes_direct(no_proxy: str, host: str, port: int = 443, *, lower: bool = False) -> bool:
    env = dict(PROXY_ENV)
    env["no_proxy" if lower else "NO_PROXY"] = no_proxy
    return proxy_for("https", host, port, env) is None


@pytest.mark.parametrize(
    ("no_proxy", "host", "direct"),
    [
        ("example.com", "example.com", True),
        ("example.com", "api.example.com", True),
        ("example.com", "a.b.example.com", True),
        ("example.com", "badexample.com", False),
        ("example.com", "example.com.evil.net", False),
        (".example.com", "example.com", True),
        (".example.com", "api.example.com", True),
        ("*.example.com", "api.example.com", True),
        ("Example.COM", "API.example.com", True),
        ("other.org,example.com", "example.com", True),
        ("other.org , example.com ,", "www.example.com", True),
        (" , ,", "example.com", False),
        ("other.org", "example.com", False),
    ],
)
def test_no_proxy_matches_hosts_and_domain_suffixes(no_proxy: str, host: str, direct: bool) -> None:
    """Entries match the host exactly or as a domain suffix, case-insensitively."""
    assert goes_direct(no_proxy, host) is direct


@pytest.mark.parametrize("value", ["*", " * ", "localhost, *"])
def test_no_proxy_star_bypasses_everything(value: str) -> None:
    """A '*' entry sends every host direct."""
    assert goes_direct(value, "anything.example")
    assert goes_direct(value, "10.1.2.3")


@pytest.mark.parametrize(
    ("no_proxy", "port", "direct"),
    [
        ("example.com:8443", 8443, True),
        ("example.com:8443", 443, False),
        (".example.com:8443", 8443, True),
        ("example.com:443", 443, True),
        ("example.com", 8443, True),
        ("example.com:notaport", 443, False),
    ],
)
def test_no_proxy_port_must_match(no_proxy: str, port: int, direct: bool) -> None:
    """An entry with :port matches that port only; one without matches every port."""
    assert goes_direct(no_proxy, "api.example.com", port) is direct


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "direct"),
    [
        ("10.0.0.1", "10.0.0.1", 443, True),
        ("10.0.0.1", "10.0.0.12", 443, False),
        ("0.0.1", "10.0.0.1", 443, False),
        ("10.0.0.0/8", "10.0.0.1", 443, False),
        ("10.0.0.1:8080", "10.0.0.1", 8080, True),
        ("::1", "::1", 443, True),
        ("::1", "[::1]", 443, True),
        ("[::1]", "::1", 443, True),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "::1", 443, False),
        ("[::1", "::1", 443, False),
        ("fd00::1", "fd00::10", 443, False),
    ],
)
def test_no_proxy_compares_ip_addresses_as_text(
    no_proxy: str, host: str, port: int, direct: bool
) -> None:
    """IP entries match the same address text exactly (brackets optional); no CIDR."""
    assert goes_direct(no_proxy, host, port) is direct


def test_lowercase_no_proxy_wins_over_uppercase() -> None:
    """no_proxy is used instead of NO_PROXY when both are set."""
    env = dict(PROXY_ENV, NO_PROXY="a.example", no_proxy="b.example")
    assert proxy_for("https", "b.example", 443, env) is None
    assert proxy_for("https", "a.example", 443, env) is not None


def test_empty_lowercase_no_proxy_disables_the_uppercase_one() -> None:
    """no_proxy set to empty means no bypass even when NO_PROXY is set."""
    env = dict(PROXY_ENV, NO_PROXY="a.example", no_proxy="")
    assert proxy_for("https", "a.example", 443, env) is not None


def test_no_proxy_applies_to_http_requests_too() -> None:
    """NO_PROXY bypasses the proxy for plain http requests as well."""
    env = dict(PROXY_ENV, NO_PROXY="example.com")
    assert proxy_for("http", "example.com", 80, env) is None


def test_changed_environment_takes_effect_on_the_next_call() -> None:
    """Cached parses are keyed on the values, so a new value is honoured at once."""
    env = {"HTTPS_PROXY": "http://one:1"}
    first = proxy_for("https", "h", 443, env)
    env["HTTPS_PROXY"] = "http://two:2"
    second = proxy_for("https", "h", 443, env)
    assert first is not None
    assert second is not None
    assert (first.host, second.host) == ("one", "two")


def test_lookup_is_fast() -> None:
    """A lookup with a proxy and a NO_PROXY list costs microseconds, not milliseconds."""
    env = dict(PROXY_ENV, NO_PROXY="localhost,127.0.0.1,.internal,.corp.example:8443")
    proxy_for("https", "api.example.com", 443, env)
    calls = 20_000
    start = time.perf_counter()
    for _ in range(calls):
        proxy_for("https", "api.example.com", 443, env)
    per_call = (time.perf_counter() - start) / calls
    assert per_call < 50e-6


def test_credentials_for_gives_every_form_of_the_proxy_credentials() -> None:
    """The Basic token, user:password, the password and the user, for messages to hide."""
    env = {"HTTPS_PROXY": "http://bob:s3cr%2Ft@proxy:3128"}
    token = base64.b64encode(b"bob:s3cr/t").decode()
    assert credentials_for("https://api.example.com/v1/x", env) == (
        token,
        "bob:s3cr/t",
        "s3cr/t",
        "bob",
    )


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"HTTPS_PROXY": "http://proxy:3128"},
        {"HTTPS_PROXY": "http://bob:pw@proxy:3128", "NO_PROXY": "example.com"},
        {"HTTP_PROXY": "http://bob:pw@proxy:3128"},
        {"HTTPS_PROXY": "http://bob:pw@proxy:notaport"},
    ],
)
def test_credentials_for_is_empty_without_credentials_in_use(env: dict[str, str]) -> None:
    """Direct, bypassed, another scheme's proxy or a malformed one: nothing, and no error."""
    assert credentials_for("https://api.example.com/v1/x", env) == ()


def test_credentials_for_a_bad_url_is_empty() -> None:
    """It is used while an error message is built: it never raises."""
    assert credentials_for("http://[::1", {"HTTP_PROXY": "http://u:p@proxy:1"}) == ()
