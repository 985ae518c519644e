"""docker-compose.yml against the local configuration: same services, ports, topics,
env var names, commands and provisioning. No Docker engine runs here, so this is how drift
between the deployment and the local stack (shared/platform/config.py, devstack/) is caught."""

from __future__ import annotations

import ast
import base64
import binascii
import fnmatch
import json
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from devstack.alertmanager import alertmanager_config
from devstack.kafka import KafkaBroker, min_insync
from devstack.services import SERVICES, service_argv
from devstack.topics import topic_partitions
from shared.platform.config import DEV_TOKENS, DEV_WEBHOOK_SECRET, ENV_PREFIX, Settings, Topics
from shared.platform.safety import production_problems
from shared.platform.topic_check import durable_topics

ROOT = Path(__file__).resolve().parents[3]
KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")
INFRA = {*KAFKA_NODES, "kafka-init", "redis", "prometheus", "alertmanager", "grafana"}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# ${NAME}, ${NAME:-default}, ${NAME-default}; the default may contain braces (JSON).
INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>.*))?\}$")


def load_yaml(relative: str) -> Any:
    return yaml.safe_load((ROOT / relative).read_text(encoding="utf-8"))


def settings_from(env: dict[str, str]) -> Settings:
    """Settings as a process sees them with exactly ``env`` (none of this process's EGOV_*)."""
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.upper().startswith(ENV_PREFIX):
                mp.delenv(key)
        for key, value in env.items():
            mp.setenv(key, value)
        return Settings()


def valid_env_names() -> set[str]:
    """Every env var the settings read, derived from the models (nested topics have their
    own prefix)."""
    topics_prefix = Topics.model_config.get("env_prefix", "")
    names = {
        f"{ENV_PREFIX}{name}".upper()
        for name, field in Settings.model_fields.items()
        if field.annotation is not Topics
    }
    names |= {f"{topics_prefix}{name}".upper() for name in Topics.model_fields}
    return names


def resolve(value: Any) -> str:
    """A compose environment value as the container gets it when no variable is set."""
    text = str(value)
    match = INTERPOLATION.match(text)
    if match:
        return match["default"] or ""
    assert "${" not in text, f"only whole-value ${{VAR:-default}} is supported here: {text}"
    return text


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment is written as a mapping"
    return {str(k): resolve(v) for k, v in env.items()}


