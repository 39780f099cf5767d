"""What the compliance page says in our words: the records of processing (GDPR Art. 30,
DPDP notice items) and the policy's promises, each naming the evidence that speaks for it
(``heroshhi.privacy.compliance`` gathers that evidence). Code, reviewed with the code they
describe.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True, slots=True)
class ProcessingRecord:
    activity: Promise
    purpose: Promise
    lawful_basis: Promise
    data: Promise
    retention: Promise


PROCESSING_RECORDS: tuple[ProcessingRecord, ...] = (
    ProcessingRecord(
        _("Managing leads"),
        _("Keep and organise the business's enquiries and customers"),
        _("Contract: done on the business's instructions"),
        _("Names, phone numbers, e-mail, source, custom fields, notes, tasks"),
        _("As the business sets; deleted leads leave the trash for good after 30 days"),
    ),
    ProcessingRecord(
        _("WhatsApp conversations"),
        _("Let the business and its contacts talk"),
        _("Contract"),
        _("Message content, media details, delivery statuses, WhatsApp ids"),
        _("As the business sets (message retention); always removed with the lead"),
    ),
    ProcessingRecord(
        _("Marketing messages"),
        _("Send promotions and campaigns to contacts who agreed"),
        _("Consent of the contact, recorded per lead with its source and wording version"),
        _("Phone number, consent records, message content"),
        _("Until consent is withdrawn; the withdrawal itself is kept on the opt-out ledger"),
    ),
    ProcessingRecord(
        _("Opt-out ledger"),
        _("Never message someone who asked us to stop"),
        _("Legal obligation and the platform rules of Meta"),
        _("A keyed hash of the phone number, time, method, trigger word"),
        _("Indefinitely; no plaintext number is kept"),
    ),
    ProcessingRecord(
        _("Call logs"),
        _("Keep a record of calls with contacts"),
        _("Contract"),
        _("Numbers, time, duration, outcome, notes"),
        _("As the lead; removed with it"),
    ),
    ProcessingRecord(
        _("Activity (audit) log"),
        _("Security, investigation and accountability"),
        _("Legitimate interest; legal obligation to keep logs for a year"),
        _("Who did what and when, with ids, IP address and browser; no contact details"),
        _("365 days, then purged with a sealed checkpoint"),
    ),
    ProcessingRecord(
        _("Analytics"),
        _("Reports for the business; improving the service"),
        _("Legitimate interest"),
        _("Daily totals without personal data; contacts who objected are left out"),
        _("Indefinitely, as aggregates"),
    ),
    ProcessingRecord(
        _("Accounts and billing"),
        _("Provide the service, sign people in, invoice"),
        _("Contract"),
        _("Account holders' names and e-mail, company and tax details, plan and usage"),
        _("While the account exists, plus 30 days after termination"),
    ),
    ProcessingRecord(
        _("Privacy requests"),
        _("Answer people who use their rights"),
        _("Legal obligation"),
        _("Request type, dates, what the requester wrote (wiped when their data is erased)"),
        _("Kept as the record that the request was answered"),
    ),
    ProcessingRecord(
        _("Incident register"),
        _("Handle security incidents and report them on time"),
        _("Legal obligation"),
        _("What happened, when, which businesses; details sealed"),
        _("Kept as evidence of how each incident was handled"),
    ),
)


@dataclass(frozen=True, slots=True)
class PolicyPromise:
    ids: str
    text: Promise
    evidence: str


PROMISES: tuple[PolicyPromise, ...] = (
    PolicyPromise("P02", _("Sensitive data is stored encrypted (AES-256-GCM)."), "encryption"),
    PolicyPromise("P17", _("Each workspace has its own keys; termination destroys them."), "keys"),
    PolicyPromise(
        "P03 · P12", _("Traffic is encrypted and browsers get strict headers."), "transport"
    ),
    PolicyPromise(
        "P05 · P16 · P25",
        _("Every action is logged in a tamper-evident chain and purged after a year."),
        "audit",
    ),
    PolicyPromise(
        "P07 · P14 · P15",
        _("Data is kept only as long as you choose; the trash empties after 30 days."),
        "retention",
    ),
    PolicyPromise(
        "P18 · P20", _("Opt-outs are honoured at once and remembered for good."), "optout"
    ),
    PolicyPromise(
        "P23", _("People's requests about their data are answered in 2 business days."), "requests"
    ),
    PolicyPromise("P09", _("Marketing needs consent, recorded with its source."), "consent"),
    PolicyPromise(
        "P24 · P28", _("Incidents are registered and reported against the clock."), "incidents"
    ),
)
