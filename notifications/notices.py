"""What each notice says: its inbox title and text, and the values a push template shows. One place, so the
wording of every notice can be read and changed together. Moments are shown in the network's time (`NetworkTime`,
given by the caller)."""

from __future__ import annotations

from datetime import date, datetime

from backend.clock import NetworkTime
from backend.shipping.services import Parcel
from notifications.models import NoticeKind
from notifications.services import NoticeDraft
from notifications.templates import wechat_date, wechat_time


def _book(title: str) -> str:
    """A book's title short enough for any notice (catalogue titles run to 500 characters)."""
    return title if len(title) <= 40 else title[:39] + "…"


def _titles(titles: list[str]) -> str:
    first = f"《{_book(titles[0])}》"
    return first if len(titles) == 1 else f"{first}等{len(titles)}本"


def _day(day: date) -> str:
    """A day as readers read it: 12月5日."""
    return f"{day.month}月{day.day}日"


def _when(network_time: NetworkTime, moment: datetime) -> str:
    """A moment in a template's `time` field, in the network's time."""
    return wechat_time(network_time.local(moment))


def due_soon(reader_id: int, due: date, titles: list[str], library: str, days: int) -> NoticeDraft:
    """One notice per reader and due date, however many books (a digest, not one message per book)."""
    books = _titles(titles)
    return NoticeDraft(
        reader_id,
        NoticeKind.DUE_SOON,
        subject=f"due:{due.isoformat()}",
        occasion=f"{days}d",
        title="借阅即将到期",
        body=f"{books}将于{_day(due)}到期，可在小程序续借或到任一图书馆归还。",
        link=f"due={due.isoformat()}",
        values={"titles": books, "due": f"{due.year}年{due.month:02d}月{due.day:02d}日", "library": library},
    )


def overdue(reader_id: int, due: date, titles: list[str], library: str) -> NoticeDraft:
    books = _titles(titles)
    return NoticeDraft(
        reader_id,
        NoticeKind.OVERDUE,
        subject=f"overdue:{due.isoformat()}",
        occasion="first",
        title="借阅已逾期",
        body=f"{books}已于{_day(due)}到期，逾期每天扣减信用分，请尽快归还（可在任一图书馆还书）。",
        link=f"due={due.isoformat()}",
        values={
            "titles": books,
            "due": f"{due.year}年{due.month:02d}月{due.day:02d}日",
            "library": library,
            "advice": "请尽快归还，逾期扣减信用分",
        },
    )


def hold_ready(
    network_time: NetworkTime, reader_id: int, hold_id: int, title: str, pickup: str, until: datetime
) -> NoticeDraft:
    body = f"《{_book(title)}》已到{pickup}预约架，请于{_day(network_time.day(until))}前取书。"
    return _hold(
        network_time, NoticeKind.HOLD_READY, "ready", "预约的书到了", body, reader_id, hold_id, title, pickup, until
    )


def hold_expiring(
    network_time: NetworkTime, reader_id: int, hold_id: int, title: str, pickup: str, until: datetime
) -> NoticeDraft:
    body = f"《{_book(title)}》在{pickup}预约架上保留到{_day(network_time.day(until))}，逾期将转给下一位读者。"
    return _hold(
        network_time,
        NoticeKind.HOLD_EXPIRING,
        "expiring",
        "预约书即将过期",
        body,
        reader_id,
        hold_id,
        title,
        pickup,
        until,
    )


def _hold(
    network_time: NetworkTime,
    kind: NoticeKind,
    occasion: str,
    heading: str,
    body: str,
    reader_id: int,
    hold_id: int,
    title: str,
    pickup: str,
    until: datetime,
) -> NoticeDraft:
    return NoticeDraft(
        reader_id,
        kind,
        subject=f"hold:{hold_id}",
        occasion=occasion,
        title=heading,
        body=body,
        link=f"hold={hold_id}",
        values={"title": title, "library": pickup, "until": wechat_date(network_time.local(until))},
    )


