"""Where a parcel goes to or is collected from: personal data (PIPL), so stored encrypted, shown masked, and emptied
once the parcel has been closed for the retention period."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.accounts.models import Reader, ReaderType, StaffUser
from backend.counter.models import LookupAction, LookupBy, ReaderLookup
from backend.crypto import Keys
from backend.shipping.errors import AddressInvalid
from backend.shipping.models import Shipment

_MOBILE = re.compile(r"1[3-9]\d{9}")
# Each column its own context: a ciphertext copied into another column does not decrypt.
_RECIPIENT = "shipment.recipient"
_PHONE = "shipment.phone"
_ADDRESS = "shipment.address"
_ADDRESS_SHOWN = 6  # characters of the address left visible when masked: the province and city, roughly


@dataclass(frozen=True, slots=True)
class Address:
    """A home delivery's (or a courier pickup's) recipient, mainland mobile number and address. Build one with
    `Address.of`, which checks and trims it."""

    recipient: str
    phone: str
    address: str

    @classmethod
    def of(cls, recipient: str, phone: str, address: str) -> Address:
        recipient, phone, address = recipient.strip(), phone.strip(), " ".join(address.split())
        if not 1 <= len(recipient) <= 40:
            raise AddressInvalid(reason="收件人 1 至 40 个字")
        if not _MOBILE.fullmatch(phone):
            raise AddressInvalid(reason="手机号须为 11 位中国大陆手机号")
        if not 5 <= len(address) <= 200:
            raise AddressInvalid(reason="地址 5 至 200 个字")
        return cls(recipient, phone, address)


@dataclass(frozen=True, slots=True)
class MaskedAddress:
    """What a reader or staff see on a list: 张*, 138****5678, 浙江省杭州市****."""

    recipient: str
    phone: str
    address: str


def seal(keys: Keys, shipment: Shipment, address: Address) -> None:
    """Put the address on the shipment, encrypted (the caller saves it)."""
    shipment.recipient_encrypted = keys.encrypt(address.recipient, _RECIPIENT)
    shipment.phone_encrypted = keys.encrypt(address.phone, _PHONE)
    shipment.address_encrypted = keys.encrypt(address.address, _ADDRESS)


def address_of(keys: Keys, shipment: Shipment) -> Address | None:
    """The full address, for the packing staff's label and the courier: None for a service point, or once erased."""
    if shipment.recipient_encrypted is None or shipment.phone_encrypted is None or shipment.address_encrypted is None:
        return None
    return Address(
        keys.decrypt(shipment.recipient_encrypted, _RECIPIENT),
        keys.decrypt(shipment.phone_encrypted, _PHONE),
        keys.decrypt(shipment.address_encrypted, _ADDRESS),
    )


async def label_address(
    keys: Keys, shipment: Shipment, *, staff: StaffUser, subject: str, now: datetime
) -> Address | None:
    """The full address for the staff member making up the parcel's label or booking its courier, each showing
    recorded with the staff look-ups of readers (PIPL: who saw whose personal data, and when). `subject` names what
    it was shown for ("delivery-label:12"); the log keeps only its keyed hash."""
    address = address_of(keys, shipment)
    if address is None:
        return None
    reader = None if shipment.reader_id is None else await Reader.get_or_none(id=shipment.reader_id)
    await ReaderLookup.create(
        staff=staff,
        library_id=staff.library.id,
        action=LookupAction.LABEL,
        looked_up_by=LookupBy.ORDER,
        query_digest=keys.blind_index(subject),
        reader_ids=[] if reader is None else [reader.id],
        children_shown=reader is not None and reader.reader_type is ReaderType.CHILD,
        outside_scope=False,
        at=now,
    )
    return address


def masked(keys: Keys, shipment: Shipment) -> MaskedAddress | None:
    """The address as shown on screens and lists: enough to recognise, too little to find the door."""
    full = address_of(keys, shipment)
    if full is None:
        return None
    shown = min(_ADDRESS_SHOWN, len(full.address) // 2)
    return MaskedAddress(
        recipient=full.recipient[0] + "*" * (len(full.recipient) - 1),
        phone=f"{full.phone[:3]}****{full.phone[-4:]}",
        address=full.address[:shown] + "****",
    )


async def erase_addresses(now: datetime, retention: timedelta) -> int:
    """The job: empty the address of every parcel closed (delivered, returned or cancelled) before `now -
    retention`. Returns how many were emptied; a second run finds none."""
    return await Shipment.filter(
        closed_at__lt=now - retention, address_erased_at__isnull=True, recipient_encrypted__isnull=False
    ).update(recipient_encrypted=None, phone_encrypted=None, address_encrypted=None, address_erased_at=now)