def dockerfile(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of services/<name>/Dockerfile, continuations joined."""
    text = (ROOT / "services" / name / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    out = []
    for line in logical.splitlines():
        if line.strip():
            instr, _, args = line.strip().partition(" ")
            out.append((instr.upper(), args.strip()))
    return out


def healthcheck_command(compose: dict[str, Any], name: str) -> str:
    """The health probe of a service: compose's, else the image's HEALTHCHECK."""
    check = compose["services"][name].get("healthcheck")
    if check is not None:
        test = check["test"]
        return " ".join(test) if isinstance(test, list) else str(test)
    if name in SERVICES:
        return " ".join(a for i, a in dockerfile(name) if i == "HEALTHCHECK")
    return ""


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml("docker-compose.yml")
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def defaults() -> Settings:
    return settings_from({})


@pytest.fixture(scope="module")
def service_settings(compose: dict[str, Any]) -> dict[str, Settings]:
    """What each service container would configure itself with."""
    return {name: settings_from(environment(compose["services"][name])) for name in SERVICES}


def test_services_are_the_stack(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == INFRA | set(SERVICES)


def test_service_ports_hosts_and_health(compose: dict[str, Any], defaults: Settings) -> None:
    for name in SERVICES:
        port = getattr(defaults, f"{name}_port")
        service = compose["services"][name]
        env = environment(service)
        assert env[f"EGOV_{name.upper()}_PORT"] == str(port), name
        assert env[f"EGOV_{name.upper()}_HOST"] == "0.0.0.0", f"{name} must listen on all"
        if name in PUBLISHED:
            assert service["ports"] == [f"{port}:{port}"], name
        else:
            assert service["expose"] == [str(port)], name
        assert f"127.0.0.1:{port}/healthz" in healthcheck_command(compose, name), name


# What the host publishes (issue 20, item 7): ingest, the API, and Grafana behind its own
# login. Alertmanager (it mails whatever is posted to it), Prometheus, and the calculator's
# and alerts' web ports (the calculator's /metrics holds the current month's per-agency
# figures, private until the month closes) stay on the compose network.
PUBLISHED = {"ingest": "8081", "api": "8082", "grafana": "3000"}


def test_only_ingest_the_api_and_grafana_are_published(compose: dict[str, Any]) -> None:
    published = {
        name: [str(p) for p in service.get("ports") or []]
        for name, service in compose["services"].items()
        if service.get("ports")
    }
    assert published == {name: [f"{port}:{port}"] for name, port in PUBLISHED.items()}
    for name, service in compose["services"].items():
        assert "network_mode" not in service, f"{name}: host networking publishes every port"
    # the board's Prometheus link must not point at a port nobody can reach
    api = environment(compose["services"]["api"])
    assert ":9090" not in api["EGOV_PROMETHEUS_URL"]


def test_every_egov_env_var_is_a_setting(compose: dict[str, Any]) -> None:
    valid = valid_env_names()
    used: set[str] = set()
    for service in compose["services"].values():
        for key, value in (service.get("environment") or {}).items():
            match = INTERPOLATION.match(str(value))
            if match and match["name"].startswith(ENV_PREFIX):
                # a compose variable named like a setting must feed that very setting
                assert match["name"] == key, f"{key} is set from ${{{match['name']}}}"
            if key.startswith(ENV_PREFIX):
                used.add(key)
    for name in SERVICES:
        used |= {
            k
            for i, a in dockerfile(name)
            if i == "ENV"
            for k in re.findall(r"(\w+)=", a)
            if k.startswith(ENV_PREFIX)
        }
    assert used, "the services take their settings from EGOV_* variables"
    assert used <= valid, f"not settings: {sorted(used - valid)}"


# What a deployment's .env gives (tokens of its own, the ingest token with its agencies).
DEPLOYED_SECRETS = {
    "EGOV_INGEST_TOKENS": '{"his-so-y-te": {"token": "b7Qe-his-so-y-te-2026", "agencies": '
    '["so-y-te"]}}',
    "EGOV_READ_TOKEN": "r3ad-token-of-the-province",
    "EGOV_ADMIN_TOKEN": "adm1n-token-of-the-province",
    "EGOV_WEBHOOK_SECRET": "w3bhook-secret-of-the-province",
}


def test_compose_environment_is_a_valid_configuration(
    compose: dict[str, Any], service_settings: dict[str, Settings]
) -> None:
    services = compose["services"]
    for name, settings in service_settings.items():
        env = services[name]["environment"]
        assert env["EGOV_ENV"] == "production", name
        for var in ("EGOV_TOKENS", "EGOV_INGEST_TOKENS", "EGOV_READ_TOKEN", "EGOV_ADMIN_TOKEN"):
            match = INTERPOLATION.match(str(env.get(var, "")))
            # from a compose variable, with no usable default: never a dev token
            assert match and match["name"] == var and not match["default"], f"{name}: {var}"
        assert settings.env == "production", name
        assert settings.read_token is None and settings.admin_token is None, name
        assert settings.ingest_tokens == {} and settings.tokens == [], name
        redis = urlsplit(settings.redis_url)
        assert redis.scheme == "redis" and redis.hostname in services, name
        assert (redis.port or 6379) == 6379, name
        for server in settings.kafka_bootstrap.split(","):
            host, _, port = server.partition(":")
            assert host in services and port, name


def test_compose_refuses_dev_secrets_and_starts_with_the_deployments_own(
    compose: dict[str, Any],
) -> None:
    """Every service in compose is in production: unset secrets leave the alerts service
    without a webhook secret (refused); dev values given through the variables are refused,
    named, never echoed; a deployment's own secrets pass."""
    for name in SERVICES:
        signs = name == "alerts"
        base = environment(compose["services"][name])
        unset = production_problems(settings_from(base), signs_webhooks=signs)
        webhook_unset = "EGOV_WEBHOOK_SECRET is empty (set it to a secret of your own)"
        assert unset == ([webhook_unset] if signs else []), name
        dev = settings_from(
            {
                **base,
                "EGOV_INGEST_TOKENS": '{"demo-source": "dev-ingest-token"}',
                "EGOV_READ_TOKEN": "dev-read-token",
                "EGOV_ADMIN_TOKEN": "dev-admin-token",
                "EGOV_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
            }
        )
        problems = production_problems(dev, signs_webhooks=signs)
        text = "\n".join(problems)
        for setting in (
            "EGOV_INGEST_TOKENS (source 'demo-source') is a development value",
            "EGOV_INGEST_TOKENS (source 'demo-source') has no agency list",
            "EGOV_READ_TOKEN is a development value",
            "EGOV_ADMIN_TOKEN is a development value",
            "EGOV_WEBHOOK_SECRET is a development value",
        ):
            assert setting in text, (name, setting)
        assert not any(secret in text for secret in [*DEV_TOKENS, DEV_WEBHOOK_SECRET]), name
        deployed = settings_from({**base, **DEPLOYED_SECRETS})
        assert production_problems(deployed, signs_webhooks=signs) == [], name
        assert deployed.ingest_tokens["his-so-y-te"].agencies == ["so-y-te"]


GRAFANA_REFUSES = 78


@pytest.mark.parametrize(
    ("password", "code"), [("", GRAFANA_REFUSES), ("admin", GRAFANA_REFUSES), ("S0-kh-cn!", 0)]
)
def test_grafana_refuses_the_default_password(
    compose: dict[str, Any], password: str, code: int
) -> None:
    grafana = compose["services"]["grafana"]
    assert grafana["entrypoint"] == ["/bin/sh", "-c"]
    assert environment(grafana)["GF_SECURITY_ADMIN_PASSWORD"] == ""  # no default
    (script,) = grafana["command"]
    # run the entrypoint script as compose hands it over ($$ is a literal $), with
    # Grafana's own start replaced by a marker
    shell = script.replace("$$", "$").replace("exec /run.sh", "echo grafana-started")
    done = subprocess.run(
        ["/bin/sh", "-c", shell],
        env={"GF_SECURITY_ADMIN_PASSWORD": password, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
    )
    assert done.returncode == code, done.stderr
    if code:
        assert "GRAFANA_ADMIN_PASSWORD" in done.stderr and "started" not in done.stdout
    else:
        assert "grafana-started" in done.stdout


def test_alertmanager_receives_prometheus_alerts_and_routes_them_to_the_alerts_service(
    compose: dict[str, Any], defaults: Settings, service_settings: dict[str, Settings]
) -> None:
    prometheus = load_yaml("prometheus/prometheus.compose.yml")
    ((target,),) = [
        sc["targets"]
        for am in prometheus["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
    ]
    host, _, port = target.partition(":")
    alertmanager = compose["services"]["alertmanager"]
    assert host == "alertmanager" and alertmanager["expose"] == [port]
    assert service_settings["alerts"].alertmanager_url == f"http://{target}"
    mounts = dict(str(v).removesuffix(":ro").split(":", 1) for v in alertmanager["volumes"])
    config_file = mounts["./prometheus/alertmanager.compose.yml"]
    assert f"--config.file={config_file}" in alertmanager["command"]
    # the same route as the local stack's, to the alerts service by its compose name
    secret = "egov-alertmanager-token"
    assert secret in alertmanager["secrets"] and compose["secrets"][secret] == {
        "environment": "EGOV_ALERTMANAGER_TOKEN"
    }
    webhook = f"http://alerts:{defaults.alerts_port}/v1/alertmanager/webhook"
    assert load_yaml("prometheus/alertmanager.compose.yml") == alertmanager_config(
        webhook, Path(f"/run/secrets/{secret}")
    )


def init_bootstrap(compose: dict[str, Any]) -> str:
    """The servers kafka-init talks to (its script's ``bootstrap=`` variable)."""
    script = "\n".join(compose["services"]["kafka-init"]["command"])
    servers = set(re.findall(r"--bootstrap-server\s+(\S+)", script))
    assert servers == {'"$${bootstrap}"'}, servers
    (bootstrap,) = re.findall(r"^\s*bootstrap=(\S+)$", script, re.MULTILINE)
    return str(bootstrap)


def test_kafka_is_three_kraft_nodes_reachable_by_the_services(
    compose: dict[str, Any], service_settings: dict[str, Settings], defaults: Settings
) -> None:
    nodes = {name: environment(compose["services"][name]) for name in KAFKA_NODES}
    advertised: list[str] = []
    volumes: set[str] = set()
    for name, env in nodes.items():
        kafka = compose["services"][name]
        assert str(kafka["image"]).startswith("apache/kafka:4."), name
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        (listener,) = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
        assert listener == f"PLAINTEXT://{name}:9092"
        advertised.append(listener.split("://", 1)[1])
        # storage on the node's own volume, not the image's /tmp default
        mounts = dict(str(v).split(":", 1) for v in kafka.get("volumes", []))
        assert list(mounts.values()) == [env["KAFKA_LOG_DIRS"]], name
        volumes |= set(mounts)
        assert "localhost:9092" in healthcheck_command(compose, name)
    assert len(volumes) == len(KAFKA_NODES) and volumes <= set(compose["volumes"])
    # one cluster, one quorum of every node
    assert sorted(int(env["KAFKA_NODE_ID"]) for env in nodes.values()) == [1, 2, 3]
    assert len({env["CLUSTER_ID"] for env in nodes.values()}) == 1
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in nodes.values()}
    assert voters == {",".join(f"{env['KAFKA_NODE_ID']}@{n}:9093" for n, env in nodes.items())}
    try:
        cluster_id = base64.urlsafe_b64decode(nodes["kafka-1"]["CLUSTER_ID"] + "==")
    except (binascii.Error, ValueError):
        cluster_id = b""
    assert len(cluster_id) == 16, "CLUSTER_ID is a base64 UUID (kafka-storage random-uuid)"
    # the services and kafka-init reach all three
    bootstraps = {s.kafka_bootstrap for s in service_settings.values()}
    assert bootstraps == {",".join(advertised)} == {init_bootstrap(compose)}
    assert {s.topic_replication for s in service_settings.values()} == {3}


def test_kafka_nodes_have_the_local_clusters_broker_settings(
    compose: dict[str, Any], defaults: Settings
) -> None:
    """Replication 3, min.insync.replicas 2 (internal topics alike), no auto-creation: the
    settings of a node of ``egov up --kafka-brokers 3`` (devstack/kafka.py)."""
    local = KafkaBroker(
        Path("/unused"), 9092, 9093, voters={1: 9093, 2: 9093, 3: 9093}, replication=3
    ).server_properties()
    assert local["min.insync.replicas"] == str(min_insync(3)) == "2"
    for node in KAFKA_NODES:
        env = environment(compose["services"][node])
        for key in (
            "num.partitions",
            "default.replication.factor",
            "min.insync.replicas",
            "offsets.topic.replication.factor",
            "offsets.topic.num.partitions",
            "transaction.state.log.replication.factor",
            "transaction.state.log.min.isr",
            "share.coordinator.state.topic.replication.factor",
            "share.coordinator.state.topic.min.isr",
            "group.initial.rebalance.delay.ms",
            "auto.create.topics.enable",
        ):
            assert env["KAFKA_" + key.upper().replace(".", "_")] == local[key], (node, key)
        assert env["KAFKA_NUM_PARTITIONS"] == str(defaults.topic_partitions)


def test_topics_and_partitions_match(
    compose: dict[str, Any], defaults: Settings, service_settings: dict[str, Settings]
) -> None:
    init = compose["services"]["kafka-init"]
    assert init["image"] == compose["services"]["kafka-1"]["image"]
    assert init["depends_on"] == {n: {"condition": "service_healthy"} for n in KAFKA_NODES}
    script = "\n".join(init["command"])
    assert "/opt/kafka/bin/kafka-topics.sh" in script and "--create" in script
    factors = set(re.findall(r"--replication-factor\s+(\d+)", script))
    assert factors == {"3"}, "every topic on the three nodes"
    declared = {m[0]: int(m[1]) for m in re.findall(r"([\w.-]+\.v\d+):(\d+)", script)}
    assert declared == topic_partitions(defaults)
    # the durable topics (shared/platform/topic_check.py) are created, and repaired, keeping
    # every record
    durable_loop = script[: script.index("done")]
    assert set(durable_topics(defaults)) == set(re.findall(r"([\w.-]+\.v\d+):", durable_loop))
    assert "retention.ms=-1" in durable_loop and "retention.bytes=-1" in durable_loop
    assert "--alter" in durable_loop and "compression.type=zstd" in durable_loop
    # each service's own view (compose env, e.g. EGOV_TOPIC_PARTITIONS) agrees too
    for name, settings in service_settings.items():
        assert topic_partitions(settings) == declared, name


def test_redis_persists_with_append_only(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert str(redis["image"]).split(":")[0] == "redis"
    command = redis["command"]
    args = command if isinstance(command, list) else shlex.split(command)
    assert args[args.index("--appendonly") + 1] == "yes"
    assert any(str(v).split(":")[1] == "/data" for v in redis["volumes"])
    assert "redis-cli ping" in healthcheck_command(compose, "redis")
    assert args[args.index("--appendfsync") + 1] == "everysec"
    # one fork an hour: Redis saves no RDB of its own, the calculator's snapshot is it
    assert args[args.index("--save") + 1] == ""


def test_production_takes_snapshots_into_a_volume(compose: dict[str, Any]) -> None:
    """Compose's calculators snapshot Redis hourly into a named volume (issue 20, item 12):
    unset, they took none and `egov restore` had nothing to read."""
    calculator = compose["services"]["calculator"]
    env = environment(calculator)
    settings = settings_from(env)  # what the service reads from that environment
    assert settings.snapshot_dir is not None
    assert settings.snapshot_interval_s <= 3600 and settings.snapshot_keep >= 24
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in calculator["volumes"]}
    volume = mounts[settings.snapshot_dir]
    assert volume in compose["volumes"], "a named volume: snapshots outlive the container"
    # redis-cli streams the snapshot: the calculator's image installs it
    assert any("redis-tools" in arg for _, arg in dockerfile("calculator"))


def test_prometheus_scrapes_the_four_services(compose: dict[str, Any], defaults: Settings) -> None:
    config = load_yaml("prometheus/prometheus.compose.yml")
    jobs = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    assert jobs == {name: [f"{name}:{getattr(defaults, f'{name}_port')}"] for name in SERVICES}
    assert all(
        job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"]
    )
    prometheus = compose["services"]["prometheus"]
    (config_file,) = [
        a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file=")
    ]
    assert f"./prometheus/prometheus.compose.yml:{config_file}" in {
        str(v).removesuffix(":ro") for v in prometheus["volumes"]
    }


def test_depends_on_have_conditions(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on with conditions"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            assert condition in DEPENDS_CONDITIONS, f"{name} → {target}: {condition}"
            if condition == "service_healthy":
                assert healthcheck_command(compose, target), f"{target} has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", target
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert depends["kafka-init"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_dockerfiles_build_and_run_the_services(
    compose: dict[str, Any], defaults: Settings
) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    python = re.search(r">=\s*(\d+\.\d+)", project["requires-python"])
    assert python is not None
    for name in SERVICES:
        build = compose["services"][name]["build"]
        assert build["context"] == "."
        assert build["dockerfile"] == f"services/{name}/Dockerfile"
        assert (ROOT / build["dockerfile"]).is_file()
        steps = dockerfile(name)
        instructions = [i for i, _ in steps]
        froms = [a for i, a in steps if i == "FROM"]
        # the image runs on the slim Python of the project; a build stage (the calculator's
        # compiled rules) may use the full image of the same version
        assert froms[-1] == f"python:{python[1]}-slim", name
        assert all(f.split()[0] == f"python:{python[1]}" for f in froms[:-1]), name
        if name == "calculator":  # the compiled rules come from the build stage
            copied = [a for i, a in steps if i == "COPY" and a.startswith("--from=compiled")]
            assert any("_lifecycle_compiled" in a for a in copied), copied
            assert any("_apply_plan_compiled" in a for a in copied), copied
        runs = " ".join(a for i, a in steps if i == "RUN")
        assert re.search(r"pip install\b[^&;]*\s\.(\s|$)", runs), f"{name}: pip install ."
        users = [a for i, a in steps if i == "USER"]
        assert users and users[-1].split(":")[0] not in {"root", "0"}, f"{name} runs as root"
        last = {instr: n for n, instr in enumerate(instructions)}
        assert last["USER"] > last["RUN"], f"{name}: USER after the last RUN"
        (cmd,) = [a for i, a in steps if i == "CMD"]
        assert json.loads(cmd) == ["python", *service_argv(name)[1:]], name
        assert ("EXPOSE", str(getattr(defaults, f"{name}_port"))) in steps, name


def local_imports(package: str) -> set[str]:
    """Top-level packages of this repository imported anywhere under ``package``."""
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found |= {n.split(".")[0] for n in names}
    return {n for n in found if (ROOT / n / "__init__.py").is_file()}


def copied(name: str) -> set[str]:
    sources: set[str] = set()
    for instr, args in dockerfile(name):
        if instr == "COPY" and "--from=" not in args:  # from the context, not a stage
            parts = [p for p in args.split() if not p.startswith("--")]
            sources |= {p.rstrip("/") for p in parts[:-1]}
    return sources


def test_images_contain_every_package_the_services_import() -> None:
    for name in SERVICES:
        needed, todo = set(), ["services"]
        while todo:
            package = todo.pop()
            if package not in needed:
                needed.add(package)
                todo.extend(local_imports(package))
        sources = copied(name)
        assert needed <= sources, f"{name} image lacks {sorted(needed - sources)}"
        assert "pyproject.toml" in sources


def dockerignore() -> Iterator[str]:
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.strip().rstrip("/")


def test_dockerignore_keeps_what_the_images_copy() -> None:
    patterns = list(dockerignore())
    assert {".git", ".venv", ".run"} <= set(patterns)
    for name in SERVICES:
        for source in copied(name):
            assert (ROOT / source).exists(), f"{name} copies missing {source}"
            hit = [p for p in patterns if fnmatch.fnmatch(source, p) and not p.startswith("!")]
            assert not hit, f"{name} copies {source}, excluded by .dockerignore {hit}"


def test_grafana_is_provisioned_from_the_repo(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(str(v).removesuffix(":ro").split(":", 1) for v in grafana["volumes"])
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    assert (ROOT / "grafana/dashboards/.gitkeep").is_file()

    (datasource,) = load_yaml("grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert datasource["uid"] == "prometheus" and datasource["type"] == "prometheus"
    url = urlsplit(datasource["url"])
    prometheus = compose["services"]["prometheus"]
    assert url.hostname == "prometheus" and url.hostname in compose["services"]
    assert prometheus["expose"] == [f"{url.port}"]
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    scrape = load_yaml("prometheus/prometheus.compose.yml")["global"]["scrape_interval"]
    assert datasource["jsonData"]["timeInterval"] == scrape

    (provider,) = load_yaml("grafana/provisioning/dashboards/egov.yml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == mounts["./grafana/dashboards"]

    # the committed dashboards use the provisioned datasource; links point at one of them
    uids = set()
    for path in (ROOT / "grafana/dashboards").glob("*.json"):
        board = json.loads(path.read_text(encoding="utf-8"))
        uids.add(board["uid"])
        refs = set(re.findall(r'"datasource":\s*\{[^{}]*"uid":\s*"([^"$]+)"', path.read_text()))
        assert refs <= {datasource["uid"]}, f"{path.name} uses datasources {refs}"
    links = {environment(compose["services"][n]).get("EGOV_DASHBOARD_URL") for n in SERVICES}
    for link in links - {None}:
        assert link is not None and link.rsplit("/d/", 1)[-1] in uids, link


ALERTS_DELIVERY = (
    "smtp_host",
    "smtp_port",
    "smtp_starttls",
    "smtp_username",
    "smtp_password",
    "smtp_from",
    "alerts_routes",
    "alerts_digest_emails",
    "webhook_secret",
    "alertmanager_url",
)


def test_alert_delivery_is_configured_per_deployment(
    compose: dict[str, Any], defaults: Settings, service_settings: dict[str, Settings]
) -> None:
    """Every delivery setting of the alerts service comes from a compose variable whose
    default is the local default, and a variable set by the deployment reaches the service."""
    raw = compose["services"]["alerts"]["environment"]
    alerts = service_settings["alerts"]
    for name in ALERTS_DELIVERY:
        var = f"{ENV_PREFIX}{name}".upper()
        match = INTERPOLATION.match(str(raw.get(var, "")))
        assert match and match["name"] == var, f"{var} from a compose variable"
        if name == "webhook_secret":  # no default in production: the deployment sets it
            assert not match["default"] and alerts.webhook_secret is None
        elif name != "alertmanager_url":  # compose has its own Alertmanager (test above)
            assert getattr(alerts, name) == getattr(defaults, name), name
    deployed = settings_from(
        {
            **environment(compose["services"]["alerts"]),
            "EGOV_SMTP_HOST": "mail.tinh.gov.vn",
            "EGOV_SMTP_USERNAME": "canhbao",
            "EGOV_ALERTS_ROUTES": '[{"groups":["so_nganh"],"emails":["cntt@tinh.gov.vn"]}]',
        }
    )
    assert deployed.smtp_host == "mail.tinh.gov.vn" and deployed.smtp_username == "canhbao"
    assert deployed.alerts_routes[0].groups == ["so_nganh"]
    assert alerts.smtp_username is None and alerts.smtp_password is None
