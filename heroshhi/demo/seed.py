"""The demo workspace that `make run` seeds on first start.

"Demo Traders" gets an owner, a manager, two sales users and about 300 made-up leads, all
written through the real services, so encryption, blind indexes, the timeline and the audit
chain apply exactly as for real data. The data is deterministic (one seeded ``Random``) and
plainly fake: phone numbers in the +91 90000 xxxxx block, e-mail addresses at example.com
and .test domains, names drawn at random from a list of common first and last names.
"""

from __future__ import annotations

import os
import random
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction

from heroshhi.accounts.models import User
from heroshhi.accounts.services import user_create
from heroshhi.core.actors import Actor
from heroshhi.demo.messaging import seed_messaging
from heroshhi.leads.models import Source, Stage
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.notes import note_add
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import membership_create, workspace_create

DEMO_SLUG = "demo"
DEMO_SEED = 2026
DEMO_LEADS = 300
DEMO_REPEAT_ENQUIRIES = 6  # the same people writing in again: shows dedupe on the timeline
DEMO_TEAM: tuple[tuple[str, str, Role], ...] = (
    ("manager@demo.heroshhi.test", "Demo Manager", Role.MANAGER),
    ("sales1@demo.heroshhi.test", "Demo Sales One", Role.SALES),
    ("sales2@demo.heroshhi.test", "Demo Sales Two", Role.SALES),
)

FIRST_NAMES = (
    "Aarav", "Aditi", "Akash", "Ananya", "Anil", "Anjali", "Arjun", "Bhavna", "Chetan",
    "Deepa", "Divya", "Farhan", "Gaurav", "Geeta", "Harpreet", "Imran", "Ishita", "Jaspreet",
    "Karan", "Kavya", "Lakshmi", "Manish", "Meera", "Mohammed", "Naveen", "Neha", "Nikhil",
    "Pooja", "Pradeep", "Priya", "Rahul", "Rajesh", "Ramesh", "Ravi", "Rekha", "Rohan",
    "Sakshi", "Sandeep", "Sanjay", "Shreya", "Siddharth", "Sneha", "Sunil", "Sunita",
    "Suresh", "Tanvi", "Uday", "Varun", "Vikram", "Vidya", "Yash", "Zoya", "Abdul", "Fatima",
    "Joseph", "Mary", "Gurpreet", "Venkatesh", "Lalitha", "Murugan", "Selvi", "Biswajit",
    "Tanushree", "Hemant",
)  # fmt: skip
LAST_NAMES = (
    "Sharma", "Verma", "Gupta", "Agarwal", "Patel", "Shah", "Mehta", "Desai", "Joshi",
    "Kulkarni", "Deshpande", "Patil", "Pawar", "Reddy", "Naidu", "Rao", "Iyer", "Iyengar",
    "Nair", "Menon", "Pillai", "Krishnan", "Subramanian", "Banerjee", "Chatterjee",
    "Mukherjee", "Das", "Bose", "Ghosh", "Singh", "Kaur", "Gill", "Sandhu", "Khan", "Qureshi",
    "Ansari", "Sheikh", "D'Souza", "Fernandes", "Pereira", "Thomas", "Mishra", "Tiwari",
    "Pandey", "Yadav", "Chauhan", "Rathore", "Bhatt", "Saxena", "Malhotra", "Kapoor",
)  # fmt: skip
DEVANAGARI_NAMES = (
    "राहुल शर्मा", "प्रिया वर्मा", "अमित कुमार", "सुनीता देवी", "विकास यादव",
    "पूजा मिश्रा", "संजय पाटील", "अनिता जोशी", "मनोज तिवारी", "कविता सिंह",
)  # fmt: skip
CITIES = (
    "Mumbai", "Pune", "Nagpur", "Nashik", "Ahmedabad", "Surat", "Vadodara", "Jaipur",
    "Indore", "Bhopal", "Lucknow", "Kanpur", "Delhi", "Gurugram", "Noida", "Chandigarh",
    "Ludhiana", "Bengaluru", "Mysuru", "Chennai", "Coimbatore", "Madurai", "Hyderabad",
    "Vijayawada", "Kochi", "Thiruvananthapuram", "Kolkata", "Bhubaneswar", "Patna", "Guwahati",
)  # fmt: skip
PRODUCTS = (
    ("steel almirahs", 8_000, 25_000),
    ("office chairs", 3_500, 12_000),
    ("LED panel lights", 450, 1_800),
    ("rooftop solar panels", 55_000, 3_50_000),
    ("RO water purifiers", 9_000, 22_000),
    ("ceiling fans", 1_800, 6_500),
    ("modular kitchen fittings", 40_000, 2_50_000),
    ("school uniforms", 600, 1_500),
    ("cotton bedsheets", 500, 2_200),
    ("inverter batteries", 11_000, 18_000),
)
QUANTITIES = (1, 2, 5, 10, 12, 20, 25, 50, 100)
DOMAINS = ("example.com", "example.in", "mail.test", "demo-shop.test")
TAGS = ("hot", "follow-up", "diwali-offer", "bulk-order", "price-sensitive", "repeat-customer")
NOTES = (
    "Called, asked to share the catalogue on WhatsApp.",
    "Wants a quotation with GST and delivery charges.",
    "Visiting the showroom on Saturday with family.",
    "Asked for the Diwali discount; promised an answer by Monday.",
    "Comparing with a local dealer; price is the deciding factor.",
    "Payment by UPI; needs delivery within a week.",
    "Not reachable twice; try again after 6 pm.",
    "Sent sample photos; waiting for confirmation.",
)
# (source, weight); together roughly how enquiries reach a small Indian trader.
SOURCE_WEIGHTS: tuple[tuple[str, int], ...] = (
    (Source.WHATSAPP, 30),
    (Source.FACEBOOK_ADS, 18),
    (Source.GOOGLE_ADS, 12),
    (Source.MANUAL, 12),
    (Source.IMPORT, 10),
    (Source.GOOGLE_SHEETS, 7),
    (Source.WEBHOOK, 6),
    (Source.API, 5),
)
STAGE_WEIGHTS = (34, 24, 16, 12, 14)  # New, Contacted, Qualified, Won, Lost


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str


