"""Downloads: which URL a client gets for a file, and where a signed link's file is served from.

URL policy: once a file is uploaded to a storage that signs URLs of its own (S3, Azure Blob, GCS), the client
gets that URL, unless the storage is a recording's own destination (its access key would show in the URL);
otherwise (local storage, SFTP, a recording's own destination, or a file not uploaded yet) it gets the
service's own signed link, which serves the file from wherever it is: the stored object (a local path, or
streamed through from the storage), or while it is not stored yet, the recorder's local file. Links expire
after `url_ttl_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from recorder.clock import now
from recorder.errors import NotFoundError
from recorder.evidence.access import ACTOR, AccessLog, Action
from recorder.models import CobrowseSession, Composition, Recording, iso
from recorder.signing import UrlSigner
from recorder.storage.providers import Providers
from storage_providers.base import StorageError, StorageProvider


@dataclass(frozen=True)
class Served:
    """Where a link's file is read from: a file on this machine (`path`), or an object streamed from a storage
    without URLs of its own (`provider`, `key`, `size`)."""

    name: str
    path: Path | None = None
    provider: StorageProvider | None = None
    key: str | None = None
    size: int = 0


class Downloads:
    def __init__(
        self, signer: UrlSigner, providers: Providers, public_url: str | None, recorder_api: str, composition_api: str
    ) -> None:
        self._signer = signer
        self._providers = providers
        self._public_url = public_url.rstrip("/") if public_url else None
        self._recorder_api = recorder_api
        self._composition_api = composition_api
        self.access: AccessLog | None = None  # every link handed out is logged there

    def _issued(
        self,
        organization_id: str,
        application_id: str,
        conversation_id: str,
        recorder_id: str | None,
        key: str,
    ) -> None:
        if self.access is not None:
            self.access.record(
                Action.LINK_ISSUED,
                organization_id,
                application_id=application_id,
                conversation_id=conversation_id,
                recorder_id=recorder_id,
                object=key,
            )

    def _issued_for(self, recording: Recording, key: str) -> None:
        r = recording
        self._issued(r.organization_id, r.application_id, r.conversation_id, r.recorder_id, key)

    # ------------------------------------------------------------ URLs handed out

    def _link(self, origin: str, api: str, *segments: str, ttl_seconds: int | None = None) -> tuple[str, str]:
        """(absolute signed URL, valid until) of a GET of `api` + the percent-encoded `segments`."""
        path = api + "/" + "/".join(quote(s, safe="") for s in segments)
        signed, valid_until = self._signer.sign(path, ttl_seconds=ttl_seconds, by=ACTOR.get().name)
        return (self._public_url or origin) + signed, iso(valid_until)

    async def _storage_url(
        self,
        application_id: str,
        recorder_id: str | None,
        key: str | None,
        uploaded: datetime | None,
        ttl_seconds: int | None = None,
    ) -> str | None:
        """The storage's own signed URL of an uploaded object; None when it has none (local, SFTP), when the file
        is not uploaded yet, or when the storage cannot sign now (the service's own link still works). The
        storage is the recording's (`recorder_id`; None: the application's)."""
        if not key or not uploaded:
            return None
        if recorder_id is not None and await self._providers.has_own(recorder_id):
            return None  # the client's own destination: its keys never appear in a URL (our link streams it)
        ttl = timedelta(seconds=ttl_seconds or self._signer.ttl_seconds)
        with contextlib.suppress(StorageError):  # unreadable keys: None
            return await (await self._providers.of(application_id, recorder_id)).signed_url(key, ttl)
        return None

    async def track_urls(self, recording: Recording, origin: str) -> dict[str, str]:
        """A URL for every track that has a file (stored, or still on the recorder's disk), by track id."""
        ids = (recording.conversation_id, recording.recorder_id, recording.instance_id)
        urls: dict[str, str] = {}
        for track in (t for s in recording.streams for t in s.tracks):
            url = await self._storage_url(
                recording.application_id, recording.recorder_id, track.object_location, track.object_uploaded
            )
            if url is None and (track.object_uploaded or track.local_deleted is None):
                name = Path(track.object_location or track.local_location).name
                url = self._link(origin, self._recorder_api, "recordings", "attachment", "track", *ids, track.id, name)[
                    0
                ]
            if url is not None:
                urls[track.id] = url
                self._issued_for(recording, track.object_location or track.local_location)
        return urls

    async def manifest_url(self, recording: Recording, origin: str) -> str | None:
        """The URL of a stored manifest (None until it is stored)."""
        location = recording.manifest_location
        if location is None:
            return None
        self._issued_for(recording, location)
        url = await self._storage_url(recording.application_id, recording.recorder_id, location, now())
        if url is not None:
            return url
        ids = (recording.conversation_id, recording.recorder_id, recording.instance_id)
        name = Path(location).name
        return self._link(origin, self._recorder_api, "recordings", "attachment", "manifest", *ids, name)[0]

    def valid_until(self) -> str:
        """When the links signed from now on expire, at the earliest."""
        return iso(now() + timedelta(seconds=self._signer.ttl_seconds))

    async def stored_urls(self, recording: Recording, origin: str) -> dict[str, str]:
        """A URL for every stored file of the recording (its tracks and manifest), by storage location."""
        by_track = await self.track_urls(recording, origin)
        urls = {
            t.object_location: by_track[t.id]
            for s in recording.streams
            for t in s.tracks
            if t.object_location and t.id in by_track
        }
        manifest = await self.manifest_url(recording, origin)
        if manifest is not None and recording.manifest_location:
            urls[recording.manifest_location] = manifest
        return urls

    def cobrowse_url(self, recording: Recording, session: CobrowseSession, origin: str) -> tuple[str, str]:
        """(URL, valid until) of a stored cobrowse session's file."""
        if session.location is None:
            raise NotFoundError("the cobrowse session is stored when its recording stops")
        ids = (recording.conversation_id, recording.recorder_id, recording.instance_id)
        name = Path(session.location).name
        self._issued_for(recording, session.location)
        return self._link(
            origin, self._recorder_api, "recordings", "attachment", "cobrowse", *ids, session.session_id, name
        )

    async def composition_url(
        self, composition: Composition, origin: str, ttl_seconds: int | None = None
    ) -> tuple[str, str]:
        """(URL, valid until) of a completed composition's file, valid for `ttl_seconds` (default: the
        service's `url_ttl_seconds`)."""
        c = composition
        self._issued(c.organization_id, c.application_id, c.conversation_id, None, c.object_location or c.file_name)
        ttl = ttl_seconds or self._signer.ttl_seconds
        url = await self._storage_url(c.application_id, None, c.object_location, c.object_uploaded, ttl)
        if url is not None:
            return url, iso(now() + timedelta(seconds=ttl))
        segments = ("attachment", c.conversation_id, c.id, c.file_name)
        return self._link(origin, self._composition_api, *segments, ttl_seconds=ttl)

    # ------------------------------------------------------------ links followed

    def verify(self, method: str, path: str, query: Mapping[str, str]) -> None:
        """Raise SignatureError unless the link (its path as sent, method and parameters) is signed and valid."""
        self._signer.verify(method, path, query)

    async def locate(
        self, application_id: str, name: str, key: str | None, local_file: str | None, recorder_id: str | None = None
    ) -> Served:
        """Where the file `name` of a link is: the stored object `key` (in the recording's storage; None: the
        application's), or while it is not stored yet, the local file. NotFoundError when it is neither (or the
        link's name is not the file's)."""
        if name not in {Path(location).name for location in (key, local_file) if location}:
            raise NotFoundError("no such file")
        if key is not None:
            provider = await self._providers.of(application_id, recorder_id)
            path = provider.local_path(key)
            if path is not None:
                return Served(name, path=path)
            stored = await provider.stat(key)
            if stored is not None:
                return Served(name, provider=provider, key=key, size=stored.size)
        if local_file is not None and await asyncio.to_thread(Path(local_file).is_file):
            return Served(name, path=Path(local_file))
        raise NotFoundError("no such file")

    async def track_file(self, recording: Recording, track_id: str, name: str) -> Served:
        track = next((t for s in recording.streams for t in s.tracks if t.id == track_id), None)
        if track is None:
            raise NotFoundError("no such track")
        key = track.object_location if track.object_uploaded else None
        return await self.locate(recording.application_id, name, key, track.local_location, recording.recorder_id)

    async def composition_file(self, composition: Composition, name: str) -> Served:
        key = composition.object_location if composition.object_uploaded else None
        return await self.locate(composition.application_id, name, key, composition.local_location)
