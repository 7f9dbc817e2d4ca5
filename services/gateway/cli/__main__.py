"""``python -m services.gateway.cli``: the ``flexstream`` command."""

from services.gateway.cli.admin import main

main()
