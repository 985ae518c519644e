"""Run the calculator worker: ``python -m services.calculator``."""

from faust import Worker

from services.calculator.app import create_app
from shared.config import get_settings
from shared.logs import configure_logging

settings = get_settings()
configure_logging(settings.log_level)
app = create_app(settings)
Worker(app, loglevel="WARN").execute_from_commandline()
