"""Static checks of the Docker Compose stack (no Docker engine needed).

The compose file must run the same stack as native mode: the image tags pinned in
versions.env, the one collector config, loopback-only ports, and Grafana datasources
for all three stores. It must also start on the published images: a healthcheck may
only exec a program its image ships, per compose/images.toml (what each pinned image
contains, with the upstream source), since a check whose program is missing never
passes and everything waiting on `service_healthy` never starts.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
VERSIONS_FILE = ROOT / "versions.env"
COLLECTOR_CONFIG = ROOT / "collector" / "config.yaml"
DATASOURCES_FILE = COMPOSE_DIR / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
IMAGE_TABLE_FILE = COMPOSE_DIR / "images.toml"

# image repository -> its entry in compose/images.toml
IMAGE_TABLE: dict[str, dict[str, Any]] = tomllib.loads(IMAGE_TABLE_FILE.read_text())["images"]

# service -> (image repository, versions.env key of its tag), from the table
IMAGES = {entry["service"]: (repo, entry["version_key"]) for repo, entry in IMAGE_TABLE.items()}

# Shell builtins a CMD-SHELL check may start with (they need the shell, nothing else).
SHELL_BUILTINS = {":", "[", "cd", "echo", "exit", "false", "test", "true"}

# store service -> its HTTP port (OTLP ingest, queries and /health)
STORES = {"victoriametrics": 8428, "victorialogs": 9428, "victoriatraces": 10428}

# collector environment variable with a store's base URL -> that store service
STORE_URL_VARS = {
    "VM_OTLP_URL": "victoriametrics",
    "VL_OTLP_URL": "victorialogs",
    "VT_OTLP_URL": "victoriatraces",
}

# Every port the stack publishes on the host (all of them on 127.0.0.1).
EXPECTED_HOST_PORTS = {8428, 9428, 10428, 4317, 4318, 8000, 8001, 3000}

COLLECTOR_CONFIG_TARGET = "/etc/otelcol/config.yaml"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, ${VAR:+alt};
# "$${" is compose's escape for a literal "${" and is not an interpolation.
USER_VARIABLES = {"OBS_MCP_FORCE_FLUSH_KEY"}  # from the user's shell, not versions.env
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])[^}]*)?\}")


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments ignored (the versions.env format)."""
    values: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}:{lineno}: not a KEY=VALUE line: {raw!r}"
        key = key.strip()
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), f"{path.name}:{lineno}: bad key"
        values[key] = value.strip()
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in env, f"${{{name}}} is not defined in versions.env"
        return env[name]

    return INTERPOLATION.sub(repl, text)


