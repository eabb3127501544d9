"""WeChat Pay's daily trade bill (交易账单, type ALL) read into typed rows.

The bill is CSV-like: a header line, one line per payment or refund with every field prefixed by a backtick (so that
spreadsheets keep long numbers as text), then a summary header and a summary line. Amounts are yuan with two
decimals; times are China time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

# WeChat Pay's zone: its times (a bill's, an order's time_expire) and bill days are China's, whatever the merchant's.
WECHATPAY_ZONE = ZoneInfo("Asia/Shanghai")
_COLUMNS = {
    "trade_time": "交易时间",
    "appid": "公众账号ID",
    "transaction_id": "微信订单号",
    "out_trade_no": "商户订单号",
    "openid": "用户标识",
    "trade_type": "交易类型",
    "trade_state": "交易状态",
    "settlement": "应结订单金额",
    "refund_id": "微信退款单号",
    "out_refund_no": "商户退款单号",
    "refund": "退款金额",
    "refund_status": "退款状态",
    "attach": "商户数据包",
    "total": "订单金额",
    "refund_requested": "申请退款金额",
}
_ROW_COUNT = "总交易单数"


class BillUnreadable(ValueError):
    """The downloaded bill is not in WeChat Pay's format (a column missing, a bad amount, a count that differs)."""


@dataclass(frozen=True, slots=True)
class TradeBillRow:
    """One line of the bill: a payment (trade_state SUCCESS) or a refund of one (trade_state REFUND, refund fields
    set). Amounts in fen."""

    trade_time: datetime  # UTC
    transaction_id: str
    out_trade_no: str
    openid: str
    trade_type: str
    trade_state: str
    total_fen: int
    settlement_fen: int
    refund_id: str | None
    out_refund_no: str | None
    refund_fen: int
    refund_requested_fen: int
    refund_status: str | None
    attach: str


@dataclass(frozen=True, slots=True)
class TradeBill:
    rows: tuple[TradeBillRow, ...]


def parse_trade_bill(text: str) -> TradeBill:
    """The rows of a bill as downloaded (decompressed); `BillUnreadable` if it is not one."""
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if not lines:
        raise BillUnreadable("the bill is empty")
    header = [name.strip() for name in lines[0].split(",")]
    try:
        where = {field: header.index(column) for field, column in _COLUMNS.items()}
    except ValueError as exc:
        raise BillUnreadable(f"a column is missing: {exc}") from None
    try:
        summary_at = next(i for i, line in enumerate(lines) if line.startswith(_ROW_COUNT))
    except StopIteration:
        raise BillUnreadable("the summary is missing") from None
    rows = tuple(_row(_cells(line, len(header)), where) for line in lines[1:summary_at])
    summary = _cells(lines[summary_at + 1], 1) if summary_at + 1 < len(lines) else []
    if not summary or summary[0] != str(len(rows)):
        raise BillUnreadable(f"the summary counts {summary[:1]} trades, the bill lists {len(rows)}")
    return TradeBill(rows)


def _cells(line: str, expected: int) -> list[str]:
    # Descriptions and attach data may hold commas: the fields before them are fixed, and every field starts with a
    # backtick, so split on ",`" rather than on every comma.
    if not line.startswith("`"):
        raise BillUnreadable(f"a line does not start with a backtick: {line[:40]!r}")
    cells = line[1:].split(",`")
    if len(cells) < expected:
        raise BillUnreadable(f"a line has {len(cells)} fields, the header {expected}")
    return [cell.strip() for cell in cells]


def _row(cells: list[str], where: dict[str, int]) -> TradeBillRow:
    def text(field: str) -> str:
        return cells[where[field]]

    def optional(field: str) -> str | None:
        value = text(field)
        return value if value not in ("", "0") else None

    try:
        moment = datetime.strptime(text("trade_time"), "%Y-%m-%d %H:%M:%S").replace(tzinfo=WECHATPAY_ZONE)
    except ValueError:
        raise BillUnreadable(f"bad trade time {text('trade_time')!r}") from None
    return TradeBillRow(
        trade_time=moment.astimezone(UTC),
        transaction_id=text("transaction_id"),
        out_trade_no=text("out_trade_no"),
        openid=text("openid"),
        trade_type=text("trade_type"),
        trade_state=text("trade_state"),
        total_fen=_fen(text("total")),
        settlement_fen=_fen(text("settlement")),
        refund_id=optional("refund_id"),
        out_refund_no=optional("out_refund_no"),
        refund_fen=_fen(text("refund")),
        refund_requested_fen=_fen(text("refund_requested")),
        refund_status=text("refund_status") or None,
        attach=text("attach"),
    )


def _fen(yuan: str) -> int:
    try:
        amount = Decimal(yuan or "0") * 100
    except InvalidOperation:
        raise BillUnreadable(f"bad amount {yuan!r}") from None
    if amount != amount.to_integral_value():
        raise BillUnreadable(f"amount {yuan!r} has a fraction of a fen")
    return int(amount)
