"""Message tags and person tags, rule by rule, on records built by hand."""

from __future__ import annotations

import pytest

from leadminer.contracts import Field, MessageRecord, PointOfContact, RawMessage
from leadminer.tagging import (
    TAGGING_HEADER_PREFIXES,
    TAGGING_HEADERS,
    is_generated_local,
    is_tagging_header,
    list_addresses,
    looks_like_list_address,
    person_tags,
    tag_message,
)


def message(
    sender: str = "jane.doe@acme.com",
    *,
    name: str | None = None,
    to: tuple[str, ...] = ("me@example.org",),
    cc: tuple[str, ...] = (),
    subject: str = "Lunch on Friday?",
    headers: dict[str, str] | None = None,
    body: str | None = "Hi,\n\nare you free on Friday?\n\nJane\n",
    in_reply_to: str | None = None,
    sender_header: str | None = None,
    message_id: str = "m1@acme.com",
) -> MessageRecord:
    points = [PointOfContact(message_id, Field.FROM, sender, name)]
    points += [PointOfContact(message_id, Field.TO, a) for a in to]
    points += [PointOfContact(message_id, Field.CC, a) for a in cc]
    if sender_header:
        points.append(PointOfContact(message_id, Field.SENDER, sender_header))
    return MessageRecord(
        mining_id="t", message_id=message_id, folder="INBOX", uid="1", date=None, subject=subject,
        in_reply_to=in_reply_to, references=[in_reply_to] if in_reply_to else [], points=points,
        headers=headers or {}, body=body,
    )


# --------------------------------------------------------------------------- person-to-person mail


def test_plain_personal_mail_has_no_tag():
    assert tag_message(message()) == []


def test_personal_reply_has_no_tag():
    assert tag_message(message(subject="Re: Lunch on Friday?", in_reply_to="x@y")) == []


def test_colleague_subject_with_order_words_stays_personal():
    assert tag_message(message(subject="Your order of the agenda items")) == []
    assert tag_message(message(subject="REMINDER - C. Nelson out of the office")) == []


def test_forwarded_newsletter_from_a_person_stays_personal():
    body = "FYI, see below.\n\n---- Forwarded ----\nGreat deals!\nTo unsubscribe click here."
    assert tag_message(message(subject="Fwd: Weekly deals", body=body)) == []


def test_reply_quoting_an_unsubscribe_footer_stays_personal():
    body = "I agree.\n\n> Click here to unsubscribe from our newsletter\n"
    assert tag_message(message(subject="Re: deals", in_reply_to="a@b", body=body)) == []


# --------------------------------------------------------------------------- newsletters


@pytest.mark.parametrize(
    "headers",
    [
        {"list-unsubscribe": "<https://example.com/u?x=1>"},
        {"list-id": "<12345.list-id.mcsv.net>"},
        {"x-mc-user": "3f21937f0f636c8cec1db30bf"},
        {"x-kmail-account": "TXS8dR"},
        {"x-csa-complaints": "csa-complaints@eco.de"},
        {"x-campaignid": "mailchimp123"},
        {"x-mailer": "Inxmail EE 4.8.47.804"},
        {"x-mailer": "Accucast (http://www.accucast.com)"},
        {"x-mailer": "MailChimp Mailer - **CID199bb58d0b**"},
        {"x-mailgun-sid": "abc", "list-unsubscribe": "<mailto:u@mg.example.com>"},
        {"x-mailin-eid": "OTYy", "list-unsubscribe": "<mailto:unsub@brevo.example>"},
        {"x-beenthere": "news@lists.example.org", "x-mailman-version": "2.1"},  # Mailman announce list
        {"precedence": "bulk"},
    ],
)
def test_newsletter_headers(headers):
    assert tag_message(message(sender="hello@shop.example", headers=headers, subject="Spring sale")) == ["newsletter"]


def test_list_post_no_is_an_announce_list():
    headers = {"list-post": "NO (posting not allowed on this list)", "list-id": "<advisories.cert.org>"}
    msg = message(sender="cert-advisory@cert.org", to=("cert-advisory@cert.org",), headers=headers)
    assert tag_message(msg) == ["newsletter"]


