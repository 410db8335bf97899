"""The manifest: every file of a recording on one wall-clock timeline, written as JSON next to the tracks when
the recording ends, so that any tool can put the files together.

Each track segment is listed with its file (its key in the storage), codec, the sender-clock time of its first
frame and of the end of its media (`mediaStart`, `mediaEnd`, from RTCP sender reports; when a track had none,
the arrival time of its first frame), its frames and length, and its gaps (loss the network did not repair,
waits for a keyframe); the recording's pauses are listed too. Key: the profile's template with streamId
`manifest` and trackId `manifest` (by default `<org>/<conversation>/<recorder>/manifest/manifest.json`).
"""

from __future__ import annotations

from datetime import timedelta

from recorder.models import Recording, UploadJob, UploadKind, UploadState, iso
from recorder.naming import KeyParts, track_key
from recorder.sidecars.documents import Sidecar
from storage_providers.base import StoredObject

MANIFEST = KeyParts("manifest", "MANIFEST", "manifest", "manifest", "MANIFEST", "json")
VERSION = 1
PAUSE_COVERS = ["AUDIO", "VIDEO", "SCREEN", "CHAT", "COBROWSE"]


def manifest(recording: Recording, key_template: str) -> dict[str, object]:
    """The manifest document of a recording."""
    tracks = []
    for stream in recording.streams:
        for track in stream.tracks:
            start = track.timeline_start
            tracks.append(
                {
                    "trackId": track.id,
                    "streamId": stream.id,
                    "userId": stream.user_id,
                    "streamType": stream.type,
                    "kind": track.kind.value,
                    "codec": track.codec,
                    "file": track_key(key_template, recording, stream, track),
                    "mediaStart": iso(start),
                    "mediaEnd": iso(track.media_end),
                    "clock": "sender" if track.media_start is not None else "arrival",
                    "frames": track.frames,
                    "duration": round(track.duration, 3),
                    "gaps": [
                        {"started": iso(start + timedelta(seconds=a)), "stopped": iso(start + timedelta(seconds=b))}
                        for a, b in track.gaps
                    ],
                }
            )
    tracks.sort(key=lambda t: str(t["mediaStart"]))
    return {
        "version": VERSION,
        "conversationId": recording.conversation_id,
        "recorderId": recording.recorder_id,
        "started": iso(recording.started) if recording.started else None,
        "stopped": iso(recording.stopped) if recording.stopped else None,
        # nothing of a pause's span is stored: no track, no chat entry, no cobrowse event
        "pauses": [
            {
                "paused": iso(p.paused),
                "resumed": iso(p.resumed) if p.resumed else None,
                "reason": p.reason,
                "covers": PAUSE_COVERS,
            }
            for p in recording.pauses
        ],
        "tracks": tracks,
    }


class Manifests(Sidecar):
    kind = UploadKind.MANIFEST

    async def store(self, recording: Recording, key_template: str) -> None:
        """At the end of a recording: write and store its manifest (none when it recorded no media)."""
        if not any(stream.tracks for stream in recording.streams):
            return
        async with self._lock:
            document = manifest(recording, key_template)
            await self._documents.store(recording, UploadKind.MANIFEST, recording.recorder_id, MANIFEST, document)

    async def _uploaded(self, job: UploadJob, stored: StoredObject | None) -> None:
        """The manifest is stored (say where), failed (say why), or is tried again (neither yet)."""
        if job.state is UploadState.UPLOADED and stored is not None:
            await self._recordings.set_manifest(job.recorder_id, stored.location)
        elif job.state in (UploadState.FAILED, UploadState.PENDING):
            await self._recordings.set_manifest(
                job.recorder_id, None, job.error if job.state is UploadState.FAILED else None
            )
