"""A Tongling-shaped demo network with staff logins whose password, DEMO_PASSWORD, is for demonstrations only."""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from backend.accounts.models import StaffRole, StaffUser
from backend.accounts.staff import hash_password
from backend.demo.catalog import seed_catalog
from backend.demo.events import seed_events
from backend.demo.newborn import ENROLLER, seed_newborn
from backend.demo.readers import DemoServices, have_readers, seed_readers
from backend.errors import DomainError
from backend.network import hours
from backend.network.models import Library, LibraryLevel, LibraryService
from backend.network.services import NETWORK_ROOT, LibraryDraft, create_library

# Published in the docs and the CLI output: every demo account shares it, so a demo database is never production.
DEMO_PASSWORD = "shuxiang-demo"

_SEED = 562  # Tongling's telephone area code; a fixed seed gives every demo database the same map.
_PROVINCE_CITY = "安徽省铜陵市"
_KM_PER_DEGREE_LATITUDE = 111.32


def _week(days: Iterable[str], *intervals: tuple[str, str]) -> hours.WeeklyHours:
    return hours.validate({day: [list(interval) for interval in intervals] for day in days})


_EVERY_DAY = hours.WEEKDAYS
_ROUND_THE_CLOCK = _week(_EVERY_DAY, ("00:00", "24:00"))
# Closed on Mondays, like most public libraries in China.
_LIBRARY_HOURS = _week(hours.WEEKDAYS[1:], ("09:00", "21:00"))
_VILLAGE_AFTERNOON = ("14:30", "17:30")

_DESK = frozenset({LibraryService.LENDING, LibraryService.RETURNS, LibraryService.HOLDS_PICKUP})
_DESK_AND_EVENTS = _DESK | {LibraryService.EVENTS}
_UNATTENDED = frozenset({LibraryService.LENDING, LibraryService.RETURNS, LibraryService.SELF_SERVICE})
# The central library also has self-service kiosks (seed 003: 智慧图书体验馆); county libraries are staffed only.
_CENTRAL_SERVICES = frozenset(LibraryService)

# Branch kinds: their hours follow their host (a school shuts at night, a company room opens around meals).
_TOWN = "town"  # township or street library: named after its town, runs the villages around it
_BRANCH_KINDS: dict[str, tuple[hours.WeeklyHours, frozenset[LibraryService]]] = {
    _TOWN: (_week(hours.WEEKDAYS[:6], ("08:30", "11:30"), ("14:30", "17:30")), _DESK_AND_EVENTS),
    "reading": (_week(hours.WEEKDAYS[1:], ("09:00", "20:00")), _DESK_AND_EVENTS),  # 全民阅读点
    "shop": (_week(_EVERY_DAY, ("09:30", "21:30")), _DESK_AND_EVENTS),  # 图书馆+书店, café partners
    "school": (_week(hours.WEEKDAYS[:5], ("08:00", "17:00")), _DESK),
    "company": (_week(hours.WEEKDAYS[:5], ("11:30", "13:30"), ("17:30", "20:00")), _DESK),
}

# key, admin login, name, district, latitude, longitude, farthest township (km), roads for street addresses
_MAINS: tuple[tuple[str, str, str, str, float, float, float, str], ...] = (
    ("TG", "tongguan", "铜官区图书馆", "铜官区", 30.952, 117.826, 4.0, "长江中路 淮河中路 北京西路 石城路 人民路"),
    ("YA", "yian", "义安区图书馆", "义安区", 30.930, 117.790, 12.0, "义安大道 五松路 顺安路 铜都大道"),
    ("JQ", "jiaoqu", "郊区图书馆", "郊区", 30.900, 117.780, 12.0, "安定路 桥南路 铜井路 大通路"),
    ("ZY", "zongyang", "枞阳县图书馆", "枞阳县", 30.700, 117.220, 15.0, "达观路 枞阳大道 渡江路 七井路"),
)

