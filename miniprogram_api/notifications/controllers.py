"""Notices: the reader's inbox, push authorisations and preferences; staff messages and delivery failures."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put

from backend import paging
from backend.accounts.errors import RoleTooLow
from backend.accounts.models import Reader, StaffUser
from backend.booklists.errors import BooklistNotFound, BooklistNotPublished
from backend.events.errors import EventNotFound
from backend.network.errors import LibraryNotFound, OutsideScope
from backend.ratelimits import Kind, RateLimited
from entrypoints.bootstrap import Dependencies
from miniprogram_api.deps import BEARER, READER_PROBLEMS, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.limits import rate_limited
from miniprogram_api.notifications.schemas import (
    AudienceIn,
    AudienceOut,
    DeliveryOut,
    DeliveryPage,
    MessageIn,
    MessageOut,
    NoticeOut,
    NoticePage,
    PreferencesIn,
    PreferencesOut,
    ReportOut,
    RetryIn,
    RetryOut,
    SubscriptionIn,
    SubscriptionOut,
    TemplateOut,
    TemplatePage,
    UnreadOut,
)
from miniprogram_api.schemas import BigRowId, Offset, Page, ReaderLimit, RowId, StaffLimit
from notifications import broadcasts, sender, services
from notifications.errors import (
    AudienceInvalid,
    IdempotencyKeyReused,
    MessageNotFound,
    NoticeNotFound,
    QuietHoursInvalid,
)

_AUDIENCE = (AudienceInvalid, LibraryNotFound, OutsideScope, EventNotFound, BooklistNotFound, BooklistNotPublished)


class NoticeController(Controller):
    path = "/readers/me"
    tags = ["Notices"]
    security = BEARER

    @get("/notices", responses=problems(*READER_PROBLEMS))
    async def inbox(
        self,
        reader: Reader,
        unread_only: bool = False,
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> NoticePage:
        """My notices, newest first: every notice comes here, whether or not it was also pushed in WeChat."""
        found, total = await services.inbox(reader, unread_only=unread_only, limit=limit, offset=offset)
        return Page.of([NoticeOut.of(n) for n in found], total, limit, offset)

    @get("/notices/unread-count", responses=problems(*READER_PROBLEMS))
    async def unread(self, reader: Reader) -> UnreadOut:
        """How many notices I have not read (the badge)."""
        return UnreadOut(await services.unread_count(reader))

    @post("/notices/{notice_id:int}/read", status_code=204, responses=problems(*READER_PROBLEMS, NoticeNotFound))
    async def read(self, deps: Dependencies, reader: Reader, notice_id: BigRowId) -> None:
        """Mark a notice read."""
        await services.mark_read(reader, notice_id, deps.clock.now())

    @delete("/notices/{notice_id:int}", status_code=204, responses=problems(*READER_PROBLEMS, NoticeNotFound))
    async def delete(self, reader: Reader, notice_id: BigRowId) -> None:
        """Delete a notice from my inbox."""
        await services.delete_notice(reader, notice_id)

    @post("/notices/read-all", status_code=204, responses=problems(*READER_PROBLEMS))
    async def read_all(self, deps: Dependencies, reader: Reader) -> None:
        """Mark every notice read."""
        await services.mark_read(reader, None, deps.clock.now())

    @post(
        "/subscriptions",
        status_code=200,
        responses=problems(*READER_PROBLEMS, RateLimited),
        guards=[rate_limited(Kind.SUBSCRIPTIONS)],
    )
    async def subscribe(self, deps: Dependencies, reader: Reader, data: SubscriptionIn) -> SubscriptionOut:
        """Report the templates I accepted in one subscribe tap: each allows one more message. Ids that are not this
        service's templates (see `/notice-templates`) are ignored, and the answer says which."""
        return SubscriptionOut.of(await services.authorise(reader, data.template_ids, deps.templates))

    @get("/notice-preferences", responses=problems(*READER_PROBLEMS))
    async def preferences(self, deps: Dependencies, reader: Reader) -> PreferencesOut:
        """The kinds I do not want pushed, and my quiet hours."""
        return PreferencesOut.of(await services.preferences(reader, deps.send_policy.default_quiet))

    @put("/notice-preferences", responses=problems(*READER_PROBLEMS, QuietHoursInvalid))
    async def set_preferences(self, deps: Dependencies, reader: Reader, data: PreferencesIn) -> PreferencesOut:
        """Choose the kinds not to push and the quiet hours (pushes then wait until they end)."""
        await services.set_preferences(reader, data.chosen())
        return PreferencesOut.of(await services.preferences(reader, deps.send_policy.default_quiet))


class NoticeTemplateController(Controller):
    path = "/notice-templates"
    tags = ["Notices"]

    @get("/", responses=problems())
    async def templates(self, deps: Dependencies, limit: ReaderLimit = 50, offset: Offset = 0) -> TemplatePage:
        """The subscribe-message template of each notice kind: for the mini-program's requestSubscribeMessage."""
        found, total = paging.page_of(sorted(deps.templates.items()), limit, offset)
        return Page.of([TemplateOut(kind, t.template_id) for kind, t in found], total, limit, offset)


class StaffMessageController(Controller):
    path = "/staff"
    tags = ["Staff: notices"]
    security = BEARER

    @post("/messages/preview", status_code=200, responses=problems(*STAFF_PROBLEMS, *_AUDIENCE))
    async def preview(self, deps: Dependencies, staff: StaffUser, data: AudienceIn) -> AudienceOut:
        """How many readers a message to this audience would reach."""
        today = deps.network_time.day(deps.clock.now())
        return AudienceOut(data.audience, len(await broadcasts.audience(staff, data.audience, today)))

    @post("/messages", responses=problems(*STAFF_PROBLEMS, *_AUDIENCE, IdempotencyKeyReused))
    async def send(self, deps: Dependencies, staff: StaffUser, data: MessageIn) -> MessageOut:
        """Send a message to an audience: to every reader's inbox, and pushed where they have authorised it. Sent
        again with the same `idempotency_key`, it answers with the first message: each reader is told once."""
        now = deps.clock.now()
        today = deps.network_time.day(now)
        message = await broadcasts.send(staff, data.audience, data.title, data.body, now, today, data.idempotency_key)
        return MessageOut.of(message)

    @get("/messages/{message_id:int}/report", responses=problems(*STAFF_PROBLEMS, MessageNotFound, *_AUDIENCE))
    async def report(self, deps: Dependencies, staff: StaffUser, message_id: RowId) -> ReportOut:
        """A message's deliveries by outcome: sent, failed by reason, skipped for lack of authorisation."""
        return ReportOut.of(*await broadcasts.report(staff, message_id, deps.network_time.day(deps.clock.now())))

    @get("/deliveries/undelivered", responses=problems(*STAFF_PROBLEMS, RoleTooLow))
    async def undelivered(self, staff: StaffUser, limit: StaffLimit = 100, offset: Offset = 0) -> DeliveryPage:
        """Failed and interrupted pushes with their reasons, newest first (network admins)."""
        found, total = await sender.undelivered(staff, limit=limit, offset=offset)
        return Page.of([DeliveryOut.of(d) for d in found], total, limit, offset)

    @post("/deliveries/retry", status_code=200, responses=problems(*STAFF_PROBLEMS, RoleTooLow))
    async def retry(self, deps: Dependencies, staff: StaffUser, data: RetryIn) -> RetryOut:
        """Send failed or interrupted pushes again (network admins)."""
        return RetryOut(await sender.retry(staff, data.delivery_ids, deps.clock.now()))
