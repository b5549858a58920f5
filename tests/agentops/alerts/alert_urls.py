"""The site's URLs, plus a stand-in for `alert_detail` while the alerts pages are not on this branch:
agentops.alerts.presenters links every alert to it. Once the real page exists this adds nothing."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, path, reverse

from agentops import urls as site

urlpatterns = list(site.urlpatterns)


def _stand_in(request: HttpRequest, slug: str, alert_id: int) -> HttpResponse:
    return HttpResponse()


try:
    reverse("alert_detail", urlconf=site.__name__, kwargs={"slug": "p", "alert_id": 1})
except NoReverseMatch:
    urlpatterns.append(path("p/<slug:slug>/alerts/<int:alert_id>/", _stand_in, name="alert_detail"))
