"""The mutable draft a convention fills, and the small value helpers every convention shares.

A convention module exposes NAME, `matches(span) -> bool`, `kind(attrs) -> StepKind | None` and
`extract(span, draft) -> None`. `extract` only fills fields that are still unset, so several
conventions can fill one draft in priority order, and it pops from `draft.attrs` exactly the attributes
whose value now lives in a field: whatever is not popped stays in the step's attributes.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from traces.ingest.spans import Span
from traces.ingest.steps import StepKind


def as_int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def as_str(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if type(value) in (int, float):
        return str(value)
    return None


def as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        # str() first: Decimal(0.1) would carry the float's binary noise into a money column.
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def has_key_prefix(attrs: dict[str, Any], prefix: str) -> bool:
    """Whether any attribute key starts with `prefix`. One join and one search in C: a generator testing
    key by key cost four times as much on a span's ten-odd keys. Keys are joined with NUL, which no
    prefix holds; only a key with NUL inside (which OTel SDKs do not send) could be taken for two."""
    return "\x00" + prefix in "\x00" + "\x00".join(attrs)


# orjson writes at most this many levels; text with no more opening brackets cannot nest deeper, and one
# count in C spares it the check (most message lists, however long).
_ORJSON_DEPTH = 254


def _too_deep(value: Any) -> bool:
    """Whether a parsed value nests past what orjson writes (254 levels; storage writes with orjson). The
    check is orjson's own encoder: a tenth of the parse's cost, where a walk in Python cost three times
    the parse on a long message list."""
    try:
        orjson.dumps(value, default=str)
    except orjson.JSONEncodeError as exc:
        return "recursion" in str(exc).lower()
    return False


def loads(value: Any) -> Any:
    """Parse a string that holds a JSON object, array or string; anything else is returned as is, and so
    is JSON nested deeper than orjson writes: an end user shapes these strings, and a prompt of 1,000 "["
    made json.loads raise RecursionError out of ingest (a deep value would fail storage, or any walk)."""
    if isinstance(value, str) and value[:1] in ("{", "[", '"'):
        try:
            # orjson parses message lists several times faster; it refuses what json takes beyond the
            # standard (NaN, integers past 64 bits), which json then gets to read.
            result = orjson.loads(value)
        except orjson.JSONDecodeError:
            try:
                result = json.loads(value)
            except (ValueError, RecursionError):
                return value
        if value.count("[") + value.count("{") > _ORJSON_DEPTH and _too_deep(result):
            return value
        return result
    return value


def jsonable(value: Any) -> Any:
    """Make a decoded attribute value JSON-able for a JSONB column, without losing information.

    bytes become base64 text; non-finite floats (JSONB has none) become "NaN", "Infinity", "-Infinity".
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else json.dumps(value)
    if kind is list or kind is tuple:
        return [jsonable(v) for v in value]
    if kind is dict:
        return {str(k): jsonable(v) for k, v in value.items()}
    if kind is bytes:
        return base64.b64encode(value).decode("ascii")
    return str(value)


def jsonable_with_text(value: Any) -> tuple[Any, str | None]:
    """jsonable(value), with its JSON text when orjson can write the value as it is, for storage to use
    instead of serializing it again. Payloads and attributes are nearly always JSON already, and checking
    with the C encoder first is several times cheaper than walking a message list in Python.

    orjson refuses what JSONB cannot hold (bytes, odd keys) and writes non-finite floats as null: a
    refusal or any null sends the value through jsonable() instead (which spells out "NaN"), with no
    text. A string is returned as it is, with no text: storage writes it as a JSON string."""
    if value is None or type(value) is str:
        return value, None
    try:
        text = orjson.dumps(value)
    except TypeError:
        return jsonable(value), None
    if b"null" in text:
        return jsonable(value), None
    return value, text.decode()


def normalize_provider(value: str | None) -> str | None:
    """Lowercase OTel-style provider ids: "Anthropic" -> "anthropic", "az.ai.openai" -> "azure.ai.openai"."""
    if not value:
        return None
    lowered = value.strip().lower()
    return _PROVIDER_ALIASES.get(lowered, lowered.replace(" ", "_"))


# Older or vendor spellings of the OTel gen_ai.provider.name values (semantic-conventions 1.37+).
_PROVIDER_ALIASES = {
    "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gen_ai",
    "bedrock": "aws.bedrock",
    "aws": "aws.bedrock",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}


# Keys that name a provider or, in some emitters, the framework that made the span.
_SYSTEM_KEYS = frozenset({"gen_ai.system"})
# Agent frameworks seen writing their own name where the provider goes.
_FRAMEWORKS = frozenset(
    {"strands-agents", "gcp.vertex.agent", "crewai", "langchain", "langgraph", "llama_index", "llamaindex",
     "smolagents", "autogen", "mastra", "openai-agents", "pydantic-ai", "haystack"}
)  # fmt: skip

