"""The recorder's domain errors; the API maps each to one HTTP status in one place.

RecorderError
├── NotFoundError        an id that names nothing (or nothing of the caller's organization)
└── InvalidRequestError  a request the domain refuses (unknown application, ...)
"""

from __future__ import annotations


class RecorderError(Exception):
    code = "RECORDER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(RecorderError):
    code = "NOT_FOUND"


class InvalidRequestError(RecorderError):
    code = "INVALID_REQUEST"