# main key, name, kind, the service points it runs (a name ending in 村 is a village, else a community)
_BRANCHES: tuple[tuple[str, str, str, str], ...] = (
    ("TG", "滨江阅读点", "reading", ""),
    ("TG", "南湖阅读点", "reading", ""),
    ("TG", "植物园阅读点", "reading", ""),
    ("TG", "天井湖阅读点", "reading", ""),
    ("TG", "铜官山阅读点", "reading", ""),
    ("TG", "新华书店阅读点", "shop", ""),
    ("TG", "皖新书城阅读点", "shop", ""),
    ("TG", "拾光书咖阅读点", "shop", ""),
    ("TG", "铜陵一中阅读点", "school", ""),
    ("TG", "铜陵三中阅读点", "school", ""),
    ("TG", "铜陵学院分馆", "school", ""),
    ("TG", "市委党校分馆", "school", ""),
    ("TG", "铜陵有色职工书屋", "company", ""),
    ("TG", "铜化集团职工书屋", "company", ""),
    ("TG", "横港街道分馆", _TOWN, "金山社区 钟楼社区"),
    ("TG", "幸福街道分馆", _TOWN, "幸福社区 和平社区"),
    ("TG", "东郊街道分馆", _TOWN, "东苑社区"),
    ("TG", "西湖街道分馆", _TOWN, "湖滨社区 西湖社区"),
    ("YA", "五松镇分馆", _TOWN, "城关社区 团结村 新民村"),
    ("YA", "顺安镇分馆", _TOWN, "顺安社区 凤凰村 长龙村"),
    ("YA", "钟鸣镇分馆", _TOWN, "钟鸣社区 泉栏村 清泉村"),
    ("YA", "天门镇分馆", _TOWN, "天门社区 五峰村 板桥村"),
    ("YA", "西联镇分馆", _TOWN, "西联社区 犁桥村 钱湾村"),
    ("YA", "胥坝乡分馆", _TOWN, "胥坝社区 群心村 永丰村"),
    ("YA", "顺安老街阅读点", "reading", ""),
    ("YA", "永泉农庄阅读点", "reading", ""),
    ("YA", "新华书店义安店阅读点", "shop", ""),
    ("YA", "义安区实验小学阅读点", "school", ""),
    ("YA", "义安中学阅读点", "school", ""),
    ("YA", "海螺水泥职工书屋", "company", ""),
    ("JQ", "大通镇分馆", _TOWN, "澜溪社区 和悦村"),
    ("JQ", "铜山镇分馆", _TOWN, "铜山社区 铜塘村"),
    ("JQ", "灰河乡分馆", _TOWN, "灰河村 幸福村"),
    ("JQ", "老洲乡分馆", _TOWN, "老洲村 光辉村"),
    ("JQ", "陈瑶湖镇分馆", _TOWN, "陈瑶湖村 水圩村"),
    ("JQ", "周潭镇分馆", _TOWN, "周潭社区 东湖村"),
    ("JQ", "安定街道分馆", _TOWN, "安定社区"),
    ("JQ", "桥南街道分馆", _TOWN, "桥南社区"),
    ("JQ", "大通古镇阅读点", "reading", ""),
    ("JQ", "铜陵职业技术学院分馆", "school", ""),
    ("ZY", "横埠镇分馆", _TOWN, "横埠社区 官桥村"),
    ("ZY", "项铺镇分馆", _TOWN, "项铺社区 小圩村"),
    ("ZY", "钱桥镇分馆", _TOWN, "钱桥社区 高峰村"),
    ("ZY", "麒麟镇分馆", _TOWN, "麒麟社区 马鞍村"),
    ("ZY", "义津镇分馆", _TOWN, "义津社区 桥湾村"),
    ("ZY", "浮山镇分馆", _TOWN, "浮山社区 会圣村"),
    ("ZY", "会宫镇分馆", _TOWN, "会宫社区 长岭村"),
    ("ZY", "官埠桥镇分馆", _TOWN, "官埠社区 北埂村"),
    ("ZY", "钱铺镇分馆", _TOWN, "钱铺社区 毛竹村"),
    ("ZY", "汤沟镇分馆", _TOWN, "汤沟社区 老桥村"),
    ("ZY", "枞阳中学阅读点", "school", ""),
    ("ZY", "新华书店枞阳店阅读点", "shop", ""),
)

