"""Type annotation → :class:`~seekapi._contract_types.Node`: one builder per kind of type.

Each builder returns closures made once per compile, so validating a value runs no
type inspection. The rules they follow are written in ``seekapi._contract``.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import types
import typing
import uuid

from ._contract_scalars import (
    any_node,
    boolean_node,
    date_node,
    datetime_node,
    decimal_node,
    float_node,
    integer_node,
    null_node,
    string_node,
    time_node,
    uuid_node,
)
from ._contract_types import (
    BAD,
    ContractError,
    Field,
    Full,
    Node,
    json_kind,
    report,
    shown,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._contract_types import Check, Location, Problems

__all__ = ["build"]


_BARE: dict[object, tuple[object, ...]] = {
    list: (typing.Any,),
    dict: (str, typing.Any),
    tuple: (typing.Any, Ellipsis),
}


def _type_name(tp: object) -> str:
    if isinstance(tp, type):
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


def _is_typeddict(tp: type) -> bool:
    # typing_extensions' TypedDict (used before 3.11 for Required) is not typing's.
    return typing.is_typeddict(tp) or (
        issubclass(tp, dict) and hasattr(tp, "__required_keys__") and hasattr(tp, "__total__")
    )


class _Builder:
    """One compile: the classes being compiled (to refuse recursion) and those done."""

    def __init__(self) -> None:
        self.active: set[object] = set()
        self.done: dict[object, Node] = {}

    def fail(self, tp: object, where: str, why: str) -> ContractError:
        return ContractError(f"{_type_name(tp)} at {where}: {why}")

    def build(self, tp: object, where: str) -> Node:
        if isinstance(tp, (str, typing.ForwardRef)):
            return self._raise(tp, where, "a string annotation that was not resolved")
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            return self._annotated(tp, where)
        if tp is typing.Any:
            return any_node()
        if tp is str:
            return string_node(None, where)
        if tp is bool:
            return boolean_node()
        if tp is int:
            return integer_node(None)
        if tp is float:
            return float_node(None)
        if tp is None or tp is type(None):
            return null_node()
        if tp is datetime.datetime:
            return datetime_node()
        if tp is datetime.date:
            return date_node()
        if tp is datetime.time:
            return time_node()
        if tp is uuid.UUID:
            return uuid_node()
        if tp is decimal.Decimal:
            return decimal_node()
        if origin in (list, tuple, dict) or tp in (list, tuple, dict):
            return self._container(tp, origin, where)
        if origin is typing.Literal:
            return _literal(typing.get_args(tp), tp, where)
        if origin is typing.Union or origin is types.UnionType:
            args = typing.get_args(tp)
            return _union([self.build(arg, f"{where}|{_type_name(arg)}") for arg in args])
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum(tp, where)
        supertype = getattr(tp, "__supertype__", None)
        if supertype is not None:
            return self.build(supertype, where)
        value = getattr(tp, "__value__", None)
        if value is not None and type(tp).__name__ == "TypeAliasType":
            if tp in self.active:
                return self._raise(tp, where, "a recursive type alias is not supported")
            self.active.add(tp)
            try:
                return self.build(value, where)
            finally:
                self.active.discard(tp)
        if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or _is_typeddict(tp)):
            return self._object(tp, where)
        return self._raise(tp, where, "not a supported type")

    def _raise(self, tp: object, where: str, why: str) -> Node:
        raise self.fail(tp, where, why)

    def _annotated(self, tp: object, where: str) -> Node:
        base, *extras = typing.get_args(tp)
        fields = [extra for extra in extras if isinstance(extra, Field)]
        if len(fields) > 1:
            raise self.fail(tp, where, "more than one seekapi Field")
        if not fields:
            return self.build(base, where)
        field = fields[0]
        if base is str:
            node = string_node(field, where)
        elif base is int and not isinstance(base, bool):
            node = integer_node(field)
        elif base is float:
            node = float_node(field)
        else:
            node = self.build(base, where)
            if any(getattr(field, name) is not None for name in ("ge", "gt", "le", "lt")):
                raise self.fail(tp, where, "ge/gt/le/lt apply to int and float only")
            if field.pattern is not None:
                raise self.fail(tp, where, "pattern applies to str only")
            if field.min_length is not None or field.max_length is not None:
                node = _sized(node, field, tp, where, self)
        # The node may be shared (a dataclass compiled once): document a copy of it.
        node = Node(
            node.check, node.dump, dict(node.schema), node.kinds, node.describe, fast=node.fast
        )
        _document(node, field, tp, where, self)
        return node

    def _container(self, tp: object, origin: object, where: str) -> Node:
        args = typing.get_args(tp)
        origin = origin or tp
        if (not args and origin is not tuple) or tp is tuple:
            # A bare container holds any JSON values (tuple[()] has an origin, no args).
            args = _BARE[origin]
        if origin is list:
            return _array(self.build(args[0], f"{where}[item]"), list)
        if origin is dict:
            if args[0] is not str:
                raise self.fail(tp, where, "JSON object keys are strings: use dict[str, T]")
            return _mapping(self.build(args[1], f"{where}[value]"))
        if len(args) == 2 and args[1] is Ellipsis:
            return _array(self.build(args[0], f"{where}[item]"), tuple)
        if args == ((),):
            args = ()
        return _fixed_tuple([self.build(arg, f"{where}[{i}]") for i, arg in enumerate(args)])

    def _object(self, cls: type, where: str) -> Node:
        if cls in self.done:
            return self.done[cls]
        if cls in self.active:
            raise self.fail(cls, where, "a recursive type, which contracts do not support")
        self.active.add(cls)
        try:
            try:
                hints = typing.get_type_hints(cls, include_extras=True)
            except Exception as exc:  # noqa: BLE001 (any failure to resolve is the user's)
                raise self.fail(cls, where, f"its annotations do not resolve ({exc})") from None
            if dataclasses.is_dataclass(cls):
                node = self._dataclass(cls, hints, where)
            else:
                node = self._typeddict(cls, hints, where)
        finally:
            self.active.discard(cls)
        self.done[cls] = node
        return node

    def _dataclass(self, cls: type, hints: dict[str, object], where: str) -> Node:
        params = getattr(cls, "__dataclass_params__", None)
        if params is not None and not getattr(params, "init", True):
            raise self.fail(cls, where, "a dataclass without __init__ (init=False)")
        for name, hint in hints.items():
            if isinstance(hint, dataclasses.InitVar):
                raise self.fail(cls, where, f"its InitVar {name} has no place in the JSON")
        specs: list[tuple[str, Node, bool]] = []
        defaults: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            node = self.build(hints[field.name], f"{where}.{field.name}")
            required = (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            specs.append((field.name, node, required))
            if field.default is not dataclasses.MISSING:
                defaults[field.name] = field.default
        schema = _object_schema(cls, specs, defaults)
        return _object_node(specs, schema, cls, dataclasses.is_dataclass)

    def _typeddict(self, cls: type, hints: dict[str, object], where: str) -> Node:
        required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
        specs: list[tuple[str, Node, bool]] = []
        for name, written in hints.items():
            required = name in required_keys
            hint = written
            origin = typing.get_origin(hint)
            # get_type_hints keeps the qualifiers when include_extras is true.
            while origin is not None and getattr(origin, "_name", None) in (
                "Required",
                "NotRequired",
                "ReadOnly",
            ):
                if origin._name == "Required":
                    required = True
                elif origin._name == "NotRequired":
                    required = False
                hint = typing.get_args(hint)[0]
                origin = typing.get_origin(hint)
            specs.append((name, self.build(hint, f"{where}.{name}"), required))
        schema = _object_schema(cls, specs, {})
        return _object_node(specs, schema, None, None)


def build(tp: object, where: str) -> Node:
    """Compile ``tp``; raise :class:`ContractError` naming it and ``where`` it is."""
    return _Builder().build(tp, where)


# -- documentation and sizes --------------------------------------------------------------


def _document(node: Node, field: Field, tp: object, where: str, builder: _Builder) -> None:
    if field.description is not None:
        node.schema["description"] = field.description
    if field.examples is not None:
        dumped = []
        for i, example in enumerate(field.examples):
            problems: Problems = []
            value = _safe(node.dump, example, problems)
            if value is BAD:
                raise builder.fail(tp, where, f"example {i} ({example!r}) does not fit the type")
            dumped.append(value)
        node.schema["examples"] = dumped


def _safe(check: Check, value: object, problems: Problems) -> object:
    try:
        return check(value, None, None, problems)
    except Full:
        return BAD


def _sized(node: Node, field: Field, tp: object, where: str, builder: _Builder) -> Node:
    kind = node.schema.get("type")
    if kind == "array":
        low_name, high_name, noun = "minItems", "maxItems", "item"
    elif kind == "object" and "properties" not in node.schema:
        low_name, high_name, noun = "minProperties", "maxProperties", "key"
    else:
        raise builder.fail(tp, where, "min_length/max_length apply to str, list, tuple, dict")
    low, high = field.min_length, field.max_length
    inner_check, inner_dump = node.check, node.dump

    def sized(inner: Check) -> Check:
        def check(
            value: object, parent: Location, key: str | int | None, problems: Problems
        ) -> object:
            result = inner(value, parent, key, problems)
            if result is BAD:
                return BAD
            count = len(value)  # type: ignore[arg-type]
            if low is not None and count < low:
                report(
                    problems,
                    parent,
                    key,
                    f"expected at least {low} {noun}{'' if low == 1 else 's'}, got {count}",
                )
                return BAD
            if high is not None and count > high:
                report(
                    problems,
                    parent,
                    key,
                    f"expected at most {high} {noun}{'' if high == 1 else 's'}, got {count}",
                )
                return BAD
            return result

        return check

    schema = dict(node.schema)
    if low is not None:
        schema[low_name] = max(low, int(schema.get(low_name, 0)))  # type: ignore[call-overload]
    if high is not None:
        schema[high_name] = high
    return Node(sized(inner_check), sized(inner_dump), schema, node.kinds, node.describe)


# -- choices ------------------------------------------------------------------------------


def _tag(value: object) -> tuple[str, object]:
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    return ("string", value)


def _choices(
    pairs: list[tuple[object, object]],
    schema: dict[str, object],
    describe: str,
    members_of: type | None = None,
) -> Node:
    """A node accepting each JSON value of ``pairs`` and returning its Python value; an
    output value must be one of the Python values (a member of ``members_of``, when
    given) or, for literals, the JSON value itself."""
    table = {_tag(json_value): python for json_value, python in pairs}
    back = {id(python): json_value for json_value, python in pairs}
    flat_kinds = frozenset(
        kind
        for json_value, _python in pairs
        for kind in (
            ("integer", "number") if _tag(json_value)[0] == "number" else (_tag(json_value)[0],)
        )
    )

    def check(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        if value is None or isinstance(value, (bool, int, float, str)):
            try:
                return table[_tag(value)]
            except (KeyError, TypeError):
                pass
        report(problems, parent, key, f"expected {describe}, got {shown(value)}")
        return BAD

    def dump(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        if id(value) in back:
            return back[id(value)]
        if members_of is None:
            result = _safe(check, value, [])
            if result is not BAD:
                return back[id(result)]
            expected = describe
        else:
            expected = f"a member of {members_of.__qualname__}"
        report(problems, parent, key, f"expected {expected}, got {shown(value)}")
        return BAD

    return Node(check, dump, schema, flat_kinds, describe)


def _json_scalar(value: object) -> bool:
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))  # noqa: PLR0124
    return value is None or isinstance(value, (bool, int, str))


def _literal(args: tuple[object, ...], tp: object, where: str) -> Node:
    pairs: list[tuple[object, object]] = []
    for arg in args:
        if isinstance(arg, enum.Enum):
            json_value = arg.value
        elif isinstance(arg, (bool, int, str)) or arg is None:
            json_value = arg
        else:
            raise ContractError(
                f"{_type_name(tp)} at {where}: Literal values must be str, int, bool or None"
            )
        if not _json_scalar(json_value):
            raise ContractError(f"{_type_name(tp)} at {where}: {arg!r} has no JSON value")
        pairs.append((json_value, arg))
    values = [j for j, _ in pairs]
    schema: dict[str, object] = {"const": values[0]} if len(values) == 1 else {"enum": values}
    return _choices(pairs, schema, "one of " + ", ".join(shown(v) for v in values))


def _enum(cls: type[enum.Enum], where: str) -> Node:
    pairs: list[tuple[object, object]] = []
    for member in cls:
        if not _json_scalar(member.value):
            raise ContractError(
                f"{cls.__qualname__} at {where}: the value of {member!r} is not a JSON scalar"
            )
        pairs.append((member.value, member))
    values = [j for j, _ in pairs]
    schema: dict[str, object] = {"title": cls.__qualname__, "enum": values}
    if (
        cls.__doc__
        and cls.__doc__ != enum.Enum.__doc__
        and not cls.__doc__.startswith("An enumeration")
    ):
        schema["description"] = cls.__doc__.strip()
    return _choices(pairs, schema, f"one of {', '.join(shown(v) for v in values)}", cls)


def _union(nodes: list[Node]) -> Node:
    describe = " or ".join(node.describe for node in nodes)
    schema: dict[str, object] = {"anyOf": [node.schema for node in nodes]}

    def choose(use_dump: bool) -> Check:
        checks = [(node.dump if use_dump else node.check, node.kinds) for node in nodes]

        def check(
            value: object, parent: Location, key: str | int | None, problems: Problems
        ) -> object:
            tried: list[tuple[frozenset[str], Problems]] = []
            for inner, kinds in checks:
                mine: Problems = []
                try:
                    result = inner(value, parent, key, mine)
                except Full:
                    result = BAD
                if result is not BAD:
                    return result
                tried.append((kinds, mine))
            kind = json_kind(value)
            fitting = [mine for kinds, mine in tried if kind in kinds]
            if len(fitting) == 1:
                for where_parent, where_key, message in fitting[0]:
                    report(problems, where_parent, where_key, message)
            else:
                report(problems, parent, key, f"expected {describe}, got {shown(value)}")
            return BAD

        return check

    kinds = frozenset(kind for node in nodes for kind in node.kinds)
    return Node(choose(False), choose(True), schema, kinds, describe)


# -- containers ---------------------------------------------------------------------------


def _array(item: Node, kind: type) -> Node:
    schema: dict[str, object] = {"type": "array", "items": item.schema}
    fast = item.fast

    def make(inner: Check, output: bool) -> Check:
        accepted = (list, tuple) if output else list

        def check(
            value: object, parent: Location, key: str | int | None, problems: Problems
        ) -> object:
            if not isinstance(value, accepted):
                report(problems, parent, key, f"expected an array, got {shown(value)}")
                return BAD
            if fast is not None and all(type(x) is fast for x in value):
                out = list(value)
            else:
                here = (parent, key)
                out = [inner(x, here, i, problems) for i, x in enumerate(value)]
                if any(item is BAD for item in out):
                    return BAD
            return out if output or kind is list else tuple(out)

        return check

    return Node(
        make(item.check, False), make(item.dump, True), schema, frozenset({"array"}), "an array"
    )


def _fixed_tuple(items: list[Node]) -> Node:
    count = len(items)
    schema: dict[str, object] = {"type": "array", "minItems": count, "maxItems": count}
    if items:
        schema["prefixItems"] = [item.schema for item in items]

    def make(checks: list[Check], output: bool) -> Check:
        accepted = (list, tuple) if output else list

        def check(
            value: object, parent: Location, key: str | int | None, problems: Problems
        ) -> object:
            if not isinstance(value, accepted):
                report(problems, parent, key, f"expected an array of {count}, got {shown(value)}")
                return BAD
            if len(value) != count:
                report(
                    problems, parent, key, f"expected an array of {count}, got {len(value)} items"
                )
                return BAD
            here = (parent, key)
            out = [
                inner(x, here, i, problems)
                for i, (inner, x) in enumerate(zip(checks, value, strict=True))
            ]
            if any(item is BAD for item in out):
                return BAD
            return out if output else tuple(out)

        return check

    return Node(
        make([item.check for item in items], False),
        make([item.dump for item in items], True),
        schema,
        frozenset({"array"}),
        f"an array of {count}",
    )


def _mapping(item: Node) -> Node:
    schema: dict[str, object] = {"type": "object", "additionalProperties": item.schema}

    def make(inner: Check, output: bool) -> Check:
        def check(
            value: object, parent: Location, key: str | int | None, problems: Problems
        ) -> object:
            if not isinstance(value, dict):
                report(problems, parent, key, f"expected an object, got {shown(value)}")
                return BAD
            here = (parent, key)
            out = {}
            bad = False
            for name, x in value.items():
                if not isinstance(name, str):
                    report(problems, here, str(name), f"expected a string key, got {shown(name)}")
                    bad = True
                    continue
                result = inner(x, here, name, problems)
                bad = bad or result is BAD
                out[name] = result
            return BAD if bad else out

        return check

    return Node(
        make(item.check, False), make(item.dump, True), schema, frozenset({"object"}), "an object"
    )


def _object_schema(
    cls: type, specs: list[tuple[str, Node, bool]], defaults: dict[str, object]
) -> dict[str, object]:
    properties: dict[str, object] = {}
    for name, node, _required in specs:
        prop = node.schema
        if name in defaults:
            dumped = _safe(node.dump, defaults[name], [])
            if dumped is not BAD:
                prop = {**prop, "default": dumped}
        properties[name] = prop
    schema: dict[str, object] = {
        "title": cls.__qualname__,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    doc = cls.__doc__
    if doc and not doc.startswith(f"{cls.__name__}(") and doc != dict.__doc__:
        schema["description"] = doc.strip()
    required = [name for name, _node, needed in specs if needed]
    if required:
        schema["required"] = required
    return schema


_ABSENT = object()


def _object_node(
    specs: list[tuple[str, Node, bool]],
    schema: dict[str, object],
    cls: type | None,
    is_instance: typing.Callable[[object], bool] | None,
) -> Node:
    names = [name for name, _node, _req in specs]
    allowed = ", ".join(names) or "none"
    known = frozenset(names)
    title = schema["title"]

    def make(output: bool) -> Check:
        fields = [
            (name, node.dump if output else node.check, req, node.fast) for name, node, req in specs
        ]
        build_it = cls if (cls is not None and not output) else None

        def check(
            value: object, parent: Location, key: str | int | None, problems: Problems
        ) -> object:
            if output and is_instance is not None:
                if not (is_instance(value) and isinstance(value, cls)):  # type: ignore[arg-type]
                    article = "an" if str(title)[:1].lower() in "aeiou" else "a"
                    report(problems, parent, key, f"expected {article} {title}, got {shown(value)}")
                    return BAD
                source: dict[str, object] = {name: getattr(value, name) for name in names}
            elif isinstance(value, dict):
                source = value
            else:
                report(problems, parent, key, f"expected an object ({title}), got {shown(value)}")
                return BAD
            here = (parent, key)
            out = {}
            bad = False
            found = 0
            get = source.get
            for name, inner, required, fast in fields:
                item = get(name, _ABSENT)
                if item is _ABSENT:
                    if required:
                        report(problems, here, name, f"required by {title}, missing")
                        bad = True
                    continue
                found += 1
                if type(item) is fast:
                    out[name] = item
                    continue
                result = inner(item, here, name, problems)
                if result is BAD:
                    bad = True
                else:
                    out[name] = result
            if found != len(source):
                for name in source:
                    if name not in known:
                        report(
                            problems, here, name, f"unknown key for {title} (allowed: {allowed})"
                        )
                bad = True
            if bad:
                return BAD
            if build_it is None:
                return out
            try:
                return build_it(**out)
            except (TypeError, ValueError) as exc:
                report(problems, parent, key, f"refused by {title}: {exc}")
                return BAD

        if output:
            return check
        return _happy_path(fields, build_it, check, str(title)) or check

    return Node(make(False), make(True), schema, frozenset({"object"}), f"an object ({title})")


def _happy_path(
    fields: list[tuple[str, Check, bool, type | None]],
    build_it: typing.Callable[..., object] | None,
    general: Check,
    title: str,
) -> Check | None:
    """An input check for an object whose every field is present, written out as one
    function (no loop, no intermediate dict); anything else goes to ``general``, which
    finds and reports the problems. ``None`` when a name cannot be a keyword argument."""
    import keyword

    if not fields:
        return None
    if build_it is not None and not all(
        name.isidentifier() and not keyword.iskeyword(name) for name, *_ in fields
    ):
        return None
    namespace: dict[str, object] = {"BAD": BAD, "general": general, "build": build_it}
    lines = [
        "def check(value, parent, key, problems):",
        f"    if type(value) is not dict or len(value) != {len(fields)}:",
        "        return general(value, parent, key, problems)",
        "    here = (parent, key)",
        "    mark = len(problems)",
        "    try:",
        *(f"        v{i} = value[{name!r}]" for i, (name, *_) in enumerate(fields)),
        "    except KeyError:",
        "        return general(value, parent, key, problems)",
    ]
    for i, (name, inner, _required, fast) in enumerate(fields):
        namespace[f"c{i}"] = inner
        indent = "    "
        if fast is not None:
            namespace[f"f{i}"] = fast
            lines.append(f"    if type(v{i}) is not f{i}:")
            indent = "        "
        lines += [
            f"{indent}v{i} = c{i}(v{i}, here, {name!r}, problems)",
            f"{indent}if v{i} is BAD:",
            f"{indent}    del problems[mark:]",
            f"{indent}    return general(value, parent, key, problems)",
        ]
    if build_it is None:
        items = ", ".join(f"{name!r}: v{i}" for i, (name, *_) in enumerate(fields))
        lines.append(f"    return {{{items}}}")
    else:
        arguments = ", ".join(f"{name}=v{i}" for i, (name, *_) in enumerate(fields))
        lines += [
            "    try:",
            f"        return build({arguments})",
            "    except (TypeError, ValueError):",
            "        return general(value, parent, key, problems)",
        ]
    code = compile("\n".join(lines) + "\n", f"<seekapi contract {title}>", "exec")
    exec(code, namespace)  # noqa: S102 - source made here from field names, each repr()'d
    function: Check = namespace["check"]  # type: ignore[assignment]
    return function
