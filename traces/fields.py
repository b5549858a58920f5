"""A JSON field stored as Postgres `json`, which keeps the text as written: object keys in the order the
agent sent them. `jsonb` (Django's JSONField) sorts keys by length, then bytes, so `{"zeta": 1,
"alpha": 2}` read back as `{"alpha": 2, "zeta": 1}`, and people read a tool's arguments in the order
their agent wrote them.

What `json` costs: it has no equality and no jsonb operators (`@>`, `?`, `jsonb_*`); a query that needs
them casts the column (`input::jsonb`). `->` / `->>` and IS NULL work on both. The ORM's `=` (`exact`,
as in `exclude(input=None)`) is registered here to compare as jsonb, so it means what it meant. Storing it is cheaper
(the text is checked, not rebuilt), reading it too (the text is sent as stored).

Reading: psycopg 3 decodes a `json` column itself, and Django's JSONField then decodes again (a JSON
string "123" would come back as the number 123). Django turns psycopg's jsonb decoding off on each
connection (TextLoader); `load_json_as_text` does the same for json, so both read as text, the field
decodes once, and raw SQL reads a json column as it reads a jsonb one. Writing: Django sends a
JSONField's value as jsonb, which would sort the keys on the way in; this field sends json.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.fields.json import JSONExact
from django.db.models.sql.compiler import SQLCompiler
from psycopg.types.json import Json
from psycopg.types.string import TextLoader


class OrderedJSONField(models.JSONField):
    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "json"

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:  # SQL NULL, or JSON null in a lookup: as Django decides
            return super().get_db_prep_value(value, connection, prepared=True)
        return Json(value, dumps=partial(json.dumps, cls=self.encoder))


@OrderedJSONField.register_lookup
class JSONBExact(JSONExact):
    """`=` on a json column, compared as jsonb (json has no `=`): same keys and values in any order."""

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"({lhs})::jsonb = ({rhs})::jsonb", (*lhs_params, *rhs_params)


def load_json_as_text(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """On connection_created: read `json` columns as text, as Django reads `jsonb` (see the docstring)."""
    if connection.vendor == "postgresql":
        connection.connection.adapters.register_loader("json", TextLoader)
