"""Buyer pages: no login, Russian, mobile-first (SPEC PAY-3)."""

from __future__ import annotations

import math
import re
import uuid

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from core.clientip import client_ip

from .models import Device, OrderStatus, Size
from .selectors import device_for_buyer, device_for_legacy_qr, drinks_for_device, order_for_buyer
from .services.buyer_limits import order_budget_take
from .services.orders import OrderError, order_create, order_create_from_machine

STATUS_TEXT = {
    OrderStatus.CREATED: ("Создаём платёж…", "wait"),
    OrderStatus.PENDING: ("Ждём оплату", "wait"),
    OrderStatus.PAID: ("Оплачено. Отправляем команду автомату…", "wait"),
    OrderStatus.MAKE_PENDING: ("Готовим ваш напиток…", "wait"),
    OrderStatus.SUCCESSFUL: ("Напиток готов! Заберите его из автомата.", "ok"),
    OrderStatus.FAILED: ("Не удалось приготовить напиток. Деньги вернутся на вашу карту.", "fail"),
    OrderStatus.NOT_PAID: ("Заказ не оплачен. Если деньги списались, они вернутся автоматически.", "fail"),
}

ERRORS = {
    "device": ("Автомат не найден", "Этот QR-код не привязан к работающему автомату. Попробуйте другой автомат."),
    "order": ("Заказ не найден", "Проверьте ссылку или отсканируйте QR-код ещё раз."),
    "expired": ("Время заказа истекло", "Заказ не был оплачен вовремя. Отсканируйте QR-код ещё раз."),
    "payment": ("Оплата недоступна", "Не удалось создать платёж. Попробуйте ещё раз через минуту."),
    "drink": ("Напиток недоступен", "Выберите другой напиток или размер."),
    "busy": (
        "Слишком много заказов",
        "С вашего подключения только что сделано много заказов. Подождите несколько минут и попробуйте снова.",
    ),
}


PHONE_RE = re.compile(r"\+?7\d{10}")


def error_page(request: HttpRequest, kind: str, status: int = 404) -> HttpResponse:
    title, text = ERRORS[kind]
    return render(request, "payments/error.html", {"title": title, "text": text}, status=status)


def _over_order_limit(request: HttpRequest, device: Device) -> HttpResponse | None:
    """A friendly page (429) when this address or machine has had too many orders (PAY-1)."""
    wait = order_budget_take(device_id=device.pk, address=client_ip(request))
    if not wait:
        return None
    response = error_page(request, "busy", status=429)
    response["Retry-After"] = str(math.ceil(wait))
    return response


class OrderForm(forms.Form):
    drink = forms.IntegerField(min_value=1)
    size = forms.ChoiceField(choices=Size.choices)
    email = forms.EmailField(required=False, error_messages={"invalid": "Введите правильный e-mail."})
    phone = forms.CharField(required=False, max_length=20)  # normalised and checked in clean_phone

    def clean_phone(self) -> str:
        raw = self.cleaned_data.get("phone") or ""
        digits = "".join(ch for ch in raw if ch.isdigit() or ch == "+")
        if digits.startswith("8") and len(digits) == 11:
            digits = "+7" + digits[1:]
        if digits and not PHONE_RE.fullmatch(digits):
            raise forms.ValidationError("Телефон в формате +7XXXXXXXXXX.")
        return digits


class LegacyPayForm(forms.Form):
    """The query of the machines' dynamic QR (SPEC PAY-3); forms also refuse NUL characters."""

    deviceUuid = forms.CharField(max_length=100)  # the machines' parameter names, as they send them
    drinkNo = forms.CharField(max_length=64)
    size = forms.TypedChoiceField(choices=[("0", "small"), ("1", "medium"), ("2", "big")], coerce=int)
    uuid = forms.CharField(max_length=100)
    drinkName = forms.CharField(required=False)  # kept to 200 characters


