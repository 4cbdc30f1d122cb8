"""``seekapi package``: a worker folder as a zip AWS Lambda runs (its parts: ``_cli.package``)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from ..._version import __version__
from .._common import EXIT_OK, display_path, emit_json, error
from ..base import Command, add_json, wrap
from ..package.build import BuiltPackage, PackageRequest, build
from ..package.failure import PackageError
from ..package.target import (
    ARCHITECTURES,
    MIB,
    PYTHON_VERSIONS,
    UNZIPPED_LIMIT_MB,
    ZIPPED_LIMIT_MB,
    LambdaTarget,
    default_python,
)


def _megabytes(text: str) -> float:
    """An argparse type: a positive number of megabytes (2**20 bytes, as Lambda counts)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of megabytes: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of megabytes: {text!r}")
    return value


class PackageCommand(Command):
    """``seekapi package [DIR] -o ZIP``: the worker, its requirements and seekapi, zipped."""

    description = wrap(
        "Build a Lambda deployment zip of the worker folder DIR (default: the working"
        " directory): its files (tests, caches, virtual environments, local-mode output,"
        " dist/ and build/, .zip and .env files left out; a link out of DIR stops the"
        " build), the requirements in DIR/requirements.txt as manylinux wheels for"
        " Lambda's Python and architecture, and this seekapi, bundled. The same inputs give"
        " the same bytes. The zip must hold the handler, and stay within Lambda's size"
        " limits."
    )
    epilog = (
        "examples:\n"
        "  seekapi package -o worker.zip\n"
        "  seekapi package my-worker -o dist/worker.zip --python 3.12 --arch arm64\n"
        "  seekapi package -o dist/worker.zip --container   # and dist/Dockerfile"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "dir", metavar="DIR", nargs="?", default=".", help="the worker's folder (default: .)"
        )
        parser.add_argument(
            "-o",
            "--output",
            metavar="ZIP",
            default="worker.zip",
            help="the zip to write (default: worker.zip); its folder is created if need be",
        )
        parser.add_argument(
            "--python",
            choices=PYTHON_VERSIONS,
            default=default_python(),
            metavar="VERSION",
            help="the Lambda runtime's Python: 3.10, 3.11, 3.12 or 3.13 (default: the running"
            f" Python's, {default_python()}, when Lambda has it, else 3.12)",
        )
        parser.add_argument(
            "--arch",
            choices=ARCHITECTURES,
            default="x86_64",
            help="the function's architecture: x86_64 (the default) or arm64",
        )
        parser.add_argument(
            "--handler",
            metavar="MODULE.FUNCTION",
            default="handler.handler",
            help="the Lambda handler setting, checked against the zip (default:"
            " handler.handler, the function handler in handler.py)",
        )
        parser.add_argument(
            "--container",
            action="store_true",
            help="also write a Dockerfile beside the zip, for a Lambda container image built"
            " from it",
        )
        parser.add_argument(
            "--max-zipped-mb",
            type=_megabytes,
            default=ZIPPED_LIMIT_MB,
            metavar="MB",
            help="fail when the zip is larger (default: 50, Lambda's limit for a direct"
            " upload; a zip uploaded through S3 may be larger)",
        )
        parser.add_argument(
            "--max-unzipped-mb",
            type=_megabytes,
            default=UNZIPPED_LIMIT_MB,
            metavar="MB",
            help="fail when its files add up to more (default: 250, Lambda's limit, which"
            " counts the function's layers too)",
        )
        add_json(parser, "what was built")

    def run(self, args: argparse.Namespace) -> int:
        """Build the zip; report its sizes, or why there is none."""
        request = PackageRequest(
            worker_dir=args.dir,
            output=args.output,
            target=LambdaTarget(args.python, args.arch),
            handler=args.handler,
            container=args.container,
            max_zipped_mb=args.max_zipped_mb,
            max_unzipped_mb=args.max_unzipped_mb,
        )

        def say(message: str) -> None:
            sys.stderr.write(f"seekapi package: {message}\n")
            sys.stderr.flush()

        try:
            built = build(request, say=say)
        except PackageError as exc:
            error("seekapi package", exc.message)
            if args.json:
                emit_json(
                    {
                        "ok": False,
                        "exit_code": exc.exit_code,
                        "error": {"type": "package", "message": exc.message},
                    }
                )
            return exc.exit_code
        for warning in built.warnings:
            say(f"warning: {warning}")
        if args.json:
            emit_json(_as_json(request, built))
        else:
            sys.stdout.write(_as_text(request, built))
        return EXIT_OK


def _size(size: int, limit_mb: float) -> str:
    return f"{size / MIB:.2f} MB ({size:,} bytes) of {limit_mb:g} MB"


def _as_text(request: PackageRequest, built: BuiltPackage) -> str:
    target = request.target
    requirements = ", ".join(f"{name} {version}" for name, version in built.distributions)
    lines = [
        f"Packaged {display_path(request.worker_dir)} for AWS Lambda: {target.describe()}",
        f"  handler:      {request.handler} ({built.handler_file})",
        f"  worker:       {built.worker_files} files",
        f"  seekapi:      {__version__}, bundled from {built.seekapi_source}"
        + (f" (meets {'; '.join(built.seekapi_lines)})" if built.seekapi_lines else ""),
        f"  requirements: {requirements or 'none'}",
        f"  zipped:       {_size(built.stats.zipped_bytes, request.max_zipped_mb)}",
        f"  unzipped:     {_size(built.stats.unzipped_bytes, request.max_unzipped_mb)}",
        f"Wrote {display_path(built.output)} ({built.stats.files} files)",
    ]
    if built.dockerfile is not None:
        folder = display_path(os.path.dirname(built.dockerfile))
        lines.append(
            f"Wrote {display_path(built.dockerfile)}: docker build --platform"
            f" {target.docker_platform} -t my-worker {shlex.quote(folder)}"
        )
    return "\n".join(lines) + "\n"


def _as_json(request: PackageRequest, built: BuiltPackage) -> dict[str, object]:
    return {
        "ok": True,
        "exit_code": EXIT_OK,
        "zip": built.output,
        "dockerfile": built.dockerfile,
        "python": request.target.python,
        "arch": request.target.arch,
        "handler": request.handler,
        "handler_file": built.handler_file,
        "files": built.stats.files,
        "worker_files": built.worker_files,
        "zipped_bytes": built.stats.zipped_bytes,
        "unzipped_bytes": built.stats.unzipped_bytes,
        "limits": {
            "zipped_bytes": int(request.max_zipped_mb * MIB),
            "unzipped_bytes": int(request.max_unzipped_mb * MIB),
        },
        "seekapi": {
            "version": __version__,
            "source": built.seekapi_source,
            "files": built.seekapi_files,
            "meets": built.seekapi_lines,
        },
        "requirements": [
            {"name": name, "version": version} for name, version in built.distributions
        ],
        "warnings": built.warnings,
    }
