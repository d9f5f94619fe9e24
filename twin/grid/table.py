"""Columnar tables: equal-length numpy arrays keyed by column name, shaped by a schema.

A :class:`Table` is the storage of one component type. Each column is a numpy array whose first
axis is the row; per-phase and per-winding quantities add trailing axes (``p_w`` of a load table
with ``n`` rows has shape ``(n, 3)``). Strings are object arrays, enums small integers.

Rows are addressed by position for vectorised code and by ``id`` for people:

>>> from twin.grid.schema import SCHEMAS
>>> t = Table.from_rows(SCHEMAS["bus"], [{"id": "650", "v_nom_v": 4160.0, "phases": 7}])
>>> int(t.index(["650"])[0]), float(t["v_nom_v"][0])
(0, 4160.0)

Tables are cheap to copy column by column: :meth:`with_columns` returns a new table that shares
the columns it does not replace. Column arrays are writable so that a simulation can change a
switch state in place; analysis functions never write to their inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from twin.errors import ModelError
from twin.grid.schema import Field, TableSchema

__all__ = ["Table", "flat_names"]


def flat_names(f: Field) -> list[str]:
    """Column names of ``f`` once its trailing axes are flattened: ``p_w.a``, ``p_w.b``, ``p_w.c``."""
    if not f.shape:
        return [f.name]
    return [f"{f.name}.{label}" for label in f.axis]


class Table:
    """One component table: a schema and one numpy array per column."""

    __slots__ = ("schema", "_cols", "_index")

    def __init__(self, schema: TableSchema, columns: Mapping[str, Any], *, n: int | None = None) -> None:
        unknown = set(columns) - set(schema.names)
        if unknown:
            raise ModelError(
                f"unknown column(s) {sorted(unknown)}",
                component=schema.name,
                fix=f"columns of {schema.name} are {', '.join(schema.names)}",
            )
        if n is None:
            n = len(columns["id"]) if "id" in columns else 0
        cols: dict[str, np.ndarray] = {}
        for f in schema.fields:
            if f.name in columns:
                arr = _coerce(f, columns[f.name], n, schema.name)
            elif f.required and n:
                raise ModelError(f"required column {f.name!r} missing", component=schema.name, field=f.name)
            else:
                arr = np.empty((n, *f.shape), dtype=f.dtype)
                arr[...] = f.fill()
            cols[f.name] = arr
        self.schema = schema
        self._cols = cols
        self._index: dict[str, int] | None = None

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def empty(cls, schema: TableSchema) -> Table:
        """A table with no rows."""
        return cls(schema, {}, n=0)

    @classmethod
    def from_rows(cls, schema: TableSchema, rows: Sequence[Mapping[str, Any]]) -> Table:
        """Build from one mapping per row; a missing key takes the column's default."""
        n = len(rows)
        columns: dict[str, Any] = {}
        for f in schema.fields:
            if any(f.name in r for r in rows):
                fill = np.broadcast_to(np.asarray(f.fill(), dtype=f.dtype), f.shape)
                columns[f.name] = [r.get(f.name, fill) for r in rows]
        return cls(schema, columns, n=n)

    @classmethod
    def from_frame(cls, schema: TableSchema, frame: pd.DataFrame) -> Table:
        """Inverse of :meth:`to_frame`: flattened columns (``p_w.a``...) are folded back."""
        n = len(frame)
        columns: dict[str, Any] = {}
        for f in schema.fields:
            names = flat_names(f)
            present = [c for c in names if c in frame.columns]
            if not present:
                continue
            if f.shape:
                block = np.empty((n, len(names)), dtype=object if f.kind == "str" else np.float64)
                for k, c in enumerate(names):
                    block[:, k] = frame[c].to_numpy() if c in frame.columns else f.fill()
                columns[f.name] = block.reshape((n, *f.shape))
            else:
                columns[f.name] = frame[f.name].to_numpy()
        return cls(schema, columns, n=n)

    @staticmethod
    def concat(tables: Sequence[Table]) -> Table:
        """Rows of several tables of one schema, in order."""
        schema = tables[0].schema
        return Table(
            schema,
            {f.name: np.concatenate([t._cols[f.name] for t in tables]) for f in schema.fields},
            n=sum(len(t) for t in tables),
        )

    # -- access -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.schema.name

    def __len__(self) -> int:
        return len(self._cols["id"])

    def __getitem__(self, column: str) -> np.ndarray:
        return self._cols[column]

    def __contains__(self, column: object) -> bool:
        return column in self._cols

    def __iter__(self):
        return iter(self._cols)

    @property
    def ids(self) -> np.ndarray:
        return self._cols["id"]

    def index(self, ids: Iterable[str] | str) -> np.ndarray:
        """Row positions of ``ids``; an unknown id raises :class:`ModelError` naming it."""
        lookup = self._lookup()
        if isinstance(ids, str):
            ids = [ids]
        try:
            return np.fromiter((lookup[i] for i in ids), dtype=np.int64)
        except KeyError as err:
            raise ModelError(f"no element with id {err.args[0]!r}", component=self.name,
                             element=str(err.args[0])) from err

    def position(self, id_: str) -> int:
        """Row position of one id (see :meth:`index`)."""
        return int(self.index([id_])[0])

    def get(self, id_: str) -> int | None:
        """Row position of ``id_``, or None when absent."""
        return self._lookup().get(id_)

    def _lookup(self) -> dict[str, int]:
        if self._index is None:
            ids = self._cols["id"]
            self._index = dict(zip(ids.tolist(), range(len(ids))))
        return self._index

    def row(self, id_: str) -> dict[str, Any]:
        """One row as a dict of Python values (trailing axes as lists)."""
        i = self.position(id_)
        return {k: (v[i].tolist() if v.ndim > 1 else v[i].item() if hasattr(v[i], "item") else v[i])
                for k, v in self._cols.items()}

    # -- derivation ---------------------------------------------------------------------------

    def take(self, rows: np.ndarray | Sequence[int] | slice) -> Table:
        """The rows selected by positions, a boolean mask or a slice."""
        cols = {k: v[rows] for k, v in self._cols.items()}
        return Table(self.schema, cols, n=len(cols["id"]))

    def with_columns(self, **columns: Any) -> Table:
        """A new table with some columns replaced; the others are shared, not copied."""
        merged = dict(self._cols)
        merged.update(columns)
        out = Table(self.schema, merged, n=len(self))
        if "id" not in columns:
            out._index = self._index
        return out

    def copy(self) -> Table:
        """A deep copy: no array is shared."""
        out = Table(self.schema, {k: v.copy() for k, v in self._cols.items()}, n=len(self))
        out._index = None if self._index is None else dict(self._index)
        return out

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with trailing axes flattened into ``name.label`` columns, enums as ints."""
        data: dict[str, np.ndarray] = {}
        n = len(self)
        for f in self.schema.fields:
            arr = self._cols[f.name]
            if f.shape:
                flat = arr.reshape(n, int(np.prod(f.shape)))
                for k, c in enumerate(flat_names(f)):
                    data[c] = flat[:, k]
            else:
                data[f.name] = arr
        return pd.DataFrame(data)

    def __repr__(self) -> str:
        return f"<Table {self.name}: {len(self)} rows>"

    def equals(self, other: Table) -> bool:
        """True when both tables hold the same values (NaN equals NaN)."""
        if self.schema.name != other.schema.name or len(self) != len(other):
            return False
        for name, a in self._cols.items():
            b = other._cols[name]
            if a.dtype == object:
                if not np.array_equal(a, b):
                    return False
            elif not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                return False
        return True


def _coerce(f: Field, values: Any, n: int, table: str) -> np.ndarray:
    """``values`` as the column's dtype and shape, or a ModelError naming the column."""
    try:
        if f.kind == "str":
            arr = np.empty(np.shape(values), dtype=object)
            arr[...] = values
            flat = arr.reshape(-1)
            if flat.size and pd.api.types.infer_dtype(flat, skipna=False) != "string":
                # One representation of "missing": the empty string (files give NaN or None).
                for k, v in enumerate(flat):
                    if not isinstance(v, str):
                        flat[k] = "" if v is None or (isinstance(v, float) and v != v) else str(v)
        elif f.kind == "bool":
            arr = np.asarray(values)
            if arr.dtype == object or arr.dtype.kind in "US":
                arr = np.vectorize(_as_bool, otypes=[np.bool_])(arr) if arr.size else arr.astype(np.bool_)
            arr = arr.astype(np.bool_)
        else:
            arr = np.asarray(values, dtype=f.dtype)
    except (TypeError, ValueError) as err:
        raise ModelError(f"column {f.name!r} cannot be read as {f.kind}: {err}", component=table,
                         field=f.name) from err
    if arr.shape != (n, *f.shape):
        if arr.ndim == 1 and f.shape and arr.shape == (n,):
            arr = np.repeat(arr[:, None], f.shape[0], axis=1)
        else:
            raise ModelError(
                f"column {f.name!r} has shape {arr.shape}, expected {(n, *f.shape)}",
                component=table,
                field=f.name,
            )
    return arr


def _as_bool(v: Any) -> bool:
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("true", "t", "yes", "y", "1"):
            return True
        if s in ("false", "f", "no", "n", "0", ""):
            return False
        raise ValueError(f"{v!r} is not true/false")
    return bool(v)
