"""Reading a batch: JSONL or CSV rows, typed from the spec, checked, keyed, and planned.

Every row is checked with the validation ``generate`` uses (``sora2._inputs.validate_input``)
before anything is submitted. A CSV cell is text, so it is first converted to the type the spec
gives its property (integer, number, boolean); an empty cell means "not given".

The plan (jobs and seconds of video by size) needs to know which property is the size and
which the duration. The rule: the input property whose spec ``title`` is ``Resolution`` is the
size and the one titled ``Duration`` is the duration (the documentation's own names for the
two fields); a value a row leaves out counts as the spec's default.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .._exceptions import InvalidInputError
from .._inputs import (
    duration_property,
    input_fields,
    known_model,
    size_property,
    spec_default,
    validate_input,
)

__all__ = [
    "MODEL_FIELD",
    "NAME_FIELD",
    "Plan",
    "Row",
    "load_rows",
    "make_plan",
    "parse_rows",
    "row_seconds",
    "row_size",
]

NAME_FIELD = "name"
"""The column (or JSON key) naming a row's output files; never sent to the service."""
MODEL_FIELD = "model"
"""The column (or JSON key) choosing a row's model (``sora2.known_models()``); left out or
empty, the spec's default model. Never sent to the service as an input."""
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


def _input_properties(model: str | None = None) -> dict[str, Mapping[str, Any]]:
    """Each input property's schema of a model (None: the default one), as ``input_fields()``
    read it (refs and allOf followed); an unknown model reads as the default one here and is
    refused when the row is checked."""
    try:
        fields = input_fields(model)
    except InvalidInputError:
        fields = input_fields()
    return {name: field.schema for name, field in fields.items()}


def row_size(body: Mapping[str, Any]) -> str:
    """The size a job asks for (the spec's default when the row leaves it out)."""
    name = size_property()
    value = body.get(name, spec_default(name)) if name is not None else None
    return "default" if value is None else str(value)


def row_seconds(body: Mapping[str, Any]) -> float:
    """Seconds of video a job asks for (the spec's default when the row leaves it out)."""
    name = duration_property()
    value = body.get(name, spec_default(name)) if name is not None else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return 0.0


