"""Adapters for commercial BLE IMUs: one module per device, one small interface.

An adapter tells the recorder (`gaitimu.sensors.client.Recorder`) and replay
(`gaitimu.live.replay`) what differs from device to device; everything else (the ingest step
`gaitimu.sensors.ingest.Ingest`, the drift-corrected clock, the session writer, reconnects)
stays shared. An adapter gives:

- ``kind`` (stored in the session's ``meta.sensor.kind``) and ``label`` (the device's name),
- ``matches(name, service_uuids)``: its advertisement,
- ``check(rate_hz, acc_range_g, gyr_range_dps)``: the rates and ranges it can be set to
  (`BadInputError`, one line, exit 2, before any radio work),
- ``configure_commands(...)``, ``start_commands(rate_hz)`` (after notifications are enabled),
  ``stop_commands()``: the bytes written to
  ``control_char_uuid`` (``write_response``: with or without response),
- ``data_char_uuid``: the characteristic whose notifications carry the samples,
- ``new_decoder(rate_hz)``: a stream decoder with `gaitimu.sensors.protocol.StreamDecoder`'s
  interface (``feed(bytes, t_host_s) -> DecodedBlock | None``, ``mark_reconnect()``,
  ``stats``, ``sampling_rate_hz``), whose blocks hold raw int16 samples in the ranges
  ``scales(...)`` returns (`protocol.raw_to_physical` makes the session's units).

The gaitimu protocol itself is not an adapter (its path through the recorder is unchanged);
``KIND_GAITIMU`` names it in `kind_of` and ``gaitimu scan --json``.
"""

from __future__ import annotations

from typing import Any, Protocol

from gaitimu.errors import BadInputError
from gaitimu.sensors import protocol as P
from gaitimu.sensors.adapters.movesense import MovesenseAdapter
from gaitimu.sensors.adapters.witmotion import WitMotionAdapter

KIND_GAITIMU = "gaitimu"


class Decoder(Protocol):
    """What `gaitimu.sensors.ingest.Ingest` needs of a stream decoder."""

    sampling_rate_hz: float
    stats: P.StreamStats

    def feed(self, data: bytes | bytearray, t_host_s: float = ...) -> P.DecodedBlock | None: ...

    def mark_reconnect(self) -> None: ...


class Adapter(Protocol):
    kind: str
    label: str
    data_char_uuid: str
    control_char_uuid: str
    write_response: bool

    def matches(self, name: str | None, service_uuids: list[str]) -> bool: ...

    def check(self, rate_hz: int, acc_range_g: int, gyr_range_dps: int) -> None: ...

    def scales(self, acc_range_g: int, gyr_range_dps: int) -> P.Scales: ...

    def configure_commands(self, rate_hz: int, acc_range_g: int,
                           gyr_range_dps: int) -> list[bytes]: ...

    def start_commands(self, rate_hz: int) -> list[bytes]: ...

    def stop_commands(self) -> list[bytes]: ...

    def new_decoder(self, rate_hz: float) -> Decoder: ...


#: Every adapter, by kind.
ADAPTERS: dict[str, Adapter] = {a.kind: a for a in (WitMotionAdapter(), MovesenseAdapter())}


def adapter_for(kind: str) -> Adapter:
    """The adapter of ``kind``; `BadInputError` naming the known kinds otherwise."""
    try:
        return ADAPTERS[kind]
    except KeyError:
        known = ", ".join([KIND_GAITIMU, *ADAPTERS])
        raise BadInputError(f"unknown sensor kind {kind!r} (known: {known})") from None


def kind_of(name: str | None, service_uuids: list[str]) -> str | None:
    """The kind of an advertising device: ``"gaitimu"``, an adapter's kind, or None."""
    uuids = [u.lower() for u in service_uuids]
    if (name or "").startswith(P.NAME_PREFIX) or P.SERVICE_UUID in uuids:
        return KIND_GAITIMU
    for a in ADAPTERS.values():
        if a.matches(name, uuids):
            return a.kind
    return None


def session_kind(meta: dict[str, Any]) -> str:
    """The sensor kind a session was recorded with (``meta.sensor.kind``; gaitimu before)."""
    sensor = meta.get("sensor") if isinstance(meta, dict) else None
    kind = sensor.get("kind") if isinstance(sensor, dict) else None
    return kind if isinstance(kind, str) and kind else KIND_GAITIMU


def decoder_for(meta: dict[str, Any], rate_hz: float) -> Decoder:
    """The stream decoder for a session's stored packets (replay): its adapter's, or the
    gaitimu protocol's `StreamDecoder`."""
    kind = session_kind(meta)
    if kind == KIND_GAITIMU:
        return P.StreamDecoder(rate_hz)
    return adapter_for(kind).new_decoder(rate_hz)
