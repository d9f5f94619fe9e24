"""Twin's native model format: a folder of CSV tables and a small YAML header.

A saved network is a folder a person can read, diff and edit with a spreadsheet::

    feeder/
      network.yaml     header: format, version, network metadata, one entry per table
      bus.csv          one file per non-empty table, one row per element
      line.csv
      ...

``network.yaml`` holds the format name (``twin-native``), the format version (1), the network's
``name``, ``base_frequency_hz``, ``voltage_bases_v``, ``coord_units`` and ``notes``, and for every
non-empty table its file, its row count and its columns with their units (taken from
:mod:`twin.grid.schema`, so the header documents the files)::

    format: twin-native
    version: 1
    name: ieee13
    ...
    tables:
      bus:
        file: bus.csv
        rows: 16
        columns: {id: '', v_nom_v: V, phases: '', x: coord, y: coord}

Each CSV has one column per schema field; per-phase, per-winding and matrix fields are flattened
into ``name.label`` columns (``p_w.a``, ``bus.2``, ``r_ohm_per_m.ab``) exactly as
:meth:`Table.to_frame <twin.grid.table.Table.to_frame>` names them. Values are written so that
they read back unchanged and a person can edit them:

* floats at full precision (the shortest text that reads back to the same double); NaN is an
  empty cell, infinities ``inf``/``-inf``;
* enums by name (``kind=recloser``, ``conn=delta``), phase sets as engineers write them
  (``phases=ABC``, ``S1S2``; an empty cell is no phase); names are read case-insensitively;
* booleans ``true``/``false``;
* strings as they are: ``""`` stays empty, ``"0012"`` stays a string.

On reading, the CSV decides which columns are present: a column may be left out (it takes the
schema's default) unless the schema requires it, and a column the schema does not know is an
error. An empty cell in an enum, boolean or integer column takes the schema default. Every failure
is a :class:`~twin.errors.ModelError`; a bad cell is a :class:`~twin.errors.ParseError` giving the
file, the line (the header is line 1, so data row *k* is line *k* + 1, counting records), the
element id, and, as attributes, ``component`` (the table) and ``field`` (the column).

>>> import tempfile
>>> from twin.grid.network import Network
>>> folder = save_native(Network.empty("demo"), tempfile.mkdtemp())
>>> load_native(folder).name
'demo'
"""

from __future__ import annotations

import csv
import enum
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from twin.errors import ModelError, ParseError
from twin.grid.network import TABLE_NAMES, Network
from twin.grid.schema import SCHEMAS, Field, Phase, TableSchema, parse_phases, phase_text
from twin.grid.table import Table, flat_names

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "HEADER_FILE", "save_native", "load_native"]

FORMAT_NAME = "twin-native"
FORMAT_VERSION = 1
HEADER_FILE = "network.yaml"

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_NAN_TEXT = ["", "nan", "NaN", "NAN"]
_ENCODING = "utf-8-sig"  # UTF-8, with or without the byte-order mark spreadsheets write


# -- writing ------------------------------------------------------------------------------------


