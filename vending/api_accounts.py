"""Owner API for connecting a merchant's Vendista accounts (issue 9): ``/api/v1/vending/accounts/``.

GET lists and reads them with the password and token masked (``has_password``, ``has_token``);
POST creates, PUT/PATCH update (``is_active: false`` stops syncing one); owners and managers write,
viewers read. Rules live in vending.account_services.
"""

from __future__ import annotations

from core.api.accounts import AccountViewSet, SecretFlagsSerializer
from core.api.tenancy import MerchantField

from .account_services import save_vendista_account
from .models import VendistaAccount


class VendistaAccountSerializer(SecretFlagsSerializer):
    merchant = MerchantField()
    secret_fields = ("password", "token")

    class Meta:
        model = VendistaAccount
        fields = ["id", "merchant", "name", "login", "time_zone", "verify_tls", "ca_bundle_path", "rate_per_second",
                  "is_active", "subscription_status", "last_error", "last_sync_at", "created_at"]  # fmt: skip
        read_only_fields = ["subscription_status", "last_error", "last_sync_at", "created_at"]


class VendistaAccountViewSet(AccountViewSet):
    queryset = VendistaAccount.objects.select_related("merchant").order_by("merchant_id", "name", "id")
    serializer_class = VendistaAccountSerializer
    save = staticmethod(save_vendista_account)
