"""``seekapi package``, end to end: ``python -m seekapi package`` in subprocesses, real zips.

Tests whose names hold ``needs_index`` install a requirement with pip from the package
index (examples/packaged needs simplejson's wheels); they share one pip cache per test
run, and the zips for each architecture are built once per module. The others run
offline: their workers have no requirement for pip to install, and some prove it by
pointing pip at an index that does not exist.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import shlex
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import seekapi
from seekapi.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "packaged"
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
LAMBDA_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
ELF_MACHINE = {"x86_64": 62, "arm64": 183}
WHEEL_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
NATIVE_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower()
)
PYTHON = RUNNING if RUNNING in LAMBDA_PYTHONS else "3.12"
"""The Lambda Python the example is built for: this one, so that its zip can be run here."""

HANDLER = textwrap.dedent(
    """
    import seekapi

    def handler(event, context):
        return seekapi.run(event, context, lambda data: {"echo": data})
    """
)
OFFLINE = {
    # If pip ran at all, it would fail: nothing can be found at this index.
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
    "PIP_EXTRA_INDEX_URL": "",
    "PIP_FIND_LINKS": "",
    "PIP_NO_INDEX": "1",
}


@pytest.fixture(scope="session")
def pip_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment for ``seekapi package``: one pip cache per test run, and a known
    TMPDIR, so that the build's temporary folders are known to be under it."""
    root = tmp_path_factory.mktemp("pip")
    scratch = root / "scratch"
    scratch.mkdir()
    return {**os.environ, "PIP_CACHE_DIR": str(root / "cache"), "TMPDIR": str(scratch)}


