"""VideoSDK's request bodies (unknown fields ignored)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from recorder.models import RuleKind

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f\x7f]+$")]


class TrackStart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    roomId: Text
    participantId: Text
    kind: RuleKind
    fileFormat: Literal["webm"] = "webm"
    webhookUrl: Annotated[str, Field(pattern=r"^https?://[!-~]+$", max_length=2048)] | None = None
    bucketDirPath: Annotated[str, Field(max_length=512)] | None = None


class TrackStop(BaseModel):
    model_config = ConfigDict(extra="ignore")

    roomId: Text
    participantId: Text
    kind: RuleKind
