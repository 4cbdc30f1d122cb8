"""One measurement in a fresh process: ``python _worker.py SPEC_JSON`` prints one JSON line.

The parent (``run.py``) picks the implementation under test through the environment:
``PYTHONPATH`` points at this repository's ``src`` for seekapi, at nothing for the raw
``http.client`` baseline, and the throwaway virtual environment's own ``site-packages``
holds seekapi 1.0.5. So each implementation is imported alone, and the CPU time and peak
memory read here belong to it.

SPEC keys: ``workload`` (``calls``, ``push_file``, ``get_input``, ``local``), ``impl``
(``ours``, ``v105``, ``raw``), ``base`` (``http://127.0.0.1:PORT`` or ``https://...``),
``secret``, ``n``, ``warmup``, ``op`` (``charge`` or ``push_data``), ``path`` (the
upload file or the local-mode folder), ``small_path`` (a small file uploaded once before
the timed upload), ``items`` (expected input size) and ``profile`` (a file to write
cProfile statistics of the timed part to, or null).

Every workload makes an untimed warm-up call first (a small one for ``push_file`` and
``get_input``), so the timed part measures the steady state: lazy imports, the TLS
context and the kept-alive connection are set up already, as in a warm Lambda. The
cold-start workload in ``run.py`` measures the first call instead.

The reply: ``wall`` and ``cpu`` (seconds, of the timed part only: user+system from
``getrusage(RUSAGE_SELF)``), ``n``, ``hwm_kib`` (``VmHWM`` from ``/proc/self/status``:
this process's own peak, which ``ru_maxrss`` is not, since a child starts with its
parent's), ``module`` (where seekapi was imported from) and ``version``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

JOB = "job-bench-0001"
TOKEN = "exec-token-bench-0001"
USER_AGENT = "seekapi-python/bench"


def peak_rss_kib() -> int | None:
    """This process's peak resident set size (``VmHWM``) in KiB, or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def record(i: int) -> dict[str, Any]:
    """A typical small result pushed by a worker."""
    return {
        "item": i,
        "url": f"https://example.com/catalogue/items/{i}",
        "title": "A product title of ordinary length",
        "price": 19.99,
        "tags": ["alpha", "beta", "gamma"],
        "in_stock": True,
    }


def event(base: str, document: str = "doc.json") -> dict[str, str]:
    return {
        "job_uuid": JOB,
        "execution_token": TOKEN,
        "input_presigned_url": f"{base}/input/{document}?X-Amz-Signature=0123456789abcdef",
    }


# -- the raw baseline: http.client, one persistent connection ------------------------


class RawClient:
    """The limit: one kept-alive ``http.client`` connection, ``json.dumps``/``json.loads``."""

    def __init__(self, base: str, secret: str) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(base)
        host, port = parts.hostname or "127.0.0.1", parts.port
        self.conn: http.client.HTTPConnection
        if parts.scheme == "https":
            import ssl

            # The system trust store, as seekapi and 1.0.5 load it (SSL_CERT_FILE honoured).
            context = ssl.create_default_context()
            self.conn = http.client.HTTPSConnection(host, port, context=context)
        else:
            self.conn = http.client.HTTPConnection(host, port)
        self.headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "X-Internal-Secret": secret,
        }
        self.secret = secret

    def post_json(self, path: str, payload: dict[str, Any]) -> Any:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.conn.request("POST", path, body, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        return json.loads(data)

    def upload(self, path: str, name: str, local_path: str, chunk: int = 256 * 1024) -> Any:
        """The same three-part multipart body, streamed from the file in ``chunk`` pieces."""
        boundary = "raw-" + os.urandom(16).hex()
        dash = b"--" + boundary.encode("ascii")
        head = b"".join(
            [
                dash,
                b'\r\nContent-Disposition: form-data; name="execution_token"\r\n\r\n',
                TOKEN.encode(),
                b"\r\n",
                dash,
                b'\r\nContent-Disposition: form-data; name="name"\r\n\r\n',
                name.encode(),
                b"\r\n",
                dash,
                b'\r\nContent-Disposition: form-data; name="file"; filename="',
                name.encode(),
                b'"\r\nContent-Type: application/octet-stream\r\n\r\n',
            ]
        )
        tail = b"\r\n" + dash + b"--\r\n"
        size = os.path.getsize(local_path)
        conn = self.conn
        conn.putrequest("POST", path)
        conn.putheader("User-Agent", USER_AGENT)
        conn.putheader("X-Internal-Secret", self.secret)
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail)))
        conn.endheaders()
        conn.send(head)
        buf = bytearray(chunk)
        view = memoryview(buf)
        with open(local_path, "rb", buffering=0) as handle:
            while True:
                got = handle.readinto(buf)
                if not got:
                    break
                conn.send(view[:got])
        conn.send(tail)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        return json.loads(data)

    def get_json(self, path: str) -> Any:
        self.conn.request(
            "GET", path, headers={"User-Agent": USER_AGENT, "Accept": "application/json"}
        )
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        return json.loads(data)


# -- the workloads ----------------------------------------------------------------------


