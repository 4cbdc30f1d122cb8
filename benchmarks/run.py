"""Side-by-side benchmark: seekapi (this repository), seekapi 1.0.5, and raw http.client.

    python benchmarks/run.py [--quick] [--json OUT] [--profile] [--only LIST]

Run it with the project's development environment (it needs ``trustme``). On its first
run it installs seekapi 1.0.5 from the package registry into a throwaway virtual
environment under ``benchmarks/.cache/`` (ignored by git); nothing of it enters the
project. See ``docs/benchmarks.md`` for what each figure means.

Every measurement runs in a fresh worker process on that environment's interpreter, so
all three implementations run on the same Python, and imports, CPU time and peak memory
are each implementation's own. The backend is ``_server.py``, in a process of its own on
127.0.0.1. Each figure is a median over repeats, and each ratio is the median of the
ratios to the raw baseline measured in the same repeat.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _contract_bench
import _map_bench
import _setup
from _server_process import Server, clean_env

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SRC = REPO / "src"
WORKER = HERE / "_worker.py"
SECRET = "bench-internal-secret"
IMPLS = ("ours", "v105", "raw")
LABELS = {"ours": "seekapi", "v105": "1.0.5", "raw": "raw"}
WORKLOADS = ("import", "cold", "calls", "push_file", "get_input", "local", "contract", "map")
COLD_CODE = (
    "import seekapi\n"
    "ctx = seekapi.create_context({'job_uuid': 'job-cold', 'execution_token': 'tok'})\n"
    "assert seekapi.charge(ctx, 'job-cold:1')['ok'] is True\n"
)


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full run, or a quick one for development."""

    repeats: int
    import_rounds: int
    cold_rounds: int
    calls: int
    old_tls_calls: int
    warmup: int
    upload_mib: int
    input_mb: int
    local_calls: int

    @classmethod
    def full(cls) -> Plan:
        return cls(
            repeats=7,
            import_rounds=30,
            cold_rounds=20,
            calls=1000,
            old_tls_calls=200,
            warmup=20,
            upload_mib=512,
            input_mb=50,
            local_calls=5000,
        )

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            repeats=2,
            import_rounds=8,
            cold_rounds=5,
            calls=300,
            old_tls_calls=30,
            warmup=10,
            upload_mib=64,
            input_mb=10,
            local_calls=1000,
        )


# -- the backend process -------------------------------------------------------------


# -- worker processes ----------------------------------------------------------------