def _password_file() -> Path:
    return Path(settings.VAR_DIR) / "keys" / "demo-password"


def demo_login() -> DemoLogin | None:
    path = _password_file()
    if not path.exists():
        return None
    return DemoLogin(email=settings.DEMO_OWNER_EMAIL, password=path.read_text().strip())


@transaction.atomic
def demo_seed() -> DemoLogin:
    """Create the demo workspace, its team and leads once; later runs return the same login."""
    existing = demo_login()
    if existing and Workspace.objects.filter(slug=DEMO_SLUG).exists():
        return existing
    password = secrets.token_urlsafe(15)
    owner = user_create(email=settings.DEMO_OWNER_EMAIL, password=password, full_name="Demo Owner")
    workspace = workspace_create(
        actor=Actor.system(), name="Demo Traders", slug=DEMO_SLUG, owner=owner
    )
    team = [
        (
            user,
            membership_create(workspace=workspace, user=user, role=role),
            Actor.user(user.pk, role=role),
        )
        for user, role in (
            (user_create(email=email, password=password, full_name=full_name), role)
            for email, full_name, role in DEMO_TEAM
        )
    ]
    _seed_leads(workspace=workspace, owner=owner, team=team)
    seed_messaging(workspace=workspace, owner=Actor.user(owner.pk, role=Role.OWNER))
    path = _password_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return DemoLogin(email=settings.DEMO_OWNER_EMAIL, password=password)


# Leads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    name: str
    phone: str | None
    email: str | None


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())


def _person(rng: random.Random, serial: int) -> _Person:
    """One made-up person; ``serial`` keeps phone numbers and e-mails distinct."""
    if rng.random() < 0.05:
        name = rng.choice(DEVANAGARI_NAMES)
        first, last = "lead", f"{serial:03d}"
    else:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = f"{first} {last}"
    # The +91 90000 block, numbered by serial: 300 people, 300 distinct numbers.
    phone = f"+91 90000 {10_000 + serial * 7:05d}" if rng.random() < 0.92 else None
    email = None
    if phone is None or rng.random() < 0.45:
        email = f"{_slug(first)}.{_slug(last)}{serial}@{rng.choice(DOMAINS)}"
    return _Person(name=name, phone=phone, email=email)


