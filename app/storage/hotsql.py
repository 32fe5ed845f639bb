"""Statements that run once per event or per delivery, with their SQL built once.

Peewee renders a query's SQL anew on every execute: ~100-300 µs of CPU for a small
INSERT or UPDATE, while SQLite runs the statement itself in ~10 µs. On the paths that run
for every event and every attempt (profiled in `hookline serve` under load: 60% of
recording results, most of accepting an event) that rendering was the cost. Here the text
is rendered once per shape from the models' own table and column names, and the driver's
statement cache reuses the prepared statement. Values still go through each field's
`db_value`, so what is stored is exactly what Peewee would store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence

import peewee

from app.storage.db import database, is_sqlite


def insert(fields: Sequence[peewee.Field], rows: Iterable[Sequence]) -> None:
    """INSERT one row per item of `rows` (values in the order of `fields`, all of one
    model); the model's defaults fill the fields left out, as `Model.insert` would."""
    given = {f.name for f in fields}
    defaults = [(f, d) for f, d in fields[0].model._meta.defaults.items() if f.name not in given]
    fields = (*fields, *(f for f, _ in defaults))
    sql = _insert_sql(_table(fields), _columns(fields), database.param)
    values = [_values(fields, (*row, *(d() if callable(d) else d for _, d in defaults))) for row in rows]
    if values:
        with _driver_errors_as_peewee_errors:
            database.cursor().executemany(sql, values)


def update(
    set_fields: Sequence[peewee.Field], where_fields: Sequence[peewee.Field], values: Sequence,
    key: peewee.Field, keys: Sequence,
) -> set:
    """`UPDATE … SET f = ? … WHERE g = ? AND … AND key IN (…) RETURNING key`: one statement
    for many rows that get the same values (`values`: the SET ones then the WHERE ones).
    Returns the keys of the rows it changed, so a caller sees which ones a guard in
    `where_fields` left alone."""
    if not keys:
        return set()
    sql = _update_sql(_table((*set_fields, *where_fields, key)), _columns(set_fields), _columns(where_fields),
                      key.column_name, len(keys), database.param)
    cursor = database.cursor()
    with _driver_errors_as_peewee_errors:
        cursor.execute(sql, (*_values((*set_fields, *where_fields), values), *(key.db_value(k) for k in keys)))
        return {row[0] for row in cursor.fetchall()}


def select(build: Callable[..., peewee.ModelSelect], *values) -> list[peewee.Model]:
    """The rows of `build(*values)`, a SELECT whose SQL is rendered the first time only (per
    `build` and backend); Peewee still turns the columns into model fields.

    Each value must reach the SQL as one parameter, in order and as given
    (`Model.field == value`); the first run checks that, so a misuse fails at once."""
    key = (build, is_sqlite())
    if key not in _selects:
        query = build(*values)
        sql, params = query.sql()
        if list(params) != list(values):
            raise ValueError(f"{build!r}: the query's parameters {params!r} are not the values {values!r}")
        _selects[key] = (query.model, sql)
    model, sql = _selects[key]
    return list(model.raw(sql, *values))


_selects: dict[tuple, tuple[type[peewee.Model], str]] = {}

# What Peewee's own execute does: callers catch peewee.IntegrityError, whichever the driver.
_driver_errors_as_peewee_errors = peewee.__exception_wrapper__


def _values(fields: Sequence[peewee.Field], row: Sequence) -> tuple:
    return tuple(value if value is None else field.db_value(value) for field, value in zip(fields, row, strict=True))


# Keyed by names, not Field objects: a Field's == builds an SQL expression.
@functools.cache
def _insert_sql(table: str, columns: tuple[str, ...], param: str) -> str:
    names = ", ".join(_quoted(c) for c in columns)
    return f"INSERT INTO {_quoted(table)} ({names}) VALUES ({', '.join([param] * len(columns))})"


@functools.cache
def _update_sql(table: str, set_columns: tuple[str, ...], where_columns: tuple[str, ...], key: str, keys: int,
                param: str) -> str:
    assignments = ", ".join(f"{_quoted(c)} = {param}" for c in set_columns)
    conditions = " AND ".join(f"{_quoted(c)} = {param}" for c in where_columns)
    return (f"UPDATE {_quoted(table)} SET {assignments} WHERE {conditions} "
            f"AND {_quoted(key)} IN ({', '.join([param] * keys)}) RETURNING {_quoted(key)}")


def _table(fields: Sequence[peewee.Field]) -> str:
    models = {f.model for f in fields}
    if len(models) != 1:
        raise ValueError(f"one model per statement, got {sorted(m.__name__ for m in models)}")
    return models.pop()._meta.table_name


def _columns(fields: Sequence[peewee.Field]) -> tuple[str, ...]:
    return tuple(f.column_name for f in fields)


def _quoted(name: str) -> str:
    return f'"{name}"'  # standard SQL identifier quotes: SQLite and PostgreSQL alike
