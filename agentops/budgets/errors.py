"""The errors of budget writes, each with the HTTP status the API answers and the field it names."""

from __future__ import annotations

from agentops.errors import FieldError


class BudgetError(FieldError):
    status = 400


class BudgetInvalid(BudgetError):
    status = 400


class BudgetNotFound(BudgetError):
    status = 404


class BudgetConflict(BudgetError):
    status = 409
