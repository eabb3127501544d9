import asyncio

from backend.accounts.models import StaffRole
from backend.counter.models import LookupAction, LookupBy, ReaderLookup
from backend.demo.network import DEMO_PASSWORD, seed_demo
from backend.newborn.models import Enrolment
from tests.integration.factories import STAFF_PASSWORD, make_staff, staff_headers
from tests.integration.newborn.enrolling import add_hospital, at_ward, enrol, guardian, set_up
from tests.integration.service import Service

TAIPEI = [("6-18个月", 6, 18), ("18-36个月", 18, 36)]


def stages(pack_type_id: int, plan: list[tuple[str, int, int]]) -> list[dict[str, object]]:
    return [{"name": n, "min_age_months": lo, "max_age_months": hi, "pack_type_id": pack_type_id} for n, lo, hi in plan]


async def test_a_programme_starts_with_the_default_stages_and_takes_other_settings(service: Service) -> None:
    setup = await set_up(service)
    path = f"/staff/newborn/programmes/{setup.programme_id}"
    made = (await service.client.get(path, headers=setup.admin)).json()
    pack_type_id = made["stages"][0]["pack_type"]["id"]

    taipei = await service.client.put(
        f"{path}/stages", json={"stages": stages(pack_type_id, TAIPEI)}, headers=setup.admin
    )
    overlapping = await service.client.put(
        f"{path}/stages", json={"stages": stages(pack_type_id, [("a", 0, 12), ("b", 6, 18)])}, headers=setup.admin
    )
    backwards = await service.client.put(
        f"{path}/stages", json={"stages": stages(pack_type_id, [("a", 12, 6)])}, headers=setup.admin
    )

    assert [(s["name"], s["min_age_months"], s["max_age_months"]) for s in made["stages"]] == [
        ("0-6个月", 0, 6),
        ("6-18个月", 6, 18),
        ("18-36个月", 18, 36),
    ]
    assert len({s["pack_type"]["id"] for s in made["stages"]}) == 3
    assert taipei.status_code == 200, taipei.text
    assert [(s["min_age_months"], s["max_age_months"]) for s in taipei.json()["stages"]] == [(6, 18), (18, 36)]
    assert overlapping.json()["code"] == backwards.json()["code"] == "newborn_stages_invalid"


