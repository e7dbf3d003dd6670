"""Realistic demo data for a community node and for the district, written through the ``Node`` API.

``make demo`` seeds three communities and the district with these; the PINs below are for the demo
only (every seeded household PIN is :data:`HOUSEHOLD_PIN`; staff ids and PINs are in :data:`STAFF`).
Everything random comes from the ``rng`` passed in, so one seed gives the same people and stock.
"""

from __future__ import annotations

import random
from typing import Any

from edge import Node

from .errors import UsageError

__all__ = ["HOUSEHOLD_PIN", "STAFF", "seed_community", "seed_district"]

HOUSEHOLD_PIN = "1234"
"""The PIN of every seeded household that has one (demo only)."""

STAFF: tuple[tuple[str, str, str, str], ...] = (
    ("1001", "2468", "staff", "张敏"),
    ("1002", "1357", "staff", "李娜"),
    ("9001", "8642", "manager", "刘建华"),
)
"""Seeded staff: ``(staff id, PIN, role, name)`` (demo only)."""

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = (
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "建国",
    "淑珍",
    "玉兰",
    "志强",
    "海燕",
    "国强",
    "春梅",
    "小红",
)
_VULNERABLE = (
    ["elderly_alone"], ["elderly_alone"], ["elderly_alone"], ["elderly_alone", "chronic_illness"],
    ["disabled"], ["disabled"], ["infant"],
)  # fmt: skip

_TECHS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("core", ("water", "gas", "electrical", "door"), ("gas", "electrical")),
    ("core", ("electrical", "lift", "fire", "structure"), ("electrical", "lift")),
    ("core", ("water", "structure", "door", "common"), ()),
    ("certified", ("electrical", "common"), ("electrical",)),
    ("certified", ("gas", "water"), ("gas",)),
    ("volunteer", ("common", "pests", "other"), ()),
    ("volunteer", ("door", "common"), ()),
    ("volunteer", ("pests", "other"), ()),
)
"""``(tier, skills, certifications)`` of the seeded technicians."""

_ITEMS: tuple[tuple[str, str, str, str, bool, int | None, int, int], ...] = (
    # sku, name_zh, name_en, kind, emergency, ration, reorder, received
    ("PIPE-CPL-15", "15mm 铜管接头", "15 mm pipe coupling", "part", False, None, 5, 20),
    ("TAP-WASHER", "水龙头垫圈", "Tap washer", "part", False, None, 10, 50),
    ("FUSE-16A", "16A 保险丝", "16 A fuse", "part", False, None, 5, 30),
    ("SOCKET-86", "86型插座", "Wall socket (86 type)", "part", False, None, 4, 12),
    ("LOCK-CYL", "防盗门锁芯", "Door lock cylinder", "part", False, None, 2, 6),
    ("BULB-LED9", "LED 灯泡 9W", "LED bulb 9 W", "part", False, None, 10, 40),
    ("GAS-HOSE", "燃气软管 1.5m", "Gas hose 1.5 m", "part", False, None, 2, 8),
    ("WATER-5L", "瓶装水 5L", "Bottled water 5 L", "supply", True, 2, 20, 120),
    ("NOODLE-BOX", "方便面（箱）", "Instant noodles (box)", "supply", True, 1, 10, 40),
    ("BATT-AA", "5号电池", "AA battery", "supply", True, 4, 20, 200),
    ("CANDLE", "应急蜡烛", "Emergency candle", "supply", True, 2, 10, 60),
    ("BLANKET", "保暖毯", "Blanket", "supply", True, 1, 5, 25),
    ("DRILL", "电钻", "Power drill", "tool", False, None, 0, 2),
    ("LADDER-2M", "2米人字梯", "Step ladder 2 m", "tool", False, None, 0, 2),
    ("PLUNGER", "马桶疏通器", "Plunger", "tool", False, None, 0, 3),
    ("PIPE-WRENCH", "管钳", "Pipe wrench", "tool", False, None, 0, 2),
)

_AWARDS = ("楼道清洁志愿服务", "帮助独居老人买菜", "夜间安全巡逻", "协助维修", "垃圾分类督导")


def _name(rng: random.Random, taken: set[str]) -> str:
    for _ in range(1000):
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        if name not in taken:
            taken.add(name)
            return name
    raise UsageError("ran out of distinct names for the demo data")


