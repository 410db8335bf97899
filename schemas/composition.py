"""Wire models of the composition API (`/composition/api/...`), as Auvious's own clients call it."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field, StrictBool, field_validator, model_validator

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
    CANCELLED = "CANCELLED"


class Layout(StrEnum):
    GRID = "GRID"
    SPOTLIGHT = "SPOTLIGHT"


def _upper(value: object) -> object:
    """Clients send `video`/`audio`; the answers say `VIDEO`/`AUDIO`. Either is taken."""
    return value.upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


# Auvious's newer docs name sizes and priorities; older docs and the clients send "320x240" and "1" or 0
RESOLUTIONS = {
    "QQVGA": "160x120",
    "QVGA": "320x240",
    "VGA": "640x480",
    "SVGA": "800x600",
    "XGA": "1024x768",
    "HD": "1280x720",
    "FHD": "1920x1080",
    "UHD": "3840x2160",
}
PRIORITIES = {"LOW": 1, "NORMAL": 50, "MEDIUM": 50, "HIGH": 100}


def _priority(value: object) -> object:
    """Clients send the priority as a string ("1") or a name ("LOW"); a JSON integer is taken too."""
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,6}", value.strip()):
        return int(value)
    if isinstance(value, str) and value.strip().upper() in PRIORITIES:
        return PRIORITIES[value.strip().upper()]
    return value


def _named_resolution(value: object) -> object:
    if isinstance(value, str):
        return RESOLUTIONS.get(value.strip().upper(), value)
    return value


class CompositionRequest(WireModel):
    model_config = _COMMAND

    conversation_id: Id
    type: Annotated[CompositionType, BeforeValidator(_upper)]
    name: str | None = Field(default=None, max_length=200)
    video_format: Annotated[str, BeforeValidator(_lower)] = Field(default="mp4", pattern=r"^mp4$")
    audio_format: Annotated[str, BeforeValidator(_lower)] = Field(default="mp3", pattern=r"^mp3$")
    resolution: Annotated[str, BeforeValidator(_named_resolution)] = "640x480"
    layout: Annotated[Layout, BeforeValidator(_upper)] = Layout.GRID
    priority: Annotated[JsonInt, BeforeValidator(_priority), Field(ge=0, le=100)] = 1
    keep_pauses: StrictBool = False  # extension: keep the recordings' pauses as silence (and black)

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


class ReexecuteComposition(WireModel):
    """The body of `POST /composition/api/reexecute`: the composition to run again (`id` is taken too)."""

    model_config = _COMMAND

    conversation_id: Id
    composition_id: Id | None = None
    id: Id | None = None

    @model_validator(mode="after")
    def _named(self) -> ReexecuteComposition:
        if self.composition_id is None and self.id is None:
            raise ValueError("compositionId is required")
        return self

    @property
    def target(self) -> str:
        return self.composition_id or self.id or ""


def parse_resolution(value: str) -> tuple[int, int]:
    match = _RESOLUTION.match(value)
    if match is None:
        raise ValueError(f"must be WxH, e.g. 1280x720, or one of {', '.join(RESOLUTIONS)}")
    return int(match[1]), int(match[2])


class PauseSpan(WireModel):
    paused: str
    resumed: str


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
    keep_pauses: bool  # extension: the pauses are kept as silence (and black), else left out
    # extension: where the file's time 0 is on the wall clock (known from PREPROCESSING on), and the pauses
    # left out: a moment at wall time t (a chat entry, a cobrowse event) plays at t - timelineStart - the
    # pauses before t
    timeline_start: str | None
    pauses_left_out: list[PauseSpan]

    def wire(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


class CompositionsMessage(WireModel):
    compositions: list[CompositionMessage]

    def wire(self) -> dict[str, object]:
        return {"compositions": [c.wire() for c in self.compositions]}