# Communities a main library serves itself, without a branch in between.
_MAIN_POINTS = {"TG": "长江社区 人民社区"}

# Seed 003: the central library stocks the 24-hour libraries itself; they stand in parks and squares.
_SELF_SERVICE = "翠湖公园 天井湖公园 人民公园 万达广场 市民中心"

# parent code, places of the "铜都书巢" swap cabinets it restocks
_SWAP_CABINETS: tuple[tuple[str, str], ...] = (
    ("TL", "市政务服务中心 市人民医院 市立医院 铜陵学院 铜陵北站 汽车客运站"),
    ("TL", "北斗星城 奥体中心 市博物馆 规划馆 青少年宫 西湖湿地公园"),
    ("TL-TG", "长江中路步行街 天井湖社区 铜官山 淮河中路 金山社区 东湖公园"),
    ("TL-YA", "义安区政务中心 顺安老街 五松广场 犁桥水镇"),
    ("TL-JQ", "大通古镇 桥南社区 安定广场 铜山镇政府"),
    ("TL-ZY", "枞阳县政务中心 浮山景区 城关广场 枞阳老街"),
)

_CENTRAL_CODE = "TL"
_LIBRARIAN_AT = "TL-TG-B01"


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What `seed_demo` did: nothing (`loaded` False) when the database already had libraries."""

    loaded: bool
    counts: dict[LibraryLevel, int] = field(default_factory=dict, hash=False)
    staff_usernames: tuple[str, ...] = ()
    records: int = 0
    copies: int = 0
    events: int = 0
    newborn_programme: str = ""
    readers: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        if not self.loaded:
            return ["The database already has libraries: demo network not loaded.", *self._reader_lines()]
        return [
            f"Loaded the demo network (shaped like Tongling's): {self.total} libraries",
            *(f"  {level.value}: {count}" for level, count in self.counts.items()),
            f"Catalogue: {self.records} records (English from goodbooks-10k, CC BY-SA 4.0, and Chinese) with "
            f"{self.copies} copies, in every 24-hour library and swap cabinet too",
            f"Events open for booking: {self.events}",
            f"Newborn programme: {self.newborn_programme}, enrolling at the maternity hospital ({ENROLLER})",
            f"Staff accounts: {', '.join(self.staff_usernames)}",
            f"Their password is {DEMO_PASSWORD!r}: demo only, never use this database in production.",
            *self._reader_lines(),
        ]

    def _reader_lines(self) -> list[str]:
        if not self.readers:
            return []
        return [
            "Demo readers (their WeChat logins are demo-alice, demo-bob, demo-carol):",
            *(f"  {line}" for line in self.readers),
        ]


async def seed_demo(readers: DemoServices | None = None) -> DemoSummary:
    """Load the demo network and staff into an empty database, in one transaction; if any library exists, load
    nothing but the demo readers a demo network lacks. With `readers`, the demo readers too, made through them
    (benchmarks load the network alone)."""
    if await Library.exists():
        return DemoSummary(loaded=False, readers=await _add_readers(readers) if readers is not None else ())
    drafts = list(_network(random.Random(_SEED)))
    staff = _staff(drafts)
    # Argon2 is slow on purpose: hash off the event loop and before the transaction, so its locks are held briefly.
    *password_hashes, enroller_hash = await asyncio.gather(
        *(asyncio.to_thread(hash_password, DEMO_PASSWORD) for _ in (*staff, ENROLLER))
    )
    async with in_transaction():
        # Checked again inside the transaction: another seeder may have won the race since the first look.
        if await Library.exists():
            return DemoSummary(loaded=False)
        for draft in drafts:  # parents first, through the same rules as staff edits
            await create_library(draft, scope_path=NETWORK_ROOT)
        libraries = {library.code: library for library in await Library.all()}
        for (username, display_name, role, library_code), password_hash in zip(staff, password_hashes, strict=True):
            await StaffUser.create(
                username=username,
                password_hash=password_hash,
                display_name=display_name,
                role=role,
                library=libraries[library_code],
            )
        records, copies = await seed_catalog(random.Random(_SEED))
        now = datetime.now(UTC)
        events = await seed_events(now)
        newborn = await seed_newborn(now, enroller_hash)
        reader_lines = await seed_readers(readers, now) if readers is not None else ()
    counts = Counter(draft.level for draft in drafts)
    return DemoSummary(
        loaded=True,
        counts={level: counts[level] for level in LibraryLevel},
        staff_usernames=(*(username for username, *_ in staff), ENROLLER),
        records=records,
        copies=copies,
        events=events,
        newborn_programme=newborn.name,
        readers=reader_lines,
    )


async def _add_readers(readers: DemoServices) -> tuple[str, ...]:
    """The demo readers, into a demo network loaded before they were part of it, in one transaction; nothing when the
    database is not the demo's or has them already."""
    try:
        async with in_transaction():
            # Seeders take turns on the central library's row: the second finds the readers the first made.
            central = await Library.select_for_update().get_or_none(code=_CENTRAL_CODE, level=LibraryLevel.CENTRAL)
            # The maternity hospital's enroller is made by the demo seed alone: no deployment gets demo readers.
            if central is None or not await StaffUser.exists(username=ENROLLER) or await have_readers():
                return ()
            return await seed_readers(readers, datetime.now(UTC))
    except DomainError as refused:  # the demo was used meanwhile: a book alice is to borrow is out, say
        return (f"not added, this demo database has changed since it was loaded: {refused}",)