def test_announce_list_with_list_post_is_a_newsletter():
    headers = {"list-post": "<mailto:cauce-announce@lists.cauce.org>", "list-id": "<cauce-announce.lists.cauce.org>"}
    assert tag_message(message(sender="johnl@cauce.org", headers=headers, subject="CAUCE NEWS")) == ["newsletter"]


@pytest.mark.parametrize(
    "sender",
    ["newsletter@shop.example", "news@shop.example", "rssfeeds@blog.example", "noreply@shop.example",
     "Online#3.19578.34-UgGTgZFN19NAr9RR.1@newsletter.online.com", "body_216095411795471888@hermes.sun.com",
     "update@list.theregister.co.uk", "offers@email.shop.example", "enron.announcements@enron.com"],
)
def test_broadcast_senders_without_headers(sender):
    """Local parts made only of broadcast words (the domain's own name allowed), no-reply, VERP."""
    assert tag_message(message(sender=sender, subject="This week's picks")) == ["newsletter"]


# --------------------------------------------------------------------------- people are not newsletters


def _plain(sender: str, *, name: str | None = None, subject: str = "Lunch on Friday?", body: str | None = None,
           **kwargs) -> MessageRecord:
    return message(sender=sender, name=name, subject=subject,
                   body=body or "Hi Alex,\n\nLunch on Friday at noon?\n\nPat\n", **kwargs)


@pytest.mark.parametrize(
    ("sender", "name"),
    [
        ("newsome@acme-corp.com", "Pat Newsome"),  # "news" glued to a name
        ("rssmith@acme-corp.com", "R. S. Smith"),  # "rss" glued to a name
        ("lister@acme-corp.com", "Tom Lister"),  # "list" glued to a name
        ("listerine.lover@acme-corp.com", None),
        ("dailey@acme-corp.com", "Ann Dailey"),
        ("news.anchor@tv.example", "Kim Lee"),  # a broadcast word next to a name's word
        ("bob.jones@email.arizona.edu", "Bob Jones"),  # weak sub-domain labels
        ("ann@info.example.com", "Ann Roe"),
        ("jo@e.example.com", None),
        ("max@em.example.com", None),
        ("sue@lists.example.org", None),
    ],
)
def test_people_whose_address_looks_like_a_broadcaster_stay_personal(sender, name):
    assert tag_message(_plain(sender, name=name)) == []


@pytest.mark.parametrize(
    "body",
    [
        "Hi Alex, how do I unsubscribe from your team's digest? It floods me.\nJane",
        "Alex, please unsubscribe me from the offsite list.\nJane",
        "Could you unsubscribe me from the weekly report?",
        "I no longer wish to receive the minutes, can you take me off?",
        "Please do not reply to this email, call me instead.\nJane",
    ],
)
def test_a_colleague_writing_about_newsletters_stays_personal(body):
    assert tag_message(_plain("jane@acme-corp.com", name="Jane Doe", subject="Quick question", body=body)) == []


@pytest.mark.parametrize("subject", ["Thanks for your order form", "Confirm your address for the offsite",
                                     "Password reset for the shared drive"])
def test_a_colleague_with_an_account_like_subject_stays_personal(subject):
    body = "Alex, I filled in the order form for the offsite.\nAnn"
    assert tag_message(_plain("ann@acme-corp.com", name="Ann Lee", subject=subject, body=body)) == []


def test_a_weak_sign_counts_with_a_header_sign_of_bulk_sending():
    footer = "Big news this week!\n\nTo unsubscribe from this newsletter, click here.\n"
    person = _plain("michael@lindows.example", name="Michael Robertson", subject="Michael's Minute", body=footer)
    assert tag_message(person) == []  # a body phrase alone decides nothing
    html_only = _plain("michael@lindows.example", subject="Michael's Minute", body=footer,
                       headers={"content-type": "text/html; charset=utf-8"})
    verp = _plain("michael@lindows.example", subject="Michael's Minute", body=footer,
                  headers={"return-path": "<bounce-4711-alex=me.com@mail.lindows.example>"})
    script = _plain("michael@lindows.example", subject="Michael's Minute", body=footer,
                    headers={"x-mailer": "MIME::Lite 2.117"})
    undisclosed = _plain("michael@lindows.example", subject="Michael's Minute", body=footer, to=())
    for record in (html_only, verp, script, undisclosed):
        assert tag_message(record) == ["newsletter"]
    assert tag_message(_plain("news.anchor@tv.example", body="Hello", headers={"content-type": "text/html"})) == [
        "newsletter"
    ]  # a broadcast word beside a name counts once a header says bulk


