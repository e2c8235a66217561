"""Clean stage: syntax, status from the MX checker, address tags, caching."""

from __future__ import annotations

import pytest

from leadminer import addresses
from leadminer.clean import AddressCleaner, clean_batch, is_disposable, is_free_mail, is_no_reply, is_role
from leadminer.contracts import Status
from leadminer.mx import NOT_CHECKED, MxResult, NullMxChecker


class TableMxChecker:
    """An in-memory MX checker: verdicts from a table, every call recorded."""

    def __init__(self, table: dict[str, MxResult]) -> None:
        self.table = table
        self.calls: list[str] = []

    def check(self, domain: str) -> MxResult:
        self.calls.append(domain)
        return self.table.get(domain, MxResult(Status.UNKNOWN, "not in table"))


class BrokenMxChecker:
    def check(self, domain: str) -> MxResult:
        raise ConnectionError("resolver exploded")


@pytest.mark.parametrize(
    "email",
    ["plainaddress", "@example.com", "john..doe@example.com", "john@", "john@-example.com", "a b@example.com",
     "john@example", "john@@example.com", ""],
)
def test_bad_syntax_is_invalid_with_the_validator_message(email):
    result = AddressCleaner().clean(email)
    assert result.status is Status.INVALID
    assert result.reason  # email-validator's own explanation
    assert result.tags == []
    assert result.email == email


def test_syntax_reason_is_the_library_message():
    result = AddressCleaner().clean("john..doe@example.com")
    assert "period" in result.reason.lower()


def test_valid_syntax_without_mx_check_is_unknown_not_valid():
    result = AddressCleaner().clean("jane.doe@acme-widgets.com")
    assert result.status is Status.UNKNOWN
    assert result.reason == NOT_CHECKED
    assert result.tags == ["professional"]


def test_null_checker_is_the_default_and_says_not_checked():
    assert NullMxChecker().check("example.com") == MxResult(Status.UNKNOWN, NOT_CHECKED)


@pytest.mark.parametrize(
    ("email", "kind"),
    [
        ("someone@gmail.com", "personal"),
        ("Someone@GMail.com", "personal"),
        ("x@web.de", "personal"),
        ("x@yahoo.co.uk", "personal"),
        ("x@orange.fr", "personal"),
        ("x@qq.com", "personal"),
        ("x@btinternet.com", "personal"),
        ("x@enron.com", "professional"),
        ("x@mail.google.com", "professional"),  # sub-domains are not implied
        ("x@mailinator.com", "disposable"),
        ("x@sub.mailinator.com", "disposable"),
    ],
)
def test_domain_kind(email, kind):
    tags = AddressCleaner().clean(email).tags
    assert kind in tags
    assert len({"personal", "professional", "disposable"} & set(tags)) == 1


def test_domain_helpers():
    assert is_free_mail("GMAIL.COM") and not is_free_mail("acme.com")
    assert is_disposable("mailinator.com") and is_disposable("a.b.mailinator.com") and not is_disposable("acme.com")


def test_address_shapes_shared_with_tagging():
    assert addresses.split_address("Jane.Doe@Mail.Example.COM.") == ("jane.doe", "mail.example.com")
    assert addresses.split_address("no-at-sign") == ("", "")
    # parent domains down to two labels, never the top-level domain alone
    assert addresses.domain_in("a.b.mailinator.com", frozenset({"mailinator.com"}))
    assert not addresses.domain_in("example.com", frozenset({"com"}))
    assert not addresses.domain_in("", frozenset({""}))
    # clean's tokens: lower case, +tag dropped, split at . _ - only; a leading + keeps the local part whole
    assert addresses.separator_tokens("Sales.EMEA-2+x") == ["sales", "emea", "2"]
    assert addresses.separator_tokens("info2") == ["info2"]
    assert addresses.separator_tokens("+tag") == ["+tag"]
    # tagging's words: also split between letters and digits; a leading + leaves no word
    assert addresses.word_tokens("news2go.daily+x") == ["news", "2", "go", "daily"]
    assert addresses.word_tokens("+tag") == []
    assert addresses.subdomain_labels("lists.shop.co.uk") == ["lists"]
    assert addresses.org_label("mail.enron.com") == "enron" and addresses.org_label("localhost") == ""


