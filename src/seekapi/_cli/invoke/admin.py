"""A client of the admin API of a running ``seekapi serve`` (docs/emulator.md, "Admin API").

:class:`ServeClient` checks that the URL answers as the emulator before it sends the
secret there, creates a job and reads back what the job received. Every problem is a
:class:`~seekapi._cli._common.CommandError` whose message says what to do about it.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from ... import _wire
from ...testing._routes import ADMIN_PREFIX
from .._common import CommandError

SERVER_NAME = "seekapi-emulator"
"""The ``Server`` header every answer of the emulator carries (docs/emulator.md)."""

DEFAULT_URL = "http://127.0.0.1:8787"
"""Where ``seekapi serve`` listens when started without ``--host`` or ``--port``."""

_START_HINT = (
    "start one with 'seekapi serve' in another terminal, or give the URL it prints"
    " with --url (or WORKER_API_BASE_URL)"
)


class ServeClient:
    """The admin API of the emulator at ``url`` (also the workers' base URL), called
    with ``secret`` (also the workers' ``WORKER_INTERNAL_SECRET``).

    Each call opens a connection of its own (there are three per invocation) and waits
    at most ``timeout`` seconds for each network operation.
    """

    def __init__(self, url: str, secret: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        shown = _without_credentials(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CommandError(f"--url must be an http:// or https:// URL: {shown!r}")
        if "@" in parts.netloc:
            # The emulator takes its secret in a header, never in the URL; and a URL
            # holding credentials must not be printed in the summary.
            raise CommandError(
                f"--url must not hold a user name or password ({shown!r}): give the"
                " emulator's secret with --secret"
            )
        if parts.query or parts.fragment or "?" in url or "#" in url:
            raise CommandError(
                f"--url must be the emulator's base URL, without a query or fragment: {shown!r}"
            )
        try:
            port = parts.port
        except ValueError:
            raise CommandError(f"--url has a port that is not a number: {shown!r}") from None
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = port
        self._prefix = parts.path.rstrip("/")
        self.secret = secret
        self._timeout = timeout

    def check(self) -> None:
        """Make sure an emulator answers at the URL and accepts the secret.

        The first request carries no secret: a server that does not answer as the
        emulator is never sent it.
        """
        status, headers, _ = self._request("GET", f"{ADMIN_PREFIX}jobs", secret=False)
        if headers.get("server") != SERVER_NAME:
            raise CommandError(
                f"the server at {self.url} is not a seekapi serve emulator (it answered"
                f" HTTP {status} without 'Server: {SERVER_NAME}'); {_START_HINT}"
            )
        status, _, body = self._request("GET", f"{ADMIN_PREFIX}jobs")
        if status == 401:
            raise CommandError(
                f"the emulator at {self.url} refused the secret: give the"
                " WORKER_INTERNAL_SECRET that seekapi serve printed (--secret, or the"
                " WORKER_INTERNAL_SECRET environment variable)"
            )
        self._expect(status, body, 200, "listing its jobs")

    def create_job(
        self, value: object, *, job_uuid: str | None, charge_limit: int | None
    ) -> dict[str, str]:
        """A new job whose input is ``value``; the Lambda event the emulator answers."""
        document: dict[str, object] = {"input": value}
        if job_uuid is not None:
            document["job_uuid"] = job_uuid
        if charge_limit is not None:
            document["charge_limit"] = charge_limit
        status, _, body = self._request("POST", f"{ADMIN_PREFIX}jobs", document)
        if status == 409:
            raise CommandError(
                f"the emulator at {self.url} has a job {job_uuid!r} already: choose another"
                " --job-uuid, or leave it out for a new id"
            )
        if status == 400:
            raise CommandError(f"the emulator refused the job: {_message(body)}")
        event = self._expect(status, body, 201, "creating the job")
        fields = ("job_uuid", "execution_token", "input_presigned_url")
        if not all(isinstance(event.get(name), str) for name in fields):
            raise CommandError(f"the emulator at {self.url} answered an event without {fields}")
        return {name: str(event[name]) for name in fields}

    def job_view(self, job_uuid: str) -> dict[str, Any]:
        """What the job received: its result, pushes, files and charges."""
        path = f"{ADMIN_PREFIX}jobs/{quote(job_uuid, safe='')}"
        status, _, body = self._request("GET", path)
        return self._expect(status, body, 200, "reading the job back")

    def _expect(self, status: int, body: bytes, wanted: int, doing: str) -> dict[str, Any]:
        """The JSON object of an answer with status ``wanted``; else a CommandError."""
        if status != wanted:
            raise CommandError(
                f"the emulator at {self.url} answered HTTP {status} when {doing}: {_message(body)}"
            )
        try:
            value = json.loads(body)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise CommandError(
                f"the emulator at {self.url} answered something not JSON when {doing}"
            )
        return value

    def _request(
        self, method: str, path: str, document: object = None, *, secret: bool = True
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = {"Accept": "application/json"}
        if secret:
            headers[_wire.SECRET_HEADER] = self.secret
        body = None
        if document is not None:
            body = json.dumps(document, ensure_ascii=False, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        # Straight to the emulator: a proxy configured for the internet has no business
        # with a development server, and http.client consults none.
        connection_class = (
            http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        )
        connection = connection_class(self._host, self._port, timeout=self._timeout)
        try:
            connection.request(method, self._prefix + path, body, headers)
            response = connection.getresponse()
            data = response.read()
            answered = {name.lower(): value for name, value in response.getheaders()}
            return response.status, answered, data
        except ConnectionRefusedError:
            raise CommandError(
                f"no seekapi serve is answering at {self.url}: {_START_HINT}"
            ) from None
        except TimeoutError:
            raise CommandError(
                f"the server at {self.url} did not answer within {self._timeout:g} seconds"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise CommandError(f"cannot reach {self.url}: {reason}; {_START_HINT}") from None
        finally:
            connection.close()


def _without_credentials(url: str) -> str:
    """``url`` with whatever precedes an ``@`` in its host part replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url if "@" not in url else "***@" + url.rpartition("@")[2]
    host_end = len(rest)
    for mark in "/?#":
        at = rest.find(mark)
        if at >= 0:
            host_end = min(host_end, at)
    netloc, tail = rest[:host_end], rest[host_end:]
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return f"{scheme}{sep}{netloc}{tail}"


def _message(body: bytes) -> str:
    """The message of an emulator's error body, or the body's start."""
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if isinstance(value, dict):
        error = value.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    text = body[:200].decode("utf-8", "replace").strip()
    return text or "no body"