def _timed(body: Callable[[], None], profile: str | None) -> tuple[float, float]:
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        profiler.runcall(body)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        profiler.dump_stats(profile)
        return wall, cpu
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    body()
    return time.perf_counter() - t0, cpu_seconds() - cpu0


def _sdk() -> Any:
    import seekapi

    return seekapi


def calls(spec: dict[str, Any]) -> dict[str, Any]:
    """``n`` sequential ``charge`` or ``push_data`` calls after ``warmup`` untimed ones."""
    impl, op, n, warmup = spec["impl"], spec["op"], spec["n"], spec["warmup"]
    call: Callable[[int], Any]
    if impl == "raw":
        client = RawClient(spec["base"], spec["secret"])
        prefix = f"/v1/internal/jobs/{JOB}"

        def raw_charge(i: int) -> Any:
            payload = {"execution_token": TOKEN, "idempotency_key": f"{JOB}:item-{i}", "count": 1}
            return client.post_json(prefix + "/charge", payload)

        def raw_push(i: int) -> Any:
            payload = {"execution_token": TOKEN, "data": record(i), "type": "json"}
            return client.post_json(prefix + "/push", payload)

        call = raw_charge if op == "charge" else raw_push
    else:
        sdk = _sdk()
        ctx = sdk.create_context(event(spec["base"]))
        if op == "charge":

            def call(i: int) -> Any:
                return sdk.charge(ctx, f"{JOB}:item-{i}")

        else:

            def call(i: int) -> Any:
                return sdk.push_data(ctx, record(i))

    for i in range(warmup):
        reply = call(-1 - i)
    assert reply.get("ok") is True, reply

    def loop() -> None:
        for i in range(n):
            call(i)

    wall, cpu = _timed(loop, spec.get("profile"))
    return {"wall": wall, "cpu": cpu, "n": n}


def push_file(spec: dict[str, Any]) -> dict[str, Any]:
    """One upload of the file at ``path``; checks the server received all of it."""
    impl, path = spec["impl"], spec["path"]
    size = os.path.getsize(path)
    replies: list[Any] = []
    upload: Callable[[str], Any]
    if impl == "raw":
        client = RawClient(spec["base"], spec["secret"])

        def upload(local_path: str) -> Any:
            return client.upload(f"/v1/internal/jobs/{JOB}/push/file", "upload.bin", local_path)

    else:
        sdk = _sdk()
        ctx = sdk.create_context(event(spec["base"]))

        def upload(local_path: str) -> Any:
            return sdk.push_file(ctx, "upload.bin", local_path, timeout=60)

    assert upload(spec["small_path"]).get("ok") is True

    def body() -> None:
        replies.append(upload(path))

    wall, cpu = _timed(body, spec.get("profile"))
    reply = replies[0]
    assert reply.get("ok") is True, reply
    assert reply["bytes"] > size, reply
    return {"wall": wall, "cpu": cpu, "n": 1, "bytes": size}


def get_input(spec: dict[str, Any]) -> dict[str, Any]:
    """One fetch and parse of the input document."""
    impl = spec["impl"]
    docs: list[Any] = []
    fetch: Callable[[dict[str, str]], Any]
    if impl == "raw":
        client = RawClient(spec["base"], spec["secret"])

        def fetch(the_event: dict[str, str]) -> Any:
            url = the_event["input_presigned_url"]
            return client.get_json(url[url.index("/input/") :])

    else:
        sdk = _sdk()

        def fetch(the_event: dict[str, str]) -> Any:
            return sdk.get_input(the_event, timeout=60)

    assert fetch(event(spec["base"], "small.json"))["items"] == []
    the_event = event(spec["base"])

    def body() -> None:
        docs.append(fetch(the_event))

    wall, cpu = _timed(body, spec.get("profile"))
    assert len(docs[0]["items"]) == spec["items"]
    return {"wall": wall, "cpu": cpu, "n": 1}


def local(spec: dict[str, Any]) -> dict[str, Any]:
    """``n`` local-mode ``push_data`` calls, or as many plain appends of the same line."""
    impl, n, folder = spec["impl"], spec["n"], spec["path"]
    call: Callable[[int], Any]
    if impl == "raw":
        target = os.path.join(folder, "plain.jsonl")
        pushed_at = "2025-01-01T00:00:00.000000Z"

        def call(i: int) -> Any:
            line = {
                "pushed_at": pushed_at,
                "job_uuid": JOB,
                "execution_token": TOKEN,
                "type": "json",
                "data": record(i),
            }
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")

    else:
        sdk = _sdk()
        ctx = sdk.create_context(event("http://unused.invalid"))

        def call(i: int) -> Any:
            return sdk.push_data(ctx, record(i))

    call(-1)

    def loop() -> None:
        for i in range(n):
            call(i)

    wall, cpu = _timed(loop, spec.get("profile"))
    return {"wall": wall, "cpu": cpu, "n": n}


WORKLOADS = {"calls": calls, "push_file": push_file, "get_input": get_input, "local": local}


def main() -> None:
    spec = json.loads(sys.argv[1])
    result = WORKLOADS[spec["workload"]](spec)
    module = sys.modules.get("seekapi")
    result["module"] = getattr(module, "__file__", None)
    result["version"] = getattr(module, "__version__", None)
    result["hwm_kib"] = peak_rss_kib()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
