"""Poster's wire pieces the simulator is made of (API_CONTRACTS.md "Poster POS"): the catalogue of a
new account (every value a string, as Poster sends it), which webhook object changes which part of
it, the webhook signature, and the form data of the token exchange."""

from __future__ import annotations

import hashlib
from email.parser import BytesParser
from email.policy import HTTP

from .harness import Request

# webhook object → (entity in state, id field)
OBJECTS = {
    "ingredient": ("ingredients", "ingredient_id"),
    "ingredients_category": ("ingredient_categories", "category_id"),
    "category": ("categories", "category_id"),
    "storage": ("storages", "storage_id"),
    "supplier": ("suppliers", "supplier_id"),  # changed in the sandbox, but Poster sends no webhook for it
}
LISTS = {
    "storage.getSuppliers": "suppliers",
    "storage.getStorages": "storages",
    "menu.getIngredients": "ingredients",
    "menu.getCategoriesIngredients": "ingredient_categories",
    "menu.getCategories": "categories",
}


def sign(
    *, account: str, object: str, object_id: str, action: str, time: str, secret: str, data: str | None = None
) -> str:
    parts = [account, object, object_id, action, *([data] if data is not None else []), time, secret]
    return hashlib.md5(";".join(parts).encode()).hexdigest()


def new_catalogue(ingredients: int) -> dict[str, dict[str, dict[str, str]]]:
    units = ["kg", "l", "p"]
    names = ["Молоко", "Кофе зерно", "Сахар", "Сироп ваниль", "Стакан 300 мл", "Крышка", "Сливки", "Какао"]
    return {
        "suppliers": {
            str(i): {
                "supplier_id": str(i),
                "supplier_name": f"Поставщик {i}",
                "supplier_phone": f"+7 700 000 00 0{i}",
                "supplier_adress": f"Алматы, ул. {i}",
                "supplier_comment": "",
                "supplier_tin": f"12345678901{i}",
                "delete": "0",
            }
            for i in range(1, 4)
        },
        "storages": {
            str(i): {
                "storage_id": str(i),
                "storage_name": f"Склад {i}",
                "storage_adress": f"Алматы, пр. {i}",
                "delete": "0",
            }
            for i in range(1, 3)
        },
        "ingredient_categories": {
            str(i): {"category_id": str(i), "name": n} for i, n in enumerate(["Молочное", "Кофе", "Упаковка"], start=1)
        },
        "categories": {
            "1": {
                "category_id": "1",
                "category_name": "Кофе",
                "parent_category": "0",
                "category_hidden": "0",
                "level": "1",
                "sort_order": "1",
                "category_color": "red",
            },
            "2": {
                "category_id": "2",
                "category_name": "Чай",
                "parent_category": "0",
                "category_hidden": "0",
                "level": "1",
                "sort_order": "2",
                "category_color": "green",
            },
            "3": {
                "category_id": "3",
                "category_name": "Кофе на молоке",
                "parent_category": "1",
                "category_hidden": "0",
                "level": "2",
                "sort_order": "1",
                "category_color": "white",
            },
        },
        "ingredients": {
            str(i): {
                "ingredient_id": str(i),
                "ingredient_name": f"{names[(i - 1) % len(names)]} {i}",
                "category_id": str(1 + (i - 1) % 3),
                "ingredient_unit": units[i % 3],
                "ingredient_left": f"{(i * 7.25) % 50:.3f}",
                "ingredients_type": "1",
                "ingredient_barcode": "",
                "ingredient_weight": "0",
                "delete": "0",
                "hidden": "0",
            }
            for i in range(1, ingredients + 1)
        },
    }


def form_data(request: Request) -> dict[str, str] | None:
    """Fields of a multipart/form-data or urlencoded body (what Poster's token endpoint takes)."""
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + request.body)
        fields: dict[str, str] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                fields[str(name)] = part.get_content().strip() if isinstance(part.get_content(), str) else ""
        return fields
    if content_type.startswith("application/x-www-form-urlencoded"):
        return request.form()
    return None
