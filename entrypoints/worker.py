"""The arq worker: background and scheduled jobs. Jobs are thin: they open their own scope and call services."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast

import arq.worker
from arq import Retry, cron, func
from arq.connections import RedisSettings

from backend.accounts.tokens import purge_expired_sessions
from backend.booklists import services as booklists
from backend.catalog import imports
from backend.circulation import holds
from backend.circulation import services as circulation
from backend.delivery import orders, pickups
from backend.events import booking, doors
from backend.money import reconciliation, wechat_pay
from backend.newborn import packs, privacy, stages
from backend.outages import is_outage
from backend.settings import Settings
from backend.shipping import addresses
from backend.wechatpay.errors import BillNotReady, WeChatPayUnavailable
from entrypoints import worker_metrics
from entrypoints.bootstrap import Dependencies, bootstrap
from entrypoints.queue import QUEUE
from notifications import broadcasts, reminders, sender
from notifications import services as notices
from recommendations import training as recommendations
from recommendations.pushes import PicksSource
from recommendations.store import ModelCache, PickStore

log = logging.getLogger(__name__)

# How long a stopping worker lets the jobs in flight finish (a send batch), and its owner waits for it.
JOB_COMPLETION_WAIT_SECONDS = 30
# A job meeting an outage is tried again after 1, 2, 4 ... 60 s: twenty tries span some fourteen minutes.
MAX_TRIES = 20
Job = TypeVar("Job", bound=Callable[..., Coroutine[Any, Any, int]])  # (ctx, *ids)


def _outlasting(job: Job) -> Job:
    """The job tried again later, by arq, when the database or Redis is unreachable: an outage is not the job's
    failure, and a daily job that failed would wait a day. Jobs are idempotent, so a second try is safe."""

    @wraps(job)
    async def run(ctx: dict[str, Any], *ids: Any) -> int:
        try:
            return await job(ctx, *ids)
        except Exception as exc:
            if not is_outage(exc):
                raise
            defer = min(2 ** (ctx["job_try"] - 1), 60)
            log.warning(
                "%s: database or Redis unreachable (%s), again in %d s", job.__name__, type(exc).__name__, defer
            )
            raise Retry(defer=defer) from exc

    return cast(Job, run)


def _deps(ctx: dict[str, Any]) -> Dependencies:
    deps: Dependencies = ctx["deps"]  # made by the composition root at the worker's start
    return deps


@_outlasting
async def purge_sessions(ctx: dict[str, Any]) -> int:
    """Hourly: drop expired refresh tokens."""
    purged = await purge_expired_sessions(_deps(ctx).clock.now())
    log.info("purged %d expired sessions", purged)
    return purged


@_outlasting
async def charge_overdue(ctx: dict[str, Any]) -> int:
    """Daily, just after midnight network time: credit deductions for the overdue days of open loans."""
    loans = await circulation.charge_overdue_loans(_deps(ctx).clock.now())
    log.info("charged overdue days of %d loans", loans)
    return loans


@_outlasting
async def expire_holds(ctx: dict[str, Any]) -> int:
    """Hourly: holds left uncollected past their last day on the hold shelf expire (staff then clear the copy)."""
    expired = await holds.expire_uncollected(_deps(ctx).clock.now())
    log.info("expired %d uncollected holds", expired)
    return expired


@_outlasting
async def purge_old_notices(ctx: dict[str, Any]) -> int:
    """Daily: inbox notices past the retention period are deleted."""
    deps = _deps(ctx)
    purged = await notices.purge_old_notices(deps.clock.now(), deps.settings.notices.retention_days)
    log.info("deleted %d old notices", purged)
    return purged


@_outlasting
async def unlink_old_loans(ctx: dict[str, Any]) -> int:
    """Daily: returned loans past the retention period lose their reader."""
    deps = _deps(ctx)
    unlinked = await circulation.unlink_old_loans(deps.clock.now(), deps.settings.circulation.loan_retention_days)
    log.info("unlinked %d old loans from their readers", unlinked)
    return unlinked


@_outlasting
async def settle_booklist_reports(ctx: dict[str, Any]) -> int:
    """Daily: pushes of reading lists whose 30-day window has closed keep their counts and forget their readers;
    openings of lists older than that are only counted."""
    now = _deps(ctx).clock.now()
    settled, purged = await booklists.settle_reports(now), await booklists.purge_opens(now)
    log.info("settled %d reading-list pushes, purged %d list openings", settled, purged)
    return settled + purged


@_outlasting
async def settle_picks_reports(ctx: dict[str, Any]) -> int:
    """Daily, before old notices go (the report counts who read theirs): pushes of readers' own picks whose 30-day
    window has closed keep their counts and forget who was pushed what."""
    settled = await broadcasts.settle_picks_reports(_deps(ctx).clock.now())
    log.info("settled %d picks pushes", settled)
    return settled


@_outlasting
async def move_newborn_stages(ctx: dict[str, Any]) -> int:
    """Daily, after midnight network time: enrolled children whose age entered another stage move into it, and its
    gift pack is reserved for them, the family told."""
    deps = _deps(ctx)
    moved = await stages.move_children(deps.clock.now(), deps.network_time, deps.bus)
    log.info("moved %d enrolled children to their new stage", moved)
    return moved


@_outlasting
async def end_newborn_records(ctx: dict[str, Any]) -> int:
    """Daily: programme records kept their programme's retention period after the child's last stage are deleted (the
    consent ends, reserved packs go back to stock, the anonymous counts stay)."""
    deps = _deps(ctx)
    ended = await privacy.end_expired(deps.clock.now(), deps.network_time, deps.bus)
    log.info("ended %d newborn programme records past their retention", ended)
    return ended


@_outlasting
async def lapse_pack_reservations(ctx: dict[str, Any]) -> int:
    """Daily, just after midnight network time: gift packs not collected by their last day go back to stock."""
    lapsed = await packs.lapse_reservations(_deps(ctx).clock.now())
    log.info("lapsed %d uncollected pack reservations", lapsed)
    return lapsed


@_outlasting
async def lapse_event_offers(ctx: dict[str, Any]) -> int:
    """Every five minutes: seats offered from waiting lists and not taken in time go to the next in line."""
    deps = _deps(ctx)
    lapsed = await booking.lapse_offers(deps.clock.now(), deps.event_policy, deps.events_full, deps.bus)
    log.info("lapsed %d event seat offers", lapsed)
    return lapsed


@_outlasting
async def mark_no_shows(ctx: dict[str, Any]) -> int:
    """Every quarter hour: bookings of ended events never checked in become no-shows."""
    deps = _deps(ctx)
    marked = await doors.mark_no_shows(deps.clock.now(), deps.event_policy, deps.bus)
    log.info("marked %d no-shows", marked)
    return marked


_SENDING = asyncio.Lock()


@_outlasting
async def send_notices(ctx: dict[str, Any]) -> int:
    """Every ten seconds, and at start: push the notices that are due (a restart picks up where the last run was).
    One run at a time in a process; other worker processes run their own, sharing the queue."""
    if _SENDING.locked():
        return 0
    async with _SENDING:
        deps = _deps(ctx)
        sent = await sender.send_pending(deps.push, deps.send_policy, deps.clock.now)
    if sent:  # it runs every ten seconds: an idle run is not news
        log.info("sent %d notices", sent)
    return sent


@_outlasting
async def remind_loans(ctx: dict[str, Any]) -> int:
    """Daily at 09:00 network time: books due in a few days, and books overdue."""
    deps = _deps(ctx)
    now, network_time = deps.clock.now(), deps.network_time
    due_soon = await reminders.due_soon(now, network_time, deps.settings.notices.due_soon_days)
    made = due_soon + await reminders.overdue(now, network_time)
    log.info("made %d loan reminders", made)
    return made


@_outlasting
async def remind_holds_and_events(ctx: dict[str, Any]) -> int:
    """Every quarter hour: holds about to expire on the shelf, events tomorrow and within the hour."""
    deps = _deps(ctx)
    now, network_time = deps.clock.now(), deps.network_time
    made = await reminders.holds_expiring(now, network_time) + await reminders.event_reminders(now, network_time)
    log.info("made %d hold and event reminders", made)
    return made


@_outlasting
async def import_catalogue(ctx: dict[str, Any], import_id: int) -> int:
    """Queued by an upload (POST /staff/catalogue/imports): import the stored file, its counts and problems written
    after every batch. A run after a worker died starts the file again (imports.run_import). Returns records read."""
    deps = _deps(ctx)
    run_limit = timedelta(seconds=deps.settings.imports.timeout_seconds)  # arq's timeout of this job (worker_settings)
    job = await imports.run_import(import_id, deps.clock.now, run_limit)
    return job.records_read if job is not None else 0


@_outlasting
async def look_after_imports(ctx: dict[str, Any]) -> int:
    """Every five minutes: an import whose run has gone silent fails, as timed out or as interrupted (arq ended it at
    the timeout, or its worker stopped), and one left queued is queued again."""
    deps = _deps(ctx)
    run_limit = timedelta(seconds=deps.settings.imports.timeout_seconds)
    changed = await imports.look_after(deps.clock.now(), run_limit, deps.jobs)
    if changed:
        log.info("looked after %d catalogue imports", changed)
    return changed


# Training at city scale takes longer than arq's five minutes (docs/benchmarks.md).
TRAINING_TIMEOUT_SECONDS = 3 * 3600
# A refresh queued by a checkout waits this many times for its loan to commit, then goes ahead without it.
REFRESH_TRIES = 4
# A reader who borrowed while their refresh ran has it run again, this much later (a pile of books lent at once
# makes one more run, not one per book).
REFRESH_AGAIN_SECONDS = 2


@_outlasting
async def train_recommendations(ctx: dict[str, Any]) -> int:
    """Nightly, and from `shuxiang recs train`: learn from the loans, serve the new picks and neighbours."""
    deps = _deps(ctx)
    return await recommendations.run_training(PickStore(deps.redis), deps.jobs, deps.clock.now(), deps.network_time)


@_outlasting
async def refresh_recommendations(ctx: dict[str, Any], reader_id: int, loan_id: int | None = None) -> int:
    """Queued by a checkout (and by switching personal picks on): the reader's picks again, with their new loan."""
    if loan_id is not None and ctx["job_try"] < REFRESH_TRIES and not await recommendations.loan_visible(loan_id):
        raise Retry(defer=2 * ctx["job_try"])  # queued from inside the checkout's transaction, not committed yet
    models: ModelCache = ctx.setdefault("recommendation_models", ModelCache())
    deps = _deps(ctx)
    store = PickStore(deps.redis)
    await store.take_dirty(reader_id)  # what is marked from now on was not read by this run
    today = deps.network_time.day(deps.clock.now())
    refreshed = await recommendations.refresh_reader(store, models, reader_id, today)
    if await store.take_dirty(reader_id):  # borrowed again meanwhile: arq queued no job for it, so once more
        raise Retry(defer=REFRESH_AGAIN_SECONDS)
    return int(refreshed)


