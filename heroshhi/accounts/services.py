"""Writes for user accounts."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from heroshhi.accounts.models import User


@transaction.atomic
def user_create(*, email: str, password: str, full_name: str = "") -> User:
    user = User(email=User.objects.normalize_email(email).lower(), full_name=full_name)
    validate_password(password, user=user)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user
