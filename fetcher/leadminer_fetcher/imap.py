"""Fetch stage for IMAP accounts (edge code: sockets, imap-tools).

:class:`ImapSource` reads an account folder by folder, in UID batches, and
fetches only what the miner needs: the full header block and the start of the
first text part. It remembers per folder how far it got (UIDVALIDITY + highest
UID) through a :class:`~leadminer.storage.FetchStateStore`, so the next mining
of the same account reads only new mail.

What ``RawMessage.data`` holds
    For each message, two FETCH round trips per batch:
    ``UID FETCH <set> (UID FLAGS BODYSTRUCTURE BODY.PEEK[HEADER])``, then, per
    distinct text part, ``BODY.PEEK[<part>.MIME] BODY.PEEK[<part>]<0.body_cap>``.
    The text part is the first text/plain part that is not an attachment
    (else the first text/html), found in BODYSTRUCTURE. ``data`` is then a
    valid RFC 5322 message the extract stage parses like any file:

    * single-part text message: ``<original header block><first body_cap bytes of the body>``;
    * multipart message: ``<original header block>--<boundary>\\r\\n<the part's own
      MIME header block><first body_cap bytes of the part>\\r\\n--<boundary>--\\r\\n``
      — the original top-level headers (Content-Type with its boundary included)
      wrapping a single part;
    * no text part (or ``body_cap=0``): the header block alone.

    The cap counts transfer-encoded bytes (base64 / quoted-printable are
    decoded later). This beats ``BODY.PEEK[]<0.N>``, which cuts long header
    blocks, and returns attachment bytes or an HTML part placed before the
    plain-text one; BODYSTRUCTURE is answered from the server's cache.

Incremental state
    The folder state is saved *after* a batch has been handed over, i.e. when
    the consumer asks for the message that follows the batch's last one (or
    the iteration ends). A consumer that stops half-way re-reads that batch
    next time: at-least-once, never a gap. A changed UIDVALIDITY makes the
    folder be read again from the start.

Secrets: the password / token is never logged nor put into an exception
message (errors are scrubbed of it as a last line of defence).
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import parse_qs, unquote, urlsplit

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxFolderSelectError, MailboxLoginError, UnexpectedCommandStatusError

from leadminer.contracts import FailedMessage, RawMessage
from leadminer.mailboxes import SECURITY_MODES, imap_label
from leadminer.storage import FetchStateStore, FolderState

from .imap_response import FetchParseError, TextPart, body_section, find_text_part, parse_fetch, uid_set

__all__ = [
    "DEFAULT_EXCLUDED",
    "ImapAuthError",
    "ImapConnectionError",
    "ImapError",
    "ImapFolder",
    "ImapSource",
    "ImapTimeoutError",
    "ImapUrl",
    "parse_imap_url",
]

log = logging.getLogger(__name__)

DEFAULT_EXCLUDED = ("\\Junk", "\\Trash", "\\Drafts")
"""Special-use folders left out unless asked for."""

DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "plain": 143}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # IMAP dates (RFC 3501)
SPECIAL_USES = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")

# Folder names that mean a special use, for servers without SPECIAL-USE (RFC 6154).
# Compared case-insensitively with the last level of the folder name.
_SPECIAL_NAMES: dict[str, frozenset[str]] = {
    "\\Junk": frozenset({
        "junk", "spam", "junk e-mail", "junk email", "junk mail", "bulk mail", "spam mail", "junk-e-mail",
        "courrier indésirable", "indésirables", "pourriel", "spamverdacht", "spam-verdacht",
        "posta indesiderata", "correo no deseado", "no deseado", "lixo eletrônico", "ongewenste e-mail",
        "ongewenst", "skräppost", "søppelpost", "uønsket e-post", "roskaposti", "wiadomości-śmieci",
        "nevyžádaná pošta", "спам", "нежелательная почта",
    }),
    "\\Trash": frozenset({
        "trash", "deleted", "deleted items", "deleted messages", "deleted mail", "bin", "corbeille",
        "éléments supprimés", "papierkorb", "gelöschte elemente", "gelöschte objekte", "cestino",
        "posta eliminata", "papelera", "elementos eliminados", "lixeira", "itens excluídos", "prullenbak",
        "verwijderde items", "kosz", "papperskorgen", "borttagna objekt", "papirkurv", "roskakori", "koš",
        "корзина", "удаленные",
    }),
    "\\Drafts": frozenset({
        "drafts", "draft", "brouillons", "entwürfe", "bozze", "borradores", "rascunhos", "concepten",
        "kopie robocze", "utkast", "kladder", "luonnokset", "koncepty", "черновики",
    }),
    "\\Sent": frozenset({
        "sent", "sent items", "sent messages", "sent mail", "envoyés", "éléments envoyés", "messages envoyés",
        "gesendet", "gesendete elemente", "gesendete objekte", "posta inviata", "inviata", "enviados",
        "elementos enviados", "itens enviados", "verzonden", "verzonden items", "wysłane", "elementy wysłane",
        "skickat", "skickade objekt", "sendt", "sendte elementer", "lähetetyt", "odeslaná pošta", "отправленные",
    }),
    "\\Archive": frozenset({"archive", "archives", "archiv", "archivio", "archivo", "archief", "archiwum"}),
}
_NETWORK_ERRORS = (OSError, imaplib.IMAP4.abort, EOFError)  # socket.timeout and ssl.SSLError are OSErrors


class ImapError(Exception):
    """An IMAP problem, worded for the user (never contains the password)."""


class ImapAuthError(ImapError):
    """The server refused the credentials."""


class ImapConnectionError(ImapError):
    """The server could not be reached, timed out, or dropped the connection."""


class ImapTimeoutError(ImapConnectionError):
    """The server did not answer in time (connecting, or during a command)."""


def _network_error(exc: BaseException) -> type[ImapConnectionError]:
    return ImapTimeoutError if isinstance(exc, socket.timeout) else ImapConnectionError


class _FetchRefused(Exception):
    """The server answered NO/BAD to a FETCH."""


# --------------------------------------------------------------------------- URLs


@dataclass(slots=True, frozen=True)
class ImapUrl:
    """What ``imap[s]://user@host[:port][/FOLDER][?security=…]`` says."""

    host: str
    port: int
    user: str
    security: str
    folder: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """``imap[s]://user@host:port[/folder]``: for display and as state key; never holds a secret."""
        return imap_label(self.host, self.port, self.user, self.security, self.folder)