# A push's job, queued from inside the transaction that records the push, waits this many times for it to commit.
PICKS_PUSH_TRIES = 4
# A push to a city's readers makes the picks of every card the nightly run left out: at most this long, as training.
PICKS_PUSH_TIMEOUT_SECONDS = TRAINING_TIMEOUT_SECONDS


@_outlasting
async def push_picks(ctx: dict[str, Any], push_id: int) -> int:
    """Queued by a push of readers' own picks (POST /staff/picks-pushes, or a staff message to `picks:<code>`): tell
    each reader of the library whose personal picks are on of their own, a batch at a time. A run after a crash or an
    outage goes on where the last one stopped. Returns the readers this run told."""
    deps = _deps(ctx)
    models: ModelCache = ctx.setdefault("recommendation_models", ModelCache())
    source = PicksSource(deps.redis, deps.jobs, deps.popular_lists, models)
    run_limit = timedelta(seconds=PICKS_PUSH_TIMEOUT_SECONDS)
    told = await broadcasts.run_picks_push(push_id, source, deps.clock.now, deps.network_time, run_limit)
    if told is None and ctx["job_try"] < PICKS_PUSH_TRIES:
        raise Retry(defer=2 * ctx["job_try"])  # the push is not committed yet
    return told or 0


@_outlasting
async def look_after_picks_pushes(ctx: dict[str, Any]) -> int:
    """Every five minutes: a picks push whose job was lost (arq gave up on it in a long outage, its worker stopped, or
    Redis lost it) is queued again and goes on after the readers done; one arq ended at its timeout fails."""
    deps = _deps(ctx)
    run_limit = timedelta(seconds=PICKS_PUSH_TIMEOUT_SECONDS)
    changed = await broadcasts.look_after_picks_pushes(deps.clock.now(), run_limit, deps.jobs)
    if changed:
        log.info("looked after %d picks pushes", changed)
    return changed


