"""What the inbox pages show of a request, and how they read a reviewer's form: pure functions, no
database (the selectors loaded the request with its project, creator and decisions).

Without the payload permission a row holds no content (summary, argument values, edits, comments'
arguments), as in the API (presenters.approval_dict): only the names of the top-level arguments and
their count, which say what kind of call it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agentops.approvals.models import ApprovalDecision, ApprovalRequest
from agentops.approvals.presenters import _creator
from agentops.approvals.services import ApprovalInvalid
from agentops.tenancy.models import User

# Where a decision was made from, and so where it answers (a fixed set: never a URL from the form).
ORIGINS = ("inbox", "all", "detail")
# The form's choices: "edit" is an approval with the reviewer's arguments.
DECISIONS = ("approve", "reject", "edit")


def pretty(value: Any) -> str:
    # In the order the agent sent them (the columns are json: agentops.approvals.models), as people read
    # a call's arguments; only arguments_hash sorts, to compare.
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def time_left(expires_at: datetime, now: datetime) -> str:
    """The time left as the page is made ("4 min 12 s left"); the page's script counts it down from `expires_at`."""
    seconds = int((expires_at - now).total_seconds())
    if seconds <= 0:
        return "expired"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h left"
    if hours:
        return f"{hours} h {minutes} min left"
    if minutes:
        return f"{minutes} min {secs} s left"
    return f"{secs} s left"


@dataclass
class DecisionForm:
    """A reviewer's submitted form, and what the service said of it (errors by field)."""

    decision: str = ""
    comment: str = ""
    arguments_text: str | None = None
    origin: str = "inbox"
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def shown(self) -> dict[str, str]:
        """Where the page shows each error and typed value: a comment's beside the comment field of the
        form that was sent ("reject_comment", ...), the arguments' beside the text, the rest above."""
        shown = {f"{self.decision}_value": self.comment} if self.decision in DECISIONS else {}
        for name, message in self.errors.items():
            if name == "comment" and self.decision in DECISIONS:
                shown[f"{self.decision}_comment"] = message
            elif name == "arguments":
                shown["arguments"] = message
            else:
                shown["general"] = message
        return shown


def read_form(post: Any) -> DecisionForm:
    decision = str(post.get("decision", ""))
    origin = str(post.get("from", ""))
    return DecisionForm(
        decision=decision,
        comment=str(post.get("comment", "")),
        arguments_text=str(post["arguments"]) if "arguments" in post else None,
        origin=origin if origin in ORIGINS else "inbox",
    )


def edited_arguments(form: DecisionForm, original: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments of an "edit and approve" (None: approve as asked, also when the text says what was
    asked). Text that is no JSON raises ApprovalInvalid naming where it breaks: nothing is recorded."""
    if form.decision != "edit":
        return None
    try:
        value = json.loads(form.arguments_text or "")
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise ApprovalInvalid("arguments", f"is not valid JSON: {where}") from None
    if not isinstance(value, dict):
        raise ApprovalInvalid("arguments", "must be a JSON object, like the arguments asked")
    return None if value == original else value


def row(
    approval: ApprovalRequest,
    *,
    user: User,
    payloads: bool,
    review: bool,
    now: datetime,
    form: DecisionForm | None = None,
) -> dict[str, Any]:
    decisions: list[ApprovalDecision] = list(approval.decisions.all())
    mine = next((d for d in decisions if d.reviewer_id == user.pk), None)
    arguments = approval.arguments if isinstance(approval.arguments, dict) else {}
    data: dict[str, Any] = {
        "a": approval,
        "creator": _creator(approval),
        "received": sum(1 for d in decisions if d.decision == ApprovalDecision.Decision.APPROVE),
        "decisions": decisions,
        "mine": mine,
        "own": approval.created_by_user_id == user.pk,
        "time_left": time_left(approval.expires_at, now),
        # What the page's script counts down from (whole seconds: every browser parses that).
        "expires_iso": approval.expires_at.isoformat(timespec="seconds"),
        "pending": approval.state == ApprovalRequest.State.PENDING,
        "payloads": payloads,
        # Decide only what is pending and not one's own, once.
        "can_decide": review
        and approval.state == ApprovalRequest.State.PENDING
        and mine is None
        and approval.created_by_user_id != user.pk,
        "argument_names": list(arguments),
        "form": form or DecisionForm(),
    }
    if payloads:
        data["arguments"] = pretty(approval.arguments)
        edited = form.arguments_text if form is not None and form.arguments_text is not None else None
        data["arguments_text"] = edited if edited is not None else data["arguments"]
    return data


def edits(approval: ApprovalRequest) -> list[dict[str, Any]]:
    """The reviewers' edits of the arguments, in order, each marked if it is the one the agent runs with
    (the latest edit of an approved request): for payload viewers only."""
    return [
        {
            "by": d.reviewer.email,
            "at": d.at,
            "arguments": pretty(d.arguments),
            "used": approval.state == ApprovalRequest.State.APPROVED and d.arguments == approval.final_arguments,
        }
        for d in approval.decisions.all()
        if d.arguments is not None
    ]
