"""Does a domain accept mail? The MX lookup behind an interface.

The core never opens a socket: :class:`AddressCleaner <leadminer.clean.AddressCleaner>`
talks to an :class:`MxChecker`. Two are provided:

* :class:`NullMxChecker` — the offline default (Pyodide, tests, "no network"
  mode): every domain is UNKNOWN, reason "MX not checked";
* :class:`DnsMxChecker` — a real DNS lookup with dnspython, for the edge
  (runner / CLI). dnspython is imported lazily, on the first lookup, so this
  module imports anywhere.

Verdicts (RFC 5321 §5.1, RFC 7505):

=======================================  =========  ==================================
DNS answer                               status     why
=======================================  =========  ==================================
MX records (at least one real host)      VALID      mail has somewhere to go
only a null MX (``0 .``)                 INVALID    the domain declares it takes no mail
NXDOMAIN                                 INVALID    the domain does not exist
no MX, but A/AAAA                        VALID      RFC 5321 implicit MX: the host itself
no MX and no A/AAAA                      INVALID    nowhere to deliver
timeout, SERVFAIL, REFUSED, other error  UNKNOWN    we could not tell — never VALID
=======================================  =========  ==================================
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Protocol

from .contracts import Status

NOT_CHECKED = "MX not checked"


@dataclass(frozen=True, slots=True)
class MxResult:
    """Verdict on one domain; ``reason`` says what the DNS answered."""

    status: Status
    reason: str | None = None


class MxChecker(Protocol):
    """Anything that can tell whether a domain accepts mail."""

    def check(self, domain: str) -> MxResult:
        """Verdict for ``domain`` (ASCII / A-label form)."""
        ...


class NullMxChecker:
    """Checks nothing: every domain is UNKNOWN ("MX not checked")."""

    def check(self, domain: str) -> MxResult:
        return MxResult(Status.UNKNOWN, NOT_CHECKED)


class DnsMxChecker:
    """MX lookup over DNS (dnspython), with a per-domain cache.

    ``nameserver`` None uses the system resolver configuration
    (``/etc/resolv.conf``); otherwise that server at ``port``. ``timeout`` is the
    whole budget of one lookup in seconds (MX plus the A/AAAA fallback). Every
    verdict, UNKNOWN ones included, is cached in ``cache`` (a new dict by
    default) so that one mining asks about a domain once; pass a shared or
    expiring mapping to control that.
    """

    def __init__(
        self,
        nameserver: str | None = None,
        port: int = 53,
        timeout: float = 2.0,
        cache: MutableMapping[str, MxResult] | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.nameserver = nameserver
        self.port = port
        self.timeout = timeout
        self.cache: MutableMapping[str, MxResult] = {} if cache is None else cache
        self.lookups = 0  # DNS lookups actually sent (cache misses)
        self._resolver = None

    def check(self, domain: str) -> MxResult:
        domain = domain.strip().rstrip(".").lower()
        if not domain:
            return MxResult(Status.INVALID, "empty domain")
        cached = self.cache.get(domain)
        if cached is not None:
            return cached
        self.lookups += 1
        result = self._lookup(domain)
        self.cache[domain] = result
        return result

    def _resolver_instance(self):
        if self._resolver is None:
            import dns.resolver  # edge only: imported on first use

            if self.nameserver is None:
                resolver = dns.resolver.Resolver(configure=True)
            else:
                resolver = dns.resolver.Resolver(configure=False)
                resolver.nameservers = [self.nameserver]
            resolver.port = self.port
            resolver.timeout = self.timeout
            resolver.lifetime = self.timeout
            self._resolver = resolver
        return self._resolver

    def _lookup(self, domain: str) -> MxResult:
        import dns.exception
        import dns.resolver

        resolver = self._resolver_instance()
        deadline = time.monotonic() + self.timeout
        try:
            answer = resolver.resolve(domain, "MX", search=False, lifetime=self.timeout)
        except dns.resolver.NXDOMAIN:
            return MxResult(Status.INVALID, "domain does not exist (NXDOMAIN)")
        except dns.resolver.NoAnswer:
            return self._implicit_mx(resolver, domain, deadline)
        except dns.exception.Timeout:
            return MxResult(Status.UNKNOWN, f"DNS timeout after {self.timeout:g} s")
        except dns.resolver.NoNameservers as exc:
            return MxResult(Status.UNKNOWN, f"DNS server failure (SERVFAIL/REFUSED): {_short(exc)}")
        except dns.exception.DNSException as exc:
            return MxResult(Status.UNKNOWN, f"DNS error: {type(exc).__name__}: {_short(exc)}")
        hosts = sorted((r.preference, r.exchange.to_text(omit_final_dot=True)) for r in answer)
        real = [host for _pref, host in hosts if host not in ("", ".")]
        if not real:
            return MxResult(Status.INVALID, "null MX: the domain accepts no mail (RFC 7505)")
        return MxResult(Status.VALID, "MX " + ", ".join(real[:3]))

    def _implicit_mx(self, resolver, domain: str, deadline: float) -> MxResult:
        """No MX record: RFC 5321 §5.1 says deliver to the domain's own A/AAAA."""
        import dns.exception
        import dns.resolver

        for rdtype in ("A", "AAAA"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return MxResult(Status.UNKNOWN, f"no MX; DNS timeout after {self.timeout:g} s")
            try:
                resolver.resolve(domain, rdtype, search=False, lifetime=remaining)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except dns.exception.Timeout:
                return MxResult(Status.UNKNOWN, f"no MX; DNS timeout on {rdtype} after {self.timeout:g} s")
            except dns.exception.DNSException as exc:
                return MxResult(Status.UNKNOWN, f"no MX; DNS error on {rdtype}: {_short(exc)}")
            return MxResult(Status.VALID, f"no MX; {rdtype} record (RFC 5321 implicit MX)")
        return MxResult(Status.INVALID, "no MX and no A/AAAA record")


def _short(exc: Exception, limit: int = 200) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