@_outlasting
async def expire_unpaid_deliveries(ctx: dict[str, Any]) -> int:
    """Every five minutes: home deliveries and courier pickups not paid within the payment window are called off,
    an order's books released (to the next hold, or back on the shelf), their fees waived."""
    deps, now = _deps(ctx), _deps(ctx).clock.now()
    expired = await orders.expire_unpaid(now, policy=deps.delivery_policy, hold_policy=deps.hold_policy, bus=deps.bus)
    lapsed = await pickups.expire_unpaid(now, deps.delivery_policy)
    if expired or lapsed:
        log.info("cancelled %d unpaid delivery orders and %d unpaid courier pickups", expired, lapsed)
    return expired + lapsed


@_outlasting
async def erase_shipment_addresses(ctx: dict[str, Any]) -> int:
    """Daily: the addresses, recipients and phones of parcels whose journey ended past the retention period are
    erased (PIPL: kept no longer than the delivery needs)."""
    deps = _deps(ctx)
    erased = await addresses.erase_addresses(deps.clock.now(), deps.delivery_policy.address_retention)
    log.info("erased the addresses of %d parcels", erased)
    return erased


@_outlasting
async def follow_wechat_payments(ctx: dict[str, Any]) -> int:
    """Every two minutes: WeChat Pay orders whose notice is late are asked about and settled, or closed once expired
    (their lines payable again). Returns the orders settled or closed."""
    deps = _deps(ctx)
    if deps.wechatpay is None:
        return 0
    try:
        followed = await wechat_pay.follow_payments(deps.wechatpay.gateway, deps.clock.now(), bus=deps.bus)
    except WeChatPayUnavailable:
        log.warning("WeChat Pay unavailable: late orders are asked about at the next run")
        return 0
    if followed.settled or followed.closed:
        log.info("settled %d and closed %d WeChat Pay orders without a notice", followed.settled, followed.closed)
    return followed.settled + followed.closed


