"""``python -m appmarket`` is the same as the ``appmarket`` command."""

from appmarket.cli.main import main

main()