# Providers, as normalize_provider spells them: OTel's gen_ai.provider.name values (semantic-conventions
# 1.37+) and model servers that run models locally (never priced); genai-prices' own ids are added
# when first asked (known_providers), from the snapshot pricing loads anyway.
_NAMED_PROVIDERS = frozenset(
    {
        "openai", "anthropic", "aws.bedrock", "azure.ai.inference", "azure.ai.openai", "cohere", "deepseek",
        "gcp.gemini", "gcp.gen_ai", "gcp.vertex_ai", "groq", "ibm.watsonx.ai", "mistral_ai", "perplexity", "x_ai",
        "ollama", "vllm", "lmstudio", "llamacpp", "llama.cpp", "text-generation-inference", "tgi",
    }
)  # fmt: skip


@functools.cache
def known_providers() -> frozenset[str]:
    from genai_prices.data_snapshot import get_snapshot

    return _NAMED_PROVIDERS | {normalize_provider(p.id) for p in get_snapshot().providers}  # type: ignore[misc]


class Draft:
    """A step being built. Fields mirror Step; `attrs` is the span's attributes not yet promoted."""

    __slots__ = (
        "agent_name",
        "agent_name_derived",
        "attrs",
        "cache_read_tokens",
        "cache_write_tokens",
        "convention",
        "environment",
        "error_message",
        "error_type",
        "input",
        "input_tokens",
        "kind",
        "metadata",
        "model",
        "output",
        "output_tokens",
        "provider",
        "reasoning_tokens",
        "reported_cost_usd",
        "session_id",
        "status",
        "tags",
        "tool_call_id",
        "tool_name",
        "usage_is_aggregate",
        "user_id",
    )

    def __init__(self, span: Span, kind: StepKind, convention: str) -> None:
        self.attrs: dict[str, Any] = dict(span.attributes)
        self.kind = kind
        self.convention = convention
        self.status = "error" if span.status_code == 2 else "ok" if span.status_code == 1 else "unset"
        self.error_type: str | None = None
        self.error_message: str | None = None
        self.model: str | None = None
        self.provider: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read_tokens: int | None = None
        self.cache_write_tokens: int | None = None
        self.reasoning_tokens: int | None = None
        self.usage_is_aggregate = False
        self.reported_cost_usd: Decimal | None = None
        self.tool_name: str | None = None
        self.tool_call_id: str | None = None
        self.input: Any = None
        self.output: Any = None
        self.agent_name: str | None = None
        self.agent_name_derived = False
        self.environment: str | None = None
        self.session_id: str | None = None
        self.user_id: str | None = None
        self.tags: list[str] = []
        self.metadata: dict[str, Any] = {}

    def pop(self, key: str) -> Any:
        return self.attrs.pop(key, None)

    def fill_str(self, name: str, *keys: str) -> None:
        """Set field `name` from the first key holding a usable string, unless it is set already."""
        if getattr(self, name) is not None:
            return
        attrs = self.attrs
        for key in keys:
            if key in attrs:
                value = as_str(attrs[key])
                if value is not None:
                    del attrs[key]
                    setattr(self, name, value)
                    return

    def fill_int(self, name: str, *keys: str) -> None:
        if getattr(self, name) is not None:
            return
        attrs = self.attrs
        for key in keys:
            if key in attrs:
                value = as_int(attrs[key])
                if value is not None:
                    del attrs[key]
                    setattr(self, name, value)
                    return

    def fill_provider(self, *keys: str) -> None:
        """Provider from the first key present, normalized; a renamed value keeps its attribute.

        gen_ai.system counts only when it names a provider: frameworks write their own name there
        (Strands: "strands-agents", Google ADK: "gcp.vertex.agent"), and a framework taken for a provider
        leaves every call unpriced. gen_ai.provider.name may name any provider, a self-hosted gateway
        too, but not a framework (Strands writes its name there under the newest conventions)."""
        if self.provider is not None:
            return
        attrs = self.attrs
        for key in keys:
            raw = as_str(attrs.get(key))
            if raw is not None:
                provider = normalize_provider(raw)
                if provider in _FRAMEWORKS or (key in _SYSTEM_KEYS and provider not in known_providers()):
                    continue
                self.provider = provider
                if provider == raw:
                    del attrs[key]
                return

    def fill_cost(self, *keys: str) -> None:
        if self.reported_cost_usd is not None:
            return
        attrs = self.attrs
        for key in keys:
            if key in attrs:
                value = as_decimal(attrs[key])
                if value is not None:
                    del attrs[key]
                    self.reported_cost_usd = value
                    return

    def fill_payload(self, name: str, key: str, mime_key: str | None = None) -> None:
        """Set input/output from a payload attribute: parsed when it holds JSON, else the text."""
        if getattr(self, name) is not None or key not in self.attrs:
            return
        value = self.attrs.pop(key)
        if mime_key is None:
            setattr(self, name, loads(value))
            return
        # The mime type stays in attributes: it says how the value was sent.
        mime = self.attrs.get(mime_key)
        setattr(self, name, loads(value) if isinstance(mime, str) and "json" in mime else value)

    def has_usage(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None
