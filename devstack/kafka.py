"""Apache Kafka 4.x in KRaft mode, run from the Maven Central jars with the machine's
Java 17, listeners on 127.0.0.1 only: one node (broker and controller), or a cluster of N
such nodes (``KafkaCluster``: a static controller quorum of all of them, replication 3,
``min.insync.replicas`` 2)."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from devstack.paths import CACHE, KAFKA_POM
from devstack.processes import ManagedProcess, ServerProcess, wait_for_port, wait_until
from shared.platform.topic_check import (
    min_insync as min_insync,  # one rule for the stack and the check
)

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
    """A KRaft node (broker and controller) with its data, configuration and logs in
    ``data_dir``: alone, a single-node cluster; with ``voters`` (node id → controller port
    of every node), one node of a static quorum formatted with ``cluster_id``.

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
        name: str = "kafka",
        node_id: int = 1,
        voters: dict[int, int] | None = None,
        cluster_id: str | None = None,
        replication: int = 1,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.log_dir_path = log_dir or data_dir
        self.pid_file = pid_file
        self.name = name
        self.node_id = node_id
        self.voters = voters
        self.cluster_id = cluster_id
        self.replication = replication
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
        return self.log_dir_path / f"{self.name}.log"

    @property
    def stdout_path(self) -> Path:
        """The JVM's stdout and stderr."""
        return self.log_dir_path / f"{self.name}.stdout.log"

    def _quorum_properties(self) -> dict[str, str]:
        if self.voters is None:
            return {"controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}"}
        return {
            "controller.quorum.voters": ",".join(
                f"{node}@127.0.0.1:{port}" for node, port in sorted(self.voters.items())
            ),
            # a killed node is fenced (its partitions get new leaders, it leaves the ISRs)
            # within seconds: producers with acks=all wait that long, not 9 s
            "broker.heartbeat.interval.ms": "1000",
            "broker.session.timeout.ms": "5000",
        }

    def server_properties(self) -> dict[str, str]:
        replication = str(self.replication)
        min_isr = str(min_insync(self.replication))
        return {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            **self._quorum_properties(),
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.kafka_log_dirs),
            "num.partitions": "6",
            # every topic on `replication` nodes, writes with acks=all on all but one
            "default.replication.factor": replication,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replication,
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replication,
            "share.coordinator.state.topic.min.isr": min_isr,
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
        # alone: a standalone (dynamic) quorum of this node; in a cluster: the static voters
        quorum = ["--standalone"] if self.voters is None else []
        result = subprocess.run(
            self._java(
                jars,
                "kafka.tools.StorageTool",
                "format",
                *quorum,
                "-t",
                self.cluster_id or new_cluster_id(),
                "-c",
                str(props),
                heap="256m",
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"Kafka storage format failed:\n{result.stdout}{result.stderr}")

    def start(self, timeout: float = 90.0, *, wait: bool = True) -> None:
        """Format once, start the JVM, and (``wait``) return when metadata requests succeed.

        A node of a cluster is ready only once a quorum of its voters runs: start them all
        with ``wait=False``, then :meth:`wait_ready` each."""
        if self.alive:
            return
        jars = ensure_kafka_jars()
        props = self._write_config()
        self.formatted_now = not (self.kafka_log_dirs / "meta.properties").exists()
        if self.formatted_now:
            self._format(jars, props)

        def ready(process: ManagedProcess) -> None:
            if wait:
                self._wait(process, timeout)

        try:
            self._launch(
                self.name, self._java(jars, "kafka.Kafka", str(props)), self.stdout_path, ready
            )
        except Exception as exc:
            raise RuntimeError(f"Kafka did not start: {exc}\n{self._log_tail()}") from exc

    def _wait(self, process: ManagedProcess, timeout: float) -> None:
        wait_for_port("127.0.0.1", self.port, timeout, process)
        wait_until(
            self._metadata_ok,
            timeout,
            f"Kafka metadata on {self.bootstrap}",
            process,
            interval=0.3,
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait for a node started with ``wait=False`` (stopping it if it never is)."""
        if self.process is None:
            raise RuntimeError(f"{self.name} was not started")
        try:
            self._wait(self.process, timeout)
        except BaseException as exc:
            self.stop()
            if isinstance(exc, Exception):
                raise RuntimeError(f"Kafka did not start: {exc}\n{self._log_tail()}") from exc
            raise

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


class KafkaCluster:
    """N KRaft nodes (each broker and controller, a static quorum of all of them) from the
    same jars, on loopback ports, each with its own data directory under ``data_dir``
    (``node-<id>``), formatted once with one cluster id (kept in ``data_dir/cluster.id``).

    Topics get ``replication`` replicas (default 3, at most N) and ``min.insync.replicas``
    all but one, so with acks=all an acknowledged record is on at least two brokers and
    the loss of one broker neither loses it nor stops writes. Internal topics (offsets,
    transactions) alike; the broker never creates a topic by itself.
    """

    def __init__(
        self,
        data_dir: Path,
        ports: list[tuple[int, int]],
        heap: str = "384m",
        *,
        replication: int | None = None,
        log_dir: Path | None = None,
        pid_dir: Path | None = None,
    ) -> None:
        """``ports``: (broker port, controller port) of each node, node ids 1…N;
        ``pid_dir``: pid files ``kafka-<id>.pid`` (the local stack's)."""
        if not ports:
            raise ValueError("a cluster needs at least one node")
        self.data_dir = data_dir
        self.replication = min(replication or 3, len(ports))
        voters = {i: controller for i, (_, controller) in enumerate(ports, start=1)}
        cluster_id = self._cluster_id()
        self.nodes = [
            KafkaBroker(
                data_dir / f"node-{i}",
                port,
                controller,
                heap,
                log_dir=log_dir,
                pid_file=pid_dir / f"kafka-{i}.pid" if pid_dir else None,
                name=f"kafka-{i}",
                node_id=i,
                voters=voters,
                cluster_id=cluster_id,
                replication=self.replication,
            )
            for i, (port, controller) in enumerate(ports, start=1)
        ]

    def _cluster_id(self) -> str:
        path = self.data_dir / "cluster.id"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cid = new_cluster_id()
            path.write_text(cid + "\n")
            return cid

    @property
    def bootstrap(self) -> str:
        """Every node, comma-separated (what clients and ``EGOV_KAFKA_BOOTSTRAP`` take)."""
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def alive(self) -> bool:
        return all(node.alive for node in self.nodes)

    @property
    def formatted_now(self) -> bool:
        return any(node.formatted_now for node in self.nodes)

    def node(self, node_id: int) -> KafkaBroker:
        return self.nodes[node_id - 1]

    def start(self, timeout: float = 180.0) -> None:
        """Start every node that is not running, together (a node waits for a quorum), and
        return once each serves metadata and every broker is registered."""
        try:
            for node in self.nodes:
                node.start(timeout, wait=False)
            for node in self.nodes:
                node.wait_ready(timeout)
            self.wait_brokers(len(self.nodes), timeout)
        except BaseException:
            self.stop()
            raise

    def start_node(self, node_id: int, timeout: float = 120.0) -> None:
        """Start one node again (after ``kill``/``stop``) and wait until it is registered."""
        self.node(node_id).start(timeout)
        self.wait_brokers(len(self.nodes), timeout)

    def stop(self) -> None:
        """SIGTERM every node (controlled shutdown), together; SIGKILL what is left."""
        for node in self.nodes:
            if node.process is not None:
                node.process.terminate()
        for node in self.nodes:
            node.stop()

    def brokers(self) -> list[int]:
        """Ids of the brokers the cluster's metadata lists (registered and not fenced)."""
        live = [n for n in self.nodes if n.alive]
        if not live:
            return []
        admin = KafkaAdminClient(
            bootstrap_servers=",".join(n.bootstrap for n in live),
            client_id="devstack-cluster",
            request_timeout_ms=5000,
        )
        try:
            return sorted(int(b["broker_id"]) for b in admin.describe_cluster()["brokers"])
        finally:
            admin.close()

    def wait_brokers(self, count: int, timeout: float = 60.0) -> None:
        def enough() -> bool:
            try:
                return len(self.brokers()) >= count
            except KafkaError:
                return False

        wait_until(enough, timeout, f"{count} Kafka brokers registered", interval=0.5)

    def under_replicated(self, topics: list[str]) -> list[tuple[str, int]]:
        """Partitions of ``topics`` whose in-sync replicas are fewer than their replicas."""
        live = [n for n in self.nodes if n.alive]
        admin = KafkaAdminClient(
            bootstrap_servers=",".join(n.bootstrap for n in live), client_id="devstack-cluster"
        )
        try:
            described = admin.describe_topics(topics)
        finally:
            admin.close()
        return [
            (t["name"], p["partition_index"])
            for t in described
            for p in t["partitions"]
            if len(p["isr_nodes"]) < len(p["replica_nodes"])
        ]

    def wait_in_sync(self, topics: list[str], timeout: float = 120.0) -> None:
        """Wait until every partition of ``topics`` has all its replicas in sync again."""
        deadline = time.monotonic() + timeout
        while (lagging := self.under_replicated(topics)) and time.monotonic() < deadline:
            time.sleep(1.0)
        if lagging:
            raise TimeoutError(f"not in sync after {timeout:.0f}s: {lagging[:10]}")
