"""What ``seekapi run`` shows: what the job left behind, read back, and the summary of the run.

In local mode the job's result, files and charges are read from its folder under
``--out`` (the lines this run added, and the whole ledger for the metered total); with
``--emulate``, from the emulator's record of the job; for ``seekapi invoke``, from a
running emulator's admin view of it (:func:`outcome_from_view`). Then they are printed,
with a ``REPORT`` line in Lambda's format, or written as one JSON object with ``--json``.
A long charge list is cut to its totals and its ends (:func:`charge_lines`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._common import EXIT_FAILED, EXIT_OK, display_path, emit_json, json_text
from .plan import Plan
from .sandbox import INIT_LIMIT_S, INIT_TIMED_OUT, Invocation, Ran

if TYPE_CHECKING:
    from ...testing import Job

_RESULT_CHARS = 4000
_ONE_LINE = 100

# -- what the job left -------------------------------------------------------------------


@dataclass
class FileInfo:
    """A file the job pushed."""

    name: str
    size: int | None
    content_type: str
    path: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "path": self.path,
        }


@dataclass
class HandlerOutcome:
    """What the job left behind: its result, files and charges."""

    result: Any = None
    pushes: int = 0
    files: list[FileInfo] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)
    metered_event_count: int = 0
    limit_reached: bool = False
    artifacts: str | None = None


def read_outcome(plan: Plan, job: Job, before: Mapping[str, int]) -> HandlerOutcome:
    """What the job left: from its local-mode folder (the lines added since ``before``,
    see :func:`artifact_sizes`), or with ``--emulate`` from the emulator's record."""
    job_dir = plan.local_job_dir()
    if job_dir is None:
        return _emulated_outcome(job)
    return _local_outcome(job_dir, before, plan)


_ARTIFACTS = ("data_pushes.jsonl", "file_pushes.jsonl", "charges.jsonl")


def artifact_sizes(job_dir: str | None) -> dict[str, int]:
    """The size of each ``.jsonl`` artifact now, to tell this run's lines from earlier ones.

    For the ledger, the size of its complete lines: that is where this run's first
    charge goes, an unfinished line left by a writer that died being cut off.
    """
    from ..._ledger import ledger_size
    from ..._local import CHARGES_FILE

    sizes: dict[str, int] = {}
    if job_dir is None:
        return sizes
    for name in _ARTIFACTS:
        path = os.path.join(job_dir, name)
        if name == CHARGES_FILE:
            sizes[name] = ledger_size(path)
            continue
        try:
            sizes[name] = os.path.getsize(path)
        except OSError:
            sizes[name] = 0
    return sizes


def _jsonl(path: str, offset: int = 0) -> list[dict[str, Any]]:

    try:
        with open(path, "rb") as file:
            file.seek(offset)
            raw = file.read()
    except OSError:
        return []
    records = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _local_outcome(job_dir: str, before: Mapping[str, int], plan: Plan) -> HandlerOutcome:

    outcome = HandlerOutcome(artifacts=job_dir if os.path.isdir(job_dir) else None)
    pushes = _jsonl(os.path.join(job_dir, "data_pushes.jsonl"), before.get("data_pushes.jsonl", 0))
    outcome.pushes = len(pushes)
    if pushes:
        try:
            with open(os.path.join(job_dir, "response_json.json"), encoding="utf-8") as file:
                outcome.result = json.load(file)
        except (OSError, ValueError):
            outcome.result = pushes[-1].get("data")
    for record in _jsonl(
        os.path.join(job_dir, "file_pushes.jsonl"), before.get("file_pushes.jsonl", 0)
    ):
        size = record.get("size_bytes")
        outcome.files.append(
            FileInfo(
                name=str(record.get("name", "")),
                size=size if isinstance(size, int) else None,
                content_type=str(record.get("content_type", "")),
                path=str(record.get("stored_path", "")),
            )
        )
    # The ledger's one rule (seekapi._ledger.read_ledger), which charge() and the emulator
    # apply too: the total shown is the total they count.
    from ..._ledger import read_ledger
    from ..._local import CHARGES_FILE
    from ...errors import ConfigurationError

    try:
        entries = read_ledger(os.path.join(job_dir, CHARGES_FILE))
    except ConfigurationError as exc:
        sys.stderr.write(f"seekapi run: cannot count the charges: {exc}\n")
        entries = []
    since = before.get(CHARGES_FILE, 0)
    outcome.charges = [
        _charge_view(
            {
                "idempotency_key": entry.idempotency_key,
                "count": entry.count,
                "justification": entry.justification,
            }
        )
        for entry in entries
        if entry.offset >= since  # billed by this run
    ]
    outcome.metered_event_count = sum(entry.count for entry in entries)
    outcome.limit_reached = _local_limit_reached(plan, outcome.metered_event_count)
    return outcome


