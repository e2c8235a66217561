"""A real Dovecot IMAP server for tests, started as a child process on a free loopback port.

Use the pytest fixtures in ``tests/conftest.py`` (``dovecot``, ``dovecot_account``,
``dovecot_server``) or, from a script::

    server = start_dovecot()
    account = server.add_account()                 # fresh, empty mailbox
    account.append("INBOX", b"From: a@b\\r\\n\\r\\nhi")
    ...
    server.stop()

Everything lives in a temporary folder (config, sockets, logs, Maildirs):
``ssl = no``, cleartext login allowed, passwords in a passwd-file, one userdb
uid for every account. When Dovecot is missing, :func:`find_dovecot` tries
``apt-get install dovecot-imapd`` (as root, or through ``sudo -n``) and raises
:class:`DovecotUnavailable` with the reason if that fails. Dovecot 2.3 and 2.4
configuration syntaxes are both written (``dovecot --version`` decides).
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from leadminer_runner import local_servers as servers

HOST = "127.0.0.1"
SPECIAL_FOLDERS = {"Drafts": "\\Drafts", "Junk": "\\Junk", "Sent": "\\Sent", "Trash": "\\Trash"}
_APPENDUID = re.compile(rb"APPENDUID (\d+) (\d+)")


class DovecotUnavailable(RuntimeError):
    """Dovecot is not installed and could not be installed."""


# --------------------------------------------------------------------------- install


def _dovecot_binary() -> str | None:
    for candidate in (shutil.which("dovecot"), "/usr/sbin/dovecot"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_dovecot(install: bool = True) -> str:
    """Path of the ``dovecot`` binary; installs the Debian/Ubuntu package when missing."""
    try:
        return servers.find_or_install(_dovecot_binary, "dovecot-imapd", "Dovecot", install=install)
    except servers.ServerUnavailable as exc:
        raise DovecotUnavailable(str(exc)) from None


def dovecot_version(binary: str) -> tuple[int, ...]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", out.strip())
    if not match:
        raise DovecotUnavailable(f"cannot read the Dovecot version from {out!r}")
    return tuple(int(part) for part in match.groups() if part is not None)


# --------------------------------------------------------------------------- server


@dataclass
class DovecotAccount:
    """One mail account on a :class:`DovecotServer`."""

    server: DovecotServer
    user: str
    password: str = field(repr=False)
    maildir: Path
    corpus_files: dict[str, list[Path]] = field(default_factory=dict)  # set by populate_from_corpora

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, folder: str | None = None) -> str:
        """``imap://user@host:port[/folder]?security=plain``."""
        path = f"/{folder}" if folder else ""
        return f"imap://{self.user}@{self.host}:{self.port}{path}?security=plain"

    @contextlib.contextmanager
    def imap(self) -> Iterator[imaplib.IMAP4]:
        """A logged-in plain :mod:`imaplib` connection (independent of the code under test)."""
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            if (self.user + self.password).isascii():
                client.login(self.user, self.password)
            else:  # LOGIN is ASCII-only
                secret = f"\0{self.user}\0{self.password}".encode()
                client.authenticate("PLAIN", lambda _challenge: secret)
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def create_folder(self, folder: str) -> None:
        with self.imap() as client:
            typ, data = client.create(_quoted(folder))
            if typ != "OK" and b"exists" not in b" ".join(d for d in data if d).lower():
                raise RuntimeError(f"CREATE {folder} failed: {data}")

    def delete_folder(self, folder: str) -> None:
        with self.imap() as client:
            typ, data = client.delete(_quoted(folder))
            if typ != "OK":
                raise RuntimeError(f"DELETE {folder} failed: {data}")

    def append(self, folder: str, message: bytes, flags: tuple[str, ...] = (), received: datetime | None = None) -> int:
        """IMAP APPEND ``message`` to ``folder`` (created if needed), with ``received`` as its
        INTERNALDATE (default: now); returns its UID."""
        self.create_folder(folder)
        when = imaplib.Time2Internaldate(received) if received is not None else None
        with self.imap() as client:
            typ, data = client.append(_quoted(folder), f"({' '.join(flags)})" if flags else None, when, message)
            if typ != "OK":
                raise RuntimeError(f"APPEND to {folder} failed: {data}")
            match = _APPENDUID.search(b" ".join(d for d in data if isinstance(d, bytes)))
            return int(match.group(2)) if match else 0

    def uidvalidity(self, folder: str) -> int:
        with self.imap() as client:
            typ, data = client.status(_quoted(folder), "(UIDVALIDITY)")
            return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))

    def set_uidvalidity(self, folder: str, value: int) -> None:
        """Change a folder's UIDVALIDITY the way a server migration does (``doveadm mailbox update``)."""
        self.server.doveadm("mailbox", "update", "-u", self.user, "--uid-validity", str(value), folder)