def seat_offered(
    network_time: NetworkTime, reader_id: int, booking_id: int, event: str, starts: datetime, until: datetime
) -> NoticeDraft:
    return NoticeDraft(
        reader_id,
        NoticeKind.SEAT_OFFERED,
        subject=f"booking:{booking_id}",
        occasion=f"offer:{until.isoformat()}",
        title="候补到名额了",
        body=f"「{event}」有了空位，请在{_when(network_time, until)}前确认，否则顺延给下一位。",
        link=f"booking={booking_id}",
        values={
            "event": event,
            "starts": _when(network_time, starts),
            "until": _when(network_time, until),
        },
    )


def event_reminder(
    network_time: NetworkTime, reader_id: int, booking_id: int, event: str, starts: datetime, place: str, ahead: str
) -> NoticeDraft:
    when = "明天" if ahead == "24h" else "1小时后"
    return NoticeDraft(
        reader_id,
        NoticeKind.EVENT_REMINDER,
        subject=f"booking:{booking_id}",
        occasion=ahead,
        title="活动提醒",
        body=f"您预约的「{event}」{when}开始（{_when(network_time, starts)}，{place}），请凭入场码签到。",
        link=f"booking={booking_id}",
        values={"event": event, "starts": _when(network_time, starts), "place": place or "见活动详情"},
    )


def event_change(network_time: NetworkTime, starts: datetime | None, place: str | None) -> str:
    """What changed that the people who booked must know: the new time (`starts`) and the new place ("" online)."""
    changes = []
    if starts is not None:
        local = network_time.local(starts)
        changes.append(f"时间改为{local.month}月{local.day}日 {local:%H:%M}")
    if place is not None:
        changes.append(f"地点改为{place or '线上'}")
    return "；".join(changes)


def event_changed(
    network_time: NetworkTime, reader_id: int, booking_id: int, event: str, starts: datetime, change: str, version: str
) -> NoticeDraft:
    return NoticeDraft(
        reader_id,
        NoticeKind.EVENT_CHANGED,
        subject=f"booking:{booking_id}",
        occasion=f"changed:{version}",
        title="活动有变更",
        body=f"您预约的「{event}」有变更：{change}。",
        link=f"booking={booking_id}",
        values={"event": event, "starts": _when(network_time, starts), "change": change},
    )


def event_cancelled(
    network_time: NetworkTime, reader_id: int, booking_id: int, event: str, starts: datetime, reason: str
) -> NoticeDraft:
    return NoticeDraft(
        reader_id,
        NoticeKind.EVENT_CANCELLED,
        subject=f"booking:{booking_id}",
        occasion="cancelled",
        title="活动已取消",
        body=f"很抱歉，您预约的「{event}」已取消：{reason}。",
        link=f"booking={booking_id}",
        values={"event": event, "starts": _when(network_time, starts), "reason": reason},
    )


def reading_milestone(guardian_id: int, enrolment_id: int, child_id: int, child: str, books: int) -> NoticeDraft:
    """A child of the newborn programme reached a milestone of books read: once per child and milestone. Told as a
    message from the library, as a reserved pack is: there is no notice kind of its own."""
    return NoticeDraft(
        guardian_id,
        NoticeKind.STAFF_MESSAGE,
        subject=f"enrolment:{enrolment_id}",
        occasion=f"milestone:{books}",
        title="阅读里程碑",
        body=f"{child}已经和您一起读完了{books}本书！阅读证书已经生成，可以在小程序里查看和分享。",
        link=f"child={child_id}&milestone={books}",
        values={"title": "阅读里程碑", "body": f"{child}读完了{books}本书", "sender": "图书馆"},
    )


def pack_reserved(
    reader_id: int, enrolment_id: int, reservation_id: int, stage: str, pack_type: str, library: str, last_day: date
) -> NoticeDraft:
    """A newborn programme's gift pack set aside for the guardian's child. Told as a message from the library: there
    is no notice kind of its own, so it is pushed with the staff-message template."""
    return NoticeDraft(
        reader_id,
        NoticeKind.STAFF_MESSAGE,
        subject=f"enrolment:{enrolment_id}",
        occasion=f"pack:{reservation_id}",
        title="阅读礼包已为宝宝预留",
        body=f"宝宝的「{stage}」阅读礼包（{pack_type}）已在{library}备好，请于{_day(last_day)}前凭小程序中的领取码领取。",
        link=f"pack={reservation_id}",
        values={"title": "阅读礼包已预留", "body": f"请于{_day(last_day)}前到{library}领取", "sender": "图书馆"},
    )