def _source_details(rng: random.Random, source: str, city: str) -> dict[str, str]:
    campaign = rng.choice(("diwali_2025", "monsoon_sale", "wedding_season", "new_year_2026"))
    if source == Source.FACEBOOK_ADS:
        return {
            "campaign_id": f"1202{rng.randrange(10**11):011d}",
            "adset_id": f"1202{rng.randrange(10**11):011d}",
            "ad_id": f"1202{rng.randrange(10**11):011d}",
            "form_id": f"{rng.randrange(10**15):015d}",
            "utm_source": "facebook",
            "utm_medium": "paid_social",
            "utm_campaign": campaign,
        }
    if source == Source.GOOGLE_ADS:
        return {
            "campaign_id": f"{rng.randrange(10**10):010d}",
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": campaign,
            "utm_term": f"{city.lower()} wholesale",
        }
    if source == Source.WHATSAPP:
        return {"utm_source": "whatsapp", "utm_medium": "click_to_chat"}
    if source == Source.GOOGLE_SHEETS:
        return {"form_id": f"sheet-{rng.randrange(1, 5)}", "utm_source": "google_forms"}
    if source == Source.WEBHOOK:
        return {"utm_source": "website", "referrer_url": "https://demo-traders.example.com/contact"}
    if source == Source.API:
        return {"utm_source": "partner_portal", "utm_campaign": campaign}
    if source == Source.IMPORT:
        return {"utm_source": "trade_fair", "utm_content": f"{city.lower()}-expo"}
    return {}


def _seed_leads(
    *, workspace: Workspace, owner: User, team: list[tuple[User, Membership, Actor]]
) -> None:
    rng = random.Random(DEMO_SEED)  # noqa: S311 -- deterministic made-up data, not secrets
    owner_actor = Actor.user(owner.pk, role=Role.OWNER)
    stages: list[Stage] = stages_ensure_defaults(workspace=workspace)
    sales = [(member, actor) for _, member, actor in team if member.role == Role.SALES]
    manager_actor = next(actor for _, member, actor in team if member.role == Role.MANAGER)
    sources = [source for source, _ in SOURCE_WEIGHTS]
    source_weights = [weight for _, weight in SOURCE_WEIGHTS]
    people: list[_Person] = []
    for serial in range(DEMO_LEADS):
        person = _person(rng, serial)
        people.append(person)
        product, low, high = rng.choice(PRODUCTS)
        quantity = rng.choice(QUANTITIES)
        city = rng.choice(CITIES)
        source = rng.choices(sources, source_weights)[0]
        stage = rng.choices(stages, STAGE_WEIGHTS[: len(stages)])[0]
        assignee = rng.choice([*sales, *sales, None])  # about one in five unassigned
        tags = rng.sample(TAGS, k=rng.choice((0, 0, 1, 1, 2)))
        deal_value = None
        if rng.random() < 0.8:
            rupees = quantity * rng.randrange(low, high) // 100 * 100
            deal_value = Decimal(rupees)
        lead = lead_create(
            workspace=workspace,
            actor=owner_actor,
            name=person.name,
            phone=person.phone,
            email=person.email,
            source=source,
            source_details=_source_details(rng, source, city),
            stage=stage,
            owner=assignee[0] if assignee else None,
            tags=tags,
            deal_value=deal_value,
            description=f"Enquiry for {quantity} {product}, delivery to {city}.",
        ).lead
        if rng.random() < 0.3:
            note_add(
                workspace=workspace,
                actor=assignee[1] if assignee else manager_actor,
                lead=lead,
                body=rng.choice(NOTES),
            )
    # A few people write in again on WhatsApp with their number typed differently:
    # the service finds the live lead by its phone blind index instead of adding one.
    returning = [person for person in people if person.phone][:DEMO_REPEAT_ENQUIRIES]
    for person in returning:
        assert person.phone is not None
        lead_create(
            workspace=workspace,
            actor=owner_actor,
            name=None,
            phone="0" + person.phone.removeprefix("+91 ").replace(" ", "-"),
            email=None,
            source=Source.WHATSAPP,
            source_details={"utm_source": "whatsapp", "utm_medium": "click_to_chat"},
        )
