"""No stranded rights: rights move only to a device that can spend them, points rights move at all, and
the district hands a revoked device's rights on at its revocation (``linli-server revoke --rights-to``).

Regressions of issue 13 ("Stranded rights"): ``move_stock_rights`` accepted a typo, another community's
kiosk or a revoked kiosk as target; points rights could not be moved by any command; a revoked kiosk's
stock and points could never be spent again, yet the district counted its units as available.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge import InsufficientRights, Node, ScopeForbidden, UnknownEntity
from edge.cli.main import main as edge_main
from sync_server.admin import revoke
from sync_server.availability import availability
from tests.helpers import make_community, make_district, relay


def _world(tmp_path: Path) -> tuple[Node, Node, Node, Node]:
    district = make_district(tmp_path)
    k1 = make_community(tmp_path, district, "a", "k1")
    k2 = make_community(tmp_path, district, "a", "k2")
    other = make_community(tmp_path, district, "b", "b1")
    relay(district, k1)
    return district, k1, k2, other


def _stocked(k1: Node) -> None:
    k1.add_item("FUSE", "保险丝", "Fuse")
    k1.receive("FUSE", 10)
    k1.add_household("1-101")
    k1.award("1-101", 30, "stairwell cleaning")


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        ("typo", UnknownEntity, "no enrolled device 'typo'"),
        ("other", ScopeForbidden, "belongs to community 'b'"),
        ("revoked", ScopeForbidden, "is revoked"),
        ("self", Exception, "already holds"),
    ],
)
def test_a_rights_move_to_a_device_that_could_never_spend_them_is_refused_and_writes_nothing(
    tmp_path: Path, target: str, error: type[Exception], message: str
) -> None:
    district, k1, k2, other = _world(tmp_path)
    _stocked(k1)
    if target == "revoked":
        revoke(district, k2.dev, reason="broken")
        relay(district, k1)
    to = {"typo": "typo", "other": other.dev, "revoked": k2.dev, "self": k1.dev}[target]
    before = k1.store.op_count()
    with pytest.raises(error, match=message):
        k1.move_stock_rights("FUSE", 2, to)
    with pytest.raises(error, match=message):
        k1.move_points_rights("1-101", 5, to)
    assert k1.store.op_count() == before
    for n in (district, k1, k2, other):
        n.close()


def test_points_rights_move_to_another_kiosk_which_then_redeems_them_offline(tmp_path: Path) -> None:
    district, k1, k2, other = _world(tmp_path)
    _stocked(k1)
    assert k1.move_points_rights("1-101", 20, k2.dev, actor="mgr")["spendable_here"] == 10
    with pytest.raises(InsufficientRights, match="this device holds 10"):
        k1.move_points_rights("1-101", 11, k2.dev)
    relay(k1, district)
    relay(district, k2)
    assert k2.balance("1-101")["spendable_here"] == 20
    assert k2.redeem("1-101", 20, "rice")["balance"] == 10
    for n in (district, k1, k2, other):
        n.close()


def test_the_cli_moves_points_rights_and_refuses_a_foreign_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    district, k1, k2, other = _world(tmp_path)
    _stocked(k1)
    data = str(k1.data_dir)
    k1.close()
    assert edge_main(["points", "move-rights", "1-101", "5", "--to", k2.dev, "--data", data, "--json"]) == 0
    assert edge_main(["points", "move-rights", "1-101", "5", "--to", other.dev, "--data", data]) == 1
    assert "belongs to community 'b'" in capsys.readouterr().err
    assert edge_main(["stock", "move-rights", "FUSE", "3", "--to", k2.dev, "--data", data]) == 0
    for n in (district, k2, other):
        n.close()


def test_revoke_with_rights_to_hands_a_lost_kiosks_stock_and_points_to_its_replacement(tmp_path: Path) -> None:
    district, k1, k2, other = _world(tmp_path)
    _stocked(k1)
    k1.issue("FUSE", 3)
    k1.redeem("1-101", 5, "soap")
    relay(k1, district)
    # The kiosk is destroyed. Until its rights are handed on, its units are not available to ship.
    revoke(district, k1.dev, reason="destroyed")
    row = availability(district.conn, "FUSE")
    assert row is not None and {"community": "a", "qty": 0, "stranded": 7, "reorder": 0} in row["communities"]
    with pytest.raises(ScopeForbidden, match="belongs to community 'b'"):
        revoke(district, k1.dev, rights_to=other.dev)
    out = revoke(district, k1.dev, rights_to=k2.dev)
    assert out["already"] and {(m["kind"], m["key"], m["n"]) for m in out["rights_moved"]} == {
        ("stock", "FUSE", 7),
        ("points", "1-101", 25),
    }
    row = availability(district.conn, "FUSE")
    assert row is not None and {"community": "a", "qty": 7, "stranded": 0, "reorder": 0} in row["communities"]
    relay(district, k2)
    assert k2.issue("FUSE", 7)["qty"] == 0
    assert k2.redeem("1-101", 25, "rice")["balance"] == 0
    assert k2.rebuild()["same"] and district.rebuild()["same"]
    for n in (district, k1, k2, other):
        n.close()


def test_only_the_district_writes_a_reclaim_of_another_devices_rights(tmp_path: Path) -> None:
    district, k1, k2, other = _world(tmp_path)
    _stocked(k1)
    with pytest.raises(ScopeForbidden):
        with k2.store.tx() as tx:
            tx.emit("a", "stock.reclaim", "FUSE", {"sku": "FUSE", "qty": 10, "holder": k1.dev, "to": k2.dev})
    for n in (district, k1, k2, other):
        n.close()
