"""``seekapi run``: run a handler once, as AWS Lambda would, and show what the job produced.

The input is served by an in-process :class:`seekapi.testing.Backend` on 127.0.0.1, so
``get_input`` fetches it over HTTP. In local mode (the default) pushes, files and charges
go to the local-mode artifacts folder; with ``--emulate`` they go over the network path to
that same backend, which records them.

The parts are in :mod:`seekapi._cli.run`: the plan made from the arguments, the sandbox
the handler runs in (a process of its own, with the function's environment, killed with
its process group when the call outlives the timeout), and the report of what the
job left.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from .._common import resolve_log_level, setup_logging, warn_unknown_log_level
from ..base import (
    Command,
    add_json,
    add_log_level,
    positive_float,
    positive_int,
    whole_number,
    wrap,
)

if TYPE_CHECKING:
    from ...testing import Backend


class RunCommand(Command):
    """``seekapi run PATH_OR_MODULE[:FUNCTION]``: one invocation of a handler."""

    description = wrap(
        "Run a handler once, as AWS Lambda would: in a process of its own with the"
        " function's environment (killed when --timeout passes), with a Lambda context"
        " whose remaining time counts down from --timeout, and an event whose input is"
        " served from a loopback URL, so get_input() runs for real over HTTP. By"
        " default the job runs in local"
        " mode (results, files and charges written under --out); with --emulate it talks"
        " to an in-process backend emulator over the production network path. Then it"
        " prints what the handler returned, the job's result, its files and charges, and"
        " a REPORT line like Lambda's. With --lambda it runs a worker folder or a packaged"
        " zip under the real AWS Lambda runtime client (awslambdaric, the seekapi[lambda]"
        " extra) against a Runtime API served on 127.0.0.1, as Lambda runs it, with the"
        " function's timeout and memory size enforced."
    )
    epilog = (
        "examples:\n"
        "  seekapi run handler.py --input-file input.json\n"
        '  seekapi run src/worker.py:main --input \'{"text": "hi"}\' --timeout 10\n'
        "  seekapi run my_package.handler --input-file input.json --emulate --json\n"
        "  seekapi run --lambda my-worker/ --input-file input.json --invocations 3\n"
        "  seekapi run --lambda dist/worker.zip --input-file input.json --memory 256\n"
        "\n"
        'exit status: 0 when the handler returned {"ok": true, ...}; 1 when it returned'
        " a failure,\nraised, timed out or could not be imported; 2 for usage errors."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from ..run.report import add_all_charges

        _add_what_to_run(parser)
        _add_how_to_run(parser)
        add_all_charges(parser)
        _add_lambda(parser)
        add_log_level(parser)
        # Unset unless given, so that AWS_LAMBDA_LOG_LEVEL can choose the level.
        parser.set_defaults(log_level=None)
        add_json(parser, "the outcome")

    def run(self, args: argparse.Namespace) -> int:
        import secrets
        import shutil
        import tempfile
        import uuid

        from ..run.plan import create_job, make_plan
        from ..run.report import artifact_sizes, read_outcome, report_init_failure, show
        from ..run.sandbox import prepare, run_handler

        plan = make_plan(args)
        if args.log_level is None:
            warn_unknown_log_level("seekapi run")
        level = resolve_log_level(args.log_level)
        setup_logging(getattr(logging, level))
        if plan.task is not None:
            from ..run.lambda_mode import run_lambda

            return run_lambda(
                plan, args.log_level, json_mode=args.json, all_charges=args.all_charges
            )
        from ...testing import Backend

        backend = Backend(
            secret=f"cli-{secrets.token_urlsafe(18)}",
            directory=plan.out if plan.emulate else None,
            charge_limit=plan.charge_limit if plan.emulate else None,
        )
        # The fixtures written for the run and the handler's TMPDIR: removed at the end,
        # whatever happened to the handler.
        scratch = tempfile.mkdtemp(prefix="seekapi-run-")
        try:
            backend.start()
            job = create_job(backend, plan)
            function, env = prepare(plan, backend.env, backend.url, scratch)
            before = artifact_sizes(plan.local_job_dir())
            request_id = str(uuid.uuid4())
            request = {
                "handler": plan.spec.to_json(),
                "event": dict(job.event),
                "timeout": plan.timeout,
                "request_id": request_id,
                "function": function.to_json(),
                "log_level": level,
            }
            ran = run_handler(plan, env, request, json_mode=args.json)
            if ran.init_error is not None:
                return report_init_failure(plan, ran, json_mode=args.json)
            outcome = read_outcome(plan, job, before)
        finally:
            _stop(backend)
            shutil.rmtree(scratch, ignore_errors=True)
        return show(
            plan,
            ran,
            outcome,
            request_id=request_id,
            memory_size_mb=function.memory_mb,
            json_mode=args.json,
            all_charges=args.all_charges,
        )


def _stop(backend: Backend) -> None:
    try:
        backend.stop()
    except RuntimeError as exc:  # serving threads that would not end
        sys.stderr.write(f"seekapi run: {exc}\n")


def _add_lambda(parser: argparse.ArgumentParser) -> None:
    """Running under the real Lambda runtime client."""
    parser.add_argument(
        "--lambda",
        dest="lambda_",
        action="store_true",
        help="run under the real AWS Lambda runtime client (awslambdaric, seekapi[lambda])"
        " against a Runtime API on 127.0.0.1; the handler may be a worker folder or a"
        " packaged .zip (FOLDER_OR_ZIP[:function or :module.function])",
    )
    parser.add_argument(
        "--invocations",
        type=whole_number(1, 1000, "a whole number"),
        metavar="N",
        help="with --lambda: run N jobs, one after another, in the same warm process (default: 1)",
    )
    parser.add_argument(
        "--memory",
        type=whole_number(128, 10240, "a whole number"),
        metavar="MB",
        help="with --lambda: the function's memory size (128 to 10240; default:"
        " AWS_LAMBDA_FUNCTION_MEMORY_SIZE or 512); once the resident memory of the"
        " runtime process and every process it started adds up to more, they are"
        " killed, as Lambda kills them",
    )


def _add_what_to_run(parser: argparse.ArgumentParser) -> None:
    """The handler and the job's input."""
    parser.add_argument(
        "handler",
        metavar="PATH_OR_MODULE[:FUNCTION]",
        help=(
            "the handler: a file (path/to/handler.py) or a module (package.module),"
            " optionally followed by :function (default: handler). 'module.function',"
            " as in Lambda's handler setting, works too"
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="JSON", help="the job's input, as JSON text")
    source.add_argument(
        "--input-file", metavar="FILE", help="a file holding the job's input as JSON (- for stdin)"
    )


def _add_how_to_run(parser: argparse.ArgumentParser) -> None:
    """The timeout, the job and where what it leaves goes."""
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="the Lambda timeout in seconds (default: 30): the handler's process is killed"
        " when it passes",
    )
    parser.add_argument(
        "--job-uuid", metavar="ID", help="the job's id (default: local- and 8 random hex digits)"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="where job folders go (default: .seekapi-local in the working directory)",
    )
    parser.add_argument(
        "--fixtures",
        metavar="FILE",
        help="a local-mode fixtures file (SEEKAPI_LOCAL_FIXTURES); local mode only",
    )
    parser.add_argument(
        "--charge-limit",
        type=positive_int,
        metavar="N",
        help="the client's spending limit: charge() answers limit_reached once N units are metered",
    )
    parser.add_argument(
        "--emulate",
        action="store_true",
        help="use the network path (WORKER_API_BASE_URL) against an in-process backend emulator"
        " instead of local mode",
    )
