"""The SessionStore contract: a session's recording is claimed by exactly one start, across instances."""

from __future__ import annotations

import asyncio

from schemas.sessions import CoachingSession, SessionStatus, SessionType
from tests.builders import T0, Opener


def session(status: SessionStatus = SessionStatus.IN_PROGRESS) -> CoachingSession:
    return CoachingSession(
        application_id="app1",
        session_id="s1",
        type=SessionType.INSTANT,
        status=status,
        coach_id="c1",
        customer_id="u1",
        conference_id="1234",
        created=T0,
        updated=T0,
    )


async def test_one_claim_wins_and_an_update_keeps_it(opener: Opener) -> None:
    a, b = await opener(), await opener()
    assert await a.sessions.get("app1", "s1") is None
    await a.sessions.save(session())
    claims = await asyncio.gather(*(s.sessions.claim_recording("app1", "s1", f"r{n}") for n, s in enumerate((a, b))))
    assert sorted(claims) == [False, True]
    winner = "r0" if claims[0] else "r1"
    await b.sessions.save(session(SessionStatus.COMPLETED))  # the backend's update leaves the claim alone
    got = await a.sessions.get("app1", "s1")
    assert got is not None and got.status is SessionStatus.COMPLETED and got.recorder_id == winner
    assert got == session(SessionStatus.COMPLETED).model_copy(update={"recorder_id": winner})


async def test_a_claim_is_replaced_or_taken_back(opener: Opener) -> None:
    store = await opener()
    await store.sessions.save(session())
    assert await store.sessions.claim_recording("app1", "s1", "claim")
    await store.sessions.replace_recording("app1", "s1", "another-claim", None)  # not its claim: nothing changes
    assert (await store.sessions.get("app1", "s1")).recorder_id == "claim"  # type: ignore[union-attr]
    await store.sessions.replace_recording("app1", "s1", "claim", None)
    assert (await store.sessions.get("app1", "s1")).recorder_id is None  # type: ignore[union-attr]
    assert await store.sessions.claim_recording("app1", "s1", "again")
    assert not await store.sessions.claim_recording("app2", "s1", "elsewhere")  # another application's: none