def save_native(net: Network, folder: str | os.PathLike[str]) -> Path:
    """Write ``net`` to ``folder`` (created if needed) in the native format; returns the folder.

    Table files of tables that are empty in ``net`` are removed from the folder, so that the
    folder holds this network and nothing else of an earlier save.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    # The header goes last, and an old one first: a folder with a header has all its tables.
    (out / HEADER_FILE).unlink(missing_ok=True)
    entries: dict[str, Any] = {}
    for name, table in net.tables():
        path = out / f"{name}.csv"
        if not len(table):
            path.unlink(missing_ok=True)
            continue
        frame = _text_frame(table)
        frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
        entries[name] = {"file": path.name, "rows": len(table), "columns": _column_units(table.schema)}
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": net.name,
        "base_frequency_hz": float(net.base_frequency_hz),
        "voltage_bases_v": [float(v) for v in net.voltage_bases_v],
        "coord_units": net.coord_units,
        "notes": list(net.notes),
        "tables": entries,
    }
    with open(out / HEADER_FILE, "w", encoding="utf-8") as fh:
        yaml.safe_dump(header, fh, sort_keys=False, allow_unicode=True, width=120)
    return out


def _column_units(schema: TableSchema) -> dict[str, str]:
    return {c: f.unit for f in schema.fields for c in flat_names(f)}


def _text_frame(table: Table) -> pd.DataFrame:
    """``table.to_frame()`` with enums as names and booleans as ``true``/``false``."""
    frame = table.to_frame()
    for f in table.schema.fields:
        if f.kind not in ("enum", "bool"):
            continue
        for column in flat_names(f):
            values = frame[column].to_numpy()
            if f.kind == "bool":
                frame[column] = np.where(values.astype(bool), "true", "false").astype(object)
                continue
            names, valid = _enum_names(f)
            codes = values.astype(np.int64)
            bad = (codes < 0) | (codes >= len(names)) | ~valid[np.clip(codes, 0, len(names) - 1)]
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise ModelError(
                    f"{column} holds {int(codes[k])}, which is not a {f.enum.__name__}",
                    component=table.name, element=str(table.ids[k]), field=f.name,
                    fix=_enum_fix(f),
                )
            frame[column] = names[codes]
    return frame


def _enum_names(f: Field) -> tuple[np.ndarray, np.ndarray]:
    """Text of every code 0..top of an enum field, and which codes are valid."""
    if f.enum is Phase:
        top = int(Phase.ABC | Phase.S12)
        return np.array([phase_text(k) for k in range(top + 1)], dtype=object), np.ones(top + 1, bool)
    members: dict[int, str] = {int(m): m.name for m in f.enum}  # type: ignore[union-attr]
    top = max(members)
    names = np.array([members.get(k, "") for k in range(top + 1)], dtype=object)
    return names, np.array([k in members for k in range(top + 1)])


def _enum_fix(f: Field) -> str:
    if f.enum is Phase:
        return "write phases as letters A, B, C or S1, S2 (for example ABC, AC, S1S2); empty for none"
    return f"use one of {', '.join(m.name for m in f.enum)}"  # type: ignore[union-attr]


# -- reading ------------------------------------------------------------------------------------


def load_native(folder: str | os.PathLike[str]) -> Network:
    """Read a network saved by :func:`save_native` (or written by hand in the same format)."""
    root = Path(folder)
    header_path = root / HEADER_FILE
    header = _read_header(header_path)
    tables: dict[str, Table] = {}
    for name, entry in header["tables"].items():
        tables[name] = _read_table(root, name, entry, header_path)
    return Network.from_tables(
        header["name"],
        tables,
        base_frequency_hz=header["base_frequency_hz"],
        voltage_bases_v=tuple(header["voltage_bases_v"]),
        coord_units=header["coord_units"],
        origin=str(root),
        notes=tuple(header["notes"]),
    )


def _read_header(path: Path) -> dict[str, Any]:
    """The header as a dict of checked values, or a ModelError naming the file and key."""
    if not path.is_file():
        raise ModelError(f"{path}: no such file",
                         fix=f"a native model folder holds {HEADER_FILE}; write one with save_native")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ParseError(f"not valid YAML: {getattr(err, 'problem', err)}", file=str(path),
                         line=mark.line + 1 if mark else 1) from err
    if not isinstance(raw, dict):
        raise _header_error(path, "", raw, "a mapping of keys (format, version, name, tables...)")
    if raw.get("format") != FORMAT_NAME:
        raise _header_error(path, "format", raw.get("format"), repr(FORMAT_NAME))
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise _header_error(path, "version", version,
                            f"{FORMAT_VERSION} (a newer Twin writes newer versions; upgrade to read it)")
    name = raw.get("name")
    if not isinstance(name, str):
        raise _header_error(path, "name", name, "a string")
    freq = raw.get("base_frequency_hz", 60.0)
    if not _is_number(freq) or not freq > 0:
        raise _header_error(path, "base_frequency_hz", freq, "a positive number (60 or 50)")
    bases = raw.get("voltage_bases_v") or []
    if not isinstance(bases, list) or not all(_is_number(v) for v in bases):
        raise _header_error(path, "voltage_bases_v", bases, "a list of line-to-line voltages in volts")
    coord_units = raw.get("coord_units", "m")
    if not isinstance(coord_units, str):
        raise _header_error(path, "coord_units", coord_units, "a string such as 'm' or 'deg'")
    notes = raw.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise _header_error(path, "notes", notes, "a list of strings")
    entries = raw.get("tables") or {}
    if not isinstance(entries, dict):
        raise _header_error(path, "tables", entries, "a mapping from table name to {file, rows, columns}")
    for table, entry in entries.items():
        if table not in TABLE_NAMES:
            raise _header_error(path, f"tables.{table}", table, f"a table name: {', '.join(TABLE_NAMES)}")
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise _header_error(path, f"tables.{table}.file", None if not isinstance(entry, dict) else
                                entry.get("file"), "the table's CSV file name, such as 'bus.csv'")
        rows = entry.get("rows")
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            raise _header_error(path, f"tables.{table}.rows", rows, "the number of data rows in the file")
    return {
        "name": name,
        "base_frequency_hz": float(freq),
        "voltage_bases_v": [float(v) for v in bases],
        "coord_units": coord_units,
        "notes": notes,
        "tables": entries,
    }


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _header_error(path: Path, key: str, value: Any, allowed: str) -> ModelError:
    where = f"key {key!r}" if key else "the header"
    return ModelError(f"{path}: {where} is {value!r}", field=key, fix=f"expected {allowed}")


def _read_table(root: Path, name: str, entry: Mapping[str, Any], header_path: Path) -> Table:
    schema = SCHEMAS[name]
    path = root / entry["file"]
    if not path.is_file():
        raise ModelError(f"{path}: no such file", component=name,
                         fix=f"{header_path.name} lists {entry['file']} for table {name}; "
                             f"restore the file or remove the entry")
    columns = _check_columns(path, schema)
    fields = {c: f for f in schema.fields for c in flat_names(f)}
    dtypes: dict[str, Any] = {}
    na_values: dict[str, list[str]] = {}
    for c in columns:
        kind = fields[c].kind
        if kind == "str":
            dtypes[c] = object
        elif kind == "float":
            dtypes[c] = np.float64
            na_values[c] = _NAN_TEXT
        elif kind == "int":
            dtypes[c] = "Int64"
            na_values[c] = [""]
        else:
            dtypes[c] = "category"
    try:
        frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=na_values, engine="c",
                            encoding=_ENCODING)
    except (ValueError, TypeError) as err:
        raise _locate_bad_number(path, schema, fields) from err
    if len(frame) != entry["rows"]:
        raise ModelError(
            f"{path}: {len(frame)} data rows, the header says {entry['rows']}", component=name,
            fix=f"a file cut short is damaged; if rows were added or removed on purpose, set "
                f"tables.{name}.rows in {header_path.name} to {len(frame)}",
        )
    ids = frame["id"].to_numpy()
    dup = frame["id"].duplicated().to_numpy()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        raise _cell_error(path, name, "id", k, ids, f"id {ids[k]!r} appears more than once",
                          "give every row its own id")
    for c in columns:
        f = fields[c]
        if f.kind == "enum":
            frame[c] = _decode_enum(path, name, f, c, frame[c], ids)
        elif f.kind == "bool":
            frame[c] = _decode_bool(path, name, f, c, frame[c], ids)
        elif f.kind == "int":
            values = frame[c]
            frame[c] = values.fillna(f.fill()).to_numpy(dtype=np.int64)
    return Table.from_frame(schema, frame)


def _check_columns(path: Path, schema: TableSchema) -> list[str]:
    """The CSV's column names, checked against the schema (line 1 is the header)."""
    with open(path, encoding=_ENCODING, newline="") as fh:
        columns = next(csv.reader(fh), [])
    if not columns:
        raise ParseError("empty file: no header row", file=str(path), line=1,
                         fix=f"the first line names the columns: {', '.join(_flat(schema))}")
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            err = ParseError(f"column {c!r} appears twice", file=str(path), line=1, fix="keep one of them")
            err.component, err.field = schema.name, c
            raise err
        seen.add(c)
    known = set(_flat(schema))
    for c in columns:
        if c not in known:
            err = ParseError(f"unknown column {c!r} in table {schema.name}", file=str(path), line=1,
                             fix=f"columns of {schema.name} are {', '.join(_flat(schema))}")
            err.component, err.field = schema.name, c
            raise err
    present = set(columns)
    for f in schema.fields:
        missing = [c for c in flat_names(f) if c not in present]
        if f.required and missing:
            err = ParseError(f"required column {missing[0]!r} missing from table {schema.name}",
                             file=str(path), line=1, fix=f"add a {missing[0]} column: {f.doc}")
            err.component, err.field = schema.name, f.name
            raise err
    return columns


