"""Run the calculator worker: ``python -m services.calculator``."""

from faust import Worker

from services.calculator.app import create_app
from shared.config import get_settings
from shared.logs import configure_logging
from shared.safety import refuse_unsafe_production
from shared.topic_check import check_at_start

settings = get_settings()
refuse_unsafe_production(settings, "calculator")
configure_logging(settings.log_level)
t = settings.topics
check_at_start(settings, [t.dossier, t.document, t.deadletter, t.indicator_updates])
app = create_app(settings)
Worker(app, loglevel="WARN").execute_from_commandline()
