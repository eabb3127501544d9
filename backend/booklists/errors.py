"""What staff and readers are refused about reading lists, with a stable code."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, NotFound


class BooklistNotFound(NotFound):
    code = "booklist_not_found"
    message_zh = "未找到该书单"
    message_en = "No such reading list"


class BooklistRetired(Conflict):
    code = "booklist_retired"
    message_zh = "该书单已下架，不能再修改或发布"
    message_en = "The reading list is retired and can no longer be changed or published"


class BooklistNotPublished(Conflict):
    code = "booklist_not_published"
    message_zh = "书单发布后才能推送"
    message_en = "Only a published reading list can be pushed"


class BooklistEmpty(Conflict):
    code = "booklist_empty"
    message_zh = "书单中还没有图书，不能发布"
    message_en = "A reading list needs at least one book to be published"


class BooklistTooLong(InvalidInput):
    code = "booklist_too_long"
    message_zh = "一个书单最多 {most} 本书"
    message_en = "A reading list holds at most {most} books"


class BooklistRecordRepeated(InvalidInput):
    code = "booklist_record_repeated"
    message_zh = "同一本书在书单中只能出现一次"
    message_en = "A book appears on a reading list once"


class BooklistAudienceInvalid(InvalidInput):
    code = "booklist_audience_invalid"
    message_zh = "书单对象无效：{problem}"
    message_en = "Invalid reading list audience: {problem}"


class BooklistEntryNotFound(NotFound):
    code = "booklist_entry_not_found"
    message_zh = "该书不在书单中"
    message_en = "That book is not on the reading list"


class BooklistPushNotFound(NotFound):
    code = "booklist_push_not_found"
    message_zh = "未找到该书单推送"
    message_en = "No such push of the reading list"