@pytest.mark.parametrize(
    "local", ["subscriber_services78044", "info2", "sales-emea", "customer.support"]
)
def test_role_words_keep_their_digits_until_the_end(local):
    """Role words are whole separator tokens: splitting ``services78044`` at the digits (tagging's
    word tokens) would lose the role."""
    assert is_role(local)


@pytest.mark.parametrize(
    "local",
    ["info", "sales", "support", "contact", "admin", "hr", "billing", "postmaster", "abuse", "webmaster",
     "sales-emea", "customer.support", "info_de", "tech-support", "jobs", "press", "hello", "team", "Info",
     "customer-service", "support+tickets", "info2", "sales-01"],
)
def test_role_local_parts(local):
    assert is_role(local)
    assert "role" in AddressCleaner().clean(f"{local}@acme.com").tags


@pytest.mark.parametrize("local", ["steve.jobs", "tim.press", "jane.doe", "hellokitty", "ana.team", "salesman", "dev.patel"])
def test_people_are_not_roles(local):
    assert not is_role(local)


@pytest.mark.parametrize(
    "local",
    ["noreply", "no-reply", "no_reply", "NoReply", "do-not-reply", "donotreply", "do_not_reply", "mailer-daemon",
     "MAILER-DAEMON", "bounce", "bounces+22206637-7b49", "bounce-107632601", "noreply-1234", "billing.noreply",
     "no-reply.billing", "nobody", "bugzilla-daemon", "ne-pas-repondre", "DoNotUse", "noreply+abc"],
)
def test_no_reply_local_parts(local):
    assert is_no_reply(local)


@pytest.mark.parametrize("local", ["notifications", "bouncer", "replies", "reply", "info", "jane.doe", "noreplyx", "norah"])
def test_not_no_reply(local):
    assert not is_no_reply(local)


def test_user_identities_exact_plus_tag_and_case():
    cleaner = AddressCleaner(["Me@Example.org", "not-an-address"])
    assert "user" in cleaner.clean("me@example.org").tags
    assert "user" in cleaner.clean("me+news@example.org").tags
    assert "user" in cleaner.clean("ME@example.org").tags
    assert "user" not in cleaner.clean("you@example.org").tags


def test_user_identity_with_idn_domain():
    cleaner = AddressCleaner(["jürgen@bücher.de"])
    assert "user" in cleaner.clean("jürgen@xn--bcher-kva.de").tags
    assert "user" in cleaner.clean("jürgen@bücher.de").tags


def test_status_comes_from_the_checker_with_its_reason():
    checker = TableMxChecker(
        {
            "good.com": MxResult(Status.VALID, "MX mx.good.com"),
            "gone.com": MxResult(Status.INVALID, "domain does not exist (NXDOMAIN)"),
        }
    )
    cleaner = AddressCleaner(mx=checker)
    assert cleaner.clean("a@good.com").status is Status.VALID
    gone = cleaner.clean("a@gone.com")
    assert (gone.status, gone.reason) == (Status.INVALID, "domain does not exist (NXDOMAIN)")
    unknown = cleaner.clean("a@elsewhere.com")
    assert (unknown.status, unknown.reason) == (Status.UNKNOWN, "not in table")


def test_checker_gets_the_ascii_domain_once_per_domain():
    checker = TableMxChecker({"xn--bcher-kva.de": MxResult(Status.VALID, "MX")})
    cleaner = AddressCleaner(mx=checker)
    results = cleaner.clean_batch(["a@bücher.de", "b@bücher.de", "c@BÜCHER.de", "a@bücher.de"])
    assert [r.status for r in results] == [Status.VALID] * 4
    assert checker.calls == ["xn--bcher-kva.de"]


def test_invalid_syntax_never_reaches_the_checker():
    checker = TableMxChecker({})
    AddressCleaner(mx=checker).clean("john..doe@example.com")
    assert checker.calls == []


def test_a_broken_checker_gives_unknown_not_a_crash():
    result = AddressCleaner(mx=BrokenMxChecker()).clean("a@acme.com")
    assert result.status is Status.UNKNOWN
    assert "resolver exploded" in result.reason


