"""Row inserts and updates with their SQL built once per model and column set.

Peewee composes a statement's SQL anew on every call: for a wide row such as a message that is
50-100 µs of Python, and a new ticket writes seven rows. The text of "insert these columns into
this table" or "update these columns of the row with this id" depends only on the model, the
column names and the database, so it is cached here; every value still goes through its field's
``db_value``, exactly as peewee's own INSERT and UPDATE would convert it. ``BaseModel.save``
(and so ``Model.create``) uses this; queries with conditions stay with peewee.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    if kind == "insert":
        marks = ", ".join([db.param] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        if isinstance(db, PostgresqlDatabase):
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
