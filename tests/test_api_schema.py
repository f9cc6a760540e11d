"""Schemathesis over the live server's ``/openapi.json``: generated requests (valid and invalid)
to every operation, with the token; zero 5xx, and every response conforms to the document
(status code, content type, body schema). (Schemathesis' pytest plugin does not load under
pytest 9, so the operations are driven with Hypothesis directly.)"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api_support import Server, api_server, auth  # noqa: F401

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 25


def _operations(server: Server) -> list[object]:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_api_conforms_to_its_document(api_server: Server, mode: schemathesis.GenerationMode) -> None:
    operations = _operations(api_server)
    assert len(operations) >= 16
    for operation in operations:
        if (
            mode == schemathesis.GenerationMode.NEGATIVE
            and not list(operation.iter_parameters())
            and not operation.body
        ):  # type: ignore[attr-defined]
            continue  # nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))  # type: ignore[attr-defined]
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=api_server.url, headers=auth(), checks=CHECKS, timeout=120)

        run()