class DovecotServer:
    """A running Dovecot; :meth:`stop` ends it and removes its folder."""

    def __init__(
        self, binary: str, base_dir: Path, port: int, version: tuple[int, ...], *, tls_port: int = 0,
        cert: Path | None = None, key: Path | None = None,
    ) -> None:  # fmt: skip
        self.binary = binary
        self.base_dir = base_dir
        self.host = HOST
        self.port = port
        self.tls_port = tls_port  # implicit TLS (imaps); 0 when no certificate could be made
        self.cert = cert  # self-signed, for 127.0.0.1 / localhost: trust it with ssl.create_default_context(cafile=…)
        self.key = key
        self.version = version
        self.accounts: dict[str, DovecotAccount] = {}
        self.process: subprocess.Popen | None = None
        self.config = base_dir / "dovecot.conf"
        self.log_path = base_dir / "dovecot.log"
        self.passwd = base_dir / "users"
        self.mail_root = base_dir / "mail"
        self.mail_uid, self.mail_gid, self.login_user, self.internal_user, self.internal_group = _service_users()

    # ------------------------------------------------------------------ accounts

    def add_account(self, user: str | None = None, password: str | None = None) -> DovecotAccount:
        """A new account with an empty Maildir (INBOX plus the special-use folders)."""
        user = user or f"user{secrets.token_hex(4)}"
        password = password or secrets.token_urlsafe(12)
        if ":" in user or ":" in password:
            raise ValueError("':' is not allowed in passwd-file users and passwords")
        maildir = self.mail_root / user
        for folder in ("", *(f".{name}" for name in SPECIAL_FOLDERS)):
            for sub in ("cur", "new", "tmp"):
                (maildir / folder / sub).mkdir(parents=True, exist_ok=True)
            if folder:
                (maildir / folder / "maildirfolder").touch()
        self._give_to_mail_user(maildir)
        # one passwd-file per user: a new file is read at once (an edited one only after ~1 s)
        (self.passwd / user).write_text(f"{user}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
        account = DovecotAccount(self, user, password, maildir)
        self.accounts[user] = account
        return account

    def fill_folder(self, account: DovecotAccount, folder: str, files: list[Path], *, seen: bool = True) -> None:
        """Copy message files into ``folder`` of the account's Maildir (before anyone reads it)."""
        target = account.maildir / ("" if folder == "INBOX" else f".{folder}")
        for sub in ("cur", "new", "tmp"):
            (target / sub).mkdir(parents=True, exist_ok=True)
        if folder != "INBOX":
            (target / "maildirfolder").touch()
        for path in files:
            name = path.name
            if ":2," not in name:
                name = f"{path.stem if path.suffix == '.eml' else name}:2,{'S' if seen else ''}"
            shutil.copyfile(path, target / "cur" / name)
        self._give_to_mail_user(account.maildir)

    def _give_to_mail_user(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        for root, dirs, files in os.walk(path):
            for name in (root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)):
                os.chown(name, self.mail_uid, self.mail_gid)

    # ------------------------------------------------------------------ process

    def start(self, timeout: float = 20.0) -> None:
        for sub in ("run", "state", "home", "mail"):
            (self.base_dir / sub).mkdir(exist_ok=True)
        self._give_to_mail_user(self.base_dir / "home")
        self._give_to_mail_user(self.mail_root)
        self.passwd.mkdir(exist_ok=True)
        self.config.write_text(self._config_text(), encoding="utf-8")
        with open(self.base_dir / "stderr.log", "wb") as stderr:
            self.process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Dovecot exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Dovecot did not answer on {self.host}:{self.port} within {timeout:g} s:\n{self.log_text()}")

    def stop(self) -> None:
        """Stop the server (our own child process only) and delete its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_text(self) -> str:
        parts = []
        for path in (self.log_path, self.base_dir / "stderr.log"):
            if path.exists():
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(parts)

    def doveadm(self, *args: str) -> str:
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        done = subprocess.run([doveadm, "-c", str(self.config), *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def _config_text(self) -> str:
        values = {
            "base": self.base_dir,
            "port": self.port,
            "uid": self.mail_uid,
            "gid": self.mail_gid,
            "login_user": self.login_user,
            "internal_user": self.internal_user,
            "internal_group": self.internal_group,
            "first_valid_uid": min(self.mail_uid, 500),
            "tls_port": self.tls_port if self.cert else 0,
            "ssl": self._ssl_settings(),
        }
        mailboxes = "\n".join(
            f"  mailbox {name} {{\n    special_use = {use}\n  }}" for name, use in SPECIAL_FOLDERS.items()
        )
        template = _CONFIG_24 if self.version >= (2, 4) else _CONFIG_23
        return template.format(**values, mailboxes=mailboxes)

    def _ssl_settings(self) -> str:
        """STARTTLS on the plain port and implicit TLS on ``tls_port``, when a certificate exists."""
        if not self.cert:
            return "ssl = no"
        if self.version >= (2, 4):
            return f"ssl = yes\nssl_server_cert_file = {self.cert}\nssl_server_key_file = {self.key}"
        return f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{self.key}"


_COMMON = """\
base_dir = {base}/run
state_dir = {base}/state
instance_name = leadminer-test-{port}
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
auth_verbose = yes
{ssl}
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = {first_valid_uid}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
  # no auth penalty: a failed-login test must not slow down the next logins
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
{mailboxes}
}}
"""

_CONFIG_23 = (
    """\
