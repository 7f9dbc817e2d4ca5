"""``python -m services.stats``: run the faust worker (it handles SIGTERM itself: stop agents, commit, close)."""

import faust

from services.stats.app import create_app
from shared.logging import configure, dict_config
from shared.settings import StatsSettings

settings = StatsSettings()
configure(settings.log_level, settings.log_json)
app = create_app(settings)
faust.Worker(
    app, loglevel=settings.log_level, quiet=True, logging_config=dict_config(settings.log_level, settings.log_json)
).execute_from_commandline()
