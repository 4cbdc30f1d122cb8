"""The pytest plugin, as a worker project's test suite uses it (run with pytester)."""

from __future__ import annotations

import hashlib
import os
import textwrap
from pathlib import Path

import pytest

import seekapi
from seekapi.testing import LambdaContextFactory, LocalMode

pytest_plugins = ["pytester"]

# Plugins the inner runs do not need; hypothesis's would re-import its internals each run.
ISOLATED = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

# A worker, named so that it cannot clash with a module another test imported.
WORKER = textwrap.dedent(
    """
    import seekapi

    def shout(data):
        job = seekapi.current_job()
        for word in data["words"]:
            job.charge(f"{job.job_uuid}:{word}")
            if job.limit_reached:
                job.stop({"words": [], "stopped_at": word})
        return {"words": [w.upper() for w in data["words"]]}

    def handler(event, context):
        return seekapi.run(event, context, shout)
    """
)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A worker project: its module and nothing else yet."""
    pytester.makepyfile(plugin_demo_worker=WORKER)
    pytester.syspathinsert()
    return pytester


def test_a_worker_test_with_the_emulator_and_a_lambda_context_passes(
    project: pytest.Pytester,
) -> None:
    """A test using seekapi_emulator and lambda_context runs the handler against the emulator."""
    project.makepyfile(
        test_worker="""
        import os
        from plugin_demo_worker import handler

        def test_shouts(seekapi_emulator, lambda_context):
            assert os.environ["WORKER_API_BASE_URL"] == seekapi_emulator.url
            assert "SEEKAPI_LOCAL_MODE" not in os.environ
            job = seekapi_emulator.create_job({"words": ["a", "b"]})
            ctx = lambda_context(timeout_s=5, aws_request_id="req-1")
            assert 0 < ctx.get_remaining_time_in_millis() <= 5000
            assert handler(job.event, ctx) == {"ok": True, "request_id": "req-1"}
            assert job.result == {"words": ["A", "B"]}
            assert job.metered_event_count == 2
            assert (job.directory / "response_json.json").exists()
            assert str(job.directory).startswith(str(seekapi_emulator.directory))

        def test_stops_at_the_limit(seekapi_emulator, lambda_context):
            job = seekapi_emulator.create_job({"words": ["a", "b", "c"]}, charge_limit=2)
            outcome = handler(job.event, lambda_context())
            assert outcome["stopped"] == "limit_reached"
            assert job.result == {"words": [], "stopped_at": "b"}

        def test_survives_a_503(seekapi_emulator, lambda_context):
            job = seekapi_emulator.create_job({"words": ["a"]})
            seekapi_emulator.fail_next(1, 503, path=f"/v1/internal/jobs/{job.job_uuid}/charge")
            assert handler(job.event, lambda_context())["ok"] is True
            assert job.metered_event_count == 1
        """
    )
    result = project.runpytest(*ISOLATED)
    result.assert_outcomes(passed=3)


def test_a_wrong_expectation_in_a_worker_test_fails(project: pytest.Pytester) -> None:
    """The fixtures do not hide a failing assertion: the worker test fails and says why."""
    project.makepyfile(
        test_worker="""
        from plugin_demo_worker import handler

        def test_expects_lowercase(seekapi_emulator, lambda_context):
            job = seekapi_emulator.create_job({"words": ["a"]})
            handler(job.event, lambda_context())
            assert job.result == {"words": ["a"]}
        """
    )
    result = project.runpytest(*ISOLATED)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*'A'*"])


def test_the_environment_and_the_emulator_last_only_for_the_test(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the test the variables are as before, and the emulator no longer answers."""
    monkeypatch.setenv("SEEKAPI_LOCAL_MODE", "1")
    project.makepyfile(
        test_worker="""
        import os, socket
        import pytest

        seen = {}

        def test_one(seekapi_emulator):
            seen["address"] = seekapi_emulator.address
            assert "SEEKAPI_LOCAL_MODE" not in os.environ

        def test_two():
            assert os.environ["SEEKAPI_LOCAL_MODE"] == "1"
            assert "WORKER_API_BASE_URL" not in os.environ
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(seen["address"], timeout=5)
        """
    )
    result = project.runpytest(*ISOLATED)
    result.assert_outcomes(passed=2)
    assert "WORKER_API_BASE_URL" not in os.environ


