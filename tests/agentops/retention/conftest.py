from __future__ import annotations

import pytest

from agentops.tenancy.roles import Role
from tests.factories import make_member


@pytest.fixture
def admin_user_of(db):
    return lambda project: make_member(project, Role.ADMIN)
