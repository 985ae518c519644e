"""Run the alerts worker: ``python -m services.alerts``."""

from faust import Worker

from services.alerts.app import create_app
from shared.config import get_settings
from shared.logs import configure_logging

settings = get_settings()
configure_logging(settings.log_level)
Worker(create_app(settings), loglevel="WARN").execute_from_commandline()
