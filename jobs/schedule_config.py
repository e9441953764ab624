"""Configuration of the long-running scheduler (`kreview schedule`), and its cron parsing.

Cron expressions have 5 fields (``minute hour day month day_of_week``, as crontab) or 6 with
seconds first (``second minute hour day month day_of_week``; tests fire every few seconds).
Weekdays follow crontab, 0 or 7 = Sunday: APScheduler 3.x counts 0 = Monday, so numeric
weekdays are translated to names here rather than passed through (``0 5 * * 0`` would
otherwise fire on Mondays).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, field_validator, model_validator

from core.frozen import Frozen
from models.config import KINDS

CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
CRON_FIELDS_WITH_SECONDS = ("second", *CRON_FIELDS)
# crontab numbering: index 0 = Sunday (7 is Sunday too).
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# Flags that would bypass or disable the promotion gate: a scheduled refresh must never
# make a model current that did not beat the current one on the held-out set.
FORBIDDEN_TRAIN_FLAGS = ("--force", "--no-promote")

# One `kreview train` candidate: sentiment on NSMC plus the warehouse's rated reviews as weak
# labels, judged on the fixed NSMC test set. Paths are relative to the scheduler's working
# directory (the repository root, where ../shared/data sits).
DEFAULT_REFRESH_CANDIDATE = (
    "sentiment",
    "--data",
    "../shared/data/nsmc/ratings_train.txt.gz",
    "--data",
    "warehouse",
    "--eval-data",
    "../shared/data/nsmc/ratings_test.txt.gz",
)


def _weekday(token: str) -> int:
    """crontab weekday index (0 = Sunday) of a number 0-7 or a three-letter name."""
    name = token.lower()
    if name in WEEKDAYS:
        return WEEKDAYS.index(name)
    if name.isdigit() and 0 <= int(name) <= 7:
        return int(name) % 7
    raise ValueError(f"bad weekday {token!r} (0-7 or sun..sat)")


def _weekday_item(item: str) -> set[int]:
    """Days of one comma-separated item: ``*``, ``a``, ``a-b``, each with an optional ``/n``."""
    base, _, step_text = item.partition("/")
    if step_text and not (step_text.isdigit() and int(step_text) > 0):
        raise ValueError(f"bad step in weekday item {item!r}")
    step = int(step_text or 1)
    if base == "*":
        first, last = 0, 6
    elif "-" in base:
        a, b = base.split("-", 1)
        first, last = _weekday(a), _weekday(b)
        if b.strip() == "7":  # "5-7" is Friday to Sunday, not a backwards range
            last = 7
        if first > last:
            raise ValueError(f"weekday range {item!r} runs backwards")
    else:
        first = _weekday(base)
        last = 6 if step_text else first  # cron: "a/n" means from a to the end of the week
    return {d % 7 for d in range(first, last + 1, step)}


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler 3.x reads it (names, so no numbering clash)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        days |= _weekday_item(item.strip())
    if len(days) == len(WEEKDAYS):
        return "*"
    return ",".join(WEEKDAYS[d] for d in sorted(days))


def cron_fields(expr: str) -> dict[str, str]:
    """Keyword arguments of :class:`CronTrigger` for a 5- or 6-field cron expression."""
    parts = expr.split()
    if len(parts) == len(CRON_FIELDS):
        names = CRON_FIELDS
    elif len(parts) == len(CRON_FIELDS_WITH_SECONDS):
        names = CRON_FIELDS_WITH_SECONDS
    else:
        raise ValueError(
            "a cron expression has 5 fields (minute hour day month day_of_week) "
            "or 6 with seconds first"
        )
    fields = dict(zip(names, parts, strict=True))
    if fields["day"] not in ("*", "?") and fields["day_of_week"] not in ("*", "?"):
        # cron fires when either matches, APScheduler only when both do: refuse the ambiguity.
        raise ValueError("restrict the day of month or the day of week, not both")
    fields["day_of_week"] = crontab_weekdays(fields["day_of_week"])
    return fields


def cron_trigger(expr: str, timezone: str) -> CronTrigger:
    """The APScheduler trigger of ``expr`` in ``timezone`` (ValueError names a bad field)."""
    return CronTrigger(**cron_fields(expr), timezone=ZoneInfo(timezone))


class ScheduleConfig(Frozen):
    timezone: str = "Asia/Seoul"
    # Nightly pipeline run: 03:00 in `timezone`.
    nightly_cron: str = "0 3 * * *"
    # Weekly model refresh: Sunday 05:00.
    refresh_cron: str = "0 5 * * sun"
    refresh_enabled: bool = True
    # A run that starts more than this many seconds after its fire time (the scheduler was
    # busy or paused) is skipped as missed; several missed fire times always collapse into one
    # run (coalescing). At least 1: APScheduler refuses 0.
    misfire_grace_s: int = Field(default=3600, ge=1)
    # Run once at start when the last successful run is older than this many hours.
    catch_up_after_h: float = Field(default=24.0, gt=0)
    # Command line of a nightly run. Empty: `kreview -q run` with the scheduler's own Python,
    # config file and warehouse. Set it to wrap the run, e.g. ["nice", "-n", "10", "kreview",
    # "-q", "run"]; the child always gets KREVIEW_WAREHOUSE__ROOT (and KREVIEW_CONFIG).
    nightly_command: tuple[str, ...] = ()
    # Arguments of one `kreview train` call per candidate; the promotion gate of `kreview
    # train` decides whether each becomes current, then `kreview score` rescores if any did.
    refresh_candidates: tuple[tuple[str, ...], ...] = (DEFAULT_REFRESH_CANDIDATE,)
    # On SIGTERM/SIGINT the running child gets SIGINT (its stage rolls back and the run is
    # marked interrupted); after this many seconds it is killed (SIGKILL is crash-safe too).
    stop_grace_s: float = Field(default=300.0, ge=0)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone") from None
        return value

    @field_validator("nightly_cron", "refresh_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        # Build the trigger once: it rejects out-of-range values ("0 25 * * *") as well.
        cron_trigger(value, "UTC")
        return value

    @field_validator("refresh_candidates")
    @classmethod
    def _candidates(cls, value: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        for args in value:
            if not args or args[0] not in KINDS:
                raise ValueError(
                    f"each candidate starts with the kind to train ({', '.join(KINDS)})"
                )
            if "--data" not in args:
                raise ValueError(f"candidate {args[0]} has no --data")
            bad = [flag for flag in FORBIDDEN_TRAIN_FLAGS if flag in args]
            if bad:
                raise ValueError(f"{bad[0]} would bypass the promotion gate")
        return value

    @model_validator(mode="after")
    def _refresh_has_work(self) -> ScheduleConfig:
        if self.refresh_enabled and not self.refresh_candidates:
            raise ValueError("refresh_enabled needs at least one refresh_candidates entry")
        return self
