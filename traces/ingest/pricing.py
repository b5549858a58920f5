"""Pricing an LLM step's token usage in USD, offline.

`price_usage(...)` returns a `PriceResult`: the cost, whether it was priced, by what ("override" for a
project's own price, "genai-prices" for the bundled price snapshot of genai-prices), and when unpriced,
why. An unknown model or provider is never a silent $0: `priced=False`, `cost_usd=None` and a reason.

Rules:
- OTel provider names (`gen_ai.provider.name`, older `gen_ai.system`, old OpenLLMetry CamelCase) are
  mapped to genai-prices provider ids; a provider genai-prices does not know is unpriced, not guessed
  from the model name (an `ollama` llama is not a paid API call). No provider: genai-prices guesses from
  the model.
- Project overrides (`ModelPrice`, keyed by lower-case model name; a dated id such as
  `gpt-4o-2024-08-06` also finds `gpt-4o`) win over genai-prices.
- `input_tokens` includes cached tokens, as in OTel and genai-prices. When it is smaller than cache read
  + cache write, the sender evidently reported uncached input only (Anthropic's API does), so the
  cached tokens are added to it instead of failing.
- `at` (the span start) picks date-conditional prices.
- A model named with a routing prefix (`openai/gpt-4o-mini`, as LiteLLM and Google ADK send it) that
  genai-prices does not know as it is, is priced by its last segment, the prefix naming the provider
  when the span did not. The step keeps the name as sent.

genai-prices' own calculation runs at ~10k calls/s, most of it in generic unit bookkeeping. Prices are
looked up once per (model, provider, day) (lru_cache, misses included) and, for the usual per-token
prices (flat or tiered by input size), the cost is computed here with the same arithmetic; per-request
and per-page prices go through genai-prices. Tests check the two agree for every price in the snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from genai_prices import Usage
from genai_prices.data_snapshot import find_provider_by_id, get_snapshot
from genai_prices.types import ModelInfo, TieredPrices, TimeOfDateConstraint
from genai_prices.types import ModelPrice as SnapshotPrice

PriceSource = Literal["override", "genai-prices"]

# OTel and instrumentation provider names -> genai-prices provider ids. Names not listed are passed to
# genai-prices as they are (lower-cased), which knows its own ids and a few aliases.
PROVIDER_IDS: dict[str, str] = {
    "openai": "openai",
    "azure.ai.openai": "openai",
    "az.ai.openai": "openai",
    "azure.ai.inference": "azure",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "gemini": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "deepseek": "deepseek",
    "groq": "groq",
    "cohere": "cohere",
    "perplexity": "perplexity",
}

_MTOK = Decimal(1_000_000)
# Price keys the flat formula below accounts for, and keys whose usage a step never reports (so they
# add nothing: searches, audio, images, 1h cache writes, reasoning split out of output).
_FLAT_KEYS = frozenset({"input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok"})
_UNUSED_KEYS = frozenset(
    {
        "web_searches_kcount",
        "storage_searches_kcount",
        "cache_write_1h_mtok",
        "input_audio_mtok",
        "output_audio_mtok",
        "cache_audio_read_mtok",
        "input_image_mtok",
        "output_image_mtok",
        "cache_image_read_mtok",
        "input_video_mtok",
        "output_video_mtok",
        "output_reasoning_mtok",
        "output_citation_mtok",
    }
)
_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """A project's own price for a model, USD per million tokens. Cache prices default to the input price."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None


class PriceResult(NamedTuple):
    # A named tuple, not a frozen dataclass: one is made for every priced step, and a frozen dataclass
    # sets each field through object.__setattr__ (1.5 against 0.6 µs a result, by keyword).
    cost_usd: Decimal | None
    priced: bool
    source: PriceSource | None
    reason: str | None  # why it is unpriced; None when priced


# Per million tokens: input, output, cache read, cache write.
_FlatPrices = tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]


