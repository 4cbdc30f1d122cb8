"""Typed workers through run() against the emulator: checked before work, refused cleanly.

The annotations here are strings (``from __future__ import annotations``), so each test
also proves they are resolved.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import json
import logging
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

import pydantic
import pytest

import seekapi
from seekapi.testing import Backend, FakeLambdaContext


class Plan(enum.Enum):
    FREE = "free"
    PRO = "pro"


@dataclasses.dataclass
class Order:
    customer: Annotated[str, seekapi.Field(min_length=1, description="who pays")]
    quantity: Annotated[int, seekapi.Field(ge=1, le=100)]
    plan: Plan
    placed: datetime.datetime
    tags: list[str] = dataclasses.field(default_factory=list)
    ref: uuid.UUID | None = None


@dataclasses.dataclass
class Receipt:
    customer: str
    total: float
    plan: Plan
    placed: datetime.datetime


class Point(TypedDict):
    x: int
    y: int


class Unsupported:
    """A plain class: not a contract type for seekapi, nor for pydantic."""


class Person(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0)


class Greeting(pydantic.BaseModel):
    text: str


GOOD = {"customer": "Ada", "quantity": 3, "plan": "pro", "placed": "2026-01-31T12:00:00Z"}

calls: list[Any] = []


def price(order: Order) -> Receipt:
    calls.append(order)
    seekapi.current_job().charge(f"{seekapi.current_job().job_uuid}:order")
    return Receipt(order.customer, order.quantity * 2.5, order.plan, order.placed)


@pytest.fixture(autouse=True)
def _forget_calls() -> None:
    calls.clear()


def _run(job: Any, fn: Any, **kwargs: Any) -> dict[str, Any]:
    return seekapi.run(job.event, None, fn, **kwargs)


# -- the input ----------------------------------------------------------------------------


def test_a_valid_input_arrives_converted_and_the_result_is_dumped(configured: Backend) -> None:
    job = configured.create_job({**GOOD, "ref": "12345678-1234-5678-1234-567812345678"})
    out = _run(job, price)
    assert out == {"ok": True}
    [order] = calls
    assert isinstance(order, Order)
    assert order.plan is Plan.PRO
    assert order.placed == datetime.datetime(2026, 1, 31, 12, tzinfo=datetime.timezone.utc)
    assert order.ref == uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert order.tags == []
    assert job.result == {
        "customer": "Ada",
        "total": 7.5,
        "plan": "pro",
        "placed": "2026-01-31T12:00:00+00:00",
    }


def test_an_invalid_input_runs_no_code_charges_nothing_and_pushes_nothing(
    configured: Backend,
) -> None:
    bad = {"customer": "", "quantity": True, "plan": "gold", "placed": "2026-01-31", "x": 1}
    job = configured.create_job(bad)
    out = _run(job, price)
    assert out["ok"] is False
    error = out["error"]
    assert error["code"] == "INVALID_INPUT"
    assert error["stage"] == "input"
    assert calls == []
    assert job.charges == []
    assert job.result is None
    paths = [item["path"] for item in error["details"]]
    assert sorted(paths) == ["/customer", "/placed", "/plan", "/quantity", "/x"]
    by_path = {item["path"]: item["message"] for item in error["details"]}
    assert "true" in by_path["/quantity"]
    assert "gold" in by_path["/plan"]
    assert "unknown key" in by_path["/x"]
    # The message names the first problems, for a reader without the details.
    assert error["message"].startswith("the input does not match the worker's input type: 5")
    assert "/customer" in error["message"]


def test_missing_required_fields_and_nested_paths(configured: Backend) -> None:
    def draw(points: list[Point]) -> None:
        calls.append(points)

    job = configured.create_job([{"x": 1, "y": 2}, {"x": 1}, {"x": "1", "y": 2}])
    out = _run(job, draw)
    assert out["error"]["code"] == "INVALID_INPUT"
    paths = sorted(item["path"] for item in out["error"]["details"])
    assert paths == ["/1/y", "/2/x"]
    assert "missing" in out["error"]["details"][0]["message"]


def test_problems_are_capped_and_say_so(configured: Backend) -> None:
    def total(numbers: list[int]) -> int:
        return sum(numbers)

    job = configured.create_job(["a"] * 30)
    error = _run(job, total)["error"]
    assert len(error["details"]) == 20
    assert error["details_truncated"] is True
    assert error["details"][0] == {"path": "/0", "message": 'expected an integer, got "a"'}


def test_the_message_stays_short_for_long_values(configured: Backend) -> None:
    def echo(words: dict[str, Literal["a", "b"]]) -> None:
        return None

    job = configured.create_job({f"key-{i}": "z" * 1000 for i in range(50)})
    error = _run(job, echo)["error"]
    assert len(error["message"]) <= 500
    assert all(len(item["message"]) < 200 for item in error["details"])


# -- the output ---------------------------------------------------------------------------


def test_an_invalid_result_is_refused_and_nothing_is_pushed(configured: Backend) -> None:
    def wrong(order: Order) -> Receipt:
        return {"customer": order.customer, "total": "free"}  # type: ignore[return-value]

    job = configured.create_job(GOOD)
    out = _run(job, wrong)
    error = out["error"]
    assert error["code"] == "INVALID_OUTPUT"
    assert error["stage"] == "output"
    assert error["details"]
    assert error["message"].startswith("the result does not match the worker's output type")
    assert job.result is None


def test_a_result_of_a_dict_matching_the_dataclass_is_refused(configured: Backend) -> None:
    """The output type is a dataclass: a dict is not one (dump checks Python types)."""

    def as_dict(order: Order) -> Receipt:
        return {"customer": "Ada", "total": 1.0, "plan": "pro", "placed": GOOD["placed"]}  # type: ignore[return-value]

    job = configured.create_job(GOOD)
    assert _run(job, as_dict)["error"]["code"] == "INVALID_OUTPUT"


def test_none_is_checked_against_the_output_type(configured: Backend) -> None:
    def nothing(order: Order) -> Receipt:
        return None  # type: ignore[return-value]

    def maybe(order: Order) -> Receipt | None:
        return None

    job = configured.create_job(GOOD)
    assert _run(job, nothing)["error"]["code"] == "INVALID_OUTPUT"
    job = configured.create_job(GOOD)
    assert _run(job, maybe) == {"ok": True}
    assert job.result is None


def test_a_result_given_to_stop_is_checked_too(configured: Backend) -> None:
    def stops(order: Order) -> Receipt:
        seekapi.current_job().stop({"not": "a receipt"})

    def stops_well(order: Order) -> Receipt:
        seekapi.current_job().stop(Receipt("Ada", 1.0, Plan.FREE, order.placed))

    job = configured.create_job(GOOD)
    assert _run(job, stops)["error"]["code"] == "INVALID_OUTPUT"
    assert job.result is None
    job = configured.create_job(GOOD)
    out = _run(job, stops_well)
    assert out["ok"] is True
    assert job.result["plan"] == "free"


# -- how a function becomes typed ---------------------------------------------------------


def test_an_unannotated_function_is_unchanged(configured: Backend) -> None:
    job = configured.create_job({"anything": [1, "two"]})
    assert _run(job, lambda data: {"echo": data}) == {"ok": True}
    assert job.result == {"echo": {"anything": [1, "two"]}}


def test_an_unannotated_worker_never_loads_the_contract_modules(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import os, sys, json
        os.environ["SEEKAPI_LOCAL_MODE"] = "1"
        os.environ["SEEKAPI_LOCAL_DIR"] = sys.argv[1]
        import pathlib
        def seekapi_input(folder, document):
            path = pathlib.Path(folder, "input.json")
            path.write_text(json.dumps(document))
            return path.as_uri()
        import seekapi
        def work(data):
            return {"n": 1}
        url = seekapi_input(sys.argv[1], {"a": 1})
        event = {"job_uuid": "j", "execution_token": "t", "input_presigned_url": url}
        out = seekapi.run(event, None, work)
        loaded = sorted(m for m in sys.modules if m.startswith(("seekapi._contract",
            "seekapi._signature", "seekapi._worker", "pydantic")))
        print(json.dumps([out, loaded]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    out, loaded = json.loads(proc.stdout)
    assert out == {"ok": True}
    assert loaded == []


def test_a_typed_worker_does_not_import_pydantic(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import os, sys, json
        os.environ["SEEKAPI_LOCAL_MODE"] = "1"
        os.environ["SEEKAPI_LOCAL_DIR"] = sys.argv[1]
        import pathlib
        def seekapi_input(folder, document):
            path = pathlib.Path(folder, "input.json")
            path.write_text(json.dumps(document))
            return path.as_uri()
        import seekapi
        @seekapi.worker
        def handler(data: dict[str, int]) -> int:
            return sum(data.values())
        url = seekapi_input(sys.argv[1], {"a": 1})
        out = handler({"job_uuid": "j", "execution_token": "t", "input_presigned_url": url}, None)
        print(json.dumps([out, "pydantic" in sys.modules]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert json.loads(proc.stdout) == [{"ok": True}, False]


def test_an_unsupported_annotation_under_run_is_unchecked_with_one_warning(
    configured: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    def odd(data: Unsupported) -> dict[str, Any]:
        return {"got": data}

    with caplog.at_level(logging.WARNING, logger="seekapi"):
        for _ in range(2):
            job = configured.create_job({"a": 1})
            assert _run(job, odd) == {"ok": True}
            assert job.result == {"got": {"a": 1}}
    warnings = [r.getMessage() for r in caplog.records if "is not checked" in r.getMessage()]
    assert len(warnings) == 1
    assert "Unsupported" in warnings[0]


def test_an_unresolvable_annotation_is_a_contract_error_for_worker() -> None:
    def broken(data: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(seekapi.ContractError, match="cannot be resolved"):
        seekapi.worker(broken)
    with pytest.raises(seekapi.ContractError, match="cannot be resolved"):
        seekapi.schema(broken)


def test_an_unsupported_annotation_is_a_contract_error_for_worker() -> None:
    def odd(data: list[Unsupported]) -> None:
        return None

    with pytest.raises(
        seekapi.ContractError, match=r"Unsupported at .*odd input\[item\]: not a supported type"
    ):
        seekapi.worker(odd)


def test_worker_handler_runs_the_job_and_keeps_the_function(configured: Backend) -> None:
    handler = seekapi.worker(price)
    assert handler.fn is price
    assert handler.__name__ == "price"
    job = configured.create_job(GOOD)
    assert handler(job.event, None) == {"ok": True}
    assert job.result is not None
    assert job.result["total"] == 7.5
    # The function itself is still a plain function for unit tests.
    assert handler.fn.__name__ == "price"


def test_worker_passes_the_safety_margin(configured: Backend) -> None:
    @seekapi.worker(safety_margin=1.5)
    def slow(data: dict[str, int]) -> None:
        import time

        time.sleep(30)

    job = configured.create_job({"a": 1})
    out = slow(job.event, FakeLambdaContext(timeout_s=3))
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    assert "of 1.5 s" in out["error"]["message"]


def test_async_typed_workers(configured: Backend) -> None:
    async def count(points: list[Point]) -> int:
        await asyncio.sleep(0)
        return len(points)

    job = configured.create_job([{"x": 1, "y": 2}])
    assert seekapi.worker(count)(job.event, None) == {"ok": True}
    assert job.result == 1
    job = configured.create_job([{"x": 1}])
    out = asyncio.run(seekapi.run_async(job.event, None, count))
    assert out["error"]["code"] == "INVALID_INPUT"


def test_schema_of_a_function_and_of_a_handler() -> None:
    def no_output(order: Order):  # type: ignore[no-untyped-def]
        return None

    handler = seekapi.worker(price)
    schemas = handler.schema()
    assert schemas == seekapi.schema(price)
    assert schemas["input"]["title"] == "Order"
    assert schemas["input"]["properties"]["customer"]["description"] == "who pays"
    assert schemas["input"]["properties"]["plan"]["enum"] == ["free", "pro"]
    assert schemas["output"]["properties"]["placed"]["format"] == "date-time"
    assert seekapi.schema(no_output)["output"] is None


# -- pydantic -----------------------------------------------------------------------------


def test_a_pydantic_model_is_validated_and_described_by_pydantic(configured: Backend) -> None:
    def greet(person: Person) -> Greeting:
        return Greeting(text=f"hello {person.name}, {person.age}")

    job = configured.create_job({"name": "Ada", "age": "36"})  # pydantic's lax mode
    assert _run(job, greet) == {"ok": True}
    assert job.result == {"text": "hello Ada, 36"}

    job = configured.create_job({"name": "Ada", "age": -1})
    error = _run(job, greet)["error"]
    assert error["code"] == "INVALID_INPUT"
    assert [item["path"] for item in error["details"]] == ["/age"]
    assert job.result is None

    schemas = seekapi.schema(greet)
    assert schemas["input"]["properties"]["age"]["minimum"] == 0
    assert schemas["output"]["title"] == "Greeting"


def test_a_wrong_pydantic_result_is_invalid_output(configured: Backend) -> None:
    def greet(person: Person) -> Greeting:
        return {"text": 3}  # type: ignore[return-value]

    job = configured.create_job({"name": "Ada", "age": 1})
    error = _run(job, greet)["error"]
    assert error["code"] == "INVALID_OUTPUT"
    assert error["details"][0]["path"] == "/text"


def test_a_type_only_pydantic_knows_goes_to_pydantic_once_it_is_imported() -> None:
    """A dataclass holding a pydantic model is not seekapi's: the whole type is pydantic's."""

    @dataclasses.dataclass
    class Wrapper:
        person: Person

    schemas = seekapi.schema(seekapi.worker(_takes_wrapper(Wrapper)))
    assert schemas["input"]["properties"]["person"]["$ref"].endswith("Person")


def _takes_wrapper(cls: type) -> Any:
    def fn(data: Any) -> None:
        return None

    fn.__annotations__ = {"data": cls, "return": None}
    return fn


# -- the same check in the emulator -------------------------------------------------------


def test_the_emulator_checks_an_input_against_a_worker(configured: Backend) -> None:
    handler = seekapi.worker(price)
    job = configured.create_job(GOOD, check=handler)
    assert job.job_uuid
    with pytest.raises(seekapi.InvalidValue) as info:
        configured.create_job({**GOOD, "quantity": 0}, check=handler)
    assert [item["path"] for item in info.value.details] == ["/quantity"]
    with pytest.raises(seekapi.InvalidValue):
        configured.create_job({"x": 1}, check=price)  # a plain annotated function too


# -- what a hostile worker or input cannot do -----------------------------------------------


class Anything(pydantic.BaseModel):
    data: Any


@dataclasses.dataclass(eq=False)
class Compares:
    id: int

    def __eq__(self, other: object) -> bool:
        return self.id == other.id  # type: ignore[attr-defined,no-any-return]

    __hash__ = None  # type: ignore[assignment]


@dataclasses.dataclass
class Described:
    first: Annotated[Point, seekapi.Field(description="the first one")]
    second: Point


@dataclasses.dataclass
class Holder:
    people: Annotated[list[Person], seekapi.Field(min_length=1)]


class Inherited:
    def __call__(self, numbers: list[int]) -> int:
        return sum(numbers)


class Child(Inherited):
    pass


def test_a_refused_result_never_shows_part_of_a_secret(
    configured: Backend,
) -> None:
    secret = configured.env["WORKER_INTERNAL_SECRET"]
    job = configured.create_job({"a": 1})
    token = job.execution_token

    def leaks(data: dict[str, int]) -> list[int]:
        # Long enough that a problem's message cuts them short: a part is left whole.
        return [secret[:-1] * 9, token[:-1] * 9]  # type: ignore[list-item]

    out = _run(job, leaks)
    assert out["error"]["code"] == "INVALID_OUTPUT"
    text = json.dumps(out)
    for value in (secret, token):
        assert value[:12] not in text
    assert out["error"]["details"][0]["message"] == "expected an integer, got a value withheld"


def test_a_result_that_cannot_be_written_is_a_failure_not_a_crash(configured: Backend) -> None:
    def odd(data: dict[str, int]) -> Anything:
        return Anything(data=object())

    job = configured.create_job({"a": 1})
    out = _run(job, odd)
    assert out["ok"] is False
    assert out["error"]["stage"] == "output"
    assert job.result is None


def test_items_with_their_own_equality_are_checked_by_identity(configured: Backend) -> None:
    def count(items: list[Compares]) -> int:
        return len(items)

    job = configured.create_job([{"id": 1}, {"id": 2}])
    assert _run(job, count)["ok"] is True
    assert job.result == 2


def test_messages_stay_short_whatever_the_input(configured: Backend) -> None:
    def point(p: Point) -> None:
        return None

    job = configured.create_job({"k" * 5000 + str(i): 1 for i in range(4)})
    error = _run(job, point)["error"]
    assert len(error["message"]) <= 500
    assert all(len(item["message"]) <= 200 for item in error["details"])


def test_exactly_the_cap_is_not_called_truncated(configured: Backend) -> None:
    def total(numbers: list[int]) -> int:
        return 0

    job = configured.create_job(["a"] * 20)
    error = _run(job, total)["error"]
    assert len(error["details"]) == 20
    assert "details_truncated" not in error


def test_a_description_on_one_use_of_a_type_stays_there() -> None:
    schema = seekapi.schema(_takes(Described))["input"]
    assert schema["properties"]["first"]["description"] == "the first one"
    assert "description" not in schema["properties"]["second"]


def test_a_seekapi_field_inside_a_pydantic_validated_type_is_refused() -> None:
    with pytest.raises(seekapi.ContractError, match=r"use pydantic\.Field"):
        seekapi.worker(_takes(Holder))


def test_an_unsupported_type_is_refused_even_with_pydantic_imported() -> None:
    """pydantic is imported in this module: set[int] is still not a contract type."""
    with pytest.raises(seekapi.ContractError, match="not a supported type"):
        seekapi.worker(_takes(set[int]))


def test_pydantic_models_as_json_strictly_by_alias_and_checked_after_mutation(
    configured: Backend,
) -> None:
    class Strict(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(strict=True)
        when: datetime.datetime
        pair: tuple[int, int]

    class Out(pydantic.BaseModel):
        total_count: int = pydantic.Field(alias="totalCount")

    def strict(data: Strict) -> Out:
        return Out(totalCount=data.pair[0] + data.pair[1])

    job = configured.create_job({"when": "2026-01-31T12:00:00Z", "pair": [1, 2]})
    assert _run(job, _typed(strict, Strict, Out))["ok"] is True
    assert job.result == {"totalCount": 3}

    def mutated(data: Strict) -> Out:
        out = Out(totalCount=1)
        out.total_count = "three"  # type: ignore[assignment]
        return out

    job = configured.create_job({"when": "2026-01-31T12:00:00Z", "pair": [1, 2]})
    assert _run(job, _typed(mutated, Strict, Out))["error"]["code"] == "INVALID_OUTPUT"
    assert job.result is None


def test_dataclasses_json_cannot_build_are_refused() -> None:
    @dataclasses.dataclass
    class WithInitVar:
        a: int
        scale: dataclasses.InitVar[int]

    @dataclasses.dataclass(init=False)
    class NoInit:
        a: int

    for cls in (WithInitVar, NoInit):
        with pytest.raises(seekapi.ContractError):
            seekapi.worker(_takes(cls))


def test_enum_results_must_be_members(configured: Backend) -> None:
    def plain(data: dict[str, int]) -> Plan:
        return "pro"  # type: ignore[return-value]

    job = configured.create_job({"a": 1})
    assert _run(job, plain)["error"]["details"] == [
        {"path": "", "message": 'expected a member of Plan, got "pro"'}
    ]


def test_create_job_checks_what_will_be_served(configured: Backend) -> None:
    def pair(data: dict[str, tuple[int, int]]) -> None:
        return None

    configured.create_job(raw_input=b'{"p": [1, 2]}', check=pair)
    configured.create_job({"p": (1, 2)}, check=pair)  # served as a JSON array
    with pytest.raises(seekapi.InvalidValue):
        configured.create_job(raw_input=b'{"p": [1]}', check=pair)


def test_run_given_a_worker_handler_runs_its_function(configured: Backend) -> None:
    job = configured.create_job(GOOD)
    assert _run(job, seekapi.worker(price))["ok"] is True
    assert job.result is not None


def test_an_inherited_call_is_checked(configured: Backend) -> None:
    job = configured.create_job("not a list")
    assert _run(job, Child())["error"]["code"] == "INVALID_INPUT"
    assert seekapi.schema(Child())["input"]["type"] == "array"


def test_only_the_two_annotations_that_matter_must_resolve(configured: Backend) -> None:
    def work(numbers: list[int], log: NotImported | None = None) -> int:  # type: ignore[name-defined]  # noqa: F821
        return sum(numbers)

    job = configured.create_job(["x"])
    assert _run(job, work)["error"]["code"] == "INVALID_INPUT"


def test_worker_refuses_what_run_could_not_call() -> None:
    def two(x: int, y: int) -> int:
        return x + y

    with pytest.raises(seekapi.ContractError, match="y would have no value"):
        seekapi.worker(two)  # type: ignore[arg-type]  # mypy sees it too
    with pytest.raises(seekapi.ContractError, match="is a class"):
        seekapi.worker(Order)  # type: ignore[arg-type]
    with pytest.raises(seekapi.UsageError, match="safety_margin"):
        seekapi.worker(safety_margin="x")(price)  # type: ignore[call-overload]


def _takes(tp: object) -> Any:
    def fn(data: Any) -> None:
        return None

    fn.__annotations__ = {"data": tp, "return": None}
    return fn


def _typed(fn: Any, input_type: object, output_type: object) -> Any:
    fn.__annotations__ = {"data": input_type, "return": output_type}
    return fn
