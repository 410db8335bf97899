"""The application's typed keys, in one place: the capabilities the handlers call."""

from __future__ import annotations

from aiohttp import web

from recorder.compositions.queue import Compositions
from recorder.downloads import Downloads
from recorder.recordings.service import RecordingService
from recorder.settings import Settings
from recorder.sidecars.chat import ChatTranscripts
from recorder.sidecars.cobrowse import CobrowseSessions
from recorder.uploads.admin import StorageAdmin

SETTINGS = web.AppKey("settings", Settings)
RECORDINGS = web.AppKey("recordings", RecordingService)
COMPOSITIONS = web.AppKey("compositions", Compositions)
CHAT = web.AppKey("chat", ChatTranscripts)
COBROWSE = web.AppKey("cobrowse", CobrowseSessions)
STORAGE = web.AppKey("storage", StorageAdmin)
DOWNLOADS = web.AppKey("downloads", Downloads)
