from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from guardian.admin import GuardedModelAdmin

from agentops.tenancy.models import ApiToken, AuditEvent, IngestKey, Membership, Organization, Project, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "is_staff", "is_superuser", "last_login"]
    search_fields = ["email"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Names", {"fields": ("first_name", "last_name")}),
        ("Status", {"fields": ("is_active", "is_staff", "is_superuser")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]


@admin.register(Project)
class ProjectAdmin(GuardedModelAdmin):
    list_display = ["name", "slug", "organization", "created_at"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role"]
    # Roles are changed through services so that permissions and the audit log stay in step.
    readonly_fields = ["user", "project", "role"]


@admin.register(IngestKey)
class IngestKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "project", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash", "project", "created_by", "last_used_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "token_hash", "user", "last_used_at"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_label", "action", "target_type", "target_label", "project"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
