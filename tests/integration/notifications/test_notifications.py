"""Readers are told what matters: in the inbox always, and in WeChat once per authorisation, never twice."""

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from backend.accounts.models import Reader, StaffRole
from backend.catalog.models import Copy, Record
from backend.catalog.search import index_records
from backend.circulation import services as circulation
from backend.circulation.models import Hold, Loan
from backend.clock import NetworkTime
from backend.events.models import Event
from backend.network.models import Library
from notifications import reminders, sender
from notifications import services as notices
from notifications.models import Delivery, DeliveryStatus, Notice, NoticeKind, SubscribeGrant
from notifications.sender import STALE_CLAIM, Outcome, SendPolicy, WeChatSubscribe
from notifications.services import NoticeDraft, notify_many
from standins.wechat import DISCONNECT, HTTP500
from standins.wechat_templates import template_id
from tests.integration.events.eventing import OPENS, make_event
from tests.integration.factories import LoggedIn, build_network, login_reader, make_staff, staff_headers
from tests.integration.notifications.notifying import SHANGHAI, push, received, subscribed_reader
from tests.integration.service import BUS, NETWORK_TIME, Service

# 10:00 on a Tuesday in Tongling.
MORNING = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


async def _library_with_copies(*barcodes: str, title: str = "活着") -> Record:
    await build_network()
    library = await Library.get(code="TL-A")
    record = await Record.create(title=title)
    for barcode in barcodes:
        await Copy.create(barcode=barcode, record=record, home_library=library, current_library=library)
    await index_records([record.id])
    return record


async def _book(service: Service, reader: LoggedIn, event_id: int) -> dict[str, object]:
    response = await service.client.post(f"/events/{event_id}/bookings", json={}, headers=reader.headers)
    assert response.status_code == 201, response.text
    booked: dict[str, object] = response.json()
    return booked


async def _deliveries(openid: str) -> list[Delivery]:
    return await Delivery.filter(notice__reader__openid=openid).order_by("id").select_related("notice")


async def test_a_hold_on_the_shelf_reaches_the_inbox_at_once_and_wechat_once(
    service: Service, channel: WeChatSubscribe
) -> None:
    record = await _library_with_copies("N0001")
    await make_staff("n-desk", StaffRole.LIBRARIAN, "TL-A")
    service.clock.freeze_at(MORNING)
    reader = await subscribed_reader(service, "openid-hold", NoticeKind.HOLD_READY)
    desk = await staff_headers(service.client, "n-desk")
    placed = await service.client.post(
        "/readers/me/holds", json={"record_id": record.id, "pickup_library_code": "TL-A"}, headers=reader.headers
    )
    await service.client.post("/staff/checkins", json={"barcode": "N0001"}, headers=desk)

    unread = (await service.client.get("/readers/me/notices/unread-count", headers=reader.headers)).json()
    inbox = (await service.client.get("/readers/me/notices", headers=reader.headers)).json()["items"]
    sent = [await push(service, channel) for _ in range(2)]

    assert unread == {"unread": 1}
    assert [(n["kind"], n["link"]) for n in inbox] == [("hold_ready", f"hold={placed.json()['id']}")]
    assert "活着" in inbox[0]["body"] and "铜官区图书馆" in inbox[0]["body"]
    assert sent == [1, 0]
    (message,) = received(service, "openid-hold")
    assert message["template_id"] == template_id(NoticeKind.HOLD_READY)
    assert message["page"] == f"pages/holds/index?hold={placed.json()['id']}"
    assert message["data"]["thing1"]["value"] == "活着" and message["data"]["date3"]["value"] == "2026年12月08日"
    assert service.wechat.subscriptions_left("openid-hold", template_id(NoticeKind.HOLD_READY)) == 0
    await service.client.post("/readers/me/notices/read-all", headers=reader.headers)
    assert (await service.client.get("/readers/me/notices/unread-count", headers=reader.headers)).json()["unread"] == 0