@dataclass
class Runner:
    """Starts workers: picks the interpreter and the environment of each implementation."""

    python: str
    bundle: str
    scratch: Path
    src: Path
    """Where seekapi is imported from: a copy of ``src/`` taken when the run starts."""
    server: Server | None = None

    def env(self, impl: str, scheme: str = "http", **extra: str) -> dict[str, str]:
        env = clean_env()
        env["SSL_CERT_FILE"] = self.bundle
        env["WORKER_INTERNAL_SECRET"] = SECRET
        if self.server is not None:
            env["WORKER_API_BASE_URL"] = self.server.base(scheme)
        if impl == "ours":
            # Shadows the 1.0.5 copy in the environment's site-packages.
            env["PYTHONPATH"] = str(self.src)
        env.update(extra)
        return env

    def timed_process(self, args: Sequence[str], env: dict[str, str]) -> tuple[float, str]:
        """Wall time of a whole process (start to exit) and what it printed."""
        t0 = time.perf_counter()
        done = subprocess.run(
            [self.python, *args],
            env=env,
            cwd=self.scratch,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise WorkerFailed(" ".join(args)[:120], done.stderr)
        return wall, done.stdout

    def worker(self, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        """Run one ``_worker.py`` measurement; adds the server's counters for its lifetime."""
        before = self.server.stats() if self.server else None
        _, out = self.timed_process([str(WORKER), json.dumps(spec)], env)
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        if self.server is not None and before is not None:
            after = self.server.stats()
            scheme = "https" if spec.get("base", "").startswith("https") else "http"
            result["connections"] = after["connections"][scheme] - before["connections"][scheme]
            result["server_cpu"] = after["cpu"] - before["cpu"]
            result["server_share"] = result["server_cpu"] / max(result["wall"], 1e-9)
            result["server_errors"] = after["errors"] - before["errors"]
        return result


class WorkerFailed(Exception):
    def __init__(self, what: str, stderr: str) -> None:
        super().__init__(f"{what}: {stderr.strip().splitlines()[-1] if stderr.strip() else ''}")
        self.stderr = stderr


# -- results -------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: a figure for each implementation and the target's verdict."""

    workload: str
    metric: str
    values: dict[str, float | None]
    ratios: dict[str, float | None] = field(default_factory=dict)
    target: str = ""
    passed: bool | None = None
    fmt: str = "{:.1f}"
    note: str = ""
    profile: dict[str, Any] | None = None  # how to re-run ours under the profiler


def _ratio_of(mine: float | None, base: float | None) -> float | None:
    return None if mine is None or not base else mine / base


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _paired_ratio(
    samples: dict[str, list[dict[str, Any]]], impl: str, metric: Callable[[dict[str, Any]], float]
) -> float | None:
    """Median over repeats of impl/raw, each pair measured in the same repeat."""
    ratios = [
        metric(mine) / metric(base)
        for mine, base in zip(samples.get(impl, []), samples.get("raw", []), strict=False)
        if mine and base and metric(base)
    ]
    return statistics.median(ratios) if ratios else None


# -- the workloads ---------------------------------------------------------------------


@dataclass
class Bench:
    plan: Plan
    runner: Runner
    log: Callable[[str], None]
    rows: list[Row] = field(default_factory=list)
    samples: dict[str, Any] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)

    def _try(self, label: str, thunk: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        try:
            return thunk()
        except WorkerFailed as exc:
            self._broken(label, exc)
            return None

    def _base(self, scheme: str) -> str:
        server = self.runner.server
        assert server is not None
        return server.base(scheme)

    def _broken(self, label: str, exc: WorkerFailed) -> None:
        """Note a measurement that failed (once per label) and carry on without it."""
        if label not in self.broken:
            self.log(f"  !! {label} failed: {exc}")
            self.broken[label] = exc.stderr[-2000:]

    # 1. import
    def imports(self) -> None:
        self.log("import seekapi vs import json, logging ...")
        runner = self.runner
        snippets = {
            "raw": ("raw", "import json, logging"),
            "ours": ("ours", "import seekapi"),
            "v105": ("v105", "import seekapi"),
        }
        marginal = (
            "import json, logging, time\nt = time.perf_counter()\nimport seekapi\n"
            "print(time.perf_counter() - t)"
        )
        walls: dict[str, list[float]] = {k: [] for k in snippets}
        inproc: dict[str, list[float]] = {"ours": [], "v105": []}
        order = []
        for impl, (env_impl, code) in snippets.items():  # warm caches, write bytecode
            try:
                for _ in range(2):
                    runner.timed_process(["-c", code], runner.env(env_impl))
                order.append(impl)
            except WorkerFailed as exc:
                self._broken(f"import {LABELS[impl]}", exc)
        rng = random.Random(5)
        for _ in range(self.plan.import_rounds):
            rng.shuffle(order)
            for impl in order:
                env_impl, code = snippets[impl]
                wall, _ = runner.timed_process(["-c", code], runner.env(env_impl))
                walls[impl].append(wall)
                if impl in inproc:
                    _, out = runner.timed_process(["-c", marginal], runner.env(env_impl))
                    inproc[impl].append(float(out))
        base = _median(walls["raw"])
        added: dict[str, float | None] = {}
        for impl in ("ours", "v105"):
            mine = _median(walls[impl])
            added[impl] = None if mine is None or base is None else (mine - base) * 1e3
        self.samples["import"] = {"process_wall_s": walls, "in_process_s": inproc}
        ours = added["ours"]
        self.rows.append(
            Row(
                "import seekapi",
                "ms added to a process over `import json, logging`",
                {"ours": ours, "v105": added["v105"], "raw": 0.0},
                target="seekapi <= 10 ms",
                passed=None if ours is None else ours <= 10.0,
                note=f"python -c 'import json, logging' itself: {(base or 0) * 1e3:.1f} ms",
            )
        )
        self.rows.append(
            Row(
                "import seekapi",
                "ms to import it with json and logging loaded",
                {
                    impl: (None if not inproc[impl] else statistics.median(inproc[impl]) * 1e3)
                    for impl in ("ours", "v105")
                },
                fmt="{:.2f}",
            )
        )

    # 2. cold start
    def cold_start(self) -> None:
        self.log("cold start: a fresh process importing and charging once over TLS ...")
        runner = self.runner
        assert runner.server is not None
        port = runner.server.https.rsplit(":", 1)[1]
        raw_code = (
            "import http.client, json, ssl\n"
            "context = ssl.create_default_context()\n"
            f"conn = http.client.HTTPSConnection('127.0.0.1', {port}, context=context)\n"
            "body = json.dumps({'execution_token': 'tok', 'idempotency_key': 'job-cold:1',"
            " 'count': 1}, separators=(',', ':')).encode()\n"
            "conn.request('POST', '/v1/internal/jobs/job-cold/charge', body,"
            f" {{'User-Agent': 'seekapi-python/bench', 'Content-Type': 'application/json',"
            f" 'X-Internal-Secret': {SECRET!r}}})\n"
            "response = conn.getresponse()\n"
            "assert json.loads(response.read())['ok'] is True\n"
        )
        codes = {"ours": COLD_CODE, "v105": COLD_CODE, "raw": raw_code}
        walls: dict[str, list[float]] = {k: [] for k in codes}
        order = list(codes)
        rng = random.Random(6)
        for impl in list(order):
            try:
                runner.timed_process(["-c", codes[impl]], runner.env(impl, "https"))
            except WorkerFailed as exc:
                self._broken(f"cold start {LABELS[impl]}", exc)
                order.remove(impl)
        for _ in range(self.plan.cold_rounds):
            rng.shuffle(order)
            for impl in order:
                wall, _ = runner.timed_process(["-c", codes[impl]], runner.env(impl, "https"))
                walls[impl].append(wall)
        med = {impl: _median(walls[impl]) for impl in codes}
        med_ms = {impl: (v * 1e3 if v is not None else None) for impl, v in med.items()}
        ours, old = med["ours"], med["v105"]
        self.samples["cold_start"] = walls
        self.rows.append(
            Row(
                "cold start (import + 1 charge, TLS)",
                "ms, whole process",
                med_ms,
                ratios={impl: _ratio_of(med[impl], med["raw"]) for impl in ("ours", "v105")},
                target="seekapi <= 1.0.5",
                passed=None if ours is None or old is None else ours <= old,
            )
        )

    def _repeat(
        self,
        configs: Sequence[tuple[str, dict[str, Any]]],
        spec_for: Callable[[str, dict[str, Any]], tuple[dict[str, Any], dict[str, str]] | None],
    ) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Run every (config, impl) ``repeats`` times, rotating the order of impls."""
        out: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name, _ in configs}
        for r in range(self.plan.repeats):
            impls = IMPLS[r % 3 :] + IMPLS[: r % 3]
            for name, config in configs:
                for impl in impls:
                    made = spec_for(impl, config)
                    if made is None:
                        continue
                    spec, env = made
                    result = self._try(
                        f"{name} {LABELS[impl]}", functools.partial(self.runner.worker, spec, env)
                    )
                    out[name].setdefault(impl, []).append(result or {})
        return out

    # 3. sequential calls
    def calls(self) -> None:
        self.log("sequential charge and push_data calls, HTTP and TLS ...")
        plan, runner = self.plan, self.runner
        assert runner.server is not None
        configs = [
            (f"{op} {scheme.upper() if scheme == 'http' else 'TLS'}", {"op": op, "scheme": scheme})
            for op in ("charge", "push_data")
            for scheme in ("http", "https")
        ]

        def spec_for(impl: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
            slow = impl == "v105" and config["scheme"] == "https"
            n = plan.old_tls_calls if slow else plan.calls
            spec = {
                "workload": "calls",
                "impl": impl,
                "op": config["op"],
                "base": self._base(config["scheme"]),
                "secret": SECRET,
                "n": n,
                "warmup": 2 if impl == "v105" else plan.warmup,
            }
            return spec, runner.env(impl, config["scheme"])

        results = self._repeat(configs, spec_for)
        self.samples["calls"] = results
        for (name, config), samples in zip(configs, results.values(), strict=True):
            tls = config["scheme"] == "https"
            limit = 1.3 if tls else 1.2

            def per_call(s: dict[str, Any]) -> float:
                return float(s["wall"]) / float(s["n"])

            rate = {
                impl: _median([s["n"] / s["wall"] for s in samples.get(impl, []) if s])
                for impl in IMPLS
            }
            ratios = {impl: _paired_ratio(samples, impl, per_call) for impl in ("ours", "v105")}
            conns = {
                impl: max(
                    (s.get("connections", 0) for s in samples.get(impl, []) if s), default=None
                )
                for impl in IMPLS
            }
            ours_ratio = ratios["ours"]
            self.rows.append(
                Row(
                    name,
                    "calls/s (ratio: time per call)",
                    rate,
                    ratios=ratios,
                    target=f"<= {limit}x raw",
                    passed=None if ours_ratio is None else ours_ratio <= limit,
                    fmt="{:.0f}",
                    note=self._server_note(samples),
                    profile={"workload": "calls", "op": config["op"], "scheme": config["scheme"]},
                )
            )
            cpu = {
                impl: _median([s["cpu"] / s["n"] * 1e6 for s in samples.get(impl, []) if s])
                for impl in IMPLS
            }
            self.rows.append(
                Row(
                    name,
                    "client CPU us/call",
                    cpu,
                    ratios={
                        impl: _paired_ratio(samples, impl, lambda s: s["cpu"] / s["n"])
                        for impl in ("ours", "v105")
                    },
                )
            )
            self.rows.append(
                Row(
                    name,
                    "connections opened",
                    conns,
                    target="seekapi: 1",
                    passed=None if conns["ours"] is None else conns["ours"] == 1,
                    fmt="{:.0f}",
                )
            )

    # job.map against the loops a worker would write otherwise (benchmarks/_map_bench.py)
    def map_items(self) -> None:
        runner = self.runner
        assert runner.server is not None
        quick = self.plan == Plan.quick()
        try:
            rows = _map_bench.measure(
                runner.python,
                runner.env("ours", "https"),
                runner.server.https,
                stats=runner.server.stats,
                plan=_map_bench.MapPlan.quick() if quick else _map_bench.MapPlan.full(),
                log=self.log,
            )
        except RuntimeError as exc:
            self.log(f"  !! job.map failed: {exc}")
            self.broken["job.map"] = str(exc)[-2000:]
            return
        noted: set[str] = set()
        for row in rows:
            first = row.workload not in noted
            noted.add(row.workload)
            self.rows.append(
                Row(
                    row.workload,
                    row.metric,
                    {"ours": row.ours, "v105": None, "raw": row.baseline},
                    ratios={"ours": row.ratio},
                    target=row.target,
                    passed=row.passed,
                    fmt=row.fmt,
                    note=f"raw column: the {row.baseline_label}" if first else "",
                )
            )

    def _server_note(self, samples: dict[str, list[dict[str, Any]]]) -> str:
        shares = {
            LABELS[impl]: _median([s.get("server_share") for s in samples.get(impl, []) if s])
            for impl in IMPLS
        }
        parts = [f"{k} {v:.0%}" for k, v in shares.items() if v is not None]
        return "server CPU share: " + ", ".join(parts)

    # 4. push_file
    def push_file(self, upload: Path, small: Path) -> None:
        size_mib = upload.stat().st_size // _setup.MIB
        self.log(f"push_file of a {size_mib} MiB file, HTTP and TLS ...")
        with open(upload, "rb") as handle:  # into the page cache before timing
            while handle.read(1 << 24):
                pass
        runner = self.runner
        configs = [
            (f"push_file {size_mib} MiB {'TLS' if s == 'https' else 'HTTP'}", {"scheme": s})
            for s in ("http", "https")
        ]

        def spec_for(impl: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
            spec = {
                "workload": "push_file",
                "impl": impl,
                "base": self._base(config["scheme"]),
                "secret": SECRET,
                "path": str(upload),
                "small_path": str(small),
            }
            return spec, runner.env(impl, config["scheme"])

        results = self._repeat(configs, spec_for)
        self.samples["push_file"] = results
        for (name, config), samples in zip(configs, results.values(), strict=True):
            speed = {
                impl: _median([s["bytes"] / s["wall"] / 1e6 for s in samples.get(impl, []) if s])
                for impl in IMPLS
            }
            ratio = {
                impl: _paired_ratio(samples, impl, lambda s: s["wall"]) for impl in ("ours", "v105")
            }
            self.rows.append(
                Row(
                    name,
                    "MB/s (ratio: time)",
                    speed,
                    ratios=ratio,
                    target="<= 1.3x raw",
                    passed=None if ratio["ours"] is None else ratio["ours"] <= 1.3,
                    fmt="{:.0f}",
                    note=self._server_note(samples),
                    profile={"workload": "push_file", "scheme": config["scheme"]},
                )
            )
            rss = {
                impl: _median([_mib(s.get("hwm_kib")) for s in samples.get(impl, []) if s])
                for impl in IMPLS
            }
            self.rows.append(
                Row(
                    name,
                    "client peak RSS MiB (VmHWM)",
                    rss,
                    ratios={
                        impl: _paired_ratio(samples, impl, lambda s: s["hwm_kib"])
                        for impl in ("ours", "v105")
                    },
                    target="seekapi < 64 MiB",
                    passed=None if rss["ours"] is None else rss["ours"] < 64,
                )
            )

    # 5. get_input
    def get_input(self, items: int) -> None:
        self.log(f"get_input of a {self.plan.input_mb} MB JSON document, HTTP and TLS ...")
        runner = self.runner
        configs = [
            (
                f"get_input {self.plan.input_mb} MB {'TLS' if s == 'https' else 'HTTP'}",
                {"scheme": s},
            )
            for s in ("http", "https")
        ]

        def spec_for(impl: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
            spec = {
                "workload": "get_input",
                "impl": impl,
                "base": self._base(config["scheme"]),
                "secret": SECRET,
                "items": items,
            }
            return spec, runner.env(impl, config["scheme"])

        results = self._repeat(configs, spec_for)
        self.samples["get_input"] = results
        for (name, config), samples in zip(configs, results.values(), strict=True):
            wall = {
                impl: _median([s["wall"] * 1e3 for s in samples.get(impl, []) if s])
                for impl in IMPLS
            }
            ratio = {
                impl: _paired_ratio(samples, impl, lambda s: s["wall"]) for impl in ("ours", "v105")
            }
            self.rows.append(
                Row(
                    name,
                    "ms (fetch + parse)",
                    wall,
                    ratios=ratio,
                    target="<= 1.1x raw",
                    passed=None if ratio["ours"] is None else ratio["ours"] <= 1.1,
                    fmt="{:.0f}",
                    note=self._server_note(samples),
                    profile={"workload": "get_input", "scheme": config["scheme"], "items": items},
                )
            )
            rss = {
                impl: _median([_mib(s.get("hwm_kib")) for s in samples.get(impl, []) if s])
                for impl in IMPLS
            }
            rss_ratio = {
                impl: _paired_ratio(samples, impl, lambda s: s["hwm_kib"])
                for impl in ("ours", "v105")
            }
            self.rows.append(
                Row(
                    name,
                    "client peak RSS MiB (VmHWM)",
                    rss,
                    ratios=rss_ratio,
                    target="<= 1.1x raw",
                    passed=None if rss_ratio["ours"] is None else rss_ratio["ours"] <= 1.1,
                    fmt="{:.0f}",
                )
            )

    # 6. local mode
    # 7. typed contracts
    def contracts(self) -> None:
        items = 10_000
        self.log(f"validating {items:,} items: seekapi vs jsonschema vs pydantic ...")
        samples = _contract_bench.measure(
            self.runner.src, self.plan.repeats, items, rounds=3 if self.plan.repeats < 5 else 7
        )
        self.samples["contract"] = samples
        ms = {impl: _median(values) for impl, values in samples.items()}
        what = "list of a 6-field dataclass (enum, datetime, constrained str)"
        faster = 1 / _contract_bench.paired(samples, "seekapi", "jsonschema")
        self.rows.append(
            Row(
                f"validate {items:,}-item {what}",
                "ms (raw: jsonschema Draft 2020-12 on the emitted schema)",
                {"ours": ms["seekapi"], "raw": ms["jsonschema"]},
                ratios={"ours": 1 / faster},
                target=">= 10x faster than jsonschema",
                passed=faster >= 10,
                note=f"seekapi converts to dataclass instances; jsonschema only checks"
                f" ({faster:.1f}x faster)",
            )
        )
        self.rows.append(
            Row(
                f"validate {items:,}-item list, vs pydantic",
                "ms (raw: pydantic v2 TypeAdapter, compiled)",
                {"ours": ms["seekapi"], "raw": ms["pydantic"]},
                ratios={"ours": _contract_bench.paired(samples, "seekapi", "pydantic")},
            )
        )

    def local(self) -> None:
        n = self.plan.local_calls
        self.log(f"{n} local-mode push_data calls vs plain file appends ...")
        runner = self.runner
        # Replacing a file by rename is cheap on a RAM file system, but on ext4 (with its
        # default auto_da_alloc) the rename starts write-back of the new file, ~0.7 ms on
        # this kind of machine, whoever renames. The target row uses the RAM file system
        # so that it measures the SDK rather than the disk; the disk row is shown too.
        roots: list[tuple[str, Path]] = []
        ram = _setup.tmpfs_dir()
        if ram is not None:
            roots.append(("RAM file system", ram))
        roots.append((f"{_setup.file_system(runner.scratch)} disk", runner.scratch))
        configs = [(f"local push_data x{n}, {label}", {"root": root}) for label, root in roots]
        folders: list[Path] = []

        def spec_for(impl: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
            folder = Path(tempfile.mkdtemp(prefix=f"seekapi-bench-{impl}-", dir=config["root"]))
            folders.append(folder)
            spec = {"workload": "local", "impl": impl, "n": n, "path": str(folder)}
            env = runner.env(impl, SEEKAPI_LOCAL_MODE="1", SEEKAPI_LOCAL_DIR=str(folder))
            return spec, env

        saved, runner.server = runner.server, None  # no backend involved
        try:
            results = self._repeat(configs, spec_for)
        finally:
            runner.server = saved
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
        self.samples["local"] = results
        for index, ((name, config), samples) in enumerate(
            zip(configs, results.values(), strict=True)
        ):
            per_call = {
                impl: _median([s["wall"] / s["n"] * 1e6 for s in samples.get(impl, []) if s])
                for impl in IMPLS
            }
            ratio = {
                impl: _paired_ratio(samples, impl, lambda s: s["wall"]) for impl in ("ours", "v105")
            }
            judged = index == 0
            self.rows.append(
                Row(
                    name,
                    "us/call (raw: open, append the line, close)",
                    per_call,
                    ratios=ratio,
                    target="<= 6x raw" if judged else "",
                    passed=(None if ratio["ours"] is None else ratio["ours"] <= 6)
                    if judged
                    else None,
                    fmt="{:.1f}",
                    profile={"workload": "local", "root": str(config["root"])},
                )
            )


def _mib(kib: int | None) -> float | None:
    return None if kib is None else kib / 1024


# -- output --------------------------------------------------------------------------


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def render(rows: Sequence[Row]) -> str:
    header = ["workload", "metric", "seekapi", "1.0.5", "raw", "ours/raw", "1.0.5/raw"]
    header += ["target", "result"]
    table = [header]
    for row in rows:
        verdict = "" if row.passed is None and not row.target else "PASS" if row.passed else "FAIL"
        if row.target and row.passed is None:
            verdict = "n/a"
        table.append(
            [
                row.workload,
                row.metric,
                _cell(row.values.get("ours"), row.fmt),
                _cell(row.values.get("v105"), row.fmt),
                _cell(row.values.get("raw"), row.fmt),
                _ratio(row.ratios.get("ours")),
                _ratio(row.ratios.get("v105")),
                row.target,
                verdict,
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}
    lines = []
    for n, line in enumerate(table):
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"- {row.workload}: {row.note}" for row in rows if row.note]
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            memory = handle.readline().split()[1]
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(int(memory) / 1024 / 1024, 1) if memory else None,
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "seekapi_source": _source_state(),
    }


def _source_state() -> str:
    """The commit measured, and whether ``src/`` differs from it (best effort)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head}{' with uncommitted changes in src/' if dirty else ''}"


# -- profiling of failed rows ---------------------------------------------------------


def profile_failures(bench: Bench, upload: Path, log: Callable[[str], None]) -> None:
    """Re-run seekapi's side of each failed row under cProfile and print where time goes."""
    runner = bench.runner
    for row in bench.rows:
        if row.passed is not False:
            continue
        if row.workload == "import seekapi" or row.workload.startswith("cold start"):
            cold = row.workload.startswith("cold start")
            code = COLD_CODE if cold else "import seekapi"
            scheme = "https" if cold else "http"
            ours = _import_times(runner, "ours", scheme, code)
            other = _import_times(
                runner, "v105" if cold else "raw", scheme, code if cold else "import json, logging"
            )
            only = sorted(((t, m) for m, t in ours.items() if m not in other), reverse=True)
            log(
                f"\n== profile: {row.workload} ({row.metric}) -- -X importtime, median of"
                f" {IMPORT_PROFILE_RUNS} runs: modules seekapi loads that"
                f" {'1.0.5' if cold else 'json+logging'} does not,"
                f" {sum(t for t, _ in only) / 1e3:.1f} ms of own time in all"
            )
            for self_us, name in only[:25]:
                log(f"  {self_us:>8.0f} us  {name}")
            if cold:
                _log_profile(runner, code, "ours", log, calls=1)
            continue
        if not row.profile:
            continue
        for impl in ("ours", "raw"):
            _profile_row(bench, row, impl, upload, log)


def _profile_row(
    bench: Bench, row: Row, impl: str, upload: Path, log: Callable[[str], None]
) -> None:
    """Run one row's worker for ``impl`` under cProfile and print its top functions."""
    runner = bench.runner
    config = row.profile or {}
    out = runner.scratch / "profile.out"
    scheme = config.get("scheme", "http")
    spec: dict[str, Any] = {
        "workload": config["workload"],
        "impl": impl,
        "secret": SECRET,
        "profile": str(out),
    }
    extra: dict[str, str] = {}
    folder: Path | None = None
    if config["workload"] == "calls":
        spec.update(n=bench.plan.calls, warmup=bench.plan.warmup, op=config["op"])
    elif config["workload"] == "push_file":
        spec["path"] = str(upload)
        spec["small_path"] = str(_setup.small_file())
    elif config["workload"] == "get_input":
        spec["items"] = config["items"]
    elif config["workload"] == "local":
        folder = Path(tempfile.mkdtemp(prefix="seekapi-bench-", dir=config["root"]))
        spec.update(n=bench.plan.local_calls, path=str(folder))
        extra = {"SEEKAPI_LOCAL_MODE": "1", "SEEKAPI_LOCAL_DIR": str(folder)}
    if runner.server is not None:
        spec["base"] = runner.server.base(scheme)
    try:
        result = runner.worker(spec, runner.env(impl, scheme, **extra))
    except WorkerFailed as exc:
        log(f"  profile of {row.workload} failed: {exc}")
        return
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    calls = int(result.get("n", 1))
    log(
        f"\n== profile: {row.workload} ({row.metric}), {LABELS[impl]}, {calls} call(s),"
        f" {result['wall'] / calls * 1e6:.1f} us/call under the profiler;"
        " top functions by own time"
    )
    _print_stats(out, calls, log)


IMPORT_PROFILE_RUNS = 5


def _import_times(runner: Runner, impl: str, scheme: str, code: str) -> dict[str, float]:
    """Median own import time (us) of each module ``code`` loads, from ``-X importtime``."""
    times: dict[str, list[float]] = {}
    env = runner.env(impl, scheme, PYTHONPROFILEIMPORTTIME="1")
    for _ in range(IMPORT_PROFILE_RUNS):
        done = subprocess.run(
            [runner.python, "-c", code],
            env=env,
            cwd=runner.scratch,
            capture_output=True,
            text=True,
            check=False,
        )
        for line in done.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[0].startswith("import time:"):
                try:
                    own = float(parts[0].split(":")[1])
                except ValueError:
                    continue
                times.setdefault(parts[2].strip(), []).append(own)
    return {name: statistics.median(values) for name, values in times.items()}


def _log_profile(
    runner: Runner, code: str, impl: str, log: Callable[[str], None], calls: int
) -> None:
    out = runner.scratch / "profile-process.out"
    script = runner.scratch / "profiled.py"
    script.write_text(code)
    runner.timed_process(["-m", "cProfile", "-o", str(out), str(script)], runner.env(impl, "https"))
    log(f"  cProfile of the whole process ({LABELS[impl]}):")
    _print_stats(out, calls, log)


def _print_stats(path: Path, calls: int, log: Callable[[str], None], top: int = 20) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    table = stats.stats  # type: ignore[attr-defined]
    ranked = sorted(table.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    log(f"  {'own us/call':>11} {'cum us/call':>11} {'ncalls':>8}  function")
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in ranked:
        where = f"{Path(file).name}:{line}({func})" if line else func
        log(f"  {tottime / calls * 1e6:>11.1f} {cumtime / calls * 1e6:>11.1f} {ncalls:>8}  {where}")


# -- main ----------------------------------------------------------------------------


_IGNORED_IN_COPY = shutil.ignore_patterns("__pycache__", "*.pyc")


@contextmanager
def _scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="seekapi-bench-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller inputs")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON here")
    parser.add_argument(
        "--profile", action="store_true", help="profile seekapi on each failed row and print it"
    )
    parser.add_argument(
        "--only",
        metavar="LIST",
        help="run only these workloads (comma-separated): " + ", ".join(WORKLOADS),
    )
    args = parser.parse_args(argv)
    only = None if args.only is None else set(args.only.split(","))
    if only is not None and not only <= set(WORKLOADS):
        parser.error(f"--only takes some of: {', '.join(WORKLOADS)}")
    plan = Plan.quick() if args.quick else Plan.full()
    started = time.perf_counter()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    old = _setup.old_sdk(log)
    tls = _setup.tls_material()
    upload = _setup.upload_file(plan.upload_mib)
    document, items = _setup.input_document(plan.input_mb)
    info = machine()
    log(f"machine: {info['cpu']}, {info['cpus']} CPUs, Python {info['python']}")
    log(f"seekapi source: {info['seekapi_source']}")
    load = info["load_average"]
    if load and info["cpus"] and load[0] > 0.5 * info["cpus"]:
        log(f"warning: load average {load[0]:.1f} on {info['cpus']} CPUs: figures will be noisy")
    with _scratch() as scratch:
        # The package is measured as it was when the run started, even if src/ changes.
        source = scratch / "src"
        shutil.copytree(SRC / "seekapi", source / "seekapi", ignore=_IGNORED_IN_COPY)
        runner = Runner(python=old.python, bundle=tls.bundle, scratch=scratch, src=source)
        server = Server(old.python, document, tls)
        runner.server = server
        bench = Bench(plan, runner, log)
        try:
            _check_implementations(runner, log)
            steps: dict[str, Callable[[], None]] = {
                "import": bench.imports,
                "cold": bench.cold_start,
                "calls": bench.calls,
                "push_file": lambda: bench.push_file(upload, _setup.small_file()),
                "get_input": lambda: bench.get_input(items),
                "local": bench.local,
                "contract": bench.contracts,
                "map": bench.map_items,
            }
            for name, step in steps.items():
                if only is None or name in only:
                    step()
            elapsed = time.perf_counter() - started
            print()
            print(render(bench.rows))
            failed = [row for row in bench.rows if row.passed is False]
            unmeasured = [row for row in bench.rows if row.target and row.passed is None]
            print(
                f"\n{'quick' if args.quick else 'full'} run, {plan.repeats} repeats,"
                f" {elapsed:.0f} s; {len(failed)} target(s) missed"
                + (f", {len(unmeasured)} not measured" if unmeasured else "")
            )
            if bench.broken:
                print("broken measurements: " + ", ".join(sorted(bench.broken)))
            if args.profile and failed:
                profile_failures(bench, upload, log)
        finally:
            server.close()
    if args.json:
        payload = {
            "machine": info,
            "load_average_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "plan": asdict(plan),
            "ca_bundle": {"system": tls.system_bundle, "with_test_ca": tls.bundle},
            "elapsed_s": elapsed,
            "rows": [asdict(row) for row in bench.rows],
            "samples": bench.samples,
            "broken": bench.broken,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


def _check_implementations(runner: Runner, log: Callable[[str], None]) -> None:
    """Make sure each worker imports the seekapi it should."""
    code = "import seekapi; print(seekapi.__file__)"
    for impl, expect in (("ours", str(runner.src)), ("v105", "site-packages")):
        try:
            _, out = runner.timed_process(["-c", code], runner.env(impl))
        except WorkerFailed as exc:
            log(f"!! {LABELS[impl]} cannot be imported; its figures will be missing: {exc}")
            continue
        where = out.strip()
        if expect not in where:
            raise SystemExit(f"{impl}: imported seekapi from {where}, expected {expect}")
        log(f"{LABELS[impl]}: {where}")


if __name__ == "__main__":
    sys.exit(main())
