"""The composition root: what the API and the worker use, built once per process from the settings, and released
together."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from types import TracebackType

from redis.asyncio import Redis

from backend import db
from backend.accounts.cards import CARD
from backend.accounts.domain_events import CardClosing
from backend.accounts.staff import LoginLimits
from backend.accounts.tokens import TokenPolicy
from backend.booklists import services as booklists
from backend.catalog import search
from backend.circulation.credit import CreditCheck, LocalCreditCheck
from backend.circulation.domain_events import CopyMoved, LoanOpened
from backend.circulation.holds import HoldPolicy
from backend.clock import Clock, NetworkTime, SystemClock
from backend.crypto import Keys
from backend.delivery import subscribers as delivery
from backend.delivery.policy import DeliveryPolicy
from backend.eventbus import EventBus
from backend.events import booking
from backend.events.booking import EventPolicy, FullMark
from backend.events.doors import TICKET
from backend.money import subscribers as money
from backend.money.credit import AccountCreditCheck
from backend.money.policy import MoneyPolicy
from backend.money.wechat_pay import WeChatPaySetup
from backend.newborn import enrolment as newborn
from backend.newborn import packs, reading
from backend.passes import SignedPasses
from backend.purchases import subscribers as purchases
from backend.purchases.policy import PurchasePolicy
from backend.ratelimits import RateLimits
from backend.settings import MoneySettings, PurchaseSettings, Settings
from backend.wechat.gateway import WeChatGateway, WechatpyGateway
from backend.wechatpay.gateway import WechatpayV3Gateway
from entrypoints.queue import ArqJobs
from notifications import broadcasts, templates
from notifications import subscribers as notices
from notifications.models import NoticeKind
from notifications.sender import Channel, SendPolicy, WeChatSubscribe
from notifications.templates import Template
from recommendations import subscribers as recommendations
from recommendations.serving import PopularLists
from recommendations.store import PickStore


@dataclass(frozen=True, slots=True)
class Dependencies:
    """Everything handlers and jobs are given: the clients, the clock and the network's calendar, and the policies
    made from the settings. `close()` (or leaving `async with`) releases what `bootstrap` opened."""

    settings: Settings
    clock: Clock
    network_time: NetworkTime
    redis: Redis
    wechat: WeChatGateway
    wechatpay: WeChatPaySetup | None
    """WeChat Pay, when a merchant is configured (none: readers pay at a desk)."""
    keys: Keys
    tokens: TokenPolicy
    login_limits: LoginLimits
    rate_limits: RateLimits
    """Requests per caller and kind (logins, cards, bookings, subscriptions, search)."""
    cards: SignedPasses
    """Virtual reader cards."""
    tickets: SignedPasses
    """Event tickets shown at the door."""
    pack_claims: SignedPasses
    """Newborn gift packs' claim codes shown at the desk."""
    credit_check: CreditCheck
    """The ledger's credit, a deposit held and fees owed decide who borrows."""
    money_policy: MoneyPolicy
    purchase_policy: PurchasePolicy
    """The network's default rules for readers' purchases in partner bookstores (a main library overrides them)."""
    delivery_policy: DeliveryPolicy
    hold_policy: HoldPolicy
    event_policy: EventPolicy
    events_full: FullMark
    templates: dict[NoticeKind, Template]
    push: Channel
    """The channel notices are pushed over (WeChat subscribe messages)."""
    send_policy: SendPolicy
    bus: EventBus
    jobs: ArqJobs
    """The worker's queue, for the jobs a request starts (a catalogue import)."""
    _opened: AsyncExitStack = field(repr=False)
    popular_lists: PopularLists = field(default_factory=PopularLists, repr=False)
    """The trained recent-popularity lists this process has read lately (the fallback of recommendations)."""

    async def close(self) -> None:
        await self._opened.aclose()

    async def __aenter__(self) -> Dependencies:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()


