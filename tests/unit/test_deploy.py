"""deploy/ holds together: the compose cluster, the Kubernetes manifests and chargehook's settings.

Nothing is started: the files are read as YAML and checked against each other and the code.
"""

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import yaml

from chargehook.plumbing.cluster import broker_urls
from chargehook.plumbing.settings import env_name, setting_names
from chargehook.workers import ALL_QUEUES

DEPLOY = Path(__file__).parents[2] / "deploy"
K8S = DEPLOY / "k8s"
AMQP_SECRET = {"name": "chargehook-rabbitmq-default-user", "key": "connection_string"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests() if doc["kind"] == kind]


def chargehook_services(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if "build" in s}


def rabbitmq_services(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if s.get("image", "").startswith("rabbitmq:")}


def test_compose_runs_a_three_node_rabbitmq_cluster() -> None:
    nodes = rabbitmq_services(compose()["services"])
    assert len(nodes) == 3
    cookies = {node["environment"]["RABBITMQ_ERLANG_COOKIE"] for node in nodes.values()}
    assert len(cookies) == 1
    volumes = [v.split(":")[0] for node in nodes.values() for v in node["volumes"]]
    assert len(set(volumes)) == 3, "each node its own volume"
    cluster_conf = (DEPLOY / "rabbitmq" / "cluster.conf").read_text()
    assert "cluster_formation.peer_discovery_backend = classic_config" in cluster_conf
    listed = set(re.findall(r"^cluster_formation\.classic_config\.nodes\.\d+ = (\S+)$",
                            cluster_conf, re.M))  # fmt: skip
    assert listed == {f"rabbit@{node['hostname']}" for node in nodes.values()}
    assert f"cluster_formation.target_cluster_size_hint = {len(nodes)}" in cluster_conf
    mounted = {c["target"] for node in nodes.values() for c in node["configs"]}
    assert "/etc/rabbitmq/conf.d/30-cluster.conf" in mounted


def test_every_chargehook_service_lists_every_rabbitmq_node() -> None:
    services = compose()["services"]
    hosts = {node["hostname"] for node in rabbitmq_services(services).values()}
    definitions = msgspec.json.decode((DEPLOY / "rabbitmq" / "definitions.json").read_bytes())
    users = {user["name"] for user in definitions["users"]}
    for name, service in chargehook_services(services).items():
        urls = [urlsplit(url) for url in broker_urls(service["environment"]["CHARGEHOOK_AMQP_URL"])]
        assert {url.hostname for url in urls} == hosts, name
        assert {url.username for url in urls} <= users - {"guest"}, name


def test_every_chargehook_service_names_both_postgresql_nodes() -> None:
    services = compose()["services"]
    nodes = {name for name, s in services.items() if s.get("image", "").startswith("postgres:")}
    assert len(nodes) == 2
    assert sorted(s["environment"]["STANDBY_OF"] for n, s in services.items() if n in nodes) == [
        "${POSTGRES_1_STANDBY_OF:-}",
        "${POSTGRES_2_STANDBY_OF:-postgres-1}",
    ]
    for name, service in chargehook_services(services).items():
        url = service["environment"]["CHARGEHOOK_DATABASE_URL"]
        hosts = url.split("@", 1)[1].split("/", 1)[0].split(",")
        assert {host.split(":")[0] for host in hosts} == nodes, name
        assert url.endswith("?target_session_attrs=read-write"), name


def test_compose_sets_only_known_settings() -> None:
    known = {env_name(name) for name in setting_names()}
    for name, service in chargehook_services(compose()["services"]).items():
        assert set(service["environment"]) <= known, name


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_the_rabbitmq_cluster_has_three_nodes() -> None:
    (cluster,) = of_kind("RabbitmqCluster")
    assert cluster["apiVersion"] == "rabbitmq.com/v1beta1"
    assert cluster["spec"]["replicas"] == 3
    assert f"{cluster['metadata']['name']}-default-user" == AMQP_SECRET["name"]
    assert cluster["spec"]["persistence"]["storage"]
    assert cluster["spec"]["resources"]["limits"]["memory"]


def test_every_chargehook_pod_reads_the_broker_from_the_operator_secret() -> None:
    for deployment in of_kind("Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container.get("env", [])}
        amqp = env["CHARGEHOOK_AMQP_URL"]["valueFrom"]["secretKeyRef"]
        assert amqp == AMQP_SECRET, deployment["metadata"]["name"]
    (auth,) = of_kind("TriggerAuthentication")
    (target,) = auth["spec"]["secretTargetRef"]
    assert {"name": target["name"], "key": target["key"]} == AMQP_SECRET


def test_the_kubernetes_config_sets_only_known_settings() -> None:
    known = {env_name(name) for name in setting_names()}
    (config,) = of_kind("ConfigMap")
    (secret,) = of_kind("Secret")
    assert set(config["data"]) | set(secret["stringData"]) <= known
    assert "CHARGEHOOK_AMQP_URL" not in secret["stringData"], "the operator's Secret has it"
    assert "target_session_attrs=read-write" in secret["stringData"]["CHARGEHOOK_DATABASE_URL"]


def test_every_scaled_worker_queue_exists() -> None:
    queues = {queue.name for queue in ALL_QUEUES}
    for scaled in of_kind("ScaledObject"):
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["metadata"]["queueName"] in queues
