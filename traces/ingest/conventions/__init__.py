"""One module per LLM tracing convention; normalize.py holds the registry and the order.

Kept free of imports so that conventions and messages can import `base` without cycles.
"""
