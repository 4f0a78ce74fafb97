"""Carry each run's ``account_ref`` (a primary key kept as text) over to its account relation.

Which model the number names follows from the run's kind, as each app creates its runs. A reference
that is not a number, of a kind no app owns, or whose account no longer exists is left without an
account (it named nothing); the text stays until the next migration drops it.
"""

from django.db import migrations
from django.db.models import CharField
from django.db.models.functions import Cast

# kind prefix → (app label, model name) of the account the runs of that kind sync.
ACCOUNTS = {
    "vending.": ("vending", "vendistaaccount"),
    "poster.": ("poster_sync", "posteraccount"),
    "kaspi.": ("marketplaces", "kaspistore"),
    "emag.": ("marketplaces_emag", "emagaccount"),
}
# Fits a PositiveBigIntegerField, and never an error when cast.
_NUMBER = r"^[0-9]{1,18}$"


def refs_to_accounts(apps, schema_editor):
    SyncRun = apps.get_model("core", "SyncRun")
    ContentType = apps.get_model("contenttypes", "ContentType")
    for prefix, (app_label, model_name) in ACCOUNTS.items():
        runs = SyncRun.objects.filter(kind__startswith=prefix, account_ref__regex=_NUMBER, account_id=None)
        refs = set(runs.values_list("account_ref", flat=True).distinct())
        if not refs:
            continue
        model = apps.get_model(app_label, model_name)
        existing = set(model._default_manager.filter(pk__in=[int(ref) for ref in refs]).values_list("pk", flat=True))
        account_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model_name)
        for pk in existing:
            runs.filter(account_ref__in=[ref for ref in refs if int(ref) == pk]).update(
                account_type=account_type, account_id=pk
            )


def accounts_to_refs(apps, schema_editor):
    SyncRun = apps.get_model("core", "SyncRun")
    SyncRun.objects.exclude(account_id=None).update(account_ref=Cast("account_id", CharField()))


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_syncrun_account"),
        ("contenttypes", "0002_remove_content_type_name"),
        # The account models the references name, as they stood when references were dropped.
        ("vending", "0003_verbose_names"),
        ("poster_sync", "0003_verbose_names"),
        ("marketplaces", "0002_verbose_names"),
        ("marketplaces_emag", "0002_verbose_names"),
    ]

    operations = [migrations.RunPython(refs_to_accounts, accounts_to_refs)]