async def test_without_an_authorisation_nothing_is_pushed_and_the_inbox_still_has_it(
    service: Service, channel: WeChatSubscribe
) -> None:
    reader = await login_reader(service, "openid-silent")
    reader_id = (await Reader.get(openid="openid-silent")).id
    await notify_many([_message(reader_id, 1)], service.clock.now())

    await push(service, channel)

    (delivery,) = await _deliveries("openid-silent")
    assert (delivery.status, delivery.error_code) == (DeliveryStatus.SKIPPED, "no_authorisation")
    assert received(service, "openid-silent") == []
    inbox = (await service.client.get("/readers/me/notices", headers=reader.headers)).json()["items"]
    assert [n["title"] for n in inbox] == ["闭馆通知"]


def _message(reader_id: int, n: int, title: str = "闭馆通知", body: str = "本周六闭馆一天") -> NoticeDraft:
    return NoticeDraft(
        reader_id,
        NoticeKind.STAFF_MESSAGE,
        subject=f"message:{n}",
        occasion="sent",
        title=title,
        body=body,
        values={"title": title, "body": body, "sender": "铜陵市图书馆"},
    )


async def test_wechats_answers_decide_what_happens_to_a_push(service: Service, channel: WeChatSubscribe) -> None:
    kind = NoticeKind.STAFF_MESSAGE
    for openid in ("openid-refused", "openid-gone", "openid-busy"):
        await subscribed_reader(service, openid, kind)
    ids = {r.openid: r.id for r in await Reader.filter(openid__in=["openid-refused", "openid-gone", "openid-busy"])}
    service.wechat.authorise_subscription("openid-refused", template_id(kind), times=-1)  # WeChat has none left
    await Reader.filter(openid="openid-gone").update(openid="openid-gone-unknown")  # an openid WeChat does not know
    service.clock.freeze_at(MORNING)

    async def outcome(openid: str) -> tuple[DeliveryStatus, str, int]:
        (delivery,) = await Delivery.filter(notice__reader_id=ids[openid])
        grant = await SubscribeGrant.get(reader_id=ids[openid])
        return delivery.status, delivery.error_code, grant.remaining

    await notify_many([_message(ids["openid-refused"], 2)], MORNING)
    await push(service, channel)
    await notify_many([_message(ids["openid-gone"], 2)], MORNING)
    await push(service, channel)
    await notify_many([_message(ids["openid-busy"], 2)], MORNING)
    service.wechat.script_next_errors("/cgi-bin/message/subscribe/send", [45009, HTTP500])
    await push(service, channel)

    # 43101: WeChat's count is the truth, ours is zeroed. 40003: permanent, the authorisation was not used.
    assert await outcome("openid-refused") == (DeliveryStatus.FAILED, "43101", 0)
    assert await outcome("openid-gone") == (DeliveryStatus.FAILED, "40003", 1)
    # 45009 (daily quota): tried again after a backoff; the authorisation was given back meanwhile.
    assert await outcome("openid-busy") == (DeliveryStatus.PENDING, "45009", 1)
    service.clock.freeze_at(MORNING + timedelta(minutes=1))
    assert await push(service, channel) == 0  # the 500
    assert await outcome("openid-busy") == (DeliveryStatus.PENDING, "unavailable", 1)
    service.clock.freeze_at(MORNING + timedelta(minutes=5))
    assert await push(service, channel) == 1
    assert await outcome("openid-busy") == (DeliveryStatus.SENT, "", 0)
    assert len(received(service, "openid-busy")) == 1
    assert received(service, "openid-refused") == []


async def test_staff_see_failed_pushes_with_their_reason_and_send_them_again(
    service: Service, channel: WeChatSubscribe
) -> None:
    await build_network()
    await make_staff("central-admin", StaffRole.NETWORK_ADMIN, "TL")
    await make_staff("a-librarian", StaffRole.LIBRARIAN, "TL-A")
    await subscribed_reader(service, "openid-retry", NoticeKind.STAFF_MESSAGE, times=2)
    reader_id = (await Reader.get(openid="openid-retry")).id
    await notify_many([_message(reader_id, 3)], service.clock.now())
    service.wechat.script_next_errors("/cgi-bin/message/subscribe/send", [47003])
    await push(service, channel)
    admin = await staff_headers(service.client, "central-admin")

    listed = (await service.client.get("/staff/deliveries/undelivered", headers=admin)).json()["items"]
    by_librarian = await service.client.get(
        "/staff/deliveries/undelivered", headers=await staff_headers(service.client, "a-librarian")
    )
    retried = await service.client.post(
        "/staff/deliveries/retry", json={"delivery_ids": [d["id"] for d in listed]}, headers=admin
    )
    await push(service, channel)

    assert [(d["error_code"], d["kind"]) for d in listed] == [("47003", "staff_message")]
    assert listed[0]["error_reason"] == "template data invalid"
    assert by_librarian.status_code == 403
    assert retried.json() == {"queued": 1}
    assert len(received(service, "openid-retry")) == 1


