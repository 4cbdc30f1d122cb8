"""What the benchmark needs before it measures: seekapi 1.0.5, test files, TLS material.

Everything goes under ``benchmarks/.cache/``, which ignores itself (it holds a
``.gitignore`` of ``*``) and is reused by later runs; delete it to start afresh.
"""

from __future__ import annotations

import json
import os
import random
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
OLD_VERSION = "1.0.5"
MIB = 1024 * 1024


def cache_dir() -> Path:
    CACHE.mkdir(exist_ok=True)
    ignore = CACHE / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Made by benchmarks/run.py; nothing here belongs in git.\n*\n")
    return CACHE


# -- seekapi 1.0.5 in a throwaway virtual environment --------------------------------


@dataclass(frozen=True)
class OldSdk:
    python: str
    """The virtual environment's interpreter: every worker runs on it (see run.py)."""
    site_packages: str


def old_sdk(log: object = print) -> OldSdk:
    """A virtual environment holding ``seekapi==1.0.5`` from the package registry."""
    venv = cache_dir() / f"venv-seekapi-{OLD_VERSION}"
    python = venv / "bin" / "python"
    marker = venv / "installed.json"
    probe = "import json, seekapi, sysconfig; print(json.dumps(sysconfig.get_paths()['purelib']))"
    if not marker.exists():
        assert callable(log)
        log(f"setting up {venv} with seekapi=={OLD_VERSION} (first run only) ...")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                f"seekapi=={OLD_VERSION}",
            ],
            check=True,
        )
        out = subprocess.run(
            [str(python), "-c", probe], check=True, capture_output=True, text=True
        ).stdout
        marker.write_text(out)
    site = json.loads(marker.read_text())
    return OldSdk(python=str(python), site_packages=site)


# -- test data -----------------------------------------------------------------------


def upload_file(size_mib: int) -> Path:
    """A file of ``size_mib`` MiB of real (not sparse) incompressible bytes."""
    path = cache_dir() / f"upload-{size_mib}MiB.bin"
    if path.exists() and path.stat().st_size == size_mib * MIB:
        return path
    block = random.Random(1).randbytes(MIB)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        for i in range(size_mib):
            # Vary each block a little so that no layer below can deduplicate them.
            handle.write(i.to_bytes(8, "little") + block[8:])
    tmp.replace(path)
    return path


def small_file() -> Path:
    """A 4 KiB file, uploaded once before the timed upload to warm the client up."""
    path = cache_dir() / "upload-4KiB.bin"
    if not path.exists():
        path.write_bytes(random.Random(3).randbytes(4096))
    return path


def tmpfs_dir() -> Path | None:
    """A writable folder on a RAM file system (``/dev/shm``), when the machine has one."""
    try:
        with open("/proc/mounts", encoding="utf-8") as handle:
            mounts = {fields[1]: fields[2] for fields in (line.split() for line in handle)}
    except OSError:
        return None
    if mounts.get("/dev/shm") == "tmpfs" and os.access("/dev/shm", os.W_OK):
        return Path("/dev/shm")
    return None


def file_system(path: Path) -> str:
    """The type of the file system holding ``path`` (``ext4``, ``tmpfs``...), if known."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                point = fields[1]
                inside = str(path) == point or str(path).startswith(point.rstrip("/") + "/")
                if inside and len(point) > len(best):
                    best, kind = point, fields[2]
    except OSError:
        pass
    return kind


def input_document(size_mb: int) -> tuple[Path, int]:
    """A JSON input document of about ``size_mb`` MB; returns its path and item count.

    Its shape is typical of a job input: an object holding a list of small records.
    """
    path = cache_dir() / f"input-{size_mb}MB.json"
    meta = path.with_suffix(".items")
    if path.exists() and meta.exists():
        return path, int(meta.read_text())
    rng = random.Random(2)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]
    items: list[dict[str, object]] = []
    size = 0
    target = size_mb * 1000 * 1000
    while size < target:
        i = len(items)
        item = {
            "id": i,
            "url": f"https://example.com/catalogue/items/{i}?ref=bench",
            "title": " ".join(rng.choice(words) for _ in range(6)),
            "price": round(rng.uniform(1, 500), 2),
            "tags": rng.sample(words, 3),
            "in_stock": rng.random() < 0.5,
        }
        size += len(json.dumps(item)) + 2
        items.append(item)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"job": "bench", "items": items}))
    tmp.replace(path)
    meta.write_text(str(len(items)))
    return path, len(items)


# -- TLS -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    cert: str
    key: str
    bundle: str
    """The system CA bundle plus the test CA: what ``SSL_CERT_FILE`` points at."""
    system_bundle: str | None


def system_ca_bundle() -> str | None:
    """The machine's CA bundle file, as OpenSSL would find it without SSL_CERT_FILE."""
    paths = ssl.get_default_verify_paths()
    candidates = [
        paths.openssl_cafile,
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return candidate
    try:
        import certifi  # type: ignore[import-not-found, unused-ignore]

        return str(certifi.where())
    except ImportError:
        return None


def tls_material() -> Tls:
    """A fresh test CA and a certificate for 127.0.0.1, made with trustme."""
    try:
        import trustme
    except ImportError:
        sys.exit(
            "benchmarks/run.py needs trustme to make its test certificates: run it with the"
            " project's development environment (pip install -e '.[dev]')."
        )
    folder = cache_dir() / "tls"
    folder.mkdir(exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, bundle = folder / "server.pem", folder / "server.key", folder / "bundle.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())
    system = system_ca_bundle()
    system_pem = Path(system).read_bytes() if system else b""
    if system_pem and not system_pem.endswith(b"\n"):
        system_pem += b"\n"
    bundle.write_bytes(system_pem + ca.cert_pem.bytes())
    return Tls(cert=str(cert), key=str(key), bundle=str(bundle), system_bundle=system)
