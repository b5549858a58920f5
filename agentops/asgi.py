"""ASGI entry point for any ASGI server (`agentops web` builds the same with its own --threads)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402

from agentops.server.app import build  # noqa: E402

application = build(settings.WEB_THREADS)
