"""A mapping file (TOML) from a registry's columns to caseledger's fields: which column holds
the registry's reference, value maps ("M"/"Masculino" -> male, Spanish country names -> ISO
codes), date formats (%d/%m/%Y), and fields the same for every row. Checked whole before a
row is read: a mapping naming a field caseledger does not have, or a column the file does not
have, refuses the file."""

from __future__ import annotations

import dataclasses
import functools
import gettext
import itertools
import tomllib
import typing
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import pycountry

from ledger.errors import InvalidField
from services.importing import KINDS, Record, field_names

__all__ = [
    "BUILT_IN_MAPS",
    "DATE_FIELDS",
    "KEYS",
    "LIST_FIELDS",
    "ImportMapping",
    "MappingRefused",
    "RowProblem",
    "country_names",
    "fold",
]

DATE_FIELDS = {
    "reports": ("date_of_birth", "last_seen_date"),
    "remains": ("recovered_on",),
    "sightings": ("seen_on",),
}
LIST_FIELDS = ("nationalities", "aliases", "consented_purposes", "withheld_from_countries")
BUILT_IN_MAPS = ("countries:es", "countries:en")
KEYS = (
    "kind",
    "source",
    "reference",
    "date_format",
    "list_separator",
    "encoding",
    "delimiter",
    "sheet",
    "columns",
    "values",
    "dates",
    "constants",
)


class MappingRefused(InvalidField):
    """The mapping, or the file's header against it, is wrong: the whole file is refused."""


@lru_cache(maxsize=4096)  # a file repeats its values (countries, sexes): memory stays bounded
def fold(text: str) -> str:
    """Lower case, no accents, single spaces: how a value map's keys are compared."""
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


@cache
def country_names(language: str) -> dict[str, str]:
    """Folded country names (official, common, short, in the language and in English) -> ISO code."""
    translate = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True)
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("name", "official_name", "common_name"):
            english = getattr(country, attribute, None)
            if not english:
                continue
            for said in {english, translate.gettext(english)}:
                names.setdefault(fold(said), country.alpha_2)
                names.setdefault(fold(said.split(",")[0]), country.alpha_2)  # "Venezuela, República..."
        names.setdefault(fold(country.alpha_3), country.alpha_2)
    return names


def _field_type(kind: str, path: str) -> str | None:
    """None when the dotted path names a field of the kind's command, else the problem."""
    parts = [p for p in path.split(".") if not p.isdigit()]
    if parts[0] not in field_names(kind):
        return f"{parts[0]!r} is not a field of {kind}; fields: {', '.join(field_names(kind))}"
    hint: Any = typing.get_type_hints(KINDS[kind]).get(parts[0], str)
    for part in parts[1:]:
        while typing.get_origin(hint) in (typing.Union, tuple, list) or type(hint).__name__ == "UnionType":
            hint = next(a for a in typing.get_args(hint) if a is not type(None) and a is not Ellipsis)
        if not dataclasses.is_dataclass(hint):
            return f"{path!r}: {parts[0]} has no parts"
        names = [f.name for f in dataclasses.fields(hint)]
        if part not in names:
            return f"{path!r}: {part!r} is not one of {', '.join(names)}"
        hint = typing.get_type_hints(hint)[part]
    return None