def test_a_configured_proxy_is_bypassed_for_the_emulator(project: pytest.Pytester) -> None:
    """With HTTP_PROXY pointing nowhere, the worker still reaches the emulator directly."""
    project.makepyfile(
        test_worker="""
        import os
        import pytest
        from plugin_demo_worker import handler

        @pytest.fixture
        def dead_proxy(monkeypatch):
            monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
            monkeypatch.setenv("NO_PROXY", "example.com")

        def test_direct(dead_proxy, seekapi_emulator, lambda_context):
            assert os.environ["NO_PROXY"] == "example.com,127.0.0.1"
            job = seekapi_emulator.create_job({"words": ["x"]})
            assert handler(job.event, lambda_context())["ok"] is True
        """
    )
    result = project.runpytest(*ISOLATED)
    result.assert_outcomes(passed=1)


def test_seekapi_local_runs_the_worker_in_local_mode(project: pytest.Pytester) -> None:
    """seekapi_local sets local mode up in tmp_path; fixtures and the job's files are at hand."""
    project.makepyfile(
        test_worker="""
        import os
        from plugin_demo_worker import handler

        def test_local(seekapi_local, lambda_context, tmp_path):
            assert os.environ["SEEKAPI_LOCAL_MODE"] == "1"
            assert os.environ["SEEKAPI_LOCAL_DIR"] == os.fspath(seekapi_local)
            assert os.fspath(seekapi_local).startswith(str(tmp_path))
            assert "WORKER_API_BASE_URL" not in os.environ
            seekapi_local.set_fixtures({"charge_limit": 1})
            job = seekapi_local.create_job({"words": ["a", "b"]}, job_uuid="local-1")
            outcome = handler(job.event, lambda_context())
            assert outcome["stopped"] == "limit_reached"
            assert job.directory == seekapi_local.directory / "local-1"
            assert job.result == {"words": [], "stopped_at": "a"}
            assert job.charges == [{"idempotency_key": "local-1:a", "count": 1}]
            assert (job.metered_event_count, job.limit_reached) == (1, True)
        """
    )
    result = project.runpytest(*ISOLATED)
    result.assert_outcomes(passed=1)


def test_the_fixtures_are_listed_with_their_documentation(project: pytest.Pytester) -> None:
    """pytest --fixtures shows the three fixtures as coming from seekapi's plugin."""
    result = project.runpytest("--fixtures", *ISOLATED)
    result.stdout.fnmatch_lines(
        [
            "*fixtures defined from seekapi.pytest_plugin*",
            "seekapi_local -- *",
            "*Local mode*",
        ]
    )
    for name in ("seekapi_emulator", "lambda_context"):
        result.stdout.fnmatch_lines([f"{name} -- *"])


def test_lambda_context_passes_every_keyword_to_the_fake_context(
    lambda_context: LambdaContextFactory,
) -> None:
    """The factory takes FakeLambdaContext's keywords; the memory size comes out as text."""
    ctx = lambda_context(
        5,
        aws_request_id="req-7",
        function_name="resize",
        memory_limit_in_mb=1024,
        tenant_id="tenant-1",
        client_context={"custom": {"k": "v"}},
        identity={"cognitoIdentityId": "id-1"},
        clock=lambda: 0.0,
    )
    assert (ctx.aws_request_id, ctx.function_name, ctx.memory_limit_in_mb) == (
        "req-7",
        "resize",
        "1024",
    )
    assert ctx.tenant_id == "tenant-1"
    assert ctx.client_context is not None
    assert ctx.client_context.custom == {"k": "v"}
    assert ctx.identity.cognito_identity_id == "id-1"
    assert ctx.get_remaining_time_in_millis() == 5000