def _network(rng: random.Random) -> Iterator[LibraryDraft]:
    """Every library of the demo network, each after its parent; all randomness comes from `rng`."""
    central_lat, central_lng = 30.945, 117.812
    yield LibraryDraft(
        code=_CENTRAL_CODE,
        name="铜陵市图书馆",
        level=LibraryLevel.CENTRAL,
        parent_code=None,
        latitude=central_lat,
        longitude=central_lng,
        address=f"{_PROVINCE_CITY}铜官区北京西路1号",
        opening_hours=_LIBRARY_HOURS,
        services=sorted(_CENTRAL_SERVICES),
    )
    # Swap cabinets hang off the central or a main library: their addresses and positions follow that parent.
    district_of = {_CENTRAL_CODE: ""}
    position_of = {_CENTRAL_CODE: (central_lat, central_lng)}
    for key, _, name, district, lat, lng, township_km, roads in _MAINS:
        main_code = f"{_CENTRAL_CODE}-{key}"
        district_of[main_code], position_of[main_code] = district, (lat, lng)
        yield LibraryDraft(
            code=main_code,
            name=name,
            level=LibraryLevel.MAIN,
            parent_code=_CENTRAL_CODE,
            latitude=lat,
            longitude=lng,
            address=_street(rng, district, roads),
            opening_hours=_LIBRARY_HOURS,
            services=sorted(_DESK_AND_EVENTS),
        )
        branches = [(branch, kind, points) for main_key, branch, kind, points in _BRANCHES if main_key == key]
        for number, (branch, kind, points) in enumerate(branches, start=1):
            code = f"{main_code}-B{number:02d}"
            town = branch.removesuffix("分馆") if kind == _TOWN else ""
            # Townships lie out in the county; reading points, schools and shops are in the district's town.
            b_lat, b_lng = _scatter(rng, lat, lng, *((township_km / 3, township_km) if town else (0.3, 3.0)))
            opening_hours, services = _BRANCH_KINDS[kind]
            yield LibraryDraft(
                code=code,
                name=f"{district}{branch}" if town else branch,
                level=LibraryLevel.BRANCH,
                parent_code=main_code,
                latitude=b_lat,
                longitude=b_lng,
                address=f"{_PROVINCE_CITY}{district}{town}综合文化站" if town else _street(rng, district, roads),
                opening_hours=opening_hours,
                services=sorted(services),
            )
            yield from _service_points(rng, code, b_lat, b_lng, f"{district}{town}", points, (0.8, 4.0))
        yield from _service_points(rng, main_code, lat, lng, district, _MAIN_POINTS.get(key, ""), (0.3, 2.5))
    for number, place in enumerate(_SELF_SERVICE.split(), start=1):
        s_lat, s_lng = _scatter(rng, central_lat, central_lng, 0.5, 5.0)
        yield LibraryDraft(
            code=f"{_CENTRAL_CODE}-SS{number:02d}",
            name=f"{place}24小时自助图书馆",
            level=LibraryLevel.SELF_SERVICE,
            parent_code=_CENTRAL_CODE,
            latitude=s_lat,
            longitude=s_lng,
            address=f"{_PROVINCE_CITY}{place}",
            opening_hours=_ROUND_THE_CLOCK,
            services=sorted(_UNATTENDED),
        )
    cabinets = [(parent_code, place) for parent_code, places in _SWAP_CABINETS for place in places.split()]
    for number, (parent_code, place) in enumerate(cabinets, start=1):
        c_lat, c_lng = _scatter(rng, *position_of[parent_code], 0.2, 4.0)
        yield LibraryDraft(
            code=f"{_CENTRAL_CODE}-SC{number:02d}",
            name=f"{place}漂流书巢",
            level=LibraryLevel.SWAP_CABINET,
            parent_code=parent_code,
            latitude=c_lat,
            longitude=c_lng,
            address=_PROVINCE_CITY + _within(district_of[parent_code], place),
            opening_hours=_ROUND_THE_CLOCK,
            services=sorted(_UNATTENDED),
        )


