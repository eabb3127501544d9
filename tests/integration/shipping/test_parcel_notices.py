from notifications.models import NoticeKind
from notifications.sender import WeChatSubscribe
from standins.wechat_templates import template_id
from tests.integration.notifications.notifying import push, received, subscribed_reader
from tests.integration.shipping.conftest import Parcels


async def test_the_reader_who_allowed_parcel_messages_gets_them_in_wechat(
    parcels: Parcels, channel: WeChatSubscribe
) -> None:
    kinds = (NoticeKind.PARCEL_SHIPPED, NoticeKind.PARCEL_DELIVERED)
    await subscribed_reader(parcels.service, parcels.app_reader.openid, *kinds)
    await parcels.shipped("SF6001")
    await parcels.sf.report("SF6001", "delivered", parcels.now)

    sent = await push(parcels.service, channel)

    messages = {m["template_id"]: m for m in received(parcels.service, parcels.app_reader.openid)}
    assert sent == 2 and messages.keys() == {template_id(kind) for kind in kinds}
    shipped = messages[template_id(NoticeKind.PARCEL_SHIPPED)]["data"]
    assert (shipped["thing1"]["value"], shipped["character_string2"]["value"], shipped["thing3"]["value"]) == (
        "顺丰速运",
        "SF6001",
        "您家门口",
    )
    assert messages[template_id(NoticeKind.PARCEL_DELIVERED)]["page"].startswith("pages/parcels/index")