@_outlasting
async def send_wechat_refunds(ctx: dict[str, Any]) -> int:
    """Every five minutes: refunds owed by WeChat Pay are asked for and followed until WeChat Pay ends them. Returns
    the refunds ended."""
    deps = _deps(ctx)
    if deps.wechatpay is None:
        return 0
    try:
        sent = await wechat_pay.send_refunds(deps.wechatpay, deps.clock.now())
    except WeChatPayUnavailable:
        log.warning("WeChat Pay unavailable: refunds are sent at the next run")
        return 0
    if sent.succeeded or sent.failed:
        log.info("WeChat Pay refunds: %d returned, %d failed, %d pending", sent.succeeded, sent.failed, sent.pending)
    return sent.succeeded + sent.failed


# WeChat Pay makes a day's bill in the morning after: a run before it is ready tries again this much later.
BILL_WAIT_SECONDS = 30 * 60


@_outlasting
async def reconcile_wechat_pay(ctx: dict[str, Any]) -> int:
    """Daily, mid-morning China time: yesterday's WeChat Pay trade bill against our payments and refunds, every
    difference kept for staff. Returns the differences of the day."""
    deps = _deps(ctx)
    if deps.wechatpay is None:
        return 0
    now = deps.clock.now()
    day = reconciliation.bill_day(now) - timedelta(days=1)
    try:
        run = await reconciliation.reconcile(deps.wechatpay.gateway, day, now)
    except (BillNotReady, WeChatPayUnavailable) as exc:
        log.warning("WeChat Pay's bill of %s not had (%s): again in %d s", day, exc.code, BILL_WAIT_SECONDS)
        raise Retry(defer=BILL_WAIT_SECONDS) from exc
    log.info("reconciled WeChat Pay's bill of %s: %d trades, %d differences", day, run.trades, run.differences)
    return run.differences


class Worker(arq.worker.Worker):
    """arq's worker, stopping gracefully: on SIGTERM it picks no new job, the notice sender claims no new batch,
    and what is in flight finishes (within `job_completion_wait`) before the process exits."""

    _redis_unreachable = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every job, the cron runs included, counted and timed where it runs: no job can be left out by forgetting.
        self.functions = {name: worker_metrics.measured(function) for name, function in self.functions.items()}

    def handle_sig_wait_for_completion(self, signum: signal.Signals) -> None:
        sender.STOPPING.set()
        super().handle_sig_wait_for_completion(signum)

    async def _poll_iteration(self) -> None:
        # arq lets a Redis error in its poll end the worker, and a supervisor would restart it into the same outage:
        # the poll is tried again at the next tick instead, on connections redis-py makes afresh.
        try:
            await super()._poll_iteration()
        except Exception as exc:
            if not is_outage(exc):
                raise
            if not self._redis_unreachable:
                log.warning("Redis unreachable (%s); polling on until it is back", type(exc).__name__)
            self._redis_unreachable = True
        else:
            if self._redis_unreachable:
                log.info("Redis is back")
            self._redis_unreachable = False


