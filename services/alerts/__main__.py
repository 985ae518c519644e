"""Run the alerts worker: ``python -m services.alerts``."""

from faust import Worker

from services.alerts.app import create_app
from shared.platform.config import AlertsSettings, load
from shared.platform.logs import configure_logging, log_start
from shared.platform.safety import refuse_unsafe_production
from shared.platform.topic_check import check_at_start

settings = load(AlertsSettings)
refuse_unsafe_production(settings, "alerts", signs_webhooks=True)
configure_logging(settings.log_level)
log_start("alerts", host=settings.alerts_host, port=settings.alerts_port, env=settings.env)
check_at_start(settings, [settings.topics.indicator_updates, settings.topics.alerts])
Worker(create_app(settings), loglevel="WARN").execute_from_commandline()
