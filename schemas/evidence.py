"""Evidence requests: a legal hold placed or released, a deletion."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HoldRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)


class DeletionRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(default="deleted by an administrator", min_length=1, max_length=1000)
