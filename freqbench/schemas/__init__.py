"""The JSON Schemas shipped with the package, and problems reported as ``key: message`` lines.

One schema set covers the two kinds of files a submission adds: model-zoo entries
(``zoo_entry``) and evaluation records (``record``; ``record-v1`` is the first format, still
read). The record schema's ``protocol`` and ``metrics`` are completed from the registered
metrics by :func:`freqbench.records.record_schema`. Both the zoo loader and the record reader
use :func:`problems`, so ``freqbench validate`` and a failed load say the same thing.
A schema node may carry ``x-message``: a sentence that replaces jsonschema's generic text
(which, for ``oneOf`` or ``pattern``, would not tell the user what to write).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

SCHEMAS = ("record", "record-v1", "zoo_entry")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``<name>.schema.json`` shipped in this package."""
    if name not in SCHEMAS:
        raise KeyError(f"unknown schema '{name}'; known: {', '.join(SCHEMAS)}")
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of a schema built at run time (see :func:`problems`)."""
    return Draft202012Validator(schema)


def key_path(parts: Any) -> str:
    """``("metrics", "clean", "accuracy")`` -> ``metrics.clean.accuracy``; list indices as ``[0]``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


def _describe(error: ValidationError) -> list[str]:
    """One line per problem; a missing key is named as the key itself."""
    where = list(error.absolute_path)
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [f"{key_path([*where, k])}: missing required key" for k in missing]
    if error.validator == "dependentRequired":
        return [
            f"{key_path([*where, k])}: missing required key (needed with '{prop}')"
            for prop, needs in error.validator_value.items()
            if prop in error.instance
            for k in needs
            if k not in error.instance
        ]
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known)
        return [
            f"{key_path([*where, k])}: unknown key (known: {', '.join(sorted(known))})"
            for k in extra
        ]
    message = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    if message is None and error.validator in ("anyOf", "oneOf") and error.context:
        return _describe(best_match(error.context))  # the branch the user most likely meant
    return [f"{key_path(where)}: {message or error.message}"]


def schema_problems(name: str, data: Any) -> list[str]:
    """Every way ``data`` breaks schema ``name``, as sorted, de-duplicated ``key: problem`` lines."""
    return problems(_validator(name), data)


def problems(checker: Draft202012Validator, data: Any) -> list[str]:
    """Every way ``data`` breaks ``checker``'s schema, as sorted ``key: problem`` lines."""
    lines: set[str] = set()
    for error in checker.iter_errors(data):
        lines.update(_describe(error))
    return sorted(lines)
