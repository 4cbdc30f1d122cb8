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
from ._run import run
from ._version import __version__
from .errors import (
    DeadlineExceeded,
    HTTPStatusError,
    InputError,
    JSONValueError,
    MissingInputError,
    SeekAPIError,
    TransportError,
    UsageError,
)

__all__ = [
    "DeadlineExceeded",
    "HTTPStatusError",
    "InputError",
    "JSONValueError",
    "MissingInputError",
    "SeekAPIError",
    "TransportError",
    "UsageError",
    "__version__",
    "charge",
    "create_context",
    "failure",
    "get_input",
    "get_job_fixture",
    "push_data",
    "push_file",
    "register_request_id",
    "run",
    "success",
]