def _local_limit_reached(plan: Plan, metered: int) -> bool:
    fixtures: Mapping[str, object] = plan.fixtures_content or {}
    limit = fixtures.get("charge_limit")
    if isinstance(limit, int):
        return metered >= limit
    fixed = fixtures.get("charge")
    return isinstance(fixed, Mapping) and fixed.get("limit_reached") is True


def _charge_view(record: Mapping[str, Any]) -> dict[str, Any]:
    view = {"idempotency_key": record.get("idempotency_key"), "count": record.get("count")}
    if record.get("justification") is not None:
        view["justification"] = record["justification"]
    return view


def outcome_from_view(view: Mapping[str, Any]) -> HandlerOutcome:
    """What the job left, from the emulator's admin view of it (``GET /v1/debug/jobs/ID``).

    Fields missing or of the wrong type read as nothing: the view comes from another
    process, perhaps another version of seekapi.
    """
    files = []
    for item in _list(view.get("files")):
        if isinstance(item, Mapping):
            size = item.get("size")
            files.append(
                FileInfo(
                    name=str(item.get("name", "")),
                    size=size if type(size) is int else None,
                    content_type=str(item.get("content_type", "")),
                    path=str(item.get("path", "")),
                )
            )
    metered = view.get("metered_event_count")
    directory = view.get("directory")
    return HandlerOutcome(
        result=view.get("result"),
        pushes=len(_list(view.get("pushes"))),
        files=files,
        charges=[_charge_view(c) for c in _list(view.get("charges")) if isinstance(c, Mapping)],
        metered_event_count=metered if type(metered) is int else 0,
        limit_reached=view.get("limit_reached") is True,
        artifacts=directory if isinstance(directory, str) else None,
    )


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _emulated_outcome(job: Job) -> HandlerOutcome:
    return HandlerOutcome(
        artifacts=str(job.directory),
        result=job.result,
        pushes=len(job.pushes),
        files=[
            FileInfo(name=f.name, size=f.size, content_type=f.content_type, path=f.path)
            for f in job.files
        ],
        charges=[_charge_view(c) for c in job.charges],
        metered_event_count=job.metered_event_count,
        limit_reached=job.limit_reached,
    )