def test_a_forwarding_service_envelope_is_not_a_bounce_address():
    body = "To unsubscribe from this newsletter, click here."
    record = _plain("jane@acme-corp.com", body=body, headers={"return-path": "<SRS0=ab12=XY=acme-corp.com=jane@fwd.example>"})
    assert tag_message(record) == []


def test_the_organisation_mailing_everyone_is_a_newsletter():
    record = _plain("40enron@enron.com", subject="Update to Virus Scanning Software", to=())
    assert tag_message(record) == ["newsletter"]
    assert tag_message(_plain("amazon-offers@amazon.example", name="Amazon.example", body="Hi",
                              headers={"content-type": "text/html"})) == ["newsletter"]


def test_a_role_address_writing_to_nobody_visible_stays_personal():
    assert tag_message(_plain("legal.7@acme-corp.com", subject="Interview with D. Steiner", to=())) == []


def test_a_message_that_says_it_is_automated_needs_no_header_sign():
    body = "PLEASE DO NOT RESPOND TO THIS E-MAIL--THIS ACCOUNT IS NOT MONITORED\nAttached is the file."
    assert tag_message(_plain("mbx_iscinfra@enron.com", subject="SAP file", body=body)) == ["transactional"]


def test_reviewer_mailbox_end_to_end_tags_nobody_who_wrote_personally():
    """People who wrote plain personal mail get no automated person tag (issue 4)."""
    import asyncio

    from leadminer.flow.memory import mine_in_memory

    def raw(i: int, sender: str, subject: str, body: str, extra: str = "") -> RawMessage:
        data = (f"From: {sender}\r\nTo: Alex <alex@me.com>\r\nSubject: {subject}\r\n"
                f"Date: Mon, 4 Mar 2024 10:0{i}:00 +0000\r\nMessage-ID: <m{i}@x>\r\n{extra}\r\n{body}\r\n")
        return RawMessage("m", "INBOX", str(i), data.encode())

    raws = [
        raw(1, "Pat Newsome <newsome@acme-corp.com>", "Lunch on Friday?", "Hi Alex,\r\nLunch at noon?\r\nPat"),
        raw(2, "R. S. Smith <rssmith@acme-corp.com>", "Contract draft", "Alex, attached is the draft.\r\nRS"),
        raw(3, "Bob Jones <bob.jones@email.arizona.edu>", "Your paper", "Dear Alex, I read your paper.\r\nBob"),
        raw(4, "Jane Doe <jane@acme-corp.com>", "Quick question",
            "Hi Alex, how do I unsubscribe from your team's digest? It floods me.\r\nJane"),
        raw(5, "Tom Lister <lister@acme-corp.com>", "Budget", "Alex, numbers attached.\r\nTom"),
        raw(6, "Ann Lee <ann@acme-corp.com>", "Thanks for your order form", "Alex, I filled the order form.\r\nAnn"),
        raw(7, "Shop <news@shop.example>", "Spring sale", "Deals!", "List-Unsubscribe: <mailto:u@shop.example>\r\n"),
    ]
    tags = {p.email: p.tags for p in asyncio.run(mine_in_memory(raws, ["alex@me.com"]))}
    for person in ("newsome@acme-corp.com", "rssmith@acme-corp.com", "bob.jones@email.arizona.edu",
                   "jane@acme-corp.com", "lister@acme-corp.com", "ann@acme-corp.com"):
        assert not {"newsletter", "transactional", "social"} & set(tags[person]), (person, tags[person])
    assert "newsletter" in tags["news@shop.example"]


def test_display_name_newsletter():
    msg = message(sender="shop@katjes.example", name="Katjes Newsletter", subject="Infos")
    assert tag_message(msg) == ["newsletter"]