@require_http_methods(["GET", "POST"])
def menu(request: HttpRequest, code: str) -> HttpResponse:
    device = device_for_buyer(code=code)
    if device is None:
        return error_page(request, "device")
    drinks = list(drinks_for_device(device=device))
    issues_receipts = bool(getattr(getattr(device.merchant, "payment_account", None), "issues_receipts", False))
    data = request.POST.copy() if request.method == "POST" else None
    if data is not None and not data.get("drink") and ":" in data.get("choice", ""):
        data["drink"], data["size"] = str(data["choice"]).split(":", 1)  # works without JavaScript too
    form = OrderForm(data)
    if request.method == "POST":
        if form.is_valid():
            drink = next((d for d in drinks if d.pk == form.cleaned_data["drink"]), None)
            if drink is None or not drink.price(form.cleaned_data["size"]):
                return error_page(request, "drink", status=400)
            if (limited := _over_order_limit(request, device)) is not None:
                return limited
            try:
                created = order_create(
                    device=device,
                    drink=drink,
                    size=form.cleaned_data["size"],
                    email=form.cleaned_data.get("email") or "",
                    phone=form.cleaned_data.get("phone") or "",
                )
            except OrderError:
                return error_page(request, "payment", status=502)
            return HttpResponseRedirect(
                created.confirmation_url or reverse("payments:order-status", args=[created.order.pk])
            )
        status = 400
    else:
        status = 200
    return render(
        request,
        "payments/menu.html",
        {"device": device, "drinks": drinks, "form": form, "issues_receipts": issues_receipts},
        status=status,
    )


@require_GET
def order_status(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    order = order_for_buyer(order_id=order_id)
    if order is None:
        return error_page(request, "order")
    text, tone = STATUS_TEXT[OrderStatus(order.status)]
    if order.status == OrderStatus.NOT_PAID and order.expires_at < timezone.now():
        text = "Время заказа истекло. Если деньги списались, они вернутся автоматически."
    return render(
        request,
        "payments/order.html",
        {
            "order": order,
            "text": text,
            "tone": tone,
            "poll_ms": settings.ORDER_STATUS_POLL_MS,
            "status_url": reverse("payments:order-status-json", args=[order.pk]),
            "final": order.status in (OrderStatus.SUCCESSFUL, OrderStatus.FAILED, OrderStatus.NOT_PAID),
        },
    )


@require_GET
def order_status_json(request: HttpRequest, order_id: uuid.UUID) -> JsonResponse:
    order = order_for_buyer(order_id=order_id)
    if order is None:
        return JsonResponse({"error": {"code": "not_found", "message": "order not found", "fields": {}}}, status=404)
    text, tone = STATUS_TEXT[OrderStatus(order.status)]
    return JsonResponse(
        {
            "status": order.status,
            "text": text,
            "tone": tone,
            "final": order.status in (OrderStatus.SUCCESSFUL, OrderStatus.FAILED, OrderStatus.NOT_PAID),
        }
    )


@require_GET
def legacy_pay(request: HttpRequest) -> HttpResponse:
    """/v1/pay?deviceUuid=&drinkNo=&size=&uuid= — the dynamic QR of machines in the field."""
    form = LegacyPayForm(request.GET)
    if not form.is_valid():
        return error_page(request, "drink", status=400)
    query = form.cleaned_data
    device = device_for_legacy_qr(device_uuid=query["deviceUuid"])
    if device is None:
        return error_page(request, "device")
    if (limited := _over_order_limit(request, device)) is not None:
        return limited
    try:
        created = order_create_from_machine(
            device=device,
            drink_no=query["drinkNo"],
            size_index=query["size"],
            machine_order_id=query["uuid"],
            drink_name=query["drinkName"][:200],
        )
    except OrderError:
        return error_page(request, "payment", status=502)
    if created.confirmation_url:
        return HttpResponseRedirect(created.confirmation_url)
    if created.order.status == OrderStatus.NOT_PAID:
        return error_page(request, "expired", status=410)
    return HttpResponseRedirect(reverse("payments:order-status", args=[created.order.pk]))
