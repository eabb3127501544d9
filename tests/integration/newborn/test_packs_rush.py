"""Packs under concurrency: the database's row locks, guarded updates and unique keys hold, whatever arrives at once."""

import asyncio
from collections import Counter
from collections.abc import Awaitable
from datetime import timedelta

from backend.accounts.models import Reader, StaffRole
from backend.errors import DomainError
from backend.newborn import enrolment, packs, stages
from backend.newborn.models import Enrolment, PackReservation, ReservationStatus, StockMovement
from tests.integration.newborn.enrolling import set_up
from tests.integration.newborn.packing import deps, desk, enrol_children, ledger_agrees, stage_pack, stock_of
from tests.integration.service import BUS, NETWORK_TIME, Service


async def _outcome(attempt: Awaitable[object]) -> str:
    try:
        await attempt
    except DomainError as refused:
        return refused.code
    return "ok"


async def test_a_hundred_claims_at_once_against_sixty_packs_hand_out_sixty(service: Service) -> None:
    setup = await set_up(service)
    pack_type = await stage_pack(setup)
    enrolled = await enrol_children(service, setup, 100)
    staff = await desk("tla-desk", "TL-A")
    now = service.clock.now()
    await packs.receive_stock(staff, "TL-A", pack_type, 60, "", now)
    claims = deps(service).pack_claims
    reservations = await PackReservation.filter(enrolment_id__in=[e.id for e in enrolled])
    codes = [claims.issue(str(r.id), now).text for r in reservations]

    outcomes = await asyncio.gather(*(_outcome(packs.claim(claims, staff, code, None, now)) for code in codes))

    assert Counter(outcomes) == {"ok": 60, "packs_out_of_stock": 40}
    assert await stock_of("TL-A", pack_type) == (0, 40)
    assert await PackReservation.filter(status=ReservationStatus.CLAIMED).count() == 60
    assert await ledger_agrees()


async def test_one_pack_per_child_and_stage_when_two_libraries_claim_it_at_once(service: Service) -> None:
    setup = await set_up(service)
    pack_type = await stage_pack(setup)
    enrolled = await enrol_children(service, setup, 30)
    home, branch = await desk("tla-desk", "TL-A"), await desk("branch-desk", "TL-A-1")
    now = service.clock.now()
    await packs.receive_stock(home, "TL-A", pack_type, 30, "", now)
    await packs.receive_stock(branch, "TL-A-1", pack_type, 30, "", now)
    claims = deps(service).pack_claims
    reservations = await PackReservation.filter(enrolment_id__in=[e.id for e in enrolled])

    attempts = []
    for r in reservations:  # the family shows one code at the home desk and another at the branch at once
        attempts.append(_outcome(packs.claim(claims, home, claims.issue(str(r.id), now).text, None, now)))
        attempts.append(_outcome(packs.claim(claims, branch, claims.issue(str(r.id), now).text, None, now)))
    outcomes = await asyncio.gather(*attempts)

    assert Counter(outcomes) == {"ok": 30, "pack_already_claimed": 30}
    per_child = [outcomes[i : i + 2] for i in range(0, len(outcomes), 2)]
    assert all(sorted(pair) == ["ok", "pack_already_claimed"] for pair in per_child)
    home_stock, branch_stock = await stock_of("TL-A", pack_type), await stock_of("TL-A-1", pack_type)
    assert (home_stock[1], branch_stock[1]) == (0, 0)
    assert home_stock[0] + branch_stock[0] == 30  # 60 received, one handed out per child
    assert await StockMovement.filter(kind="claim", on_hand_change=-1).count() == 30
    assert await ledger_agrees()


async def test_a_forged_expired_or_replayed_claim_code_hands_out_nothing(service: Service) -> None:
    setup = await set_up(service)
    pack_type = await stage_pack(setup)
    first, second, third = await enrol_children(service, setup, 3)
    staff = await desk("tla-desk", "TL-A")
    now = service.clock.now()
    await packs.receive_stock(staff, "TL-A", pack_type, 10, "", now)
    claims = deps(service).pack_claims
    one, two, three = [await PackReservation.get(enrolment_id=e.id) for e in (first, second, third)]
    shown = claims.issue(str(one.id), now).text
    body, _, signature = shown.rpartition(".")
    version, _, expires, nonce = body.split(".")
    forged = [
        f"{version}.{two.id}.{expires}.{nonce}.{signature}",  # another family's pack under this signature
        f"{body}.{signature[::-1]}",
        f"SXT1.{one.id}.{expires}.{nonce}.{signature}",  # an event ticket's version
        claims.issue(str(three.id), now).text.replace(f".{three.id}.", f".{two.id}."),
    ]
    expired = claims.issue(str(two.id), now).text
    later = now + claims.lifetime

    replays = await asyncio.gather(*(_outcome(packs.claim(claims, staff, shown, None, now)) for _ in range(20)))
    fakes = await asyncio.gather(*(_outcome(packs.claim(claims, staff, text, None, now)) for text in forged))
    too_late = await _outcome(packs.claim(claims, staff, expired, None, later))

    assert Counter(replays) == {"ok": 1, "pack_claim_code_replayed": 19}
    assert fakes == ["pack_claim_code_invalid"] * 4
    assert too_late == "pack_claim_code_expired"
    assert [r.status for r in await PackReservation.filter(id__in=[two.id, three.id])] == [
        ReservationStatus.RESERVED
    ] * 2
    assert await stock_of("TL-A", pack_type) == (9, 2)
    assert await ledger_agrees()


