from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "agentops.budgets"
    label = "budgets"
    verbose_name = "Budgets"
