"""The default alert rules for every project made before they existed (new projects get them from
tenancy's project_create). A frozen copy of agentops.alerts.rules.DEFAULT_RULES as they were then: a
migration must not change meaning when the code does. Idempotent like ensure_default_rules: a project
that has a default rule of the same kind and metric gets no second one."""

from django.db import migrations

DEFAULT_RULES = (
    {
        "name": "Drift of new bundles",
        "kind": "drift",
        "metric": "",
        "window_minutes": 1440,
        "min_sample": 20,
        "params": {
            "metrics": ["error_rate", "unfinished_rate", "duration_ms", "cost_usd", "steps", "tool_calls"]
        },
    },
    {
        "name": "Error rate",
        "kind": "threshold",
        "metric": "error_rate",
        "window_minutes": 60,
        "warning": 0.1,
        "critical": 0.25,
        "min_sample": 20,
        "params": {},
    },
)


def create_defaults(apps, schema_editor):
    Project = apps.get_model("tenancy", "Project")
    AlertRule = apps.get_model("alerts", "AlertRule")
    for project in Project.objects.all().iterator():
        have = set(AlertRule.objects.filter(project=project, is_default=True).values_list("kind", "metric"))
        for rule in DEFAULT_RULES:
            if (rule["kind"], rule["metric"]) not in have:
                AlertRule.objects.create(project=project, is_default=True, **rule)


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_alert_rules_and_alerts"),
        ("tenancy", "0001_initial"),
    ]

    # Going back leaves the rules: they are ordinary rows a user may have edited since.
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
