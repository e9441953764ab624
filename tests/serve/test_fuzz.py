"""Property-based fuzzing of the OpenAPI document (schemathesis): requests generated from the
schema, valid (positive) and invalid (negative), against a real server: no 5xx, every response
as documented (status codes, bodies, content types).

schemathesis' own pytest loader (``from_fixture``) does not run under pytest 9, so the schema
is loaded from the running server and its Hypothesis strategy driven with ``@given`` here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from core.warehouse import Warehouse
from tests.serve.conftest import Api, running

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzed(models: Any, views_wh: Warehouse) -> Iterator[Api]:
    # Small limits, so generated requests reach them (and stay fast on a tiny model).
    with running(
        models, views_wh, max_texts=8, max_pairs=4, max_text_chars=200, max_body_bytes=16_384
    ) as a:
        yield a


# The body-size limit answers 413 before the body is parsed, whether or not the body is
# schema-valid; schemathesis' default status lists leave 413 out of both directions.
# 503 (queue full, with Retry-After) is the documented back-pressure answer.
_CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
            },
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", 401, 403, 404, 409, 413, 429, 503]
            },
        }
    }
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema_and_never_fails(fuzzed: Api, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json", config=_CONFIG)
    seen: dict[str, set[int]] = {}

    @given(case=schema.as_strategy(generation_mode=mode))
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: Any) -> None:
        # schemathesis' default 10 s timeout is short for a CPU shared with training jobs
        response = case.call_and_validate(base_url=fuzzed.url, timeout=60)
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text
        seen.setdefault(f"{case.method} {case.operation.path}", set()).add(response.status_code)

    check()
    # every operation was exercised, and in negative mode the invalid input was refused
    assert {p.split(" ", 1)[1] for p in seen} >= {"/v1/predict", "/v1/similarity", "/v1/titles"}
    if mode is GenerationMode.NEGATIVE:
        assert 422 in seen["POST /v1/predict"]
    print({k: sorted(v) for k, v in sorted(seen.items())})
