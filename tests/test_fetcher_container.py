"""The IMAP fetcher as a Cloudflare Container (fetcher/Dockerfile, the [[containers]] and
Durable Object binding of wrangler/fetch-dispatch.toml). Docker cannot run here (no daemon), so
the image is not built: its Dockerfile and the configs are parsed and checked against the code
(what the container runs is tested as a process in tests/test_cloudflare.py)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from leadminer.adapters.cloudflare.fetcher import CONTAINER_COMMAND

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "fetcher" / "Dockerfile"
CONFIG = tomllib.loads((ROOT / "wrangler" / "fetch-dispatch.toml").read_text())


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_image_holds_the_core_and_the_fetcher_only_with_the_pins_of_the_project():
    steps = _instructions()
    assert steps[0][0] == "FROM" and re.fullmatch(r"python:3\.1[1-9]-slim\S*", steps[0][1])
    copies = [args.split() for op, args in steps if op == "COPY"]
    for source, _target in copies:  # the build context is the project root (image_build_context)
        assert (ROOT / source).exists(), source
    assert {source for source, _ in copies} == {"shared", "schemas", "fetcher/leadminer_fetcher"}
    install = next(args for op, args in steps if op == "RUN" and "pip install" in args)
    pinned = dict(re.findall(r'"([a-z0-9-]+)==([^"]+)"', (ROOT / "pyproject.toml").read_text()))
    for name, version in re.findall(r'"([a-z0-9-]+)==([^"]+)"', install):
        assert pinned.get(name) == version, f"{name} is pinned {pinned.get(name)} in pyproject.toml"
    assert "imap-tools" in install and "/src/shared" in install
    cmd = next(args for op, args in steps if op == "CMD")
    assert ast.literal_eval(cmd) == CONTAINER_COMMAND  # what the Durable Object starts


def test_the_fetcher_imports_nothing_of_the_runner_or_the_api():
    for path in (ROOT / "fetcher" / "leadminer_fetcher").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith(("leadminer_runner", "leadminer_api", "psycopg", "redis", "fastapi")), (path.name, name)


@pytest.mark.parametrize("env", ["staging", "production"])
def test_fetch_dispatch_binds_the_fetcher_container_in_every_environment(env):
    section = CONFIG["env"][env]
    (container,) = section["containers"]
    assert (ROOT / "wrangler" / container["image"]).resolve() == DOCKERFILE
    assert (ROOT / "wrangler" / container["image_build_context"]).resolve() == ROOT
    (binding,) = section["durable_objects"]["bindings"]
    assert binding == {"name": "FETCHER", "class_name": container["class_name"]}
    entry = ast.parse((ROOT / "workers" / "fetch-dispatch" / "entry.py").read_text())
    assert container["class_name"] in {n.name for n in entry.body if isinstance(n, ast.ClassDef)}
    assert container["class_name"] in CONFIG["migrations"][0]["new_sqlite_classes"]
    assert section["vars"]["LEADMINER_FETCH_API"].startswith("https://")  # where the container posts
    producers = {p["binding"] for p in section["queues"]["producers"]}
    assert {"FETCH_QUEUE", "EXTRACT_QUEUE", "CLEAN_QUEUE"} <= producers  # a dead fetcher's fetch is queued again


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.10", "169.254.169.254", "100.64.0.1", "::1", "::ffff:10.0.0.1"]
)
def test_the_hosted_fetcher_refuses_an_imap_host_on_a_non_public_address(host):
    from leadminer_fetcher.imap import ImapError
    from leadminer_fetcher.remote import refuse_non_public_host

    with pytest.raises(ImapError, match="private or reserved"):
        refuse_non_public_host(host, 993)
    refuse_non_public_host("93.184.216.34", 993)  # a public address (a literal: no DNS needed)


def test_a_refused_host_ends_the_mining_with_its_reason_before_any_connection_and_the_image_asks_for_it():
    from leadminer_fetcher.remote import FetchApi, fetch

    class RecordingApi(FetchApi):  # what the fetcher would post to fetch-dispatch
        posts: list = []

        def post(self, step: str, body: dict) -> dict:
            self.posts.append((step, body))
            return {}

    api = RecordingApi("http://fetch-dispatch.invalid", "m1", "token")
    account = {"host": "127.0.0.1", "port": 993, "login": "ann@example.com", "security": "tls"}
    fetch(api, "m1", account, "secret password", public_only=True)
    assert [step for step, _ in api.posts] == ["end"]
    assert "127.0.0.1" in api.posts[0][1]["error"] and "secret password" not in str(api.posts)
    assert "LEADMINER_FETCH_PUBLIC_ONLY=1" in (ROOT / "fetcher" / "Dockerfile").read_text()
