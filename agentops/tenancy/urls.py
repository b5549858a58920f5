"""Pages of tenancy: login, the project list, a project's overview and settings, personal API tokens."""

from django.urls import path

from agentops.tenancy import views

_settings = "p/<slug:slug>/settings"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("", views.home, name="home"),
    path("p/<slug:slug>/", views.project, name="project"),
    path(f"{_settings}/members/", views.members, name="project_members"),
    path(f"{_settings}/members/add/", views.member_add, name="project_member_add"),
    path(f"{_settings}/members/<int:membership_id>/role/", views.member_role, name="project_member_role"),
    path(f"{_settings}/members/<int:membership_id>/remove/", views.member_remove, name="project_member_remove"),
    path(f"{_settings}/keys/", views.keys, name="project_keys"),
    path(f"{_settings}/keys/create/", views.key_create, name="project_key_create"),
    path(f"{_settings}/keys/<int:key_id>/revoke/", views.key_revoke, name="project_key_revoke"),
    path(f"{_settings}/audit/", views.audit, name="project_audit"),
    path("account/tokens/", views.tokens, name="account_tokens"),
    path("account/tokens/create/", views.token_create, name="account_token_create"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="account_token_revoke"),
]