async def bootstrap(
    settings: Settings, *, wechat: WeChatGateway | None = None, clock: Clock | None = None
) -> Dependencies:
    """Open the database and Redis and wire everything on them. `wechat` and `clock` stand in for the real gateway
    and the system clock (tests, scripts); a `wechat` given is the caller's to close."""
    opened = AsyncExitStack()
    try:
        await db.init_orm(settings.database.url)
        opened.push_async_callback(db.close_orm)
        redis = Redis.from_url(settings.redis.url)
        opened.push_async_callback(redis.aclose)
        if wechat is None:
            gateway = WechatpyGateway(
                appid=settings.wechat.appid,
                secret=settings.wechat.secret,
                api_base=settings.wechat.api_base,
                redis=redis,
                timeout=settings.wechat.timeout_seconds,
            )
            opened.callback(gateway.close)
            wechat = gateway
        clock = clock or SystemClock()
        wechatpay = await _wechatpay(settings, clock, opened) if settings.wechatpay.configured else None
        network_time = NetworkTime(settings.network.timezone)
        jobs = ArqJobs(redis)
        keys = Keys(settings.effective_secret_key)
        security, events, no_shows = settings.security, settings.events, settings.no_shows
        pass_lifetime = timedelta(seconds=security.card_payload_ttl_seconds)
        notice_templates = templates.load(settings.wechat.templates_path)
        event_policy = EventPolicy(
            network_time,
            offer_hours=events.offer_hours,
            check_in_before=timedelta(minutes=events.check_in_before_minutes),
            check_in_after=timedelta(minutes=events.check_in_after_minutes),
            no_show_limit=no_shows.limit,
            no_show_window=timedelta(days=no_shows.window_days),
            no_show_bar=timedelta(days=no_shows.bar_days),
            no_show_credit_points=no_shows.credit_points,
        )
        money_policy = MoneyPolicy.of(settings.money)
        purchase_policy = PurchasePolicy.of(settings.purchases, network_time)
        delivery_policy = DeliveryPolicy.of(settings.delivery)
        hold_policy = HoldPolicy(
            shelf_days=settings.circulation.hold_shelf_days, prefer_local=settings.circulation.holds_prefer_local
        )
        return Dependencies(
            settings=settings,
            clock=clock,
            network_time=network_time,
            redis=redis,
            wechat=wechat,
            wechatpay=wechatpay,
            keys=keys,
            tokens=TokenPolicy(
                keys,
                timedelta(seconds=security.access_token_ttl_seconds),
                timedelta(days=security.refresh_token_ttl_days),
            ),
            login_limits=LoginLimits(security.staff_login_max_failures, security.staff_login_lockout_seconds),
            rate_limits=RateLimits(redis, settings.rate_limits),
            cards=SignedPasses(CARD, keys, redis, pass_lifetime),
            tickets=SignedPasses(TICKET, keys, redis, pass_lifetime),
            pack_claims=SignedPasses(packs.CLAIM, keys, redis, pass_lifetime),
            credit_check=AccountCreditCheck(
                LocalCreditCheck(min_score=settings.circulation.deposit_free_min_score), money_policy
            ),
            money_policy=money_policy,
            purchase_policy=purchase_policy,
            delivery_policy=delivery_policy,
            hold_policy=hold_policy,
            event_policy=event_policy,
            events_full=FullMark(redis),
            templates=notice_templates,
            push=WeChatSubscribe(wechat, notice_templates),
            send_policy=SendPolicy(
                network_time.zone,
                default_quiet=settings.notices.quiet_hours,
                concurrency=settings.notices.send_concurrency,
            ),
            bus=event_bus(
                event_policy,
                jobs,
                money_policy,
                hold_policy=hold_policy,
                delivery_policy=delivery_policy,
                purchase_policy=purchase_policy,
            ),
            jobs=jobs,
            _opened=opened,
        )
    except BaseException:  # what was opened before the failure is closed again
        await opened.aclose()
        raise


async def _wechatpay(settings: Settings, clock: Clock, opened: AsyncExitStack) -> WeChatPaySetup:
    gateway = WechatpayV3Gateway.from_settings(settings.wechatpay, appid=settings.wechat.appid, clock=clock)
    await gateway.open()
    opened.push_async_callback(gateway.close)
    lifetime = timedelta(minutes=settings.wechatpay.order_minutes)
    return WeChatPaySetup(gateway, settings.wechatpay.notify_base, lifetime)


async def _refresh_search_row(event: CopyMoved) -> None:
    await search.refresh_holdings([event.record_id])  # where readers find the title, or whether they still do


def event_bus(
    event_policy: EventPolicy,
    jobs: ArqJobs | None = None,
    money_policy: MoneyPolicy | None = None,
    *,
    hold_policy: HoldPolicy | None = None,
    delivery_policy: DeliveryPolicy | None = None,
    purchase_policy: PurchasePolicy | None = None,
) -> EventBus:
    """Every area's handlers of the others' domain events; `jobs` queues what the worker does about them (none: a
    script's or a test's bus, which queues nothing); the policies are the settings' (none: the default settings')."""
    bus = EventBus()
    bus.subscribe(CopyMoved, _refresh_search_row)
    bus.subscribe(CardClosing, partial(booking.release_closing_card, event_policy))
    # a child's card removed ends its enrolment first, so what packs and reading keep for it is closed by their rules
    bus.subscribe(CardClosing, partial(newborn.card_closing, bus, event_policy.network_time))
    bus.subscribe(LoanOpened, booklists.loan_opened)  # a loan a reading list's push may have caused
    bus.subscribe(LoanOpened, broadcasts.picks_loan_opened)  # one a push of the reader's own picks may have
    bus.subscribe(LoanOpened, partial(reading.loan_opened, event_policy.network_time))  # an enrolled child's book
    packs.subscribe(bus, event_policy.network_time)  # a stage's pack reserved at enrolment, given back at withdrawal
    # a late return's overdue fee; a lost copy's replacement; a card removed owes nothing
    money.subscribe(bus, money_policy or MoneyPolicy.of(MoneySettings()))
    # a parcel delivered lends its books (or shelves them at the service point); one come back frees them
    holds = hold_policy or HoldPolicy()
    delivery.subscribe(bus, delivery_policy or DeliveryPolicy(), holds)
    purchases.subscribe(bus, purchase_policy or PurchasePolicy.of(PurchaseSettings(), event_policy.network_time), holds)
    notices.subscribe(bus, event_policy.network_time)
    if jobs is not None:
        # a checkout refreshes the reader's picks; a card removed loses them
        recommendations.subscribe(bus, jobs, PickStore(jobs.redis))
    return bus
