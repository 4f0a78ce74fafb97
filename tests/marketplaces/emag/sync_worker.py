"""One worker process of the shared-limits test and of PERF-5: syncs one eMAG account until a deadline.

    python -m tests.marketplaces.emag.sync_worker --account ID --seconds N

Runs order sweeps (order routes, 12/s) and offer reads (other routes, 3/s) side by side through the real
services, so the account's two Redis-shared limiters are all that keeps the processes within eMAG's
limits. Prints one JSON line: when it started and stopped (wall clock) and what it did.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--account", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from marketplaces.emag.models import EmagAccount
    from marketplaces.emag.services import offers, orders

    account_id = args.account
    started = time.time()
    deadline = time.monotonic() + args.seconds
    done = {"sweeps": 0, "offer_syncs": 0, "failures": 0}
    lock = threading.Lock()

    def loop(kind: str) -> None:
        from django.db import connection

        try:
            while time.monotonic() < deadline:
                account = EmagAccount.objects.get(pk=account_id)
                try:
                    if kind == "sweeps":
                        orders.orders_sync(account=account)
                    else:
                        offers.offers_sync(account=account)
                    outcome = kind
                except Exception:  # counted, not hidden: the test asserts there were none
                    outcome = "failures"
                with lock:
                    done[outcome] += 1
        finally:
            connection.close()

    # Order sweeps and offer reads at once, as a worker pool would run them: both limiters contested.
    threads = [threading.Thread(target=loop, args=(kind,)) for kind in ("sweeps", "offer_syncs")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"pid": os.getpid(), "started": started, "stopped": time.time(), **done}), flush=True)


if __name__ == "__main__":
    main()
