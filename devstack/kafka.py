"""Apache Kafka 4.x, single node in KRaft mode, from Maven Central jars run with Java 17."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from devstack.paths import CACHE, KAFKA_POM
from devstack.ports import wait_for_port
from devstack.processes import ManagedProcess

LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = FILE
"""
LOG4J1 = """log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", KAFKA_POM.read_text())
    if not match:
        raise RuntimeError(f"no kafka.version in {KAFKA_POM}")
    return match[1]


def ensure_kafka_jars() -> Path:
    """Resolve the broker and its dependencies with mvn, once (a stamp marks completion)."""
    version = kafka_version()
    target = CACHE / f"kafka-{version}"
    stamp = target / ".complete"
    if stamp.exists():
        return target
    if shutil.which("mvn") is None:
        raise RuntimeError("mvn is required to resolve the Kafka jars")
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(KAFKA_POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={target}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    if not any(target.glob(f"kafka_2.13-{version}.jar")):
        raise RuntimeError(f"kafka_2.13-{version}.jar missing after mvn in {target}")
    stamp.write_text(version)
    return target


def _cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class KafkaBroker:
    def __init__(self, data_dir: Path, port: int, controller_port: int, heap: str = "512m") -> None:
        self.data_dir = data_dir
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.process: ManagedProcess | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logs = self.data_dir / "broker.log"
        (self.data_dir / "log4j2.properties").write_text(LOG4J2.format(log=logs))
        (self.data_dir / "log4j.properties").write_text(LOG4J1.format(log=logs))
        props = self.data_dir / "server.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.data_dir / 'logs'}",
                    "num.partitions=6",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=6",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    "",
                ]
            )
        )
        return props

    def _java(self, jars: Path, *args: str) -> list[str]:
        return [
            "java",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-cp",
            f"{jars}/*",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
            *args,
        ]

    def start(self, timeout: float = 90.0) -> None:
        jars = ensure_kafka_jars()
        props = self._write_config()
        if not (self.data_dir / "logs" / "meta.properties").exists():
            subprocess.run(
                self._java(
                    jars,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    _cluster_id(),
                    "-c",
                    str(props),
                ),
                check=True,
                capture_output=True,
            )
        self.process = ManagedProcess(
            "kafka", self._java(jars, "kafka.Kafka", str(props)), self.data_dir / "stdout.log"
        )
        self.process.start()
        try:
            wait_for_port(self.port, timeout)
            self._wait_ready(timeout)
        except Exception:
            tail = self.process.log_tail()
            self.stop()
            raise RuntimeError(f"Kafka did not start:\n{tail}") from None

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    request_timeout_ms=5000,
                    client_id="devstack-ready",
                )
                admin.list_topics()
                admin.close()
                return
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
