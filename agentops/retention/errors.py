"""The one error of retention writes: a field and what is wrong with it (the API answers 400 with both)."""

from __future__ import annotations

from agentops.errors import FieldError


class RetentionError(FieldError):
    pass
