"""traces.ingest.pricing: cost of an LLM step from genai-prices (offline) and project overrides."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data import providers as snapshot_providers
from genai_prices.data_snapshot import find_provider_by_id, get_snapshot
from genai_prices.types import ModelPrice as SnapshotPrice

from traces.ingest.pricing import PROVIDER_IDS, ModelPrice, PriceResult, _lookup, price_usage, snapshot_cost

AT = datetime(2025, 10, 9, 12, 0, tzinfo=UTC)


def _genai_prices(model: str, provider_id: str | None, at: datetime = AT, **tokens: int) -> Decimal:
    usage = Usage(**tokens)
    total: Decimal = calc_price(usage, model, provider_id=provider_id, genai_request_timestamp=at).total_price
    return total


def _price(model: str | None, provider: str | None = "openai", **kwargs: Any) -> PriceResult:
    arguments: dict[str, Any] = {"input_tokens": 1000, "output_tokens": 500, "at": AT}
    arguments.update(kwargs)
    return price_usage(model=model, provider=provider, **arguments)


def test_gpt_4o_costs_what_genai_prices_says() -> None:
    result = _price("gpt-4o", "openai", cache_read_tokens=400)

    expected = _genai_prices("gpt-4o", "openai", input_tokens=1000, output_tokens=500, cache_read_tokens=400)
    assert result == PriceResult(cost_usd=expected, priced=True, source="genai-prices", reason=None)


def test_gpt_4o_by_hand() -> None:
    # gpt-4o: $2.50 per million input tokens, $1.25 cached, $10 output.
    assert _price("gpt-4o").cost_usd == Decimal("0.0075")  # 1000 * 2.5e-6 + 500 * 10e-6
    # 600 uncached * 2.5 + 400 cached * 1.25 + 500 * 10, per million
    assert _price("gpt-4o", cache_read_tokens=400).cost_usd == Decimal("0.007")


def test_dated_model_ids_price_as_their_model() -> None:
    assert _price("gpt-4o-2024-08-06").cost_usd == _price("gpt-4o").cost_usd
    assert _price("GPT-4o").cost_usd == _price("gpt-4o").cost_usd


def test_price_depends_on_the_date() -> None:
    # o3 went from $10/$40 to $2/$8 per million on 2025-06-10.
    before = _price("o3", at=datetime(2025, 6, 9, 23, 59, tzinfo=UTC))
    after = _price("o3", at=datetime(2025, 6, 10, 0, 1, tzinfo=UTC))

    assert before.cost_usd == Decimal("0.03")  # 1000 * 10e-6 + 500 * 40e-6
    assert after.cost_usd == Decimal("0.006")


def test_off_peak_prices_are_not_frozen_for_the_day_by_the_cache() -> None:
    peak = datetime(2025, 10, 9, 12, 0, tzinfo=UTC)
    off_peak = datetime(2025, 10, 9, 20, 0, tzinfo=UTC)

    costs = [_price("deepseek-chat", "deepseek", at=at).cost_usd for at in (peak, off_peak, peak)]

    expected = [
        _genai_prices("deepseek-chat", "deepseek", at, input_tokens=1000, output_tokens=500) for at in (peak, off_peak)
    ]
    assert costs == [expected[0], expected[1], expected[0]]
    assert expected[0] != expected[1]


def test_naive_datetimes_are_utc() -> None:
    assert _price("o3", at=datetime(2025, 6, 9, 23, 59)).cost_usd == Decimal("0.03")


@pytest.mark.parametrize(
    ("otel_name", "model", "provider_id"),
    [
        ("openai", "gpt-4o", "openai"),
        ("azure.ai.openai", "gpt-4o", "openai"),
        ("az.ai.openai", "gpt-4o", "openai"),
        ("anthropic", "claude-sonnet-4-20250514", "anthropic"),
        ("Anthropic", "claude-3-5-sonnet-20241022", "anthropic"),  # OpenLLMetry before 0.5
        ("aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "aws"),
        ("gcp.vertex_ai", "gemini-2.5-pro", "google"),
        ("gcp.gemini", "gemini-2.5-flash", "google"),
        ("gcp.gen_ai", "gemini-2.5-flash", "google"),
        ("gemini", "gemini-2.5-flash", "google"),
        ("vertex_ai", "gemini-2.5-flash", "google"),
        ("mistral_ai", "mistral-large-latest", "mistral"),
        ("x_ai", "grok-3", "x-ai"),
        ("xai", "grok-3", "x-ai"),
        ("azure.ai.inference", "phi-4", "azure"),
        ("deepseek", "deepseek-chat", "deepseek"),
        ("groq", "llama-3.3-70b-versatile", "groq"),
    ],
)
def test_otel_provider_names_map_to_genai_prices(otel_name: str, model: str, provider_id: str) -> None:
    result = _price(model, otel_name)

    assert result.priced, result.reason
    assert result.cost_usd == _genai_prices(model, provider_id, input_tokens=1000, output_tokens=500)


def test_every_mapped_provider_exists_in_genai_prices() -> None:
    providers = get_snapshot().providers
    assert {target for target in PROVIDER_IDS.values() if find_provider_by_id(providers, target) is None} == set()


def test_no_provider_lets_genai_prices_find_it_from_the_model() -> None:
    assert _price("gpt-4o", None).cost_usd == Decimal("0.0075")
    assert _price("gpt-4o", "  ").cost_usd == Decimal("0.0075")


def test_unknown_model_is_unpriced_not_zero() -> None:
    result = _price("acme-llm-7b", "openai")

    assert result == PriceResult(
        cost_usd=None,
        priced=False,
        source=None,
        reason="model 'acme-llm-7b' of provider 'openai' is not in genai-prices",
    )
    assert _price("acme-llm-7b", None).reason == "model 'acme-llm-7b' is not in genai-prices"


@pytest.mark.parametrize("provider", ["ollama", "ibm.watsonx.ai"])
def test_unknown_provider_is_unpriced_even_for_a_known_model(provider: str) -> None:
    result = _price("gpt-4o", provider)

    assert (result.priced, result.cost_usd) == (False, None)
    assert result.reason == f"provider {provider!r} is not in genai-prices"


def test_override_wins_over_genai_prices() -> None:
    overrides = {"gpt-4o": ModelPrice(input_per_mtok=Decimal("1"), output_per_mtok=Decimal("2"))}

    result = _price("gpt-4o", overrides=overrides)

    assert result == PriceResult(cost_usd=Decimal("0.002"), priced=True, source="override", reason=None)


def test_override_matches_dated_ids_and_case_and_prices_cache() -> None:
    overrides = {
        "gpt-4o": ModelPrice(
            input_per_mtok=Decimal("10"),
            output_per_mtok=Decimal("20"),
            cache_read_per_mtok=Decimal("1"),
            cache_write_per_mtok=Decimal("100"),
        )
    }

    result = _price("GPT-4o-2024-08-06", cache_read_tokens=300, cache_write_tokens=200, overrides=overrides)

    # (500 * 10 + 300 * 1 + 200 * 100 + 500 * 20) / 1e6
    assert result.cost_usd == Decimal("0.0353")
    assert result.source == "override"


def test_override_cache_prices_default_to_the_input_price() -> None:
    overrides = {"mine": ModelPrice(input_per_mtok=Decimal("4"), output_per_mtok=Decimal("8"))}

    result = _price("mine", "ollama", cache_read_tokens=500, overrides=overrides)

    assert result.cost_usd == Decimal("0.008")  # (1000 * 4 + 500 * 8) / 1e6
    assert result.priced


def test_override_for_another_model_does_not_apply() -> None:
    overrides = {"gpt-4o-mini": ModelPrice(input_per_mtok=Decimal("0"), output_per_mtok=Decimal("0"))}

    assert _price("gpt-4o", overrides=overrides).source == "genai-prices"


def test_no_tokens_and_no_model_is_no_usage() -> None:
    result = price_usage(model=None, provider=None, input_tokens=None, output_tokens=None, at=AT)

    assert result == PriceResult(cost_usd=None, priced=False, source=None, reason="no usage")


def test_tokens_without_a_model_are_unpriced() -> None:
    assert _price(None).reason == "no model name"
    assert _price("").reason == "no model name"


def test_a_model_without_token_counts_is_unpriced() -> None:
    result = _price("gpt-4o", input_tokens=None, output_tokens=None)

    assert (result.priced, result.cost_usd, result.reason) == (False, None, "no token counts for model 'gpt-4o'")


def test_output_only_and_input_only_usage_are_priced() -> None:
    assert _price("gpt-4o", input_tokens=None).cost_usd == Decimal("0.005")
    assert _price("text-embedding-3-small", output_tokens=None).cost_usd == _genai_prices(
        "text-embedding-3-small", "openai", input_tokens=1000
    )


@pytest.mark.parametrize("bad", [{"input_tokens": -1}, {"output_tokens": True}, {"cache_read_tokens": 1.5}])
def test_invalid_token_counts_are_unpriced(bad: dict[str, Any]) -> None:
    result = _price("gpt-4o", **bad)

    assert not result.priced
    assert result.reason is not None and result.reason.startswith("token counts must be non-negative integers")


def test_cache_read_above_input_means_input_excluded_the_cache() -> None:
    # Anthropic's API reports input_tokens without cached tokens: 10 new + 5000 read from cache.
    result = _price("claude-sonnet-4-20250514", "anthropic", input_tokens=10, output_tokens=200, cache_read_tokens=5000)

    expected = _genai_prices(
        "claude-sonnet-4-20250514", "anthropic", input_tokens=5010, output_tokens=200, cache_read_tokens=5000
    )
    assert result.cost_usd == expected


def test_lookups_are_cached_per_model_provider_and_day() -> None:
    _lookup.cache_clear()

    _price("gpt-4o", at=datetime(2025, 10, 9, 1, tzinfo=UTC))
    _price("gpt-4o", at=datetime(2025, 10, 9, 23, tzinfo=UTC))
    _price("acme-llm", at=datetime(2025, 10, 9, 2, tzinfo=UTC))
    _price("acme-llm", at=datetime(2025, 10, 9, 3, tzinfo=UTC))
    _price("gpt-4o", at=datetime(2025, 10, 10, 1, tzinfo=UTC))

    info = _lookup.cache_info()
    assert (info.misses, info.hits) == (3, 2)


USAGES = [
    (1000, 500, 0, 0),
    (1000, 500, 400, 0),
    (1000, 50, 300, 200),
    (0, 0, 0, 0),
    (123_457, 1, 100_000, 0),
    (200_001, 7, 3, 0),
    (2_000_000, 500_000, 10_000, 20_000),
]


def test_own_arithmetic_agrees_with_genai_prices_for_every_price_in_the_snapshot() -> None:
    checked = 0
    for provider in snapshot_providers:
        for model in provider.models:
            prices = [model.prices] if isinstance(model.prices, SnapshotPrice) else [c.prices for c in model.prices]
            for price in prices:
                for input_tokens, output_tokens, cache_read, cache_write in USAGES:
                    usage = Usage(
                        input_tokens=input_tokens,
                        output_tokens=output_tokens,
                        cache_read_tokens=cache_read,
                        cache_write_tokens=cache_write,
                    )
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # genai-prices warns about a few of its own keys
                        expected = price.calc_price(usage)["total_price"]
                    tokens = (input_tokens, output_tokens, cache_read, cache_write)
                    assert snapshot_cost(price, tokens) == expected, (provider.id, model.id, price, tokens)
                    checked += 1
    assert checked > 10_000


# --- models named with a routing prefix (LiteLLM, Google ADK, OpenRouter) ------------------------------


@pytest.mark.parametrize(
    ("model", "provider", "bare", "provider_id"),
    [
        ("openai/gpt-4o-mini", None, "gpt-4o-mini", "openai"),
        # ADK's spans name the framework in gen_ai.system, not a provider: the prefix says it.
        ("openai/gpt-4o-mini", "gcp.vertex.agent", "gpt-4o-mini", "openai"),
        ("anthropic/claude-3-5-sonnet-20241022", None, "claude-3-5-sonnet-20241022", "anthropic"),
        ("openrouter/anthropic/claude-3-5-sonnet", None, "claude-3-5-sonnet", "anthropic"),
    ],
)
def test_a_prefixed_model_is_priced_as_the_bare_model(
    model: str, provider: str | None, bare: str, provider_id: str
) -> None:
    result = _price(model, provider)
    assert result.priced, result.reason
    assert result.cost_usd == _genai_prices(bare, provider_id, input_tokens=1000, output_tokens=500)


def test_a_prefix_naming_a_local_model_server_is_not_priced() -> None:
    # deepseek-r1 has a price at DeepSeek's API; run by Ollama it costs no tokens.
    assert _price("deepseek-r1", None).priced
    result = _price("ollama/deepseek-r1", None)
    assert (result.priced, result.cost_usd) == (False, None)
    assert "ollama/deepseek-r1" in (result.reason or "")


def test_a_project_price_for_the_bare_name_prices_the_prefixed_model() -> None:
    own = {"acme-llm": ModelPrice(input_per_mtok=Decimal(1), output_per_mtok=Decimal(2))}
    result = _price("acme/acme-llm", None, overrides=own)
    assert result == PriceResult(cost_usd=Decimal("0.002"), priced=True, source="override", reason=None)
