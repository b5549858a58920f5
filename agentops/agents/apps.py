from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agentops.agents"
    label = "agents"
    verbose_name = "Agents and bundles"
