"""Errors of the unified catalogue."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, NotFound


class InvalidIsbn(InvalidInput):
    code = "invalid_isbn"
    message_zh = "ISBN 无效：{reason}"
    message_en = "The ISBN is not valid: {reason}"


class RecordNotFound(NotFound):
    code = "record_not_found"
    message_zh = "未找到该书目"
    message_en = "No such catalogue record"


class RecordIsbnTaken(Conflict):
    code = "record_isbn_taken"
    message_zh = "ISBN {isbn} 已有书目记录（编号 {record_id}），请在该记录下添加馆藏"
    message_en = "ISBN {isbn} already has a record (id {record_id}); add copies to it"


class CopyNotFound(NotFound):
    code = "copy_not_found"
    message_zh = "未找到条码为 {barcode} 的馆藏"
    message_en = "No copy with barcode {barcode}"


class BarcodeTaken(Conflict):
    code = "barcode_taken"
    message_zh = "条码 {barcode} 已被使用，条码在全网唯一"
    message_en = "Barcode {barcode} is already used; barcodes are unique across the network"


class CopyInCirculation(Conflict):
    code = "copy_in_circulation"
    message_zh = "该馆藏当前状态为「{status}」，须先归还或收到后再操作"
    message_en = "The copy is {status}; check it in first"


class RecordTitleRequired(InvalidInput):
    code = "record_title_required"
    message_zh = "书目记录须有题名"
    message_en = "A record needs a title"


class ImportFileUnreadable(InvalidInput):
    code = "import_file_unreadable"
    message_zh = "无法导入文件 {path}：{reason}"
    message_en = "Cannot import {path}: {reason}"


class ImportNotFound(NotFound):
    code = "import_not_found"
    message_zh = "未找到该导入任务"
    message_en = "No such catalogue import"


class ImportFileEmpty(InvalidInput):
    code = "import_file_empty"
    message_zh = "上传的文件是空的"
    message_en = "The uploaded file is empty"


class ImportFileNameInvalid(InvalidInput):
    code = "import_file_name_invalid"
    message_zh = "文件名须为 1 至 {max_length} 个字符，且不含控制字符"
    message_en = "A file name must be 1 to {max_length} characters, without control characters"


class ImportInterrupted(Conflict):
    """Why an import stopped when its run ended without a word: recorded on the job, not raised at a request."""

    code = "import_interrupted"
    message_zh = "导入中断（处理进程已停止），已导入的部分保留；请重新上传该文件，已有书目与馆藏会被更新而不会重复"
    message_en = (
        "The import was interrupted (its worker stopped); what was imported stays. Upload the file again: records and "
        "copies already imported are updated, not duplicated"
    )


class ImportTimedOut(Conflict):
    """Why an import stopped when it ran into the worker's time limit: recorded on the job, not raised at a request.
    The same file fails the same way every time it is uploaded, so the message says what to change."""

    code = "import_timed_out"
    message_zh = (
        "导入超过了 {minutes} 分钟的时限而被停止，已导入的部分保留；请把文件拆成几个较小的文件分别上传，"
        "或请系统管理员调大 SHUXIANG_IMPORT_TIMEOUT_SECONDS"
    )
    message_en = (
        "The import was stopped at its time limit of {minutes} minutes; what was imported stays. Split the file into "
        "smaller files and upload each, or ask the system administrator to raise SHUXIANG_IMPORT_TIMEOUT_SECONDS"
    )


class ImportFailed(Conflict):
    """Why an import stopped on an error of ours: recorded on the job (the worker's log has the details)."""

    code = "import_failed"
    message_zh = "导入因内部错误而停止，已导入的部分保留；请联系系统管理员"
    message_en = "The import stopped on an internal error; what was imported stays. Contact the system administrator"