@pytest.mark.parametrize(
    "footer",
    [
        "To unsubscribe from this list, visit http://example.com/u",
        "If you no longer wish to receive these emails, click here.",
        "You are receiving this email because you signed up at example.com.",
        "If this message is not displaying properly, click here.",
        "View this email in your browser",
        "Newsletter abbestellen",
        "If you'd rather not receive future e-mails announcing new stores, click here.",
    ],
)
def test_newsletter_body_phrases(footer):
    body = "Big news this week!\n\nLorem ipsum.\n\n" + footer + "\n"
    bulk = {"content-type": "text/html; charset=utf-8"}  # the phrase needs a header sign of bulk sending
    msg = message(sender="michael@lindows.example", subject="Michael's Minute", body=body, headers=bulk)
    assert tag_message(msg) == ["newsletter"]


def test_newsletter_subject_issue_number():
    undisclosed = message(subject="CAUCE NEWS, Vol 6, No 2, June 2002", to=())
    assert tag_message(undisclosed) == ["newsletter"]
    assert tag_message(message(subject="CAUCE NEWS, Vol 6, No 2, June 2002")) == []  # a person's subject


def test_blind_copy_blast_to_self():
    msg = message(sender="truorange@aol.com", to=("truorange@aol.com",), subject="True Orange, part 2")
    assert tag_message(msg) == ["newsletter"]


# --------------------------------------------------------------------------- groups


def test_list_post_is_group():
    headers = {"list-post": "<mailto:fork@xent.com>", "list-id": "Friends of Rohit Khare <fork.xent.com>",
               "list-unsubscribe": "<mailto:fork-request@xent.com>", "precedence": "bulk"}
    assert tag_message(message(to=("fork@xent.com",), headers=headers)) == ["group"]


def test_vger_style_list_id_addressed_to_the_list():
    headers = {"list-id": "<linux-kernel.vger.kernel.org>", "precedence": "bulk"}
    msg = message(sender="joe@perches.com", to=("akpm@linux-foundation.org",), cc=("linux-kernel@vger.kernel.org",),
                  headers=headers, subject="[PATCH] checkpatch: fix")
    assert tag_message(msg) == ["group"]


def test_yahoo_group():
    headers = {"mailing-list": "list zzzzteana@yahoogroups.com; contact forteana-owner@yahoogroups.com",
               "list-unsubscribe": "<mailto:zzzzteana-unsubscribe@yahoogroups.com>", "precedence": "bulk"}
    assert tag_message(message(to=("zzzzteana@yahoogroups.com",), headers=headers)) == ["group"]


def test_old_mailman_without_list_post():
    headers = {"x-beenthere": "ilug@linux.ie", "list-id": "Irish Linux Users' Group <ilug.linux.ie>",
               "precedence": "bulk", "errors-to": "ilug-admin@linux.ie"}
    msg = message(to=("ilug@linux.ie",), headers=headers, sender_header="ilug-admin@linux.ie")
    assert tag_message(msg) == ["group"]


def test_majordomo_list_owner_sender():
    msg = message(sender="nukiez@hotmail.com", to=("melbwireless@wireless.org.au",), headers={"precedence": "list"},
                  sender_header="owner-melbwireless@wireless.org.au")
    assert tag_message(msg) == ["group"]


def test_newsletter_posted_through_its_own_majordomo_list():
    msg = message(sender="newsletter@matrox.com", to=("mgi_englishlist@matrox.com",),
                  sender_header="owner-mgi_englishlist@matrox.com", subject="Parhelia now available")
    assert tag_message(msg) == ["newsletter"]


def test_reply_on_a_list_without_list_post_is_group():
    headers = {"list-unsubscribe": "<mailto:x-off@lists.example.net>", "precedence": "bulk"}
    msg = message(subject="Re: Tiny DNS swap", in_reply_to="a@b", headers=headers)
    assert tag_message(msg) == ["group"]


def test_list_subject_tag_without_headers():
    assert tag_message(message(subject="[Spambayes] test sets?", to=())) == ["group"]
    assert tag_message(message(subject="Re: [SAdev] results", in_reply_to="a@b")) == ["group"]


@pytest.mark.parametrize("subject", ["[PATCH] fix a leak", "[EXTERNAL] contract", "[SPAM] buy now", "[support #33] x"])
def test_non_list_subject_tags(subject):
    assert tag_message(message(subject=subject)) == []


