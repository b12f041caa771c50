"""From a tool's JSON Schema to form fields, without knowing any tool.

A tool's ``Params`` model is the single description of its parameters; the REST validation, the
CLI and these forms all read it, so a new tool gets a form without any widget code. This module
is pure (no widgets): it turns one schema property into a :class:`FieldSpec` and checks a value
against it, so the mapping rules can be tested without a kernel or a server.

Pydantic shapes handled: ``anyOf: [X, {"type": "null"}]`` (an optional field), ``$ref`` into
``$defs`` (enums), ``allOf: [{"$ref": ...}]`` (older pydantic), ``const`` (a one-value Literal),
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, ``pattern``, ``min/maxLength``,
arrays of scalars, and a ``unit`` (or ``x-unit``) put there with ``json_schema_extra``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FieldKind(StrEnum):
    """Which control a field gets; one rule of the form generator each."""

    ENUM = "enum"  # Dropdown
    BOOL = "bool"  # Checkbox
    SLIDER = "slider"  # number or integer with both bounds
    NUMBER = "number"  # number or integer box
    STRING = "string"  # Text
    ARRAY = "array"  # Text of comma-separated items


class _Missing:
    """The schema gives no default (distinct from a default of ``None``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class FieldSpec:
    """Everything the form needs to know about one parameter."""

    name: str
    kind: FieldKind
    type: str  # JSON type of the value: number, integer, string, boolean, array
    title: str
    description: str = ""
    unit: str | None = None
    default: Any = MISSING
    required: bool = False
    nullable: bool = False  # the field may be left empty (sent as null / omitted)
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    multiple_of: float | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    item_type: str | None = None  # for arrays
    min_items: int | None = None
    max_items: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The title with its unit, as a person reads it next to the control."""
        return f"{self.title} ({self.unit})" if self.unit else self.title

    @property
    def lower(self) -> float | None:
        return self.minimum if self.minimum is not None else self.exclusive_minimum

    @property
    def upper(self) -> float | None:
        return self.maximum if self.maximum is not None else self.exclusive_maximum

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING


def _resolve(prop: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$ref`` and single-element ``allOf`` so the rest sees one flat dict."""
    prop = dict(prop)
    if "allOf" in prop and len(prop["allOf"]) == 1:
        inner = prop.pop("allOf")[0]
        prop = {**_resolve(inner, root), **prop}
    ref = prop.pop("$ref", None)
    if isinstance(ref, str):
        target = _follow_ref(ref, root)
        prop = {**_resolve(target, root), **prop}
    return prop


def _follow_ref(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"schema reference {ref!r} is not local; only '#/...' references are supported")
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"schema reference {ref!r} points nowhere in this schema")
        node = node[part]
    return dict(node)


