"""One contract measurement in a process of its own: validate a 10,000-item list.

    python _contract_worker.py IMPL ITEMS ROUNDS

IMPL is ``seekapi`` (its compiled contract, converting to dataclass instances),
``jsonschema`` (Draft 2020-12 with its format checker, on the schema seekapi emits) or
``pydantic`` (a ``TypeAdapter`` of the same dataclass with pydantic's own constraints).
Prints one JSON object: the median milliseconds of one validation, after a warm-up.
"""

# No `from __future__ import annotations`: the item classes are made inside functions
# (so each process imports only its own validator), and their annotations must resolve.
import dataclasses
import datetime
import enum
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Annotated, Any

PATTERN = r"^[A-Za-z][A-Za-z ]*$"


class Status(enum.Enum):
    NEW = "new"
    ACTIVE = "active"
    CLOSED = "closed"


def items(n: int) -> list[dict[str, Any]]:
    """The input: n JSON objects, all valid."""
    statuses = [s.value for s in Status]
    return [
        {
            "id": i,
            "name": f"Customer number {'abcdefghij'[i % 10]}",
            "status": statuses[i % 3],
            "created": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T12:{i % 60:02d}:00Z",
            "score": i / 7,
            "tags": ["a", "b"][: i % 3],
        }
        for i in range(n)
    ]


def seekapi_validator() -> Callable[[object], object]:
    import seekapi
    from seekapi._contract import compile

    @dataclasses.dataclass
    class Item:
        id: int
        name: Annotated[str, seekapi.Field(min_length=1, max_length=40, pattern=PATTERN)]
        status: Status
        created: datetime.datetime
        score: float
        tags: list[str]

    return compile(list[Item]).validate


def jsonschema_validator() -> Callable[[object], object]:
    import jsonschema

    schema = _seekapi_schema()
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return validator.validate


def pydantic_validator() -> Callable[[object], object]:
    import pydantic

    @dataclasses.dataclass
    class Item:
        id: int
        name: Annotated[
            str, pydantic.StringConstraints(min_length=1, max_length=40, pattern=PATTERN)
        ]
        status: Status
        created: datetime.datetime
        score: float
        tags: list[str]

    return pydantic.TypeAdapter(list[Item]).validate_python


def _seekapi_schema() -> dict[str, Any]:

    contract: Any = seekapi_validator().__self__  # type: ignore[attr-defined]
    return contract.schema()  # type: ignore[no-any-return]


VALIDATORS = {
    "seekapi": seekapi_validator,
    "jsonschema": jsonschema_validator,
    "pydantic": pydantic_validator,
}


def main() -> None:
    impl, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data = items(n)
    validate = VALIDATORS[impl]()
    validate(data)  # warm-up: caches, lazy compilation
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        validate(data)
        times.append((time.perf_counter() - started) * 1000)
    print(json.dumps({"impl": impl, "items": n, "ms": statistics.median(times)}))


if __name__ == "__main__":
    main()
