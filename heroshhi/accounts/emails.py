"""Account e-mails, rendered from templates/accounts/email/."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from heroshhi.accounts.models import User


def password_reset_link(*, user: User, domain: str, use_https: bool) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    path = reverse("accounts:password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    return f"{'https' if use_https else 'http'}://{domain}{path}"


def password_reset_email(*, user: User, domain: str, use_https: bool) -> EmailMessage:
    context = {
        "reset_link": password_reset_link(user=user, domain=domain, use_https=use_https),
        "timeout_hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
    }
    subject = "".join(render_to_string("accounts/email/password_reset_subject.txt").splitlines())
    body = render_to_string("accounts/email/password_reset_body.txt", context)
    return EmailMessage(subject=subject, body=body, to=[user.email])