@dataclass(frozen=True)
class ImportMapping:
    kind: str
    source: str
    reference: str
    columns: Mapping[str, str]  # column -> field path
    values: Mapping[str, Any] = field(default_factory=dict)  # field -> {value: value} or a built-in
    dates: Mapping[str, str] = field(default_factory=dict)  # field -> strptime format
    constants: Mapping[str, Any] = field(default_factory=dict)
    list_separator: str = ";"
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    # What every row shares, worked out on the first row: {field: {folded value: value}}
    # for value tables, and {field path: column} for the report.
    _folded: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _columns_of: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    # And each column's step: (column, field path, what makes its value, whether the path nests).
    _steps: list[tuple[str, str, Callable[[Any], Any], bool]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    # ------------------------------------------------------------------ checking

    @classmethod
    def load(cls, path: Path, kind: str) -> ImportMapping:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise MappingRefused("--mapping", f"cannot read {path}: {error}") from None
        except tomllib.TOMLDecodeError as error:
            raise MappingRefused("--mapping", f"{path} is not TOML: {error}") from None
        return cls.from_dict(raw, kind)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], kind: str) -> ImportMapping:
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise MappingRefused(
                f"mapping.{unknown[0]}", f"is not a key of a mapping; keys: {', '.join(KEYS)}"
            )
        if raw.get("kind", kind) != kind:
            raise MappingRefused("mapping.kind", f"this mapping imports {raw['kind']}, not {kind}")
        for key in ("source", "reference"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise MappingRefused(f"mapping.{key}", "is required (text)")
        columns = raw.get("columns")
        if not isinstance(columns, dict) or not columns:
            raise MappingRefused("mapping.columns", "map at least one column to a field")
        mapping = cls(
            kind=kind,
            source=raw["source"].strip(),
            reference=raw["reference"],
            columns={str(k): str(v) for k, v in columns.items()},
            values=dict(raw.get("values", {})),
            dates=dict(raw.get("dates", {})),
            constants=dict(raw.get("constants", {})),
            list_separator=str(raw.get("list_separator", ";")),
            encoding=raw.get("encoding"),
            delimiter=raw.get("delimiter"),
            sheet=raw.get("sheet"),
        )
        mapping._check_fields(raw.get("date_format"))
        return mapping

    def _check_fields(self, date_format: Any) -> None:
        for column, path in self.columns.items():
            problem = _field_type(self.kind, path)
            if problem:
                raise MappingRefused(f"mapping.columns.{column}", problem)
        targets = set(self.columns.values())
        for name in (*self.values, *self.dates):
            if name not in targets and name not in self.constants:
                raise MappingRefused(f"mapping.values.{name}", "no column is mapped to this field")
        for name, table in self.values.items():
            if isinstance(table, str) and table not in BUILT_IN_MAPS:
                raise MappingRefused(f"mapping.values.{name}", f"built-in maps: {', '.join(BUILT_IN_MAPS)}")
            if not isinstance(table, str | dict):
                raise MappingRefused(f"mapping.values.{name}", "a table of values, or a built-in map's name")
        self._check_constants_and_dates(date_format)

    def _check_constants_and_dates(self, date_format: Any) -> None:
        for name in self.constants:
            problem = _field_type(self.kind, name)
            if problem:
                raise MappingRefused(f"mapping.constants.{name}", problem)
        if date_format is not None:
            known = {f: self.dates.get(f, date_format) for f in DATE_FIELDS[self.kind]}
            object.__setattr__(self, "dates", known)
        for name, fmt in self.dates.items():
            if not isinstance(fmt, str) or "%" not in fmt:
                raise MappingRefused(f"mapping.dates.{name}", "a date format such as %d/%m/%Y")

    def check_header(self, header: Sequence[str]) -> None:
        """Refuse a header that lacks a mapped column, or holds one twice."""
        seen: set[str] = set()
        for name in header:
            if name and name in seen:
                raise MappingRefused("header", f"the column {name!r} appears twice")
            seen.add(name)
        for column in (self.reference, *self.columns):
            if column not in seen:
                shown = ", ".join(repr(h) for h in header if h)
                raise MappingRefused(
                    f"mapping.columns.{column}", f"the file has no such column; its header: {shown}"
                )

    # ------------------------------------------------------------------ rows

    def record(self, row: int, cells: Mapping[str, Any]) -> Record | RowProblem:
        """The record a row holds, or the first cell that cannot become a value."""
        fields: dict[str, Any] = {}
        for name, value in self.constants.items():
            _put(fields, name, value)
        for column, path, make, nested in self._steps or self._make_steps():
            value = cells.get(column)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            try:
                value = make(value)
            except ValueError as error:
                return RowProblem(row, _text(cells.get(self.reference)), column, path, str(error))
            if nested:
                _put(fields, path, value)
            else:
                fields[path] = value
        if not self._columns_of:
            self._columns_of.update({path: column for column, path in self.columns.items()})
            self._columns_of["external_ref"] = self.reference
        return Record(row, _text(cells.get(self.reference)), fields, self._columns_of)

    def _make_steps(self) -> list[tuple[str, str, Callable[[Any], Any], bool]]:
        """Each column's step, worked out once: value(path, cell) less the choices every row
        made the same way (a bulk import paid them for each cell)."""
        steps: list[tuple[str, str, Callable[[Any], Any], bool]] = []
        for column, path in self.columns.items():
            make: Callable[[Any], Any]
            if path in LIST_FIELDS or path in self.dates or path in self.values:
                make = functools.partial(self.value, path)
            else:
                make = _plain
            steps.append((column, path, make, "." in path))
        self._steps[:] = steps  # whole, at once: a thread that raced here wrote the same
        return steps

    def value(self, path: str, cell: Any) -> Any:
        if path in LIST_FIELDS:
            items = (
                [i.strip() for i in _text(cell).split(self.list_separator)] if self.list_separator else [cell]
            )
            return [self._mapped(path, i) for i in items if i]
        value = self._mapped(path, cell)
        if path in self.dates:
            return _date(value, self.dates[path])
        return value

    def _mapped(self, path: str, cell: Any) -> Any:
        table = self.values.get(path)
        if type(cell) is str and table is None:  # a CSV's cells: no date or time to keep
            return _text(cell)
        if isinstance(cell, datetime | date) or table is None:
            return cell if isinstance(cell, datetime | date) else _text(cell)
        text = _text(cell)
        if isinstance(table, str):
            return country_names(table.split(":")[1]).get(fold(text), text)
        if text in table:
            return table[text]
        folded = self._folded.get(path)
        if folded is None:
            folded = self._folded[path] = {fold(k): v for k, v in table.items()}
        return folded.get(fold(text), text)


@dataclass(frozen=True)
class RowProblem:
    """A cell that cannot become a value (a date that does not exist, say): the row is refused."""

    row: int
    external_ref: str
    column: str
    field: str
    problem: str


def _plain(cell: Any) -> Any:
    """value(path, cell) of a field with no list, value map or date format."""
    if type(cell) is str:  # a CSV's cells: no date or time to keep
        return cell.strip()
    return cell if isinstance(cell, datetime | date) else _text(cell)


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # a spreadsheet's 1234.0 is the reference 1234
    return str(cell).strip()


def _date(value: Any, fmt: str) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return _parsed_date(str(value), fmt)
    except ValueError as error:
        why = "no such day" if "day is out of range" in str(error) else f"expected the format {fmt}"
        raise ValueError(f"{value!r} is not a date: {why}") from None


@lru_cache(maxsize=8192)  # strptime costs ~15 us; a file's dates repeat (days of a few years)
def _parsed_date(text: str, fmt: str) -> str:
    return datetime.strptime(text, fmt).date().isoformat()


@cache
def _parts(path: str) -> tuple[tuple[str, bool], ...]:
    """A dotted path's parts, each with whether it is a list index (a mapping has few paths)."""
    return tuple((part, part.isdigit()) for part in path.split("."))


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path ("family_contacts.0.phone") in nested dicts and lists."""
    parts = _parts(path)
    if len(parts) == 1:
        target[path] = value
        return
    node: Any = target
    for (part, is_index), (_, following) in itertools.pairwise(parts):
        container: Any = [] if following else {}
        if is_index:
            index = int(part)
            while len(node) <= index:
                node.append(None)
            if node[index] is None:
                node[index] = container
            node = node[index]
        else:
            node = node.setdefault(part, container)
    last, is_index = parts[-1]
    if is_index:
        while len(node) <= int(last):
            node.append(None)
        node[int(last)] = value
    else:
        node[last] = value
