"""Random actions for the convergence simulation: every op type, written through the node's own
rules (the facade, or ``Tx.emit`` after the same checks for types the facade does not write)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Any

from edge.domain.fields import CATEGORIES
from edge.domain.tickets import STAGES
from edge.node import Node
from edge.store.views import rights

Action = Callable[[random.Random, Node, "Peers"], Any]


class Peers:
    """What an action may refer to: the devices of each community."""

    def __init__(self, devices: dict[str, list[str]]) -> None:
        self.devices = devices

    def other_device(self, rng: random.Random, node: Node) -> str:
        mates = [d for d in self.devices.get(node.community, []) if d != node.dev]
        return rng.choice(mates) if mates else node.dev


def _pick(rng: random.Random, rows: list[dict[str, Any]], key: str = "id") -> Any:
    if not rows:
        raise LookupError("nothing to pick")
    return rng.choice(rows)[key]


def _unit(rng: random.Random, node: Node) -> str:
    return str(_pick(rng, node.households()))


def _ticket(rng: random.Random, node: Node) -> dict[str, Any]:
    found = node.tickets()
    if not found:
        raise LookupError("no ticket")
    return rng.choice(found)


def household_add(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.add_household(f"{rng.randint(1, 9)}-{rng.randint(100, 130)}", vulnerable=rng.choice([[], ["disabled"]]))


def household_register(rng: random.Random, node: Node, peers: Peers) -> Any:
    """A community's household register, imported at setup (one op per household)."""
    for i in range(REGISTER_SIZE):
        node.add_household(f"{20 + i // 50}-{300 + i % 50}")


REGISTER_SIZE = 150


def household_update(rng: random.Random, node: Node, peers: Peers) -> Any:
    unit = _unit(rng, node)
    with node.store.tx() as tx:
        tx.emit(node.community, "household.update", unit, {"phone": f"138{rng.randint(10**7, 10**8 - 1)}"})


