"""The one shape of "this input is wrong" that services, selectors and validators raise.

`field` names where (`name`, `assertions[2].value`, `line 3: input`), `message` what is wrong; the API
answers it as 400 naming the field, a page shows the message beside the field. Each app subclasses it
(ApprovalError, GoldenError, ChannelError, ...) so callers catch their own kind."""

from __future__ import annotations


class FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
