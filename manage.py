#!/usr/bin/env python
from __future__ import annotations

import os
import sys

# Commands that only write or compare source files: they never serve and never run in production,
# so they get the development defaults (DEBUG on, the development SECRET_KEY) when nothing is set.
# Everything else keeps the production defaults and refuses to start without SECRET_KEY (PLAT-13).
DEVELOPMENT_ONLY = {"makemigrations"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    if sys.argv[1:2] and sys.argv[1] in DEVELOPMENT_ONLY:
        os.environ.setdefault("DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
