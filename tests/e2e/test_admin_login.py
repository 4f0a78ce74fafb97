from __future__ import annotations

from typing import Any

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.e2e


def test_staff_logs_into_admin_in_chromium(live_server: Any, page: Any, transactional_db: None) -> None:
    UserFactory(username="staff", password="s3cret-pass-for-e2e", is_staff=True, is_superuser=True)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "s3cret-pass-for-e2e")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    # The browser asks for Russian (ru-RU, as the e2e pages do): the admin answers in it (OWN-5).
    assert "Администрирование сайта" in page.content() and 'lang="ru"' in page.content()
    assert page.locator("a[href='/admin/core/syncrun/']").count() >= 1
    assert "merchant-ops" in page.title()
