"""The admin and the owner API in Russian and English (SPEC OWN-5): every name staff read in the admin
is translated, the pages render in Russian for ``Accept-Language: ru`` (or the language picked with
the admin's switch), and stay English without it.

A label counts as translated when its Russian text has a Cyrillic letter; a proper name that is
the same in both languages ("eMAG", "Kaspi", "ID") must be listed in ``SAME_IN_BOTH``. An English
word left in a Russian page fails: a msgid of the catalogue found as a text of the rendered page.
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polib
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import label_for_field
from django.db import models
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.text import capfirst

from tests.factories import MerchantFactory, UserFactory, owner_client

ROOT = Path(__file__).resolve().parents[2]
PO_PATH = ROOT / "locale" / "ru" / "LC_MESSAGES" / "django.po"

# The project's apps; third-party ones bring their own catalogues (django_otp has none upstream).
PROJECT_APPS = {
    "core",
    "payments",
    "vending",
    "kaspi",
    "marketplaces_emag",
    "repricer",
    "poster_sync",
    "overview",
    "alerts",
}
# Proper names and codes a Russian admin writes the same way (the Russian text, exactly).
SAME_IN_BOTH = {"ID", "eMAG", "Kaspi", "Poster", "Vendista", "Telegram", "MQTT", "Tmetr HTTP", "URL", "SHA-256"}
# eMAG Club is the programme's name.
SAME_IN_BOTH |= {"eMAG Club"}
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def russian(text: Any) -> str:
    with translation.override("ru"):
        return str(text)


def is_translated(text: Any) -> bool:
    ru = russian(text)
    return bool(CYRILLIC.search(ru)) or ru in SAME_IN_BOTH


def project_admins() -> list[tuple[type[models.Model], admin.ModelAdmin]]:
    registered = admin.site._registry.items()
    return sorted(
        ((model, model_admin) for model, model_admin in registered if model._meta.app_label in PROJECT_APPS),
        key=lambda pair: pair[0]._meta.label,
    )


def labels_of(model: type[models.Model], model_admin: admin.ModelAdmin) -> dict[str, Any]:
    """Every text staff read about one model in the admin, keyed by where it comes from."""
    opts = model._meta
    found: dict[str, Any] = {
        "app": apps.get_app_config(opts.app_label).verbose_name,
        "verbose_name": opts.verbose_name,
        "verbose_name_plural": opts.verbose_name_plural,
    }
    for field in opts.get_fields():
        if not getattr(field, "concrete", False) or (field.auto_created and not field.primary_key):
            continue
        found[f"field {field.name}"] = field.verbose_name
        if field.help_text:
            found[f"help_text {field.name}"] = field.help_text
        for value, label in field.flatchoices or []:
            found[f"choice {field.name}={value}"] = label
    for name in model_admin.actions or []:
        action = name if callable(name) else getattr(model_admin, name)
        found[f"action {getattr(action, '__name__', name)}"] = action.short_description
    columns = [c for c in model_admin.list_display if c != "__str__"]
    readonly = [r for r in model_admin.readonly_fields if isinstance(r, str)]
    for name in [*columns, *readonly]:
        found[f"column {name}"] = label_for_field(name, model, model_admin)
    for list_filter in model_admin.list_filter:
        if isinstance(list_filter, type) and issubclass(list_filter, admin.SimpleListFilter):
            found[f"filter {list_filter.__name__}"] = list_filter.title
    for title, _options in model_admin.fieldsets or []:
        if title:
            found[f"fieldset {title}"] = title
    for inline in model_admin.inlines:
        found[f"inline {inline.model._meta.label}"] = inline.model._meta.verbose_name_plural
    return found


@pytest.mark.parametrize(
    ("model", "model_admin"), project_admins(), ids=[model._meta.label for model, _ in project_admins()]
)
def test_every_admin_name_of_the_model_is_translated(model: type[models.Model], model_admin: admin.ModelAdmin) -> None:
    untranslated = {
        where: str(text) for where, text in labels_of(model, model_admin).items() if not is_translated(text)
    }
    assert untranslated == {}


def test_the_apps_have_proper_names_in_both_languages() -> None:
    with translation.override("en"):
        english = {label: str(apps.get_app_config(label).verbose_name) for label in PROJECT_APPS}
    assert english["poster_sync"] == "Poster" and english["marketplaces_emag"] == "eMAG"
    assert english["kaspi"] == "Kaspi"
    assert all(not name.isupper() and "_" not in name for name in english.values())
    with translation.override("en"):
        assert str(apps.get_model("marketplaces_emag", "EmagAccount")._meta.verbose_name_plural) == "eMAG accounts"
    assert russian(apps.get_model("marketplaces_emag", "EmagAccount")._meta.verbose_name_plural) == "аккаунты eMAG"


# --- the pages as staff see them ------------------------------------------------------------------


class _Texts(HTMLParser):
    """The visible texts of a page, and the texts of attributes people read (title, placeholder, alt)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("title", "placeholder", "alt", "aria-label") and value:
                self.texts.append(value)
            if tag == "input" and name == "value" and ("type", "submit") in attrs and value:
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def english_left(html: str, english: set[str]) -> list[str]:
    parser = _Texts()
    parser.feed(html)
    pieces = set()
    for text in parser.texts:
        pieces.add(text)
        pieces.update(part.strip() for part in re.split(r"\s[|›/·]\s|:\s", text) if part.strip())
    return sorted(p for p in pieces if p in english)


