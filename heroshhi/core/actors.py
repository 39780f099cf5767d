"""Who is acting. Every service takes an ``actor`` so audit events can say who did what."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ActorType(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"
    PLATFORM_ADMIN = "platform_admin"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Actor:
    type: ActorType
    id: str | None = None
    role: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(type=ActorType.SYSTEM)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(type=ActorType.ANONYMOUS)

    @classmethod
    def user(cls, user_id: object, role: str | None = None) -> Actor:
        return cls(type=ActorType.USER, id=str(user_id), role=role)