@dataclass(frozen=True)
class Row:
    """One row of the input: where it was, what it asks for, and whether it can be sent.

    ``line`` is the line the row starts on (1-based; a CSV's header is line 1). ``key`` is the
    row's identity across runs: a hash of its checked input and name, plus its occurrence
    number, so two identical rows are two jobs and reordering the file changes nothing.
    """

    line: int
    name: str | None
    input: dict[str, Any]
    key: str
    error: str | None = None
    field: str | None = None
    model: str | None = None
    """The model the row chose (its ``model`` column), or None for the default model."""

    @property
    def valid(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Plan:
    """What a batch asks for: jobs and seconds of video, per size."""

    jobs: int
    seconds: float
    by_size: dict[str, tuple[int, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "seconds": _number(self.seconds),
            "by_size": {
                size: {"jobs": jobs, "seconds": _number(seconds)}
                for size, (jobs, seconds) in self.by_size.items()
            },
        }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def make_plan(bodies: Iterable[Mapping[str, Any]]) -> Plan:
    """The plan of the given bodies, sizes in the spec's order, then any others."""
    per_size: dict[str, list[float]] = {}
    name = size_property()
    for choice in (_input_properties().get(name, {}).get("enum") or []) if name else []:
        per_size.setdefault(str(choice), [0, 0.0])
    for body in bodies:
        counts = per_size.setdefault(row_size(body), [0, 0.0])
        counts[0] += 1
        counts[1] += row_seconds(body)
    by_size = {size: (int(c[0]), float(c[1])) for size, c in per_size.items() if c[0]}
    return Plan(
        jobs=sum(j for j, _ in by_size.values()),
        seconds=sum(s for _, s in by_size.values()),
        by_size=by_size,
    )


# typing CSV cells ----------------------------------------------------------------------------


def _types_of(prop: Mapping[str, Any]) -> set[str]:
    kind = prop.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        found = set()
        for value in enum:
            if isinstance(value, bool):
                found.add("boolean")
            elif isinstance(value, int):
                found.add("integer")
            elif isinstance(value, float):
                found.add("number")
            elif isinstance(value, str):
                found.add("string")
        return found
    return set()


def _convert_cell(name: str, text: str, model: str | None = None) -> Any:
    """A CSV cell as the type the spec gives property ``name`` of ``model``'s input; text stays
    text otherwise."""
    kinds = _types_of(_input_properties(model).get(name, {}))
    stripped = text.strip()
    if "string" in kinds or not kinds:
        return text
    if "boolean" in kinds and stripped.lower() in _TRUE | _FALSE:
        return stripped.lower() in _TRUE
    if "integer" in kinds:
        try:
            return int(stripped)
        except ValueError:
            pass
    if "number" in kinds:
        try:
            return float(stripped)
        except ValueError:
            pass
    wanted = " or ".join(sorted(kinds))
    raise InvalidInputError(f"{name}={text!r} is not a {wanted}", field=name, value=text)


# reading -------------------------------------------------------------------------------------


def _raw_jsonl(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield number, None, f"not valid JSON: {exc}"
            continue
        if not isinstance(value, dict):
            yield number, None, f"a line must hold a JSON object, not {type(value).__name__}"
            continue
        yield number, value, None


def _raw_csv(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    reader = csv.reader(stream)
    header: list[str] | None = None
    line = 1
    for cells in reader:
        start, line = line, reader.line_num + 1
        if header is None:
            if not any(cell.strip() for cell in cells):
                continue
            header = [cell.strip() for cell in cells]
            _check_header(header)
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            yield start, None, f"{len(cells)} cells but the header has {len(header)} columns"
            continue
        values: dict[str, Any] = {}
        row = dict(zip(header, cells, strict=False))
        model = row.get(MODEL_FIELD, "").strip() or None
        try:
            for column, cell in zip(header, cells, strict=False):
                if not column or cell == "":
                    continue
                values[column] = (
                    cell.strip()
                    if column in (NAME_FIELD, MODEL_FIELD)
                    else _convert_cell(column, cell, model)
                )
        except InvalidInputError as exc:
            yield start, None, exc.message
            continue
        yield start, values, None


def _check_header(header: list[str]) -> None:
    """Refuse a header that names no input property: every row would be read wrongly, most
    often because the file is separated by something other than commas."""
    known = set(_input_properties()) | {NAME_FIELD}
    if any(column in known for column in header):
        return
    text = ",".join(header)
    found = [sep for sep in (";", "\t", "|") if any(sep in column for column in header)]
    why = (
        f"it looks separated by {found[0]!r}, and CSV here is separated by commas"
        if found
        else f"the columns it may have: {', '.join(sorted(known))}"
    )
    raise InvalidInputError(
        f"line 1: cannot read the CSV header {text!r}: it names no input property ({why})",
        field="header",
        value=text,
    )


def _looks_like_jsonl(text: str) -> bool:
    return text.lstrip().startswith("{")


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not _SAFE_NAME.sub("", value).strip("._-"):
        raise InvalidInputError(
            f"{NAME_FIELD} must be a non-empty file name, not {value!r}",
            field=NAME_FIELD,
            value=value,
        )
    return _SAFE_NAME.sub("_", value.strip())


def _key(
    body: Mapping[str, Any], name: str | None, occurrence: int, model: str | None = None
) -> str:
    # A row that names no model keeps the key it had before rows could name one.
    identity: dict[str, Any] = {"input": body, "name": name}
    if model is not None:
        identity["model"] = model
    canonical = json.dumps(identity, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{digest}-{occurrence}"


def parse_rows(
    raw: Iterable[tuple[int, Mapping[str, Any] | None, str | None]],
    defaults: Mapping[str, Any] | None = None,
) -> list[Row]:
    """Check each raw row and give it its key; invalid rows are kept with their problem.

    ``defaults`` are inputs every row gets unless it gives its own (the row wins); they are
    part of each row's input, and so of its key.
    """
    base_input = dict(defaults or {})
    rows: list[Row] = []
    seen: Counter[str] = Counter()
    names: dict[str, int] = {}
    for line, values, problem in raw:
        if values is None:
            rows.append(Row(line, None, {}, _key({"line": line}, None, 0), problem))
            continue
        given = {
            **base_input,
            **{k: v for k, v in values.items() if k not in (NAME_FIELD, MODEL_FIELD)},
        }
        name: str | None = None
        chosen = values.get(MODEL_FIELD)
        model: str | None = None
        try:
            if values.get(NAME_FIELD) is not None:
                name = _check_name(values[NAME_FIELD])
            if chosen is not None and chosen != "":
                model = known_model(chosen)
            body = validate_input(given, model)
        except InvalidInputError as exc:
            bad = Row(
                line, name, given, _key({"line": line}, None, 0), exc.message, exc.field, model
            )
            rows.append(bad)
            continue
        if name is not None and name in names:
            message = f"{NAME_FIELD} {name!r} is already used by line {names[name]}"
            rows.append(
                Row(line, name, body, _key({"line": line}, None, 0), message, NAME_FIELD, model)
            )
            continue
        if name is not None:
            names[name] = line
        base = _key(body, name, 0, model)
        seen[base] += 1
        rows.append(Row(line, name, body, _key(body, name, seen[base], model), model=model))
    return rows


def load_rows(
    source: str | Path | Iterable[Mapping[str, Any]],
    *,
    stdin: IO[str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> list[Row]:
    """The rows of a JSONL or CSV file (``-``: standard input), or of an iterable of mappings,
    each over ``defaults`` (see :func:`parse_rows`).

    A file ending in ``.csv`` is CSV and one ending in ``.jsonl``/``.ndjson``/``.json`` is
    JSONL; anything else (stdin too) is JSONL when its first non-blank character is ``{``.
    A file or stdin without a single row is refused (``InvalidInputError``): it is a mistake,
    not an empty batch.
    """
    if not isinstance(source, str | Path):
        return parse_rows(
            (
                (number, dict(values), None)
                if isinstance(values, Mapping)
                else (number, None, f"a row must be a mapping, not {type(values).__name__}")
                for number, values in enumerate(source, start=1)
            ),
            defaults,
        )
    rows = _read_rows(source, stdin, defaults)
    if not rows:
        where = "standard input" if str(source) == "-" else str(source)
        raise InvalidInputError(f"{where} holds no rows: nothing to run", field="rows")
    return rows


def _read_rows(
    source: str | Path, stdin: IO[str] | None, defaults: Mapping[str, Any] | None
) -> list[Row]:
    if str(source) == "-":
        text = (stdin or sys.stdin).read()
        stream: IO[str] = io.StringIO(text)
        jsonl = _looks_like_jsonl(text)
        return parse_rows(_raw_jsonl(stream) if jsonl else _raw_csv(stream), defaults)
    path = Path(source)
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if suffix == ".csv":
            return parse_rows(_raw_csv(handle), defaults)
        if suffix in (".jsonl", ".ndjson", ".json"):
            return parse_rows(_raw_jsonl(handle), defaults)
        text = handle.read()
    stream = io.StringIO(text)
    return parse_rows(_raw_jsonl(stream) if _looks_like_jsonl(text) else _raw_csv(stream), defaults)