def _flat(schema: TableSchema) -> list[str]:
    return [c for f in schema.fields for c in flat_names(f)]


def _cell_error(path: Path, table: str, column: str, row: int, ids: np.ndarray, message: str,
                fix: str) -> ParseError:
    element = str(ids[row]) if row < len(ids) else ""
    err = ParseError(f"{column}: {message}", file=str(path), line=row + 2, element=element, fix=fix)
    err.component, err.field = table, column
    return err


def _locate_bad_number(path: Path, schema: TableSchema, fields: dict[str, Field]) -> ParseError:
    """After a fast read failed: read as text and name the first cell that is not a number."""
    raw = pd.read_csv(path, dtype=object, keep_default_na=False, engine="c", encoding=_ENCODING)
    ids = raw["id"].to_numpy() if "id" in raw else np.array([], dtype=object)
    for c in raw.columns:
        f = fields.get(str(c))
        if f is None or f.kind not in ("float", "int"):
            continue
        text = raw[c].astype(str).str.strip()
        blank = text.isin(_NAN_TEXT if f.kind == "float" else [""])
        numbers = pd.to_numeric(text.where(~blank), errors="coerce")
        bad = numbers.isna() & ~blank
        if f.kind == "int":
            bad |= ~blank & numbers.notna() & (numbers != np.floor(numbers))
        if bad.any():
            k = int(np.flatnonzero(bad.to_numpy())[0])
            unit = f" in {f.unit}" if f.unit else ""
            fix = f"write a number{unit}, or leave the cell empty for NaN" if f.kind == "float" else \
                f"write a whole number{unit}, or leave the cell empty for the default"
            return _cell_error(path, schema.name, str(c), k, ids, f"{raw[c].iat[k]!r} is not a number", fix)
    return ParseError("cannot be read as CSV", file=str(path), line=1,
                      fix="check the quoting and that every row has as many cells as the header")


