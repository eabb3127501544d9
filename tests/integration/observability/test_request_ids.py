"""Every request has an id, sent back and on its log line, which names the route, never the path."""

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from entrypoints.logs import JsonFormatter, RequestIdFilter
from tests.integration.factories import build_network
from tests.integration.service import Service

LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def logged() -> Iterator[LogLines]:
    """What the API logs while the test runs, as the JSON lines its processes write."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _request_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "shuxiang.http"]


async def test_a_request_gets_an_id_sent_back_and_logged_with_its_route_status_and_time(
    service: Service, logged: LogLines
) -> None:
    await build_network()

    found = await service.client.get("/libraries/TL-A")
    missing = await service.client.get("/libraries/TL-NOWHERE")

    assert found.status_code == 200 and missing.status_code == 404
    ids = [found.headers["X-Request-ID"], missing.headers["X-Request-ID"]]
    assert all(len(request_id) == 32 for request_id in ids) and ids[0] != ids[1]
    assert missing.json()["request_id"] == ids[1]  # a problem report quotes it
    lines = _request_lines(logged())
    assert [(line["request_id"], line["route"], line["status"], line["method"]) for line in lines] == [
        (ids[0], "/libraries/{code}", 200, "GET"),
        (ids[1], "/libraries/{code}", 404, "GET"),
    ]
    assert all(line["duration_ms"] >= 0 and line["level"] == "INFO" for line in lines)
    assert lines[0]["time"].endswith("+00:00")


async def test_a_card_number_in_the_path_stays_out_of_the_log(service: Service, logged: LogLines) -> None:
    refused = await service.client.get("/staff/readers/056200001234/credit")

    assert refused.status_code == 401
    (line,) = _request_lines(logged())
    assert line["route"] == "/staff/readers/{card_number}/credit"
    assert "056200001234" not in json.dumps(logged())


async def test_a_path_no_route_takes_is_logged_and_counted_as_unmatched(service: Service, logged: LogLines) -> None:
    response = await service.client.get("/wp-admin/setup.php")

    assert response.status_code == 404
    (line,) = _request_lines(logged())
    assert (line["route"], line["request_id"]) == ("unmatched", response.headers["X-Request-ID"])
    assert response.json()["request_id"] == line["request_id"]


async def test_a_clients_request_id_is_kept_through_to_the_log(service: Service, logged: LogLines) -> None:
    response = await service.client.get("/libraries", headers={"X-Request-ID": "mp-7f3a.2026:12=01/x+y_z"})

    assert response.headers["X-Request-ID"] == "mp-7f3a.2026:12=01/x+y_z"
    (line,) = _request_lines(logged())
    assert line["request_id"] == "mp-7f3a.2026:12=01/x+y_z"


@pytest.mark.parametrize(
    "given",
    [
        "a" * 129,  # longer than any tracing system's
        "abc\x01def",  # a control character
        'x"}\n{"level": "CRITICAL"',  # a forged log line
        "two words",
        "",
    ],
)
async def test_an_insane_request_id_is_replaced_by_a_new_one(service: Service, logged: LogLines, given: str) -> None:
    response = await service.client.get("/libraries", headers={"X-Request-ID": given})

    replaced = response.headers["X-Request-ID"]
    assert replaced != given and len(replaced) == 32
    (line,) = _request_lines(logged())
    assert line["request_id"] == replaced


async def test_probes_and_scrapes_are_logged_only_when_they_fail(service: Service, logged: LogLines) -> None:
    metrics_token = {"Authorization": f"Bearer {service.settings.metrics.token}"}
    answers = [
        await service.client.get("/health/live"),
        await service.client.get("/ready"),
        await service.client.get("/metrics", headers=metrics_token),
        await service.client.get("/metrics"),  # a scraper without the token
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 401]
    assert [(line["route"], line["status"]) for line in _request_lines(logged())] == [("/metrics", 401)]


def test_an_exception_is_one_line_with_its_traceback_as_a_field(logged: LogLines) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("shuxiang.test").exception("failed %s", "once")

    (line,) = logged()
    assert (line["message"], line["level"], line["request_id"]) == ("failed once", "ERROR", None)
    assert line["traceback"].startswith("Traceback") and line["traceback"].endswith("ValueError: boom")
