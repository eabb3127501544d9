"""Errors of reader and staff accounts."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied, TooManyRequests


class TokenInvalid(NotAuthenticated):
    code = "token_invalid"
    message_zh = "登录凭证无效，请重新登录"
    message_en = "The credential is not valid; please log in again"


class TokenExpired(NotAuthenticated):
    code = "token_expired"
    message_zh = "登录已过期，请刷新或重新登录"
    message_en = "The login has expired; refresh it or log in again"


class RefreshTokenInvalid(NotAuthenticated):
    code = "refresh_token_invalid"
    message_zh = "刷新凭证无效、已过期或已注销，请重新登录"
    message_en = "The refresh token is invalid, expired or revoked; please log in again"


class ReaderOnly(PermissionDenied):
    code = "readers_only"
    message_zh = "此功能仅供读者使用"
    message_en = "Only readers can do this"


class StaffOnly(PermissionDenied):
    code = "staff_only"
    message_zh = "此功能仅供馆员使用"
    message_en = "Only library staff can do this"


class EnrollersOnly(PermissionDenied):
    code = "enrollers_only"
    message_zh = "此功能仅供合作机构的登记员使用"
    message_en = "Only a partner organisation's enrollers can do this"


class BookstoreClerksOnly(PermissionDenied):
    code = "bookstore_clerks_only"
    message_zh = "此功能仅供合作书店的店员使用"
    message_en = "Only a partner bookstore's clerks can do this"


class EnrollerNeedsPartner(InvalidInput):
    code = "enroller_needs_partner"
    message_zh = "登记员账号须在其合作机构下添加"
    message_en = "An enroller account is added under its partner organisation"


class ClerkNeedsBookstore(InvalidInput):
    code = "clerk_needs_bookstore"
    message_zh = "书店店员账号须在其合作书店下添加"
    message_en = "A bookstore clerk's account is added under its bookstore"


class RoleTooLow(PermissionDenied):
    code = "staff_role_insufficient"
    message_zh = "您的馆员角色无权执行此操作"
    message_en = "Your staff role does not allow this"


class ChildNotFound(NotFound):
    code = "child_not_found"
    message_zh = "未找到该孩子的读者证"
    message_en = "No such child card"


class GuardianConsentRequired(InvalidInput):
    code = "guardian_consent_required"
    message_zh = "为儿童办理读者证须由监护人单独同意处理其个人信息"
    message_en = "A child's card needs the guardian's separate consent to process the child's personal data"


class InvalidBirthMonth(InvalidInput):
    code = "invalid_birth_month"
    message_zh = "出生年月须为 YYYY-MM 格式，且孩子未满 14 周岁"
    message_en = "Birth month must be YYYY-MM and the child under 14"


class InvalidDateOfBirth(InvalidInput):
    code = "invalid_date_of_birth"
    message_zh = "出生日期须不晚于今天，且孩子未满 14 周岁"
    message_en = "The date of birth must not be after today, and the child must be under 14"


class DateOfBirthRequired(InvalidInput):
    code = "date_of_birth_required"
    message_zh = "孩子的读者证记录了出生日期，更正出生月份时请填写完整的出生日期"
    message_en = "The child's card records a date of birth: correct the birth month with the full date of birth"


class ChildCardExists(Conflict):
    code = "child_card_exists"
    message_zh = "您已为同名、同一出生日期的孩子办理了读者证"
    message_en = "You already hold a card for a child of this name and date of birth"


class ChildrenLimitReached(Conflict):
    code = "children_limit_reached"
    message_zh = "每位监护人最多办理 {limit} 张儿童读者证"
    message_en = "A guardian may hold at most {limit} child cards"


class ChildHasLoans(Conflict):
    code = "child_has_loans"
    message_zh = "孩子的读者证上还有{count}册书未还，请先还书再注销"
    message_en = "{count} books are still on loan on this child's card: return them first"


class CardPayloadInvalid(InvalidInput):
    code = "card_payload_invalid"
    message_zh = "读者证二维码无效"
    message_en = "The reader card code is not valid"


class CardPayloadExpired(InvalidInput):
    code = "card_payload_expired"
    message_zh = "读者证二维码已过期，请读者刷新后重新出示"
    message_en = "The reader card code has expired; ask the reader to refresh it"


class CardPayloadReplayed(Conflict):
    code = "card_payload_replayed"
    message_zh = "该读者证二维码已被使用，请读者刷新后重新出示"
    message_en = "This reader card code was already used; ask the reader to refresh it"


class PhoneNotBound(NotFound):
    code = "phone_not_bound"
    message_zh = "尚未绑定手机号"
    message_en = "No phone number is bound"


class LoginFailed(NotAuthenticated):
    code = "staff_login_failed"
    message_zh = "用户名或密码错误"
    message_en = "Wrong username or password"


class LoginLocked(TooManyRequests):
    code = "staff_login_locked"
    message_zh = "密码错误次数过多，请 {minutes} 分钟后再试"
    message_en = "Too many failed attempts; try again in {minutes} minutes"

    def __init__(self, seconds: int) -> None:
        super().__init__(minutes=-(-seconds // 60))
        self.retry_after = seconds


class StaffNotFound(NotFound):
    code = "staff_not_found"
    message_zh = "未找到该馆员"
    message_en = "No such staff member"


class UsernameTaken(Conflict):
    code = "staff_username_taken"
    message_zh = "用户名 {username} 已被使用"
    message_en = "The username {username} is taken"


class NetworkAdminOutsideCentral(InvalidInput):
    code = "network_admin_outside_central"
    message_zh = "网络管理员只能设在中心馆"
    message_en = "Network administrators belong to the central library"


class CannotDeactivateSelf(Conflict):
    code = "cannot_deactivate_self"
    message_zh = "不能停用自己的账号"
    message_en = "You cannot deactivate your own account"


class InvalidName(InvalidInput):
    code = "invalid_name"
    message_zh = "姓名不能为空"
    message_en = "The name cannot be blank"


class WeakPassword(InvalidInput):
    code = "staff_password_weak"
    message_zh = "密码至少 10 位"
    message_en = "The password must have at least 10 characters"


class CardNumberInvalid(InvalidInput):
    code = "card_number_invalid"
    message_zh = "读者证号 {card_number} 有误（校验位不符），请核对后重新输入"
    message_en = "The card number {card_number} is mistyped (its check digit does not match)"


class ReaderCardNotFound(NotFound):
    code = "reader_card_not_found"
    message_zh = "未找到读者证号 {card_number}"
    message_en = "No reader card {card_number}"


class ReaderCardRequired(InvalidInput):
    code = "reader_card_required"
    message_zh = "请扫描读者证二维码或输入读者证号（二者择一）"
    message_en = "Scan the reader's card code or give the card number: one of the two"


class CardReportedLost(Conflict):
    code = "card_reported_lost"
    message_zh = "读者证 {card_number} 已于 {day} 挂失补办，不能再使用，请读者出示新的读者证"
    message_en = "The card {card_number} was reported lost on {day} and replaced; ask the reader for the new card"


class CardNotCurrent(Conflict):
    code = "card_not_current"
    message_zh = "读者证号 {card_number} 不是这张读者证现在的号码，请刷新后再试"
    message_en = "{card_number} is not this card's current number; refresh and try again"
