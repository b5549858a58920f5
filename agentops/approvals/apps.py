from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "agentops.approvals"
    label = "approvals"
    verbose_name = "Approvals"
