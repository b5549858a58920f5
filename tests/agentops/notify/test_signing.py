"""The reference verifier that receivers copy: it accepts exactly what agentops signs."""

from __future__ import annotations

import hashlib
import hmac
import time

from agentops.notify.signing import sign, verify

SECRET = "whsec_test-secret-0123456789"
BODY = b'{"event":"opened","summary":"p95 latency doubled"}'


def test_a_fresh_signature_verifies():
    assert verify(SECRET, sign(SECRET, BODY), BODY)


def test_the_header_is_stripe_style_hmac_over_timestamp_dot_body():
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_a_changed_body_wrong_secret_or_old_timestamp_fails():
    header = sign(SECRET, BODY)
    assert not verify(SECRET, header, BODY + b" ")
    assert not verify("whsec_another-secret-000000", header, BODY)
    old = sign(SECRET, BODY, timestamp=int(time.time()) - 301)
    assert not verify(SECRET, old, BODY)
    assert verify(SECRET, old, BODY, tolerance=400)


def test_malformed_headers_fail_without_raising():
    for header in ("", "t=,v1=", "v1=abc", "t=123", "garbage", "t=abc,v1=00", "t=1,v1=" + "0" * 64):
        assert not verify(SECRET, header, BODY)


def test_any_listed_v1_may_match():
    good = sign(SECRET, BODY)
    t, v1 = good.split(",")
    assert verify(SECRET, f"{t},v1={'0' * 64},{v1}", BODY)


def test_the_readme_copy_of_verify_is_the_real_one():
    from pathlib import Path

    from agentops.notify import signing

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = readme.split("<!-- verify:begin -->", 1)[1].split("<!-- verify:end -->", 1)[0]
    code = block.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(code, namespace)
    readme_verify = namespace["verify"]
    header = signing.sign(SECRET, BODY)
    assert readme_verify(SECRET, header, BODY)
    assert not readme_verify(SECRET, header, BODY + b"x")
    assert not readme_verify(SECRET, signing.sign(SECRET, BODY, timestamp=int(time.time()) - 301), BODY)
