"""The store's XML price list in Kaspi's ``kaspi_catalog`` format (SPEC REP-3, API_CONTRACTS "Kaspi.kz").

Kaspi polls it every 30–60 minutes; it needs no cabinet session, so it is the fallback when uploads
cannot be made. It lists every active offer of the store (an offer missing from the list is taken
off sale), at the repricer's price where a rule has one, else at the price from the cabinet.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from django.utils import timezone

from marketplaces.kaspi.models import KaspiProduct, KaspiStore

NS = "kaspiShopping"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _availabilities(product: KaspiProduct, uid: str) -> list[dict[str, str]]:
    found = []
    for item in product.availabilities or []:
        if isinstance(item, dict) and item.get("storeId"):
            available = str(item.get("available", "yes")).lower()
            found.append(
                {"available": "yes" if available in ("yes", "true", "1") else "no", "storeId": str(item["storeId"])}
            )
    return found or [{"available": "yes" if product.is_available else "no", "storeId": f"{uid}_PP1"}]


def _city_prices(product: KaspiProduct, rule: Any) -> dict[str, int]:
    prices: dict[str, int] = {}
    for item in product.city_prices or []:
        if isinstance(item, dict) and item.get("cityId") and item.get("value") is not None:
            try:
                prices[str(item["cityId"])] = round(float(item["value"]))
            except (TypeError, ValueError):
                continue
    if rule is not None and rule.feed_price:
        prices[str(rule.city_id)] = int(rule.feed_price)
    return prices


def feed_render(*, store: KaspiStore) -> bytes:
    """The whole price list as UTF-8 XML bytes."""
    ET.register_namespace("", NS)
    ET.register_namespace("xsi", XSI)
    root = ET.Element(
        f"{{{NS}}}kaspi_catalog",
        {
            "date": timezone.localtime().strftime("%Y-%m-%d %H:%M"),
            f"{{{XSI}}}schemaLocation": f"{NS} http://kaspi.kz/kaspishopping.xsd",
        },
    )
    ET.SubElement(root, f"{{{NS}}}company").text = store.name
    ET.SubElement(root, f"{{{NS}}}merchantid").text = store.merchant_uid
    offers = ET.SubElement(root, f"{{{NS}}}offers")
    products = KaspiProduct.objects.filter(store=store, is_active=True).select_related("repricing_rule").order_by("sku")
    for product in products.iterator(chunk_size=2000):
        rule = getattr(product, "repricing_rule", None)
        offer = ET.SubElement(offers, f"{{{NS}}}offer", {"sku": product.sku})
        ET.SubElement(offer, f"{{{NS}}}model").text = product.name or product.sku
        if product.brand:
            ET.SubElement(offer, f"{{{NS}}}brand").text = product.brand
        avail = ET.SubElement(offer, f"{{{NS}}}availabilities")
        for item in _availabilities(product, store.merchant_uid):
            ET.SubElement(avail, f"{{{NS}}}availability", item)
        city_prices = _city_prices(product, rule)
        if city_prices:
            holder = ET.SubElement(offer, f"{{{NS}}}cityprices")
            for city, value in sorted(city_prices.items()):
                ET.SubElement(holder, f"{{{NS}}}cityprice", {"cityId": city}).text = str(value)
        else:
            price = (rule.feed_price if rule is not None and rule.feed_price else None) or product.price or 0
            ET.SubElement(offer, f"{{{NS}}}price").text = str(price)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