def _decode_enum(path: Path, table: str, f: Field, column: str, values: pd.Series,
                 ids: np.ndarray) -> np.ndarray:
    """Category names to enum codes; one lookup per distinct name, then a vectorised take."""
    cat = values.cat
    lookup = np.empty(len(cat.categories), dtype=np.int8)
    for k, text in enumerate(cat.categories):
        code = _enum_code(f, str(text))
        if code is None:
            row = int(np.flatnonzero(cat.codes.to_numpy() == k)[0])
            raise _cell_error(path, table, column, row, ids,
                              f"{text!r} is not a {f.enum.__name__}",  # type: ignore[union-attr]
                              _enum_fix(f))
        lookup[k] = code
    return lookup[cat.codes.to_numpy()]


def _enum_code(f: Field, text: str) -> int | None:
    text = text.strip()
    if f.enum is Phase:
        try:
            return int(parse_phases(text))
        except ValueError:
            return None
    if not text:
        return int(f.fill())
    by_name: dict[str, enum.Enum] = {m.name.lower(): m for m in f.enum}  # type: ignore[union-attr]
    member = by_name.get(text.lower())
    return None if member is None else int(member.value)


def _decode_bool(path: Path, table: str, f: Field, column: str, values: pd.Series,
                 ids: np.ndarray) -> np.ndarray:
    cat = values.cat
    lookup = np.empty(len(cat.categories), dtype=np.bool_)
    for k, text in enumerate(cat.categories):
        word = str(text).strip().lower()
        if word in _TRUE:
            lookup[k] = True
        elif word in _FALSE:
            lookup[k] = False
        elif not word:
            lookup[k] = bool(f.fill())
        else:
            row = int(np.flatnonzero(cat.codes.to_numpy() == k)[0])
            raise _cell_error(path, table, column, row, ids, f"{text!r} is not true or false",
                              "write true or false")
    return lookup[cat.codes.to_numpy()]
