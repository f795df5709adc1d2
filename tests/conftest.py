"""Shared fixtures live in ``tests/support`` (and ``tests/kubeapi``) as pytest plugins."""

pytest_plugins = [
    "tests.support.databases",
    "tests.support.app",
    "tests.support.s3",
    "tests.kubeapi.fixtures",
    "tests.support.browser",
]
