"""Edge fetchers (sockets allowed here, never in the core): IMAP through imap-tools."""

from . import imap
from .imap import (
    DEFAULT_EXCLUDED,
    ImapAuthError,
    ImapConnectionError,
    ImapError,
    ImapFolder,
    ImapSource,
    ImapUrl,
    parse_imap_url,
)

__all__ = imap.__all__