def test_mailman_footer_without_headers():
    body = "My answer.\n\n_______________________________________________\nSpambayes mailing list\nSpambayes@python.org\nhttp://mail.python.org/mailman/listinfo/spambayes\n"
    assert tag_message(message(body=body, to=())) == ["group"]


def test_bug_tracker_mail_through_a_list_is_group_and_transactional():
    headers = {"list-post": "<mailto:devel@lists.example.net>", "x-bugzilla-reason": "CC"}
    msg = message(sender="bugzilla-daemon@example.net", to=("devel@lists.example.net",), headers=headers)
    assert tag_message(msg) == ["group", "transactional"]


def test_list_digest_sent_by_the_list():
    headers = {"list-post": "<mailto:firewalls@isc.org>", "list-id": "<firewalls.isc.org>"}
    msg = message(sender="firewalls@isc.org", to=("firewalls@isc.org",), headers=headers, subject="firewalls Digest V1 #33")
    assert tag_message(msg) == ["group"]


# --------------------------------------------------------------------------- transactional


@pytest.mark.parametrize(
    "headers",
    [
        {"auto-submitted": "auto-replied"},
        {"auto-submitted": "auto-generated"},
        {"content-type": "multipart/report; report-type=delivery-status; boundary=x"},
        {"x-auto-response-suppress": "All"},
        {"x-github-reason": "mention"},
        {"x-mailgun-sid": "abc"},  # relay ESP without List-Unsubscribe
        {"feedback-id": "1.us-east-1.abc:AmazonSES"},
    ],
)
def test_transactional_headers(headers):
    assert tag_message(message(sender="service@app.example", headers=headers, subject="Hello")) == ["transactional"]


def test_auto_submitted_no_is_not_automated():
    assert tag_message(message(headers={"auto-submitted": "no"})) == []


@pytest.mark.parametrize(
    ("sender", "subject"),
    [
        ("noreply@shop.example", "Your order #1234 has shipped"),
        ("billing@hosting.example", "Invoice 2024-05"),
        ("notifications@bank.example", "Security alert: new sign-in"),
        ("accounts@site.example", "Password reset"),
        ("mailer-daemon@mx.example", "Undelivered Mail Returned to Sender"),
        ("jane.doe@acme.com", "Automatic reply: Lunch"),
        ("jane.doe@acme.com", "Out of Office: Lunch"),
        ("nic@starflung.com", "Automated 30 day renewal reminder"),
        ("john.smith@acme.com", "AUTO: Smith, John is out of the office. (returning 05/01/2010)"),  # Lotus Notes
        ("noreply.packstation@parcels.example", "Ihr Paket ist in der Packstation 123"),
        ("noreply@service.parcels.example", "Votre colis est en cours de livraison"),
    ],
)
def test_transactional_subjects(sender, subject):
    assert tag_message(message(sender=sender, subject=subject)) == ["transactional"]


def test_sign_up_subject_from_a_program_is_transactional():
    subject = "You're signed up for the Reich Report!"
    script = message(sender="volunteer-reply@robertreich.org", subject=subject,
                     headers={"x-mailer": "AspMail 3.53 (SMTP2D571B)"})
    assert tag_message(script) == ["transactional"]
    assert tag_message(message(sender="volunteer-reply@robertreich.org", subject=subject)) == []


def test_unmonitored_mailbox_body():
    body = "PLEASE DO NOT RESPOND TO THIS E-MAIL--THIS ACCOUNT IS NOT MONITORED\nAttached is the payment proposal."
    assert tag_message(message(sender="mbx_iscinfra@enron.com", subject="SAP file", body=body)) == ["transactional"]


@pytest.mark.parametrize(
    "headers",
    [
        {"return-path": "<>"},  # null reverse-path: delivery reports and auto-replies
        {"return-path": "< >"},
        {"precedence": "auto_reply"},
        {"x-autogenerated": "Reply"},
    ],
)
def test_envelope_and_autoresponder_signs(headers):
    assert tag_message(message(headers=headers, subject="Re: Lunch on Friday?")) == ["transactional"]


def test_ordinary_return_path_is_not_automated():
    assert tag_message(message(headers={"return-path": "<jane.doe@acme.com>"})) == []


