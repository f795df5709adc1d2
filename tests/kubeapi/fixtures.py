"""pytest plugin: `kube_api` gives each test a fresh fake cluster; `kubeconfig` a file for it.

Enable with `pytest_plugins = ["tests.kubeapi.fixtures"]` (root conftest or a test module).
Server options come from the `kube_api_options` fixture, so a test picks them by parametrizing
it, with no marker to register:

    @pytest.mark.parametrize("kube_api_options", [{"token": "t", "workloads": "fail"}], ids=["fail"])
    def test_x(kube_api): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import KubeApiServer


@pytest.fixture
def kube_api_options() -> dict[str, Any]:
    """Keyword arguments for `KubeApiServer`; override by parametrizing this fixture."""
    return {}


@pytest.fixture
def kube_api(kube_api_options: dict[str, Any]) -> Iterator[KubeApiServer]:
    """A started server; fails the test if the emulator hit internal errors."""
    with KubeApiServer(**kube_api_options) as server:
        yield server
        leftovers = server.errors
    assert not leftovers, f"kubeapi internal errors: {leftovers}"


@pytest.fixture
def kubeconfig(kube_api: KubeApiServer, tmp_path: Path) -> Path:
    """A kubeconfig file for `kube_api` (with its token, if it has one)."""
    return kube_api.write_kubeconfig(tmp_path / "kubeconfig")
