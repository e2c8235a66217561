"""compose.yaml (docs/self-host.md) starts what the tests start: PostgreSQL and Redis of the
majors the session's servers run, the API and N workers of this checkout's image, each with
variables that docs/env.md documents. Docker cannot run here (no daemon): the file is parsed
and checked, not started."""

from __future__ import annotations

import re
from pathlib import Path

import redis
import yaml

from leadminer_runner.cli import app
from pg import admin, postgres_database  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
DOCUMENTED = set(re.findall(r"^\| `([A-Z_0-9]+)`", (ROOT / "docs" / "env.md").read_text(), re.MULTILINE))


def major(version: str) -> str:
    return version.split(".")[0]


def test_the_services_are_postgres_redis_the_api_and_scalable_workers():
    assert set(SERVICES) == {"postgres", "redis", "api", "worker"}
    assert SERVICES["api"]["command"][:2] == ["leadminer", "api"]
    assert SERVICES["worker"]["command"] == ["leadminer", "selfhost", "worker"]
    assert str(SERVICES["worker"]["deploy"]["replicas"]).startswith("${LEADMINER_WORKERS")
    commands = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert {"api", "selfhost", "token"} <= commands
    for name in ("api", "worker"):
        assert SERVICES[name]["build"] == "." and (ROOT / "Dockerfile").is_file()
        assert set(SERVICES[name]["depends_on"]) == {"postgres", "redis"}


def test_the_servers_are_the_majors_the_tests_run_against(postgres_database, redis_url):  # noqa: F811 - fixture
    with admin(postgres_database) as conn:
        postgres_version = str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]
    assert SERVICES["postgres"]["image"] == f"postgres:{major(postgres_version)}"
    client = redis.Redis.from_url(redis_url)
    try:
        redis_version = client.info("server")["redis_version"]
    finally:
        client.close()
    assert SERVICES["redis"]["image"] == f"redis:{major(redis_version)}"


def test_every_variable_is_documented_and_the_spool_is_shared():
    for name in ("api", "worker"):
        environment = SERVICES[name]["environment"]
        leadminer = {k for k in environment if k.startswith(("LEADMINER_", "SUPABASE_", "STORAGE_"))}
        assert leadminer and leadminer <= DOCUMENTED, leadminer - DOCUMENTED
        assert environment["STORAGE_MODE"] == "postgresql"
        assert f"spool:{environment['LEADMINER_SPOOL_DIR']}" in SERVICES[name]["volumes"]
    assert "SUPABASE_JWT_SECRET" in SERVICES["api"]["environment"]
    assert "LEADMINER_SECRET_KEY" in SERVICES["worker"]["environment"]  # decrypts stored mailboxes
    interpolated = set(re.findall(r"\$\{([A-Z_0-9]+)", (ROOT / "compose.yaml").read_text()))
    self_host = (ROOT / "docs" / "self-host.md").read_text()
    assert {v for v in interpolated if v not in DOCUMENTED} <= set(re.findall(r"`([A-Z_0-9]+)`", self_host))


def test_the_temporary_database_is_created_beside_the_main_one():
    urls = SERVICES["api"]["environment"]
    temp_db = urls["LEADMINER_TEMP_DATABASE_URL"].rsplit("/", 1)[1]
    main_db = urls["LEADMINER_DATABASE_URL"].rsplit("/", 1)[1]
    assert main_db == SERVICES["postgres"]["environment"]["POSTGRES_DB"] and temp_db != main_db
    init = "".join(p.read_text() for p in (ROOT / "deploy" / "initdb").glob("*.sql"))
    assert f"CREATE DATABASE {temp_db} " in init