@pytest.mark.parametrize("name", ["Mail Delivery Subsystem", "Mail Delivery System", "MAILER-DAEMON"])
def test_mta_sender_name_is_a_delivery_report(name):
    assert tag_message(message(sender="root@mx.example", name=name, subject="")) == ["transactional"]


@pytest.mark.parametrize(
    ("sender", "name", "subject"),
    [
        ("postmaster@corp.example", "Postmaster", "DELIVERY FAILURE: User jdoe not listed in Domino Directory"),
        ("admin@corp.example", "System Administrator", "Undeliverable: Lunch"),
        ("postmaster@isp.example", None, "Warning: could not send message for past 4 hours"),
        ("postmaster@isp.example", None, "Mail Delivery Problem"),
    ],
)
def test_postmaster_delivery_reports(sender, name, subject):
    assert tag_message(message(sender=sender, name=name, subject=subject)) == ["transactional"]


def test_postmaster_writing_personally_stays_personal():
    msg = message(sender="postmaster@corp.example", name="Postmaster", subject="New spam filter from Monday")
    assert tag_message(msg) == []
    msg = message(sender="bob.smith@corp.example", name="System Administrator", subject="Password policy")
    assert tag_message(msg) == []


@pytest.mark.parametrize(
    "body",
    [
        "You won! PLEASE DO NOT ATTEMPT TO REPLY TO THIS EMAIL. Mail the form to us.",
        "Your file is ready.\nThis is a notification-only address; replies are not read.",
        "Replies to this message will not be answered.",
    ],
)
def test_machine_body_phrases(body):
    assert tag_message(message(sender="promo@shop.example", subject="Prize notification", body=body)) == [
        "transactional"
    ]


@pytest.mark.parametrize(
    "body",
    [
        "Hi,\nif you did not request this change, ignore this e-mail.\n",
        "Use this link to reset your password.",
        "Thank you for your order! Your order number is 1234.",
        "Please verify your email address by clicking below.",
    ],
)
def test_account_wording_from_an_automated_sender(body):
    assert tag_message(message(sender="accounts@app.example", subject="Hello", body=body)) == ["transactional"]
    assert tag_message(message(sender="noreply@app.example", subject="Hello", body=body)) == ["transactional"]


def test_a_notice_phrase_from_a_sender_without_display_name_is_transactional():
    """Programs often send from a bare address; a person's mail client sends their name."""
    body = "The following expense report is ready for approval:\nReport Total: $3,947.61\n"
    assert tag_message(message(sender="enron_update@concur.example", subject="Expense Document", body=body)) == [
        "transactional"
    ]
    # the same words from someone with a display name, or a nameless sender without them, stay personal
    assert tag_message(message(name="Jane Doe", subject="Expense Document", body=body)) == []
    assert tag_message(message(sender="perfmgmt@acme.com", subject="Feedback", body="Please call me.")) == []


def test_a_bulk_envelope_carrying_an_account_notice_is_transactional():
    """Errors-To / Precedence bulk say a program sent it; the body tells a notice from a campaign."""
    notice = "Here is your administrator password, as you requested.\nIf you didn't request this password, ignore it."
    headers = {"errors-to": "app+errors@topics.example"}
    sender = "app+admin@topics.example"
    assert tag_message(message(sender=sender, subject="testing", headers=headers, body=notice)) == ["transactional"]
    campaign = notice + "\nTo unsubscribe from these mailings, click here."
    assert tag_message(message(sender=sender, subject="testing", headers=headers, body=campaign)) == ["newsletter"]


def test_account_wording_from_a_person_stays_personal():
    body = "Thank you for your order, I will ship the books on Monday.\nJane"
    assert tag_message(message(subject="Books", body=body)) == []


@pytest.mark.parametrize(
    "subject",
    [
        "Request Approved: Access Request for jane.doe@acme.com",
        "Request Closed: Access Request for jane.doe@acme.com",
        "Your Approval is Overdue: Access Request for jane.doe@acme.com",
        "Expense report awaiting your approval",
    ],
)
def test_workflow_notices(subject):
    assert tag_message(message(sender="arsystem@mailman.acme.com", subject=subject)) == ["transactional"]
    assert tag_message(message(subject=subject)) == []  # a colleague's own mail with that subject


