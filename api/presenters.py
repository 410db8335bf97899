"""From domain records to wire models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recorder.conference.base import Publication
from recorder.models import (
    ChatTranscript,
    CobrowseSession,
    Composition,
    CompositionType,
    ErrorInfo,
    MediaKind,
    Reason,
    Recording,
    Rule,
    RuleKind,
    Rules,
    Track,
    iso,
)
from recorder.persistence.ports import Delivery, StoredSubscription
from recorder.webhooks.delivery import message_id
from schemas.composition import CompositionMessage, PauseSpan
from schemas.recording import (
    CallerData,
    ChatTranscriptData,
    CobrowseSessionDataMessage,
    ConversationCobrowseSessionDataMessage,
    ConversationMessage,
    ConversationRecordingData,
    ConversationStreamData,
    ConversationTrackData,
    ConversationTrackStorageData,
    Error,
    GapData,
    LimitsData,
    LocalFileDataMessage,
    ManifestData,
    PauseData,
    PublicationData,
    ReasonData,
    RecordingDataEvent,
    RecordingDataMessage,
    RecordingState,
    RuleData,
    RulesData,
    RulesMessage,
    StorageProfileDataMessage,
    StorageProviderType,
    StreamDataMessage,
    StreamState,
    StreamType,
    TrackDataMessage,
    TrackStorageDataMessage,
    TrackType,
    UploadDataMessage,
)
from schemas.recording import RuleKind as WireRuleKind
from schemas.webhooks import DeliveryView, SubscriptionView
from storage_providers.settings import StorageSettings


def timestamp(value: datetime | None) -> str | None:
    return iso(value) if value else None


def java_duration(seconds: float) -> str:
    """ISO-8601 duration as Java's Duration.toString() writes it (PT1H2M3.5S)."""
    hours, rest = divmod(round(seconds, 3), 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{int(hours)}H" if hours else "") + (f"{int(minutes)}M" if minutes else "")
    if secs or text == "PT":
        text += f"{secs:.3f}".rstrip("0").rstrip(".") + "S"
    return text


def _error(error: ErrorInfo | None) -> Error | None:
    if error is None:
        return None
    return Error(code=error.code, message=error.message, occurred=timestamp(error.occurred))


def recording_event(recording: Recording) -> RecordingDataEvent:
    return RecordingDataEvent(
        conversation_id=recording.conversation_id,
        recorder_id=recording.recorder_id,
        instance_id=recording.instance_id,
        state=RecordingState(recording.state.value),
        error=_error(recording.error),
    )


def _track(track: Track, url: str | None) -> TrackDataMessage:
    start = track.timeline_start
    return TrackDataMessage(
        id=track.id,
        gaps=[
            GapData(started=iso(start + timedelta(seconds=a)), stopped=iso(start + timedelta(seconds=b)))
            for a, b in track.gaps
        ]
        or None,
        started=timestamp(track.started),
        stopped=timestamp(track.stopped),
        media_start=timestamp(track.timeline_start) if track.frames else None,
        media_end=timestamp(track.media_end) if track.frames and track.stopped else None,
        codec=track.codec,
        durable_until=timestamp(track.durable_until) if track.stopped is None else None,
        type=TrackType(track.kind.upper()),
        url=url,
        storage=TrackStorageDataMessage(
            local_storage=LocalFileDataMessage(
                created=timestamp(track.started),
                deleted=timestamp(track.local_deleted),
                error=_error(track.local_error),
                location=track.local_location,
            ),
            object_storage=UploadDataMessage(
                error=_error(track.object_error),
                location=track.object_location,
                size=str(track.object_size) if track.object_size is not None else None,
                uploaded=timestamp(track.object_uploaded),
            )
            if track.object_location or track.object_error
            else None,
        ),
    )


def storage_profile(application_id: str, storage: tuple[str, str | None]) -> StorageProfileDataMessage:
    provider, url = storage
    return StorageProfileDataMessage(application_id=application_id, provider=StorageProviderType(provider), url=url)


def storage_profile_view(application_id: str, profile: StorageSettings, source: str) -> dict[str, object]:
    """A storage profile as the admin API shows it: everything but the credentials."""
    return {
        "applicationId": application_id,
        "source": source,
        **profile.model_dump(mode="json", by_alias=True, exclude={"credentials"}),
        "hasCredentials": profile.credentials is not None,
    }


def _chat(transcript: ChatTranscript | None) -> ChatTranscriptData | None:
    if transcript is None:
        return None
    return ChatTranscriptData(created=iso(transcript.created), id=transcript.id, location=transcript.location)


def recording_message(
    recording: Recording, storage: tuple[str, str | None], urls: dict[str, str], manifest_url: str | None = None
) -> RecordingDataMessage:
    return RecordingDataMessage(
        audio=recording.audio,
        chat_transcript=_chat(recording.chat_transcript),
        conference_id=recording.conference_id,
        conversation_id=recording.conversation_id,
        error=_error(recording.error),
        instance_id=recording.instance_id,
        organization_id=recording.organization_id,
        recorder_id=recording.recorder_id,
        recovered=timestamp(recording.recovered),
        screen=recording.screen,
        started=timestamp(recording.started),
        state=RecordingState(recording.state.value),
        stopped=timestamp(recording.stopped),
        storage_profile=storage_profile(recording.application_id, storage),
        streams=[
            StreamDataMessage(
                id=s.id,
                state=StreamState(s.state.value),
                type=StreamType(s.type),
                user_id=s.user_id,
                tracks=[_track(t, urls.get(t.id)) for t in s.tracks],
            )
            for s in recording.streams
        ],
        video=recording.video,
        manifest=ManifestData(
            location=recording.manifest_location, url=manifest_url, error=_error(recording.manifest_error)
        )
        if recording.manifest_location or recording.manifest_error
        else None,
        paused=recording.paused,
        pauses=[
            PauseData(paused=iso(p.paused), resumed=timestamp(p.resumed), reason=p.reason) for p in recording.pauses
        ],
        start_reason=_reason(recording.start_reason),
        stop_reason=_reason(recording.stop_reason),
        rules=rules_data(recording.rules),
        limits=LimitsData(
            max_duration_seconds=recording.limits.max_duration,
            empty_room_timeout_seconds=recording.limits.empty_room,
            no_media_timeout_seconds=recording.limits.no_media,
            pause_timeout_seconds=recording.limits.pause,
        )
        if recording.limits
        else None,
    )


def _reason(reason: Reason | None) -> ReasonData | None:
    if reason is None:
        return None
    caller = reason.caller
    return ReasonData(
        reason=reason.reason.value,
        caller=CallerData(name=caller.name, type=caller.type, user_id=caller.user_id) if caller else None,
    )


def recording_summary(recording: Recording) -> dict[str, object]:
    """A recording in a list (the console's search): who took part, what state, why it ended."""
    reason = _reason(recording.stop_reason)
    summary: dict[str, object] = {
        "conversationId": recording.conversation_id,
        "recorderId": recording.recorder_id,
        "instanceId": recording.instance_id,
        "applicationId": recording.application_id,
        "conferenceId": recording.conference_id,
        "state": recording.state.value,
        "paused": recording.paused,
        "created": timestamp(recording.created),
        "started": timestamp(recording.started),
        "stopped": timestamp(recording.stopped),
        "participants": sorted({s.user_id for s in recording.streams}),
        "tracks": sum(len(s.tracks) for s in recording.streams),
    }
    if reason is not None:
        summary["stopReason"] = reason.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {k: v for k, v in summary.items() if v is not None}


def rules_data(rules: Rules) -> RulesData:
    def entries(rules: tuple[Rule, ...]) -> list[RuleData]:
        return [RuleData(user_id=r.user_id, kind=WireRuleKind(r.kind.value) if r.kind else None) for r in rules]

    return RulesData(include=entries(rules.include), exclude=entries(rules.exclude))


def _why(recording: Recording, publication: Publication, kind: MediaKind) -> str:
    rule_kind = RuleKind.of(publication.stream_type, kind)
    if kind not in recording.records(publication.stream_type):
        return f"{rule_kind.value}: not asked for by the recording's audio/video/screen flags"
    return f"{rule_kind.value}: {recording.rules.why(publication.user_id, rule_kind)}"


def rules_message(recording: Recording, publications: list[tuple[Publication, frozenset[MediaKind]]]) -> RulesMessage:
    return RulesMessage(
        rules=rules_data(recording.rules),
        publications=[
            PublicationData(
                publication_id=p.id,
                user_id=p.user_id,
                type=StreamType(p.stream_type),
                kinds=sorted(RuleKind.of(p.stream_type, k).value for k in p.kinds),
                recorded=sorted(RuleKind.of(p.stream_type, k).value for k in recorded),
                why="; ".join(_why(recording, p, k) for k in sorted(p.kinds)),
            )
            for p, recorded in publications
        ],
    )


def conversation_message(recordings: list[Recording], provider: str) -> ConversationMessage:
    last = recordings[-1]
    duration = sum(
        (r.stopped - r.started).total_seconds() for r in recordings if r.started is not None and r.stopped is not None
    )
    transcripts = [r.chat_transcript for r in recordings if r.chat_transcript is not None]
    return ConversationMessage(
        application_id=last.application_id,
        chat_transcript=_chat(transcripts[-1] if transcripts else None),
        conversation_id=last.conversation_id,
        duration=java_duration(duration),
        provider=StorageProviderType(provider),
        recordings=[
            ConversationRecordingData(
                audio=r.audio,
                conference_id=r.conference_id,
                recorder_id=r.recorder_id,
                recovered=timestamp(r.recovered),
                started=timestamp(r.started),
                stopped=timestamp(r.stopped),
                video=r.video,
                streams=[
                    ConversationStreamData(
                        started=timestamp(s.started),
                        stopped=timestamp(s.stopped),
                        type=StreamType(s.type),
                        user_id=s.user_id,
                        tracks=[
                            ConversationTrackData(
                                started=timestamp(t.started),
                                stopped=timestamp(t.stopped),
                                type=TrackType(t.kind.upper()),
                                storage=ConversationTrackStorageData(
                                    location=t.object_location,
                                    size=str(t.object_size) if t.object_size is not None else None,
                                    uploaded=timestamp(t.object_uploaded),
                                ),
                            )
                            for t in s.tracks
                        ],
                    )
                    for s in r.streams
                ],
            )
            for r in recordings
        ],
    )


def cobrowse_sessions_message(
    conversation_id: str, sessions: list[CobrowseSession]
) -> ConversationCobrowseSessionDataMessage:
    return ConversationCobrowseSessionDataMessage(
        conversation_id=conversation_id,
        cobrowse_sessions=[
            CobrowseSessionDataMessage(
                cobrowse_session_id=s.session_id,
                recorder_id=s.recorder_id,
                recorder_instance_id=s.instance_id,
                uploaded=timestamp(s.uploaded),
            )
            for s in sessions
        ],
    )


def composition_message(composition: Composition) -> CompositionMessage:
    video = composition.type is CompositionType.VIDEO
    return CompositionMessage(
        id=composition.id,
        name=composition.name,
        conversation_id=composition.conversation_id,
        type=composition.type,
        state=composition.state,
        progress=composition.progress,
        created=iso(composition.created),
        completed=iso(composition.completed) if composition.completed else None,
        duration=round(composition.duration, 3) if composition.duration is not None else None,
        size=composition.size,
        error=_error(composition.error),
        format=composition.extension,
        resolution=f"{composition.width}x{composition.height}" if video else None,
        layout=composition.layout if video else None,
        priority=composition.priority,
        keep_pauses=composition.keep_pauses,
        timeline_start=timestamp(composition.timeline_start),
        pauses_left_out=[
            PauseSpan(paused=iso(p.paused), resumed=iso(p.resumed)) for p in composition.pauses_left_out if p.resumed
        ],
    )


def _epoch(value: float | None) -> str | None:
    return iso(datetime.fromtimestamp(value, UTC)) if value is not None else None


def subscription_view(subscription: StoredSubscription, now: float) -> SubscriptionView:
    s = subscription
    previous = s.previous_until if s.previous_secret and (s.previous_until or 0) > now else None
    return SubscriptionView(
        id=s.id,
        application_id=s.application_id,
        url=s.url,
        events=s.events,
        format=s.format,
        origin=s.origin,
        created=iso(datetime.fromtimestamp(s.created, UTC)),
        updated=iso(datetime.fromtimestamp(s.updated, UTC)),
        previous_secret_until=_epoch(previous),
    )


def delivery_view(delivery: Delivery) -> DeliveryView:
    d = delivery
    return DeliveryView(
        id=d.id,
        event_id=d.event.id,
        message_id=message_id(d),
        event_type=d.event.type.value,
        message=d.message,
        subject=d.event.subject,
        sequence=d.event.sequence,
        status=d.status,
        attempts=d.attempts,
        next_attempt=_epoch(d.next_attempt) if d.status == "PENDING" else None,
        last_error=d.last_error,
        last_status=d.last_status,
        created=iso(datetime.fromtimestamp(d.created, UTC)),
        finished=_epoch(d.finished),
    )
