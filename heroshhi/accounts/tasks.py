"""Account e-mails, sent after the request that asked for them has answered."""

from __future__ import annotations

from celery import shared_task

from heroshhi.accounts.emails import password_reset_email
from heroshhi.accounts.models import User


@shared_task
def password_reset_email_send(*, user_id: str, domain: str, use_https: bool) -> None:
    """Mail a reset link. The token is made here, never passed through the broker."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.has_usable_password():
        return
    password_reset_email(user=user, domain=domain, use_https=use_https).send()
