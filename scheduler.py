"""Scheduled crawls (APScheduler 3.x). Not built yet: see issue "Scheduled crawls and deliveries"."""

from __future__ import annotations

import sys


def main() -> int:
    sys.stderr.write(
        "scheduler.py: scheduled crawls are not built yet; run `xunshi crawl` from cron meanwhile.\n"
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
