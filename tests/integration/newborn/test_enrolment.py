import asyncio
from datetime import UTC, date, datetime, timedelta

from tortoise import connections

from backend.accounts.models import Reader, ReaderType
from backend.newborn import stages
from backend.newborn.models import Consent, Enrolment
from tests.integration.factories import login_reader
from tests.integration.newborn.enrolling import add_hospital, at_ward, born_days_ago, enrol, guardian, set_up, today
from tests.integration.service import BUS, NETWORK_TIME, Service


async def test_a_parent_who_scans_a_ward_code_enrols_their_newborn_with_the_partner_recorded(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-mum")

    shown = await service.client.get(f"/newborn/codes/{setup.hospital.scene}")
    enrolled = await enrol(service.client, parent, at_ward(service, setup))

    assert shown.status_code == 200, shown.text
    assert shown.json()["partner"]["name"] == "铜陵市妇幼保健院" and shown.json()["ward"] == "产科一病区"
    assert shown.json()["library"]["code"] == "TL-A"
    assert shown.json()["programme"]["consent"]["version"] == setup.consent_version
    assert enrolled.status_code == 201, enrolled.text
    body = enrolled.json()
    assert body["channel"] == "partner" and body["partner"] == "铜陵市妇幼保健院" and body["ward"] == "产科一病区"
    assert body["library"]["code"] == "TL-A"
    assert body["stage"]["name"] == "0-6个月"
    assert body["child"]["name"] == "小宝" and body["child"]["date_of_birth"] == born_days_ago(service, 10)
    assert body["consent"]["version"] == setup.consent_version
    children = (await service.client.get("/readers/me/children", headers=parent.headers)).json()["items"]
    assert [(c["card_number"], c["date_of_birth"]) for c in children] == [
        (body["child"]["card_number"], body["child"]["date_of_birth"])
    ]
    tally = await connections.get("default").execute_query_dict(
        "SELECT partner_id, enrolled, withdrawn, month FROM newborn_enrolment_tally"
    )
    assert tally == [
        {"partner_id": setup.hospital.partner_id, "enrolled": 1, "withdrawn": 0, "month": today(service).replace(day=1)}
    ]


async def test_in_the_app_a_parent_enrols_choosing_the_library_to_collect_packs_at(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-app")
    in_app = {**at_ward(service, setup), "code": None, "programme_id": setup.programme_id}

    without_library = await enrol(service.client, parent, in_app)
    unknown = await enrol(service.client, parent, {**in_app, "library_code": "NOWHERE"})
    enrolled = await enrol(service.client, parent, {**in_app, "library_code": "TL-B-1"})

    assert without_library.json()["code"] == "newborn_enrolment_way_required"
    assert unknown.json()["code"] == "newborn_collection_library_invalid"
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["channel"] == "app" and enrolled.json()["partner"] is None
    assert enrolled.json()["library"]["code"] == "TL-B-1"


async def test_a_programme_collects_only_at_its_own_libraries(service: Service) -> None:
    setup = await set_up(service)
    county = await service.client.post(
        "/staff/newborn/programmes", json={"name": "枞阳阅享宝贝", "library_code": "TL-B"}, headers=setup.admin
    )
    await service.client.post(
        f"/staff/newborn/programmes/{county.json()['id']}/consent-texts",
        json={"text": "同意书", "purpose": "发放礼包", "retention": "一年", "person_responsible": "少儿部"},
        headers=setup.admin,
    )
    parent = await guardian(service, "openid-elsewhere")
    body = {**at_ward(service, setup), "code": None, "programme_id": county.json()["id"], "consent_version": 1}

    refused = await enrol(service.client, parent, {**body, "library_code": "TL-A"})
    enrolled = await enrol(service.client, parent, {**body, "library_code": "TL-B-1"})

    assert refused.status_code == 422 and refused.json()["code"] == "newborn_collection_library_invalid"
    assert enrolled.status_code == 201, enrolled.text


async def test_a_child_card_the_guardian_holds_is_used_and_gets_its_day_of_birth(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-card-holder")
    born = date.fromisoformat(born_days_ago(service, 40))
    twins = [
        await service.client.post(
            "/readers/me/children",
            json={"name": name, "birth_month": born.strftime("%Y-%m"), "guardian_consent": True},
            headers=parent.headers,
        )
        for name in ("大宝", "二宝")
    ]

    by_id = await enrol(
        service.client,
        parent,
        at_ward(service, setup, child_name=None, child_id=twins[0].json()["id"], date_of_birth=born.isoformat()),
    )
    by_name = await enrol(
        service.client, parent, at_ward(service, setup, child_name="二宝", date_of_birth=born.isoformat())
    )

    assert by_id.status_code == 201 and by_name.status_code == 201, (by_id.text, by_name.text)
    assert by_id.json()["child"]["card_number"] == twins[0].json()["card_number"]
    assert by_name.json()["child"]["card_number"] == twins[1].json()["card_number"]
    assert await Reader.filter(reader_type=ReaderType.CHILD).count() == 2
    assert {c.date_of_birth for c in await Reader.filter(reader_type=ReaderType.CHILD)} == {born}


async def test_enrolment_needs_a_bound_phone_and_separate_consent_to_the_current_text(service: Service) -> None:
    setup = await set_up(service)
    no_phone = await login_reader(service, "openid-no-phone")
    parent = await guardian(service, "openid-careful")

    without_phone = await enrol(service.client, no_phone, at_ward(service, setup))
    without_consent = await enrol(service.client, parent, at_ward(service, setup, consent=False))
    await service.client.post(
        f"/staff/newborn/programmes/{setup.programme_id}/consent-texts",
        json={"text": "第二版", "purpose": "发放礼包", "retention": "一年", "person_responsible": "少儿部"},
        headers=setup.admin,
    )
    outdated = await enrol(service.client, parent, at_ward(service, setup))

    assert without_phone.status_code == 409 and without_phone.json()["code"] == "newborn_phone_required"
    assert without_consent.status_code == 422 and without_consent.json()["code"] == "newborn_consent_required"
    assert outdated.status_code == 409 and outdated.json()["code"] == "newborn_consent_outdated"
    assert "第 2 版" in outdated.json()["title"]
    assert await Reader.filter(reader_type=ReaderType.CHILD).count() == 0
    assert await Consent.all().count() == 0


async def test_a_forged_or_retired_ward_code_enrols_nobody(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-forger")
    ward_id = setup.hospital.ward_id
    forged = f"n{ward_id + 1}.{setup.hospital.scene.split('.')[1]}"

    for scene in (forged, setup.hospital.scene[:-1] + "x", "TL-SC1", "n١.abc"):
        shown = await service.client.get(f"/newborn/codes/{scene}")
        refused = await enrol(service.client, parent, at_ward(service, setup, code=scene))
        assert shown.json()["code"] == refused.json()["code"] == "newborn_ward_code_invalid", scene
    retired = await service.client.put(
        f"/staff/newborn/partners/{setup.hospital.partner_id}/wards/{ward_id}",
        json={"name": "产科一病区", "active": False},
        headers=setup.admin,
    )
    after = await enrol(service.client, parent, at_ward(service, setup))

    assert retired.status_code == 200 and after.json()["code"] == "newborn_ward_code_invalid"
    assert await Enrolment.all().count() == 0


async def test_a_child_older_than_the_last_stage_is_not_enrolled(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-late")

    refused = await enrol(
        service.client, parent, at_ward(service, setup, date_of_birth=born_days_ago(service, 4 * 365))
    )
    unborn = await enrol(service.client, parent, at_ward(service, setup, date_of_birth=born_days_ago(service, -3)))

    assert refused.status_code == 422 and refused.json()["code"] == "newborn_child_outside_stages"
    assert unborn.status_code == 422 and unborn.json()["code"] == "invalid_date_of_birth"


async def test_stages_count_from_the_day_of_birth_on_the_networks_calendar(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-half-year")
    # 00:30 on 15 June in China is still 14 June in UTC: the child born on 15 December turns six months that day.
    service.clock.freeze_at(datetime(2026, 6, 14, 16, 30, tzinfo=UTC))

    six_months = await enrol(
        service.client, parent, at_ward(service, setup, child_name="满半岁", date_of_birth="2025-12-15")
    )
    a_day_short = await enrol(
        service.client, parent, at_ward(service, setup, child_name="差一天", date_of_birth="2025-12-16")
    )

    assert six_months.json()["stage"]["name"] == "6-18个月"
    assert a_day_short.json()["stage"]["name"] == "0-6个月"


async def test_two_hospitals_enrolling_the_same_child_at_once_make_one_enrolment(service: Service) -> None:
    setup = await set_up(service)
    other = await add_hospital(service, setup.admin, setup.programme_id, "铜陵市人民医院", "TL-B", enroller="renmin")
    parent = await guardian(service, "openid-two-hospitals")
    scenes = [setup.hospital.scene, other.scene] * 4

    answers = await asyncio.gather(*(enrol(service.client, parent, at_ward(service, setup, code=s)) for s in scenes))

    assert sorted(a.status_code for a in answers) == [201] + [409] * 7, [a.text for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"newborn_child_already_enrolled"}
    assert await Enrolment.all().count() == 1
    assert await Reader.filter(reader_type=ReaderType.CHILD).count() == 1
    assert await Consent.all().count() == 1


async def test_a_guardian_sees_and_acts_only_for_their_own_children(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-own")
    stranger = await guardian(service, "openid-nosy", phone="13900139000")
    enrolment_id = (await enrol(service.client, parent, at_ward(service, setup))).json()["id"]

    seen = await service.client.get(f"/readers/me/newborn/enrolments/{enrolment_id}", headers=stranger.headers)
    withdrawn = await service.client.delete(f"/readers/me/newborn/enrolments/{enrolment_id}", headers=stranger.headers)
    listed = await service.client.get("/readers/me/newborn/enrolments", headers=stranger.headers)
    borrowed_card = await enrol(
        service.client,
        stranger,
        at_ward(service, setup, child_name=None, child_id=(await Enrolment.get(id=enrolment_id)).child_id),
    )

    assert seen.status_code == withdrawn.status_code == 404
    assert seen.json()["code"] == withdrawn.json()["code"] == "newborn_enrolment_not_found"
    assert listed.json()["items"] == []
    assert borrowed_card.status_code == 404 and borrowed_card.json()["code"] == "child_not_found"
    assert await Enrolment.filter(id=enrolment_id).exists()
    mine = (await service.client.get("/readers/me/newborn/enrolments", headers=parent.headers)).json()["items"]
    assert [e["id"] for e in mine] == [enrolment_id]


async def test_an_enrolled_childs_birth_month_is_corrected_with_the_day_and_the_child_moves_stage(
    service: Service,
) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-corrects")
    enrolled = (await enrol(service.client, parent, at_ward(service, setup))).json()
    child_id = enrolled["child"]["id"]
    earlier = today(service) - timedelta(days=200)

    month_only = await service.client.patch(
        f"/readers/me/children/{child_id}", json={"birth_month": earlier.strftime("%Y-%m")}, headers=parent.headers
    )
    same_month = await service.client.patch(
        f"/readers/me/children/{child_id}",
        json={"birth_month": born_days_ago(service, 10)[:7], "name": "小小宝"},
        headers=parent.headers,
    )
    with_the_day = await service.client.patch(
        f"/readers/me/children/{child_id}", json={"date_of_birth": earlier.isoformat()}, headers=parent.headers
    )
    moved = await stages.move_children(service.clock.now(), NETWORK_TIME, BUS)

    assert (month_only.status_code, month_only.json()["code"]) == (422, "date_of_birth_required")
    assert month_only.headers["content-type"].startswith("application/problem+json")
    assert same_month.status_code == 200, same_month.text
    assert with_the_day.status_code == 200, with_the_day.text
    child = await Reader.get(id=child_id)
    assert (child.date_of_birth, child.birth_month) == (earlier, earlier.strftime("%Y-%m"))
    assert moved == 1
    stage = (await Enrolment.get(id=enrolled["id"]).select_related("stage")).stage
    assert stage is not None and stage.min_age_months == 6
