"""Wire models of the composition API (`/composition/api/...`), as Auvious's own clients call it."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator

from schemas.recording import _COMMAND, Error, Id, JsonInt, WireModel

MAX_WIDTH, MAX_HEIGHT = 3840, 2160
_RESOLUTION = re.compile(r"^(\d{1,5})x(\d{1,5})$")


class CompositionType(StrEnum):
    VIDEO = "VIDEO"
    AUDIO = "AUDIO"


class CompositionState(StrEnum):
    QUEUED = "QUEUED"
    PREPROCESSING = "PREPROCESSING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class Layout(StrEnum):
    GRID = "GRID"
    SPOTLIGHT = "SPOTLIGHT"


def _upper(value: object) -> object:
    """Clients send `video`/`audio`; the answers say `VIDEO`/`AUDIO`. Either is taken."""
    return value.upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _priority(value: object) -> object:
    """Clients send the priority as a string ("1"); a JSON integer is taken too."""
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,6}", value.strip()):
        return int(value)
    return value


class CompositionRequest(WireModel):
    model_config = _COMMAND

    conversation_id: Id
    type: Annotated[CompositionType, BeforeValidator(_upper)]
    name: str | None = Field(default=None, max_length=200)
    video_format: Annotated[str, BeforeValidator(_lower)] = Field(default="mp4", pattern=r"^mp4$")
    audio_format: Annotated[str, BeforeValidator(_lower)] = Field(default="mp3", pattern=r"^mp3$")
    resolution: str = "640x480"
    layout: Annotated[Layout, BeforeValidator(_upper)] = Layout.GRID
    priority: Annotated[JsonInt, BeforeValidator(_priority), Field(ge=0, le=100)] = 1

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: str) -> str:
        width, height = parse_resolution(value)
        if not (16 <= width <= MAX_WIDTH and 16 <= height <= MAX_HEIGHT) or width % 2 or height % 2:
            raise ValueError(f"WxH with even numbers, from 16x16 to {MAX_WIDTH}x{MAX_HEIGHT}")
        return value

    @property
    def size(self) -> tuple[int, int]:
        return parse_resolution(self.resolution)


def parse_resolution(value: str) -> tuple[int, int]:
    match = _RESOLUTION.match(value)
    if match is None:
        raise ValueError("must be WxH, e.g. 1280x720")
    return int(match[1]), int(match[2])


class CompositionMessage(WireModel):
    """One composition. Every field is always there (null until known), unlike the recorder's answers."""

    id: str
    name: str
    conversation_id: str
    type: CompositionType
    state: CompositionState
    progress: int  # percent
    created: str
    completed: str | None
    duration: float | None  # seconds
    size: int | None  # bytes
    error: Error | None
    format: str
    resolution: str | None  # VIDEO only
    layout: Layout | None  # VIDEO only
    priority: int

    def wire(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


class CompositionsMessage(WireModel):
    compositions: list[CompositionMessage]

    def wire(self) -> dict[str, object]:
        return {"compositions": [c.wire() for c in self.compositions]}
