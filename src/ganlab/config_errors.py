"""A config that does not validate, said in one line: which key, what it expects, what it got,
and a value known to be valid in the syntax to type (`--set KEY=VALUE`).

Written here rather than shown as pydantic's own report, which spans lines, names the model's
internals and gives no fix; ganlab.config calls `one_line` on its ValidationError.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError


def _section(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model (config section) that holds ``loc``'s last key, None where loc leaves the
    nested models (a list's item, a plain value's part)."""
    model = root
    for part in loc[:-1]:
        annotation = getattr(model.model_fields.get(str(part)), "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _field_default(root: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The default of the field at ``loc`` (None where loc is not a plain field)."""
    section = _section(root, loc)
    field = None if section is None else section.model_fields.get(str(loc[-1]))
    return None if field is None else field.get_default(call_default_factory=True)


def _example(root: type[BaseModel], key: str, loc: tuple[Any, ...]) -> str:
    """`--set KEY=DEFAULT (the default)`: a value known to be valid, in the syntax to type."""
    default = _field_default(root, loc)
    if isinstance(default, BaseModel):
        return f"--set {key}=..."
    if isinstance(default, list):  # no spaces: the shell would split the item
        text = "[" + ",".join(map(str, default)) + "]"
    else:
        text = yaml.safe_dump(default).strip().removesuffix("...").strip()
    return f"--set {key}={text} (the default)"


def one_line(
    error: ValidationError,
    root: type[BaseModel],
    origin: str,
    set_items: dict[str, str] | None = None,
) -> str:
    """pydantic's report on validating `root` as one line: the key, what it expects, what it
    got, and a valid value to type (from `origin`, a file or preset, or the --set item that
    set the key: `set_items`, key -> item)."""
    err = error.errors()[0]
    loc = tuple(p for p in err["loc"] if not isinstance(p, int))
    key = ".".join(str(p) for p in loc) or "config"
    if err["type"] == "extra_forbidden":
        section = _section(root, loc)
        names = list(section.model_fields) if section is not None else []
        near = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.5)
        hint = (
            f"did you mean '{'.'.join([*map(str, loc[:-1]), near[0]])}'?"
            if near
            else ("run `ganlab presets --fields` to list the valid keys")
        )
        return f"unknown config key '{key}' in {origin}; {hint}"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "value_error" or not loc:
        return f"invalid config in {origin}: {msg}"
    # pydantic's "Input should be a valid integer": say what the key expects, then what it got
    expected = msg.removeprefix("Input should be ")
    if expected.startswith(("greater", "less")):
        expected = f"a number {expected}"
    expected = f"expected {expected}" if expected != msg else msg
    seen = err.get("input")
    item = (set_items or {}).get(key)
    if item is not None:  # the user just typed this value: show the item and a valid one
        return (
            f"invalid value for '{key}' in --set {item}: {expected}, got {seen!r}; "
            f"pass a valid value, e.g. {_example(root, key, loc)}"
        )
    return (
        f"invalid value for '{key}' in {origin}: {expected}, got {seen!r}; "
        f"fix it there or override it, e.g. {_example(root, key, loc)}"
    )
