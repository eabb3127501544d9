from datetime import UTC, datetime

import pytest

from backend.accounts.cards import luhn_digit
from backend.crypto import Keys
from backend.network import geo, hours
from backend.network.errors import InvalidOpeningHours, UnknownTimezone


def test_luhn_digit_catches_a_single_mistyped_digit() -> None:
    body = "056200000042"
    digit = luhn_digit(body)
    for position in range(len(body)):
        for replacement in "0123456789":
            if replacement != body[position]:
                typo = body[:position] + replacement + body[position + 1 :]
                assert luhn_digit(typo) != digit


def test_known_distance_between_two_libraries() -> None:
    # Central library to the county library of Zongyang: about 60 km as the crow flies.
    assert 55_000 < geo.distance_m(30.945, 117.812, 30.699, 117.220) < 65_000
    assert geo.distance_m(30.0, 117.0, 30.0, 117.0) == 0


def test_bounding_box_contains_the_circle() -> None:
    lat_min, lat_max, lon_min, lon_max = geo.bounding_box(30.9, 117.8, 5_000)
    for lat, lon in [(lat_min, 117.8), (lat_max, 117.8), (30.9, lon_min), (30.9, lon_max)]:
        assert geo.distance_m(30.9, 117.8, lat, lon) == pytest.approx(5_000, rel=0.01)


@pytest.mark.parametrize(
    "bad",
    [
        {"mon": [["9:00", "17:00"]]},
        {"mon": [["17:00", "09:00"]]},
        {"mon": [["09:00", "12:00"], ["11:00", "17:00"]]},
        {"monday": [["09:00", "17:00"]]},
        {"mon": [["09:00", "24:01"]]},
        {"mon": [["09:00"]]},
    ],
)
def test_malformed_opening_hours_are_rejected(bad: hours.WeeklyHours) -> None:
    with pytest.raises(InvalidOpeningHours):
        hours.validate(bad)


def test_open_now_is_judged_on_the_local_wall_clock() -> None:
    week = hours.validate({"sat": [["09:00", "12:00"], ["14:00", "24:00"]]})
    saturday_11_local = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    saturday_13_local = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
    saturday_23_59_local = datetime(2026, 11, 21, 15, 59, tzinfo=UTC)
    assert hours.is_open(week, saturday_11_local, "Asia/Shanghai")
    assert not hours.is_open(week, saturday_13_local, "Asia/Shanghai")
    assert hours.is_open(week, saturday_23_59_local, "Asia/Shanghai")
    assert not hours.is_open(week, saturday_11_local, "Europe/London")  # 03:00 there


def test_unknown_time_zones_are_rejected() -> None:
    for zone in ("Mars/Olympus", "", "../../etc/passwd"):
        with pytest.raises(UnknownTimezone):
            hours.validate_timezone(zone)


def test_encrypted_values_are_bound_to_their_column() -> None:
    keys = Keys("a-long-enough-secret-key")
    blob = keys.encrypt("+8613800138000", "reader.phone")
    assert keys.decrypt(blob, "reader.phone") == "+8613800138000"
    assert b"13800138000" not in blob
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        keys.decrypt(blob, "reader.session_key")
    with pytest.raises(Exception):  # noqa: B017
        Keys("another-long-secret-key").decrypt(blob, "reader.phone")
