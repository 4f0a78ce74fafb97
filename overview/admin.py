from __future__ import annotations

from django.contrib import admin

from core.admin_readonly import ReadOnlyAdmin

from .models import RevenueDay

# The admin home page carries the owner overview (OWN-2) above the app list.
admin.site.index_template = "admin/overview/index.html"


@admin.register(RevenueDay)
class RevenueDayAdmin(ReadOnlyAdmin):
    list_display = ["day", "merchant", "channel", "currency", "kind", "count", "amount"]
    list_filter = ["channel", "kind", "currency", "merchant"]
    date_hierarchy = "day"
