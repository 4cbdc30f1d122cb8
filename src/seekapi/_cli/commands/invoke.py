"""``seekapi invoke``: one job through a running ``seekapi serve``, run by a worker's handler.

``seekapi serve`` emulates the backend only; this command is the platform's other half.
It creates a job on the emulator through its admin API, runs the handler once as Lambda
would (in a process of its own, :mod:`seekapi._cli.run.sandbox`, with
``WORKER_API_BASE_URL`` and ``WORKER_INTERNAL_SECRET`` pointing at the emulator, so
the production network path runs), then reads back what the job received and prints
``seekapi run``'s summary of it (:mod:`seekapi._cli.run.report`).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from typing import Any

from ..._settings import ENV_API_BASE, ENV_SECRET
from .._common import (
    EXIT_FAILED,
    CommandError,
    json_text,
    parse_json,
    read_json_file,
    setup_logging,
)
from ..base import Command, add_json, add_log_level, non_negative_int, positive_float, wrap
from ..invoke.admin import DEFAULT_URL, ServeClient
from ..run.handler import HandlerSpec, parse_handler
from ..run.plan import Plan
from ..run.report import Where, add_all_charges, outcome_from_view, report_init_failure, show
from ..run.sandbox import Function, Ran, environ_memory_mb, prepare, run_handler


class InvokeCommand(Command):
    """``seekapi invoke PATH_OR_MODULE[:FUNCTION]``: one job on a running emulator."""

    description = wrap(
        "Send one job to a worker's handler through a running 'seekapi serve': create the"
        " job on the emulator, run the handler once as AWS Lambda would (in a process of"
        " its own, with WORKER_API_BASE_URL and WORKER_INTERNAL_SECRET pointing at the"
        " emulator, so every push, file and charge goes over HTTP), then print what it"
        " returned and what the emulator received: the result, files and charges. The"
        " emulator's URL and secret come from --url and --secret, else from the"
        " WORKER_API_BASE_URL and WORKER_INTERNAL_SECRET that seekapi serve tells you to"
        " export."
    )
    epilog = (
        "examples:\n"
        "  seekapi serve --secret dev                      # in another terminal\n"
        "  seekapi invoke handler.py --input-file input.json --secret dev\n"
        '  seekapi invoke worker.py:main --input \'{"text": "hi"}\' --secret dev \\\n'
        "                 --url http://127.0.0.1:9000 --json\n"
        "\n"
        'exit status: 0 when the handler returned {"ok": true, ...}; 1 when it'
        " returned a\nfailure, raised, timed out or could not be imported; 2 for usage"
        " errors, including\nno emulator answering at the URL."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "handler",
            metavar="PATH_OR_MODULE[:FUNCTION]",
            help="the handler, as seekapi run takes it: path/to/handler.py or package.module,"
            " optionally followed by :function (default: handler)",
        )
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--input", metavar="JSON", help="the job's input, as JSON text")
        source.add_argument(
            "--input-file",
            metavar="FILE",
            help="a file holding the job's input as JSON (- for stdin)",
        )
        parser.add_argument(
            "--url",
            metavar="URL",
            help=f"the running seekapi serve (default: WORKER_API_BASE_URL, else {DEFAULT_URL})",
        )
        parser.add_argument(
            "--secret",
            metavar="S",
            help="the secret seekapi serve printed (default: WORKER_INTERNAL_SECRET)",
        )
        parser.add_argument(
            "--timeout",
            type=positive_float,
            default=30.0,
            metavar="S",
            help="the Lambda timeout in seconds (default: 30): the handler's process is"
            " killed when it passes",
        )
        parser.add_argument(
            "--job-uuid", metavar="ID", help="the job's id (default: a new one the emulator picks)"
        )
        parser.add_argument(
            "--charge-limit",
            type=non_negative_int,
            metavar="N",
            help="the job's spending limit: charges answer limit_reached once N units are"
            " metered (default: the emulator's)",
        )
        add_all_charges(parser)
        add_log_level(parser)
        add_json(parser, "the outcome")

    def run(self, args: argparse.Namespace) -> int:
        spec, value = _what_to_run(args)
        client = _client(args)
        setup_logging(getattr(logging, args.log_level))
        client.check()
        event = client.create_job(value, job_uuid=args.job_uuid, charge_limit=args.charge_limit)
        plan = Plan(
            spec=spec,
            input=value,
            timeout=args.timeout,
            job_uuid=event["job_uuid"],
            out=os.getcwd(),  # unused: the emulator keeps the job's folder
            fixtures=None,
            fixtures_content=None,
            emulate=True,  # the network path, against the running emulator
            charge_limit=args.charge_limit,
        )
        where = Where(
            mode="serve",
            label=f"seekapi serve at {client.url}",
            extra={"url": client.url},
            command="seekapi invoke",
        )
        request_id = str(uuid.uuid4())
        ran, function = _call(plan, client, event, request_id, args)
        if ran.init_error is not None:
            return report_init_failure(plan, ran, json_mode=args.json, where=where)
        try:
            view = client.job_view(plan.job_uuid)
        except CommandError as exc:
            returned = json_text(ran.invocation.returned)
            raise CommandError(
                f"{exc.message} (the handler ran and returned {returned})", exit_code=EXIT_FAILED
            ) from None
        return show(
            plan,
            ran,
            outcome_from_view(view),
            request_id=request_id,
            memory_size_mb=function.memory_mb,
            json_mode=args.json,
            all_charges=args.all_charges,
            where=where,
        )


def _what_to_run(args: argparse.Namespace) -> tuple[HandlerSpec, Any]:
    """The handler and the job's input, checked before anything is sent to the emulator."""
    spec = parse_handler(args.handler)
    if spec.is_file and not os.path.isfile(spec.target):
        # A typo should leave no job behind on the emulator.
        raise CommandError(f"no such file: {spec.target}")
    if args.input is not None:
        value = parse_json(args.input, "--input")
    else:
        value = read_json_file(args.input_file, "--input-file")
    if args.job_uuid is not None and not args.job_uuid.strip():
        raise CommandError("--job-uuid must not be blank")
    environ_memory_mb(os.environ)  # a wrong memory size should leave no job behind
    return spec, value


def _call(
    plan: Plan,
    client: ServeClient,
    event: Mapping[str, str],
    request_id: str,
    args: argparse.Namespace,
) -> tuple[Ran, Function]:
    """Run the handler on ``event`` in a process of its own, pointed at the emulator."""
    backend_env = {ENV_API_BASE: client.url, ENV_SECRET: client.secret}
    # The handler's TMPDIR, removed at the end whatever happened to the handler.
    scratch = tempfile.mkdtemp(prefix="seekapi-invoke-")
    try:
        function, env = prepare(plan, backend_env, client.url, scratch)
        request = {
            "handler": plan.spec.to_json(),
            "event": dict(event),
            "timeout": plan.timeout,
            "request_id": request_id,
            "function": function.to_json(),
            "log_level": args.log_level,
        }
        return run_handler(plan, env, request, json_mode=args.json), function
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _client(args: argparse.Namespace) -> ServeClient:
    """The admin API client for the emulator ``args`` (or the environment) name."""
    url = args.url or os.environ.get(ENV_API_BASE, "").strip() or DEFAULT_URL
    secret = args.secret if args.secret is not None else os.environ.get(ENV_SECRET)
    if not secret:
        raise CommandError(
            "no secret for the emulator: give the WORKER_INTERNAL_SECRET that seekapi serve"
            f" printed with --secret, or export it (as {ENV_SECRET})"
        )
    return ServeClient(url, secret)
