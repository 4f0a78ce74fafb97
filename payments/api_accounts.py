"""Owner API for connecting a merchant's payment provider and Tmetr accounts (issue 9):

    /api/v1/payments/accounts/        YooKassa / T-Bank credentials (one per merchant)
    /api/v1/payments/tmetr-accounts/  Tmetr login (one per merchant)

GET lists and reads them with secrets masked (``has_<secret>`` flags); POST creates, PUT/PATCH
update; owners and managers write, viewers read. Rules live in payments.services.accounts.
"""

from __future__ import annotations

from core.api.accounts import AccountViewSet, SecretFlagsSerializer
from core.api.tenancy import MerchantField

from .models import PaymentAccount, TmetrAccount
from .services.accounts import save_payment_account, save_tmetr_account


class PaymentAccountSerializer(SecretFlagsSerializer):
    merchant = MerchantField()
    secret_fields = ("yookassa_secret_key", "tbank_password")

    class Meta:
        model = PaymentAccount
        fields = ["id", "merchant", "yookassa_shop_id", "tbank_terminal_key", "issues_receipts", "two_stage"]


class TmetrAccountSerializer(SecretFlagsSerializer):
    merchant = MerchantField()
    secret_fields = ("password", "access_token")

    class Meta:
        model = TmetrAccount
        fields = ["id", "merchant", "username", "access_expires_at", "updated_at"]
        read_only_fields = ["access_expires_at", "updated_at"]


class PaymentAccountViewSet(AccountViewSet):
    queryset = PaymentAccount.objects.select_related("merchant").order_by("id")
    serializer_class = PaymentAccountSerializer
    save = staticmethod(save_payment_account)


class TmetrAccountViewSet(AccountViewSet):
    queryset = TmetrAccount.objects.select_related("merchant").order_by("id")
    serializer_class = TmetrAccountSerializer
    save = staticmethod(save_tmetr_account)