def run(settings: Settings, *, burst: bool = False) -> None:
    with worker_metrics.served(settings.metrics, settings.redis.url, QUEUE):
        Worker(**worker_settings(settings), burst=burst).run()


def worker_settings(settings: Settings) -> dict[str, Any]:
    """arq's settings for this installation (arq takes a dict as well as a class)."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["deps"] = await bootstrap(settings)
        await ctx["redis"].enqueue_job("send_notices", _queue_name=QUEUE)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await _deps(ctx).close()

    return {
        "functions": [
            purge_sessions,
            charge_overdue,
            expire_holds,
            unlink_old_loans,
            settle_booklist_reports,
            settle_picks_reports,
            purge_old_notices,
            move_newborn_stages,
            end_newborn_records,
            lapse_pack_reservations,
            lapse_event_offers,
            mark_no_shows,
            send_notices,
            remind_loans,
            remind_holds_and_events,
            # arq holds every job as long as its longest timeout: a job of a worker that died is run again by
            # another only once that has passed (this one's, an hour by default, instead of arq's five minutes).
            func(import_catalogue, timeout=settings.imports.timeout_seconds),
            look_after_imports,
            func(train_recommendations, timeout=TRAINING_TIMEOUT_SECONDS),
            func(refresh_recommendations, keep_result=0),  # no result kept: the next checkout queues the next one
            func(push_picks, timeout=PICKS_PUSH_TIMEOUT_SECONDS),
            look_after_picks_pushes,
            expire_unpaid_deliveries,
            erase_shipment_addresses,
            follow_wechat_payments,
            send_wechat_refunds,
            reconcile_wechat_pay,
        ],
        # Hours in network time (`timezone` below), whatever the host's zone: arq reads them in the host's otherwise.
        "cron_jobs": [
            cron(purge_sessions, minute=17, unique=True),
            cron(charge_overdue, hour=0, minute=5, unique=True),  # a day of lateness has just passed
            cron(expire_holds, minute=7, unique=True),
            cron(unlink_old_loans, hour=1, minute=5, unique=True),
            cron(settle_booklist_reports, hour=1, minute=12, unique=True),
            cron(settle_picks_reports, hour=1, minute=14, unique=True),  # before the notices it reads go (01:20)
            cron(purge_old_notices, hour=1, minute=20, unique=True),
            cron(lapse_pack_reservations, hour=0, minute=10, unique=True),  # the last day waited has just ended
            cron(move_newborn_stages, hour=0, minute=25, unique=True),  # children a month older today
            cron(end_newborn_records, hour=1, minute=35, unique=True),
            cron(lapse_event_offers, minute=set(range(0, 60, 5)), unique=True),
            cron(mark_no_shows, minute={2, 17, 32, 47}, unique=True),
            cron(send_notices, second={0, 10, 20, 30, 40, 50}, unique=True),  # a hold ready is told within seconds
            cron(remind_loans, hour=9, minute=0, unique=True),
            cron(remind_holds_and_events, minute={3, 18, 33, 48}, unique=True),
            cron(look_after_imports, minute=set(range(4, 60, 5)), unique=True),
            cron(train_recommendations, hour=2, minute=30, unique=True),  # after the loans are unlinked (01:05)
            cron(look_after_picks_pushes, minute=set(range(2, 60, 5)), unique=True),
            cron(follow_wechat_payments, minute=set(range(1, 60, 2)), unique=True),
            cron(send_wechat_refunds, minute=set(range(3, 60, 5)), unique=True),
            cron(expire_unpaid_deliveries, minute=set(range(1, 60, 5)), unique=True),
            cron(erase_shipment_addresses, hour=1, minute=40, unique=True),
            # WeChat Pay's bill days and making hours are China's; a network elsewhere moves this hour.
            cron(reconcile_wechat_pay, hour=10, minute=40, unique=True),
        ],
        "timezone": settings.network.timezone,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis.url),
        "job_completion_wait": JOB_COMPLETION_WAIT_SECONDS,
        "max_tries": MAX_TRIES,
        "queue_name": QUEUE,
    }
