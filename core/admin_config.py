"""django.contrib.admin, installed with the site that asks staff for a second factor (core.auth)."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "core.auth.AdminSiteWithOTP"
