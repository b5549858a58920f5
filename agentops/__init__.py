"""agentops. Importing the package loads nothing: the HTTP-only parts (agentops.client, the `eval` and
`canary` commands) run where neither Django nor Celery is wanted. Django processes load the Celery app
in AgentopsConfig.ready(), so that tasks bind to it; Celery processes import agentops.celery itself."""