@dataclass(frozen=True, slots=True)
class _Found:
    info: ModelInfo
    prices: SnapshotPrice | None  # None when prices change within a day (off-peak hours): resolved per call
    # The four per-token prices when `prices` is flat and untiered, taken once: asking genai-prices'
    # price object for them on every step cost more than the arithmetic.
    flat: _FlatPrices | None = None


def _unpriced(reason: str) -> PriceResult:
    return PriceResult(cost_usd=None, priced=False, source=None, reason=reason)


def provider_id(provider: str) -> str:
    """The genai-prices provider id for an OTel provider name."""
    name = provider.strip().lower()
    return PROVIDER_IDS.get(name, name)


def _flat_cost(
    input_price: Decimal | None,
    output_price: Decimal | None,
    cache_read_price: Decimal | None,
    cache_write_price: Decimal | None,
    tokens: tuple[int, int, int, int],
) -> Decimal:
    input_tokens, output_tokens, cache_read, cache_write = tokens
    input_price = input_price or Decimal(0)
    cost = (
        (input_tokens - cache_read - cache_write) * input_price
        + cache_read * (input_price if cache_read_price is None else cache_read_price)
        + cache_write * (input_price if cache_write_price is None else cache_write_price)
        + output_tokens * (output_price or Decimal(0))
    )
    return cost / _MTOK


def _is_flat(prices: SnapshotPrice) -> bool:
    stored = {key: value for key, value in vars(prices).items() if value is not None}
    return stored.keys() <= _FLAT_KEYS | _UNUSED_KEYS


def _at_tier(price: Decimal | TieredPrices | None, input_tokens: int) -> Decimal | None:
    # As genai-prices: the tier is chosen by the total input tokens of the call, for every price.
    if isinstance(price, TieredPrices):
        for tier in reversed(price.tiers):
            if input_tokens > tier.start:
                return tier.price
        return price.base
    return price


def _flat_prices(prices: SnapshotPrice) -> _FlatPrices | None:
    """The four per-token prices of a price the flat formula covers without tiers; None otherwise."""
    four = (prices.input_mtok, prices.output_mtok, prices.cache_read_mtok, prices.cache_write_mtok)
    if not _is_flat(prices) or any(isinstance(price, TieredPrices) for price in four):
        return None
    return four  # type: ignore[return-value]


def snapshot_cost(prices: SnapshotPrice, tokens: tuple[int, int, int, int]) -> Decimal:
    """The cost of `tokens` (input incl. cache, output, cache read, cache write) at a genai-prices price.

    price_usage computes the same, for the untiered flat prices, from _flat_prices taken once per
    lookup: both go through _flat_prices and _flat_cost, which the every-price test checks here."""
    flat = _flat_prices(prices)
    if flat is not None:
        return _flat_cost(*flat, tokens)
    input_tokens, output_tokens, cache_read, cache_write = tokens
    if _is_flat(prices):
        return _flat_cost(
            _at_tier(prices.input_mtok, input_tokens),
            _at_tier(prices.output_mtok, input_tokens),
            _at_tier(prices.cache_read_mtok, input_tokens),
            _at_tier(prices.cache_write_mtok, input_tokens),
            tokens,
        )
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
    total: Decimal = prices.calc_price(usage)["total_price"]
    return total


@lru_cache(maxsize=4096)
def _lookup(model: str, provider: str | None, day: date) -> _Found | str:
    """The model's prices on `day`, or why there are none. Cached: most batches price the same few models."""
    snapshot = get_snapshot()
    if provider is not None and find_provider_by_id(snapshot.providers, provider) is None:
        return f"provider {provider!r} is not in genai-prices"
    try:
        _, info = snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        where = f" of provider {provider!r}" if provider else ""
        return f"model {model!r}{where} is not in genai-prices"
    conditional = [] if isinstance(info.prices, SnapshotPrice) else info.prices
    if any(isinstance(price.constraint, TimeOfDateConstraint) for price in conditional):
        return _Found(info=info, prices=None)
    prices = info.get_prices(datetime.combine(day, datetime.min.time(), UTC))
    return _Found(info=info, prices=prices, flat=_flat_prices(prices))