def _service_points(
    rng: random.Random, parent_code: str, lat: float, lng: float, area: str, points: str, km: tuple[float, float]
) -> Iterator[LibraryDraft]:
    """Village reading rooms (农家书屋) and community points, open a few afternoons a week."""
    for number, place in enumerate(points.split(), start=1):
        village = place.endswith("村")
        p_lat, p_lng = _scatter(rng, lat, lng, *km)
        yield LibraryDraft(
            code=f"{parent_code}-V{number:02d}",
            name=f"{place}农家书屋" if village else f"{place}服务点",
            level=LibraryLevel.SERVICE_POINT,
            parent_code=parent_code,
            latitude=p_lat,
            longitude=p_lng,
            address=f"{_PROVINCE_CITY}{area}{place}{'村委会' if village else '居委会'}",
            opening_hours=_week(rng.sample(_EVERY_DAY, 3), _VILLAGE_AFTERNOON),
            services=sorted(_DESK),
        )


def _staff(drafts: list[LibraryDraft]) -> list[tuple[str, str, StaffRole, str]]:
    """(username, display name, role, library code): one administrator per county library, few hashes to compute."""
    names = {draft.code: draft.name for draft in drafts}
    return [
        ("admin", "网络管理员", StaffRole.NETWORK_ADMIN, _CENTRAL_CODE),
        *(
            (f"{login}-admin", f"{name}管理员", StaffRole.LIBRARY_ADMIN, f"{_CENTRAL_CODE}-{key}")
            for key, login, name, *_ in _MAINS
        ),
        ("librarian", f"{names[_LIBRARIAN_AT]}馆员", StaffRole.LIBRARIAN, _LIBRARIAN_AT),
    ]


def _scatter(rng: random.Random, lat: float, lng: float, min_km: float, max_km: float) -> tuple[float, float]:
    """A point between `min_km` and `max_km` from (lat, lng) in a random direction."""
    bearing = rng.uniform(0.0, 2 * math.pi)
    km = rng.uniform(min_km, max_km)
    d_lat = km * math.cos(bearing) / _KM_PER_DEGREE_LATITUDE
    d_lng = km * math.sin(bearing) / (_KM_PER_DEGREE_LATITUDE * math.cos(math.radians(lat)))
    return round(lat + d_lat, 6), round(lng + d_lng, 6)


def _within(district: str, place: str) -> str:
    """A place's address inside its district, without saying the district twice ("义安区政务中心")."""
    return place if place.startswith(district) else f"{district}{place}"


def _street(rng: random.Random, district: str, roads: str) -> str:
    return f"{_PROVINCE_CITY}{district}{rng.choice(roads.split())}{rng.randint(1, 399)}号"
