"""Test helpers and pytest plugins shared by the suites (listed in ``tests/conftest.py``)."""
