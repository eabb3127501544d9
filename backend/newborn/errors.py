"""What staff, enrollers and guardians are refused about the newborn programme, with a stable code."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, NotFound


class ProgrammeNotFound(NotFound):
    code = "newborn_programme_not_found"
    message_zh = "未找到该阅读计划"
    message_en = "No such reading programme"


class ProgrammeNameTaken(Conflict):
    code = "newborn_programme_name_taken"
    message_zh = "阅读计划名称“{name}”已被使用"
    message_en = "The programme name {name} is taken"


class ProgrammeClosed(Conflict):
    code = "newborn_programme_closed"
    message_zh = "该阅读计划已停止接受登记"
    message_en = "The programme no longer takes enrolments"


class StagesInvalid(InvalidInput):
    code = "newborn_stages_invalid"
    message_zh = "阶段设置无效：{problem}"
    message_en = "Invalid stages: {problem}"


class StageInUse(Conflict):
    code = "newborn_stage_in_use"
    message_zh = "阶段“{name}”已有孩子或礼包预留，不能删除"
    message_en = "The stage {name} has children or pack reservations and cannot be removed"


class PackTypeNotFound(NotFound):
    code = "pack_type_not_found"
    message_zh = "未找到该礼包类型"
    message_en = "No such pack type"


class PackTypeNameTaken(Conflict):
    code = "pack_type_name_taken"
    message_zh = "礼包类型名称“{name}”已被使用"
    message_en = "The pack type name {name} is taken"


class ConsentTextMissing(Conflict):
    code = "newborn_consent_text_missing"
    message_zh = "该阅读计划尚未发布个人信息处理同意书，暂不能登记"
    message_en = "The programme has no published consent text yet, so nobody can enrol"


class ConsentOutdated(Conflict):
    code = "newborn_consent_outdated"
    message_zh = "同意书已更新为第 {version} 版，请阅读新版本后再同意"
    message_en = "The consent text is now version {version}: read it and consent again"


class ConsentRequired(InvalidInput):
    code = "newborn_consent_required"
    message_zh = "登记须由监护人单独同意处理孩子的个人信息"
    message_en = "Enrolment needs the guardian's separate consent to process the child's personal data"


class PartnerNotFound(NotFound):
    code = "newborn_partner_not_found"
    message_zh = "未找到该合作机构"
    message_en = "No such partner organisation"


class PartnerNameTaken(Conflict):
    code = "newborn_partner_name_taken"
    message_zh = "合作机构名称“{name}”已被使用"
    message_en = "The partner name {name} is taken"


class PartnerOutsideProgramme(InvalidInput):
    code = "newborn_partner_outside_programme"
    message_zh = "合作机构所属图书馆须在该阅读计划的服务范围内"
    message_en = "A partner's library must be within the programme's libraries"


class WardNotFound(NotFound):
    code = "newborn_ward_not_found"
    message_zh = "未找到该病区"
    message_en = "No such ward"


class WardNameTaken(Conflict):
    code = "newborn_ward_name_taken"
    message_zh = "该机构已有名为“{name}”的病区"
    message_en = "The partner already has a ward named {name}"


class WardCodeInvalid(InvalidInput):
    code = "newborn_ward_code_invalid"
    message_zh = "该登记二维码无效或已停用，请向医院工作人员索取新的二维码"
    message_en = "This enrolment code is not valid or no longer in use; ask the hospital's staff for a current one"


class EnrolmentNotFound(NotFound):
    code = "newborn_enrolment_not_found"
    message_zh = "未找到该登记"
    message_en = "No such enrolment"


class ChildAlreadyEnrolled(Conflict):
    code = "newborn_child_already_enrolled"
    message_zh = "孩子已经登记过阅读计划"
    message_en = "The child is already enrolled"


class PhoneRequired(Conflict):
    code = "newborn_phone_required"
    message_zh = "请先绑定手机号再为孩子登记"
    message_en = "Bind a phone number before enrolling a child"


class ChildRequired(InvalidInput):
    code = "newborn_child_required"
    message_zh = "请选择已有的儿童读者证，或填写孩子的姓名（二者择一）"
    message_en = "Choose a child card you hold or give the child's name: one of the two"


class ChildOutsideStages(InvalidInput):
    code = "newborn_child_outside_stages"
    message_zh = "孩子的年龄已超出该阅读计划的各阶段（至 {months} 个月）"
    message_en = "The child is older than the programme's stages (up to {months} months)"


class CollectionLibraryInvalid(InvalidInput):
    code = "newborn_collection_library_invalid"
    message_zh = "领取礼包的图书馆须是该阅读计划服务范围内开放的图书馆"
    message_en = "The library to collect packs at must be an open library within the programme's libraries"


class EnrolmentWayRequired(InvalidInput):
    code = "newborn_enrolment_way_required"
    message_zh = "请扫描医院的登记二维码，或选择阅读计划和领取礼包的图书馆（二者择一）"
    message_en = "Scan a hospital's enrolment code, or choose a programme and where to collect packs: one of the two"