def test_ticket_system_message_id():
    msg = message(sender="rt-support@example.de", subject="[support.example.de #33575] Resolved: FYI",
                  message_id="rt-4.2.8-6644-1530017064-1465.33575-215-0@example.de")
    assert tag_message(msg) == ["transactional"]


# --------------------------------------------------------------------------- social


def test_german_car_subject_is_not_an_auto_reply():
    assert tag_message(message(subject="Auto: Termin in der Werkstatt")) == []


def test_parcel_notice_sent_through_a_marketing_platform_is_transactional():
    """Shipping notices are one person's own even when an ESP with list headers sends them;
    the same platform's campaign stays a newsletter."""
    headers = {"list-id": "<abcd.service.parcels.example>", "x-mailer": "Inxmail Professional"}
    notice = message(sender="noreply@service.parcels.example", subject="Bald ist Ihr DPD Paket da", headers=headers)
    assert tag_message(notice) == ["transactional"]
    campaign = message(sender="noreply@service.parcels.example", subject="Unsere Sommerangebote", headers=headers)
    assert tag_message(campaign) == ["newsletter"]


def test_a_social_networks_bounce_is_transactional():
    headers = {"content-type": "multipart/report; report-type=delivery-status"}
    bounce = message(sender="mailer-daemon@mx.facebook.com", name="Facebook",
                     subject="Sorry, your message could not be delivered", headers=headers)
    assert tag_message(bounce) == ["transactional"]
    assert tag_message(message(sender="notification@facebookmail.com", subject="New comment")) == ["social"]


@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        ("messages-noreply@linkedin.com", {}),
        ("notification@facebookmail.com", {}),
        ("info@twitter.com", {}),
        ("someone@corp.example", {"x-linkedin-class": "INVITE"}),
    ],
)
def test_social(sender, headers):
    assert tag_message(message(sender=sender, headers=headers, subject="You have a new invitation")) == ["social"]


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("local", "generated"),
    [
        ("Online#3.19578.34-UgGTgZFN19NAr9RR.1", True),
        ("2.20290.44-t9bsgc0tYwDu.1", True),
        ("body_216095411795471888", True),
        ("R-1-270241-5399979-2-24365-DE1-3A9F193C", True),
        ("searchSecurity-F485FCCE40B794D5", False),
        ("jason-exp-1031164464.7f11b3", False),  # a person's TMDA address
        ("kevin+dated+1038681510.d5d35b", False),
        ("bgibson50606", False),
        ("jane.doe", False),
    ],
)
def test_generated_local_parts(local, generated):
    assert is_generated_local(local) is generated


@pytest.mark.parametrize(
    ("address", "is_list"),
    [
        ("rpm-list@freshrpms.net", True),
        ("owner-announce@lp.org", True),
        ("zzzzteana@yahoogroups.com", True),
        ("dev@lists.example.org", True),
        ("openssl-users@openssl.org", True),
        ("linux-request@vger.kernel.org", True),
        ("linux-xfs@oss.sgi.com", False),
        ("jane.doe@acme.com", False),
        ("notanaddress", False),
    ],
)
def test_list_shaped_addresses(address, is_list):
    assert looks_like_list_address(address) is is_list


def test_list_addresses_vger_list_id_names_the_cc_list():
    msg = message(to=("akpm@linux-foundation.org",), cc=("linux-kernel@vger.kernel.org", "x@y.org"),
                  headers={"list-id": "<linux-kernel.vger.kernel.org>"})
    assert list_addresses(msg) == ["linux-kernel@vger.kernel.org"]


def test_list_addresses_from_list_headers():
    headers = {
        "list-post": "<mailto:fork@xent.com>",
        "x-beenthere": "fork@xent.com",
        "mailing-list": "list zzzzteana@yahoogroups.com; contact forteana-owner@yahoogroups.com",
    }
    assert list_addresses(message(headers=headers)) == ["fork@xent.com", "zzzzteana@yahoogroups.com"]