# -- LocalMode, the class behind seekapi_local, without pytest's help ------------------------


def test_local_mode_reads_back_what_a_job_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LocalJob shows the result, pushes, files and ledger that local mode wrote for the job."""
    local = LocalMode(tmp_path / "out")
    for name, value in local.env.items():
        monkeypatch.setenv(name, value)
    job = local.create_job({"n": 1}, job_uuid="../odd id")
    assert job.directory == local.directory / ".._odd_id"
    assert (job.result, job.pushes, job.files, job.charges) == (None, [], [], [])
    assert seekapi.get_input(job.event) == {"n": 1}
    ctx = seekapi.create_context(job.event)
    seekapi.push_data(ctx, {"step": 1})
    seekapi.push_data(ctx, {"step": 2}, type="json")
    source = tmp_path / "r.txt"
    source.write_text("report", "utf-8")
    seekapi.push_file(ctx, "r.txt", str(source))
    seekapi.charge(ctx, "k1", 2, justification={"why": "x"})
    seekapi.charge(ctx, "k1", 2)
    seekapi.charge(ctx, "k2")
    assert job.result == {"step": 2}
    assert [p["data"] for p in job.pushes] == [{"step": 1}, {"step": 2}]
    (received,) = job.files
    assert (received.name, received.content_type, received.size) == ("r.txt", "text/plain", 6)
    assert received.sha256 == hashlib.sha256(b"report").hexdigest()
    assert Path(received.path) == job.directory / "files" / "r.txt"
    assert job.charges == [
        {"idempotency_key": "k1", "count": 2, "justification": {"why": "x"}},
        {"idempotency_key": "k2", "count": 1},
    ]
    assert (job.metered_event_count, job.limit_reached) == (3, False)
    assert local.job("../odd id").result == {"step": 2}


def test_local_job_counts_the_ledger_as_local_mode_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key on two lines counts once and a damaged line not at all, as charge() counts them."""
    local = LocalMode(tmp_path / "out")
    for name, value in local.env.items():
        monkeypatch.setenv(name, value)
    local.set_fixtures({"charge_limit": 100})
    job = local.create_job(job_uuid="job-1")
    job.directory.mkdir()
    (job.directory / "charges.jsonl").write_text(
        '{"idempotency_key": "a", "count": 2, "justification": null}\n'
        "{damaged\n"
        '{"idempotency_key": "a", "count": 2, "justification": null}\n'
        '{"idempotency_key": "b", "count": 1, "justification": {"n": 1}}\n',
        "utf-8",
    )
    assert job.charges == [
        {"idempotency_key": "a", "count": 2},
        {"idempotency_key": "b", "count": 1, "justification": {"n": 1}},
    ]
    assert job.metered_event_count == 3
    ctx = seekapi.create_context(job.event)
    assert seekapi.charge(ctx, "b")["metered_event_count"] == job.metered_event_count


def test_fixtures_rewritten_between_charges_are_seen_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A limit rewritten by set_fixtures (same byte size) is what the next charge answers from."""
    local = LocalMode(tmp_path / "out")
    for name, value in local.env.items():
        monkeypatch.setenv(name, value)
    ctx = seekapi.create_context(local.create_job().event)
    local.set_fixtures({"charge_limit": 2})
    seekapi.charge(ctx, "a")
    assert seekapi.charge(ctx, "b")["limit_reached"] is True
    local.set_fixtures({"charge_limit": 5})
    assert seekapi.charge(ctx, "b") == {
        "ok": True,
        "metered_event_count": 2,
        "limit_reached": False,
    }
    assert local.fixtures == {"charge_limit": 5}
    assert os.fspath(local) == str(local.directory)
