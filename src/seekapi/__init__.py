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
    DeadlineExceeded,
    HTTPStatusError,
    InputError,
    JobClosedError,
    JSONValueError,
    MissingInputError,
    SeekAPIError,
    TransportError,
    UsageError,
    WorkerError,
    WorkerTimeout,
)

__all__ = [
    "DeadlineExceeded",
    "HTTPStatusError",
    "InputError",
    "JSONValueError",
    "Job",
    "JobClosedError",
    "MissingInputError",
    "SeekAPIError",
    "TransportError",
    "UsageError",
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
    "success",
]
