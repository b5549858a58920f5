import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

application = get_wsgi_application()

# gunicorn runs no system checks: refuse to serve if a project-scoped URL skips the tenancy chokepoint.
from agentops.tenancy.checks import refuse_to_start  # noqa: E402  (needs the settings loaded above)

refuse_to_start()
