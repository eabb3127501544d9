"""Where trained picks live between the nightly training and the requests: Redis, under a version flipped at once.

Keys (`recs:` prefix): `current` names the version serving reads; `versions` is the set of every version that may
still have keys (the one served, one being built, and old ones until their keys are gone), so deleting a reader's
profile reaches all of them; `training` is the lock one training run holds. Under a version `v`: `recs:v:model` (the
pickled `Model` without any reader's history, zlib-compressed, behind a format header, for per-reader refreshes in
any worker process), `recs:v:picks:<reader id>` (a reader's picks with their reasons), `recs:v:also:<record id>`
(the record's also-borrowed neighbours) and `recs:v:popular:<list>` (recent popularity: `network`, `child`,
`library:<id>`, the fallback of serving). A run writes its whole version, then flips `current` and retires every
other version in one step (a script), then deletes the retired ones' keys: a request reads `current` once and sees
one whole model or the previous one. A refresh writes a reader's picks only if its version is still the one served
(a script again), so nothing is written into a version being deleted.

The scripts name keys they compute (`recs:<v>:picks:<reader>`): one Redis server, not a cluster.

Size: one Redis value holds at most 512 MB. The model of the Shakespeare and Company loans pickles to a few MB; at
city scale (2M items x 100 neighbours) the co-borrow matrix alone is ~1.6 GB, so the model would move to a shared
file (or be split per source) before then; picks (~2 KB per reader) and neighbours (~200 B per record) stay here.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import uuid
import zlib
from collections.abc import Mapping, Sequence

import msgspec
from redis.asyncio import Redis

from recommendations.blend import Model
from recommendations.reasons import Pick

log = logging.getLogger(__name__)

MODEL_FORMAT = 3
"""Raised whenever `Model` or its sources change shape: a stored model of another format is no model (the refreshes
wait for the next training) rather than a pickle that fails, or half works, in every refresh until the night."""
_MODEL_HEADER = b"shuxiang-recs-model:%d\n" % MODEL_FORMAT

_CURRENT = "recs:current"
_VERSIONS = "recs:versions"
_TRAINING = "recs:training"
_BATCH = 1000  # keys per pipeline round trip
_DIRTY_SECONDS = 3600  # a reader's "borrowed since the refresh began" flag outlives any refresh
_FALLBACK_SECONDS = 60  # recent popularity counted in PostgreSQL (no model in Redis) is counted again after this

# Delete a reader's picks in every version that may hold some.
_FORGET = """
local n = 0
for _, v in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  n = n + redis.call('DEL', 'recs:' .. v .. ':picks:' .. ARGV[1])
end
return n
"""
# Serve ARGV[1] and return every other version, now retired (their keys are deleted next, then they leave the set).
_PUBLISH = """
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
local retired = {}
for _, v in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if v ~= ARGV[1] then table.insert(retired, v) end
end
return retired
"""
# Write a reader's picks only into the version served (a refresh that read `current` just before a flip writes
# nothing, rather than keys of a deleted version that nothing would ever delete).
_WRITE_IF_CURRENT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
# The version served and a reader's picks in it, in one round trip: a reader's screen reads both on every visit.
_SERVED = """
local v = redis.call('GET', KEYS[1])
if not v then return {false, false} end
return {v, redis.call('GET', 'recs:' .. v .. ':picks:' .. ARGV[1])}
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _picks_key(version: str, reader_id: int) -> str:
    return f"recs:{version}:picks:{reader_id}"


def _also_key(version: str, record_id: int) -> str:
    return f"recs:{version}:also:{record_id}"


def _model_key(version: str) -> str:
    return f"recs:{version}:model"


def _popular_key(version: str, name: str) -> str:
    return f"recs:{version}:popular:{name}"


def _dirty_key(reader_id: int) -> str:
    return f"recs:dirty:{reader_id}"


def _fallback_key(name: str) -> str:
    return f"recs:fallback:{name}"


_PICKS = msgspec.json.Decoder(list[Pick])
_IDS = msgspec.json.Decoder(list[int])
_ENCODE = msgspec.json.Encoder()