def _phone(rng: random.Random) -> str:
    return rng.choice(("138", "139", "158", "186", "177", "135")) + f"{rng.randrange(10**8):08d}"


def _units(rng: random.Random, n: int) -> list[str]:
    units = {"3-201"}
    while len(units) < n:
        units.add(f"{rng.randint(1, 6)}-{rng.randint(1, 18)}{rng.randint(1, 4):02d}")
    return ["3-201", *sorted(units - {"3-201"}, key=lambda u: (int(u.split("-")[0]), int(u.split("-")[1])))]


def seed_community(node: Node, community: str, rng: random.Random) -> dict[str, Any]:
    """Fill a fresh community node with households, staff, technicians, stock, tickets, points, notices.

    Args:
        node: a community node (``Node.init(dir, community)``) with nothing in it yet.
        community: its community id (checked against the node).
        rng: the source of every random choice.

    Returns:
        A summary: ``{community, households, pin_units, household_pin, staff, techs, items, tickets}``.

    Raises:
        UsageError: the node belongs to another community.
        edge.EdgeError: the node already holds some of this data.
    """
    if node.community != community:
        raise UsageError(f"the node belongs to community {node.community!r}, not {community!r}")
    boss = f"staff:{STAFF[0][0]}"
    for staff_id, pin, role, name in STAFF:
        node.add_staff(staff_id, pin, role=role, name=name)
    taken: set[str] = set()
    units = _units(rng, 20)
    vulnerable = {units[0]: ["elderly_alone"]}
    for unit, flags in zip(rng.sample(units[1:], len(_VULNERABLE)), _VULNERABLE, strict=True):
        vulnerable[unit] = flags
    pin_units = [u for i, u in enumerate(units) if i % 2 == 0]
    for unit in units:
        node.add_household(
            unit,
            vulnerable=vulnerable.get(unit),
            pin=HOUSEHOLD_PIN if unit in pin_units else None,
            name=_name(rng, taken),
            phone=_phone(rng),
            actor=boss,
        )
    techs = []
    for tier, skills, certs in _TECHS:
        pos = (rng.randrange(0, 400), rng.randrange(0, 400))
        techs.append(
            node.add_tech(
                _name(rng, taken), list(skills), tier, certs=list(certs), pos=pos, phone=_phone(rng), actor=boss
            )
        )
    for sku, name_zh, name_en, kind, emergency, ration, reorder, received in _ITEMS:
        node.add_item(sku, name_zh, name_en, kind=kind, emergency=emergency, ration=ration, reorder=reorder, actor=boss)
        node.receive(sku, received + rng.randrange(0, max(1, received // 4) + 1), reason="initial stock", actor=boss)
    codes = _tickets(node, units, techs, boss, rng)
    for unit in rng.sample(units, 8):
        node.award(unit, rng.choice((10, 20, 30, 50, 80)), rng.choice(_AWARDS), actor=boss)
    node.award(units[0], 60, "协助维修", actor=boss)
    node.redeem(units[0], 20, "bike_repair", actor=f"household:{units[0]}")
    node.post_notice(
        "周三停水通知",
        "Water off on Wednesday",
        "因管道检修，本周三 9:00-15:00 3 号楼、4 号楼停水，请提前储水。",
        "Buildings 3 and 4 have no water on Wednesday 9:00-15:00 for pipe repairs. Please store some water.",
        actor=boss,
    )
    node.post_notice(
        "消防演练",
        "Fire drill",
        "本月 20 日上午 10 点进行消防疏散演练，请听从楼长指挥。",
        "Fire evacuation drill on the 20th at 10:00. Please follow your building warden.",
        actor=boss,
    )
    return {
        "community": community,
        "households": len(units),
        "pin_units": pin_units,
        "household_pin": HOUSEHOLD_PIN,
        "staff": [{"id": s, "pin": p, "role": r} for s, p, r, _ in STAFF],
        "techs": len(techs),
        "items": len(_ITEMS),
        "tickets": codes,
    }


def _tickets(node: Node, units: list[str], techs: list[dict[str, Any]], boss: str, rng: random.Random) -> list[str]:
    """A few open tickets at different stages, one resolved and rated, one closed."""
    by_tier = {t["tier"]: t for t in reversed(techs)}
    core_gas, core_lift, core_general = techs[0], techs[1], techs[2]
    plan: list[tuple[str, str, dict[str, bool], list[tuple[str, str]]]] = [
        ("water", "卫生间水管爆裂，水流到客厅", {"water_spreading": True}, []),
        ("electrical", "厨房插座冒火花后跳闸", {"fire_or_sparking": True}, [("triage", "")]),
        (
            "lift",
            "2 号楼电梯停在 7 楼不动",
            {"someone_trapped": False},
            [("assign", core_lift["id"]), ("en_route", "")],
        ),
        ("door", "单元门锁坏了，关不上", {"door_wont_lock": True}, [("assign", core_general["id"])]),
        ("common", "5 楼楼道灯不亮", {}, [("assign", by_tier["volunteer"]["id"]), ("on_site", "")]),
        ("gas", "燃气灶打不着火", {"gas_smell": False}, [("assign", core_gas["id"]), ("resolved", ""), ("rate", "4")]),
        ("pests", "垃圾房有老鼠", {}, [("assign", by_tier["volunteer"]["id"]), ("resolved", ""), ("closed", "")]),
    ]
    reporters = rng.sample(units, len(plan))
    codes = []
    for (category, text, answers, steps), unit in zip(plan, reporters, strict=True):
        t = node.report(unit, category, text, household=unit, answers=answers)
        codes.append(str(t["code"]))
        for step, arg in steps:
            if step == "assign":
                node.assign(t["id"], arg, actor=boss)
            elif step == "triage":
                node.advance(t["id"], "triaged", actor=boss)
            elif step == "rate":
                node.rate(t["id"], int(arg))
            else:
                node.advance(t["id"], step, actor=boss)
        if category == "door":
            node.issue("LOCK-CYL", 1, ticket=t["id"], reason="repair", actor=boss)
            node.comment(t["id"], "已更换锁芯，等待住户确认", actor=boss)
    return codes


def seed_district(node: Node) -> dict[str, Any]:
    """District-wide catalogue items with stock, shared-pool technicians and notices (scope ``district``).

    Raises:
        UsageError: ``node`` is not a district node.
    """
    if node.role != "district":
        raise UsageError(f"seed_district needs a district node, got role {node.role!r}")
    actor = "district:admin"
    items = (
        ("D-SANDBAG", "防汛沙袋", "Flood sandbag", "supply", True, 10, 500),
        ("D-FIRSTAID", "家庭急救包", "First-aid kit", "supply", True, 1, 200),
        ("D-TARP", "防水篷布 4x6m", "Tarpaulin 4x6 m", "supply", True, 1, 100),
        ("D-GEN-2KW", "2kW 应急发电机", "Generator 2 kW", "tool", False, None, 6),
        ("D-PUMP", "排水泵", "Drainage pump", "tool", False, None, 8),
    )
    for sku, name_zh, name_en, kind, emergency, ration, qty in items:
        node.add_item(
            sku, name_zh, name_en, kind=kind, emergency=emergency, ration=ration, scope="district", actor=actor
        )
        node.receive(sku, qty, reason="district warehouse", scope="district", actor=actor)
    node.add_tech("周工（电梯维保）", ["lift"], "core", certs=["lift"], shared=True, phone="13900000001", actor=actor)
    node.add_tech(
        "吴工（燃气抢修）", ["gas", "water"], "core", certs=["gas"], shared=True, phone="13900000002", actor=actor
    )
    node.post_notice(
        "台风黄色预警",
        "Typhoon yellow warning",
        "预计明晚台风登陆，请收好阳台物品，关好门窗，非必要不外出。",
        "A typhoon is expected tomorrow night. Bring in balcony items, close windows and stay indoors.",
        scope="district",
        actor=actor,
    )
    node.post_notice(
        "燃气安全检查",
        "Gas safety checks",
        "本月起街道组织入户燃气安全检查，检查人员持证上岗，不收取任何费用。",
        "Free gas safety checks at home start this month; inspectors carry ID and never ask for money.",
        scope="district",
        actor=actor,
    )
    return {"items": len(items), "techs": 2, "notices": 2}