def test_list_addresses_from_a_list_admin_sender_only_when_addressed():
    addressed = message(to=("melbwireless@wireless.org.au",), sender_header="owner-melbwireless@wireless.org.au")
    assert list_addresses(addressed) == ["melbwireless@wireless.org.au"]
    not_addressed = message(sender_header="owner-melbwireless@wireless.org.au")
    assert list_addresses(not_addressed) == []
    assert list_addresses(message()) == []


def test_tagging_header_names():
    assert is_tagging_header("List-Unsubscribe") and is_tagging_header("X-Mailgun-Sid")
    assert is_tagging_header("X-Egroups-Return") and is_tagging_header("X-Bugzilla-Reason")
    assert not is_tagging_header("Received") and not is_tagging_header("Subject")


def test_extract_keeps_every_header_tagging_reads():
    """Integration: extract must put every tagging header in ``record.headers``.

    extract.py decides what ``record.headers`` holds; the tagger can only use
    what is kept. Fix: let extract keep ``leadminer.tagging.is_tagging_header``
    names (e.g. delegate its own ``is_tagging_header`` to it).
    """
    from leadminer.extract import extract_message

    names = sorted(TAGGING_HEADERS) + [p.rstrip("-") + ("-x" if p.endswith("-") else "x") for p in TAGGING_HEADER_PREFIXES]
    raw = "From: a@b.example\r\nTo: c@d.example\r\nSubject: s\r\n" + "".join(f"{n}: v\r\n" for n in names) + "\r\nbody\r\n"
    record = extract_message(RawMessage("t", "INBOX", "1", raw.encode()))
    missing = [n for n in names if n not in record.headers]
    assert not missing, f"extract drops headers the tagger reads: {missing}"


def test_parent_domain_sets_hold_registrable_names_only():
    """The shared walker (leadminer.addresses.domain_in) never looks at a top-level domain alone."""
    from leadminer.tagging.vocabulary import LIST_DOMAINS, SOCIAL_DOMAINS

    assert all("." in d for d in SOCIAL_DOMAINS | LIST_DOMAINS)
    assert tag_message(message("jobs@mail.linkedin.com", subject="New jobs for you")) == ["social"]


def test_the_senders_broadcast_shape_is_read_once_per_message(monkeypatch):
    """Facts are computed once per message however many rules read them."""
    from leadminer.tagging import facts

    calls = []
    real = facts.only_broadcast_words
    monkeypatch.setattr(facts, "only_broadcast_words", lambda *a: calls.append(a) or real(*a))
    bulk = message("marketing.team@shop.example", name="Shop", to=(), subject="Spring sale",
                   body="Our spring sale starts now.\n\nTo unsubscribe click here.")
    assert tag_message(bulk) == ["newsletter"]
    assert len(calls) == 1


# --------------------------------------------------------------------------- person tags


def test_person_all_newsletters_is_newsletter():
    assert person_tags([["newsletter"], ["newsletter"]], ["professional"], wrote_personally=False) == [
        "newsletter", "professional",
    ]


def test_person_one_personal_message_stays_a_person():
    assert person_tags([["newsletter"], []], ["professional"], wrote_personally=False) == ["professional"]


def test_person_who_wrote_personally_is_never_automated():
    assert person_tags([["transactional"]], ["professional"], wrote_personally=True) == ["professional"]


def test_person_mixed_automated_kinds_keeps_each():
    assert person_tags([["newsletter"], ["transactional"]], ["role"], wrote_personally=False) == [
        "newsletter", "transactional", "role",
    ]


def test_list_post_address_is_group():
    assert person_tags([], ["professional", "group"], wrote_personally=False) == ["group", "professional"]


def test_person_posting_to_a_list_is_not_group():
    assert person_tags([["group"], ["group"]], ["personal"], wrote_personally=True, email="joe@perches.com") == [
        "personal",
    ]


def test_list_shaped_sender_of_group_mail_is_group():
    tags = person_tags([["group"]], ["professional"], wrote_personally=True, email="owner-eveningmba@haas.example.edu")
    assert tags == ["group", "professional"]


def test_person_with_no_sent_mail_only_has_address_tags():
    assert person_tags([], ["personal", "user"], wrote_personally=False) == ["personal", "user"]


def test_person_social():
    assert person_tags([["social"], ["social"]], ["no-reply"], wrote_personally=False) == ["social", "no-reply"]
