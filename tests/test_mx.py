"""MX lookups against a real DNS server: dnsmasq on 127.0.0.1 with fixture records.

The zone ``lm-test.net`` is answered locally only (``--local``), so nothing
leaves the machine: every other name is REFUSED and unknown names in the zone
are NXDOMAIN.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from leadminer.clean import AddressCleaner
from leadminer.contracts import Status
from leadminer.mx import DnsMxChecker, MxResult

ZONE = "lm-test.net"
RECORDS = [
    f"--local=/{ZONE}/",
    f"--mx-host=ok.{ZONE},mail.ok.{ZONE},10",
    f"--mx-host=ok.{ZONE},backup.ok.{ZONE},20",
    f"--host-record=mail.ok.{ZONE},192.0.2.1",
    f"--host-record=aonly.{ZONE},192.0.2.2",
    f"--mx-host=nullmx.{ZONE},.,0",
    f"--txt-record=txtonly.{ZONE},no mail here",
]


def _dnsmasq_binary() -> str:
    found = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "dnsmasq-base"], capture_output=True, timeout=300)
        found = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None)
        if found:
            return found
    pytest.skip("dnsmasq not installed and `apt-get install dnsmasq-base` was not possible: MX tests need a real DNS server")


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (dnsmasq binds both)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port")


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory):
    """(host, port) of a dnsmasq serving the fixture zone; stopped after the module."""
    binary = _dnsmasq_binary()
    folder = tmp_path_factory.mktemp("dnsmasq")
    port = _free_port()
    command = [
        binary, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
        "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={port}",
        f"--pid-file={folder / 'dnsmasq.pid'}", f"--log-facility={folder / 'dnsmasq.log'}",
        *RECORDS,
    ]
    if os.geteuid() == 0:
        command.append("--user=root")  # no privilege drop needed for a test server
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_until_answering(port, process)
        yield ("127.0.0.1", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(port: int, process: subprocess.Popen) -> None:
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"dnsmasq exited with {process.returncode}: {output}")
        try:
            resolver.resolve(f"ok.{ZONE}", "MX", lifetime=0.5)
            return
        except dns.exception.DNSException:
            time.sleep(0.05)
    pytest.fail("dnsmasq did not answer within 10 s")


@pytest.fixture()
def checker(dns_server):
    host, port = dns_server
    return DnsMxChecker(nameserver=host, port=port, timeout=2.0)


def test_domain_with_mx_is_valid(checker):
    result = checker.check(f"ok.{ZONE}")
    assert result.status is Status.VALID
    assert result.reason == f"MX mail.ok.{ZONE}, backup.ok.{ZONE}"  # by preference


def test_nxdomain_is_invalid(checker):
    assert checker.check(f"missing.{ZONE}") == MxResult(Status.INVALID, "domain does not exist (NXDOMAIN)")


def test_a_record_without_mx_is_valid_implicit_mx(checker):
    result = checker.check(f"aonly.{ZONE}")
    assert result.status is Status.VALID
    assert "implicit MX" in result.reason


def test_null_mx_is_invalid(checker):
    result = checker.check(f"nullmx.{ZONE}")
    assert result.status is Status.INVALID
    assert "null MX" in result.reason


def test_no_mx_and_no_address_is_invalid(checker):
    assert checker.check(f"txtonly.{ZONE}") == MxResult(Status.INVALID, "no MX and no A/AAAA record")


def test_refused_is_unknown_never_valid(checker):
    result = checker.check("example.com")  # outside the zone: dnsmasq has no upstream and refuses
    assert result.status is Status.UNKNOWN
    assert "SERVFAIL/REFUSED" in result.reason


def test_timeout_is_unknown():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        checker = DnsMxChecker(nameserver="127.0.0.1", port=silent.getsockname()[1], timeout=0.3)
        started = time.monotonic()
        result = checker.check(f"ok.{ZONE}")
        elapsed = time.monotonic() - started
    assert result == MxResult(Status.UNKNOWN, "DNS timeout after 0.3 s")
    assert elapsed < 2.0


def test_verdicts_are_cached_per_domain(checker):
    first = checker.check(f"ok.{ZONE}")
    assert checker.lookups == 1
    assert checker.check(f"OK.{ZONE}.") == first  # same domain, other spelling
    assert checker.check(f"missing.{ZONE}").status is Status.INVALID
    assert checker.lookups == 2
    assert set(checker.cache) == {f"ok.{ZONE}", f"missing.{ZONE}"}


def test_shared_cache_mapping(dns_server):
    host, port = dns_server
    shared: dict[str, MxResult] = {}
    DnsMxChecker(nameserver=host, port=port, cache=shared).check(f"ok.{ZONE}")
    second = DnsMxChecker(nameserver=host, port=port, cache=shared)
    assert second.check(f"ok.{ZONE}").status is Status.VALID
    assert second.lookups == 0


def test_empty_domain_and_bad_timeout():
    assert DnsMxChecker().check(" ").status is Status.INVALID
    with pytest.raises(ValueError):
        DnsMxChecker(timeout=0)


def test_cleaner_with_dns_checker_end_to_end(checker):
    cleaner = AddressCleaner(["me@ok.lm-test.net"], mx=checker)
    results = {r.email: r for r in cleaner.clean_batch(
        [f"jane@ok.{ZONE}", f"info@aonly.{ZONE}", f"bob@missing.{ZONE}", f"me+x@ok.{ZONE}", "bad@@x"]
    )}
    assert results[f"jane@ok.{ZONE}"].status is Status.VALID
    assert results[f"info@aonly.{ZONE}"].status is Status.VALID
    assert results[f"info@aonly.{ZONE}"].tags == ["professional", "role"]
    assert results[f"bob@missing.{ZONE}"].status is Status.INVALID
    assert results[f"me+x@ok.{ZONE}"].tags == ["professional", "user"]
    assert results["bad@@x"].status is Status.INVALID
    assert checker.lookups == 3  # ok, aonly, missing: once each


def test_embedded_mining_with_mx_checks_sets_each_status(checker, tmp_path):
    import asyncio

    from leadminer.adapters.sqlite import SqliteMainStore, connect
    from leadminer_runner.embedded import mine
    from leadminer_runner.sources import FileMessageSource

    folder = tmp_path / "mail"
    folder.mkdir()
    for i, sender in enumerate([f"jane@ok.{ZONE}", f"bob@missing.{ZONE}", f"ann@nullmx.{ZONE}"]):
        (folder / f"{i}.eml").write_bytes(
            f"From: {sender}\nTo: me@ok.{ZONE}\nSubject: s{i}\nMessage-ID: <{i}@t>\n\nhello\n".encode()
        )
    mine(FileMessageSource(folder), db_path=tmp_path / "m.db", identities=[f"me@ok.{ZONE}"], mx=checker)
    conn = connect(tmp_path / "m.db")
    statuses = {p.email: p.status for p in asyncio.run(SqliteMainStore(conn).persons("local"))}
    conn.close()
    assert statuses == {f"jane@ok.{ZONE}": "valid", f"bob@missing.{ZONE}": "invalid", f"ann@nullmx.{ZONE}": "invalid"}
