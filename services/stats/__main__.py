"""``python -m services.stats``: create the topics if needed (as every service does at start, so the agent
is assigned its partitions even when it starts before ingest), then run the faust worker (it handles SIGTERM
itself: stop agents, commit, close)."""

import asyncio

import faust

from services.stats.app import create_app
from shared import kafka
from shared.logging import configure, dict_config
from shared.settings import StatsSettings

settings = StatsSettings()
configure(settings.log_level, settings.log_json)
asyncio.run(kafka.ensure_topics(settings))
app = create_app(settings)
faust.Worker(
    app, loglevel=settings.log_level, quiet=True, logging_config=dict_config(settings.log_level, settings.log_json)
).execute_from_commandline()
