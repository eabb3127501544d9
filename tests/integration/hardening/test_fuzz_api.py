"""Schemathesis over every operation of the OpenAPI document, on PostgreSQL: inputs that fit the document and inputs
that do not, as a reader, a librarian and a network admin. Checked: no answer is a 5xx, every error is problem+json.

The cases are schemathesis's: its coverage phase (no randomness) and random cases that fit the document or not
(hypothesis, derandomized: the same cases every run). They are sent through the test client, on the event loop the app
and its database connections live on, which schemathesis's own ASGI client (a thread of its own) is not."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from backend.accounts.models import StaffRole
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.hardening.inputs import PROBLEM, event_body
from tests.integration.service import Service

# Random examples per operation and mode, beside the coverage phase's: some 6,000 requests over the 113 operations,
# about a minute on two cores.
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 4}


def errors_are_problem_details(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    if response.status_code >= 400:
        media_type = response.headers.get("content-type", [""])[0]
        assert media_type.startswith(PROBLEM), f"{response.status_code} answered as {media_type!r}, not {PROBLEM}"


def _coverage_cases(operation: schemathesis.APIOperation) -> list[schemathesis.Case]:
    """Schemathesis's coverage phase: no randomness, each parameter and field at and past its bounds, of the wrong
    type, missing, and the request without its credentials."""
    schema = operation.schema
    modes = list(GenerationMode)
    return list(
        schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=schema.config.generation)
    )


def _random_cases(operation: schemathesis.APIOperation, mode: GenerationMode) -> list[schemathesis.Case]:
    cases: list[schemathesis.Case] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def collect(case: schemathesis.Case) -> None:
        cases.append(case)

    with contextlib.suppress(Unsatisfiable):  # no input of the operation can break its document (no parameters)
        collect()
    return cases


def _closed(document: dict[str, Any]) -> dict[str, Any]:
    """The document, saying of every object that it takes no other fields: the request shapes refuse unknown fields
    (a 400), which Litestar leaves out of the document, so otherwise most cases meant to fit it would not."""
    for shape in document["components"]["schemas"].values():
        if shape.get("type") == "object" and "properties" in shape:
            shape.setdefault("additionalProperties", False)
    return document


async def _send(client: httpx.AsyncClient, case: schemathesis.Case, identity: dict[str, str]) -> httpx.Response:
    sent = case.as_transport_kwargs(base_url=str(client.base_url), headers=identity)
    body: dict[str, Any] = {"json": sent["json"]} if "json" in sent else {"content": sent.get("data")}
    return await client.request(sent["method"], sent["url"], params=sent["params"], headers=sent["headers"], **body)


async def _fill_the_network(service: Service) -> dict[str, dict[str, str]]:
    """A network with something in it, so that generated ids and codes sometimes meet a row; the identities used."""
    await build_network()
    for decoy in range(3):  # ids 1 to 3, the ones hypothesis likes best: deactivating them costs the run nothing
        await make_staff(f"decoy-{decoy}", StaffRole.LIBRARIAN, "TL-B")
    await make_staff("fuzz-admin", StaffRole.NETWORK_ADMIN, "TL")
    await make_staff("fuzz-librarian", StaffRole.LIBRARIAN, "TL-A")
    admin = await staff_headers(service.client, "fuzz-admin")
    librarian = await staff_headers(service.client, "fuzz-librarian")
    reader = (await login_reader(service, "openid-fuzz")).headers
    client, now = service.client, service.clock.now()

    record = await client.post("/staff/records", json={"title": "红楼梦", "isbn": "9787020002207"}, headers=admin)
    copy = {"record_id": record.json()["id"], "barcode": "T000001", "library_code": "TL-A"}
    await client.post("/staff/copies", json=copy, headers=admin)
    child = {"name": "小明", "birth_month": "2020-01", "guardian_consent": True}
    await client.post("/readers/me/children", json=child, headers=reader)
    created = await client.post("/staff/events", json=event_body(now - timedelta(days=1)), headers=admin)
    await client.post(f"/staff/events/{created.json()['id']}/publish", headers=admin)
    await client.post(f"/events/{created.json()['id']}/bookings", json={}, headers=reader)
    return {"reader": reader, "librarian": librarian, "admin": admin}


async def test_no_operation_answers_a_server_error_to_any_input(service: Service) -> None:
    identities = await _fill_the_network(service)
    schema = schemathesis.openapi.from_dict(_closed((await service.client.get("/docs/openapi.json")).json()))

    failures: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        staff_side = operation.path.startswith("/staff")
        cases = [*_coverage_cases(operation), *(case for mode in EXAMPLES for case in _random_cases(operation, mode))]
        for number, case in enumerate(cases):
            identity = identities[("librarian", "admin")[number % 2] if staff_side else "reader"]
            response = await _send(service.client, case, identity)
            sent += 1
            try:
                case.validate_response(response, checks=[not_a_server_error, errors_are_problem_details])
            except FailureGroup as failure:
                failures.append(f"{operation.label}: {failure}\n{case.as_curl_command()}")

    assert sent > 5000
    assert failures == [], "\n\n".join(failures)
