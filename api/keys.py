"""The application's typed keys, in one place."""

from __future__ import annotations

from aiohttp import web

from recorder.service import RecordingService
from recorder.settings import Settings
from recorder.signing import UrlSigner

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", RecordingService)
SIGNER = web.AppKey("signer", UrlSigner)
