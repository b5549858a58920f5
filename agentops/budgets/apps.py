from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "agentops.budgets"
    label = "budgets"
    verbose_name = "Budgets"

    def ready(self) -> None:
        # An approved raise request changes the budget in the decision's own transaction.
        from agentops.approvals import hooks
        from agentops.budgets.raise_requests import ACTION, raise_decided

        hooks.register(ACTION, raise_decided)
