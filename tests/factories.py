"""Builders for test data, going through the same services the product uses."""

from __future__ import annotations

import functools
import itertools

from django.contrib.auth.hashers import make_password

from agentops.tenancy import services
from agentops.tenancy.models import Organization, Project, User
from agentops.tenancy.roles import Role

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery-staple"


@functools.cache
def _password_hash() -> str:
    return make_password(PASSWORD)


def make_user(email: str | None = None, *, superuser: bool = False) -> User:
    """A user whose password is PASSWORD, hashed by the configured hasher (PBKDF2) once per process:
    hashing it anew for each user cost 0.3 s of CPU each, five per `personas`, in hundreds of tests.
    Logins still check it the way production does; tests of user_create's hashing pass a password."""
    user = services.user_create(email=email or f"user{next(_seq)}@example.com", is_superuser=superuser)
    user.password = _password_hash()
    user.save(update_fields=["password"])
    return user


def make_org(name: str | None = None) -> Organization:
    return services.organization_create(name=name or f"Org {next(_seq)}")


def make_project(org: Organization | None = None, name: str | None = None) -> Project:
    return services.project_create(organization=org or make_org(), name=name or f"Project {next(_seq)}")


def make_member(project: Project, role: Role, email: str | None = None) -> User:
    user = make_user(email)
    services.membership_grant(user=user, project=project, role=role)
    return user


def make_run(project, trace=None, resource=None):
    """Store an agent run in `project` through the real ingest pipeline; returns its AgentTrace."""
    from tests.otlp import AgentTrace, protobuf
    from traces.ingest.decode import decode_request
    from traces.selectors import load_ingest_config
    from traces.services import ingest_batch

    trace = trace or AgentTrace()
    batch = decode_request(protobuf(trace.built(), resource), "application/x-protobuf")
    ingest_batch(config=load_ingest_config(project.pk), batch=batch)
    return trace
