"""Schemathesis fuzzes every operation of the published OpenAPI schema against a real server: no request it makes,
valid (positive) or not (negative), gets a 5xx. Examples per operation are bounded to keep the run short.

Driven from one test with Hypothesis directly: schemathesis' pytest plugin (from_fixture) does not run under pytest 9.
"""
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

EXAMPLES = 25  # per operation and generation mode


def test_no_operation_gives_a_server_error(servers):
    url = servers["mlm"].url
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"/embed", "/v1/embeddings", "/rerank", "/fill_mask", "/tag"} <= {op.path for op in operations}
    seen = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case):
                response = case.call(base_url=url, timeout=60)
                seen.append(response.status_code)
                assert response.status_code < 500, (f"{case.method} {case.path} {mode.value}: {response.status_code}"
                                                    f" {response.text[:300]} for body {case.body!r:.300}")
            try:
                call()
            except Unsatisfiable:  # a GET without parameters has no invalid request to make
                assert mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET", operation.label
    assert len(seen) >= len(operations)
    assert servers["mlm"].get("/health").status_code == 200
