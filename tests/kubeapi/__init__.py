"""A Kubernetes API server emulator for installer tests (helm 4, kubectl, the kubernetes client).

Start one with `KubeApiServer()` (a context manager) or the `kube_api` pytest fixture from
`tests.kubeapi.fixtures`; see `server.py` for the switches.
"""

from .app import RequestRecord
from .errors import ApiError
from .server import KubeApiServer
from .switches import NodeSpec, Switches, WorkloadMode

__all__ = ["ApiError", "KubeApiServer", "NodeSpec", "RequestRecord", "Switches", "WorkloadMode"]