def package(
    *args: str, cwd: Path, env: dict[str, str], extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m seekapi package ARGS`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "seekapi", "package", *args],
        cwd=cwd,
        env={**env, **(extra or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one JSON object a ``--json`` run wrote."""
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout + proc.stderr
    value: dict[str, Any] = json.loads(lines[0])
    return value


def make_worker(folder: Path, files: dict[str, str | bytes] | None = None) -> Path:
    """A worker folder with ``handler.py`` (unless ``files`` replaces it) and ``files``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in {"handler.py": HANDLER, **(files or {})}.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return folder


JUNK: dict[str, str | bytes] = {
    "tests/test_handler.py": "assert True\n",
    "tests/data.json": "{}\n",
    "test_handler.py": "assert True\n",
    "handler_test.py": "assert True\n",
    "conftest.py": "",
    "lib/conftest.py": "",
    "lib/tests/test_lib.py": "",
    "__pycache__/handler.cpython-311.pyc": b"\x00pyc",
    "lib/__pycache__/util.cpython-311.pyc": b"\x00pyc",
    "lib/stale.pyc": b"\x00pyc",
    ".pytest_cache/README.md": "cache\n",
    ".mypy_cache/3.11/x.json": "{}\n",
    ".ruff_cache/CACHEDIR.TAG": "tag\n",
    ".git/config": "[core]\n",
    ".venv/pyvenv.cfg": "home = /usr/bin\n",
    ".venv/lib/python3.11/site-packages/x.py": "",
    "env2/pyvenv.cfg": "home = /usr/bin\n",
    "env2/bin/python": "",
    ".seekapi-local/local-1/response_json.json": "{}\n",
    ".tox/py311/log.txt": "",
}
"""Files a worker folder may hold that never belong in its zip."""

KEPT: dict[str, str | bytes] = {
    "lib/__init__.py": "",
    "lib/util.py": "X = 1\n",
    "data/config.json": "{}\n",
}
"""Files of the worker's own, kept (test-like names only where pytest would look)."""


class Build(NamedTuple):
    """A zip of examples/packaged (with junk added) and what the command said."""

    zip: Path
    out: dict[str, Any]
    worker: Path
    scratch: Path


def build_example(root: Path, arch: str, env: dict[str, str], *, name: str = "worker.zip") -> Build:
    worker = root / "packaged"
    if not worker.exists():
        shutil.copytree(EXAMPLE, worker, ignore=shutil.ignore_patterns("__pycache__"))
        make_worker(worker, {**JUNK, **KEPT, "handler.py": (EXAMPLE / "handler.py").read_text()})
    target = root / "dist" / name
    proc = package(
        str(worker), "-o", str(target), "--python", PYTHON, "--arch", arch, "--json",
        cwd=root, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return Build(target, report(proc), worker, Path(env["TMPDIR"]))


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, pip_env: dict[str, str]) -> dict[str, Build]:
    """examples/packaged built for both architectures, once for the module."""
    root = tmp_path_factory.mktemp("example")
    return {arch: build_example(root, arch, pip_env, name=f"{arch}.zip") for arch in ELF_MACHINE}


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


# -- the example, with its compiled requirement ---------------------------------------------


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_needs_index_wheels_and_extensions_are_for_lambdas_platform(
    builds: dict[str, Build], arch: str
) -> None:
    """Each WHEEL says manylinux for the arch and this CPython; each .so is an ELF for it."""
    build = builds[arch]
    files = members(build.zip)
    wheels = {name: data.decode() for name, data in files.items() if name.endswith("/WHEEL")}
    assert [name.split("-")[0] for name in wheels] == ["simplejson"]
    for text in wheels.values():
        tags = [
            line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")
        ]
        assert tags
        for tag in tags:
            interpreter, abi, plat = tag.split("-")
            assert (interpreter, abi) == (f"cp{PYTHON.replace('.', '')}",) * 2
            assert plat.startswith("manylinux")
            assert plat.endswith(WHEEL_MACHINE[arch])
    shared = [name for name in files if name.endswith(".so")]
    assert shared == [name for name in shared if name.startswith("simplejson/_speedups.")]
    assert len(shared) == 1
    for name in shared:
        data = files[name]
        assert data[:4] == b"\x7fELF"
        assert data[5] == 1  # little-endian, as both of Lambda's architectures are
        assert int.from_bytes(data[18:20], "little") == ELF_MACHINE[arch]
    assert build.out["arch"] == arch
    assert build.out["python"] == PYTHON
    assert build.out["requirements"][0]["name"] == "simplejson"


def test_needs_index_the_zip_holds_the_worker_seekapi_and_its_requirement_only(
    builds: dict[str, Build],
) -> None:
    """No test, cache, venv, VCS or local-mode file, no bin/, no direct_url.json."""
    names = set(members(builds["x86_64"].zip))
    top = {name.split("/")[0] for name in names}
    assert top == {
        "README.md",
        "handler.py",
        "input.json",
        "requirements.txt",
        "lib",
        "data",
        "seekapi",
        f"seekapi-{seekapi.__version__}.dist-info",
        "simplejson",
        "simplejson-" + builds["x86_64"].out["requirements"][0]["version"] + ".dist-info",
    }
    worker_names = {name for name in names if name.split("/")[0] in ("lib", "data")}
    assert worker_names == set(KEPT)
    for name in names:
        parts = name.split("/")
        assert not {"__pycache__", "tests", "bin", ".git", ".venv"} & set(parts), name
        assert not name.endswith((".pyc", "direct_url.json", "conftest.py")), name
        if parts[0] not in ("seekapi", "simplejson"):  # libraries keep their own module names
            assert not parts[-1].startswith("test_"), name
    record = next(name for name in names if name.endswith(".dist-info/RECORD"))
    rows = members(builds["x86_64"].zip)[record].decode().splitlines()
    listed = {row.split(",")[0] for row in rows}
    assert listed <= names  # RECORD names only what the zip holds
    assert "simplejson/_speedups.cpython-" in "".join(listed)


def test_needs_index_nothing_in_the_zip_holds_a_path_of_the_build_machine(
    builds: dict[str, Build],
) -> None:
    """Neither the worker's folder nor the temporary folder pip installed into appears."""
    for build in builds.values():
        paths = {str(build.worker), str(build.scratch)}
        needles = {os.fsencode(path) for path in paths | {os.path.realpath(p) for p in paths}}
        for name, data in members(build.zip).items():
            for needle in needles:
                assert needle not in data, (name, needle)
        assert build.out["warnings"] == []


def test_needs_index_the_same_inputs_give_the_same_bytes(
    builds: dict[str, Build], pip_env: dict[str, str]
) -> None:
    """A second build, after the worker's files were touched, is byte for byte the first."""
    first = builds["x86_64"]
    for path in first.worker.rglob("*"):
        os.utime(path, (1_600_000_000, 1_600_000_000))
    again = build_example(first.worker.parent, "x86_64", pip_env, name="again.zip")
    assert again.zip.read_bytes() == first.zip.read_bytes()


@pytest.mark.skipif(
    NATIVE_ARCH is None or sys.platform != "linux", reason="runs Linux x86_64 or arm64 code"
)
def test_needs_index_the_unpacked_zip_runs_the_job_with_nothing_else(
    builds: dict[str, Build], tmp_path: Path
) -> None:
    """Unpacked, and alone on sys.path (-I -S: no site-packages, no PYTHONPATH), the zip
    imports its own seekapi and simplejson's compiled module, and runs a job end to end
    against the emulator of its bundled seekapi."""
    assert NATIVE_ARCH is not None
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(builds[NATIVE_ARCH].zip) as archive:
        archive.extractall(unpacked)
    script = textwrap.dedent(
        f"""
        import json, os, sys
        sys.path.insert(0, {str(unpacked)!r})
        import handler, seekapi, simplejson._speedups
        from seekapi.testing import Backend, FakeLambdaContext
        with Backend() as backend:
            os.environ.update(backend.env)
            sample = json.load(open({str(unpacked / "input.json")!r}))
            job = backend.create_job(sample)
            returned = handler.handler(job.event, FakeLambdaContext(timeout_s=20))
            files = [(f.name, open(f.path).read()) for f in job.files]
        modules = list(sys.modules.values())
        print(json.dumps({{
            "returned": returned, "result": job.result, "files": files,
            "seekapi": seekapi.__file__, "speedups": simplejson._speedups.__file__,
            "paths": sorted({{getattr(m, "__file__", "") or "" for m in modules}}),
        }}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["returned"]["ok"] is True
    assert out["result"] == {"order": "1042", "lines": 3, "total": "28.72"}
    assert out["files"][0][0] == "invoice.json"
    assert '"total": 28.72' in out["files"][0][1]
    assert out["seekapi"] == str(unpacked / "seekapi" / "__init__.py")
    assert out["speedups"].startswith(str(unpacked / "simplejson" / "_speedups."))
    # Nothing came from this checkout or a site-packages folder.
    assert not [path for path in out["paths"] if str(REPO) in path or "site-packages" in path]


def test_needs_index_the_examples_tests_pass_against_the_unpacked_zip(
    builds: dict[str, Build], tmp_path: Path
) -> None:
    """examples/packaged/test_packaged.py, beside the zip's files, passes with them first
    on sys.path: the handler, seekapi and simplejson it tests are the zip's."""
    if NATIVE_ARCH is None or sys.platform != "linux":
        pytest.skip("runs Linux x86_64 or arm64 code")
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(builds[NATIVE_ARCH].zip) as archive:
        archive.extractall(unpacked)
    shutil.copy(EXAMPLE / "test_packaged.py", unpacked)
    script = (
        f"import sys; sys.path.insert(0, {str(unpacked)!r}); import pytest\n"
        "code = pytest.main(['-q', '-p', 'no:cacheprovider', 'test_packaged.py'])\n"
        "import seekapi, simplejson; print(seekapi.__file__); print(simplejson.__file__)\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
    assert f"{unpacked}/seekapi/__init__.py" in proc.stdout
    assert f"{unpacked}/simplejson/__init__.py" in proc.stdout


def test_needs_index_a_requirement_without_a_manylinux_wheel_is_named(
    tmp_path: Path, pip_env: dict[str, str]
) -> None:
    """A release with no Linux wheel (PyYAML 5.3.1: an sdist and Windows wheels) fails
    the build with one message naming it, the Python and the architecture."""
    worker = make_worker(tmp_path / "w", {"requirements.txt": "PyYAML==5.3.1\n"})
    proc = package(
        str(worker), "-o", "w.zip", "--python", "3.12", "--arch", "arm64", cwd=tmp_path, env=pip_env
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    message = proc.stderr.splitlines()[-1]
    assert message.startswith("seekapi package: error: no wheel of PyYAML==5.3.1 for Lambda's")
    assert "CPython 3.12 on arm64" in message
    assert not (tmp_path / "w.zip").exists()


# -- workers without requirements: offline --------------------------------------------------


def test_a_seekapi_line_is_met_by_the_bundled_copy_without_pip(tmp_path: Path) -> None:
    """``seekapi>=2`` needs no index: the bundled seekapi is the installed one, file for file."""
    lines = (
        "# the SDK\nSeekAPI >= 2.0\n"
        "seekapi[x] >= 2, < 3 ; python_version >= '3.10'  # a comment\n"
        "SEEKAPI \\\n  ~= 2.0\n"
    )
    worker = make_worker(tmp_path / "w", {"requirements.txt": lines})
    proc = package(
        str(worker), "-o", "w.zip", "--json", cwd=tmp_path, env={**os.environ, **OFFLINE}
    )
    assert proc.returncode == 0, proc.stderr
    out = report(proc)
    assert out["seekapi"]["meets"] == [
        "SeekAPI >= 2.0",
        "seekapi[x] >= 2, < 3 ; python_version >= '3.10'",
        "SEEKAPI   ~= 2.0",
    ]
    assert out["requirements"] == []
    files = members(tmp_path / "w.zip")
    installed = Path(seekapi.__file__).parent
    bundled = {name: data for name, data in files.items() if name.startswith("seekapi/")}
    assert bundled
    for name, data in bundled.items():
        assert (installed.parent / name).read_bytes() == data
    expected = {
        p.relative_to(installed.parent).as_posix()
        for p in installed.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert set(bundled) == expected
    metadata = files[f"seekapi-{seekapi.__version__}.dist-info/METADATA"].decode()
    assert f"Version: {seekapi.__version__}\n" in metadata


def test_a_seekapi_line_the_bundled_copy_does_not_meet_is_an_error(tmp_path: Path) -> None:
    """``seekapi==1.0.5`` cannot be met by the bundled version: the build says so."""
    worker = make_worker(tmp_path / "w", {"requirements.txt": "seekapi==1.0.5\n"})
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 1
    assert "'seekapi==1.0.5'" in proc.stderr
    assert f"bundles is {seekapi.__version__}" in proc.stderr
    assert not (tmp_path / "w.zip").exists()


def make_wheel(folder: Path, name: str = "tinylib", version: str = "1.0") -> Path:
    """A pure-Python wheel of one module, ``name/__init__.py``, for pip to install offline."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 1\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{file},,\n" for file in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for file, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(file, text)
    return path


def test_requirements_in_r_files_count_and_relative_paths_are_the_files_own(
    tmp_path: Path,
) -> None:
    """requirements.txt made of a -r line installs what the included file names, and a
    relative path in it is relative to that file, not to the working directory."""
    worker = make_worker(
        tmp_path / "w",
        {
            "requirements.txt": "-r reqs/base.txt\n",
            "reqs/base.txt": "-r more.txt\n",
            "reqs/more.txt": "../wheels/tinylib-1.0-py3-none-any.whl\n",
        },
    )
    make_wheel(worker / "wheels")
    (tmp_path / "elsewhere").mkdir()
    proc = package(
        str(worker), "-o", "w.zip", "--json", cwd=tmp_path / "elsewhere",
        env={**os.environ, **OFFLINE},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert report(proc)["requirements"] == [{"name": "tinylib", "version": "1.0"}]
    assert "tinylib/__init__.py" in members(tmp_path / "elsewhere" / "w.zip")

    # ./ at the top, from requirements.txt itself.
    (worker / "requirements.txt").write_text("./wheels/tinylib-1.0-py3-none-any.whl\n")
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 0, proc.stderr
    assert "requirements: tinylib 1.0" in proc.stdout


def test_the_seekapi_rule_applies_to_a_seekapi_line_in_an_r_file(tmp_path: Path) -> None:
    """A seekapi line in an included file is met by the bundled copy (pip never runs),
    and one it excludes is an error naming that file."""
    worker = make_worker(
        tmp_path / "w", {"requirements.txt": "-r base.txt\n", "base.txt": "seekapi>=2.0\n"}
    )
    proc = package(
        str(worker), "-o", "w.zip", "--json", cwd=tmp_path, env={**os.environ, **OFFLINE}
    )
    assert proc.returncode == 0, proc.stderr
    assert report(proc)["seekapi"]["meets"] == ["seekapi>=2.0"]
    (worker / "base.txt").write_text("seekapi==1.0.5\n")
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 1, proc.stderr
    assert "base.txt asks for 'seekapi==1.0.5'" in proc.stderr


def test_a_missing_r_file_and_an_editable_requirement_are_errors(tmp_path: Path) -> None:
    """Neither is a silent 'requirements: none': the build stops with a sentence."""
    worker = make_worker(tmp_path / "w", {"requirements.txt": "-r base.txt\n"})
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 1, proc.stdout
    assert f"cannot read {worker / 'base.txt'} (named by -r in " in proc.stderr
    assert "Traceback" not in proc.stderr

    (worker / "requirements.txt").write_text("-e .\n")
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 1, proc.stdout
    assert "an editable requirement, which cannot be built for Lambda" in proc.stderr
    assert "give the path without -e" in proc.stderr
    assert not (tmp_path / "w.zip").exists()


def test_the_worker_folder_is_packed_without_tests_caches_or_environments(tmp_path: Path) -> None:
    """Exactly the worker's own files and seekapi; the zip itself, written inside, is not packed."""
    worker = make_worker(tmp_path / "w", {**JUNK, **KEPT})
    (worker / "old.zip").write_bytes(b"PK")  # any zip in the folder: left out, with a warning
    first = package(".", "-o", "worker.zip", cwd=worker, env={**os.environ, **OFFLINE})
    assert first.returncode == 0, first.stderr
    proc = package(".", "-o", "worker.zip", cwd=worker, env={**os.environ, **OFFLINE})
    assert proc.returncode == 0, proc.stderr
    assert "warning: old.zip left out" in proc.stderr
    assert "worker.zip left out" not in proc.stderr  # the zip being written: silently
    names = set(members(worker / "worker.zip"))
    own = {name for name in names if not name.startswith("seekapi")}
    assert own == {"handler.py", *KEPT}


def own_files(path: Path) -> set[str]:
    """The zip's names that are not the bundled seekapi."""
    return {name for name in members(path) if not name.startswith("seekapi")}


def test_a_link_to_a_file_outside_the_folder_is_refused(tmp_path: Path) -> None:
    """A link leading out of DIR (to /etc/shadow, say) is never packed: the build stops,
    naming it; a link to a file inside DIR gives that file."""
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")
    worker = make_worker(tmp_path / "w", {"data/real.txt": "mine\n"})
    (worker / "data" / "same.txt").symlink_to("real.txt")
    (worker / "data" / "shadow").symlink_to(secret)
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 1, proc.stderr
    assert "links to files outside it: data/shadow -> " in proc.stderr
    assert str(secret) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "w.zip").exists()

    (worker / "data" / "shadow").unlink()
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 0, proc.stderr
    assert members(tmp_path / "w.zip")["data/same.txt"] == b"mine\n"


def test_links_to_folders_links_to_nothing_and_env_files_are_left_out_with_a_warning(
    tmp_path: Path,
) -> None:
    """Neither is packed, and the build says so for each."""
    worker = make_worker(
        tmp_path / "w",
        {"lib/x.py": "", ".env": "SECRET=1\n", ".env.production": "SECRET=2\n", "a/.env": ""},
    )
    (worker / "lib_link").symlink_to("lib")
    (worker / "gone.txt").symlink_to(tmp_path / "nowhere")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (worker / ".venv").symlink_to(tmp_path / "venv")  # a virtual environment: silently
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 0, proc.stderr
    assert ".venv" not in proc.stderr
    assert own_files(tmp_path / "w.zip") == {"handler.py", "lib/x.py"}
    for warning in (
        "warning: lib_link is a link to a folder: left out",
        "warning: gone.txt is a link to nothing: left out",
        "warning: .env left out: a .env file holds local settings and secrets",
        "warning: .env.production left out",
        "warning: a/.env left out",
    ):
        assert warning in proc.stderr


def test_earlier_outputs_are_not_packed_into_later_zips(tmp_path: Path) -> None:
    """dist/ and build/ at DIR's top are left out, and so is any .zip in DIR."""
    worker = make_worker(tmp_path / "w", {"build/lib/x.py": "", "lib/build/y.py": ""})
    env = {**os.environ, **OFFLINE}
    first = package("-o", "dist/worker.zip", cwd=worker, env=env)
    assert first.returncode == 0, first.stderr
    proc = package("-o", "dist/worker-arm64.zip", "--arch", "arm64", cwd=worker, env=env)
    assert proc.returncode == 0, proc.stderr
    assert own_files(worker / "dist" / "worker-arm64.zip") == {"handler.py", "lib/build/y.py"}
    (worker / "worker.zip").write_bytes((worker / "dist" / "worker.zip").read_bytes())
    proc = package("-o", "dist/again.zip", cwd=worker, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "warning: worker.zip left out: .zip files in the folder are never packed" in proc.stderr
    assert own_files(worker / "dist" / "again.zip") == {"handler.py", "lib/build/y.py"}
    assert "build/ left out" not in proc.stderr

    # A package called build would be missing in Lambda: the warning says so.
    (worker / "build" / "__init__.py").write_text("")
    proc = package("-o", "dist/again.zip", cwd=worker, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "warning: build/ left out, as build output at the folder's top, though it is a" in (
        proc.stderr
    )
    assert "dist/ left out" not in proc.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that takes any bytes")
def test_a_file_name_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    """No traceback: the name is shown as bytes, and nothing is written."""
    worker = make_worker(tmp_path / "w")
    with open(os.path.join(os.fsencode(worker), b"bad\xffname"), "wb"):
        pass
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "holds b'bad\\xffname', a name that is not UTF-8" in proc.stderr
    assert not (tmp_path / "w.zip").exists()

    # Where nothing is packed anyway (a cache), such a name does not matter.
    os.rename(
        os.path.join(os.fsencode(worker), b"bad\xffname"),
        os.path.join(os.fsencode(worker), b"bad\xffname.pyc"),
    )
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 0, proc.stderr


def test_a_test_like_module_the_handler_imports_is_kept(tmp_path: Path) -> None:
    """test_utils.py imported by handler.py would leave the zip failing in Lambda: it is
    kept, and so is one imported from a package; other test files still are not."""
    handler = "import test_utils\nfrom lib import test_helpers\n" + HANDLER
    worker = make_worker(
        tmp_path / "w",
        {
            "handler.py": handler,
            "test_utils.py": "X = 1\n",
            "lib/__init__.py": "",
            "lib/test_helpers.py": "",
            "lib/test_other.py": "",
            "test_handler.py": "",
            "conftest.py": "",
        },
    )
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 0, proc.stderr
    assert own_files(tmp_path / "w.zip") == {
        "handler.py",
        "test_utils.py",
        "lib/__init__.py",
        "lib/test_helpers.py",
    }


def test_entries_are_sorted_with_fixed_times_and_modes(tmp_path: Path) -> None:
    """1980-01-01 (or SOURCE_DATE_EPOCH), 0644 or 0755, Unix, deflated, sorted, no folders."""
    worker = make_worker(tmp_path / "w", {"run.sh": "#!/bin/sh\n", "b/a.txt": "a\n"})
    (worker / "run.sh").chmod(0o700)
    (worker / "handler.py").chmod(0o600)
    env = {**os.environ, **OFFLINE}
    assert package(str(worker), "-o", "one.zip", cwd=tmp_path, env=env).returncode == 0
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert not [name for name in names if name.endswith("/")]
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.create_system == 3
        assert info.compress_type == zipfile.ZIP_DEFLATED
        mode = info.external_attr >> 16
        assert stat.S_ISREG(mode)
        assert stat.S_IMODE(mode) == (0o755 if info.filename == "run.sh" else 0o644), info

    epoch = {**env, "SOURCE_DATE_EPOCH": "1700000000"}
    assert package(str(worker), "-o", "two.zip", cwd=tmp_path, env=epoch).returncode == 0
    with zipfile.ZipFile(tmp_path / "two.zip") as archive:
        assert {info.date_time for info in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}


def test_a_requirement_less_worker_gives_the_same_bytes_every_time(tmp_path: Path) -> None:
    """Built twice, from two copies made at different times, in different folders: same bytes."""
    env = {**os.environ, **OFFLINE}
    one = make_worker(tmp_path / "one", {**KEPT, "z/big.bin": random.randbytes(300_000)})
    two = tmp_path / "elsewhere" / "two"
    shutil.copytree(one, two)
    for path in two.rglob("*"):
        os.utime(path, (1_234_567_890, 1_234_567_890))
    assert package(str(one), "-o", "a.zip", cwd=tmp_path, env=env).returncode == 0
    assert package(str(two), "-o", "b.zip", cwd=tmp_path, env=env).returncode == 0
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    # And a changed byte changes the zip: the comparison can fail.
    (two / "lib" / "util.py").write_text("X = 2\n")
    assert package(str(two), "-o", "c.zip", cwd=tmp_path, env=env).returncode == 0
    assert (tmp_path / "c.zip").read_bytes() != (tmp_path / "a.zip").read_bytes()


def test_the_report_gives_both_sizes_against_lambdas_limits(tmp_path: Path) -> None:
    """The text report shows the zipped and unzipped sizes and the limits they are held to."""
    worker = make_worker(tmp_path / "w")
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 0, proc.stderr
    zipped = (tmp_path / "w.zip").stat().st_size
    with zipfile.ZipFile(tmp_path / "w.zip") as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    assert f"zipped:       {zipped / 2**20:.2f} MB ({zipped:,} bytes) of 50 MB" in proc.stdout
    assert f"unzipped:     {unzipped / 2**20:.2f} MB ({unzipped:,} bytes) of 250 MB" in proc.stdout
    assert "handler:      handler.handler (handler.py)" in proc.stdout


def test_a_zip_over_the_zipped_limit_is_not_written(tmp_path: Path) -> None:
    """Incompressible data over --max-zipped-mb: exit 1, the figures, no zip."""
    worker = make_worker(tmp_path / "w", {"noise.bin": random.randbytes(300_000)})
    proc = package(
        str(worker), "-o", "w.zip", "--max-zipped-mb", "0.25", "--json",
        cwd=tmp_path, env={**os.environ, **OFFLINE},
    )  # fmt: skip
    assert proc.returncode == 1
    message = report(proc)["error"]["message"]
    assert re.match(
        r"w\.zip was not written: it is 0\.\d\d MB \([\d,]+ bytes\) zipped, over the 0\.25 MB"
        r" \(262,144 bytes\) allowed \(\d\.\d MB unzipped\)",
        message,
    ), message
    assert "Lambda takes 50 MB for a direct upload" in message
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]  # not even a temporary file


def test_a_zip_over_a_limit_leaves_no_folder_it_created(tmp_path: Path) -> None:
    """-o new/deeper/w.zip: the folders made for the zip are removed with it."""
    worker = make_worker(tmp_path / "w", {"noise.bin": random.randbytes(300_000)})
    proc = package(
        str(worker), "-o", "new/deeper/w.zip", "--max-zipped-mb", "0.25",
        cwd=tmp_path, env={**os.environ, **OFFLINE},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def test_an_output_that_cannot_be_a_zip_is_a_usage_error(tmp_path: Path) -> None:
    """Something that is not a regular file (a device, here a pipe: safe to test with) is
    never replaced, and a path that cannot be written is one line, exit 2."""
    worker = make_worker(tmp_path / "w")
    env = {**os.environ, **OFFLINE}
    pipe = tmp_path / "pipe.zip"
    os.mkfifo(pipe)
    outputs = {
        str(pipe): f"-o {pipe} exists and is not a regular file",
        str(worker / "handler.py" / "x.zip"): f"{worker / 'handler.py'} is not a folder",
    }
    if os.path.isdir("/proc/self"):
        outputs["/proc/x.zip"] = "cannot write /proc/x.zip: "
    for output, message in outputs.items():
        proc = package(str(worker), "-o", output, cwd=tmp_path, env=env)
        assert proc.returncode == 2, (output, proc.stderr)
        assert message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert (worker / "handler.py").read_text() == HANDLER


@pytest.mark.skipif(sys.platform != "linux", reason="needs RLIMIT_FSIZE and EFBIG")
def test_an_error_writing_the_zip_names_the_zip_in_one_line(tmp_path: Path) -> None:
    """A zip that cannot be written whole (here: a file size limit, as a full disk would
    do) is one line naming the zip, exit 1, and leaves nothing behind."""
    import resource

    worker = make_worker(tmp_path / "w", {"noise.bin": random.randbytes(600_000)})

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))

    proc = subprocess.run(
        [sys.executable, "-m", "seekapi", "package", str(worker), "-o", "out/w.zip"],
        cwd=tmp_path,
        env={**os.environ, **OFFLINE},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limit_file_size,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(
        f"seekapi package: error: cannot write {tmp_path / 'out' / 'w.zip'}:"
    )
    assert "cannot read" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def test_files_over_the_unzipped_limit_are_not_written(tmp_path: Path) -> None:
    """Compressible data over --max-unzipped-mb: exit 1, the figures, no zip."""
    worker = make_worker(tmp_path / "w", {"zeros.bin": bytes(400_000)})
    proc = package(
        str(worker), "-o", "w.zip", "--max-unzipped-mb", "0.25",
        cwd=tmp_path, env={**os.environ, **OFFLINE},
    )  # fmt: skip
    assert proc.returncode == 1
    assert "w.zip was not written: its files add up to more than 0.25 MB" in proc.stderr
    assert "Lambda's limit, layers included, is 250 MB" in proc.stderr
    assert not (tmp_path / "w.zip").exists()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
def test_a_big_file_is_streamed_not_read_whole(tmp_path: Path) -> None:
    """A 160 MiB file is packed with the process's peak memory far below its size."""
    worker = make_worker(tmp_path / "w")
    with open(worker / "big.bin", "wb") as file:
        file.truncate(160 * 2**20)  # sparse: cheap to make, still 160 MiB to read
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent (a large
    # pytest process), while VmHWM belongs to this program's own memory.
    script = (
        "import sys\n"
        "from seekapi.cli import main\n"
        f"code = main(['package', {str(worker)!r}, '-o', 'big.zip'])\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "print(int(status.split()[0]))\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, **OFFLINE},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    peak_kib = int(proc.stdout.split()[-1])  # Linux reports kibibytes
    assert peak_kib < 100 * 1024, peak_kib
    with zipfile.ZipFile(tmp_path / "big.zip") as archive:
        assert archive.getinfo("big.bin").file_size == 160 * 2**20


def test_the_handler_must_be_in_the_zip(tmp_path: Path) -> None:
    """A missing module, a missing function, or a module left out as a test: exit 2, said."""
    env = {**os.environ, **OFFLINE}
    empty = make_worker(tmp_path / "empty", {"handler.py": "", "app.py": "def main(e, c): pass\n"})
    (empty / "handler.py").unlink()
    proc = package(str(empty), "-o", "x.zip", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert "the handler handler.handler needs handler.py at the top of the zip" in proc.stderr
    assert "Runtime.ImportModuleError" in proc.stderr

    proc = package(str(empty), "-o", "x.zip", "--handler", "app.handler", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert "app.py defines no 'handler' at its top level" in proc.stderr

    proc = package(str(empty), "-o", "x.zip", "--handler", "app.main", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr

    tested = make_worker(tmp_path / "t", {"test_app.py": "def handler(e, c): pass\n"})
    proc = package(
        str(tested), "-o", "y.zip", "--handler", "test_app.handler", cwd=tmp_path, env=env
    )
    assert proc.returncode == 2
    assert "which is left out as a test file" in proc.stderr

    proc = package(str(tested), "-o", "y.zip", "--handler", "no-dots", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert "is not MODULE.FUNCTION" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "y.zip").exists()


def test_handler_definitions_lambda_would_find_are_accepted(tmp_path: Path) -> None:
    """Assigned, imported, or defined under ``if``/``try``: the handler is there."""
    env = {**os.environ, **OFFLINE}
    cases = {
        "a": "def make():\n    return print\nhandler = make()\n",
        "b": "from os import getcwd as handler\n",
        "c": "try:\n    import x\nexcept ImportError:\n    def handler(e, c): pass\n",
        "d": "async def handler(e, c): pass\n",
    }
    for name, source in cases.items():
        worker = make_worker(tmp_path / name, {"handler.py": source})
        proc = package(str(worker), "-o", f"{name}.zip", cwd=tmp_path, env=env)
        assert proc.returncode == 0, (name, proc.stderr)
    worker = make_worker(
        tmp_path / "pkg", {"handler.py": "", "svc/api.py": "def main(e, c): pass\n"}
    )
    proc = package(str(worker), "-o", "p.zip", "--handler", "svc/api.main", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    broken = make_worker(tmp_path / "broken", {"handler.py": "def handler(:\n"})
    proc = package(str(broken), "-o", "b.zip", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    assert "handler.py is not valid Python (line 1)" in proc.stderr


def test_a_worker_with_its_own_copy_of_seekapi_is_refused(tmp_path: Path) -> None:
    """A seekapi/ in the worker folder would hide the bundled one: the build stops."""
    worker = make_worker(tmp_path / "w", {"seekapi/__init__.py": "# an old copy\n"})
    proc = package(str(worker), "-o", "w.zip", cwd=tmp_path, env={**os.environ, **OFFLINE})
    assert proc.returncode == 1
    assert "two sources give the same file: seekapi/__init__.py (worker and seekapi)" in proc.stderr


def test_container_writes_a_dockerfile_for_lambdas_base_image(tmp_path: Path) -> None:
    """--container: a Dockerfile beside the zip, for the runtime's image and platform."""
    worker = make_worker(tmp_path / "w")
    env = {**os.environ, **OFFLINE}
    proc = package(
        str(worker), "-o", "dist/fn.zip", "--container", "--python", "3.13", "--arch", "arm64",
        "--handler", "handler.handler", "--json", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    dockerfile = tmp_path / "dist" / "Dockerfile"
    assert report(proc)["dockerfile"] == str(dockerfile)
    lines = [line for line in dockerfile.read_text().splitlines() if not line.startswith("#")]
    assert [line for line in lines if line] == [
        "FROM --platform=$BUILDPLATFORM public.ecr.aws/lambda/python:3.13 AS unpacked",
        'COPY ["fn.zip", "/tmp/worker.zip"]',
        f"RUN python -c {UNPACK_IN_DOCKERFILE}",
        "FROM --platform=linux/arm64 public.ecr.aws/lambda/python:3.13",
        "COPY --from=unpacked /tmp/worker/ ${LAMBDA_TASK_ROOT}/",
        'CMD ["handler.handler"]',
    ]
    assert "docker build --platform linux/arm64" in dockerfile.read_text()

    # x86_64 and the default Python; the Dockerfile it wrote before is replaced.
    proc = package(str(worker), "-o", "dist/fn.zip", "--container", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    text = dockerfile.read_text()
    assert f"FROM --platform=linux/amd64 public.ecr.aws/lambda/python:{PYTHON}\n" in text


UNPACK_IN_DOCKERFILE = (
    "\"import os, zipfile; z = zipfile.ZipFile('/tmp/worker.zip');"
    " [os.chmod(z.extract(i, '/tmp/worker'), i.external_attr >> 16 & 0o777)"
    ' for i in z.infolist()]"'
)
"""The Dockerfile's unpacking step, as written (checked by running it, below)."""


def test_container_with_a_space_in_the_zips_name(tmp_path: Path) -> None:
    """COPY takes the JSON form, and the printed docker build command is quoted."""
    worker = make_worker(tmp_path / "w")
    proc = package(
        str(worker), "-o", "sp dir/my worker.zip", "--container",
        cwd=tmp_path, env={**os.environ, **OFFLINE},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "sp dir" / "Dockerfile").read_text()
    assert 'COPY ["my worker.zip", "/tmp/worker.zip"]\n' in text
    assert "-t my-worker 'sp dir'\n" in proc.stdout


def test_the_dockerfiles_unpacking_keeps_the_executable_bit(tmp_path: Path) -> None:
    """The RUN step, run here against a real zip, gives run.sh 0755 and others 0644."""
    worker = make_worker(tmp_path / "w", {"run.sh": "#!/bin/sh\n"})
    (worker / "run.sh").chmod(0o755)
    proc = package(
        str(worker), "-o", "dist/w.zip", "--container", cwd=tmp_path, env={**os.environ, **OFFLINE}
    )
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "dist" / "Dockerfile").read_text()
    run = next(line for line in text.splitlines() if line.startswith("RUN "))
    command = shlex.split(run[len("RUN ") :])
    assert command[:2] == ["python", "-c"]
    code = (
        command[2]
        .replace("/tmp/worker.zip", str(tmp_path / "dist" / "w.zip"))
        .replace("'/tmp/worker'", repr(str(tmp_path / "unpacked")))
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert stat.S_IMODE((tmp_path / "unpacked" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "unpacked" / "handler.py").stat().st_mode) == 0o644
    assert (tmp_path / "unpacked" / "seekapi" / "__init__.py").is_file()


def test_container_never_replaces_a_dockerfile_of_the_users(tmp_path: Path) -> None:
    """A Dockerfile seekapi did not write is left alone, and nothing is built."""
    worker = make_worker(tmp_path / "w", {"Dockerfile": "FROM scratch\n"})
    proc = package(
        ".", "-o", "worker.zip", "--container", cwd=worker, env={**os.environ, **OFFLINE}
    )
    assert proc.returncode == 1
    assert "Dockerfile exists and was not written by seekapi package" in proc.stderr
    assert (worker / "Dockerfile").read_text() == "FROM scratch\n"
    assert not (worker / "worker.zip").exists()


def test_package_help_and_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--help works; a folder that does not exist and an unknown --arch exit 2."""
    assert main(["package", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: seekapi package")
    assert main(["package", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.zip")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["package", "--arch", "sparc"]) == 2
    assert main(["package", "--python", "3.9"]) == 2
    assert main(["package", "--max-zipped-mb", "0"]) == 2


def test_each_runtime_accepts_the_manylinux_tags_of_its_glibc() -> None:
    """3.10 and 3.11 run on Amazon Linux 2 (glibc 2.26), 3.12 and 3.13 on 2023 (2.34):
    pip is offered each manylinux tag up to that glibc and its older names, no newer."""
    from seekapi._cli.package.pip import pip_command
    from seekapi._cli.package.target import LambdaTarget

    for python, newest in (("3.10", 26), ("3.11", 26), ("3.12", 34), ("3.13", 34)):
        for arch, machine, oldest in (("x86_64", "x86_64", 5), ("arm64", "aarch64", 17)):
            target = LambdaTarget(python, arch)
            command = pip_command("r.txt", "site", target)
            offered = [arg.split("=", 1)[1] for arg in command if arg.startswith("--platform=")]
            expected = [f"manylinux_2_{m}_{machine}" for m in range(newest, oldest - 1, -1)]
            legacy = (
                ["manylinux2014", "manylinux2010", "manylinux1"]
                if oldest == 5
                else ["manylinux2014"]
            )
            assert offered == expected + [f"{name}_{machine}" for name in legacy]
            assert command[command.index("--python-version") + 1] == python
            assert command[command.index("--abi") + 1] == "cp" + python.replace(".", "")
            assert "--only-binary=:all:" in command
            assert command[command.index("--implementation") + 1] == "cp"
