from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import Membership, Merchant, User
from core.tokens import api_token_create
from payments.models import BrewCommand, Device, Drink, Order, Payment, PaymentAccount, Provider, Refund, Size
from sandbox.vendista import SANDBOX_LOGIN, SANDBOX_PASSWORD
from vending.models import Terminal, Transaction, VendistaAccount


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


# --- payments -------------------------------------------------------------------------------------------


class PaymentAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentAccount
        django_get_or_create = ("merchant",)

    merchant = factory.SubFactory(MerchantFactory)
    yookassa_shop_id = factory.Sequence(lambda n: f"shop-{n}")


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    merchant = factory.SubFactory(MerchantFactory)
    code = factory.Sequence(lambda n: f"device-{n}")
    name = factory.Sequence(lambda n: f"Machine {n}")
    channel = Device.Channel.TMETR
    external_id = factory.Sequence(lambda n: f"tmetr-{n}")
    provider = Provider.YOOKASSA


class DrinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Drink

    merchant = factory.SubFactory(MerchantFactory)
    device = None  # on the menu of every device of the merchant
    name = factory.Sequence(lambda n: f"Drink {n}")
    external_id = factory.Sequence(lambda n: str(n + 1))
    price_small = 10_000
    price_medium = 15_000
    price_big = 20_000


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    device = factory.SubFactory(DeviceFactory)
    merchant = factory.SelfAttribute("device.merchant")
    drink = factory.SubFactory(DrinkFactory, merchant=factory.SelfAttribute("..merchant"))
    drink_name = factory.SelfAttribute("drink.name")
    drink_external_id = factory.SelfAttribute("drink.external_id")
    size = Size.SMALL
    amount = factory.LazyAttribute(lambda o: o.drink.price(o.size) if o.drink else 10_000)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=15))


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    order = factory.SubFactory(OrderFactory)
    provider = factory.SelfAttribute("order.device.provider")
    provider_payment_id = factory.Sequence(lambda n: f"pay-{n:08d}")
    amount = factory.SelfAttribute("order.amount")


class RefundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Refund

    payment = factory.SubFactory(PaymentFactory)
    kind = Refund.Kind.CANCEL
    amount = factory.SelfAttribute("payment.amount")
    reason = "test"


class BrewCommandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BrewCommand

    order = factory.SubFactory(OrderFactory)
    channel = factory.SelfAttribute("order.device.channel")


# --- vending -------------------------------------------------------------------------------------------------


class VendistaAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VendistaAccount

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Vendista {n}")
    login = SANDBOX_LOGIN
    password = SANDBOX_PASSWORD
    time_zone = "Europe/Moscow"


class TerminalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Terminal

    account = factory.SubFactory(VendistaAccountFactory)
    term_id = factory.Sequence(lambda n: 1000 + n)
    raw = factory.LazyAttribute(lambda t: {"id": t.term_id})


class TransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transaction

    account = factory.SubFactory(VendistaAccountFactory)
    term_id = 1000
    vendista_id = factory.Sequence(lambda n: n + 1)
    time = factory.LazyFunction(timezone.now)
    sum_minor = 10_000
    raw = factory.LazyAttribute(lambda t: {"id": t.vendista_id, "term_id": t.term_id, "sum": t.sum_minor})


def owner_client(
    merchant: Merchant | None = None, *, role: str = Membership.Role.OWNER
) -> tuple[APIClient, User, Merchant]:
    """An API client authenticated by token as a member of ``merchant`` (created if None)."""
    membership = MembershipFactory(merchant=merchant or MerchantFactory(), role=role)
    _, secret = api_token_create(user=membership.user, client="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client, membership.user, membership.merchant
