from __future__ import annotations

import factory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.models import Membership, Merchant, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("pw-for-tests-only")


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")
    slug = factory.Sequence(lambda n: f"merchant-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    merchant = factory.SubFactory(MerchantFactory)
    role = Membership.Role.OWNER


def owner_client(
    merchant: Merchant | None = None, *, role: str = Membership.Role.OWNER
) -> tuple[APIClient, User, Merchant]:
    """An API client authenticated by token as a member of ``merchant`` (created if None)."""
    membership = MembershipFactory(merchant=merchant or MerchantFactory(), role=role)
    token, _ = Token.objects.get_or_create(user=membership.user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, membership.user, membership.merchant
