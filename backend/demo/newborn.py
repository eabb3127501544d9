"""The demo's newborn reading programme (阅享宝贝), run by the central library: the default stages with their
gift packs, a consent text, and the city's maternity hospital as a partner with a ward and an enroller."""

from __future__ import annotations

from datetime import datetime

from backend.accounts.models import StaffRole, StaffUser
from backend.network.models import Library, LibraryLevel
from backend.newborn.models import ConsentText, PackType, Partner, PartnerKind, Programme, Stage, Ward
from backend.newborn.programmes import DEFAULT_STAGES

ENROLLER = "fuyou-enroller"

# What each stage's pack holds, after Suzhou's 悦读宝贝 and Bookstart's packs.
_CONTENTS = (
    ["布书 1 册", "婴儿绘本 2 册", "阅读档案", "推荐书目", "馆长的一封信", "小小读者证"],
    ["纸板书 2 册", "亲子阅读指导手册", "推荐书目", "贴纸"],
    ["图画书 3 册", "亲子阅读指导手册", "推荐书目", "阅读成长记录页"],
)
_CONSENT = (
    "为向您的孩子发放阅读礼包、提醒您领取并记录孩子的阅读成长，铜陵市图书馆需要处理孩子的姓名和出生日期，"
    "以及您的微信身份和手机号码。孩子未满十四周岁，其个人信息属于敏感个人信息，我们仅在您单独同意后、"
    "仅为上述目的处理。您可以随时在小程序中撤回同意，撤回后我们将删除孩子在本计划中的全部记录，只保留不含个人信息的统计数字。"
)


async def seed_newborn(now: datetime, enroller_password_hash: str) -> Programme:
    """The programme, its packs, its consent text, and its partner with one ward and one enroller account."""
    central = await Library.get(level=LibraryLevel.CENTRAL)
    programme = await Programme.create(
        name="阅享宝贝",
        description="从出生到三岁，每个阶段一份阅读礼包，陪孩子读第一本书。",
        library=central,
        created_at=now,
        updated_at=now,
    )
    for (name, low, high), contents in zip(DEFAULT_STAGES, _CONTENTS, strict=True):
        pack = await PackType.create(name=f"阅享宝贝礼包 {name}", contents=contents, created_at=now)
        await Stage.create(programme=programme, name=name, min_age_months=low, max_age_months=high, pack_type=pack)
    await ConsentText.create(
        programme=programme,
        version=1,
        text=_CONSENT,
        purpose="发放阅读礼包、通知领取、记录孩子的阅读成长",
        retention="最后一个阶段结束后一年删除",
        person_responsible="铜陵市图书馆少儿部（个人信息保护负责人）",
        published_at=now,
    )
    partner = await Partner.create(
        programme=programme,
        name="铜陵市妇幼保健院",
        kind=PartnerKind.HOSPITAL,
        library=central,
        address="安徽省铜陵市铜官区长江西路",
        created_at=now,
    )
    await Ward.create(partner=partner, name="产科一病区", created_at=now)
    await StaffUser.create(
        username=ENROLLER,
        password_hash=enroller_password_hash,
        display_name="妇幼保健院登记员",
        role=StaffRole.ENROLLER,
        library=central,
        partner=partner,
    )
    return programme