def _split_nullable(prop: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Pydantic writes ``X | None`` as ``anyOf: [X, {type: null}]``; return X and whether null is allowed."""
    prop = _resolve(prop, root)
    for key in ("anyOf", "oneOf"):
        options = prop.get(key)
        if not isinstance(options, list):
            continue
        resolved = [_resolve(o, root) for o in options]
        non_null = [o for o in resolved if o.get("type") != "null"]
        nullable = len(non_null) < len(resolved)
        outer = {k: v for k, v in prop.items() if k != key}
        if len(non_null) == 1:
            return {**non_null[0], **outer}, nullable
        if non_null and all("const" in o for o in non_null):
            return {**outer, "enum": [o["const"] for o in non_null]}, nullable
        # Several real types (e.g. ``str | list[str]``): the text box accepts the common one.
        return {**outer, "type": "string"}, nullable
    json_type = prop.get("type")
    if isinstance(json_type, list):
        types = [t for t in json_type if t != "null"]
        prop = {**prop, "type": types[0] if types else "string"}
        return prop, "null" in json_type
    return prop, False


def _title(name: str, prop: dict[str, Any], outer: dict[str, Any]) -> str:
    """A property that is a bare ``$ref`` carries the enum's title, not the field's: prefer the name."""
    if "title" in outer:
        return str(outer["title"])
    return name.replace("_", " ").strip().title()  # as pydantic titles fields


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def field_spec(
    name: str, prop: dict[str, Any], root: dict[str, Any] | None = None, required: bool = False
) -> FieldSpec:
    """Describe the property ``name`` of a schema (``root`` holds ``$defs`` for references)."""
    root = root or {}
    outer = dict(prop)
    flat, nullable = _split_nullable(prop, root)
    default = outer.get("default", flat.get("default", MISSING))
    if default is None:
        nullable = True
    choices: tuple[Any, ...] = ()
    if "enum" in flat:
        choices = tuple(flat["enum"])
    elif "const" in flat:
        choices = (flat["const"],)
    json_type = flat.get("type") or _type_of_choices(choices)
    lower = flat.get("minimum", flat.get("exclusiveMinimum"))
    upper = flat.get("maximum", flat.get("exclusiveMaximum"))
    if choices:
        kind = FieldKind.ENUM
    elif json_type == "boolean":
        kind = FieldKind.BOOL
    elif json_type in ("number", "integer"):
        bounded = _number(lower) is not None and _number(upper) is not None
        kind = FieldKind.SLIDER if bounded else FieldKind.NUMBER
    elif json_type == "array":
        kind = FieldKind.ARRAY
    else:
        kind, json_type = FieldKind.STRING, "string"
    items = _resolve(flat.get("items", {}), root) if json_type == "array" else {}
    return FieldSpec(
        name=name,
        kind=kind,
        type=str(json_type),
        title=_title(name, flat, outer),
        description=str(outer.get("description", flat.get("description", "")) or ""),
        unit=outer.get("unit", outer.get("x-unit", flat.get("unit", flat.get("x-unit")))),
        default=default,
        required=required,
        nullable=nullable,
        choices=choices,
        minimum=_number(flat.get("minimum")),
        maximum=_number(flat.get("maximum")),
        exclusive_minimum=_number(flat.get("exclusiveMinimum")),
        exclusive_maximum=_number(flat.get("exclusiveMaximum")),
        multiple_of=_number(flat.get("multipleOf")),
        pattern=flat.get("pattern"),
        min_length=flat.get("minLength"),
        max_length=flat.get("maxLength"),
        item_type=items.get("type", "string") if json_type == "array" else None,
        min_items=flat.get("minItems"),
        max_items=flat.get("maxItems"),
        extra={k: v for k, v in outer.items() if k.startswith("x-")},
    )


def _type_of_choices(choices: tuple[Any, ...]) -> str:
    if choices and all(isinstance(c, bool) for c in choices):
        return "boolean"
    if choices and all(isinstance(c, int) and not isinstance(c, bool) for c in choices):
        return "integer"
    if choices and all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices):
        return "number"
    return "string"


def form_specs(schema: dict[str, Any]) -> list[FieldSpec]:
    """One spec per property of an object schema, in the schema's order."""
    if schema.get("type", "object") != "object":
        raise ValueError(f"a parameter schema must describe an object, not {schema.get('type')!r}")
    required = set(schema.get("required", []))
    props = schema.get("properties", {}) or {}
    return [field_spec(name, prop, schema, name in required) for name, prop in props.items()]


def slider_step(spec: FieldSpec) -> float:
    """A step that gives about a hundred positions, or the schema's ``multipleOf``."""
    if spec.multiple_of:
        return spec.multiple_of
    if spec.type == "integer":
        return 1
    lo, hi = spec.lower, spec.upper
    span = (hi - lo) if lo is not None and hi is not None and hi > lo else 1.0
    return float(10 ** (math.floor(math.log10(span)) - 2))


def parse_text(spec: FieldSpec, text: str) -> Any:
    """Turn what a person typed into the value to send; ``None`` for an empty box.

    Raises ``ValueError`` with a message for the field when the text is not of the field's type.
    Integers accept ``0x`` hex because CAN addresses are written that way.
    """
    text = text.strip()
    if not text:
        return None
    if spec.kind is FieldKind.ARRAY:
        parts = [p.strip() for p in re.split(r"[,\s]+", text) if p.strip()]
        return [_parse_scalar(spec.item_type or "string", p) for p in parts]
    return _parse_scalar(spec.type, text)


def _parse_scalar(json_type: str, text: str) -> Any:
    if json_type == "integer":
        try:
            return int(text, 0)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if json_type == "number":
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{text!r} is not a finite number")
        return value
    if json_type == "boolean":
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    return text


def check_value(spec: FieldSpec, value: Any) -> str | None:
    """The client-side check: a message for the field, or ``None`` when the schema accepts the value.

    Only what the schema states is checked; rules the schema cannot express (``speed_min <=
    speed_max``, a DBC that must exist) stay with the server, whose 422 answer the form shows too.
    """
    if value is None:
        # Left empty: fine unless the schema lists the field as required (then the server has no default).
        return "This field is required." if spec.required and not spec.nullable else None
    if spec.kind is FieldKind.ENUM:
        if value not in spec.choices:
            return f"Choose one of {', '.join(map(str, spec.choices))}."
        return None
    if spec.kind is FieldKind.ARRAY:
        return _check_array(spec, value)
    if spec.type in ("number", "integer"):
        return _check_number(spec, value)
    if spec.type == "string":
        return _check_string(spec, str(value))
    return None


def _check_array(spec: FieldSpec, value: Any) -> str | None:
    if not isinstance(value, list):
        return "Enter a list of values separated by commas."
    if spec.min_items is not None and len(value) < spec.min_items:
        return f"Enter at least {spec.min_items} value(s)."
    if spec.max_items is not None and len(value) > spec.max_items:
        return f"Enter at most {spec.max_items} value(s)."
    return None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _check_number(spec: FieldSpec, value: Any) -> str | None:
    if spec.type == "integer" and not (isinstance(value, int) or float(value).is_integer()):
        return "Input should be a whole number."
    v = float(value)
    if spec.minimum is not None and v < spec.minimum:
        return f"Input should be greater than or equal to {_fmt(spec.minimum)}."
    if spec.exclusive_minimum is not None and v <= spec.exclusive_minimum:
        return f"Input should be greater than {_fmt(spec.exclusive_minimum)}."
    if spec.maximum is not None and v > spec.maximum:
        return f"Input should be less than or equal to {_fmt(spec.maximum)}."
    if spec.exclusive_maximum is not None and v >= spec.exclusive_maximum:
        return f"Input should be less than {_fmt(spec.exclusive_maximum)}."
    return None


def _check_string(spec: FieldSpec, value: str) -> str | None:
    if spec.min_length is not None and len(value) < spec.min_length:
        return f"Enter at least {spec.min_length} character(s)."
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"Enter at most {spec.max_length} character(s)."
    if spec.pattern:
        try:
            matches = re.search(spec.pattern, value) is not None
        except re.error:
            return None  # a pattern Python cannot read is left to the server
        if not matches:
            return f"Input should match the pattern {spec.pattern}."
    return None
