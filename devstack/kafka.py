"""Apache Kafka 4.x, one node in KRaft mode (broker and controller), run from the Maven
Central jars with the machine's Java 17. Listeners on 127.0.0.1 only."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from devstack.paths import CACHE, KAFKA_POM
from devstack.processes import ManagedProcess, ServerProcess, wait_for_port, wait_until

# Kafka 4 logs through log4j2; slf4j-reload4j (dependencies of tools) reads log4j 1 config.
# Both go to the same file, WARN and above.
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


def kafka_version(pom: Path = KAFKA_POM) -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom.read_text())
    if not match:
        raise RuntimeError(f"no <kafka.version> in {pom}")
    return match[1]


def kafka_jars_dir(pom: Path = KAFKA_POM) -> Path:
    """``.cache/kafka-<version>/`` in the repository root (ignored by git)."""
    return CACHE / f"kafka-{kafka_version(pom)}"


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def kafka_jars_ready(pom: Path = KAFKA_POM) -> bool:
    """Whether the stamp says the jars of this very pom were all copied, and they still are."""
    target = kafka_jars_dir(pom)
    try:
        stamp = json.loads((target / ".complete").read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("pom_sha256") == _pom_digest(pom)
        and bool(stamp.get("jars"))
        and all((target / jar).is_file() for jar in stamp["jars"])
    )


def ensure_kafka_jars(pom: Path = KAFKA_POM) -> Path:
    """Resolve the broker and its runtime dependencies with mvn, once.

    A stamp file (pom digest and jar list) marks a complete copy; a changed pom or a
    missing jar resolves again. A file lock keeps concurrent callers from racing.
    """
    target = kafka_jars_dir(pom)
    if kafka_jars_ready(pom):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if kafka_jars_ready(pom):  # another process did it while we waited
            return target
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RuntimeError("mvn is required to resolve the Kafka jars (apt-get install maven)")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={target}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mvn failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        version = kafka_version(pom)
        if not (target / f"kafka_2.13-{version}.jar").is_file():
            raise RuntimeError(f"kafka_2.13-{version}.jar missing after mvn in {target}")
        jars = sorted(p.name for p in target.glob("*.jar"))
        (target / ".complete").write_text(
            json.dumps({"version": version, "pom_sha256": _pom_digest(pom), "jars": jars})
        )
    return target


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding — never starting with
    "-" (Kafka's own rule: the storage tool would read it as an option)."""
    while (cid := base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")).startswith("-"):
        pass
    return cid


class KafkaBroker(ServerProcess):
    """A single-node KRaft cluster with its data, configuration and logs in ``data_dir``.

    Storage is formatted on the first start only, so stop/start (or kill/start) on the same
    ``data_dir`` and ports keeps the topics and their messages.
    """

    stop_timeout = 30.0  # the broker's controlled shutdown

    def __init__(
        self,
        data_dir: Path,
        port: int,
        controller_port: int,
        heap: str = "512m",
        *,
        log_dir: Path | None = None,
        pid_file: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.log_dir_path = log_dir or data_dir
        self.pid_file = pid_file
        self.process: ManagedProcess | None = None
        self.formatted_now = False  # whether the last start() formatted the storage

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def kafka_log_dirs(self) -> Path:
        """``log.dirs``: the partitions and the KRaft metadata log."""
        return self.data_dir / "logs"

    @property
    def log_path(self) -> Path:
        """The broker's own log (log4j, WARN and above)."""
        return self.log_dir_path / "kafka.log"

    @property
    def stdout_path(self) -> Path:
        """The JVM's stdout and stderr."""
        return self.log_dir_path / "kafka.stdout.log"

    def server_properties(self) -> dict[str, str]:
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.kafka_log_dirs),
            "num.partitions": "6",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # topics are created by the stack with their retention, never by a stray client
            "auto.create.topics.enable": "false",
        }

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir_path.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "log4j2.properties").write_text(LOG4J2.format(log=self.log_path))
        (self.data_dir / "log4j.properties").write_text(LOG4J1.format(log=self.log_path))
        props = self.data_dir / "server.properties"
        props.write_text("".join(f"{k}={v}\n" for k, v in self.server_properties().items()))
        return props

    def _java(self, jars: Path, *args: str, heap: str | None = None) -> list[str]:
        return [
            "java",
            f"-Xmx{heap or self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
            "-cp",
            f"{jars}/*",
            *args,
        ]

    def _format(self, jars: Path, props: Path) -> None:
        result = subprocess.run(
            self._java(
                jars,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                new_cluster_id(),
                "-c",
                str(props),
                heap="256m",
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"Kafka storage format failed:\n{result.stdout}{result.stderr}")

    def start(self, timeout: float = 90.0) -> None:
        """Format once, start the JVM, and return when metadata requests succeed."""
        if self.alive:
            return
        jars = ensure_kafka_jars()
        props = self._write_config()
        self.formatted_now = not (self.kafka_log_dirs / "meta.properties").exists()
        if self.formatted_now:
            self._format(jars, props)

        def ready(process: ManagedProcess) -> None:
            wait_for_port("127.0.0.1", self.port, timeout, process)
            wait_until(
                self._metadata_ok,
                timeout,
                f"Kafka metadata on {self.bootstrap}",
                process,
                interval=0.3,
            )

        try:
            self._launch(
                "kafka", self._java(jars, "kafka.Kafka", str(props)), self.stdout_path, ready
            )
        except Exception as exc:
            raise RuntimeError(f"Kafka did not start: {exc}\n{self._log_tail()}") from exc

    def _log_tail(self, chars: int = 3000) -> str:
        try:
            return f"{self.log_path}:\n" + self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _metadata_ok(self) -> bool:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="devstack-ready",
                request_timeout_ms=5000,
            )
        except KafkaError:
            return False
        try:
            admin.list_topics()
            return True
        except KafkaError:
            return False
        finally:
            admin.close()