async def test_transfers_and_adjustments_at_once_never_take_stock_below_zero(service: Service) -> None:
    setup = await set_up(service)
    pack_type = await stage_pack(setup)
    admin = await desk("tla-admin", "TL-A", StaffRole.LIBRARY_ADMIN)
    now = service.clock.now()
    await packs.receive_stock(admin, "TL-A", pack_type, 20, "", now)
    await packs.receive_stock(admin, "TL-A-1", pack_type, 5, "", now)

    def send(source: str, target: str) -> Awaitable[str]:
        return _outcome(packs.transfer_stock(admin, source, target, pack_type, 1, "", now))

    attempts = [send("TL-A", "TL-A-1") for _ in range(30)]
    attempts += [send("TL-A-1", "TL-A") for _ in range(30)]
    attempts += [_outcome(packs.adjust_stock(admin, "TL-A", pack_type, -1, "破损", now)) for _ in range(15)]
    outcomes = await asyncio.gather(*attempts)

    assert set(outcomes) <= {"ok", "pack_stock_too_low"}
    main_out, branch_out, damaged = outcomes[:30].count("ok"), outcomes[30:60].count("ok"), outcomes[60:].count("ok")
    assert await stock_of("TL-A", pack_type) == (20 - main_out + branch_out - damaged, 0)
    assert await stock_of("TL-A-1", pack_type) == (5 + main_out - branch_out, 0)
    assert await ledger_agrees()


async def test_two_stage_change_runs_at_once_reserve_each_childs_pack_once(service: Service) -> None:
    setup = await set_up(service)
    today = NETWORK_TIME.day(service.clock.now())
    enrolled = await enrol_children(service, setup, 40, born=today - timedelta(days=175))
    later = service.clock.now() + timedelta(days=10)

    moved = await asyncio.gather(*(stages.move_children(later, NETWORK_TIME, BUS, batch=7) for _ in range(2)))

    assert sum(moved) == 40
    assert await PackReservation.filter(enrolment_id__in=[e.id for e in enrolled]).count() == 80
    assert await stock_of("TL-A", await stage_pack(setup, 1)) == (0, 40)
    assert await ledger_agrees()


async def _withdraw(enrolled: Enrolment, service: Service) -> str:
    guardian = await Reader.get(id=enrolled.guardian_id)
    return await _outcome(enrolment.withdraw_consent(guardian, enrolled.id, service.clock.now(), NETWORK_TIME, BUS))


async def test_consent_withdrawn_while_the_pack_is_claimed_gives_it_back_or_hands_it_out_never_both(
    service: Service,
) -> None:
    setup = await set_up(service)
    pack_type = await stage_pack(setup)
    enrolled = await enrol_children(service, setup, 20)
    home, branch = await desk("tla-desk", "TL-A"), await desk("branch-desk", "TL-A-1")
    now = service.clock.now()
    await packs.receive_stock(home, "TL-A", pack_type, 20, "", now)
    await packs.receive_stock(branch, "TL-A-1", pack_type, 20, "", now)
    claims = deps(service).pack_claims
    attempts = []
    for i, e in enumerate(enrolled):  # half at the family's library, half at another
        code = claims.issue(str((await PackReservation.get(enrolment_id=e.id)).id), now).text
        attempts += [_withdraw(e, service), _outcome(packs.claim(claims, home if i % 2 else branch, code, None, now))]

    outcomes = await asyncio.gather(*attempts)

    withdrawals, handed = outcomes[0::2], outcomes[1::2]
    assert set(withdrawals) == {"ok"}
    assert set(handed) <= {"ok", "pack_reservation_not_found"}
    cancelled = await StockMovement.filter(kind="cancel").count()
    claimed_lines = await StockMovement.filter(kind="claim", reserved_change=-1).count()
    assert (cancelled + claimed_lines, claimed_lines) == (20, handed.count("ok"))
    home_stock, branch_stock = await stock_of("TL-A", pack_type), await stock_of("TL-A-1", pack_type)
    assert (home_stock[1], branch_stock[1]) == (0, 0)
    assert home_stock[0] + branch_stock[0] == 40 - handed.count("ok")
    assert await ledger_agrees()


async def test_consent_withdrawn_while_the_pack_lapses_gives_it_back_once(service: Service) -> None:
    setup = await set_up(service)
    pack_type = await stage_pack(setup)
    enrolled = await enrol_children(service, setup, 20)
    expires = (await PackReservation.get(enrolment_id=enrolled[0].id)).expires_at

    outcomes = await asyncio.gather(
        *(_withdraw(e, service) for e in enrolled[:10]),
        packs.lapse_reservations(expires, batch=3),
        *(_withdraw(e, service) for e in enrolled[10:]),
    )

    lapsed = outcomes[10]
    assert set(outcomes[:10] + outcomes[11:]) == {"ok"}
    assert await StockMovement.filter(kind="lapse").count() == lapsed
    assert await StockMovement.filter(kind="cancel").count() == 20 - lapsed
    assert await stock_of("TL-A", pack_type) == (0, 0)
    assert await ledger_agrees()
