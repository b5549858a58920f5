"""Text from stored data, made inert for plotly.

Plotly renders a subset of HTML in every text it draws (tick labels, legend entries, hover text,
titles): `<a href>` becomes a link, `<span style>` a styled element, `<br>` a line break. A user id, a
model, a tool or a bundle name comes from an agent's spans, so from its end users: each is escaped, and
plotly turns the entities back into the same characters, drawn as text. In a hovertemplate, `%{...}`
is plotly's own syntax and is escaped too, so a value cannot pull another field into the hover.
"""

from __future__ import annotations

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def label(value: str) -> str:
    """A data value as plotly text: drawn exactly as it reads, never as markup."""
    return value.translate(_ENTITIES)


def template_literal(value: str) -> str:
    """A data value inside a hovertemplate: as `label`, with plotly's `%{` escaped as well."""
    return label(value).replace("%{", "%&#123;")