disable_plaintext_auth = no
auth_failure_delay = 0
mail_location = maildir:{base}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/users/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/home/%u
}}
"""
    + _COMMON
)

_CONFIG_24 = (
    """\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
auth_allow_cleartext = yes
mail_driver = maildir
mail_path = {base}/mail/%{{user}}
mail_home = {base}/home/%{{user}}
passdb passwd-file {{
  passwd_file_path = {base}/users/%{{user}}
}}
userdb static {{
  fields {{
    uid = {uid}
    gid = {gid}
    home = {base}/home/%{{user}}
  }}
}}
"""
    + _COMMON
)


def _service_users() -> tuple[int, int, str, str, str]:
    """(mail uid, mail gid, login user, internal user, internal group).

    As root, mail belongs to ``nobody`` (Dovecot refuses uid 0 for mail),
    logins run as ``dovenull`` (or ``nobody``) and internal services as
    ``dovecot`` (or root); otherwise everything runs as the current user.
    """
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.getuid())
        group = grp.getgrgid(os.getgid()).gr_name
        return me.pw_uid, me.pw_gid, me.pw_name, me.pw_name, group
    nobody = pwd.getpwnam("nobody")
    login = "dovenull" if _user_exists("dovenull") else "nobody"
    internal = "dovecot" if _user_exists("dovecot") else "root"
    group = grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name
    return nobody.pw_uid, nobody.pw_gid, login, internal, group


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _self_signed_certificate(base_dir: Path) -> tuple[Path | None, Path | None]:
    """A throw-away certificate for 127.0.0.1 / localhost (openssl); (None, None) without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None, None
    cert, key = base_dir / "tls-cert.pem", base_dir / "tls-key.pem"
    result = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        return None, None
    cert.chmod(0o644)
    key.chmod(0o644)  # Dovecot reads it as root before dropping privileges; a test key only
    return cert, key


def start_dovecot(*, install: bool = True, tls: bool = True) -> DovecotServer:
    """Start a fresh Dovecot (no accounts yet), with STARTTLS and imaps when ``tls``
    and openssl allow. Raises :class:`DovecotUnavailable` when it cannot be had."""
    binary = find_dovecot(install=install)
    version = dovecot_version(binary)
    # Not under pytest's 0700 tmp tree: Dovecot's login processes (another uid) must reach base_dir.
    base_dir = Path(tempfile.mkdtemp(prefix="leadminer-dovecot-"))
    base_dir.chmod(0o755)
    cert, key = _self_signed_certificate(base_dir) if tls else (None, None)
    server = DovecotServer(binary, base_dir, _free_port(), version, tls_port=_free_port() if cert else 0, cert=cert, key=key)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


# --------------------------------------------------------------------------- corpus mailbox


def populate_from_corpora(server: DovecotServer, account: DovecotAccount, corpus_dir) -> dict[str, list[Path]]:
    """Fill an account from the public corpora; returns folder → the message files it holds.

    INBOX: the lkml Maildir (210); Lists: 120 SpamAssassin easy-ham; Sent: 30
    Enron "sent" messages; Junk (\\Junk): 40 SpamAssassin spam; Trash
    (\\Trash): 10 hard-ham; Drafts (\\Drafts) stays empty.
    """
    lkml = corpus_dir("lkml")
    spamassassin = corpus_dir("spamassassin")
    enron = corpus_dir("quagga-enron-train")
    layout = {
        "INBOX": sorted((lkml / "cur").iterdir()),
        "Lists": sorted((spamassassin / "ham" / "easy-ham-1").glob("*.eml"))[:120],
        "Sent": sorted(p for p in enron.glob("*_sent*.txt"))[:30],
        "Junk": sorted((spamassassin / "spam" / "spam-1").glob("*.eml"))[:40],
        "Trash": sorted((spamassassin / "ham" / "hard-ham-1").glob("*.eml"))[:10],
    }
    for folder, files in layout.items():
        server.fill_folder(account, folder, files)
    account.corpus_files = layout
    return layout
