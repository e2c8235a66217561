"""The core runs under Pyodide 314 (Cloudflare Python Workers) and mines like CPython.

``tests/pyodide/run_core.mjs`` boots Pyodide in Node from the npm package,
offline, loads the core's wheels (``scripts/pyodide_wheels.py``) and runs
``tests/pyodide/mine.py`` on ~20 corpus messages; the same ``mine.py`` runs under
this CPython. Both outputs must agree. After the mining, ``mine.py`` also calls a few
routes of the HTTP API in-process (``tests/pyodide/api_check.py``: FastAPI over the
in-memory backend, through a minimal ASGI client), and those answers must agree too.
Neither the core nor the app may start a thread, open a socket or spawn a process. The harness is installed on first use
(``npm ci`` + the wheel script), so a fresh machine only needs node, npm and
access to the package registries.
"""

from __future__ import annotations

import email
import email.utils
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from corpora import corpus_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HARNESS_DIR = PROJECT_ROOT / "tests" / "pyodide"
WHEEL_SCRIPT = PROJECT_ROOT / "scripts" / "pyodide_wheels.py"
INSTALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 300

if shutil.which("node") is None or shutil.which("npm") is None:
    pytest.skip("node and npm are needed to run the core under Pyodide", allow_module_level=True)

pytestmark = pytest.mark.corpus

#: (corpus, glob, how many): evenly spread over each corpus so every kind of mail is in.
SAMPLE = (
    ("spamassassin", "*/*/*.eml", 6),
    ("lkml", "cur/*", 5),
    ("newsletters", "*.eml", 4),
    ("quagga-enron-train", "*.txt", 2),
)
#: Messages the mailbox owner sent, so the pipeline sees the user's side too.
SENT_SAMPLE = ("quagga-enron-train", "*_sent*.txt", 2)
#: Messages whose gold annotation has a phone number in a signature, so the
#: signature stage (and phonenumbers) has work to do.
SIGNATURE_SAMPLE = ("quagga-enron-train", "*.txt", 3)


