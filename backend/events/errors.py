"""Why a booking, a cancellation or a check-in is refused: in the reader's language, with a stable code."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, NotFound


class EventNotFound(NotFound):
    code = "event_not_found"
    message_zh = "未找到该活动"
    message_en = "No such event"


class BookingNotOpen(Conflict):
    code = "booking_not_open"
    message_zh = "活动预约将于 {opens} 开放"
    message_en = "Booking opens at {opens}"


class BookingClosed(Conflict):
    code = "booking_closed"
    message_zh = "活动预约已截止"
    message_en = "Booking for this event has closed"


class EventFull(Conflict):
    code = "event_full"
    message_zh = "名额已满，候补也已排满"
    message_en = "The event is full and so is its waiting list"


class AdultsOnly(Conflict):
    code = "adults_only"
    message_zh = "本活动面向成人读者"
    message_en = "This event is for adult readers"


class ChildCardRequired(Conflict):
    code = "child_card_required"
    message_zh = "本活动面向儿童，请选择孩子的读者证预约"
    message_en = "This event is for children: book with your child's card"


class OutsideAgeRange(Conflict):
    code = "outside_age_range"
    message_zh = "本活动面向{ages}的儿童"
    message_en = "This event is for children aged {ages}"


class TooManyCompanions(InvalidInput):
    code = "too_many_companions"
    message_zh = "每个预约最多可带 {limit} 位同行者"
    message_en = "A booking may bring at most {limit} companions"


class SeriesLimitReached(Conflict):
    code = "series_limit_reached"
    message_zh = "「{series}」系列活动每人最多同时预约 {limit} 场"
    message_en = "At most {limit} bookings at a time in the series “{series}”"


class BookingBarred(Conflict):
    code = "booking_barred"
    message_zh = "近期有 {count} 次预约未到场，{until} 前不能预约活动"
    message_en = "{count} recent no-shows: no event bookings until {until}"


class BookingNotFound(NotFound):
    code = "booking_not_found"
    message_zh = "未找到该预约"
    message_en = "No such booking"


class BookingNotActive(Conflict):
    code = "booking_not_active"
    message_zh = "该预约当前状态为「{status}」，不能这样操作"
    message_en = "This booking is {status}"


class CancelCutoffPassed(Conflict):
    code = "cancel_cutoff_passed"
    message_zh = "已过取消截止时间（{until}），请按时参加"
    message_en = "The time to cancel ({until}) has passed: please come"


class NoOfferPending(Conflict):
    code = "no_offer_pending"
    message_zh = "该候补预约没有待确认的名额"
    message_en = "No seat is being offered to this booking"


class TicketInvalid(InvalidInput):
    code = "ticket_invalid"
    message_zh = "无效的入场码"
    message_en = "Invalid ticket"


class TicketExpired(InvalidInput):
    code = "ticket_expired"
    message_zh = "入场码已过期，请刷新后重试"
    message_en = "The ticket has expired: refresh it and try again"


class TicketReplayed(Conflict):
    code = "ticket_replayed"
    message_zh = "入场码已使用，请刷新后重试"
    message_en = "This ticket was already used: refresh it and try again"


class DoorCodeInvalid(InvalidInput):
    code = "door_code_invalid"
    message_zh = "这不是本活动的签到码"
    message_en = "This is not the check-in code of this event"


class CheckInNotOpen(Conflict):
    code = "check_in_not_open"
    message_zh = "签到时间为 {opens} 至 {closes}"
    message_en = "Check-in is open from {opens} to {closes}"


class AlreadyCheckedIn(Conflict):
    code = "already_checked_in"
    message_zh = "已签到"
    message_en = "Already checked in"


class EventNotChangeable(Conflict):
    code = "event_not_changeable"
    message_zh = "活动当前状态为「{status}」，不能再修改"
    message_en = "The event is {status} and can no longer be changed"


class EventTimesInvalid(InvalidInput):
    code = "event_times_invalid"
    message_zh = "时间不合理：{problem}"
    message_en = "Inconsistent times: {problem}"


class CapacityBelowBooked(Conflict):
    code = "capacity_below_booked"
    message_zh = "已有 {taken} 个座位被预约，容量不能小于此数"
    message_en = "{taken} seats are booked: the capacity cannot go below that"


class SeriesNotFound(NotFound):
    code = "series_not_found"
    message_zh = "未找到该系列活动"
    message_en = "No such event series"


class NoEventsHere(Conflict):
    code = "no_events_here"
    message_zh = "{library} 不举办活动"
    message_en = "{library} does not hold events"
