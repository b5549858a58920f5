"""plotly.js is served from the pinned plotly package at the URL the pages use: no copy in the repo."""

from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.test import Client


def test_plotly_is_found_in_the_plotly_package():
    found = finders.find("vendor/plotly.min.js")
    assert isinstance(found, str)
    assert found.endswith("plotly/package_data/plotly.min.js")
    assert finders.find("vendor/no-such-asset.js") in (None, "", [])


def test_the_pages_url_for_plotly_serves_it():
    response = Client().get(static("vendor/plotly.min.js"))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert b"plotly.js v4.1.1" in body[:2000]
