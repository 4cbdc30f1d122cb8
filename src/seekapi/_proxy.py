"""Proxies from the environment, honoured the way urllib honours them.

seekapi 1.0.5 made its calls through urllib, so workers behind a proxy configured it
with ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY``. The same variables work here, with
the same rules:

- ``<scheme>_proxy`` (lowercase) wins over ``<SCHEME>_PROXY``; a lowercase variable that
  is set but empty means "no proxy" even when the uppercase one is set. An empty
  uppercase variable is ignored. Only these two spellings are read.
- ``HTTP_PROXY`` (uppercase) is ignored when ``REQUEST_METHOD`` is set: under CGI a
  client's ``Proxy:`` request header arrives as ``HTTP_PROXY`` ("httpoxy").
  ``http_proxy`` still counts.
- ``no_proxy`` / ``NO_PROXY`` is a comma-separated list. ``*`` bypasses the proxy for
  every host. Any other entry matches the host itself or any subdomain of it; a leading
  ``.`` (or ``*.``) is optional; ``host:port`` matches that port only. IP addresses are
  compared as text and match only exactly (no CIDR ranges).
- A proxy URL without a scheme means ``http://``; ``user:password@`` (percent-encoded)
  becomes a ``Proxy-Authorization: Basic`` header. Only ``http://`` proxies are
  supported; https requests go through them in a ``CONNECT`` tunnel.

Proxy credentials are secrets: :func:`credentials_for` gives the forms of them that the
client keeps out of every message (a proxy's error page may echo them).

Parsed values are cached by the variables' text, so a lookup per request costs a few
microseconds while a change to the environment takes effect on the next call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from .errors import ConfigurationError

__all__ = ["Proxy", "credentials_for", "proxy_for"]

_DEFAULT_PORT = 80
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_IPV4_CHARS = frozenset("0123456789.")
_HEX = "0123456789abcdefABCDEF"


class Proxy:
    """An HTTP proxy to send requests through. Immutable and hashable.

    ``host`` is bare (an IPv6 address has no brackets), ready for a socket connect.
    ``authorization`` is the full ``Proxy-Authorization`` header value
    (``"Basic ..."``) when the proxy URL carried credentials, else ``None``.
    """

    # A plain class, not a dataclass: importing dataclasses slows a cold start.
    __slots__ = ("authorization", "host", "port", "scheme")

    def __init__(self, host: str, port: int, scheme: str, authorization: str | None) -> None:
        self.host = host
        self.port = port
        self.scheme = scheme
        self.authorization = authorization

    def _key(self) -> tuple[str, int, str, str | None]:
        return (self.host, self.port, self.scheme, self.authorization)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Proxy) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        auth = "None" if self.authorization is None else "<hidden>"
        return (
            f"Proxy(host={self.host!r}, port={self.port!r}, scheme={self.scheme!r}, "
            f"authorization={auth})"
        )


def proxy_for(
    scheme: str, host: str, port: int, environ: Mapping[str, str] | None = None
) -> Proxy | None:
    """The proxy to use for a request to ``scheme://host:port``, or ``None`` to go direct.

    ``host`` is the target's host name or address (IPv6 with or without brackets);
    ``port`` its effective port, which ``NO_PROXY`` entries with a port are compared to.
    ``environ`` defaults to ``os.environ``.

    Raises :class:`~seekapi.errors.ConfigurationError` when the variable that applies
    holds an unusable proxy URL (the message names the variable, never its credentials).
    A variable that does not apply to this request (another scheme, a host bypassed by
    ``NO_PROXY``) is not checked.
    """
    env = os.environ if environ is None else environ
    lower = scheme.lower() + "_proxy"
    upper = lower.upper()
    # httpoxy: under CGI, HTTP_PROXY may come from a client's request header.
    honour_upper = not (lower == "http_proxy" and "REQUEST_METHOD" in env)
    picked = _pick(env, lower, upper, honour_upper=honour_upper)
    if picked is None:
        return None
    no_proxy = _pick(env, "no_proxy", "NO_PROXY", honour_upper=True)
    if no_proxy is not None and _bypass(_no_proxy_rules(no_proxy[1]), host, port):
        return None
    return _parse_proxy_url(*picked)


def credentials_for(url: str, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The credentials of the proxy a request to ``url`` goes through, in the forms a proxy
    may echo them in: the ``Basic`` token, ``user:password``, the password and the user
    name. Empty when the request goes direct or the proxy has no credentials.

    Never raises: it is used while an error message is built.
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        proxy = proxy_for(scheme, parts.hostname or "", port, environ)
    except (ValueError, ConfigurationError):
        return ()
    if proxy is None or not proxy.authorization:
        return ()
    import binascii

    token = proxy.authorization.partition(" ")[2]
    try:
        pair = binascii.a2b_base64(token).decode("utf-8", "replace")
    except binascii.Error:
        return (token,)
    user, _, password = pair.partition(":")
    return tuple(value for value in (token, pair, password, user) if value)


def _pick(
    env: Mapping[str, str], lower: str, upper: str, *, honour_upper: bool
) -> tuple[str, str] | None:
    """(variable name, stripped value) of the variable that applies, or None."""
    value = env.get(lower)
    if value is not None:
        # Set, even if empty: the lowercase spelling decides (as in urllib).
        value = value.strip()
        return (lower, value) if value else None
    if not honour_upper:
        return None
    value = (env.get(upper) or "").strip()
    return (upper, value) if value else None


# -- NO_PROXY -----------------------------------------------------------------------------


class _NoProxy:
    __slots__ = ("entries", "everything")

    def __init__(self, everything: bool, entries: tuple[tuple[str, int | None], ...]) -> None:
        self.everything = everything
        self.entries = entries  # (lowercase host or domain, port or None)


@lru_cache(maxsize=16)
def _no_proxy_rules(value: str) -> _NoProxy:
    entries: list[tuple[str, int | None]] = []
    for raw in value.split(","):
        item = raw.strip().lower()
        if item == "*":
            return _NoProxy(everything=True, entries=())
        if item.startswith("*."):
            item = item[1:]
        item = item.lstrip(".")
        if not item:
            continue
        parsed = _split_entry(item)
        if parsed is not None:
            entries.append(parsed)
    return _NoProxy(everything=False, entries=tuple(entries))


def _split_entry(item: str) -> tuple[str, int | None] | None:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare v6 address; None if unusable."""
    port_text: str | None = None
    if item.startswith("["):
        close = item.find("]")
        if close < 0:
            return None
        name, rest = item[1:close], item[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                return None
            port_text = rest[1:]
    elif item.count(":") == 1:
        name, port_text = item.split(":")
    else:
        # No colon, or a bare IPv6 address, which cannot carry a port unbracketed.
        name = item
    if port_text is None:
        return (name, None)
    port = _port_number(port_text)
    # An entry with an unusable port matches nothing, as in urllib.
    return None if port is None else (name, port)


def _bypass(rules: _NoProxy, host: str, port: int) -> bool:
    if rules.everything:
        return True
    name = host.lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    is_ip = ":" in name or _IPV4_CHARS.issuperset(name)
    for entry, entry_port in rules.entries:
        if entry_port is not None and entry_port != port:
            continue
        if name == entry or (not is_ip and name.endswith("." + entry)):
            return True
    return False


# -- proxy URLs ---------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _parse_proxy_url(variable: str, value: str) -> Proxy:
    """Parse ``[scheme://][user[:password]@]host[:port][/...]`` from ``variable``.

    Error messages name the variable and what is wrong, never the value: it may hold
    credentials.
    """
    scheme = "http"
    rest = value
    sep = value.find("://")
    if sep > 0 and _is_scheme(value[:sep]):
        scheme, rest = value[:sep].lower(), value[sep + 3 :]
    if scheme != "http":
        hint = (
            "; use an http:// proxy URL (https requests still travel encrypted through it)"
            if scheme == "https"
            else ""
        )
        raise ConfigurationError(
            f"{variable} names a proxy with the scheme {scheme!r}; only http:// proxies "
            f"are supported{hint}"
        )
    # The authority ends at the first "/", "?" or "#" after the last "@", so that an
    # unencoded "/" or "@" inside a password does not cut it short.
    at = rest.rfind("@")
    end = len(rest)
    for stop in "/?#":
        found = rest.find(stop, at + 1)
        if found >= 0:
            end = min(end, found)
    authority = rest[:end]
    userinfo: str | None = None
    if at >= 0 and at < end:
        userinfo, hostport = authority[:at], authority[at + 1 :]
    else:
        hostport = authority
    host, port = _split_hostport(variable, hostport)
    return Proxy(host=host, port=port, scheme="http", authorization=_basic(variable, userinfo))


def _is_scheme(text: str) -> bool:
    return text[:1].isalpha() and text.isascii() and _SCHEME_CHARS.issuperset(text.lower())


def _split_hostport(variable: str, hostport: str) -> tuple[str, int]:
    port_text = ""
    if hostport.startswith("["):
        close = hostport.find("]")
        host = hostport[1:close] if close > 0 else ""
        rest = hostport[close + 1 :] if close > 0 else ""
        if close < 0 or (rest and not rest.startswith(":")) or not _IPV6_CHARS.issuperset(host):
            raise ConfigurationError(f"{variable} holds a proxy URL with an invalid IPv6 host")
        port_text = rest[1:]
    else:
        host, _, port_text = hostport.partition(":")
        if not _HOST_CHARS.issuperset(host):
            raise ConfigurationError(f"{variable} holds a proxy URL with an invalid host")
        if ":" in port_text:
            raise ConfigurationError(
                f"{variable} holds a proxy URL with an invalid host "
                "(an IPv6 address must be written in brackets)"
            )
    if not host:
        raise ConfigurationError(f"{variable} holds a proxy URL with no host")
    if not port_text:
        # "host" and "host:" both mean the default port.
        return host, _DEFAULT_PORT
    port = _port_number(port_text)
    if port is None:
        raise ConfigurationError(
            f"{variable} holds a proxy URL with an invalid port (expected 1 to 65535)"
        )
    return host, port


def _port_number(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > 5:
        return None
    port = int(text)
    return port if 0 < port <= 65535 else None


def _basic(variable: str, userinfo: str | None) -> str | None:
    """The ``Proxy-Authorization`` value for ``user[:password]``, or None without credentials."""
    if userinfo is None:
        return None
    user, _, password = userinfo.partition(":")
    if not user and not password:
        return None
    import binascii

    try:
        token = _percent_decode(user) + b":" + _percent_decode(password)
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"{variable} holds proxy credentials that are not valid text"
        ) from None
    return "Basic " + binascii.b2a_base64(token, newline=False).decode("ascii")


def _percent_decode(text: str) -> bytes:
    """Decode ``%XX`` escapes to raw bytes; anything else is kept (as UTF-8).

    ``surrogateescape`` gives back the original bytes of an environment value that was
    not valid UTF-8.
    """
    raw = text.encode("utf-8", "surrogateescape")
    if b"%" not in raw:
        return raw
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25 and _is_hex_pair(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(byte)
            i += 1
    return bytes(out)


def _is_hex_pair(pair: bytes) -> bool:
    return len(pair) == 2 and all(chr(b) in _HEX for b in pair)
