"""A reader's name that a spreadsheet would run as a formula comes out of the attendee CSV as plain text."""

import csv
import io

from backend.accounts.models import Reader, StaffRole
from tests.integration.events.eventing import OPENS, make_event
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service

HYPERLINK = '=HYPERLINK("http://evil.example/","x")'


async def test_names_that_start_a_formula_are_exported_as_text(service: Service) -> None:
    await build_network()
    await make_staff("a-events", StaffRole.LIBRARIAN, "TL-A")
    event = await make_event()
    service.clock.freeze_at(OPENS)
    staff = await staff_headers(service.client, "a-events")
    names = [HYPERLINK, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR", "王小明"]
    for i, name in enumerate(names):
        reader = await login_reader(service, f"openid-{i}")
        await Reader.filter(openid=reader.openid).update(name=name)  # whatever the profile rules, stored names are
        booked = await service.client.post(f"/events/{event.id}/bookings", json={}, headers=reader.headers)
        assert booked.status_code == 201, booked.text

    exported = await service.client.get(f"/staff/events/{event.id}/attendees.csv", headers=staff)

    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text.removeprefix("\ufeff"))))
    assert [row["name"] for row in rows] == [f"'{name}" for name in names[:-1]] + ["王小明"]
    assert all(not row[column].startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for column in row)