def parse_imap_url(url: str) -> ImapUrl:
    """Parse an IMAP URL (RFC 5092 style, plus a ``security`` query parameter).

    * ``imaps://`` → implicit TLS (``ssl``), port 993 by default;
    * ``imap://`` → ``starttls``, port 143 by default. TLS is required: a
      server without STARTTLS is an error, never a silent fall back to
      cleartext. Cleartext needs an explicit ``?security=plain`` (test servers,
      local bridges);
    * the user may be percent-encoded (``john%40example.com``) and may carry an
      RFC 5092 ``;AUTH=…`` part (ignored); a password in the URL is accepted but
      better passed separately;
    * the path, if any, names one folder to read (percent-decoded).
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise ValueError(f"Not an IMAP URL (expected imap:// or imaps://): {_redact_url(url)}")
    query = parse_qs(parts.query)
    security = (query.get("security") or ["ssl" if scheme == "imaps" else "starttls"])[-1].lower()
    if security not in SECURITY_MODES:
        raise ValueError(f"Unknown security {security!r} in IMAP URL: use one of {', '.join(SECURITY_MODES)}")
    if not parts.hostname:
        raise ValueError(f"IMAP URL without a host: {_redact_url(url)}")
    try:
        port = parts.port or DEFAULT_PORTS[security]
    except ValueError:
        raise ValueError(f"Bad port in IMAP URL: {_redact_url(url)}") from None
    user = unquote((parts.username or "").split(";", 1)[0])
    if not user:
        raise ValueError(f"IMAP URL without a user (imap://user@host): {_redact_url(url)}")
    password = unquote(parts.password) if parts.password is not None else None
    folder = unquote(parts.path.lstrip("/").split(";", 1)[0]) or None
    return ImapUrl(parts.hostname, port, user, security, folder, password)


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


# --------------------------------------------------------------------------- folders


@dataclass(slots=True, frozen=True)
class ImapFolder:
    """A folder as LISTed, with its special use (``\\Junk`` …) from the flags or, failing that, its name."""

    name: str
    delimiter: str | None
    flags: tuple[str, ...]
    special_use: str | None = None
    special_use_guessed: bool = False  # True when it comes from the name, not the server

    @property
    def selectable(self) -> bool:
        lowered = {flag.lower() for flag in self.flags}
        return not lowered & {"\\noselect", "\\nonexistent"}


def _with_special_uses(listed: Iterable[tuple[str, str | None, tuple[str, ...]]]) -> list[ImapFolder]:
    """Attach special uses: the server's flags win; names are used for uses no folder is flagged with."""
    canonical = {use.lower(): use for use in SPECIAL_USES}
    folders = []
    for name, delimiter, flags in listed:
        use = next((canonical[flag.lower()] for flag in flags if flag.lower() in canonical), None)
        folders.append(ImapFolder(name, delimiter, tuple(flags), use))
    flagged = {folder.special_use for folder in folders if folder.special_use}
    result = []
    for folder in folders:
        if folder.special_use is None:
            leaf = folder.name.rsplit(folder.delimiter, 1)[-1] if folder.delimiter else folder.name
            guess = next((use for use, names in _SPECIAL_NAMES.items() if leaf.strip().casefold() in names), None)
            if guess and guess not in flagged and folder.name.upper() != "INBOX":
                folder = ImapFolder(folder.name, folder.delimiter, folder.flags, guess, True)
        result.append(folder)
    return result


