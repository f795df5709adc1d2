"""The ``appmarket`` command line."""
