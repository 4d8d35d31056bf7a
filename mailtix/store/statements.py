"""Row inserts and updates with their SQL built once per model and column set.

Peewee composes a statement's SQL anew on every call: for a wide row such as a message that is
50-100 µs of Python, and a new ticket writes seven rows. The text of "insert these columns into
this table" or "update these columns of the row with this id" depends only on the model, the
column names and the database, so it is cached here; every value still goes through its field's
``db_value``, exactly as peewee's own INSERT and UPDATE would convert it. ``BaseModel.save``
(and so ``Model.create``) uses this. One read too: a row by its id as a model object
(``select_by_id``, a ticket for every follow-up; ``model_columns`` and ``from_row`` for the
same row read in a join), and many rows in one INSERT (``insert_rows``, a group's receipts) or
one INSERT run for each (``insert_objects``, a group's letters); other queries with conditions
stay with peewee or ``lookups``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from peewee import Database, Model, PostgresqlDatabase

_SQL: dict[tuple[str, type[Model], tuple[str, ...], str], str] = {}


def _real(database: Any) -> Database:
    return database.obj if hasattr(database, "obj") else database  # a DatabaseProxy


def _columns(model: type[Model], names: tuple[str, ...]) -> list[str]:
    fields = model._meta.fields
    return [fields[name].column_name for name in names]


def _quoted(db: Database, name: str) -> str:
    quotes = str(db.quote)  # peewee keeps the two quote characters, e.g. '""'
    return f"{quotes[0]}{name}{quotes[1]}"


def _statement(kind: str, model: type[Model], names: tuple[str, ...], db: Database) -> str:
    key = (kind, model, names, type(db).__name__)
    sql = _SQL.get(key)
    if sql is not None:
        return sql
    table = _quoted(db, model._meta.table_name)
    columns = [_quoted(db, c) for c in _columns(model, names)]
    pk = _quoted(db, "id")  # every model's primary key (BaseModel)
    if kind in ("insert", "insert many"):
        marks = ", ".join([db.param] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        if kind == "insert" and isinstance(db, PostgresqlDatabase):
            sql += f" RETURNING {pk}"
    else:
        sets = ", ".join(f"{c} = {db.param}" for c in columns)
        sql = f"UPDATE {table} SET {sets} WHERE {pk} = {db.param}"
    _SQL[key] = sql
    return sql


def _params(model: type[Model], data: Mapping[str, Any]) -> list[Any]:
    fields = model._meta.fields
    return [fields[name].db_value(value) for name, value in data.items()]


def insert_row(model: type[Model], data: Mapping[str, Any]) -> int:
    """INSERT ``data`` (field name -> Python value); returns the new row's id."""
    db = _real(model._meta.database)
    cursor = db.execute_sql(_statement("insert", model, tuple(data), db), _params(model, data))
    if isinstance(db, PostgresqlDatabase):
        return int(cursor.fetchone()[0])
    return int(cursor.lastrowid)


def update_row(model: type[Model], pk: int, data: Mapping[str, Any]) -> int:
    """UPDATE the row with id ``pk`` to ``data``; returns the number of rows changed."""
    if not data:
        return 0
    db = _real(model._meta.database)
    params = [*_params(model, data), pk]
    return int(db.execute_sql(_statement("update", model, tuple(data), db), params).rowcount)


M = TypeVar("M", bound=Model)
_SELECTS: dict[tuple[type[Model], str], tuple[str, list[tuple[str, Any]]]] = {}


def _select(model: type[Model], db: Database) -> tuple[str, list[tuple[str, Any]]]:
    """SELECT every column of the row with a given id; each field's name and converter."""
    key = (model, type(db).__name__)
    found = _SELECTS.get(key)
    if found is None:
        fields = model._meta.sorted_fields
        columns = ", ".join(_quoted(db, field.column_name) for field in fields)
        table, pk = _quoted(db, model._meta.table_name), _quoted(db, "id")
        sql = f"SELECT {columns} FROM {table} WHERE {pk} = {db.param}"
        found = _SELECTS[key] = (sql, [(field.name, field.python_value) for field in fields])
    return found


def select_by_id(model: type[M], pk: int) -> M | None:
    """The row with id ``pk`` as a model object, as ``model.get_or_none(model.id == pk)`` makes
    it (every column through its field's ``python_value``, nothing dirty), or None: 15 µs
    instead of peewee's 280 µs (it composes the query's SQL on every call)."""
    db = _real(model._meta.database)
    sql, _ = _select(model, db)
    row = db.execute_sql(sql, [pk]).fetchone()
    return None if row is None else from_row(model, row)


def model_columns(model: type[Model], alias: str) -> str:
    """Every column of ``model``, each prefixed with table ``alias``, in the order
    ``from_row`` reads them: for a join that reads a whole row beside other columns."""
    db = _real(model._meta.database)
    return ", ".join(
        f"{alias}.{_quoted(db, field.column_name)}" for field in model._meta.sorted_fields
    )


def from_row(model: type[M], row: Sequence[Any]) -> M:
    """A model object from a row whose first columns are ``model_columns``' (extra ones after
    them are not read), as ``select_by_id`` makes it."""
    _, fields = _select(model, _real(model._meta.database))
    found = model(__no_default__=1)
    found.__data__ = {
        name: convert(value)
        for (name, convert), value in zip(fields, row[: len(fields)], strict=True)
    }
    found._dirty.clear()  # type: ignore[attr-defined]
    return found


def insert_rows(model: type[Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (each with the same field names) in one statement."""
    if not rows:
        return
    db = _real(model._meta.database)
    names = tuple(rows[0])
    table = _quoted(db, model._meta.table_name)
    columns = ", ".join(_quoted(db, c) for c in _columns(model, names))
    marks = f"({', '.join([db.param] * len(names))})"
    sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([marks] * len(rows))}"
    params = [value for row in rows for value in _params(model, row)]
    db.execute_sql(sql, params)


def insert_objects(objects: Sequence[Model]) -> int:
    """INSERT ``objects``, model objects of one model not saved yet, each with the fields the
    first has, with one statement run for each (``executemany``: prepared once, however many
    there are); returns how many rows went in. Their ids are not read back."""
    if not objects:
        return 0
    model = type(objects[0])
    db = _real(model._meta.database)
    names = tuple(objects[0].__data__)
    params = [_params(model, {name: item.__data__[name] for name in names}) for item in objects]
    cursor = db.cursor()
    cursor.executemany(_statement("insert many", model, names, db), params)
    return int(cursor.rowcount)
