"""The platform's wire protocol, named once: paths, the secret header, body fields.

The SDK builds its requests from these names and the emulator in :mod:`seekapi.testing`
routes and checks requests by them, so the two cannot drift apart. What each endpoint
means: ``docs/wire.md`` §3.
"""

from __future__ import annotations

JOBS_PATH = "/v1/internal/jobs/"
"""Every backend call is a POST to ``{WORKER_API_BASE_URL}{JOBS_PATH}{job_uuid}{suffix}``."""

SECRET_HEADER = "X-Internal-Secret"  # noqa: S105 - a header name
"""The header that carries ``WORKER_INTERNAL_SECRET`` on every backend call."""

# The suffix of each endpoint, after the job id.
PUSH = "/push"
PUSH_FILE = "/push/file"
CHARGE = "/charge"
REQUEST_ID = "/worker-request-id"
ENDPOINTS = (PUSH, PUSH_FILE, CHARGE, REQUEST_ID)

# Body fields.
EXECUTION_TOKEN = "execution_token"  # noqa: S105 - a field name
DATA = "data"
TYPE = "type"
NAME = "name"
FILE = "file"
IDEMPOTENCY_KEY = "idempotency_key"
COUNT = "count"
JUSTIFICATION = "justification"
REQUEST_ID_FIELD = "request_id"

# Fields of a charge's answer.
METERED_EVENT_COUNT = "metered_event_count"
LIMIT_REACHED = "limit_reached"
