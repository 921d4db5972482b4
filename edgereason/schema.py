"""Every file edgereason reads, checked against one JSON Schema before any of it is used.

The schemas live in `edgereason/schemas/*.schema.json`: the single statement of each file format's
fields and bounds, read here with jsonschema and by the C++ runner and the Java core with their own
small interpreters of the same keyword subset. Parsing is strict in the same way everywhere: UTF-8,
no NaN/Infinity, no number that overflows a double, an "integer" is written without a fraction.
"""

import functools
import json
import math
import re
from pathlib import Path
from typing import Any

from edgereason.errors import UsageError

SCHEMA_DIR = Path(__file__).with_name("schemas")
MAX_FILE_BYTES = 64 << 20  # manifests, calibrators and configs are kilobytes; refuse to parse a 10 GB "json"


class SchemaError(UsageError):
    """A file that is not valid JSON of its format; the message names the file, the field and the fix."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} overflows a double")
    return value


def parse(text: str) -> Any:
    """JSON text → Python values, refusing what the C++ and Java parsers refuse (NaN, Infinity, 1e999).

    Raises:
        ValueError: not strict JSON (json.JSONDecodeError is a ValueError).
    """
    data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    _check_strings(data)
    return data


def _check_strings(value: Any) -> None:
    """Refuse the lone surrogates (\\ud800) that Python's json accepts and C++ and Java readers do not."""
    if isinstance(value, str):
        if not value.isascii():
            value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for a lone surrogate
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)


def dumps(data: Any, **kwargs: Any) -> str:
    """JSON text that `parse` and the other languages accept: NaN is written as null, never as a bare NaN."""
    return json.dumps(_nan_to_none(data), allow_nan=False, **kwargs)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value


def read_json(path: Path, *, what: str, fix: str, error: type[UsageError] = SchemaError) -> Any:
    """Read and strictly parse a JSON file; one line naming the file and `fix` for anything wrong.

    Args:
        path: the file.
        what: what the file should be, for the message ("an artifact manifest").
        fix: what the user should do ("re-export the artifact").
        error: the UsageError subclass to raise (ArtifactError for artifact folders).
    """
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise error(f"{path}: {path.stat().st_size} bytes is too large for {what}: {fix}")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path} does not exist: {fix}") from None
    except IsADirectoryError:
        raise error(f"{path} is a folder, not {what}: {fix}") from None
    except OSError as e:
        raise error(f"cannot read {path} ({e.strerror}): {fix}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{path} is not UTF-8 text (byte {e.start}), not {what}: {fix}") from None
    return parse_document(text, str(path), what=what, fix=fix, error=error)


def parse_document(text: str, label: str, *, what: str, fix: str, error: type[UsageError] = SchemaError) -> Any:
    """`parse`, with one line naming `label` and `fix` for text that is not strict JSON."""
    try:
        return parse(text)
    except RecursionError:
        raise error(f"{label} is nested too deeply to be {what}: {fix}") from None
    except ValueError as e:
        raise error(f"{label} is not valid JSON ({str(e)[:120]}): {fix}") from None


@functools.cache
def schema(name: str) -> dict:
    """The parsed `schemas/<name>.schema.json`."""
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


@functools.cache
def _validator(name: str):
    import jsonschema

    base = jsonschema.Draft202012Validator
    # JSON's "integer" here means written without a fraction: 2.0 and 1e30 are not token ids, and the C++
    # and Java readers see them as floating point too. Booleans are never numbers.
    checker = base.TYPE_CHECKER.redefine_many({
        "integer": lambda _, v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda _, v: isinstance(v, int | float) and not isinstance(v, bool),
    })
    cls = jsonschema.validators.extend(base, type_checker=checker, validators={"pattern": _pattern})
    return cls(schema(name))


@functools.cache
def _compiled(pattern: str) -> re.Pattern:
    # JSON Schema patterns are ECMA-262, where `$` is the end of the string; Python's `$` also matches before a
    # final newline, which would let "model.pte\n" pass as a file name (and the C++ reader refuse it).
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern)


def _pattern(validator, pattern: str, instance, _schema):
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def field_path(parts) -> str:
    """('files', 'a', 'bytes') → "files.a.bytes"; list indices as [i]."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _problem(error) -> tuple[list, str]:
    """(path of the offending field, what is wrong with it) for one jsonschema error."""
    parts, value, kind = list(error.absolute_path), error.instance, error.validator
    shown = json.dumps(value)[:60] if not isinstance(value, dict | list) else type(value).__name__
    if "propertyNames" in error.schema_path:
        return parts, f"file name {shown} is not a plain relative path inside the folder"
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value]
        return [*parts, missing[0]], "is missing"
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        extra = [k for k in value if k not in known]
        return [*parts, extra[0]], "is not a known field"
    if kind == "type":
        return parts, f"{shown} is not of type {' or '.join(_as_list(error.validator_value))}"
    if kind in ("enum", "const"):
        allowed = error.validator_value if kind == "enum" else [error.validator_value]
        return parts, f"{shown} is not one of {', '.join(json.dumps(a) for a in allowed)}"
    if kind == "pattern":
        return parts, f"{shown} has the wrong form"
    bounds = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<",
              "minItems": "items >=", "maxItems": "items <=", "minLength": "length >=", "maxLength": "length <=",
              "minProperties": "fields >=", "maxProperties": "fields <="}
    if kind in bounds:
        return parts, f"{shown} is out of range (must have {bounds[kind]} {error.validator_value})"
    return parts, error.message[:120]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def validate(data: Any, name: str, *, label: str, fix: str, error: type[UsageError] = SchemaError) -> None:
    """Check `data` against `schemas/<name>.schema.json`; raise `error` naming `label`, the field and `fix`."""
    import jsonschema

    found = jsonschema.exceptions.best_match(_validator(name).iter_errors(data))
    if found is None:
        return
    parts, problem = _problem(found)
    sep = " " if problem.startswith("is ") else ": "
    raise error(f"{label}: {field_path(parts)}{sep}{problem}: {fix}")