class PickStore:
    """The recommender's Redis keys, read by the API and written by the worker."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def current(self) -> str | None:
        version = await self._redis.get(_CURRENT)
        return version.decode() if version is not None else None

    async def picks(self, reader_id: int) -> list[Pick] | None:
        """The reader's stored picks, or None when the model has none for them (or there is no model)."""
        return (await self.served(reader_id))[1]

    async def served(self, reader_id: int) -> tuple[str | None, list[Pick] | None]:
        """The version served and the reader's picks in it (None: no model; no picks stored for them), at once."""
        version, stored = await self._redis.eval(_SERVED, 1, _CURRENT, str(reader_id))  # type: ignore[misc]
        return (
            version.decode() if version is not None else None,
            _PICKS.decode(stored) if stored is not None else None,
        )

    async def also_borrowed(self, record_id: int) -> list[int]:
        version = await self.current()
        if version is None:
            return []
        stored = await self._redis.get(_also_key(version, record_id))
        return _IDS.decode(stored) if stored is not None else []

    async def popular(self, version: str, name: str) -> list[Pick] | None:
        """A recent-popularity list the training run of `version` counted (None: it has no such list)."""
        stored = await self._redis.get(_popular_key(version, name))
        return _PICKS.decode(stored) if stored is not None else None

    async def counted_popular(self, name: str) -> list[Pick] | None:
        """A recent-popularity list counted in PostgreSQL lately, shared by every process for a minute."""
        stored = await self._redis.get(_fallback_key(name))
        return _PICKS.decode(stored) if stored is not None else None

    async def keep_counted_popular(self, name: str, picks: Sequence[Pick]) -> None:
        await self._redis.set(_fallback_key(name), _ENCODE.encode(list(picks)), ex=_FALLBACK_SECONDS)

    async def forget_reader(self, reader_id: int) -> None:
        """Delete the reader's picks in every version: served, being built, failed or retired (the profile a
        switch-off ends)."""
        await self._redis.eval(_FORGET, 1, _VERSIONS, str(reader_id))  # type: ignore[misc]

    async def write_picks(self, version: str, picks: Mapping[int, Sequence[Pick]]) -> None:
        """Picks of a version being built (the training run's)."""
        items = list(picks.items())
        for start in range(0, len(items), _BATCH):
            async with self._redis.pipeline(transaction=False) as pipe:
                for reader_id, reader_picks in items[start : start + _BATCH]:
                    pipe.set(_picks_key(version, reader_id), _ENCODE.encode(list(reader_picks)))
                await pipe.execute()

    async def write_reader_picks(self, version: str, reader_id: int, picks: Sequence[Pick]) -> bool:
        """One reader's picks into `version` if it is still the one served (a refresh); False if it is not."""
        written = await self._redis.eval(  # type: ignore[misc]
            _WRITE_IF_CURRENT,
            2,
            _CURRENT,
            _picks_key(version, reader_id),
            version,
            _ENCODE.encode(list(picks)).decode(),
        )
        return bool(written)

    async def write_also_borrowed(self, version: str, neighbours: Mapping[int, Sequence[int]]) -> None:
        items = list(neighbours.items())
        for start in range(0, len(items), _BATCH):
            async with self._redis.pipeline(transaction=False) as pipe:
                for record_id, others in items[start : start + _BATCH]:
                    pipe.set(_also_key(version, record_id), _ENCODE.encode(list(others)))
                await pipe.execute()

    async def write_popular(self, version: str, lists: Mapping[str, Sequence[Pick]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, picks in lists.items():
                pipe.set(_popular_key(version, name), _ENCODE.encode(list(picks)))
            await pipe.execute()

    async def lock_training(self, token: str, seconds: int) -> bool:
        """Take the one training run's lock (the nightly cron and `shuxiang recs train` may start together)."""
        return bool(await self._redis.set(_TRAINING, token, nx=True, ex=seconds))

    async def unlock_training(self, token: str) -> None:
        await self._redis.eval(_UNLOCK, 1, _TRAINING, token)  # type: ignore[misc]

    async def begin(self, model_blob: bytes) -> str:
        """A new version, holding the model, listed among the versions before anything is written under it."""
        version = uuid.uuid4().hex[:12]
        await self._redis.sadd(_VERSIONS, version)  # type: ignore[misc]
        await self._redis.set(_model_key(version), model_blob)
        return version

    async def publish(self, version: str) -> None:
        """Serve `version` from now on and delete every other one (the one it replaces, and any a failed run left)."""
        retired = await self._redis.eval(_PUBLISH, 2, _CURRENT, _VERSIONS, version)  # type: ignore[misc]
        for old in retired:
            await self.delete_version(old.decode() if isinstance(old, bytes) else str(old))

    async def delete_version(self, version: str) -> None:
        """Delete a version's keys, then drop it from the set (so a switch-off meanwhile still reaches its picks)."""
        batch: list[bytes] = []
        async for key in self._redis.scan_iter(match=f"recs:{version}:*", count=_BATCH):
            batch.append(key)
            if len(batch) >= _BATCH:
                await self._redis.unlink(*batch)
                batch = []
        if batch:
            await self._redis.unlink(*batch)
        await self._redis.srem(_VERSIONS, version)  # type: ignore[misc]

    async def versions(self) -> set[str]:
        return {v.decode() for v in await self._redis.smembers(_VERSIONS)}  # type: ignore[misc]

    async def model_blob(self, version: str) -> bytes | None:
        blob: bytes | None = await self._redis.get(_model_key(version))
        return blob

    async def mark_dirty(self, reader_id: int) -> None:
        """The reader borrowed (or switched picks on): a refresh running now must run again when it ends."""
        await self._redis.set(_dirty_key(reader_id), b"1", ex=_DIRTY_SECONDS)

    async def take_dirty(self, reader_id: int) -> bool:
        """Whether the reader was marked since the last take, unmarking them."""
        return bool(await self._redis.delete(_dirty_key(reader_id)))


def pack_model(model: Model) -> bytes:
    """The model as stored: the format header, then the zlib-compressed pickle."""
    return _MODEL_HEADER + zlib.compress(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), 1)


class ModelCache:
    """The model of the version served, unpickled once per process and version (a refresh job needs it whole)."""

    def __init__(self) -> None:
        self._version: str | None = None
        self._model: Model | None = None
        self._unreadable: str | None = None

    async def model(self, store: PickStore) -> tuple[str, Model] | None:
        """The version served and its model; None when there is none, or it was stored in another format."""
        version = await store.current()
        if version is None or version == self._unreadable:
            return None
        if version != self._version or self._model is None:
            blob = await store.model_blob(version)
            if blob is None:
                return None
            if not blob.startswith(_MODEL_HEADER):
                log.warning(
                    "the stored model %s is of another format than %d: no refreshes until the next training",
                    version,
                    MODEL_FORMAT,
                )
                self._unreadable = version  # said once per version, not per refresh
                return None
            # Our own pickle, written by the training run into our own Redis: trusted as the code is.
            self._model = await asyncio.to_thread(unpack_model, blob)
            self._version = version
        return version, self._model


def unpack_model(blob: bytes) -> Model:
    model = pickle.loads(zlib.decompress(blob[len(_MODEL_HEADER) :]))
    if not isinstance(model, Model):
        raise TypeError("the stored model is not a recommendations Model")
    model.history_from([])  # builds its key index now, once, before threads score with it at the same time
    return model