def enrolment_notices_prefix(guardian_id: int, enrolment_id: int) -> str:
    """The start of the keys of every notice of a newborn programme's enrolment, its milestones' and its packs'
    (`NoticeDraft.key`)."""
    return f"{NoticeKind.STAFF_MESSAGE.value}:enrolment:{enrolment_id}:{guardian_id}:"


def staff_message(
    reader_id: int, message_id: int, title: str, body: str, sender: str, *, link: str = ""
) -> NoticeDraft:
    """A message staff sent; `link` opens what it is about (a reading list: "booklist=7")."""
    return NoticeDraft(
        reader_id,
        NoticeKind.STAFF_MESSAGE,
        subject=f"message:{message_id}",
        occasion="sent",
        title=title,
        body=body,
        link=link,
        values={"title": title, "body": body, "sender": sender},
        message_id=message_id,
    )


def parcel_shipped(network_time: NetworkTime, reader_id: int, parcel: Parcel, at: datetime) -> NoticeDraft:
    """A parcel handed to its courier (or the library's van). Says who carries it and where to, not what is in it:
    the area whose parcel it is tells the rest."""
    carrier = parcel.courier or "图书馆专车"
    tracking = f"，运单号 {parcel.tracking_no}" if parcel.tracking_no else ""
    if parcel.collection:
        title, body = "快递已取件", f"{carrier}已上门取走您要归还的图书{tracking}，正送往{parcel.library}。"
    else:
        title, body = "包裹已发出", f"您的包裹已交{carrier}发出{tracking}，送往{_destination(parcel)}。"
    return _parcel(
        network_time,
        NoticeKind.PARCEL_SHIPPED,
        reader_id,
        parcel,
        title,
        body,
        at,
        {"courier": carrier, "tracking_no": parcel.tracking_no or "-", "destination": _destination(parcel)},
    )


def parcel_delivered(network_time: NetworkTime, reader_id: int, parcel: Parcel, at: datetime) -> NoticeDraft:
    if parcel.collection:
        title, body, advice = "图书已送达", f"您交快递归还的图书已送到{parcel.library}。", "已送到图书馆"
    elif parcel.to_door:
        title, body, advice = "包裹已签收", "您的包裹已送到家门口，请查收。", "请查收"
    else:
        title, advice = "包裹已到服务点", "请到服务点领取"
        body = f"您的包裹已送到{parcel.library}，请凭读者证到预约架领取。"
    values = {"destination": _destination(parcel), "advice": advice}
    return _parcel(network_time, NoticeKind.PARCEL_DELIVERED, reader_id, parcel, title, body, at, values)


def parcel_failed(network_time: NetworkTime, reader_id: int, parcel: Parcel, at: datetime) -> NoticeDraft:
    body = "很抱歉，快递未能完成这次投递，包裹将退回图书馆。如有疑问请联系图书馆。"
    values = {"destination": _destination(parcel), "advice": "将退回图书馆"}
    return _parcel(network_time, NoticeKind.PARCEL_FAILED, reader_id, parcel, "包裹未能送达", body, at, values)


def _destination(parcel: Parcel) -> str:
    if parcel.collection or not parcel.to_door:
        return parcel.library or "图书馆"
    return "您家门口"


def _parcel(
    network_time: NetworkTime,
    kind: NoticeKind,
    reader_id: int,
    parcel: Parcel,
    title: str,
    body: str,
    at: datetime,
    values: dict[str, str],
) -> NoticeDraft:
    return NoticeDraft(
        reader_id,
        kind,
        subject=f"shipment:{parcel.shipment_id}",
        occasion=kind.value,
        title=title,
        body=body,
        link=f"shipment={parcel.shipment_id}",
        values={**values, "at": _when(network_time, at)},
    )
