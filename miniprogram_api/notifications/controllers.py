"""Notices: the reader's inbox, push authorisations and preferences; staff messages, pushes of readers' own picks,
and delivery failures."""

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
    PicksPreviewIn,
    PicksPreviewOut,
    PicksPushIn,
    PicksPushOut,
    PicksPushPage,
    PicksPushReportOut,
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
    PicksPushNotFound,
    QuietHoursInvalid,
)
from recommendations.store import PickStore

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
        """How many readers a message to this audience would reach (`picks:<code>`: those expected to be told, as
        `/staff/picks-pushes/preview` counts them)."""
        today = deps.network_time.day(deps.clock.now())
        told = await broadcasts.recipients(staff, data.audience, today, PickStore(deps.redis))
        return AudienceOut(data.audience, told)

    @post("/messages", responses=problems(*STAFF_PROBLEMS, *_AUDIENCE, IdempotencyKeyReused))
    async def send(self, deps: Dependencies, staff: StaffUser, data: MessageIn) -> MessageOut:
        """Send a message to an audience: to every reader's inbox, and pushed where they have authorised it. Sent
        again with the same `idempotency_key`, it answers with the first message: each reader is told once. To
        `picks:<code>` the worker tells the readers after this answers: `recipients` counts them as it goes, and the
        push (`GET /staff/picks-pushes`) shows its state."""
        now = deps.clock.now()
        today = deps.network_time.day(now)
        message = await broadcasts.send(
            staff, data.audience, data.title, data.body, now, today, deps.jobs, data.idempotency_key
        )
        return MessageOut.of(message)

    @get("/messages/{message_id:int}/report", responses=problems(*STAFF_PROBLEMS, MessageNotFound, *_AUDIENCE))
    async def report(self, deps: Dependencies, staff: StaffUser, message_id: RowId) -> ReportOut:
        """A message's deliveries by outcome: sent, failed by reason, skipped for lack of authorisation."""
        return ReportOut.of(*await broadcasts.report(staff, message_id, deps.network_time.day(deps.clock.now())))

    @post("/picks-pushes/preview", status_code=200, responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope))
    async def preview_picks(self, deps: Dependencies, staff: StaffUser, data: PicksPreviewIn) -> PicksPreviewOut:
        """Preview a push of each reader's own picks to a library of mine and below: the message as a template (each
        reader reads their own top picks where it shows placeholders; no reader's picks are shown to staff), how many
        readers and cards it is expected to tell, those whose personal picks are on and who have loans of their own
        to pick from, and how many cards are expected to be skipped and why; nothing is sent."""
        shown = await broadcasts.preview_picks(
            staff, data.library_code, data.title, data.body, PickStore(deps.redis), deps.templates
        )
        return PicksPreviewOut.of(shown)

    @post(
        "/picks-pushes",
        status_code=202,
        responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope, IdempotencyKeyReused),
    )
    async def push_picks(self, deps: Dependencies, staff: StaffUser, data: PicksPushIn) -> PicksPushOut:
        """Push each reader their own picks: every reader of a library of mine and below whose personal picks are on
        is told of their own top three (the first with its reason) under my words, a guardian of their own and of
        each child's card they switched picks on for, in one message; readers with picks off are never told. A card
        without picks gets them made then; one that still has none is skipped and counted by why. Answers at once
        with the queued push: the worker tells the readers, and `GET /staff/picks-pushes/{id}` shows its state and
        counts. Sent again with the same `idempotency_key`, it answers with the first push: each reader is told
        once."""
        pushed = await broadcasts.push_picks(
            staff, data.library_code, data.title, data.body, deps.clock.now(), deps.jobs, data.idempotency_key
        )
        return PicksPushOut.of(pushed)

    @get("/picks-pushes", responses=problems(*STAFF_PROBLEMS))
    async def picks_pushes(self, staff: StaffUser, limit: StaffLimit = 50, offset: Offset = 0) -> PicksPushPage:
        """The picks pushes made by my libraries and below, newest first."""
        found, total = await broadcasts.picks_pushes(staff, limit=limit, offset=offset)
        return Page.of([PicksPushOut.of(p) for p in found], total, limit, offset)

    @get("/picks-pushes/{push_id:int}", responses=problems(*STAFF_PROBLEMS, PicksPushNotFound, OutsideScope))
    async def picks_report(self, staff: StaffUser, push_id: RowId) -> PicksPushReportOut:
        """A picks push's report: its state (queued, running, done, failed), the readers and cards told so far and
        the cards skipped by why, deliveries by outcome, and the readers told who read it, placed a hold on or
        borrowed one of the books it named to them within 30 days of it (counts only: the report names no reader)."""
        return PicksPushReportOut.of(*await broadcasts.picks_push_report(staff, push_id))

    @get("/deliveries/undelivered", responses=problems(*STAFF_PROBLEMS, RoleTooLow))
    async def undelivered(self, staff: StaffUser, limit: StaffLimit = 100, offset: Offset = 0) -> DeliveryPage:
        """Failed and interrupted pushes with their reasons, newest first (network admins)."""
        found, total = await sender.undelivered(staff, limit=limit, offset=offset)
        return Page.of([DeliveryOut.of(d) for d in found], total, limit, offset)

    @post("/deliveries/retry", status_code=200, responses=problems(*STAFF_PROBLEMS, RoleTooLow))
    async def retry(self, deps: Dependencies, staff: StaffUser, data: RetryIn) -> RetryOut:
        """Send failed or interrupted pushes again (network admins)."""
        return RetryOut(await sender.retry(staff, data.delivery_ids, deps.clock.now()))
