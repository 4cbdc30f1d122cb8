"""Run the hello worker once in local mode, as Lambda would, and print what it produced.

SEEKAPI_LOCAL_MODE=1 python examples/hello/run_local.py
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from handler import handler  # noqa: E402

from seekapi.testing import FakeLambdaContext  # noqa: E402


def main() -> int:
    os.environ.setdefault("SEEKAPI_LOCAL_MODE", "1")
    job_uuid = f"hello-{uuid.uuid4().hex[:8]}"
    event = {
        "job_uuid": job_uuid,
        "execution_token": "local-token",
        "input_presigned_url": (HERE / "input.json").as_uri(),
    }
    outcome = handler(event, FakeLambdaContext(timeout_s=30))
    print("returned:", json.dumps(outcome))
    local_dir = Path(os.environ.get("SEEKAPI_LOCAL_DIR") or ".seekapi-local")
    result_file = local_dir / job_uuid / "response_json.json"
    if result_file.exists():
        print("result:  ", result_file.read_text(encoding="utf-8").strip().replace("\n", " "))
    return 0 if outcome.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
