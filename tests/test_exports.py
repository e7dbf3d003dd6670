"""Each package re-exports its public API in ``__init__`` with a complete, sorted ``__all__``: the top-level
packages, and the subpackages of ``edge`` and ``sync_server`` the district server's reads go through."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = ["crdt", "edge", "edge.reads", "edge.store", "edge.sync", "kiosk_ui", "sync_server", "sync_server.audit"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_names_only_things_that_exist(name: str) -> None:
    mod = importlib.import_module(name)
    assert hasattr(mod, "__all__"), f"{name} has no __all__"
    exported = list(mod.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ names something twice"
    assert exported == sorted(exported, key=lambda s: (not s.isupper(), s)) or exported == sorted(exported)
    for item in exported:
        assert hasattr(mod, item), f"{name}.__all__ names {item}, which {name} does not have"


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_class_and_function_of_the_package_namespace_is_exported(name: str) -> None:
    mod = importlib.import_module(name)
    public = {
        n
        for n, v in vars(mod).items()
        if not n.startswith("_")
        and (inspect.isclass(v) or inspect.isfunction(v))
        and getattr(v, "__module__", "").startswith(name + ".")
    }
    missing = public - set(mod.__all__)
    assert not missing, f"{name} has public names missing from __all__: {sorted(missing)}"