async def test_a_rejected_access_token_is_refreshed_once_and_the_message_goes(
    service: Service, channel: WeChatSubscribe
) -> None:
    await subscribed_reader(service, "openid-token", NoticeKind.STAFF_MESSAGE)
    await notify_many([_message((await Reader.get(openid="openid-token")).id, 4)], service.clock.now())
    await channel.gateway.access_token()  # cached in Redis
    service.wechat.invalidate_all_tokens()  # then WeChat answers 40001 to it

    assert await push(service, channel) == 1
    assert len(received(service, "openid-token")) == 1


async def test_quiet_hours_hold_a_push_until_morning(service: Service, channel: WeChatSubscribe) -> None:
    await subscribed_reader(service, "openid-night", NoticeKind.STAFF_MESSAGE)
    night = datetime(2026, 12, 1, 23, 30, tzinfo=SHANGHAI)
    service.clock.freeze_at(night)
    await notify_many([_message((await Reader.get(openid="openid-night")).id, 5)], night)
    policy = SendPolicy(SHANGHAI)  # the default quiet hours, 22:00-08:00

    at_night = await push(service, channel, policy)
    service.clock.freeze_at(datetime(2026, 12, 2, 7, 59, tzinfo=SHANGHAI))
    before_eight = await push(service, channel, policy)
    service.clock.freeze_at(datetime(2026, 12, 2, 8, 0, tzinfo=SHANGHAI))
    at_eight = await push(service, channel, policy)

    assert (at_night, before_eight, at_eight) == (0, 0, 1)
    assert len(received(service, "openid-night")) == 1


async def test_quiet_hours_a_reader_sets_in_the_app_hold_a_push_until_they_end(
    service: Service, channel: WeChatSubscribe
) -> None:
    reader = await subscribed_reader(service, "openid-nap", NoticeKind.STAFF_MESSAGE)
    chosen = await service.client.put(
        "/readers/me/notice-preferences",
        json={"muted_kinds": [], "quiet_from": "12:00:00", "quiet_until": "14:00:00"},
        headers=reader.headers,
    )
    read_back = await service.client.get("/readers/me/notice-preferences", headers=reader.headers)
    noon = datetime(2026, 12, 1, 12, 30, tzinfo=SHANGHAI)
    service.clock.freeze_at(noon)
    await notify_many([_message((await Reader.get(openid="openid-nap")).id, 9)], noon)

    at_noon = await push(service, channel)  # the installation's quiet hours are off: only the reader's count
    service.clock.freeze_at(datetime(2026, 12, 1, 13, 59, tzinfo=SHANGHAI))
    before_two = await push(service, channel)
    service.clock.freeze_at(datetime(2026, 12, 1, 14, 0, tzinfo=SHANGHAI))
    at_two = await push(service, channel)

    assert chosen.status_code == 200, chosen.text
    assert (read_back.json()["quiet_from"], read_back.json()["quiet_until"]) == ("12:00:00", "14:00:00")
    assert (at_noon, before_two, at_two) == (0, 0, 1)
    assert len(received(service, "openid-nap")) == 1


async def test_three_books_due_the_same_day_make_one_message_and_a_rerun_none(
    service: Service, channel: WeChatSubscribe
) -> None:
    await _library_with_copies("D1", "D2", "D3", title="一个很长很长很长很长很长很长的书名：关于时间的故事")
    desk = await make_staff("d-desk", StaffRole.LIBRARIAN, "TL-A")
    await desk.fetch_related("library")
    await subscribed_reader(service, "openid-due", NoticeKind.DUE_SOON)
    reader = await Reader.get(openid="openid-due")
    for barcode in ("D1", "D2", "D3"):
        await circulation.checkout(reader, barcode, now=MORNING, bus=BUS, network_time=NETWORK_TIME, staff=desk)
    loans, _ = await circulation.open_loans(reader.id, MORNING, limit=3, offset=0)
    due = loans[0][0].due_at
    three_days_before = due - timedelta(days=3)

    made = [await reminders.due_soon(three_days_before, NETWORK_TIME) for _ in range(2)]
    service.clock.freeze_at(three_days_before)
    await push(service, channel)

    assert made == [1, 0]
    (message,) = received(service, "openid-due")
    title = message["data"]["thing1"]["value"]
    assert title.endswith("…") and len(title) == 20 and "等3本" not in title  # cut to WeChat's 20 characters
    (notice,) = await Notice.filter(reader_id=reader.id)
    assert "等3本" in notice.body


