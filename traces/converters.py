"""A URL path segment for any text an agent sent (an agent name, a session id), that round-trips.

Django's reverse keeps "/" as it is, so `ops/../../settings/keys` made a link that the browser
normalized into another page (the ingest keys), and a session id holding `../` gave a 404. Here the
value becomes one opaque segment: "%" and "/" are percent-encoded (reverse then quotes that "%" again,
so the browser never sees a "/" or a dot segment), and a value that is only dots has its dots encoded
too. Links written before this (a raw "/" in the path) still resolve: the pattern takes any text.
"""

from __future__ import annotations

from urllib.parse import unquote

from django.urls import register_converter


class OpaqueTextConverter:
    regex = ".+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        text = value.replace("%", "%25").replace("/", "%2F")
        if text.strip(".") == "":  # "." or "..": a dot segment, even alone
            text = text.replace(".", "%2E")
        return text


register_converter(OpaqueTextConverter, "text")
