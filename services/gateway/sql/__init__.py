"""Every query the gateway runs, one module per subject. Literal SQL with ``%(name)s`` parameters."""
