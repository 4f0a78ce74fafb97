from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.auth import AlreadyEnrolled, staff_otp_enrol
from core.models import User


class Command(BaseCommand):
    help = (
        "Enrol a staff user's second factor for the admin (TOTP) and print single-use recovery codes. "
        "--reset replaces whatever the user had (a lost phone, used-up recovery codes)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reset", action="store_true", help="remove the user's devices and codes first")
        parser.add_argument("--recovery-codes", type=int, default=10, help="how many recovery codes (default 10)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user {options['username']!r}")
        try:
            enrolment = staff_otp_enrol(user=user, reset=options["reset"], recovery_codes=options["recovery_codes"])
        except AlreadyEnrolled as exc:
            raise CommandError(str(exc)) from exc
        if not user.is_staff:
            self.stderr.write(f"note: {user.get_username()} is not staff; the admin will not let them in anyway")
        self.stdout.write("Add this to an authenticator app (scan it as a QR code, or type the secret):")
        self.stdout.write(f"  {enrolment.config_url}")
        self.stdout.write(f"  secret: {enrolment.secret_base32}")
        self.stdout.write("Recovery codes (each works once in place of the app's code; keep them offline):")
        for code in enrolment.recovery_codes:
            self.stdout.write(f"  {code}")
