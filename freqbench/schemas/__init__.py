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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema loads when a document is checked, not when a name is
    from jsonschema import Draft202012Validator, ValidationError

SCHEMAS = ("record", "record-v1", "zoo_entry")
MAX_PROBLEMS = 50  # problems reported per document


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``<name>.schema.json`` shipped in this package."""
    if name not in SCHEMAS:
        raise KeyError(f"unknown schema '{name}'; known: {', '.join(SCHEMAS)}")
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator(name: str) -> Draft202012Validator:
    return validator(load_schema(name))


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of a schema built at run time (see :func:`problems`)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema)


def key_path(parts: Any) -> str:
    """``("metrics", "clean", "accuracy")`` -> ``metrics.clean.accuracy``; list indices as ``[0]``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


Located = tuple[tuple[Any, ...], str]  # (where in the document, the problem there)


def _describe(error: ValidationError) -> list[Located]:
    """One problem per key; a missing key is named as the key itself."""
    where = tuple(error.absolute_path)
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [((*where, k), "missing required key") for k in missing]
    if error.validator == "dependentRequired":
        return [
            ((*where, k), f"missing required key (needed with '{prop}')")
            for prop, needs in error.validator_value.items()
            if prop in error.instance
            for k in needs
            if k not in error.instance
        ]
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known)
        return [((*where, k), f"unknown key (known: {', '.join(sorted(known))})") for k in extra]
    message = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    if message is None and error.validator in ("anyOf", "oneOf") and error.context:
        from jsonschema.exceptions import best_match

        return _describe(best_match(error.context))  # the branch the user most likely meant
    return [(where, message or _short(error.message))]


def _short(message: str) -> str:
    """jsonschema's message with a huge instance (a 3-million-number list) cut short."""
    return message if len(message) <= 300 else message[:300] + " ..."


def schema_problems(name: str, data: Any) -> list[str]:
    """Every way ``data`` breaks schema ``name``, as sorted, de-duplicated ``key: problem`` lines."""
    return problems(_validator(name), data)


def problems(checker: Draft202012Validator, data: Any) -> list[str]:
    """Every way ``data`` breaks ``checker``'s schema, as sorted ``key: problem`` lines."""
    return sorted({f"{key_path(where)}: {text}" for where, text in located_problems(checker, data)})


def located_problems(checker: Draft202012Validator, data: Any) -> list[Located]:
    """Every way ``data`` breaks ``checker``'s schema, each with where it is (a key path), so
    that a caller can tell a damaged part from a damaged whole."""
    found: dict[Located, None] = {}
    for error in checker.iter_errors(data):
        found.update(dict.fromkeys(_describe(error)))
        if len(found) >= MAX_PROBLEMS:  # a damaged array of a million numbers: enough said
            break
    return list(found)
