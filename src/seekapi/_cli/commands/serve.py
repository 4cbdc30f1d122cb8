"""``seekapi serve``: the backend emulator on its own, for a worker in another process."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..._settings import LOCAL_DEFAULT_DIRNAME
from .._common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    display_path,
    emit_json,
    json_text,
    read_json_file,
    setup_logging,
)
from ..base import Command, add_json, non_negative_int, port_number, wrap

if TYPE_CHECKING:
    from ...testing import Backend


class ServeCommand(Command):
    """``seekapi serve``: the emulator until Ctrl-C or SIGTERM."""

    description = wrap(
        "Run the SeekAPI backend emulator until Ctrl-C or SIGTERM, for a worker running in"
        " another process or a container. It prints the environment variables to give the"
        " worker, and writes what each job receives in the local-mode layout under --dir."
        " It is a development tool: it binds to the loopback interface unless told"
        " otherwise."
    )
    epilog = (
        "examples:\n"
        "  seekapi serve\n"
        "  seekapi serve --port 0 --job input.json --json\n"
        "  seekapi serve --host 0.0.0.0 --secret dev-secret --charge-limit 10"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
        )
        parser.add_argument(
            "--port",
            type=port_number,
            default=8787,
            help="port to listen on; 0 picks a free one (default: 8787)",
        )
        parser.add_argument(
            "--public-url",
            metavar="URL",
            help=(
                "the base URL workers reach the emulator at, when it is not the listening"
                " address (for a container: http://host.docker.internal:PORT)"
            ),
        )
        parser.add_argument(
            "--dir",
            metavar="DIR",
            help="where job folders go (default: .seekapi-local in the working directory)",
        )
        parser.add_argument(
            "--secret",
            help="the WORKER_INTERNAL_SECRET workers must send (default: a random one)",
        )
        parser.add_argument(
            "--charge-limit",
            type=non_negative_int,
            metavar="N",
            help="every job's spending limit: charges answer limit_reached once N units are"
            " metered (0: from the first charge)",
        )
        parser.add_argument(
            "--job",
            action="append",
            default=[],
            metavar="INPUT_FILE",
            help="create a job whose input is this JSON file and print its event (repeatable)",
        )
        parser.add_argument(
            "--verbose", action="store_true", help="log every request the emulator answers"
        )
        add_json(parser, "the address, environment and job events")

    def run(self, args: argparse.Namespace) -> int:
        inputs = [read_json_file(path, "--job") for path in args.job]
        directory = os.path.abspath(args.dir or LOCAL_DEFAULT_DIRNAME)
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise CommandError(f"--dir {args.dir} exists and is not a folder")
        secret = args.secret if args.secret is not None else secrets.token_urlsafe(24)
        if not secret.strip() or any(ord(c) < 0x21 or ord(c) > 0x7E for c in secret):
            raise CommandError("--secret must be printable ASCII without spaces")
        if args.public_url is not None and not args.public_url.startswith(("http://", "https://")):
            raise CommandError("--public-url must be an http:// or https:// URL")
        setup_logging(logging.INFO)
        if args.verbose:
            logging.getLogger("seekapi.testing").setLevel(logging.DEBUG)
        backend = _start(args, secret, directory)
        # The signal handlers are in place before anything is printed: whoever reads the
        # output may stop the emulator as soon as it has read it.
        try:
            with _stop_signals() as stop:
                events = [backend.create_job(value).event for value in inputs]
                _announce(args, backend, secret, directory, events)
                while not stop.wait(0.5):
                    pass
            sys.stderr.write("seekapi serve: stopping\n")
            sys.stderr.flush()
        finally:
            stopped = _stop(backend)
        return EXIT_OK if stopped else EXIT_FAILED


def _start(args: argparse.Namespace, secret: str, directory: str) -> Backend:
    """The emulator ``args`` describe, listening."""
    # The emulator itself warns (a log record, on stderr) when it listens on an address
    # other machines can reach.
    from ...testing import Backend

    backend = Backend(
        secret=secret,
        host=args.host,
        port=args.port,
        directory=directory,
        charge_limit=args.charge_limit,
        public_url=args.public_url,
    )
    try:
        backend.start()
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {args.host} port {args.port}: {exc.strerror or exc}"
            + (" (use --port 0 for any free port)" if args.port else "")
        ) from None
    return backend


def _announce(
    args: argparse.Namespace,
    backend: Backend,
    secret: str,
    directory: str,
    events: list[dict[str, Any]],
) -> None:
    """Say where the emulator is, the worker's environment and the jobs' events."""
    local_url = _local_url(*backend.address)
    if args.json:
        emit_json(
            {
                "ok": True,
                "url": backend.url,
                "listen_url": local_url,
                "env": backend.env,
                "directory": directory,
                "pid": os.getpid(),
                "jobs": events,
            }
        )
    else:
        _print_banner(
            address=backend.address,
            local_url=local_url,
            public_url=backend.url if args.public_url is not None else None,
            secret=secret,
            directory=directory,
            events=events,
        )


def _stop(backend: Backend) -> bool:
    try:
        backend.stop()
    except RuntimeError as exc:  # serving threads that would not end
        sys.stderr.write(f"seekapi serve: {exc}\n")
        return False
    return True


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM; the previous handlers come back afterwards."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for which in (signal.SIGINT, signal.SIGTERM):
            previous[which] = signal.signal(which, on_signal)
    try:
        yield stop
    finally:
        for which, handler in previous.items():
            signal.signal(which, handler)


def _local_url(host: str, port: int) -> str:
    """The emulator's URL from this machine: the listening address, loopback for a wildcard."""
    reach = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    return f"http://[{reach}]:{port}" if ":" in reach else f"http://{reach}:{port}"


def _print_banner(
    *,
    address: tuple[str, int],
    local_url: str,
    public_url: str | None,
    secret: str,
    directory: str,
    events: list[dict[str, Any]],
) -> None:
    header = f'-H "X-Internal-Secret: {secret}"' if _plain(secret) else _secret_header(secret)
    host, port = address
    listening = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    where = listening if listening == local_url else f"{listening} (from this machine: {local_url})"
    worker_url = public_url or local_url
    lines = [
        "seekapi serve: the SeekAPI backend emulator. It is a development tool, not the"
        " SeekAPI platform.",
        f"Listening on {where}; job folders go to {display_path(directory)}{os.sep}",
    ]
    if public_url is not None:
        lines.append(f"Workers reach it at {public_url} (--public-url).")
    lines += [
        "",
        "Give the worker this environment:",
        f"  export WORKER_API_BASE_URL={shlex.quote(worker_url)}",
        f"  export WORKER_INTERNAL_SECRET={shlex.quote(secret)}",
    ]
    if public_url is None:
        lines.append(
            "(For a worker in a container: --host 0.0.0.0 --public-url"
            " http://host.docker.internal:PORT.)"
        )
    lines += [
        "",
        "Create a job (the answer is the event to invoke the worker's handler with):",
        f'  curl -s {header} -d \'{{"input": {{"text": "hello"}}}}\' {local_url}/v1/debug/jobs',
        "See what a job received:",
        f"  curl -s {header} {local_url}/v1/debug/jobs/JOB_UUID",
    ]
    if events:
        lines += ["", "Jobs created from --job, one event per line:"]
        lines += [json_text(event) for event in events]
    lines += ["", "Stop with Ctrl-C."]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _plain(text: str) -> bool:
    return all(c.isalnum() or c in "-_.~" for c in text)


def _secret_header(secret: str) -> str:
    return "-H " + shlex.quote(f"X-Internal-Secret: {secret}")