async def test_a_loan_due_late_on_the_day_the_clocks_go_back_is_reminded(service: Service) -> None:
    london = NetworkTime(ZoneInfo("Europe/London"))  # 2026-10-25 there has 25 hours
    await _library_with_copies("Q1")
    desk = await make_staff("q-desk", StaffRole.LIBRARIAN, "TL-A")
    await desk.fetch_related("library")
    reader = await subscribed_reader(service, "openid-autumn", NoticeKind.DUE_SOON)
    await circulation.checkout(
        await Reader.get(openid="openid-autumn"), "Q1", now=MORNING, bus=BUS, network_time=london, staff=desk
    )
    await Loan.filter(copy__barcode="Q1").update(
        due_at=datetime(2026, 10, 25, 23, 30, tzinfo=ZoneInfo("Europe/London"))
    )

    made = await reminders.due_soon(datetime(2026, 10, 22, 9, tzinfo=UTC), london)

    assert made == 1
    assert await Notice.filter(reader__openid=reader.openid, kind=NoticeKind.DUE_SOON).count() == 1


async def test_a_muted_kind_is_not_pushed_but_is_in_the_inbox(service: Service, channel: WeChatSubscribe) -> None:
    reader = await subscribed_reader(service, "openid-mute", NoticeKind.STAFF_MESSAGE)
    chosen = await service.client.put(
        "/readers/me/notice-preferences",
        json={"muted_kinds": ["staff_message"], "quiet_from": None, "quiet_until": None},
        headers=reader.headers,
    )
    half = await service.client.put(
        "/readers/me/notice-preferences", json={"quiet_from": "22:00:00"}, headers=reader.headers
    )
    await notify_many([_message((await Reader.get(openid="openid-mute")).id, 6)], service.clock.now())

    await push(service, channel)

    assert chosen.json()["muted_kinds"] == ["staff_message"]
    assert (half.status_code, half.json()["code"]) == (422, "quiet_hours_invalid")
    (delivery,) = await _deliveries("openid-mute")
    assert (delivery.status, delivery.error_code) == (DeliveryStatus.SKIPPED, "muted")
    assert received(service, "openid-mute") == []
    assert len((await service.client.get("/readers/me/notices", headers=reader.headers)).json()["items"]) == 1


