"""The staff screen that moves a household's points rights to another device of the community."""

from __future__ import annotations

from typing import Any

from edge import Node
from kiosk_ui.screens.rights import RightsScreen
from kiosk_ui.screens.staff_menu import StaffMenuScreen

from .conftest import SIZE, run, screen_text
from .test_staff import _sign_in


def _another_kiosk(node: Node) -> str:
    """Enrol a second kiosk of the node's community as the district would (a ``device.enroll`` op)."""
    from crdt.keys import DeviceKey

    key = DeviceKey.generate()
    with node.store.tx() as tx:
        tx.conn.execute(
            "INSERT INTO devices (dev, scope, pubkey, community, role, name, stamps) VALUES (?,?,?,?,?,?,?)",
            (key.device_id, "district", key.public_bytes, node.community, "kiosk", "lobby-2", "{}"),
        )
    return key.device_id


def test_staff_move_points_rights_to_another_kiosk_and_a_typo_is_refused(make_app, node: Node) -> None:
    other = _another_kiosk(node)
    unit = node.households()[0]["unit"]
    node.award(unit, 12, "patrol")

    async def go() -> tuple[str, str, int]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            menu = app.screen
            assert isinstance(menu, StaffMenuScreen)
            menu.action_open("rights")
            await pilot.pause()
            screen: Any = app.screen
            assert isinstance(screen, RightsScreen)
            screen.values.update({"rights-household": unit, "rights-points": "5", "rights-device": "typo"})
            screen.move()
            await pilot.pause()
            refused = screen_text(app)
            await pilot.click(f"#dev-{other}")
            screen.move()
            await pilot.pause()
            return refused, screen_text(app), node.balance(unit)["spendable_here"]

    refused, done, left = run(go())
    assert "no enrolled device 'typo'" in refused
    assert "Moved the rights to 5 points" in done
    assert left == node.balance(unit)["balance"] - 5