def warm() -> None:
    """Load genai-prices' snapshot now (a web worker does at start) rather than in the first batch."""
    get_snapshot()


def _override(model: str, overrides: Mapping[str, ModelPrice] | None) -> ModelPrice | None:
    if not overrides:
        return None
    return overrides.get(model) or overrides.get(_DATE_SUFFIX.sub("", model))


def _count(value: Any) -> int | None:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _lookup_unprefixed(
    model_key: str,
    provider_key: str | None,
    day: date,
    overrides: Mapping[str, ModelPrice] | None,
    tokens: tuple[int, int, int, int],
) -> _Found | PriceResult | None:
    """A model named with a routing prefix (LiteLLM's `openai/gpt-4o-mini`, OpenRouter's
    `openrouter/anthropic/claude-3.5-sonnet`): the last segment is the model, the first names the provider
    unless the span named one. A project's own price for the bare name wins, as for any model."""
    head, _, model = model_key.partition("/")
    model = model.rsplit("/", 1)[-1]
    if not model:
        return None
    own = _override(model, overrides)
    if own is not None:
        cost = _flat_cost(
            own.input_per_mtok, own.output_per_mtok, own.cache_read_per_mtok, own.cache_write_per_mtok, tokens
        )
        return PriceResult(cost_usd=cost, priced=True, source="override", reason=None)
    if head in _LOCAL_SERVERS:  # a model run locally costs no tokens, whatever a price list says
        return None
    for provider in dict.fromkeys((provider_key, provider_id(_PREFIX_PROVIDERS.get(head, head)), None)):
        found = _lookup(model, provider, day)
        if not isinstance(found, str):
            return found
    return None


_LOCAL_SERVERS = frozenset({"ollama", "ollama_chat", "vllm", "hosted_vllm", "lm_studio", "llamafile", "llamacpp"})
# LiteLLM's provider prefixes that are not the OTel or genai-prices name of their provider.
_PREFIX_PROVIDERS = {
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
}


def price_usage(
    *,
    model: str | None,
    provider: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    at: datetime,
    overrides: Mapping[str, ModelPrice] | None = None,
) -> PriceResult:
    reported = (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
    if not model and not any(reported):
        return _unpriced("no usage")
    if not model:
        return _unpriced("no model name")
    if input_tokens is None and output_tokens is None:
        return _unpriced(f"no token counts for model {model!r}")
    counts = [_count(value) for value in reported]
    if None in counts:
        return _unpriced(f"token counts must be non-negative integers, got {reported}")
    inputs, outputs, cache_read, cache_write = (c or 0 for c in counts)
    if inputs < cache_read + cache_write:
        inputs += cache_read + cache_write
    tokens = (inputs, outputs, cache_read, cache_write)
    model_key = model.strip().lower()

    own = _override(model_key, overrides)
    if own is not None:
        cost = _flat_cost(
            own.input_per_mtok, own.output_per_mtok, own.cache_read_per_mtok, own.cache_write_per_mtok, tokens
        )
        return PriceResult(cost_usd=cost, priced=True, source="override", reason=None)

    provider_key = provider_id(provider) if provider and provider.strip() else None
    at_utc = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    found: _Found | PriceResult | str = _lookup(model_key, provider_key, at_utc.date())
    if isinstance(found, str) and "/" in model_key:
        found = _lookup_unprefixed(model_key, provider_key, at_utc.date(), overrides, tokens) or found
    if isinstance(found, PriceResult):
        return found
    if isinstance(found, str):
        return _unpriced(found)
    if found.flat is not None:
        return PriceResult(cost_usd=_flat_cost(*found.flat, tokens), priced=True, source="genai-prices", reason=None)
    prices = found.prices if found.prices is not None else found.info.get_prices(at_utc)
    try:
        cost = snapshot_cost(prices, tokens)
    except (ValueError, LookupError) as exc:  # genai-prices refusing a usage it cannot price
        return _unpriced(f"genai-prices cannot price model {model!r}: {exc}")
    return PriceResult(cost_usd=cost, priced=True, source="genai-prices", reason=None)
