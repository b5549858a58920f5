"""Shared personas: one project with a user in each role, and an outsider from another organization."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agentops.tenancy.models import Project, User
from agentops.tenancy.roles import Role
from tests.factories import make_member, make_project, make_user


@dataclass
class Personas:
    project: Project
    viewer: User
    engineer: User
    reviewer: User
    admin: User
    outsider: User
    other_project: Project

    def by_role(self) -> dict[str, User]:
        return {
            "viewer": self.viewer,
            "engineer": self.engineer,
            "reviewer": self.reviewer,
            "admin": self.admin,
            "outsider": self.outsider,
        }


@pytest.fixture(autouse=True)
def _empty_unmanaged_tables(request: pytest.FixtureRequest, django_db_blocker: Any) -> Iterator[None]:
    """Steps live in a hand-made partitioned table, which Django's flush between transactional tests
    (live_server, transactional_db) does not know: empty it there, or rows leak into later tests."""
    yield
    if {"transactional_db", "live_server"} & set(request.fixturenames):
        from django.db import connection

        # This teardown may run after transactional_db's, which blocks the database again.
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("TRUNCATE traces_step")


@pytest.fixture
def personas(db: None) -> Personas:
    project = make_project()
    other_project = make_project()
    return Personas(
        project=project,
        viewer=make_member(project, Role.VIEWER),
        engineer=make_member(project, Role.ENGINEER),
        reviewer=make_member(project, Role.REVIEWER),
        admin=make_member(project, Role.ADMIN),
        # An admin of another organization's project: powerful, but not here.
        outsider=make_member(other_project, Role.ADMIN),
        other_project=other_project,
    )


@pytest.fixture
def user(db: None) -> User:
    return make_user()