async def test_a_staff_message_reaches_its_audience_with_a_report(service: Service, channel: WeChatSubscribe) -> None:
    await build_network()
    await make_staff("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    await make_staff("b-admin", StaffRole.LIBRARY_ADMIN, "TL-B")
    staff = await staff_headers(service.client, "a-admin")
    for n, library in enumerate(["TL-A", "TL-A-1", "TL-B"]):
        reader = await subscribed_reader(service, f"openid-aud-{n}", NoticeKind.STAFF_MESSAGE) if n else None
        reader = reader or await login_reader(service, f"openid-aud-{n}")
        await service.client.patch("/readers/me", json={"home_library_code": library}, headers=reader.headers)

    preview = await service.client.post("/staff/messages/preview", json={"audience": "library:TL-A"}, headers=staff)
    outside = await service.client.post("/staff/messages/preview", json={"audience": "library:TL-B"}, headers=staff)
    sent = await service.client.post(
        "/staff/messages", json={"audience": "library:TL-A", "title": "闭馆通知", "body": "周六闭馆"}, headers=staff
    )
    await push(service, channel)
    report = (await service.client.get(f"/staff/messages/{sent.json()['id']}/report", headers=staff)).json()

    assert preview.json() == {"audience": "library:TL-A", "recipients": 2}
    assert outside.json()["code"] == "outside_staff_scope"
    assert sent.json()["recipients"] == 2
    assert report["outcomes"] == {"sent": 1, "skipped:no_authorisation": 1}
    assert len(received(service, "openid-aud-1")) == 1 and received(service, "openid-aud-2") == []


async def test_notices_and_pushes_happen_once_however_many_run_at_once(
    service: Service, channel: WeChatSubscribe
) -> None:
    for n in range(30):
        await subscribed_reader(service, f"openid-once-{n}", NoticeKind.STAFF_MESSAGE, times=2)
    ids = await Reader.filter(openid__startswith="openid-once-").values_list("id", flat=True)
    drafts = [_message(int(i), 7) for i in ids]  # type: ignore[call-overload]

    await asyncio.gather(*(notify_many(drafts, service.clock.now()) for _ in range(4)))
    sent = await asyncio.gather(*(push(service, channel) for _ in range(3)))

    assert await Notice.filter(reader_id__in=ids).count() == 30
    assert await Delivery.filter(notice__reader_id__in=ids).count() == 30
    assert sum(sent) == 30
    for n in range(30):
        assert len(received(service, f"openid-once-{n}")) == 1


async def test_a_push_left_mid_call_by_a_killed_worker_is_reported_not_sent_again(
    service: Service, channel: WeChatSubscribe
) -> None:
    await subscribed_reader(service, "openid-killed", NoticeKind.STAFF_MESSAGE)
    reader_id = (await Reader.get(openid="openid-killed")).id
    service.clock.freeze_at(MORNING)
    await notify_many([_message(reader_id, 8)], MORNING)
    # A worker claimed it and was killed (SIGKILL, a power cut) before it could mark the outcome.
    await Delivery.filter(notice__reader_id=reader_id).update(status=DeliveryStatus.SENDING, claimed_at=MORNING)

    service.clock.freeze_at(MORNING + timedelta(minutes=5))
    still_in_flight = await push(service, channel)  # a live sender may still be on that batch
    service.clock.freeze_at(MORNING + timedelta(minutes=11))
    after = await push(service, channel)

    (delivery,) = await _deliveries("openid-killed")
    assert (still_in_flight, after) == (0, 0)
    assert (delivery.status, delivery.error_code) == (DeliveryStatus.INTERRUPTED, "interrupted")
    assert received(service, "openid-killed") == []


async def test_readers_delete_their_notices_and_old_ones_go_by_themselves(service: Service) -> None:
    reader = await login_reader(service, "openid-tidy")
    other = await login_reader(service, "openid-other-tidy")
    reader_id = (await Reader.get(openid="openid-tidy")).id
    await notify_many([_message(reader_id, 9)], MORNING - timedelta(days=200))
    await notify_many([_message(reader_id, 10), _message(reader_id, 11)], MORNING)
    old, kept, gone = await Notice.filter(reader_id=reader_id).order_by("id")

    not_theirs = await service.client.delete(f"/readers/me/notices/{gone.id}", headers=other.headers)
    deleted = await service.client.delete(f"/readers/me/notices/{gone.id}", headers=reader.headers)
    purged = await notices.purge_old_notices(MORNING, retention_days=180)

    assert (not_theirs.status_code, not_theirs.json()["code"]) == (404, "notice_not_found")
    assert deleted.status_code == 204 and purged == 1
    assert await Notice.filter(reader_id=reader_id).values_list("id", flat=True) == [kept.id]
    assert not await Delivery.filter(notice_id__in=[old.id, gone.id]).exists()


async def test_a_send_cut_off_mid_answer_is_reported_not_sent_again(service: Service, channel: WeChatSubscribe) -> None:
    await subscribed_reader(service, "openid-cut", NoticeKind.STAFF_MESSAGE, times=2)
    reader_id = (await Reader.get(openid="openid-cut")).id
    await notify_many([_message(reader_id, 12)], service.clock.now())
    service.wechat.script_next_errors("/cgi-bin/message/subscribe/send", [DISCONNECT])

    first = await push(service, channel)
    service.clock.advance(timedelta(hours=1).total_seconds())
    later = await push(service, channel)

    (delivery,) = await _deliveries("openid-cut")
    assert (first, later) == (0, 0)
    assert (delivery.status, delivery.error_code) == (DeliveryStatus.INTERRUPTED, "no_answer")
    assert received(service, "openid-cut") == []  # the connection was cut before the server recorded anything
    assert (await SubscribeGrant.get(reader_id=reader_id)).remaining == 1  # spent: it may have arrived


async def test_a_hold_for_a_book_with_a_very_long_title_is_told_without_a_hitch(
    service: Service, channel: WeChatSubscribe
) -> None:
    record = await _library_with_copies("L0001", title="长" * 300)
    await make_staff("l-desk", StaffRole.LIBRARIAN, "TL-A")
    service.clock.freeze_at(MORNING)
    reader = await subscribed_reader(service, "openid-long", NoticeKind.HOLD_READY)
    desk = await staff_headers(service.client, "l-desk")
    await service.client.post(
        "/readers/me/holds", json={"record_id": record.id, "pickup_library_code": "TL-A"}, headers=reader.headers
    )

    checked_in = await service.client.post("/staff/checkins", json={"barcode": "L0001"}, headers=desk)
    await push(service, channel)

    assert checked_in.status_code == 200, checked_in.text
    (notice,) = (await service.client.get("/readers/me/notices", headers=reader.headers)).json()["items"]
    assert len(notice["body"]) < 200
    (message,) = received(service, "openid-long")
    assert len(message["data"]["thing1"]["value"]) == 20


async def test_quiet_hours_are_local_times_without_an_offset(service: Service) -> None:
    reader = await login_reader(service, "openid-offset")

    response = await service.client.put(
        "/readers/me/notice-preferences",
        json={"quiet_from": "22:00:00+08:00", "quiet_until": "08:00:00+08:00"},
        headers=reader.headers,
    )

    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")


async def test_event_reminders_come_a_day_and_an_hour_ahead_once_each(service: Service) -> None:
    await build_network()
    starts = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # Saturday 10:00 in Tongling
    event = await make_event(starts_at=starts, ends_at=starts + timedelta(hours=2), place="少儿阅览室")
    service.clock.freeze_at(OPENS)
    reader = await login_reader(service, "openid-remind")
    booked = await _book(service, reader, event.id)

    runs = {
        "two days before": await reminders.event_reminders(starts - timedelta(days=2), NETWORK_TIME),
        "a day before": await reminders.event_reminders(starts - timedelta(hours=23), NETWORK_TIME),
        "again": await reminders.event_reminders(starts - timedelta(hours=22), NETWORK_TIME),
        "the hour before": await reminders.event_reminders(starts - timedelta(minutes=50), NETWORK_TIME),
        "again, later": await reminders.event_reminders(starts - timedelta(minutes=10), NETWORK_TIME),
    }

    assert runs == {"two days before": 0, "a day before": 1, "again": 0, "the hour before": 1, "again, later": 0}
    notices = await Notice.filter(reader__openid="openid-remind").order_by("id")
    assert [n.kind for n in notices] == [NoticeKind.EVENT_REMINDER] * 2
    assert "明天" in notices[0].body and "1小时后" in notices[1].body and "少儿阅览室" in notices[1].body
    assert notices[0].link == f"booking={booked['id']}"


async def test_readers_are_told_of_a_seat_offered_and_of_an_event_moved_or_cancelled(service: Service) -> None:
    await build_network()
    await make_staff("a-events", StaffRole.LIBRARIAN, "TL-A")
    event = await make_event(capacity=1, waitlist_limit=1)
    service.clock.freeze_at(OPENS)
    staff = await staff_headers(service.client, "a-events")
    first, second = await login_reader(service, "openid-seat-1"), await login_reader(service, "openid-seat-2")
    seat = await _book(service, first, event.id)
    await _book(service, second, event.id)

    await service.client.delete(f"/readers/me/bookings/{seat['id']}", headers=first.headers)
    edited = await service.client.put(
        f"/staff/events/{event.id}",
        json={**_as_sent(event), "starts_at": (event.starts_at + timedelta(hours=1)).isoformat()},
        headers=staff,
    )
    await service.client.post(f"/staff/events/{event.id}/cancel", json={"reason": "讲师因病"}, headers=staff)

    inbox = (await service.client.get("/readers/me/notices", headers=second.headers)).json()["items"]
    told = [(n["kind"], n["body"]) for n in inbox]
    assert edited.status_code == 200, edited.text
    assert [kind for kind, _ in told] == ["event_cancelled", "event_changed", "seat_offered"]
    assert "讲师因病" in told[0][1] and "11:00" in told[1][1]


def _as_sent(event: Event) -> dict[str, object]:
    """An event as staff send it back when they edit it."""
    return {
        "library_code": "TL-A",
        "title": event.title,
        "category": event.category.value,
        "starts_at": event.starts_at.isoformat(),
        "ends_at": event.ends_at.isoformat(),
        "capacity": event.capacity,
        "waitlist_limit": event.waitlist_limit,
        "booking_opens_at": event.booking_opens_at.isoformat(),
        "booking_closes_at": event.booking_closes_at.isoformat(),
        "cancel_until": event.cancel_until.isoformat(),
    }


async def test_holds_about_to_expire_and_overdue_books_are_told_once(service: Service) -> None:
    await _library_with_copies("XA0001", title="围城")
    record = await Record.create(title="活着")
    library = await Library.get(code="TL-A")
    await Copy.create(barcode="XB0002", record=record, home_library=library, current_library=library)
    await index_records([record.id])
    desk = await make_staff("x-desk", StaffRole.LIBRARIAN, "TL-A")
    await desk.fetch_related("library")
    service.clock.freeze_at(MORNING)
    reader = await login_reader(service, "openid-x")
    reader_row = await Reader.get(openid="openid-x")
    await circulation.checkout(reader_row, "XA0001", now=MORNING, bus=BUS, network_time=NETWORK_TIME, staff=desk)
    await service.client.post(
        "/readers/me/holds", json={"record_id": record.id, "pickup_library_code": "TL-A"}, headers=reader.headers
    )
    pulled = await service.client.post(
        "/staff/checkins", json={"barcode": "XB0002"}, headers=await staff_headers(service.client, "x-desk")
    )
    ((loan, _),), _ = await circulation.open_loans(reader_row.id, MORNING, limit=3, offset=0)
    (hold,) = await Hold.filter(reader_id=reader_row.id)
    assert pulled.status_code == 200 and hold.expires_at is not None

    expiring = [
        await reminders.holds_expiring(hold.expires_at - timedelta(hours=h), NETWORK_TIME) for h in (30, 20, 10)
    ]
    overdue = [await reminders.overdue(loan.due_at + timedelta(days=d), NETWORK_TIME) for d in (1, 2)]

    assert expiring == [0, 1, 0] and overdue == [1, 0]
    kinds = await Notice.filter(reader_id=reader_row.id).values_list("kind", flat=True)
    assert sorted(kinds) == ["hold_expiring", "hold_ready", "overdue"]


class _TakenOverMidBatch:
    """A channel whose first group's sends outlast the claim: meanwhile the rest of the batch looks abandoned, and
    another sender run takes it over and sends it."""

    def __init__(self, inner: WeChatSubscribe, service: Service) -> None:
        self.inner, self.service, self.taken_over = inner, service, False

    @property
    def name(self) -> str:
        return self.inner.name

    async def send(self, batch: list[tuple[Notice, Reader]], concurrency: int) -> list[Outcome]:
        if not self.taken_over:
            self.taken_over = True
            stale = self.service.clock.now() - STALE_CLAIM - timedelta(minutes=1)
            await Delivery.filter(status=DeliveryStatus.PENDING).update(claimed_at=stale)
            await sender.send_pending(self.inner, _IN_PAIRS, self.service.clock.now)
        return await self.inner.send(batch, concurrency)


_IN_PAIRS = SendPolicy(SHANGHAI, default_quiet=None, concurrency=2)


async def test_a_sender_whose_claim_was_taken_over_sends_none_of_what_the_other_run_took(
    service: Service, channel: WeChatSubscribe
) -> None:
    for n in range(6):  # two authorisations each: a second push would arrive, not be skipped
        await subscribed_reader(service, f"openid-over-{n}", NoticeKind.STAFF_MESSAGE, times=2)
    ids = await Reader.filter(openid__startswith="openid-over-").values_list("id", flat=True)
    await notify_many([_message(int(i), 9) for i in ids], service.clock.now())  # type: ignore[call-overload]

    await sender.send_pending(_TakenOverMidBatch(channel, service), _IN_PAIRS, service.clock.now)

    assert [len(received(service, f"openid-over-{n}")) for n in range(6)] == [1] * 6
    assert await Delivery.filter(notice__reader_id__in=ids, status=DeliveryStatus.SENT).count() == 6
