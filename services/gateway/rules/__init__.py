"""Request rules: what a request means (commands, read plans, CSV uploads, entity addresses, permissions,
sensor events), mostly pure functions the routes call."""