@pytest.fixture(scope="module")
def versions() -> dict[str, str]:
    return parse_env_file(VERSIONS_FILE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "compose file is not a mapping"
    assert isinstance(data.get("services"), dict), "compose file has no services"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svcs: dict[str, dict[str, Any]] = compose["services"]
    return svcs


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, from either the mapping or the list form."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.partition("=") for item in env)
        return {k: v for k, _, v in pairs}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def resolve_from_compose_dir(path: str) -> Path:
    return (COMPOSE_DIR / path).resolve()


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of a service's host-path mounts, short or long syntax."""
    mounts = []
    for vol in service.get("volumes", []):
        if isinstance(vol, str):
            parts = vol.split(":")
            if len(parts) < 2 or not parts[0].startswith((".", "/")):
                continue  # anonymous or named volume
            mode = parts[2] if len(parts) > 2 else ""
            mounts.append((parts[0], parts[1], "ro" in mode.split(",")))
        elif vol.get("type") == "bind":
            mounts.append((vol["source"], vol["target"], bool(vol.get("read_only"))))
    return mounts


def published_ports(service: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """(host_ip, host_port, container_port) of each published port; host_ip None if unbound."""
    result = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            host_ip = port.get("host_ip")
            result.append((host_ip, str(port.get("published", "")), str(port["target"])))
            continue
        spec = str(port).split("/")[0]  # drop /tcp, /udp
        if spec.startswith("["):  # [::1]:8428:8428
            ip, _, rest = spec[1:].partition("]:")
            host_port, _, container_port = rest.partition(":")
            result.append((ip, host_port, container_port))
            continue
        parts = spec.split(":")
        if len(parts) == 3:
            result.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            result.append((None, parts[0], parts[1]))
        else:  # container port only: published on a random port on all interfaces
            result.append((None, "", parts[0]))
    return result


# --- versions -------------------------------------------------------------------------------


def test_every_interpolated_variable_is_pinned(versions: dict[str, str]) -> None:
    found = list(INTERPOLATION.finditer(COMPOSE_FILE.read_text()))
    for match in found:  # the user's own setting: optional, so it must carry a default
        if match.group(1) in USER_VARIABLES:
            assert match.group(2) == ":-", f"{match.group(0)}: give it a default (:-)"
    used = {m.group(1) for m in found} - USER_VARIABLES
    assert used, "compose file interpolates no ${VAR}: image tags are not taken from versions.env"
    missing = sorted(used - versions.keys())
    assert not missing, f"compose file uses variables versions.env does not define: {missing}"
    empty = sorted(name for name in used if not versions[name])
    assert not empty, f"versions.env leaves these empty: {empty}"


def test_image_tags_are_the_pinned_versions(
    services: dict[str, dict[str, Any]], versions: dict[str, str]
) -> None:
    for name, (repository, key) in IMAGES.items():
        assert name in services, f"service {name} is missing"
        raw = services[name].get("image", "")
        assert raw == f"{repository}:${{{key}}}", (
            f"{name}: image {raw!r} should be {repository}:${{{key}}}, the tag from versions.env"
        )
        assert interpolate(raw, versions) == f"{repository}:{versions[key]}"
    for name, svc in services.items():
        if "image" in svc:
            image = interpolate(svc["image"], versions)
            repo, _, tag = image.rpartition(":")
            assert repo and tag and tag != "latest", f"{name}: image {image!r} has no pinned tag"


def test_compose_env_file_is_versions_env() -> None:
    env_link = COMPOSE_DIR / ".env"
    assert env_link.exists(), "compose/.env is missing: compose would not find the versions"
    assert env_link.resolve() == VERSIONS_FILE.resolve(), (
        f"compose/.env resolves to {env_link.resolve()}, not {VERSIONS_FILE}"
    )
    assert env_link.is_symlink(), "compose/.env should be a symlink, not a copy that can drift"


# --- ports ----------------------------------------------------------------------------------


def test_every_published_port_is_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    host_ports = set()
    for name, svc in services.items():
        assert svc.get("network_mode") != "host", f"{name}: host networking bypasses loopback"
        for host_ip, host_port, container_port in published_ports(svc):
            assert host_ip == "127.0.0.1", (
                f"{name}: port {host_port or '?'}:{container_port} is published on "
                f"{host_ip or 'all interfaces'}, not 127.0.0.1"
            )
            assert host_port, f"{name}: port {container_port} has no fixed host port"
            host_ports.add(int(host_port))
    assert host_ports == EXPECTED_HOST_PORTS


# --- collector ------------------------------------------------------------------------------


def test_collector_mounts_the_repo_config(services: dict[str, dict[str, Any]]) -> None:
    collector = services["otel-collector"]
    mounts = [m for m in bind_mounts(collector) if m[1] == COLLECTOR_CONFIG_TARGET]
    assert len(mounts) == 1, f"expected one mount at {COLLECTOR_CONFIG_TARGET}, got {mounts}"
    source, _, read_only = mounts[0]
    assert resolve_from_compose_dir(source) == COLLECTOR_CONFIG.resolve(), (
        f"collector mounts {source!r}, which is not the repo's collector/config.yaml"
    )
    assert COLLECTOR_CONFIG.is_file()
    assert read_only, "collector config must be mounted read-only"
    command = collector.get("command")
    args = command.split() if isinstance(command, str) else list(command or [])
    assert f"--config={COLLECTOR_CONFIG_TARGET}" in args, f"collector command: {command!r}"


def test_collector_listens_in_container_and_exports_to_stores(
    services: dict[str, dict[str, Any]],
) -> None:
    env = env_of(services["otel-collector"])
    assert env.get("OTELCOL_GRPC_ENDPOINT") == "0.0.0.0:4317"
    assert env.get("OTELCOL_HTTP_ENDPOINT") == "0.0.0.0:4318"
    assert env.get("OTELCOL_METRICS_HOST") == "0.0.0.0"
    for var, store in STORE_URL_VARS.items():
        assert env.get(var) == f"http://{store}:{STORES[store]}", f"{var}={env.get(var)!r}"
    # Every variable compose sets must be one the config reads, or it is a typo.
    config_text = COLLECTOR_CONFIG.read_text()
    unread = sorted(k for k in env if "${env:" + k not in config_text)
    assert not unread, f"collector/config.yaml never reads {unread}"


def store_exporters(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """store service -> the collector exporter whose endpoint is that store's URL variable."""
    by_store = {}
    for var, store in STORE_URL_VARS.items():
        matching = [
            exporter
            for exporter in config["exporters"].values()
            if any("${env:" + var in str(v) for k, v in exporter.items() if k.endswith("endpoint"))
        ]
        assert len(matching) == 1, f"expected one exporter sending to ${{env:{var}}}: {matching}"
        by_store[store] = matching[0]
    return by_store


def test_collector_starts_with_the_stores_and_retries_until_they_answer(
    services: dict[str, dict[str, Any]],
) -> None:
    """The collector may start before a store answers: its exporter queues and retries.

    `service_healthy` is allowed only for a store with a healthcheck; the distroless
    stores are waited on with `service_started`, which is safe only because each
    exporter keeps a sending queue and retries without a time limit.
    """
    depends = services["otel-collector"].get("depends_on")
    assert isinstance(depends, dict), "depends_on must use the long form with conditions"
    exporters = store_exporters(yaml.safe_load(COLLECTOR_CONFIG.read_text()))
    for store in STORES:
        assert store in depends, f"collector does not depend on {store}"
        condition = depends[store].get("condition")
        assert condition in {"service_healthy", "service_started"}, (
            f"collector waits on {store} with condition {condition!r}"
        )
        exporter = exporters[store]
        retry = exporter.get("retry_on_failure") or {}
        queue = exporter.get("sending_queue") or {}
        assert retry.get("enabled") and str(retry.get("max_elapsed_time")) in {"0", "0s"}, (
            f"collector/config.yaml: the exporter to {store} must retry without a time limit "
            f"(retry_on_failure.max_elapsed_time: 0s), or data sent while {store} starts is lost"
        )
        assert queue.get("enabled"), f"collector/config.yaml: the exporter to {store} has no queue"


def healthcheck_test(service: dict[str, Any]) -> list[str] | str | None:
    """A service's enabled healthcheck `test`, or None when it has none or it is disabled."""
    check = service.get("healthcheck")
    if not check or check.get("disable"):
        return None
    test: list[str] | str | None = check.get("test")
    if test is None or (isinstance(test, list) and test[:1] == ["NONE"]):
        return None
    return test


def programs_execed(test: list[str] | str) -> list[str]:
    """The programs a healthcheck `test` runs inside the container.

    CMD execs its first argument; CMD-SHELL (and the string form) runs `/bin/sh -c`,
    so it needs sh, plus the command it starts with unless that is a shell builtin.
    """
    if isinstance(test, list) and test[:1] == ["CMD"]:
        assert len(test) > 1, f"healthcheck {test!r} names no program"
        return [Path(test[1]).name]
    if isinstance(test, list):
        assert test[:1] == ["CMD-SHELL"] and len(test) == 2, f"healthcheck test {test!r}"
        command = test[1]
    else:
        command = test
    words = [w for w in shlex.split(command) if not re.fullmatch(r"[A-Za-z_]\w*=.*", w)]
    assert words, f"healthcheck {test!r} runs nothing"
    first = Path(words[0]).name
    return ["sh"] if first in SHELL_BUILTINS else ["sh", first]


@pytest.mark.parametrize(
    ("test", "programs"),
    [
        (["CMD", "wget", "-qO-", "http://127.0.0.1:8428/health"], ["wget"]),
        (["CMD", "/usr/bin/curl", "-f", "http://x/health"], ["curl"]),
        (["CMD-SHELL", "wget -qO- http://x/health || exit 1"], ["sh", "wget"]),
        (["CMD-SHELL", "LANG=C curl -f http://x/health"], ["sh", "curl"]),
        ("exit 0", ["sh"]),
    ],
)
def test_programs_execed_by_a_healthcheck(test: list[str] | str, programs: list[str]) -> None:
    assert programs_execed(test) == programs


def image_entry(service_name: str, image: str) -> dict[str, Any]:
    repository = image.rpartition(":")[0]
    entry = IMAGE_TABLE.get(repository)
    assert entry, (
        f"{service_name}: image {repository} is not in compose/images.toml: add what the "
        "published image contains (base, tools, entrypoint) with the upstream source"
    )
    return entry


def test_image_table_matches_compose_and_versions(
    services: dict[str, dict[str, Any]], versions: dict[str, str]
) -> None:
    """Every pulled image has a table entry, checked upstream at the tag versions.env pins."""
    pulled = {name: svc["image"] for name, svc in services.items() if "image" in svc}
    for name, image in pulled.items():
        entry = image_entry(name, image)
        assert entry["service"] == name, f"compose/images.toml gives {image} to {entry['service']}"
    for repository, entry in IMAGE_TABLE.items():
        assert entry["service"] in pulled, (
            f"compose/images.toml lists {repository} for service {entry['service']}, "
            "which compose does not run: remove the entry"
        )
        key = entry["version_key"]
        assert versions.get(key) == entry["tag"], (
            f"versions.env pins {key}={versions.get(key)}, compose/images.toml describes "
            f"{repository}:{entry['tag']}: re-check base, tools and entrypoint upstream at the "
            "new tag, then update the entry (and its sources)"
        )
        for field in ("base", "entrypoint", "user"):
            assert entry.get(field), f"compose/images.toml: {repository} has no {field}"
        assert isinstance(entry.get("tools"), list), f"{repository}: tools must be a list"
        sources = entry.get("sources") or []
        assert sources, f"compose/images.toml: {repository} cites no upstream source"
        for source in sources:
            where = {"repo", "path", "ref"} <= source.keys() or "url" in source
            assert where and source.get("says"), (
                f"compose/images.toml: a source of {repository} needs repo, path and ref "
                f"(or url) and what it says: {source}"
            )


def test_healthchecks_exec_only_programs_their_image_ships(
    services: dict[str, dict[str, Any]], versions: dict[str, str]
) -> None:
    """A check whose program the image lacks never passes: dependants never start."""
    problems = []
    for name, svc in services.items():
        test = healthcheck_test(svc)
        if test is None:
            continue
        assert "image" in svc, f"{name}: healthcheck on a built image, whose tools no table records"
        image = interpolate(svc["image"], versions)
        entry = image_entry(name, image)
        tools = set(entry["tools"])
        for program in programs_execed(test):
            if program not in tools:
                problems.append(
                    f"{name}: healthcheck {test!r} execs {program}, which {image} does not ship "
                    f"(base {entry['base']}; ships: {', '.join(sorted(tools)) or 'nothing'})"
                )
    assert not problems, "\n".join(problems)


def test_service_healthy_only_on_services_with_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in services.items():
        depends = svc.get("depends_on") or {}
        if isinstance(depends, list):
            continue  # short form: service_started
        for target, spec in depends.items():
            if spec.get("condition") == "service_healthy":
                assert healthcheck_test(services[target]) is not None, (
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
                )


# --- stores ---------------------------------------------------------------------------------


def test_stores_are_health_checked_where_their_image_can(
    services: dict[str, dict[str, Any]], versions: dict[str, str]
) -> None:
    """A store whose image ships an HTTP client probes its own /health; others have none."""
    for store, port in STORES.items():
        entry = image_entry(store, interpolate(services[store]["image"], versions))
        test = healthcheck_test(services[store])
        if not {"wget", "curl"} & set(entry["tools"]):
            continue  # nothing to probe with: the healthcheck test above rejects any check
        assert test is not None, f"{store}: its image ships {entry['tools']}, yet no healthcheck"
        text = test if isinstance(test, str) else " ".join(test)
        assert f"http://127.0.0.1:{port}/health" in text, f"{store}: healthcheck test {test!r}"


def flags(service: dict[str, Any]) -> dict[str, str]:
    command = service.get("command") or []
    args = command.split() if isinstance(command, str) else command
    result = {}
    for arg in args:
        key, _, value = str(arg).lstrip("-").partition("=")
        result[key] = value
    return result


def test_store_flags_match_native_mode(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    vm, vl, vt = (flags(services[s]) for s in STORES)
    assert vm.get("opentelemetry.usePrometheusNaming") == "true"
    assert vm.get("search.latencyOffset") == "1s"
    assert vm.get("retentionPeriod") == "30d"
    assert vl.get("retentionPeriod") == "7d"
    assert vt.get("retentionPeriod") == "7d"
    assert vt.get("search.latencyOffset") == "1s"
    assert vt.get("insert.indexFlushInterval") == "1s"
    for store in (vm, vl, vt):  # the same key the tools read (config.py)
        assert store.get("forceFlushAuthKey") == "${OBS_MCP_FORCE_FLUSH_KEY:-}"
    declared = set(compose.get("volumes") or {})
    for store, volume in zip(STORES, ("vmdata", "vldata", "vtdata"), strict=True):
        data_path = flags(services[store]).get("storageDataPath")
        assert data_path, f"{store}: no -storageDataPath"
        assert f"{volume}:{data_path}" in services[store].get("volumes", []), (
            f"{store}: {data_path} is not on the named volume {volume}"
        )
        assert volume in declared, f"volume {volume} is not declared"


# --- profiles -------------------------------------------------------------------------------


def test_core_services_start_without_a_profile(services: dict[str, dict[str, Any]]) -> None:
    for name in (*STORES, "otel-collector"):
        assert not services[name].get("profiles"), f"{name} must run without --profile"


def test_demo_profile(services: dict[str, dict[str, Any]]) -> None:
    demo = services.get("demo")
    assert demo, "service demo is missing"
    assert "demo" in demo.get("profiles", []), "demo is not in the demo profile"
    build = demo.get("build")
    assert isinstance(build, dict), "demo must build from the repo root"
    assert resolve_from_compose_dir(build["context"]) == ROOT
    dockerfile = ROOT / build["dockerfile"]
    assert dockerfile.is_file(), f"{dockerfile} does not exist"
    text = dockerfile.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M), "demo image is not python:3.11-slim"
    assert re.search(r"pip install .*\.\[demo\]", text), "demo image does not install .[demo]"
    assert '"-m", "demo_service"' in text, "demo image does not run python -m demo_service"
    for match in re.finditer(r"^COPY\s+(.+?)\s+\S+\s*$", text, re.M):
        for src in match.group(1).split():
            assert (ROOT / src).exists(), f"demo.Dockerfile copies {src}, which is not in the repo"
    assert env_of(demo).get("OTEL_EXPORTER_OTLP_ENDPOINT") == "http://otel-collector:4318"
    host_ports = {int(p[1]) for p in published_ports(demo)}
    assert host_ports == {8000, 8001}


def test_dashboard_profile(services: dict[str, dict[str, Any]]) -> None:
    grafana = services.get("grafana")
    assert grafana, "service grafana is missing"
    assert "dashboard" in grafana.get("profiles", []), "grafana is not in the dashboard profile"
    env = env_of(grafana)
    assert env.get("GF_AUTH_ANONYMOUS_ENABLED") == "true"
    assert env.get("GF_AUTH_ANONYMOUS_ORG_ROLE") == "Admin"
    provisioning = [m for m in bind_mounts(grafana) if m[1] == "/etc/grafana/provisioning"]
    assert len(provisioning) == 1, "grafana provisioning is not mounted"
    assert resolve_from_compose_dir(provisioning[0][0]) == COMPOSE_DIR / "grafana" / "provisioning"
    assert DATASOURCES_FILE.is_file()


# --- grafana datasources --------------------------------------------------------------------


def test_grafana_datasources_cover_the_three_stores(services: dict[str, dict[str, Any]]) -> None:
    provisioning = yaml.safe_load(DATASOURCES_FILE.read_text())
    datasources = provisioning.get("datasources", [])
    by_uid = {ds["uid"]: ds for ds in datasources}
    expected = {
        "victoriametrics": ("victoriametrics-metrics-datasource", "http://victoriametrics:8428"),
        "victorialogs": ("victoriametrics-logs-datasource", "http://victorialogs:9428"),
        "victoriatraces-logsql": ("victoriametrics-logs-datasource", "http://victoriatraces:10428"),
        "victoriatraces": ("jaeger", "http://victoriatraces:10428/select/jaeger"),
    }
    for uid, (ds_type, url) in expected.items():
        assert uid in by_uid, f"no datasource {uid}"
        assert by_uid[uid]["type"] == ds_type, f"{uid}: type {by_uid[uid]['type']}"
        assert by_uid[uid].get("url") == url, f"{uid}: url {by_uid[uid].get('url')}"
        parts = urlsplit(url)
        assert parts.hostname in STORES and parts.port == STORES[parts.hostname]
    defaults = [ds["name"] for ds in datasources if ds.get("isDefault")]
    assert defaults == [by_uid["victoriametrics"]["name"]], f"default datasource(s): {defaults}"
    # VictoriaMetrics' plugins are not bundled with Grafana: preinstalled, each pinned.
    env = env_of(services["grafana"])
    preinstalled = ",".join(
        env.get(k, "") for k in ("GF_PLUGINS_PREINSTALL", "GF_PLUGINS_PREINSTALL_SYNC")
    )
    pinned = dict(p.strip().split("@")[:2] for p in preinstalled.split(",") if "@" in p)
    for plugin, key in (
        ("victoriametrics-logs-datasource", "VICTORIALOGS_DATASOURCE_VERSION"),
        ("victoriametrics-metrics-datasource", "VICTORIAMETRICS_DATASOURCE_VERSION"),
    ):
        assert pinned.get(plugin) == "${" + key + "}", f"{plugin} not pinned: {preinstalled}"


# --- docker compose itself ------------------------------------------------------------------


def compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin), else a v2 standalone `docker-compose`; None if neither."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        probe = subprocess.run(
            ["docker-compose", "version", "--short"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0 and probe.stdout.strip().lstrip("v").startswith("2"):
            return ["docker-compose"]
    return None


def test_docker_compose_config_validates(versions: dict[str, str]) -> None:
    if not shutil.which("docker") and not shutil.which("docker-compose"):
        pytest.skip("docker CLI not installed: cannot run `docker compose config`")
    command = compose_command()
    if command is None:
        pytest.skip(
            "docker CLI present but the Compose v2 plugin is not (`docker compose version` "
            "fails): cannot run `docker compose config`"
        )
    # The variables must come from compose/.env (versions.env), not the caller's shell.
    env = {k: v for k, v in os.environ.items() if k not in versions and k != "COMPOSE_PROFILES"}
    result = subprocess.run(
        [
            *command,
            "-f",
            str(COMPOSE_FILE),
            "--profile",
            "demo",
            "--profile",
            "dashboard",
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    assert "variable is not set" not in result.stderr, result.stderr


def test_compose_file_loads_with_compose_go(
    compose_go_loader: Path, versions: dict[str, str]
) -> None:
    """Docker's own loader accepts the file with every profile on, images resolved from .env."""
    env = {k: v for k, v in os.environ.items() if k not in versions}
    loaded = subprocess.run(
        [str(compose_go_loader), str(COMPOSE_FILE), str(COMPOSE_FILE.parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.returncode == 0, loaded.stderr
    project = yaml.safe_load(loaded.stdout)
    images = {name: svc.get("image") for name, svc in project["services"].items()}
    for name, (repository, key) in IMAGES.items():
        assert images.get(name) == f"{repository}:{versions[key]}", (name, images.get(name))
    for name, svc in project["services"].items():
        for port in svc.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", (name, port)
