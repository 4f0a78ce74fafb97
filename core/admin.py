from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .admin_readonly import ReadOnlyAdmin
from .models import Membership, Merchant, SyncRun, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "is_staff", "is_active", "last_login"]


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_active", "time_zone", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "merchant", "role", "created_at"]
    list_filter = ["role", "merchant"]
    search_fields = ["user__username", "merchant__name"]
    autocomplete_fields = ["user", "merchant"]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    deletable = True
    list_display = [
        "id",
        "kind",
        "merchant",
        "account_type",
        "account_id",
        "mode",
        "status",
        "progress",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "kind", "merchant"]
    search_fields = ["kind", "=account_id", "error"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in SyncRun._meta.fields]

    @admin.display(description=_("progress"))
    def progress(self, run: SyncRun) -> str:
        total = "?" if run.items_total is None else str(run.items_total)
        percent = run.progress_percent
        bar = f" ({percent:.0f}%)" if percent is not None else ""
        return format_html(gettext("{} of {}{}"), run.items_done, total, bar)


admin.site.site_header = "merchant-ops"
admin.site.site_title = "merchant-ops"
