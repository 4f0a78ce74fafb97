"""REL-3 for the buyer pages: any form or query a phone (or a bot) sends gets a page or a friendly
4xx error page — never a 500 — and at most one order per real choice."""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.models import Order

pytestmark = [pytest.mark.django_db(transaction=True)]

text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", "0", "1", "2", "-1", "3", "small", "big", "1e9", "9" * 30, "null", "<script>", "ä", "\x00", "2\x00"]
    ),
)


def test_fuzzed_menu_posts_and_legacy_qr_queries_never_error(client: Client, shop, sims) -> None:
    codes = st.sampled_from([shop.device.code, shop.tbank_device.code, "no-such-device"])
    real = st.sampled_from(
        [
            str(shop.drink.pk),
            shop.device.external_id,
            shop.tbank_device.external_id,
            "medium",
            "a@example.com",
            "+79001234567",
            shop.device.external_id + "\x00",
        ]
    )
    field = st.one_of(text, real)

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(
        codes,
        st.fixed_dictionaries(
            {
                "drink": st.one_of(st.just(str(shop.drink.pk)), field),
                "size": st.one_of(st.sampled_from(["small", "medium", "big"]), field),
            },
            optional={"email": field, "phone": field, "receipt": field, "x": field},
        ),
    )
    def menu(code: str, form: dict[str, str]) -> None:
        response = client.post(f"/q/{code}/", form)
        assert response.status_code in (200, 302, 400, 404, 410, 502, 503), response.status_code
        if response.status_code == 302:  # to the provider's confirmation page, nowhere else
            assert response["Location"].startswith((sims.urls["YOOKASSA_API_URL"], sims.urls["TBANK_API_URL"]))

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(
        st.fixed_dictionaries(
            {
                "deviceUuid": st.one_of(st.just(shop.device.external_id), field),
                "drinkNo": st.one_of(st.just("2"), field),
                "size": st.one_of(st.sampled_from(["0", "1", "2"]), field),
            },
            optional={"uuid": field, "drinkName": field, "ts": field, "salt": field},
        )
    )
    def legacy(query: dict[str, str]) -> None:
        response = client.get("/v1/pay", query)
        assert response.status_code in (200, 302, 400, 404, 410, 502, 503), response.status_code

    menu()
    legacy()
    for path in (
        "/orders/not-a-uuid/",
        "/orders/00000000-0000-0000-0000-000000000000/",
        "/orders/00000000-0000-0000-0000-000000000000/status.json",
    ):
        assert client.get(path).status_code == 404
    # Valid choices were among them; every order created has its payment at the provider.
    created = list(Order.objects.select_related("payment"))
    assert created and all(o.payment.provider_payment_id for o in created)