# --------------------------------------------------------------------------- source


class ImapSource:
    """An IMAP account to mine.

    ``password`` or ``oauth2_token`` (XOAUTH2) authenticates ``user``.
    ``folders`` restricts the mining to these folder names; by default every
    selectable folder is read except the special-use ones in ``exclude_special``
    (Junk, Trash, Drafts). ``body_cap`` bytes of the text part are fetched
    (None: the whole part, 0: headers only).
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        user: str = "",
        password: str | None = None,
        *,
        oauth2_token: str | None = None,
        security: str = "ssl",
        folders: Iterable[str] | None = None,
        exclude_special: Iterable[str] = DEFAULT_EXCLUDED,
        batch_size: int = 500,
        body_cap: int | None = 16384,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        reconnects: int = 3,
        since: date | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {', '.join(SECURITY_MODES)}, not {security!r}")
        if not user:
            raise ValueError("an IMAP user is required")
        if (password is None) == (oauth2_token is None):
            raise ValueError("give exactly one of password or oauth2_token")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.user = user
        self.security = security
        self.folders = list(folders) if folders is not None else None
        canonical = {use.lower(): use for use in SPECIAL_USES}
        self.exclude_special = tuple(
            canonical.get(name.lower(), name) for name in ("\\" + use.strip().lstrip("\\") for use in exclude_special)
        )
        self.batch_size = batch_size
        self.body_cap = body_cap
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.reconnects = max(0, reconnects)  # a dropped connection is reopened this many times per run
        self.since = since  # only messages the server received on or after this day (SEARCH SINCE)
        self._password = password
        self._oauth2_token = oauth2_token
        self.uidvalidities: dict[str, int] = {}  # folder → its UIDVALIDITY, once opened (set before its messages come)

    @classmethod
    def from_url(
        cls, url: str | ImapUrl, password: str | None = None, *, oauth2_token: str | None = None, **options
    ) -> ImapSource:
        """Build a source from an URL (see :func:`parse_imap_url`); a folder in it becomes ``folders=[…]``."""
        parsed = url if isinstance(url, ImapUrl) else parse_imap_url(url)
        if password is None and oauth2_token is None:
            password = parsed.password
        if parsed.folder and "folders" not in options:
            options["folders"] = [parsed.folder]
        return cls(
            parsed.host, parsed.port, parsed.user, password,
            oauth2_token=oauth2_token, security=parsed.security, **options,
        )

    def __repr__(self) -> str:
        return f"ImapSource({self.user}@{self.host}:{self.port}, security={self.security!r})"

    @property
    def source_key(self) -> str:
        """Default key of this account in the fetch-state store."""
        return f"imap://{self.user.lower()}@{self.host.lower()}:{self.port}"

    # ----------------------------------------------------------------- public

    def check(self) -> None:
        """Connect and log in once; raises :class:`ImapAuthError` / :class:`ImapConnectionError`."""
        with self._session():
            pass

    def list_folders(self) -> list[ImapFolder]:
        """Every folder of the account, with special uses."""
        with self._session() as box:
            return self._list(box)

    def folder_counts(self) -> list[tuple[ImapFolder, int | None]]:
        """Every folder with its message count (STATUS MESSAGES; None when it cannot be selected
        or the server refuses the STATUS)."""
        with self._session() as box:
            counted = []
            for folder in self._list(box):
                count = None
                if folder.selectable:
                    try:
                        count = self._guard(lambda: box.folder.status(folder.name, ("MESSAGES",))).get("MESSAGES")
                    except UnexpectedCommandStatusError:
                        pass
                counted.append((folder, count))
            return counted

    def skips(self, folder: ImapFolder) -> bool:
        """Whether a mining without ``folders`` leaves this folder out (special use, or not selectable)."""
        return not folder.selectable or folder.special_use in self.exclude_special

    def count(self, state_store: FetchStateStore | None = None, user_id: str = "", source_key: str | None = None) -> int:
        """Messages a call to :meth:`iter_messages` would read (STATUS; an upper bound when incremental)."""
        key = source_key or self.source_key
        total = 0
        with self._session() as box:
            for folder in self._selected(box):
                try:
                    status = self._guard(lambda: box.folder.status(folder.name, ("MESSAGES", "UIDNEXT", "UIDVALIDITY")))
                except UnexpectedCommandStatusError:
                    continue  # unreadable folder: iter_messages reports it
                messages = status.get("MESSAGES", 0)
                state = state_store.get_folder_state(user_id, key, folder.name) if state_store else None
                if state and state.uidvalidity == status.get("UIDVALIDITY") and "UIDNEXT" in status:
                    messages = min(messages, max(0, status["UIDNEXT"] - 1 - state.highest_uid))
                if self.since is not None and messages:  # exact: the same SEARCH as the fetch
                    first = state.highest_uid + 1 if state and state.uidvalidity == status.get("UIDVALIDITY") else 1
                    try:
                        self._guard(lambda: box.folder.set(folder.name, readonly=True))
                        found = self._guard(lambda: box.uids(self._criteria(first), charset=None))
                        messages = sum(1 for uid in found if int(uid) >= first)
                    except (MailboxFolderSelectError, UnexpectedCommandStatusError):
                        pass  # unreadable folder: iter_messages reports it
                total += messages
        return total

    def iter_messages(
        self,
        mining_id: str,
        state_store: FetchStateStore | None = None,
        user_id: str = "",
        source_key: str | None = None,
    ) -> Iterator[RawMessage | FailedMessage]:
        """Yield the messages not read before (all of them without ``state_store``).

        A message the server would not hand out comes as a :class:`FailedMessage`.
        """
        for batch in self.iter_batches(mining_id, state_store, user_id, source_key):
            yield from batch

    def iter_batches(
        self,
        mining_id: str,
        state_store: FetchStateStore | None = None,
        user_id: str = "",
        source_key: str | None = None,
    ) -> Iterator[list[RawMessage | FailedMessage]]:
        """Like :meth:`iter_messages`, one list per UID batch (state saved when the next batch is asked for)."""
        key = source_key or self.source_key
        read_up_to: dict[str, int] = {}  # folder → highest UID handed over in this run
        finished: set[str] = set()
        for attempt in range(self.reconnects + 1):
            try:
                with self._session() as box:
                    for folder in self._selected(box):
                        if folder.name in finished:
                            continue
                        yield from self._folder_batches(
                            box, folder.name, mining_id, state_store, user_id, key, read_up_to
                        )
                        finished.add(folder.name)
                return
            except ImapConnectionError as exc:
                if attempt == self.reconnects:
                    raise
                log.warning("%s; reconnecting (%d of %d), resuming after the last message read",
                            exc, attempt + 1, self.reconnects)  # fmt: skip

    # ----------------------------------------------------------------- internals

    def _folder_batches(
        self, box: BaseMailBox, folder: str, mining_id: str, store: FetchStateStore | None, user_id: str, key: str,
        read_up_to: dict[str, int],
    ) -> Iterator[list[RawMessage | FailedMessage]]:  # fmt: skip
        try:
            self._guard(lambda: box.folder.set(folder, readonly=True))
        except MailboxFolderSelectError as exc:
            yield [FailedMessage(mining_id, folder, "*", f"cannot open folder: {_server_text(exc)}")]
            return
        uidvalidity = self._uidvalidity(box, folder)
        self.uidvalidities[folder] = uidvalidity
        state = store.get_folder_state(user_id, key, folder) if store else None
        first = 1
        if state is not None and state.uidvalidity == uidvalidity:
            first = state.highest_uid + 1
        elif state is not None:
            log.info("UIDVALIDITY of %s changed (%s → %s): reading it again", folder, state.uidvalidity, uidvalidity)
        first = max(first, read_up_to.get(folder, 0) + 1)  # after a reconnect: resume, never read twice
        try:  # "n:*" always matches the highest UID, even below n: filter
            found = self._guard(lambda: box.uids(self._criteria(first), charset=None))
        except UnexpectedCommandStatusError as exc:
            yield [FailedMessage(mining_id, folder, "*", f"cannot list the messages of the folder: {_server_text(exc)}")]
            return
        uids = sorted(uid for uid in map(int, found) if uid >= first)
        log.info("%s: %d message(s) to fetch", folder, len(uids))
        if self.since is not None:
            store = None  # a mining of recent mail only: what is older stays for a later full mining
        if not uids:
            if store is not None and (state is None or state.uidvalidity != uidvalidity):
                store.save_folder_state(user_id, key, folder, FolderState(uidvalidity, 0))
            return
        for start in range(0, len(uids), self.batch_size):
            batch = uids[start : start + self.batch_size]
            yield self._fetch_batch(box, folder, batch, mining_id)
            read_up_to[folder] = batch[-1]
            if store is not None:
                store.save_folder_state(user_id, key, folder, FolderState(uidvalidity, batch[-1]))

    def _criteria(self, first: int) -> str:
        """The SEARCH of a folder's messages to read: UIDs from ``first``, received since ``since``."""
        if self.since is None:
            return f"UID {first}:*"
        return f"UID {first}:* SINCE {self.since.day}-{_MONTHS[self.since.month - 1]}-{self.since.year}"

    def _fetch_batch(self, box: BaseMailBox, folder: str, uids: list[int], mining_id: str) -> list[RawMessage | FailedMessage]:
        """Headers + BODYSTRUCTURE for the batch, then the chosen text parts grouped by part number."""
        try:
            first = {item["UID"]: item for item in self._fetch(box, uids, "(UID FLAGS BODYSTRUCTURE BODY.PEEK[HEADER])")}
        except (_FetchRefused, FetchParseError) as exc:
            return [FailedMessage(mining_id, folder, str(uid), f"server did not send the message: {exc}") for uid in uids]
        plans: dict[int, TextPart | None] = {}
        for uid, item in first.items():
            plans[uid] = find_text_part(item.get("BODYSTRUCTURE")) if self.body_cap != 0 else None
        bodies: dict[int, tuple[bytes | None, bytes]] = {}
        problems: dict[int, str] = {}
        by_section: dict[str, list[int]] = {}
        for uid, plan in plans.items():
            if plan is not None:
                by_section.setdefault(plan.section, []).append(uid)
        window = f"<0.{self.body_cap}>" if self.body_cap else ""
        for section, section_uids in by_section.items():
            items = f"(UID BODY.PEEK[{section}]{window})" if section == "TEXT" else (
                f"(UID BODY.PEEK[{section}.MIME] BODY.PEEK[{section}]{window})"
            )
            try:
                for item in self._fetch(box, section_uids, items):
                    mime = None if section == "TEXT" else body_section(item, f"{section}.MIME")
                    bodies[item["UID"]] = (mime, body_section(item, section) or b"")
            except (_FetchRefused, FetchParseError) as exc:
                for uid in section_uids:
                    problems[uid] = f"body not fetched ({exc}); headers only"
        results: list[RawMessage | FailedMessage] = []
        for uid in uids:
            item = first.get(uid)
            if item is None:
                continue  # expunged since the SEARCH: nothing to mine
            header = body_section(item, "HEADER")
            if header is None:
                results.append(FailedMessage(mining_id, folder, str(uid), "server sent no header for this message"))
                continue
            if uid in problems:
                log.warning("%s UID %s: %s", folder, uid, problems[uid])
            plan = plans.get(uid)
            data = _assemble(header, plan, bodies.get(uid))
            flags = tuple(str(flag) for flag in (item.get("FLAGS") or ()) if str(flag).lower() != "\\recent")
            results.append(RawMessage(mining_id, folder, str(uid), data, flags))
        return results

    def _fetch(self, box: BaseMailBox, uids: list[int], items: str) -> list[dict]:
        typ, data = self._guard(lambda: box.client.uid("FETCH", uid_set(uids), items))
        if typ != "OK":
            raise _FetchRefused(_decode(data))
        parsed = []
        for item in parse_fetch(data):
            uid = item.get("UID")
            if uid is None or not str(uid).isdigit():
                continue  # an unsolicited FETCH (flag change of another message)
            item["UID"] = int(uid)
            parsed.append(item)
        return parsed

    def _uidvalidity(self, box: BaseMailBox, folder: str) -> int:
        _, values = box.client.response("UIDVALIDITY")  # left by the EXAMINE just sent
        for value in values or ():
            if value and value.strip().isdigit():
                return int(value)
        status = self._guard(lambda: box.folder.status(folder, ("UIDVALIDITY",)))
        return int(status.get("UIDVALIDITY", 0))

    def _list(self, box: BaseMailBox) -> list[ImapFolder]:
        listed = self._guard(lambda: box.folder.list())
        return _with_special_uses((info.name, info.delim or None, tuple(info.flags)) for info in listed)

    def _selected(self, box: BaseMailBox) -> list[ImapFolder]:
        folders = self._list(box)
        if self.folders is not None:
            by_name = {folder.name: folder for folder in folders}
            missing = [name for name in self.folders if name not in by_name]
            if missing:
                raise ImapError(f"No such folder on {self.host}: {', '.join(missing)}")
            return [by_name[name] for name in self.folders]
        chosen = [f for f in folders if not self.skips(f)]
        chosen.sort(key=lambda f: f.name.upper() != "INBOX")  # INBOX first, then the server's order
        skipped = [f.name for f in folders if f.selectable and self.skips(f)]
        if skipped:
            log.info("Skipping special-use folders: %s", ", ".join(skipped))
        return chosen

    def _session(self) -> _Session:
        return _Session(self)

    def _guard(self, call):
        """Run an IMAP call; network trouble becomes :class:`ImapConnectionError`."""
        try:
            return call()
        except _NETWORK_ERRORS as exc:
            raise _network_error(exc)(self._scrub(
                f"Lost connection to IMAP server {self.host}:{self.port}: {_describe(exc)}"
            )) from None

    def _connect(self) -> BaseMailBox:
        address = f"{self.host}:{self.port}"
        try:
            if self.security == "plain":
                return MailBoxUnencrypted(self.host, self.port, timeout=self.timeout)
            context = self.ssl_context or ssl.create_default_context()
            if self.security == "ssl":
                return MailBox(self.host, self.port, timeout=self.timeout, ssl_context=context)
            return MailBoxStartTls(self.host, self.port, timeout=self.timeout, ssl_context=context)
        except (UnexpectedCommandStatusError, imaplib.IMAP4.error) as exc:
            raise ImapConnectionError(
                f"IMAP server {address} does not offer STARTTLS ({_describe(exc)}); use security='ssl' (port 993)"
                if self.security == "starttls" else f"IMAP server {address} refused the connection: {_describe(exc)}"
            ) from None
        except socket.timeout:
            raise ImapTimeoutError(f"Cannot connect to IMAP server {address}: timed out after {self.timeout:g} s") from None
        except ssl.SSLError as exc:
            raise ImapConnectionError(f"TLS handshake with IMAP server {address} failed: {_describe(exc)}") from None
        except (OSError, EOFError) as exc:
            raise ImapConnectionError(f"Cannot connect to IMAP server {address}: {_describe(exc)}") from None

    def _login(self, box: BaseMailBox) -> None:
        who = f"{self.user}@{self.host}"
        try:
            if self._oauth2_token is not None:
                box.xoauth2(self.user, self._oauth2_token, initial_folder=None)
            elif (self.user + (self._password or "")).isascii():
                box.login(self.user, self._password or "", initial_folder=None)
            else:  # LOGIN is ASCII-only; AUTHENTICATE PLAIN carries UTF-8
                box.login_utf8(self.user, self._password or "", initial_folder=None)
        except MailboxLoginError as exc:
            raise ImapAuthError(self._scrub(f"IMAP login failed for {who}: {_server_text(exc)}")) from None
        except imaplib.IMAP4.abort as exc:
            raise ImapConnectionError(self._scrub(f"IMAP server {self.host}:{self.port} closed the connection during login: {exc}")) from None
        except imaplib.IMAP4.error as exc:
            raise ImapAuthError(self._scrub(f"IMAP login failed for {who}: {exc}")) from None
        except _NETWORK_ERRORS as exc:
            raise _network_error(exc)(self._scrub(f"Lost connection to IMAP server {self.host}:{self.port} during login: {_describe(exc)}")) from None

    def _scrub(self, text: str) -> str:
        for secret in (self._password, self._oauth2_token):
            if secret:
                text = text.replace(secret, "***")
        return text


