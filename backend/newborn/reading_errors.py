"""What a guardian and staff are refused about a child's reading record, milestones and the programme's figures, with a
stable code."""

from __future__ import annotations

from backend.errors import InvalidInput, NotFound


class ChildNotEnrolled(NotFound):
    code = "newborn_child_not_enrolled"
    message_zh = "孩子尚未登记阅享宝贝阅读计划"
    message_en = "The child is not enrolled in a newborn reading programme"


class ReadingEntryNotFound(NotFound):
    code = "newborn_reading_entry_not_found"
    message_zh = "未找到该条阅读记录"
    message_en = "No such entry in the reading record"


class BookRequired(InvalidInput):
    code = "newborn_reading_book_required"
    message_zh = "请从馆藏中选择一本书、扫描ISBN或填写书名（三者择一）"
    message_en = "Choose a book from the catalogue, scan its ISBN or type its title: one of the three"


class ReadDayInvalid(InvalidInput):
    code = "newborn_reading_day_invalid"
    message_zh = "阅读日期须在孩子出生（{born}）之后，且不晚于今天（{today}）"
    message_en = "The day read must be on or after the child's birth ({born}) and not after today ({today})"


class MilestoneNotReached(NotFound):
    code = "newborn_milestone_not_reached"
    message_zh = "孩子还没有达到读完 {books} 本书的阅读里程碑"
    message_en = "The child has not reached the milestone of {books} books"


class FiguresPeriodInvalid(InvalidInput):
    code = "newborn_figures_period_invalid"
    message_zh = "统计期间须从起始月到结束月，且不超过 {months} 个月"
    message_en = "The period must run from its first month to its last, {months} months at most"
