"""The errors of budget writes, each with the HTTP status the API answers and the field it names."""

from __future__ import annotations


class BudgetError(Exception):
    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class BudgetInvalid(BudgetError):
    status = 400


class BudgetNotFound(BudgetError):
    status = 404


class BudgetConflict(BudgetError):
    status = 409
