"""Configuration of the long-running scheduler (`kreview schedule`)."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from jobs.frozen import Frozen


def _check_cron(expr: str) -> str:
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError("a cron expression has 5 fields: minute hour day month day_of_week")
    return expr


class ScheduleConfig(Frozen):
    timezone: str = "Asia/Seoul"
    # Nightly pipeline run: 03:00 in `timezone`.
    nightly_cron: str = "0 3 * * *"
    # Weekly model refresh: Sunday 05:00.
    refresh_cron: str = "0 5 * * sun"
    refresh_enabled: bool = True
    misfire_grace_s: int = Field(default=3600, ge=0)
    # Run once at start when the last successful run is older than this many hours.
    catch_up_after_h: float = Field(default=24.0, gt=0)

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
        return _check_cron(value)
