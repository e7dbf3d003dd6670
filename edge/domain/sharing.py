"""Facade methods for sharing (issue [07]): transfers, district allocation, lent technicians, tool
loans and facility bookings. ``Node`` inherits them; each checks its rule inside the writing
transaction and writes the step and its stock movement together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crdt.ids import new_ulid
from edge.domain import lending, people, stock, transfers
from edge.domain.transfers import check_step
from edge.errors import InputError, InsufficientRights, InvalidTransition, ScopeForbidden, UnknownEntity
from edge.store.views import counter_value, rights

if TYPE_CHECKING:
    from edge.store import Store

__all__ = ["Sharing"]

DAY_MS = 24 * 3600 * 1000


class Sharing:
    """Mixin of ``Node``: needs ``store``, ``community``, ``role``, ``dev``, ``conn``, ``now_ms()``."""

    store: Store
    community: str
    role: str

    @property
    def dev(self) -> str:
        return self.store.ident.dev

    def now_ms(self) -> int:
        return self.store.wall()

    # --- transfers ------------------------------------------------------------------------------
    def _transfer(self, ref: str) -> dict[str, Any]:
        t = transfers.find_transfer(self.store.conn, ref)
        if t is None:
            raise UnknownEntity(f"no transfer {ref!r}")
        return t

    def request_transfer(
        self, sku: str, qty: int, src: str, *, note: str = "", dst: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Ask community ``src`` (or ``district``) for ``qty`` of ``sku``, for this community (or ``dst``)."""
        dst = dst or self.community
        if src == dst:
            raise InputError(f"a transfer needs two different communities, got {src} -> {dst}")
        if stock.find_item(self.store.conn, sku, [dst, "district", src]) is None:
            raise UnknownEntity(f"no item with sku {sku!r} in the catalogue")
        tid = transfers.transfer_id(src, dst, new_ulid(self.now_ms()))
        with self.store.tx() as tx:
            tx.emit(
                "district",
                "transfer.request",
                tid,
                {"sku": sku, "qty": qty, "src": src, "dst": dst, "note": note},
                actor,
            )
        return self._transfer(tid)

    def _step(self, ref: str, type_name: str, step: str, actor: str | None, note: str) -> dict[str, Any]:
        t = self._transfer(ref)
        side = t["dst"] if step in ("requested", "arrived") else t["src"]
        if self.role != "district" and side != self.community:
            raise ScopeForbidden(f"transfer step {step} belongs to community {side!r}, not {self.community!r}")
        try:
            check_step(t["step"], step)
        except InvalidTransition as exc:
            raise InvalidTransition(f"transfer {t['id']}: {exc}") from None
        with self.store.tx() as tx:
            if step == "approved":
                avail = counter_value(tx.conn, "stock", t["src"], t["sku"])
                if avail < t["qty"]:
                    raise InsufficientRights(
                        f"cannot approve {t['qty']} of {t['sku']}: community {t['src']} has {avail}"
                    )
            if step == "shipped":
                held = rights(tx.conn, "stock", t["src"], t["sku"], self.dev)
                if held < t["qty"]:
                    total = counter_value(tx.conn, "stock", t["src"], t["sku"])
                    raise InsufficientRights(
                        f"cannot ship {t['qty']} of {t['sku']}: stock {total}, of which this device may issue "
                        f"{held}; the request can no longer be met"
                    )
                tx.emit(
                    t["src"],
                    "stock.issue",
                    t["sku"],
                    {"sku": t["sku"], "qty": t["qty"], "reason": f"transfer {t['id']}"},
                    actor,
                )
            if step == "arrived":
                tx.emit(
                    t["dst"],
                    "stock.receive",
                    t["sku"],
                    {"sku": t["sku"], "qty": t["qty"], "reason": f"transfer {t['id']}"},
                    actor,
                )
            tx.emit("district", type_name, t["id"], {"note": note}, actor)
        return self._transfer(t["id"])

    def approve_transfer(self, ref: str, *, note: str = "", actor: str | None = None) -> dict[str, Any]:
        return self._step(ref, "transfer.approve", "approved", actor, note)

    def decline_transfer(self, ref: str, *, note: str = "", actor: str | None = None) -> dict[str, Any]:
        return self._step(ref, "transfer.decline", "declined", actor, note)

    def ship_transfer(self, ref: str, *, note: str = "", actor: str | None = None) -> dict[str, Any]:
        return self._step(ref, "transfer.ship", "shipped", actor, note)

    def arrive_transfer(self, ref: str, *, note: str = "", actor: str | None = None) -> dict[str, Any]:
        return self._step(ref, "transfer.arrive", "arrived", actor, note)

    def transfers(self, all_communities: bool = False) -> list[dict[str, Any]]:
        return transfers.list_transfers(self.store.conn, None if all_communities else self.community)

    # --- shared technicians ---------------------------------------------------------------------
    def _shared_tech(self, tech_id: str) -> dict[str, Any]:
        if self.role != "district":
            raise ScopeForbidden(f"shared technicians are lent by the district, not by community {self.community!r}")
        found = [t for t in people.list_techs(self.store.conn, ["district"]) if tech_id in (t["id"], t["name"])]
        if len(found) != 1:
            raise UnknownEntity(f"no single shared-pool technician {tech_id!r} (see 'linli-edge tech list')")
        return found[0]

    def lend_tech(self, tech_id: str, to: str, until_ms: int, *, actor: str | None = None) -> dict[str, Any]:
        """Lend a shared-pool technician to community ``to`` until ``until_ms`` (district only).

        A technician is lent to one community at a time: lending one that is lent elsewhere is refused
        until that loan ends (``end_tech_loan``); lending again to the same community changes the end.

        Raises:
            UnknownEntity: no such shared technician. InputError: an end in the past, or ``to`` is the
            district. InvalidTransition: lent to another community now. ScopeForbidden: not the district.
        """
        tech = self._shared_tech(tech_id)
        now = self.now_ms()
        if until_ms <= now:
            raise InputError(f"a loan must end in the future: {until_ms} is not after now ({now})")
        if until_ms > now + 366 * DAY_MS:
            raise InputError(f"a loan lasts at most a year; {until_ms} is {(until_ms - now) // DAY_MS} days away")
        if to == "district" or not to:
            raise InputError(f"a technician is lent to a community, not to {to!r}")
        with self.store.tx() as tx:
            current = [x for x in transfers.tech_loans(tx.conn, now) if x["tech"] == tech["id"] and x["active"]]
            if current and current[0]["to"] != to:
                raise InvalidTransition(
                    f"technician {tech['name']} is lent to {current[0]['to']} until {current[0]['until_ms']}; "
                    "end that loan first"
                )
            tx.emit("district", "tech.lend", tech["id"], {"to": to, "until_ms": until_ms}, actor)
        return {"tech": tech["id"], "name": tech["name"], "to": to, "until_ms": until_ms, "active": True}

    def end_tech_loan(self, tech_id: str, *, actor: str | None = None) -> dict[str, Any]:
        """End a shared technician's loan now (district only): the borrower's dispatcher stops using them.

        Raises:
            UnknownEntity: no such shared technician. InvalidTransition: not lent now.
        """
        tech = self._shared_tech(tech_id)
        now = self.now_ms()
        with self.store.tx() as tx:
            current = [x for x in transfers.tech_loans(tx.conn, now) if x["tech"] == tech["id"] and x["active"]]
            if not current:
                raise InvalidTransition(f"technician {tech['name']} is not lent to any community now")
            tx.emit("district", "tech.lend", tech["id"], {"to": current[0]["to"], "until_ms": now}, actor)
        return {"tech": tech["id"], "name": tech["name"], "to": current[0]["to"], "until_ms": now, "active": False}

    def lent_techs(self) -> dict[str, int]:
        """Shared technicians lent to this community now: ``{id: until_ms}``."""
        return transfers.lent_techs(self.store.conn, self.community, self.now_ms())

    def tech_loans(self) -> list[dict[str, Any]]:
        """Loans of shared technicians: every loan on the district, those to this community elsewhere."""
        loans = transfers.tech_loans(self.store.conn, self.now_ms())
        return loans if self.role == "district" else [x for x in loans if x["to"] == self.community]

    # --- tools and facilities -------------------------------------------------------------------
    def lend_tool(self, sku: str, household: str, days: int = 7, *, actor: str | None = None) -> dict[str, Any]:
        """Lend a tool to a household (within this device's stock rights), due in ``days``."""
        item = stock.find_item(self.store.conn, sku, [self.community, "district"])
        if item is None or item["kind"] != "tool":
            raise UnknownEntity(f"no tool with sku {sku!r}")
        if people.find_household(self.store.conn, self.community, household) is None:
            raise UnknownEntity(f"no household {household!r} in community {self.community}")
        if not 1 <= days <= 60:
            raise InputError(f"a loan lasts 1 to 60 days, not {days}")
        loan = new_ulid(self.now_ms())
        with self.store.tx() as tx:
            held = rights(tx.conn, "stock", self.community, sku, self.dev)
            if held < 1:
                raise InsufficientRights(f"no {sku} on hand to lend (this device may issue {held})")
            tx.emit(
                self.community,
                "stock.issue",
                sku,
                {"sku": sku, "qty": 1, "household": household, "reason": f"loan {loan}"},
                actor,
            )
            tx.emit(
                self.community,
                "tool.lend",
                loan,
                {"sku": sku, "household": household, "due_ms": self.now_ms() + days * DAY_MS},
                actor,
            )
        return self._loan(loan)

    def _loan(self, loan: str) -> dict[str, Any]:
        for entry in lending.loans(self.store.conn, self.community):
            if entry["id"] == loan:
                return entry
        raise UnknownEntity(f"no loan {loan!r}")

    def return_tool(self, loan: str, *, actor: str | None = None) -> dict[str, Any]:
        entry = self._loan(loan)
        if entry["returned_ms"] is not None:
            raise InvalidTransition(f"loan {loan} was already returned")
        with self.store.tx() as tx:
            tx.emit(self.community, "tool.return", loan, {}, actor)
            tx.emit(
                self.community,
                "stock.receive",
                entry["sku"],
                {"sku": entry["sku"], "qty": 1, "reason": f"return {loan}"},
                actor,
            )
        return self._loan(loan)

    def loans(self, overdue: bool = False) -> list[dict[str, Any]]:
        if overdue:
            return lending.loans(self.store.conn, self.community, overdue_at=self.now_ms())
        return lending.loans(self.store.conn, self.community, open_only=True)

    def book(self, facility: str, slot: str, household: str, *, actor: str | None = None) -> dict[str, Any]:
        """Book a facility slot (``YYYY-MM-DDTHH:MM``); refused if this node already sees it taken."""
        if people.find_household(self.store.conn, self.community, household) is None:
            raise UnknownEntity(f"no household {household!r} in community {self.community}")
        taken = [
            b
            for b in lending.bookings(self.store.conn, self.community, facility)
            if b["slot"] == slot and b["status"] == "confirmed"
        ]
        if taken:
            raise InvalidTransition(f"{facility} at {slot} is already booked")
        bid = new_ulid(self.now_ms())
        with self.store.tx() as tx:
            tx.emit(
                self.community, "booking.make", bid, {"facility": facility, "slot": slot, "household": household}, actor
            )
        return next(b for b in lending.bookings(self.store.conn, self.community) if b["id"] == bid)

    def cancel_booking(self, booking: str, *, reason: str = "", actor: str | None = None) -> dict[str, Any]:
        """Cancel a booking (a bumped one too); the slot goes to the next booking for it, if any.

        Raises:
            UnknownEntity: no such booking. InvalidTransition: already cancelled.
        """
        found = [b for b in lending.bookings(self.store.conn, self.community) if b["id"] == booking]
        if not found:
            raise UnknownEntity(f"no booking {booking!r} in community {self.community}")
        if found[0]["status"] == "cancelled":
            raise InvalidTransition(f"booking {booking} is already cancelled")
        with self.store.tx() as tx:
            tx.emit(self.community, "booking.cancel", booking, {"reason": reason}, actor)
        return next(b for b in lending.bookings(self.store.conn, self.community) if b["id"] == booking)

    def bookings(self, facility: str | None = None) -> list[dict[str, Any]]:
        return lending.bookings(self.store.conn, self.community, facility)
