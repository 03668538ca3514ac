"""`xunshi worker`: a crawl worker on this machine for crawls shared through Redis (issue 12)."""

from __future__ import annotations

import sys

import click


@click.command("worker")
@click.option(
    "--redis",
    "redis_url",
    envvar="XUNSHI_REDIS_URL",
    required=True,
    metavar="URL",
    help="The Redis that `xunshi crawl --redis URL` shares its crawls through. Also $XUNSHI_REDIS_URL.",
)
@click.option("--once", is_flag=True, help="End after one crawl (default: wait for the next).")
def worker(redis_url: str, once: bool) -> None:
    """Fetch pages for crawls shared through Redis, until stopped (Ctrl-C).

    A worker needs this project (the same version as the writer's) and Redis; it never
    opens the database: what it finds goes through Redis to the `xunshi crawl --redis`
    process, which alone writes it. Start one per machine; each joins every crawl that
    appears in Redis, one request at a time per host across all workers.

    \b
    Example:
        xunshi worker --redis redis://10.0.0.5:6379/0
        XUNSHI_REDIS_URL=redis://10.0.0.5:6379/0 xunshi worker --once
    """
    from crawler.frontier import RedisUnavailable, connect
    from crawler.worker import log_to_stderr, serve

    log_to_stderr()

    try:
        connect(redis_url).close()
    except RedisUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    try:
        code = serve(redis_url, once=once)
    except KeyboardInterrupt:
        code = 130
    except RedisUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)