# -- the report --------------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """Where a job ran, as the summary names it.

    ``mode`` is the JSON output's ``mode``; ``label`` what the ``Handler:`` line says
    in brackets before the job's id; ``extra`` fields added to the JSON object;
    ``command`` the name messages on standard error start with.
    """

    mode: str
    label: str
    extra: Mapping[str, object]
    command: str = "seekapi run"


def _where_of(plan: Plan) -> Where:
    return Where(mode=plan.mode, label="emulator" if plan.emulate else "local mode", extra={})


CHARGES_AT_EACH_END = 5
"""How many keys a long charge list shows at its start and at its end."""


def add_all_charges(parser: argparse.ArgumentParser) -> None:
    """The ``--all-charges`` option of the commands that print this summary."""
    parser.add_argument(
        "--all-charges",
        action="store_true",
        help=f"list every charge in the summary (default: the totals, and the first and"
        f" last {CHARGES_AT_EACH_END} keys of a longer list; --json always has them all)",
    )


def show(
    plan: Plan,
    ran: Ran,
    outcome: HandlerOutcome,
    *,
    request_id: str,
    memory_size_mb: int,
    json_mode: bool,
    all_charges: bool = False,
    where: Where | None = None,
) -> int:
    """Print what the run did (one JSON object with ``json_mode``); return the exit status.

    The readable summary lists every charge only with ``all_charges``; otherwise a long
    list shows its totals and its first and last keys. The JSON object always holds the
    whole list. ``where`` names the backend the job ran against, for a command other
    than ``seekapi run`` (default: the plan's mode).
    """
    where = where or _where_of(plan)
    invocation = ran.invocation
    report = Report(
        request_id=request_id,
        duration_ms=invocation.duration_ms,
        billed_ms=max(1, math.ceil(invocation.duration_ms)),
        memory_size_mb=memory_size_mb,
        max_memory_used_mb=invocation.max_memory_mb,
        init_ms=ran.init_ms,
        timed_out=invocation.timed_out,
    )
    code = exit_code(invocation)
    if json_mode:
        emit_json(
            _json_summary(
                plan,
                handler=ran.handler,
                request_id=request_id,
                invocation=invocation,
                outcome=outcome,
                report=report,
                code=code,
                where=where,
            )
        )
    else:
        _print_summary(
            plan, ran.handler, invocation, outcome, report, where=where, all_charges=all_charges
        )
    return code


def exit_code(invocation: Invocation) -> int:
    """0 when the handler returned ``{"ok": true, ...}``, else 1."""
    if invocation.error is not None or invocation.timed_out:
        return EXIT_FAILED
    returned = invocation.returned
    ok = isinstance(returned, Mapping) and returned.get("ok") is True
    return EXIT_OK if ok else EXIT_FAILED


def report_init_failure(
    plan: Plan,
    ran: Ran,
    *,
    json_mode: bool,
    where: Where | None = None,
    hint: str | None = None,
) -> int:
    """Show why the handler could not be imported (and ``hint``, a line saying what may
    be the cause); the exit status (1)."""
    where = where or _where_of(plan)
    error = ran.init_error or {}
    text = str(error.get("traceback") or "")
    message = str(error.get("message"))
    if message not in text:  # sys.exit() at import, a timeout, a process that ended
        text += f"{message}\n"
    what = "importing the handler failed"
    if error.get("exception") == INIT_TIMED_OUT:
        what = f"the init phase timed out after {INIT_LIMIT_S:.0f} s"
        # Lambda's platform line for it.
        text += f"INIT_REPORT Init Duration: {ran.init_ms:.2f} ms\tPhase: init\tStatus: timeout\n"
    write_failure(where, what, text, error, job_uuid=plan.job_uuid)
    if hint is not None:
        sys.stderr.write(hint + "\n")
        sys.stderr.flush()
    if json_mode:
        emit_json(
            {
                "ok": False,
                "exit_code": EXIT_FAILED,
                "mode": where.mode,
                **where.extra,
                "handler": ran.handler,
                "job_uuid": plan.job_uuid,
                "error": {
                    "type": "init",
                    "exception": error.get("exception"),
                    "message": error.get("message"),
                    "traceback": error.get("traceback") or "",
                    "init_duration_ms": round(ran.init_ms, 2),
                    **({"hint": hint} if hint is not None else {}),
                },
            }
        )
    return EXIT_FAILED


@dataclass(frozen=True)
class Report:
    """The figures of Lambda's ``REPORT`` line."""

    request_id: str
    duration_ms: float
    billed_ms: int
    memory_size_mb: int
    max_memory_used_mb: int | None
    init_ms: float
    timed_out: bool

    def line(self) -> str:
        used = "?" if self.max_memory_used_mb is None else str(self.max_memory_used_mb)
        text = (
            f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms"
            f"\tBilled Duration: {self.billed_ms} ms\tMemory Size: {self.memory_size_mb} MB"
            f"\tMax Memory Used: {used} MB\tInit Duration: {self.init_ms:.2f} ms"
        )
        return text + ("\tStatus: timeout" if self.timed_out else "")

    def to_json(self) -> dict[str, object]:
        return {
            "request_id": self.request_id,
            "duration_ms": round(self.duration_ms, 2),
            "billed_duration_ms": self.billed_ms,
            "memory_size_mb": self.memory_size_mb,
            "max_memory_used_mb": self.max_memory_used_mb,
            "init_duration_ms": round(self.init_ms, 2),
            "timed_out": self.timed_out,
        }


def _error_json(invocation: Invocation, timeout: float) -> dict[str, object] | None:
    if invocation.timed_out:
        return {"type": "timeout", "message": _timed_out_message(timeout)}
    if invocation.error is None:
        return None
    return {key: value for key, value in invocation.error.items() if key != "stack_trace"}


def write_failure(
    where: Where,
    what: str,
    text: str,
    error: Mapping[str, object],
    *,
    job_uuid: str | None = None,
    request_id: str | None = None,
) -> None:
    """Say on standard error that the handler failed (``what``), with its traceback
    (``text``); under Lambda's JSON log format (``AWS_LAMBDA_LOG_FORMAT=JSON``) as one
    JSON record whose ``errorType``, ``errorMessage`` and ``stackTrace`` hold the
    exception, as the runtime writes an uncaught one."""
    from ..logformat import error_record, log_format

    if log_format(os.environ) == "json":
        line = error_record(what, error, request_id=request_id, job_uuid=job_uuid)
        sys.stderr.write(line + "\n")
    else:
        sys.stderr.write(f"{where.command}: {what}\n{text}")
    sys.stderr.flush()


def _timed_out_message(timeout: float) -> str:
    return f"Task timed out after {timeout:.2f} seconds"


def _json_summary(
    plan: Plan,
    *,
    handler: str,
    request_id: str,
    invocation: Invocation,
    outcome: HandlerOutcome,
    report: Report,
    code: int,
    where: Where,
) -> dict[str, object]:
    return {
        "ok": code == EXIT_OK,
        "exit_code": code,
        "mode": where.mode,
        **where.extra,
        "handler": handler,
        "job_uuid": plan.job_uuid,
        "request_id": request_id,
        "returned": invocation.returned,
        "error": _error_json(invocation, plan.timeout),
        "result": outcome.result,
        "pushes": outcome.pushes,
        "files": [f.to_json() for f in outcome.files],
        "charges": outcome.charges,
        "metered_event_count": outcome.metered_event_count,
        "limit_reached": outcome.limit_reached,
        "artifacts": outcome.artifacts,
        "report": report.to_json(),
    }


def _print_summary(
    plan: Plan,
    handler: str,
    invocation: Invocation,
    outcome: HandlerOutcome,
    report: Report,
    *,
    where: Where,
    all_charges: bool,
) -> None:
    error = invocation.error
    if error is not None and error.get("traceback"):
        write_failure(
            where,
            "the handler raised",
            str(error["traceback"]),
            error,
            job_uuid=plan.job_uuid,
            request_id=report.request_id,
        )
    out: list[str] = []
    out.append(f"Handler:   {handler} ({where.label}, job {plan.job_uuid})")
    if invocation.timed_out:
        out.append(f"Returned:  nothing: {_timed_out_message(plan.timeout)}")
    elif error is not None and error.get("type") == "raised":
        out.append(f"Returned:  nothing: raised {error.get('exception')}: {error.get('message')}")
    elif error is not None:
        out.append(f"Returned:  nothing Lambda can send back: {error.get('message')}")
    else:
        out.append(f"Returned:  {json_text(invocation.returned)}")
        out.extend(problem_lines(invocation.returned))
    if outcome.pushes:
        shown = _shown_result(outcome.result, outcome.artifacts)
        pushes = f" ({outcome.pushes} pushes, the last one wins)" if outcome.pushes > 1 else ""
        label = "Result:" if shown.startswith("\n") else "Result:    "
        out.append(f"{label}{shown}{pushes}")
    else:
        out.append("Result:    nothing pushed")
    if outcome.files:
        out.append(f"Files:     {len(outcome.files)}")
        out.extend(
            f"  {f.name}  {_size(f.size)}  {f.content_type}  {display_path(f.path)}"
            for f in outcome.files
        )
    else:
        out.append("Files:     none")
    out.extend(charge_lines(outcome, all_charges=all_charges))
    if outcome.artifacts is not None:
        out.append(f"Artifacts: {display_path(outcome.artifacts)}{os.sep}")
    out.append(report.line())
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def problem_lines(returned: object) -> list[str]:
    """A refused input's or result's problems, one line each, from a failure's
    ``error.details`` (``INVALID_INPUT``, ``INVALID_OUTPUT``); none for other returns."""
    error = returned.get("error") if isinstance(returned, Mapping) else None
    if not isinstance(error, Mapping):
        return []
    details = error.get("details")
    if not isinstance(details, list) or not details:
        return []
    output = error.get("stage") == "output"
    what = "in the result, which was not pushed" if output else "in the input: no worker code ran"
    more = " (and more: the list stops at 20)" if error.get("details_truncated") else ""
    lines = [f"Problems:  {len(details)} {what}{more}"]
    for item in details:
        if isinstance(item, Mapping):
            lines.append(f"  {item.get('path') or '(the whole value)'}: {item.get('message')}")
    return lines


def charge_lines(outcome: HandlerOutcome, *, all_charges: bool = False) -> list[str]:
    """The summary's ``Charges:`` lines: the totals, then the keys.

    A list longer than twice :data:`CHARGES_AT_EACH_END` (plus the one line the gap
    would take) shows its first and last keys around a line counting the others,
    unless ``all_charges``; so thousands of charges still make a summary that fits on a
    screen.
    """
    charges = outcome.charges
    if not charges and not outcome.metered_event_count:
        return ["Charges:   none"]
    units = sum(c["count"] for c in charges if type(c.get("count")) is int)
    lines = [f"Charges:   {_count(len(charges), 'key')}, {_count(units, 'unit')}"]
    shown = [f"  {c['idempotency_key']}  x{c['count']}" for c in charges]
    end = CHARGES_AT_EACH_END
    if not all_charges and len(shown) > 2 * end + 1:
        hidden = len(shown) - 2 * end
        shown = [*shown[:end], f"  ... {hidden} more (--all-charges lists them) ...", *shown[-end:]]
    lines.extend(shown)
    lines.append(
        f"  metered total {outcome.metered_event_count};"
        f" limit reached: {'yes' if outcome.limit_reached else 'no'}"
    )
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _shown_result(result: Any, artifacts: str | None) -> str:
    text = json_text(result)
    if len(text) > _ONE_LINE:
        text = "\n" + "\n".join("  " + line for line in json_text(result, indent=2).split("\n"))
    if len(text) > _RESULT_CHARS:
        where = (
            f"the whole of it is in {display_path(os.path.join(artifacts, 'response_json.json'))}"
            if artifacts is not None
            else "use --json for the whole of it"
        )
        text = f"{text[:_RESULT_CHARS]}\n  ... ({len(json_text(result))} characters; {where})"
    return text


def _size(size: int | None) -> str:
    if size is None:
        return "? bytes"
    return f"{size:,} bytes" if size != 1 else "1 byte"
