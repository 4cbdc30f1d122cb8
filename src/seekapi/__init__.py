"""seekapi: the SDK for SeekAPI workers.

A worker is an AWS Lambda function. :func:`run` does a whole job around one function;
the lower-level calls fetch the input, push results and files, and charge billing units.
Importing seekapi is cheap: the network stack loads on first use.
"""

from ._api import (
    charge,
    create_context,
    failure,
    get_input,
    get_job_fixture,
    push_data,
    push_file,
    register_request_id,
    success,
)
from ._job import Job, current_job
from ._run import run, run_async
from ._version import __version__
from .errors import (
    ContractError,
    DeadlineExceeded,
    HTTPStatusError,
    InputError,
    InvalidValue,
    JobClosedError,
    JSONValueError,
    MissingInputError,
    SeekAPIError,
    TransportError,
    UsageError,
    WorkerError,
    WorkerTimeout,
)

# The contract API loads typing and inspect, the map's outcome dataclasses: they are
# imported on first use (PEP 562), so a worker that does not use them never pays for
# them. mypy reads the names from here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._contract_types import Field
    from ._map_outcome import ItemFailure, MapOutcome
    from ._worker import Worker, schema, worker

_LAZY = {
    "Field": "._contract_types",
    "ItemFailure": "._map_outcome",
    "MapOutcome": "._map_outcome",
    "Worker": "._worker",
    "schema": "._worker",
    "worker": "._worker",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seekapi' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ContractError",
    "DeadlineExceeded",
    "Field",
    "HTTPStatusError",
    "InputError",
    "InvalidValue",
    "ItemFailure",
    "JSONValueError",
    "Job",
    "JobClosedError",
    "MapOutcome",
    "MissingInputError",
    "SeekAPIError",
    "TransportError",
    "UsageError",
    "Worker",
    "WorkerError",
    "WorkerTimeout",
    "__version__",
    "charge",
    "create_context",
    "current_job",
    "failure",
    "get_input",
    "get_job_fixture",
    "push_data",
    "push_file",
    "register_request_id",
    "run",
    "run_async",
    "schema",
    "success",
    "worker",
]