def spread(paths: list[Path], count: int) -> list[Path]:
    """``count`` paths evenly spaced over the sorted list."""
    paths = sorted(paths)
    step = max(1, len(paths) // count)
    return paths[::step][:count]


def has_signature_phone(message: Path) -> bool:
    """True when the message's Quagga annotation (``<file>.ann``) marks a phone in a signature."""
    annotation = json.loads(message.with_name(message.name + ".ann").read_text(encoding="utf-8"))
    return any(span["type"] == "Body/Signature/Phone" for span in annotation["denotations"])


def sender_address(path: Path) -> str:
    """The From address of a raw message."""
    message = email.message_from_bytes(path.read_bytes())
    return email.utils.parseaddr(str(message["from"]))[1].lower()


@pytest.fixture(scope="module")
def request_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mine.py request over the corpus sample, with the senders of the sent messages as identities."""
    messages = [p for name, pattern, n in SAMPLE for p in spread(list(corpus_dir(name).glob(pattern)), n)]
    name, pattern, n = SENT_SAMPLE
    sent = spread(list(corpus_dir(name).glob(pattern)), n)
    name, pattern, n = SIGNATURE_SAMPLE
    signed = spread([p for p in corpus_dir(name).glob(pattern) if has_signature_phone(p)], n)
    identities = sorted({sender_address(p) for p in sent})
    paths = list(dict.fromkeys(messages + sent + signed))
    request = {"identities": identities, "repeat": 1, "messages": [{"path": str(p)} for p in paths]}
    path = tmp_path_factory.mktemp("pyodide") / "request.json"
    path.write_text(json.dumps(request))
    return path


def run(command: list[str], *, timeout: float, cwd: Path = PROJECT_ROOT, stdin: str | None = None) -> str:
    """Run a command; fail the test with its stderr when it fails."""
    result = subprocess.run(command, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result.stdout


def pyodide_installed() -> bool:
    """True when node_modules holds the Pyodide version that package-lock.json pins."""
    installed = HARNESS_DIR / "node_modules" / "pyodide" / "package.json"
    if not installed.is_file() or not installed.with_name("pyodide.asm.wasm").is_file():
        return False
    locked = json.loads((HARNESS_DIR / "package-lock.json").read_text())["packages"]["node_modules/pyodide"]
    return json.loads(installed.read_text())["version"] == locked["version"]


@pytest.fixture(scope="module")
def harness() -> Path:
    """The Node harness, with its npm packages and the cached wheels installed."""
    if not pyodide_installed():
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HARNESS_DIR, timeout=INSTALL_TIMEOUT_S)
    run([sys.executable, str(WHEEL_SCRIPT)], timeout=INSTALL_TIMEOUT_S)
    return HARNESS_DIR / "run_core.mjs"


@pytest.fixture(scope="module")
def pyodide_result(harness: Path, request_file: Path) -> dict[str, Any]:
    return json.loads(run(["node", str(harness), "--request", str(request_file)], timeout=RUN_TIMEOUT_S))


@pytest.fixture(scope="module")
def cpython_result(request_file: Path) -> dict[str, Any]:
    mine = HARNESS_DIR / "mine.py"
    return json.loads(run([sys.executable, str(mine), "--request", str(request_file)], timeout=RUN_TIMEOUT_S))


def test_harness_runs_pyodide_314_with_the_pinned_pydantic_pair(pyodide_result: dict[str, Any]) -> None:
    spec = importlib.util.spec_from_file_location("pyodide_wheels", WHEEL_SCRIPT)
    pyodide_wheels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pyodide_wheels)
    runtime = pyodide_result["runtime"]
    assert runtime["platform"] == "emscripten"
    assert runtime["python"].startswith("3.14.")
    assert (runtime["pydantic"], runtime["pydantic_core"]) == (
        pyodide_wheels.PYDANTIC_VERSION,
        pyodide_wheels.PYDANTIC_CORE_VERSION,
    )


def test_dependencies_give_the_same_answers(pyodide_result: dict[str, Any], cpython_result: dict[str, Any]) -> None:
    assert pyodide_result["probe"] == cpython_result["probe"]
    assert pyodide_result["probe"]["email_validator"]["normalized"] == "Jane.Doe@bücher.example"


def test_every_core_module_that_imports_on_cpython_imports_on_pyodide(
    pyodide_result: dict[str, Any], cpython_result: dict[str, Any]
) -> None:
    imported = set(pyodide_result["modules"]["imported"])
    assert {"leadminer", "leadminer.contracts"} <= imported
    only_on_cpython = set(cpython_result["modules"]["imported"]) - imported
    failures = {name: pyodide_result["modules"]["failed"].get(name) for name in sorted(only_on_cpython)}
    assert not failures, f"imports on CPython but not under Pyodide: {failures}"


@pytest.mark.parametrize("runtime", ["pyodide", "cpython"])
def test_core_starts_no_thread_socket_or_process(
    runtime: str, pyodide_result: dict[str, Any], cpython_result: dict[str, Any]
) -> None:
    result = pyodide_result if runtime == "pyodide" else cpython_result
    assert result["forbidden_calls"] == []
    assert result["forbidden_imported"] == []
    assert result["threads"] == 1


def test_mining_flow_under_pyodide_matches_cpython(pyodide_result: dict[str, Any], cpython_result: dict[str, Any]) -> None:
    """The whole mining flow (stage chain, fan-in, steps over the SQLite adapters — D1 is
    SQLite — and in-process queues) gives the same persons on both runtimes."""
    for result in (cpython_result, pyodide_result):
        failed = result["modules"]["failed"].get("leadminer.flow.memory", "no leadminer.flow.memory module")
        assert result["mode"] == "flow", f"{result['runtime']['platform']}: the flow is not importable: {failed}"
    persons = cpython_result["persons"]
    assert persons, "the flow found nobody in the sample"
    assert pyodide_result["persons"] == persons
    assert any(p["telephone"] or p["job_title"] or p["organization"] for p in persons), "no signature field mined"


def test_harness_refuses_a_missing_message_file(harness: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nothing.eml"
    result = subprocess.run(["node", str(harness), str(missing)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"not a file: {missing}" in result.stderr
    assert result.stdout == ""



#: What the HTTP API answers in-process over the in-memory backend (tests/pyodide/api_check.py).
EXPECTED_API_STATUSES = {
    "health": 200,
    "minings_without_token": 401,
    "minings_empty": 200,
    "minings_of_another_user": 403,
    "mailbox_not_available": 501,
    "upload": 202,
    "progress": 200,
    "status": 200,
    "export": 200,
}


@pytest.mark.parametrize("runtime", ["pyodide", "cpython"])
def test_api_answers_its_routes_in_process(runtime: str, pyodide_result: dict[str, Any], cpython_result: dict[str, Any]) -> None:
    """FastAPI + the app over MemoryBackend import and answer under both runtimes: auth, the
    envelope, an upload mined by the in-process worker, its SSE progress, the export."""
    api = (pyodide_result if runtime == "pyodide" else cpython_result)["api"]
    assert "error" not in api, api["error"]
    calls = api["calls"]
    assert {name: calls[name]["status"] for name in EXPECTED_API_STATUSES} == EXPECTED_API_STATUSES
    assert all(check["ok"] for check in calls["health"]["body"]["data"]["dependencies"].values())
    assert calls["minings_without_token"]["body"] == {"data": None, "error": {"code": "unauthorized", "message": "missing bearer token"}}
    assert calls["minings_empty"]["body"] == {"error": None, "data": []}
    assert calls["upload"]["body"]["data"]["miningId"] == "<mining>"
    assert calls["progress"]["content_type"].startswith("text/event-stream")
    assert [e["event"] for e in calls["progress"]["events"]][-1] == "mining-completed"
    assert calls["status"]["body"]["data"]["status"] == "done"
    exported = json.loads(calls["export"]["text"])
    assert {p["email"] for p in exported} >= {"ada@analytical.example", "grace@cobol.example", "alan@bletchley.example"}
    assert calls["spool_removed"] is True


def test_api_under_pyodide_answers_as_under_cpython(pyodide_result: dict[str, Any], cpython_result: dict[str, Any]) -> None:
    """Same statuses, same envelopes (ids and times aside), same SSE events, same export bytes."""
    pyodide_calls, cpython_calls = pyodide_result["api"].get("calls"), cpython_result["api"].get("calls")
    assert pyodide_calls is not None, pyodide_result["api"].get("error")
    assert {k: v["status"] for k, v in pyodide_calls.items() if isinstance(v, dict)} == {
        k: v["status"] for k, v in cpython_calls.items() if isinstance(v, dict)
    }
    assert pyodide_calls["export"]["text"].encode() == cpython_calls["export"]["text"].encode()
    assert pyodide_calls == cpython_calls


@pytest.mark.parametrize("runtime", ["pyodide", "cpython"])
def test_api_starts_no_thread_socket_or_process(runtime: str, pyodide_result: dict[str, Any], cpython_result: dict[str, Any]) -> None:
    result = pyodide_result if runtime == "pyodide" else cpython_result
    assert result["api"]["forbidden_calls"] == []
    assert result["threads"] == 1
