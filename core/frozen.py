"""Base class for configuration sections: immutable, unknown keys rejected."""

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    # extra="forbid": a misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
