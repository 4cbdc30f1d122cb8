"""What ``seekapi run`` runs: the handler, the input, the job and its settings, from the arguments.

Everything here is checked before anything starts: a bad argument, an unreadable input
or a fixtures file local mode would refuse is a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._settings import LOCAL_DEFAULT_DIRNAME
from .._common import CommandError, json_text, parse_json, read_json_file
from .handler import HandlerSpec, parse_handler
from .task import Task, parse_task

if TYPE_CHECKING:
    from ...testing import Backend, Job


@dataclass(frozen=True)
class Plan:
    """One run of ``seekapi run``, as its arguments describe it."""

    spec: HandlerSpec
    input: Any
    timeout: float
    job_uuid: str
    out: str
    fixtures: str | None
    fixtures_content: dict[str, object] | None  # checked, with charge_limit in local mode
    emulate: bool
    charge_limit: int | None
    task: Task | None = None
    """With ``--lambda``: the folder, zip, file or module run under the runtime client."""
    invocations: int = 1
    memory_mb: int | None = None
    """``--memory``: the function's memory size, enforced with ``--lambda``."""

    @property
    def mode(self) -> str:
        """``"emulate"`` or ``"local"``, as the JSON output names the mode."""
        return "emulate" if self.emulate else "local"

    def local_job_dir(self) -> str | None:
        """The job's folder in local mode, where its artifacts are read from; else ``None``."""
        if self.emulate:
            return None
        from ..._local import safe_name

        return os.path.join(self.out, safe_name(self.job_uuid, "unknown-job"))


def make_plan(args: argparse.Namespace) -> Plan:
    """The run ``seekapi run``'s ``args`` ask for; :class:`CommandError` if they are wrong."""
    task = parse_task(args.handler) if getattr(args, "lambda_", False) else None
    spec = parse_handler(args.handler) if task is None else _spec_of(task)
    invocations = getattr(args, "invocations", None) or 1
    if task is None and invocations != 1:
        raise CommandError("--invocations needs --lambda: one warm process runs the jobs")
    if task is None and getattr(args, "memory", None) is not None:
        raise CommandError("--memory needs --lambda, which enforces it")
    if args.input is not None:
        value = parse_json(args.input, "--input")
    else:
        value = read_json_file(args.input_file, "--input-file")
    job_uuid = args.job_uuid if args.job_uuid is not None else f"local-{secrets.token_hex(4)}"
    if not job_uuid.strip():
        raise CommandError("--job-uuid must not be blank")
    out = os.path.abspath(args.out or LOCAL_DEFAULT_DIRNAME)
    if os.path.exists(out) and not os.path.isdir(out):
        raise CommandError(f"--out {args.out} exists and is not a folder")
    fixtures = os.path.abspath(args.fixtures) if args.fixtures else None
    if args.emulate and fixtures is not None:
        raise CommandError(
            "--fixtures applies to local mode only; with --emulate the emulator answers"
        )
    local_limit = None if args.emulate else args.charge_limit
    fixtures_content = None
    if fixtures is not None or local_limit is not None:
        fixtures_content = _fixtures(fixtures, local_limit)
    return Plan(
        spec=spec,
        input=value,
        timeout=args.timeout,
        job_uuid=job_uuid,
        out=out,
        fixtures=fixtures,
        fixtures_content=fixtures_content,
        emulate=args.emulate,
        charge_limit=args.charge_limit,
        task=task,
        invocations=invocations,
        memory_mb=getattr(args, "memory", None),
    )


def _spec_of(task: Task) -> HandlerSpec:
    """The handler as the summary names it, for a task run under the runtime client."""
    module, _, function = task.handler.rpartition(".")
    return HandlerSpec(
        target=task.path if task.kind == "file" else module,
        function=function,
        is_file=task.kind == "file",
        explicit_function=True,
    )


def job_uuids(plan: Plan) -> list[str]:
    """The job of each invocation: the plan's, numbered ``-1``, ``-2``... when several."""
    if plan.invocations == 1:
        return [plan.job_uuid]
    return [f"{plan.job_uuid}-{i}" for i in range(1, plan.invocations + 1)]


def _fixtures(path: str | None, charge_limit: int | None) -> dict[str, object]:
    """The fixtures to run with: the file's (checked now), plus ``charge_limit`` if given."""
    from ..._fixtures import load_fixtures
    from ...errors import ConfigurationError

    content: dict[str, object] = {}
    if path is not None:
        try:
            content = load_fixtures(path)
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        _check_fixtures(content, path)
    if charge_limit is not None:
        if "charge" in content:
            raise CommandError(
                "--charge-limit cannot be used with a fixtures file that has a fixed"
                " 'charge' answer"
            )
        content["charge_limit"] = charge_limit
    return content


def _check_fixtures(content: Mapping[str, object], path: str) -> None:
    """Refuse now what local mode would refuse at the first call (docs/local-mode.md)."""
    where = f"the fixtures file {path}"
    for key in ("get_job", "charge"):
        if key in content and not isinstance(content[key], dict):
            raise CommandError(f"{key!r} in {where} must be a JSON object")
    if "charge_limit" in content:
        limit = content["charge_limit"]
        if type(limit) is not int or limit < 1:
            raise CommandError(f"'charge_limit' in {where} must be a positive integer")
        if "charge" in content:
            raise CommandError(f"{where} has both 'charge' and 'charge_limit'; keep one")


def fixtures_file(plan: Plan, folder: str) -> str | None:
    """The fixtures file the handler's process reads (``SEEKAPI_LOCAL_FIXTURES``).

    With ``--charge-limit`` in local mode, the limit is a fixture: the file given plus
    the limit is written to ``folder``. Otherwise the file given, if any.
    """
    if plan.fixtures_content is None or plan.charge_limit is None:
        return plan.fixtures
    path = os.path.join(folder, "fixtures.json")
    with open(path, "x", encoding="utf-8") as file:
        file.write(json_text(plan.fixtures_content))
    return path


def create_job(backend: Backend, plan: Plan) -> Job:
    """The run's job. With ``--emulate`` the emulator reads the job's ledger under
    ``--out``: one it cannot read is reported as a bad argument, before the handler runs."""
    from ...errors import ConfigurationError

    try:
        return backend.create_job(plan.input, job_uuid=plan.job_uuid)
    except ConfigurationError as exc:
        raise CommandError(str(exc)) from None
