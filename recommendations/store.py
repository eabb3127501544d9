"""Where trained picks live between the nightly training and the requests: Redis, under a version flipped at once.

Keys (`recs:` prefix): `current` names the version serving reads; `versions` is the set of every version that may
still have keys (the one served, one being built, and old ones until their keys are gone), so deleting a reader's
profile reaches all of them; `training` is the lock one training run holds. Under a version `v`: the model for
per-reader refreshes in any worker process (the pickled `Model` without any reader's history, zlib-compressed, cut
into pieces `recs:v:model:<i>`, and `recs:v:model`, written last, holding a format header and how many pieces there
are), `recs:v:picks:<reader id>` (a reader's picks with their reasons), `recs:v:also:<record id>`
(the record's also-borrowed neighbours) and `recs:v:popular:<list>` (recent popularity: `network`, `child`,
`age_band:<band>`, `library:<id>`, the fallback of serving). A run writes its whole version, then flips `current`
and retires every other version in one step (a script), then deletes the retired ones' keys: a request reads
`current` once and sees one whole model or the previous one. A refresh writes a reader's picks only if its version
is still the one served (a script again), so nothing is written into a version being deleted.

The scripts name keys they compute (`recs:<v>:picks:<reader>`): one Redis server, not a cluster.

Size: one Redis value holds at most 512 MB, so the model is stored in pieces of at most `MODEL_CHUNK_BYTES` (64 MB).
The model of the Shakespeare and Company loans packs to a few MB; 10M synthetic loans (2M records, docs/benchmarks.md)
to about 1 GB, most of it the co-borrow neighbours (2M items x up to 100), so Redis holds about twice that while a
run writes its version beside the one served, and each worker process that refreshes picks unpickles it whole.
Picks (a few KB per reader) and neighbours (~200 B per record) are one value each.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import pickle
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis

from recommendations.blend import Model
from recommendations.reasons import Pick

log = logging.getLogger(__name__)

MODEL_FORMAT = 5
"""Raised whenever `Model` or its sources change shape, or how it is stored: a stored model of another format is no
model (the refreshes wait for the next training) rather than a pickle that fails, or half works, in every refresh
until the night. 4: in pieces, with batch scoring's sources; 5: with children's age bands' recent popularity."""
_MODEL_HEADER = b"shuxiang-recs-model:%d\n" % MODEL_FORMAT
MODEL_CHUNK_BYTES = 64 * 2**20
"""The stored model's pieces at most: well under a Redis value's 512 MB, and each written or read in well under a
second, so Redis (one thread) goes on answering requests between them."""

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
# The version served and the picks in it of many readers (false: none stored), in one round trip: a batch of a push.
_SERVED_MANY = """
local v = redis.call('GET', KEYS[1])
if not v then return {} end
local found = {v}
for i, reader in ipairs(ARGV) do found[i + 1] = redis.call('GET', 'recs:' .. v .. ':picks:' .. reader) end
return found
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


def _model_chunk_key(version: str, index: int) -> str:
    return f"recs:{version}:model:{index}"


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

    async def served_many(self, reader_ids: Sequence[int]) -> tuple[str | None, dict[int, list[Pick] | None]]:
        """`served` for many readers at once: the version served and each reader's picks in it (None: none stored)."""
        found = await self._redis.eval(_SERVED_MANY, 1, _CURRENT, *map(str, reader_ids))  # type: ignore[misc]
        if not found:
            return None, dict.fromkeys(reader_ids)
        version, *stored = found
        decoded = [_PICKS.decode(picks) if picks is not None else None for picks in stored]
        return version.decode(), dict(zip(reader_ids, decoded, strict=True))

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
        await self._redis.set(_fallback_key(name), encode_picks(picks), ex=_FALLBACK_SECONDS)

    async def forget_reader(self, reader_id: int) -> None:
        """Delete the reader's picks in every version: served, being built, failed or retired (the profile a
        switch-off ends)."""
        await self._redis.eval(_FORGET, 1, _VERSIONS, str(reader_id))  # type: ignore[misc]

    async def write_picks(self, version: str, picks: Mapping[int, Sequence[Pick]]) -> None:
        """Picks of a version being built."""
        await self.write_encoded_picks(version, ((reader, encode_picks(chosen)) for reader, chosen in picks.items()))

    async def write_encoded_picks(self, version: str, picks: Iterable[tuple[int, bytes]]) -> None:
        """Picks of a version being built, each reader's already encoded (`encode_picks`, as the training run's
        process hands them over: bytes, not a hundred thousand readers' `Pick` objects)."""
        for batch in _batches(picks):
            async with self._redis.pipeline(transaction=False) as pipe:
                for reader_id, encoded in batch:
                    pipe.set(_picks_key(version, reader_id), encoded)
                await pipe.execute()

    async def write_reader_picks(self, version: str, reader_id: int, picks: Sequence[Pick]) -> bool:
        """One reader's picks into `version` if it is still the one served (a refresh); False if it is not."""
        written = await self._redis.eval(  # type: ignore[misc]
            _WRITE_IF_CURRENT,
            2,
            _CURRENT,
            _picks_key(version, reader_id),
            version,
            encode_picks(picks).decode(),
        )
        return bool(written)

    async def write_also_borrowed(self, version: str, neighbours: Iterable[tuple[int, Sequence[int]]]) -> None:
        """Each record's neighbours, as (record id, neighbour ids) pairs."""
        for batch in _batches(neighbours):
            async with self._redis.pipeline(transaction=False) as pipe:
                for record_id, others in batch:
                    pipe.set(_also_key(version, record_id), _ENCODE.encode(list(others)))
                await pipe.execute()

    async def write_popular(self, version: str, lists: Mapping[str, Sequence[Pick]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, picks in lists.items():
                pipe.set(_popular_key(version, name), encode_picks(picks))
            await pipe.execute()

    async def lock_training(self, token: str, seconds: int) -> bool:
        """Take the one training run's lock (the nightly cron and `shuxiang recs train` may start together)."""
        return bool(await self._redis.set(_TRAINING, token, nx=True, ex=seconds))

    async def unlock_training(self, token: str) -> None:
        await self._redis.eval(_UNLOCK, 1, _TRAINING, token)  # type: ignore[misc]

    async def begin(self, model: Sequence[bytes]) -> str:
        """A new version, holding the model's pieces (`pack_model`), listed among the versions before anything is
        written under it. The pieces' count goes last: a model is there only once it is whole."""
        version = uuid.uuid4().hex[:12]
        await self._redis.sadd(_VERSIONS, version)  # type: ignore[misc]
        for index, chunk in enumerate(model):
            await self._redis.set(_model_chunk_key(version, index), chunk)
        await self._redis.set(_model_key(version), _MODEL_HEADER + str(len(model)).encode())
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

    async def model_chunks(self, version: str) -> list[bytes] | None:
        """The stored model's pieces, in order; None when the version has no whole model (not yet, or its keys are
        being deleted). Raises `ModelFormatError` for a model stored in another format."""
        stored: bytes | None = await self._redis.get(_model_key(version))
        if stored is None:
            return None
        if not stored.startswith(_MODEL_HEADER):
            raise ModelFormatError(stored.split(b"\n", 1)[0].decode(errors="replace"))
        chunks = []
        for index in range(int(stored[len(_MODEL_HEADER) :])):
            chunk: bytes | None = await self._redis.get(_model_chunk_key(version, index))
            if chunk is None:
                return None
            chunks.append(chunk)
        return chunks

    async def mark_dirty(self, reader_id: int) -> None:
        """The reader borrowed (or switched picks on): a refresh running now must run again when it ends."""
        await self._redis.set(_dirty_key(reader_id), b"1", ex=_DIRTY_SECONDS)

    async def take_dirty(self, reader_id: int) -> bool:
        """Whether the reader was marked since the last take, unmarking them."""
        return bool(await self._redis.delete(_dirty_key(reader_id)))


class ModelFormatError(Exception):
    """The stored model was written in another format than `MODEL_FORMAT` (by another release of this code)."""


def encode_picks(picks: Sequence[Pick]) -> bytes:
    """A reader's picks as stored."""
    return _ENCODE.encode(list(picks))


def _batches(pairs: Iterable[tuple[int, Any]]) -> Iterable[list[tuple[int, Any]]]:
    iterator = iter(pairs)
    while batch := list(itertools.islice(iterator, _BATCH)):
        yield batch


class _Compressing:
    """Where `pickle.dump` writes the model: compressed as it comes and cut into pieces, so neither the pickle (a
    few GB at city scale) nor the compressed whole is ever held in one piece."""

    def __init__(self, chunk_bytes: int) -> None:
        self._chunk_bytes = chunk_bytes
        self._compressor = zlib.compressobj(1)
        self._pending = bytearray()
        self.chunks: list[bytes] = []

    def write(self, data: Any) -> int:
        self._pending += self._compressor.compress(data)
        self._cut(self._chunk_bytes)
        return memoryview(data).nbytes

    def close(self) -> list[bytes]:
        self._pending += self._compressor.flush()
        self._cut(1)
        return self.chunks

    def _cut(self, at_least: int) -> None:
        while len(self._pending) >= at_least:
            self.chunks.append(bytes(self._pending[: self._chunk_bytes]))
            del self._pending[: self._chunk_bytes]


def pack_model(model: Model, chunk_bytes: int = MODEL_CHUNK_BYTES) -> list[bytes]:
    """The model as stored: the zlib-compressed pickle, in pieces of at most `chunk_bytes`."""
    sink = _Compressing(chunk_bytes)
    pickle.dump(model, sink, protocol=pickle.HIGHEST_PROTOCOL)
    return sink.close()


class _Decompressing(io.RawIOBase):
    """The pickle as `pickle.load` reads it, decompressed from the pieces as it asks: never held whole."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = iter(chunks)
        self._decompressor = zlib.decompressobj()
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                if self._decompressor.eof or not (rest := self._decompressor.flush()):
                    return 0
                self._pending = memoryview(rest)
            else:
                self._pending = memoryview(self._decompressor.decompress(chunk))
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


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
            try:
                chunks = await store.model_chunks(version)
            except ModelFormatError as error:
                log.warning(
                    "the stored model %s is of another format (%s) than %d: no refreshes until the next training",
                    version,
                    error,
                    MODEL_FORMAT,
                )
                self._unreadable = version  # said once per version, not per refresh
                return None
            if chunks is None:
                return None
            # Our own pickle, written by the training run into our own Redis: trusted as the code is.
            self._model = await asyncio.to_thread(unpack_model, chunks)
            self._version = version
        return version, self._model


def unpack_model(chunks: Sequence[bytes]) -> Model:
    """The model from its stored pieces (`PickStore.model_chunks`)."""
    model = pickle.load(io.BufferedReader(_Decompressing(chunks), buffer_size=2**20))
    if not isinstance(model, Model):
        raise TypeError("the stored model is not a recommendations Model")
    model.history_from([])  # builds its key index now, once, before threads score with it at the same time
    return model