def test_results_are_cached_but_not_shared():
    cleaner = AddressCleaner()
    first = cleaner.clean("info@acme.com")
    first.tags.append("mutated")
    second = cleaner.clean("info@acme.com")
    assert second.tags == ["professional", "role"]
    assert second is not first


def test_cache_is_bounded():
    cleaner = AddressCleaner(cache_size=3)
    for i in range(10):
        cleaner.clean(f"user{i}@acme.com")
    assert len(cleaner._cache) == 3
    assert cleaner.clean("user0@acme.com").status is Status.UNKNOWN


def test_tags_order_and_combination():
    assert AddressCleaner().clean("noreply@gmail.com").tags == ["personal", "no-reply"]
    assert AddressCleaner().clean("support@mailinator.com").tags == ["disposable", "role"]


def test_non_string_is_invalid():
    assert AddressCleaner().clean(None).status is Status.INVALID  # type: ignore[arg-type]
    assert AddressCleaner().clean(["a@b.com"]).reason == "not a string: list"  # type: ignore[arg-type]


def test_clean_batch_keeps_order():
    results = clean_batch(["b@acme.com", "bad", "a@gmail.com"])
    assert [r.email for r in results] == ["b@acme.com", "bad", "a@gmail.com"]
    assert [r.status for r in results] == [Status.UNKNOWN, Status.INVALID, Status.UNKNOWN]


def test_smtputf8_local_part_is_allowed():
    result = AddressCleaner().clean("δοκιμή@παράδειγμα.δοκιμή")
    assert result.status is Status.UNKNOWN
    assert "professional" in result.tags


def test_bench_clean_batch(benchmark):
    """Throughput of a fresh cleaner on a mining-like address list (repeats, few domains)."""
    domains = [f"corp{i}.example.com" for i in range(150)] + ["gmail.com", "yahoo.fr", "mailinator.com"]
    emails = [f"{name}{i % 40}@{domains[i % len(domains)]}" for i, name in enumerate(["info", "jane.doe", "noreply"] * 1000)]

    def run():
        return AddressCleaner(["me@corp1.example.com"]).clean_batch(emails)

    results = benchmark(run)
    assert len(results) == 3000
    assert all(r.status is Status.UNKNOWN for r in results)
    assert sum("role" in r.tags for r in results) == 1000


def test_fast_syntax_path_agrees_with_email_validator_on_every_corpus_address():
    """The regex fast path may only accept what email-validator accepts, unchanged."""
    from corpora import corpus_dir
    from email_validator import EmailNotValidError, validate_email

    from leadminer.clean import fast_syntax
    from leadminer.contracts import RawMessage
    from leadminer.extract import ExtractError, extract_message

    addresses = set()
    for name in ("spamassassin", "lkml", "malformed", "quagga-enron-train", "newsletters"):
        for path in corpus_dir(name).rglob("*"):
            if path.is_file() and not path.name.endswith(".ann"):
                try:
                    record = extract_message(RawMessage("t", name, path.name, path.read_bytes()))
                except ExtractError:
                    continue
                addresses.update(p.email for p in record.points)
    tricky = {"a..b@x.com", ".a@x.com", "a.@x.com", "a@x.test", "a@localhost", "a@x.local", "a@ab--cd.com",
              "a@xn--mller-kva.de", "a@-x.com", "a@x-.com", "a@x.c0m", "a@1.2.3.4", f"{'a' * 65}@x.com", "a@x"}  # fmt: skip
    accepted = 0
    for email in addresses | tricky:
        fast = fast_syntax(email)
        if fast is None:
            continue
        accepted += 1
        try:
            parsed = validate_email(email, check_deliverability=False, allow_smtputf8=True)
        except EmailNotValidError as exc:  # pragma: no cover - the failure this test exists for
            raise AssertionError(f"fast path accepted {email!r}, email-validator refuses: {exc}") from None
        assert fast == (parsed.local_part, parsed.ascii_domain), email
    assert accepted > 0.9 * len(addresses)
    assert not any(fast_syntax(t) for t in tricky)
