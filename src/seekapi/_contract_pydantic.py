"""A contract side validated by pydantic v2: used only for types that need pydantic.

Loaded only when a worker's annotation is a pydantic model, a pydantic dataclass, or a
type seekapi cannot compile while pydantic is already imported; it never imports
pydantic for a worker that does not use it. Pydantic's own rules apply (its lax mode:
``"3"`` is accepted for an ``int``), and its own JSON Schema describes the type.
"""

from __future__ import annotations

from typing import Any

from .errors import ContractError, InvalidValue

__all__ = ["PydanticSide", "adapt"]

_MAX_PROBLEMS = 20


class PydanticSide:
    """One side of a contract held by a ``pydantic.TypeAdapter``."""

    __slots__ = ("_adapter", "_errors", "_output", "annotation")

    def __init__(self, annotation: object, adapter: Any, errors: type[Exception], output: bool):
        self.annotation = annotation
        self._adapter = adapter
        self._errors = errors
        self._output = output

    def validate(self, value: object) -> object:
        """The value as pydantic converts it from JSON (its JSON mode, so a strict model
        takes a date-time string); :class:`InvalidValue` if pydantic refuses it."""
        import json

        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            text = None
        try:
            if text is None:
                return self._adapter.validate_python(value)
            return self._adapter.validate_json(text)
        except self._errors as exc:
            raise _invalid(exc) from None

    def dump(self, value: object) -> object:
        """An output value checked by pydantic and dumped as JSON data, by alias, as the
        schema names the fields; a model whose fields were changed to values of the wrong
        type after it was made is refused too."""
        try:
            checked = self._adapter.validate_python(value)
        except self._errors as exc:
            raise _invalid(exc) from None
        try:
            return self._adapter.dump_python(checked, mode="json", by_alias=True, warnings="error")
        except Exception as exc:  # noqa: BLE001 - pydantic's serialization errors
            message = "cannot be written as its type: " + " ".join(str(exc).split())
            raise InvalidValue([{"path": "", "message": message[:200]}]) from None

    def schema(self) -> dict[str, object]:
        """Pydantic's JSON Schema (draft 2020-12) for this side."""
        mode = "serialization" if self._output else "validation"
        body: dict[str, object] = self._adapter.json_schema(mode=mode)
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", **body}


def adapt(
    annotation: object, where: str, *, output: bool, seekapi_reason: str | None = None
) -> PydanticSide:
    """A :class:`PydanticSide` for ``annotation``; :class:`ContractError` if pydantic
    cannot handle it either (the message gives both reasons)."""
    import pydantic

    try:
        adapter: Any = pydantic.TypeAdapter(annotation)  # type: ignore[arg-type]
        adapter.json_schema()
    except Exception as exc:  # noqa: BLE001 - pydantic's schema errors have no common base
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if seekapi_reason is not None:
            raise ContractError(f"{seekapi_reason} (nor can pydantic: {reason})") from None
        raise ContractError(f"{where}: {reason}") from None
    return PydanticSide(annotation, adapter, pydantic.ValidationError, output)


def _invalid(exc: Exception) -> InvalidValue:
    errors: list[dict[str, Any]] = exc.errors(include_url=False)  # type: ignore[attr-defined]
    details = [
        {"path": _pointer(error.get("loc", ())), "message": _message(error)}
        for error in errors[:_MAX_PROBLEMS]
    ]
    return InvalidValue(details, truncated=len(errors) > _MAX_PROBLEMS)


def _pointer(loc: tuple[object, ...]) -> str:
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in loc)


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "missing":
        return message
    text = repr(error.get("input"))
    if len(text) > 40:
        text = text[:40] + "…"
    return f"{message}, got {text}"
