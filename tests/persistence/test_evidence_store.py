"""The evidence store's contract on SQLite and PostgreSQL: an object's hash kept once; the access log chained per
organization with several instances appending at once; holds; digests numbered once; the chore held by one
instance until its lease runs out; a deletion forgets the recordings and marks their objects."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from recorder.persistence.ports import AccessEntry, AccessQuery, DigestRecord, Hold, StoredRecord
from recorder.persistence.store import Store
from tests.builders import Opener, live_with_stream

T = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def _object(recorder_id: str, key: str, sha: str = "a" * 64) -> StoredRecord:
    return StoredRecord("org1", "app1", "c1", recorder_id, None, "TRACK", "t1", key, 10, sha, None, False, T)


def _access(organization: str, action: str, n: int) -> AccessEntry:
    return AccessEntry(organization, "app1", T, action, f"caller-{n}", "CLIENT", ("AUDITOR",), None, "c1")


async def test_an_object_is_kept_once_and_digested_once(store: Store) -> None:
    r = await live_with_stream(store)
    assert await store.evidence.record_object(_object(r.recorder_id, "k1"))
    assert not await store.evidence.record_object(_object(r.recorder_id, "k1")), "the same bytes stored again"
    assert await store.evidence.record_object(_object(r.recorder_id, "k1", "b" * 64)), "new bytes under the key"
    assert await store.evidence.applications_to_digest() == ["app1"]
    undigested = await store.evidence.undigested("app1", 10)
    digest = DigestRecord("app1", 1, "_evidence/app1/digests/00000001.json", "d" * 64, "kid", "sig", 2, T)
    assert await store.evidence.add_digest(digest, [o.id for o in undigested if o.id is not None])
    assert not await store.evidence.add_digest(digest, []), "a digest's number is taken once"
    assert await store.evidence.undigested("app1", 10) == [] and await store.evidence.applications_to_digest() == []
    head = await store.evidence.digest_head("app1")
    assert head is not None and head.seq == 1
    assert [o.digest_seq for o in await store.evidence.objects("org1", "c1")] == [1, 1]


async def test_the_access_log_stays_one_chain_when_instances_append_at_once(opener: Opener) -> None:
    stores = [await opener() for _ in range(3)]
    await asyncio.gather(
        *(
            s.evidence.append([_access("org1", "LINK_ISSUED", 10 * i + j) for j in range(5)])
            for i, s in enumerate(stores)
            for _ in range(4)
        )
    )
    rows = await stores[0].evidence.access_chain("org1", 0, 1000)
    assert len(rows) == 60
    prev = ""
    for row in rows:  # every row chained to the one before it, whoever wrote them
        assert row.prev == prev and row.chained(prev).hash == row.hash
        prev = row.hash
    assert await stores[0].evidence.access_head("org1") == (rows[-1].seq, rows[-1].hash)
    await stores[0].evidence.append([_access("org2", "VERIFIED", 1)])
    other = await stores[0].evidence.access_chain("org2", 0, 10)
    assert len(other) == 1 and other[0].prev == "", "each organization has a chain of its own"
    page = await stores[1].evidence.access(AccessQuery("org1", caller="caller-3", limit=100))
    assert len(page) == 4 and {e.caller for e in page} == {"caller-3"}


async def test_a_hold_is_kept_until_released_and_keeps_its_first_reason(store: Store) -> None:
    placed = await store.evidence.place_hold(Hold("org1", "c1", "app1", "case 1", "auditor", T))
    again = await store.evidence.place_hold(Hold("org1", "c1", "app1", "case 2", "someone", T))
    assert again == placed and [h.reason for h in await store.evidence.holds("org1")] == ["case 1"]
    assert await store.evidence.holds("org2") == []
    assert await store.evidence.release_hold("org1", "c1") == placed
    assert await store.evidence.release_hold("org1", "c1") is None


async def test_a_chore_is_held_by_one_instance_until_its_lease_runs_out(opener: Opener) -> None:
    a, b = await opener(), await opener()
    now = time.time()
    assert await a.evidence.claim_chore("evidence", "i1", now + 5, now)
    assert not await b.evidence.claim_chore("evidence", "i2", now + 5, now)
    assert await a.evidence.claim_chore("evidence", "i1", now + 10, now), "its holder renews it"
    assert await b.evidence.claim_chore("evidence", "i2", now + 20, now + 11), "taken once the lease ran out"
    assert not await a.evidence.claim_chore("evidence", "i1", now + 20, now + 12)


async def test_a_deletion_forgets_the_recordings_and_marks_their_objects(store: Store) -> None:
    r = await live_with_stream(store)
    await store.evidence.record_object(_object(r.recorder_id, "k1"))
    await store.evidence.forget("org1", r.conversation_id, [r.recorder_id], ("del_1", "app1", '{"id": "del_1"}'))
    assert await store.recordings.by_id(r.recorder_id) is None
    [kept] = await store.evidence.objects("org1", "c1")
    assert kept.deleted is not None and kept.receipt_id == "del_1", "the ledger keeps what was deleted"
    assert await store.evidence.receipt("org1", "del_1") == '{"id": "del_1"}'
    assert await store.evidence.receipt("org2", "del_1") is None