class _Session:
    """Context manager: a logged-in imap-tools mailbox, logged out (or dropped) on exit."""

    def __init__(self, source: ImapSource) -> None:
        self.source = source
        self.box: BaseMailBox | None = None

    def __enter__(self) -> BaseMailBox:
        source = self.source
        log.info("Connecting to IMAP %s:%s (%s) as %s", source.host, source.port, source.security, source.user)
        box = source._connect()
        try:
            source._login(box)
        except BaseException:
            _close_quietly(box)
            raise
        self.box = box
        return box

    def __exit__(self, *exc_info) -> None:
        if self.box is not None:
            _close_quietly(self.box)


def _close_quietly(box: BaseMailBox) -> None:
    try:
        box.client.logout()
    except Exception:  # the connection may already be gone
        try:
            box.client.shutdown()
        except Exception:
            pass


def _assemble(header: bytes, plan: TextPart | None, body: tuple[bytes | None, bytes] | None) -> bytes:
    """Build ``RawMessage.data`` from the header block and the fetched text part (see module doc)."""
    if not header.endswith((b"\r\n\r\n", b"\n\n")):
        header = header.rstrip(b"\r\n") + b"\r\n\r\n" if header.strip() else b"\r\n"
    if plan is None or body is None:
        return header
    mime, content = body
    if plan.boundary is None:
        return header + content
    if not mime or b"content-type" not in mime.lower():
        mime = _synthetic_mime(plan) + (mime or b"\r\n")
    elif not mime.endswith((b"\r\n\r\n", b"\n\n")):
        mime = mime.rstrip(b"\r\n") + b"\r\n\r\n"
    boundary = plan.boundary
    return b"".join((header, b"--", boundary, b"\r\n", mime, content, b"\r\n--", boundary, b"--\r\n"))


def _synthetic_mime(plan: TextPart) -> bytes:
    params = "".join(f'; {key}="{value}"' for key, value in plan.params)
    lines = f"Content-Type: {plan.content_type}{params}\r\nContent-Transfer-Encoding: {plan.encoding}\r\n"
    return lines.encode("utf-8", "surrogateescape")


def _server_text(exc: UnexpectedCommandStatusError) -> str:
    try:
        return _decode(exc.command_result[1]) or str(exc.command_result[0])
    except Exception:
        return type(exc).__name__


def _decode(data) -> str:
    if isinstance(data, (list, tuple)):
        return " ".join(_decode(item) for item in data if item is not None)
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