@pytest.fixture(scope="module")
def english_msgids() -> set[str]:
    """The catalogue's English texts, also capitalised: proper names (the same in Russian) and formats left out.
    An entry whose translation went missing stays in, so its English on a Russian page fails."""
    catalogue = polib.pofile(str(PO_PATH))
    texts = {e.msgid for e in catalogue if e.msgstr != e.msgid and e.msgid not in SAME_IN_BOTH and "%" not in e.msgid}
    return texts | {capfirst(t) for t in texts}


@pytest.fixture
def staff_ru(db: None) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    client.force_login(UserFactory(username="staff-ru", is_staff=True, is_superuser=True))
    return client


def admin_pages() -> list[str]:
    pages = ["admin:index", *(f"admin:app_list:{label}" for label in sorted(PROJECT_APPS))]
    for model, _ in project_admins():
        pages += [f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}" for view in ("changelist", "add")]
    return pages


@pytest.mark.django_db
@pytest.mark.parametrize("page", admin_pages())
def test_admin_pages_in_russian_have_no_english_label_left(
    page: str, staff_ru: Client, english_msgids: set[str]
) -> None:
    MerchantFactory(name="Кофейня")  # the dashboard on the index shows its table for a merchant
    _, _, app = page.partition(":app_list:")
    try:
        url = reverse("admin:app_list", args=[app]) if app else reverse(page)
    except NoReverseMatch:
        pytest.skip("the model has no such page")
    response = staff_ru.get(url)
    if response.status_code == 403:  # read-only models: no add form
        return
    assert response.status_code == 200
    html = response.content.decode()
    assert 'lang="ru"' in html
    assert english_left(html, english_msgids) == []


@pytest.mark.django_db
def test_admin_speaks_english_without_accept_language(client: Client) -> None:
    client.force_login(UserFactory(username="staff-en", is_staff=True, is_superuser=True))
    html = client.get(reverse("admin:index")).content.decode()
    assert 'lang="en"' in html and "eMAG accounts" in html and "Poster accounts" in html


@pytest.mark.django_db
def test_the_language_picked_in_the_admin_wins_over_the_browsers(client: Client) -> None:
    client.force_login(UserFactory(username="staff-pick", is_staff=True, is_superuser=True))
    index = reverse("admin:index")
    assert 'id="language-switch"' in client.get(index).content.decode()
    response = client.post(reverse("set_language"), {"language": "ru", "next": index})
    assert response.status_code == 302 and response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
    html = client.get(index, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Аккаунты eMAG" in html and "Вендинг" in html


# --- the code: no admin text written outside the translation functions ------------------------------


def _admin_modules() -> list[Path]:
    packages = {label.split("_emag")[0] for label in PROJECT_APPS}  # marketplaces/ holds emag/ and kaspi/
    return sorted({path for package in packages for path in (ROOT / package).rglob("admin*.py")})


WORD = re.compile(r"[A-Za-z]{3,}")


def _plain_text(node: ast.AST | None) -> bool:
    """A literal or an f-string with English words in it: text no catalogue can translate. An f-string of
    values only ("{store}: {exc}") passes: its parts are translated where they are made."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(WORD.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and WORD.search(str(v.value)) for v in node.values)
    return False


@pytest.mark.parametrize("path", _admin_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_admin_code_writes_no_text_outside_gettext(path: Path) -> None:
    offenders = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        texts: list[ast.AST | None] = []
        if name in ("display", "action"):
            texts = [k.value for k in node.keywords if k.arg == "description"]
        elif (name == "message_user" and len(node.args) > 1) or (
            name in ("info", "success", "warning", "error") and len(node.args) > 1
        ):
            texts = [node.args[1]]
        elif name == "format_html" and node.args:
            # A template with words in it must come from gettext; markup-only templates ("{}: {}") are fine.
            first = node.args[0]
            if isinstance(first, ast.Constant) and WORD.search(re.sub(r"<[^>]*>|\{[^}]*\}", "", first.value)):
                texts = [first]
        offenders += [f"{path.name}:{t.lineno}" for t in texts if _plain_text(t)]  # type: ignore[union-attr]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        is_title = isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "title" for t in node.targets)
        if is_title and _plain_text(node.value):  # type: ignore[attr-defined]
            offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


# --- the owner API ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_owner_api_validation_error_speaks_the_callers_language() -> None:
    client, _, _ = owner_client()
    url = reverse("overview-revenue")
    params = {"date_from": "2026-03-10", "date_to": "2026-03-01"}
    english = client.get(url, params).json()["error"]
    russian_body = client.get(url, params, HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9,en;q=0.5").json()["error"]
    assert english["code"] == russian_body["code"] == "validation_error"  # the code is for machines: never translated
    assert english["fields"]["date_from"] == ["date_from is after date_to."]
    assert russian_body["fields"]["date_from"] == ["date_from позже date_to."]
    assert english["message"] == "Invalid input." and russian_body["message"] == "Неверные данные."


@pytest.mark.django_db
def test_an_owner_api_not_found_speaks_the_callers_language() -> None:
    client, _, _ = owner_client()
    url = reverse("overview-revenue")
    other = MerchantFactory()
    assert client.get(url, {"merchant": other.pk}).json()["error"]["message"] == "No such merchant."
    body = client.get(url, {"merchant": other.pk}, HTTP_ACCEPT_LANGUAGE="ru").json()["error"]
    assert body == {"code": "not_found", "message": "Такого продавца нет.", "fields": {}}
