"""The ``flexstream`` command line: ``admin`` (accounts, users, assets, sensors, tokens, demo data) and ``upload``
(an HTTP client that sends CSV files through the API)."""
