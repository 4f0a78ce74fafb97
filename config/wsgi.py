from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from core.runtime import freeze_startup_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
application = get_wsgi_application()
# Each gunicorn worker imports this after its fork: the loaded application stays out of the GC's walks.
freeze_startup_heap()
