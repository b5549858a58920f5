"""Rule evaluation: one module per rule kind, each `evaluate(rule, *, now) -> list[Finding]`
(agentops.alerts.evaluation.base); agentops.alerts.lifecycle turns findings into alerts."""
