"""Request and response shapes of reader accounts. No shape here carries an openid or a session key."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Annotated

import msgspec

from backend.accounts.cards import Replacement
from backend.accounts.models import CardRetiredBy, Reader, ReaderType
from backend.accounts.services import CardView
from backend.accounts.tokens import TokenPair
from miniprogram_api.network.schemas import Code
from miniprogram_api.schemas import CardNumber, Day, Page, matching, named, text

WeChatCode = Annotated[str, text(128, min_length=1)]
Name = Annotated[str, text(50, min_length=1)]
BirthMonth = Annotated[str, matching(r"[0-9]{4}-[0-9]{2}", description="YYYY-MM")]
Token = Annotated[str, text(512, min_length=1)]


class WeChatLoginIn(msgspec.Struct):
    code: WeChatCode
    """The code from `wx.login` (valid 5 minutes, single use)."""


class RefreshIn(msgspec.Struct):
    refresh_token: Token


class TokensOut(msgspec.Struct):
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    token_type: str = "Bearer"

    @classmethod
    def of(cls, pair: TokenPair) -> TokensOut:
        return cls(pair.access_token, pair.access_expires_at, pair.refresh_token, pair.refresh_expires_at)


class ProfileOut(msgspec.Struct):
    id: int
    card_number: str
    reader_type: ReaderType
    name: str
    phone: str | None
    """Masked, e.g. +86 138****8000."""
    home_library_code: str | None
    created_at: datetime


class ProfileIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    home_library_code: Code | None = None


class PhoneIn(msgspec.Struct):
    code: WeChatCode
    """The code from the `getPhoneNumber` button (valid 5 minutes, single use)."""


class PhoneOut(msgspec.Struct):
    phone: str


class CardOut(msgspec.Struct):
    card_number: str
    holder_name: str
    payload: str
    """Show as a QR code; valid until `expires_at`, single use. Fetch a new one before it expires."""
    expires_at: datetime
    qr_png_base64: str

    @classmethod
    def of(cls, card: CardView) -> CardOut:
        return cls(
            card.card_number, card.holder_name, card.payload, card.expires_at, base64.b64encode(card.qr_png).decode()
        )


class ChildIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    birth_month: BirthMonth
    guardian_consent: bool
    """The guardian's separate consent to processing the child's personal data (PIPL art. 31)."""


class ChildPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    birth_month: BirthMonth | None = None
    date_of_birth: Day | None = None
    """The day, which sets the birth month too (the newborn programme's stages count from it)."""


class ChildOut(msgspec.Struct):
    id: int
    card_number: str
    name: str
    birth_month: str | None
    date_of_birth: date | None
    guardian_consent_at: datetime | None

    @classmethod
    def of(cls, child: Reader) -> ChildOut:
        return cls(
            child.id, child.card_number, child.name, child.birth_month, child.date_of_birth, child.guardian_consent_at
        )


ChildPage = Annotated[Page[ChildOut], named("ChildPage")]


class CardReplacementIn(msgspec.Struct, forbid_unknown_fields=True):
    card_number: CardNumber
    """The number of the card being reported lost, as the app shows it: the same report sent twice (a double tap)
    then answers with the first one's new number instead of issuing another."""
    end_sessions: bool = False
    """Also end every login of this account, this one included (a lost phone): the app logs in again. Ignored for
    a child's card, which has no login. A phone still signed in to WeChat logs in again too: see
    `wechat_freeze_advice` in the answer."""


class DeskCardReplacementIn(msgspec.Struct, forbid_unknown_fields=True):
    end_sessions: bool
    """Also end the reader's logins in the mini-program: ask whether the phone was lost with the card. This alone does
    not lock out a lost phone still signed in to WeChat: see `wechat_freeze_advice` in the answer."""


# Ending the logins deletes the reader's tokens, but the mini-program on a phone still signed in to WeChat gets a new
# one without asking anyone (`wx.login`, then POST /auth/wechat-login): only WeChat can stop that, once the reader has
# frozen their WeChat account, after which WeChat refuses to exchange that phone's login codes.
_WECHAT_FREEZE_ADVICE = {
    "zh": "结束登录挡不住仍登录着微信的手机：小程序会自动重新登录。请读者立即冻结微信账号（在另一台手机的微信中："
    "我 → 设置 → 账号与安全 → 微信安全中心 → 冻结账号），冻结后丢失的手机无法再登录。",
    "en": "Ending the logins does not lock out a phone still signed in to WeChat: the mini-program logs in again by "
    "itself. Ask the reader to freeze their WeChat account now (in WeChat on another phone: Me > Settings > Account "
    "Security > WeChat Security Center > Freeze Account); once frozen, the lost phone cannot log in again.",
}


class CardReplacementOut(msgspec.Struct):
    card_number: str
    """The card's number now: the new one."""
    holder_name: str
    reader_type: ReaderType
    replaced_card_number: str
    """The number reported lost: refused at every desk and scanner from now on."""
    reported_lost_at: datetime
    reported_by: CardRetiredBy
    sessions_ended: int
    """How many of the reader's logins were ended with it."""
    wechat_freeze_advice: str | None
    """When logins were ended: what to tell the reader, since a lost phone still signed in to WeChat logs the
    mini-program in again by itself until the reader freezes their WeChat account (WeChat's security centre); then
    WeChat refuses that phone's logins. None when no login was ended (a lost card is not a lost phone)."""

    @classmethod
    def of(cls, done: Replacement, language: str) -> CardReplacementOut:
        holder, retired = done.holder, done.retired
        return cls(
            holder.card_number,
            holder.name,
            holder.reader_type,
            retired.card_number,
            retired.retired_at,
            retired.retired_by,
            done.sessions_ended,
            _WECHAT_FREEZE_ADVICE[language] if done.logins_ended else None,
        )
