"""The recorder's domain errors; the API maps each to one HTTP status in one place.

RecorderError
├── NotFoundError        an id that names nothing (or nothing of the caller's organization)
├── InvalidRequestError  a request the domain refuses
├── ConflictError        a request that the state of its subject does not allow yet (409)
├── UnauthorizedError    no valid credentials (401)
├── ForbiddenError       valid credentials without the role the operation needs (403)
├── UnavailableError     the recorder cannot take the work now (503, with Retry-After): a full spool
├── LimitError           a per-tenant bound was reached (429, with Retry-After when waiting helps)
└── TooLargeError        a subject grew to its bound (413): chat entries of a recording
"""

from __future__ import annotations


class RecorderError(Exception):
    code = "RECORDER_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # e.g. OAuth's own error codes at the token endpoint


class NotFoundError(RecorderError):
    code = "NOT_FOUND"


class InvalidRequestError(RecorderError):
    code = "INVALID_REQUEST"


class ConflictError(RecorderError):
    code = "CONFLICT"


class UnauthorizedError(RecorderError):
    code = "UNAUTHORIZED"


class ForbiddenError(RecorderError):
    code = "FORBIDDEN"


class UnavailableError(RecorderError):
    code = "UNAVAILABLE"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class LimitError(RecorderError):
    code = "LIMIT_REACHED"

    def __init__(self, message: str, *, retry_after: int | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class TooLargeError(RecorderError):
    code = "TOO_LARGE"