async def test_a_stage_children_are_in_cannot_be_removed_but_can_be_changed(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-stage")
    child_stage = (await enrol(service.client, parent, at_ward(service, setup))).json()["stage"]
    path = f"/staff/newborn/programmes/{setup.programme_id}"
    pack_type_id = (await service.client.get(path, headers=setup.admin)).json()["stages"][0]["pack_type"]["id"]

    removed = await service.client.put(
        f"{path}/stages", json={"stages": stages(pack_type_id, TAIPEI)}, headers=setup.admin
    )
    kept = [{**stages(pack_type_id, [("0-5个月", 0, 5)])[0], "id": child_stage["id"]}, *stages(pack_type_id, TAIPEI)]
    changed = await service.client.put(f"{path}/stages", json={"stages": kept}, headers=setup.admin)

    assert removed.status_code == 409 and removed.json()["code"] == "newborn_stage_in_use"
    assert changed.status_code == 200, changed.text
    assert changed.json()["stages"][0] == {**changed.json()["stages"][0], "id": child_stage["id"], "name": "0-5个月"}


async def test_a_stage_removed_while_families_enrol_in_it_leaves_no_child_in_a_removed_stage(service: Service) -> None:
    setup = await set_up(service)
    parents = [await guardian(service, f"openid-race-{i}", f"1380013800{i}") for i in range(4)]
    path = f"/staff/newborn/programmes/{setup.programme_id}"
    pack_type_id = (await service.client.get(path, headers=setup.admin)).json()["stages"][0]["pack_type"]["id"]

    *enrolled, removed = await asyncio.gather(
        *(enrol(service.client, parent, at_ward(service, setup)) for parent in parents),
        service.client.put(f"{path}/stages", json={"stages": stages(pack_type_id, TAIPEI)}, headers=setup.admin),
    )

    # Each family enrols once: the stage going away is never mistaken for a child enrolled already.
    assert all(a.status_code == 201 for a in enrolled), [a.text for a in enrolled]
    assert removed.status_code in (200, 409), removed.text
    if removed.status_code == 409:
        assert removed.json()["code"] == "newborn_stage_in_use"
    current = {s["id"] for s in (await service.client.get(path, headers=setup.admin)).json()["stages"]}
    assert set(await Enrolment.exclude(stage_id=None).values_list("stage_id", flat=True)) <= current


async def test_programmes_are_run_by_administrators_within_their_scope(service: Service) -> None:
    setup = await set_up(service)
    await make_staff("zongyang-admin", StaffRole.LIBRARY_ADMIN, "TL-B")
    await make_staff("desk", StaffRole.LIBRARIAN, "TL-A")
    county, desk = await staff_headers(service.client, "zongyang-admin"), await staff_headers(service.client, "desk")
    path = f"/staff/newborn/programmes/{setup.programme_id}"

    foreign = await service.client.put(path, json={"name": "改名"}, headers=county)
    own = await service.client.post("/staff/newborn/programmes", json={"name": "枞阳阅享宝贝"}, headers=county)
    by_librarian = await service.client.post("/staff/newborn/programmes", json={"name": "馆员计划"}, headers=desk)
    seen_by_county = (await service.client.get("/staff/newborn/programmes", headers=county)).json()["items"]
    pack_type = await service.client.post("/staff/newborn/pack-types", json={"name": "县礼包"}, headers=county)

    assert foreign.status_code == 403 and foreign.json()["code"] == "outside_staff_scope"
    assert own.status_code == 201 and own.json()["library"]["code"] == "TL-B"
    assert by_librarian.status_code == 403 and by_librarian.json()["code"] == "staff_role_insufficient"
    # The city's programme runs above the county's library, so the county takes part in it too.
    assert {p["name"] for p in seen_by_county} == {"阅享宝贝", "枞阳阅享宝贝"}
    assert pack_type.status_code == 403


async def test_families_see_only_open_programmes_with_a_consent_text(service: Service) -> None:
    setup = await set_up(service)
    await service.client.post("/staff/newborn/programmes", json={"name": "筹备中"}, headers=setup.admin)

    listed = (await service.client.get("/newborn/programmes")).json()
    await service.client.put(
        f"/staff/newborn/programmes/{setup.programme_id}",
        json={"name": "阅享宝贝", "active": False},
        headers=setup.admin,
    )
    closed = await service.client.get(f"/newborn/programmes/{setup.programme_id}")

    assert [p["name"] for p in listed["items"]] == ["阅享宝贝"]
    assert listed["items"][0]["consent"]["person_responsible"] == "少儿部 个人信息保护负责人"
    assert closed.status_code == 404


async def test_an_enroller_prints_their_wards_codes_and_sees_only_what_enrolment_needs(service: Service) -> None:
    setup = await set_up(service)
    other = await add_hospital(service, setup.admin, setup.programme_id, "铜陵市人民医院", "TL-B", enroller="renmin")
    await enrol(
        service.client, await guardian(service, "openid-at-fuyou"), at_ward(service, setup, child_name="王小明")
    )
    await enrol(service.client, await guardian(service, "openid-at-renmin"), at_ward(service, setup, code=other.scene))
    enroller = await staff_headers(service.client, "fuyou")

    partner = await service.client.get("/staff/partner", headers=enroller)
    wards = (await service.client.get("/staff/partner/wards", headers=enroller)).json()["items"]
    code = await service.client.get(f"/staff/partner/wards/{setup.hospital.ward_id}/code.png", headers=enroller)
    scene = service.wechat.wxacode_requests[-1]["scene"]
    foreign_code = await service.client.get(f"/staff/partner/wards/{other.ward_id}/code.png", headers=enroller)
    listed = (await service.client.get("/staff/partner/enrolments", headers=enroller)).json()["items"]

    assert partner.json()["name"] == "铜陵市妇幼保健院"
    assert [w["id"] for w in wards] == [setup.hospital.ward_id]
    assert code.status_code == 200 and scene == setup.hospital.scene and len(scene) <= 32
    assert foreign_code.status_code == 404 and foreign_code.json()["code"] == "newborn_ward_not_found"
    assert [(e["ward"], e["child"]) for e in listed] == [("产科一病区", "王**")]
    assert set(listed[0]) == {"id", "ward", "child", "enrolled_at"}
    logged = await ReaderLookup.get(staff__username="fuyou")
    child_id = (await Enrolment.get(id=listed[0]["id"])).child_id
    assert (logged.action, logged.looked_up_by, logged.reader_ids) == (
        LookupAction.NEWBORN,
        LookupBy.ENROLMENT,
        [child_id],
    )


async def test_an_enroller_is_not_library_staff_and_staff_are_not_enrollers(service: Service) -> None:
    setup = await set_up(service)
    await make_staff("desk", StaffRole.LIBRARIAN, "TL-A")
    enroller, desk = await staff_headers(service.client, "fuyou"), await staff_headers(service.client, "desk")

    me = await service.client.get("/staff/me", headers=enroller)
    checkout = await service.client.post(
        "/staff/checkouts", json={"card_number": "1", "barcode": "x"}, headers=enroller
    )
    enrolments = await service.client.get("/staff/newborn/enrolments", headers=enroller)
    partner_side = await service.client.get("/staff/partner", headers=desk)
    by_hand = await service.client.post(
        "/staff/staff-users",
        json={"username": "sneaky", "password": STAFF_PASSWORD, "role": "enroller", "library_code": "TL"},
        headers=setup.admin,
    )
    listed = (await service.client.get("/staff/staff-users", params={"library": "TL-A"}, headers=setup.admin)).json()

    for refused in (me, checkout, enrolments):
        assert refused.status_code == 403 and refused.json()["code"] == "staff_only"
    assert partner_side.status_code == 403 and partner_side.json()["code"] == "enrollers_only"
    assert by_hand.status_code == 422 and by_hand.json()["code"] == "enroller_needs_partner"
    assert {(s["username"], s["role"]) for s in listed["items"]} >= {("fuyou", "enroller")}


async def test_ending_a_partnership_stops_its_codes_and_its_enrollers(service: Service) -> None:
    setup = await set_up(service)
    enroller = await staff_headers(service.client, "fuyou")
    parent = await guardian(service, "openid-too-late")

    ended = await service.client.put(
        f"/staff/newborn/partners/{setup.hospital.partner_id}",
        json={"name": "铜陵市妇幼保健院", "kind": "hospital", "active": False},
        headers=setup.admin,
    )
    scanned = await enrol(service.client, parent, at_ward(service, setup))
    acting = await service.client.get("/staff/partner/wards", headers=enroller)

    assert ended.status_code == 200 and ended.json()["active"] is False
    assert scanned.json()["code"] == "newborn_ward_code_invalid"
    assert acting.status_code == 404 and acting.json()["code"] == "newborn_partner_not_found"


async def test_staff_reads_of_enrolments_are_logged_and_scoped(service: Service) -> None:
    setup = await set_up(service)
    await make_staff("zongyang-desk", StaffRole.LIBRARIAN, "TL-B")
    county = await staff_headers(service.client, "zongyang-desk")
    enrolled = (await enrol(service.client, await guardian(service, "openid-logged"), at_ward(service, setup))).json()

    listed = await service.client.get("/staff/newborn/enrolments", headers=setup.admin)
    one = await service.client.get(f"/staff/newborn/enrolments/{enrolled['id']}", headers=setup.admin)
    elsewhere = await service.client.get(f"/staff/newborn/enrolments/{enrolled['id']}", headers=county)
    log = (await service.client.get("/staff/reader-lookups", headers=setup.admin)).json()["items"]

    assert [e["child"]["name"] for e in listed.json()["items"]] == ["小宝"]
    assert one.json()["child"]["card_number"] == enrolled["child"]["card_number"]
    assert elsewhere.status_code == 404
    newborn_reads = [entry for entry in log if entry["action"] == "newborn"]
    assert len(newborn_reads) == 2, log
    assert all(entry["card_numbers"] == [enrolled["child"]["card_number"]] for entry in newborn_reads)


async def test_the_demo_runs_a_programme_families_can_enrol_in(service: Service) -> None:
    await seed_demo()
    login = await service.client.post(
        "/staff/auth/login", json={"username": "fuyou-enroller", "password": DEMO_PASSWORD}
    )
    enroller = {"Authorization": f"Bearer {login.json()['access_token']}"}

    programmes = (await service.client.get("/newborn/programmes")).json()["items"]
    wards = (await service.client.get("/staff/partner/wards", headers=enroller)).json()["items"]

    assert [(p["name"], len(p["stages"]), p["consent"]["version"]) for p in programmes] == [("阅享宝贝", 3, 1)]
    assert all(stage["pack_type"]["contents"] for stage in programmes[0]["stages"])
    assert [w["name"] for w in wards] == ["产科一病区"]


async def test_a_wards_code_is_printed_by_the_administrators_who_add_wards_not_by_any_librarian(
    service: Service,
) -> None:
    setup = await set_up(service)
    await make_staff("tla-librarian", StaffRole.LIBRARIAN, "TL-A")
    await make_staff("tla-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    path = f"/staff/newborn/partners/{setup.hospital.partner_id}/wards/{setup.hospital.ward_id}/code.png"

    by_librarian = await service.client.get(path, headers=await staff_headers(service.client, "tla-librarian"))
    by_admin = await service.client.get(path, headers=await staff_headers(service.client, "tla-admin"))

    assert (by_librarian.status_code, by_librarian.json()["code"]) == (403, "staff_role_insufficient")
    assert by_admin.status_code == 200 and by_admin.headers["content-type"] == "image/png"
    assert service.wechat.wxacode_requests[-1]["scene"] == setup.hospital.scene
