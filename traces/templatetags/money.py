"""`{% load money %}{{ value|usd }}`: see traces.money."""

from __future__ import annotations

from django import template

from traces import money

register = template.Library()
register.filter("usd", money.usd)