def report(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.report(_unit(rng, node), rng.choice(CATEGORIES), "something broke", urgency=rng.choice(["P2", "P3"]))


def advance(rng: random.Random, node: Node, peers: Peers) -> Any:
    """Mostly the next stage of an open ticket (so tickets reach closed), sometimes any stage."""
    t = _ticket(rng, node)
    open_ = [x for x in node.tickets() if x["stage"] not in ("closed", "cancelled")]
    if open_ and rng.random() < 0.7:
        t = rng.choice(open_)
        forward = [s for s in STAGES[STAGES.index(t["stage"]) + 1 :] if s != "cancelled"]
        roll = rng.random()
        done = "closed" if t["stage"] == "resolved" else "resolved"
        stage = forward[0] if roll < 0.4 else done if roll < 0.8 else rng.choice(forward)
        return node.advance(t["id"], stage)
    return node.advance(t["id"], rng.choice([*STAGES[1:], "reopen"]))


def assign(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.assign(_ticket(rng, node)["id"], _pick(rng, node.techs()))


def comment(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.comment(_ticket(rng, node)["id"], f"note {rng.randint(0, 999)}")


def hold(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.hold(_ticket(rng, node)["id"], rng.choice(["no_access", "awaiting_parts", None]))


def rate(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.rate(_ticket(rng, node)["id"], rng.randint(1, 5))


def ticket_raw(rng: random.Random, node: Node, peers: Peers) -> Any:
    t = _ticket(rng, node)
    kind = rng.choice(["ticket.update", "ticket.photo"])
    data = (
        {"urgency": rng.choice(["P1", "P2", "P3", "P4"])}
        if kind == "ticket.update"
        else {"sha256": hashlib.sha256(rng.randbytes(8)).hexdigest()}
    )
    with node.store.tx() as tx:
        tx.emit(t["scope"], kind, t["id"], data)


def item_add(rng: random.Random, node: Node, peers: Peers) -> Any:
    kind = rng.choice(["part", "tool", "supply"])
    return node.add_item(f"{kind[0].upper()}{rng.randint(1, 6)}", "零件", "Part", kind=kind)


def item_update(rng: random.Random, node: Node, peers: Peers) -> Any:
    sku = _pick(rng, [i for i in node.items() if i["scope"] == node.community], "sku")
    with node.store.tx() as tx:
        tx.emit(node.community, "item.update", sku, {"reorder": rng.randint(0, 9)})


def receive(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.receive(_pick(rng, node.items(), "sku"), rng.randint(1, 6))


def issue(rng: random.Random, node: Node, peers: Peers) -> Any:
    ticket = _ticket(rng, node)["id"] if node.tickets() and rng.random() < 0.5 else None
    return node.issue(_pick(rng, node.items(), "sku"), rng.randint(1, 3), ticket=ticket)


def move_stock(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.move_stock_rights(_pick(rng, node.items(), "sku"), rng.randint(1, 3), peers.other_device(rng, node))


def award(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.award(_unit(rng, node), rng.randint(1, 10), "volunteering")


def redeem(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.redeem(_unit(rng, node), rng.randint(1, 8), "tool loan")


def move_points(rng: random.Random, node: Node, peers: Peers) -> Any:
    unit = _unit(rng, node)
    n = rng.randint(1, 4)
    with node.store.tx() as tx:
        if rights(tx.conn, "points", node.community, unit, node.dev) < n:
            raise LookupError("not enough rights to move")
        tx.emit(node.community, "points.rights", unit, {"household": unit, "n": n, "to": peers.other_device(rng, node)})


def tech_add(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.add_tech(f"tech{rng.randint(0, 99)}", [rng.choice(CATEGORIES)], rng.choice(["core", "volunteer"]))


def tech_status(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.tech_status(_pick(rng, node.techs()), rng.choice(["available", "busy", "off"]))


def staff_add(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.add_staff(f"s{rng.randint(0, 50)}", "1234")


def notice(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.post_notice("通知", "Notice", "内容", "Body")


def mode(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.set_mode(rng.choice(["normal", "emergency"]), reason="drill")


def transfer_request(rng: random.Random, node: Node, peers: Peers) -> Any:
    others = [c for c in peers.devices if c != node.community]
    src = "district" if rng.random() < 0.5 else rng.choice(others)
    sku = _pick(rng, [i for i in node.items() if i["scope"] == "district"], "sku")
    return node.request_transfer(sku, rng.randint(1, 3), src)


def transfer_step(rng: random.Random, node: Node, peers: Peers) -> Any:
    """The next step of a transfer this community takes part in (as the lattice allows); mostly one
    whose next step is this community's, so that transfers reach arrived."""
    mine = [t for t in node.transfers(all_communities=True) if node.community in (t["src"], t["dst"])]
    if not mine:
        raise LookupError("no transfer")
    ready = [t for t in mine if _my_step(t, node.community)]
    t = rng.choice(ready if ready and rng.random() < 0.9 else mine)
    if t["src"] == node.community and t["step"] == "requested":
        step = node.decline_transfer if rng.random() < 0.2 else node.approve_transfer
    elif t["src"] == node.community and t["step"] == "approved":
        step = node.ship_transfer
    elif t["dst"] == node.community and t["step"] == "shipped":
        step = node.arrive_transfer
    else:
        raise LookupError("no step for this community")
    return step(t["id"])


def _my_step(t: dict[str, Any], community: str) -> bool:
    """Whether the next step of transfer ``t`` is written by ``community``."""
    if t["src"] == community:
        return bool(t["step"] in ("requested", "approved"))
    return bool(t["dst"] == community and t["step"] == "shipped")


def hold_rights(rng: random.Random, node: Node, peers: Peers) -> Any:
    """Receive stock and award points, so that this device holds rights when it is lost."""
    node.receive("DP1", rng.randint(3, 6))
    return node.award(_unit(rng, node), rng.randint(3, 6), "volunteering")


def lend_tool(rng: random.Random, node: Node, peers: Peers) -> Any:
    tools = [i["sku"] for i in node.items() if i["kind"] == "tool"]
    held = [s for s in tools if rights(node.conn, "stock", node.community, s, node.dev) > 0]
    if tools and not held and rng.random() < 0.7:
        sku = rng.choice(tools)
        node.receive(sku, 1, reason="donated")
        held = [sku]
    if held:
        tools = held
    return node.lend_tool(_pick(rng, [{"id": s} for s in tools]), _unit(rng, node), days=rng.randint(1, 14))


def return_tool(rng: random.Random, node: Node, peers: Peers) -> Any:
    """Mostly a loan still out, so that loans are returned."""
    out = [x for x in node.loans() if x["returned_ms"] is None]
    return node.return_tool(_pick(rng, out if out and rng.random() < 0.9 else node.loans()))


def book(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.book("hall", f"2026-06-0{rng.randint(1, 3)}T1{rng.randint(0, 2)}:00", _unit(rng, node))


def cancel_booking(rng: random.Random, node: Node, peers: Peers) -> Any:
    booking = _pick(rng, node.bookings())
    with node.store.tx() as tx:
        tx.emit(node.community, "booking.cancel", booking, {"reason": "plans changed"})


COMMUNITY_ACTIONS: list[tuple[Action, int]] = [
    (household_add, 6),
    (household_update, 1),
    (report, 6),
    (advance, 5),
    (assign, 3),
    (comment, 3),
    (hold, 1),
    (rate, 1),
    (ticket_raw, 1),
    (item_add, 1),
    (item_update, 1),
    (receive, 4),
    (issue, 4),
    (move_stock, 2),
    (award, 5),
    (redeem, 5),
    (move_points, 2),
    (tech_add, 1),
    (tech_status, 2),
    (staff_add, 1),
    (notice, 1),
    (mode, 1),
    (transfer_request, 3),
    (transfer_step, 10),
    (lend_tool, 3),
    (return_tool, 3),
    (book, 2),
    (cancel_booking, 1),
]


def district_item(rng: random.Random, node: Node, peers: Peers) -> Any:
    kind = rng.choice(["part", "tool", "supply"])
    return node.add_item(f"D{kind[0].upper()}{rng.randint(1, 5)}", "物资", "Supply", kind=kind, scope="district")


def district_part(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.add_item("DP1", "水管", "Pipe", kind="part", scope="district")


def district_tool(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.add_item("DT1", "电钻", "Drill", kind="tool", scope="district")


def district_tech(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.add_tech(
        f"pool{rng.randint(0, 20)}", ["water", "electrical"], "core", certs=["electrical"], shared=True
    )


def district_lend(rng: random.Random, node: Node, peers: Peers) -> Any:
    shared = [t for t in node.techs() if t["scope"] == "district"]
    return node.lend_tech(_pick(rng, shared), rng.choice(list(peers.devices)), node.now_ms() + 86_400_000)


def district_stock(rng: random.Random, node: Node, peers: Peers) -> Any:
    community = rng.choice(list(peers.devices))
    sku = _pick(rng, [i for i in node.items() if i["scope"] == "district"], "sku")
    node.receive(sku, rng.randint(2, 8), scope=community)
    kiosk = rng.choice(peers.devices[community])
    return node.move_stock_rights(sku, rng.randint(1, 2), kiosk, scope=community)


def district_transfer_step(rng: random.Random, node: Node, peers: Peers) -> Any:
    """The district warehouse's next step of a transfer from it: approve (stocking up first), ship."""
    ready = [t for t in node.transfers(all_communities=True) if t["src"] == "district"]
    ready = [t for t in ready if t["step"] in ("requested", "approved")]
    if not ready:
        raise LookupError("no transfer from the district to move on")
    t = rng.choice(ready)
    if t["step"] == "requested":
        if rights(node.conn, "stock", "district", t["sku"], node.dev) < t["qty"]:
            node.receive(t["sku"], t["qty"] + rng.randint(0, 5), scope="district")
        return node.approve_transfer(t["id"])
    return node.ship_transfer(t["id"])


def district_notice(rng: random.Random, node: Node, peers: Peers) -> Any:
    return node.post_notice("区通知", "District notice", "内容", "Body", scope="district")


DISTRICT_ACTIONS: list[tuple[Action, int]] = [
    (district_item, 2),
    (district_tech, 1),
    (district_lend, 1),
    (district_stock, 3),
    (district_transfer_step, 4),
    (district_notice, 1),
]


def choose(rng: random.Random, table: list[tuple[Action, int]]) -> Action:
    actions, weights = zip(*table, strict=True)
    chosen: Action = rng.choices(actions, weights)[0]
    return chosen
