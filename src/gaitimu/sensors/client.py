"""Scan for gaitimu sensors and record a session from one over BLE, with bleak.

The record path (docs/architecture.md, docs/style.md#async-ble-after-bleaks-own-examples):

1. resolve the device (`BleakScanner.find_device_by_name` / ``_by_address``),
2. connect with bleak-retry-connector's `establish_connection`, request the config,
3. configure (ranges, samples per packet, rate) on the control characteristic, start notify,
4. the notification callback only timestamps (host monotonic clock) and enqueues the bytes,
5. a consumer task stores each packet with `SessionWriter` and hands it to the ingest step
   replay runs too (`gaitimu.sensors.ingest.Ingest`): the pure `StreamDecoder` (sequence
   numbers and sensor timestamps -> loss and gaps; a lone packet that does not fit is
   rejected, a jump or a restart is believed when 3 packets agree), sensor-clock sample
   times mapped to session time with drift correction (`ClockMap`), gap events, physical
   units, then the writer and the live hook; the recorder only cuts at the duration,
6. a supervisor waits for the duration, Ctrl-C/SIGTERM or a dropped link, and reconnects with
   backoff after a drop; the gap is recorded with its length when data resumes.

Bleak backends are injectable (``scanner_backend``, ``client_backend``) so the same code runs
on real adapters and on the in-process bumble radio (`gaitimu.sensors.bumble_backend`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaitimu.consts import DEFAULT_AXES
from gaitimu.errors import BadInputError, DeviceError
from gaitimu.sensors import protocol as P
from gaitimu.sensors.adapters import KIND_GAITIMU, adapter_for, kind_of
from gaitimu.sensors.clock import ClockMap
from gaitimu.sensors.ingest import Ingest, MappedClock
from gaitimu.sensors.status import Status

log = logging.getLogger(__name__)

_ADDRESS_RE = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f-]{36}$")


# =========================================================================== options/results
@dataclass
class RecordOptions:
    """What `record_session` records and how.

    ``device``: advertised name, address (or macOS UUID), or ``None`` for the first gaitimu
    sensor found. ``duration_s``: ``None`` records until `stop` (Ctrl-C / SIGTERM).
    """

    out: Path
    device: str | None = None
    duration_s: float | None = None
    subject: str | None = None
    activity: str | None = None
    rate_hz: int = P.DEFAULT_RATE_HZ
    notes: str | None = None
    leg_length_m: float | None = None
    height_m: float | None = None
    speed_kmh: float | None = None  # a treadmill speed, stored as given
    acc_range_g: int = 16
    gyr_range_dps: int = 2000
    samples_per_packet: int = 0  # 0 = the sensor chooses
    axes: str = DEFAULT_AXES
    scan_timeout_s: float = 10.0
    connect_attempts: int = 3
    reconnect_timeout_s: float = 60.0
    pair: bool = False
    correct_drift: bool = True
    flush_interval_s: float = 0.5
    sensor_kind: str | None = None  # an adapter's kind (`sensors.adapters`); None: from the name

    def validate(self) -> None:
        if not P.MIN_RATE_HZ <= self.rate_hz <= P.MAX_RATE_HZ:
            raise BadInputError(f"--rate {self.rate_hz}: must be {P.MIN_RATE_HZ}-{P.MAX_RATE_HZ} Hz")
        if self.duration_s is not None and not self.duration_s > 0:
            raise BadInputError(f"--duration {self.duration_s}: must be > 0 seconds")
        if self.activity is not None and self.activity not in ("walk", "run"):
            raise BadInputError(f"--activity {self.activity!r}: must be walk or run")
        from gaitimu.analysis.speed import body_meta

        body_meta(self.leg_length_m, self.height_m, self.speed_kmh)  # BadInputError if bad
        if self.acc_range_g not in P.ACC_RANGES_G or self.gyr_range_dps not in P.GYR_RANGES_DPS:
            raise BadInputError("unsupported accelerometer/gyroscope range")
        kind = self.sensor_kind or virtual_kind(self.device)
        if kind not in (None, KIND_GAITIMU):
            adapter_for(kind).check(self.rate_hz, self.acc_range_g, self.gyr_range_dps)


def virtual_kind(device: str | None) -> str | None:
    """``virtual`` -> gaitimu, ``virtual:<kind>`` -> that kind (`BadInputError` if unknown),
    anything else None."""
    if device == "virtual":
        return KIND_GAITIMU
    if device and device.startswith("virtual:"):
        kind = device.split(":", 1)[1]
        return kind if kind == KIND_GAITIMU else adapter_for(kind).kind
    return None


def _body_meta(o: RecordOptions) -> dict[str, float]:
    from gaitimu.analysis.speed import body_meta

    return body_meta(o.leg_length_m, o.height_m, o.speed_kmh)


@dataclass
class RecordResult:
    """Summary of a finished recording."""

    path: Path
    n_samples: int
    duration_s: float
    stats: dict[str, Any]
    reconnects: int
    battery_pct: int | None
    drift_ppm: float
    stopped_by: str


def default_session_path(subject: str | None) -> Path:
    """``<subject or session>_<UTC time>.gaitimu`` in the current directory (the subject
    part made file-name safe and at most 64 characters)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", subject)[:64] if subject else "session"
    return Path(f"{safe}_{stamp}.gaitimu")


def is_address(text: str) -> bool:
    """A Bluetooth address (``AA:BB:CC:DD:EE:FF``) or a macOS device UUID."""
    return bool(_ADDRESS_RE.match(text))


def _is_gaitimu(device, adv) -> bool:
    return bool((adv.local_name or "").startswith(P.NAME_PREFIX)) or (
        P.SERVICE_UUID in [u.lower() for u in adv.service_uuids])


def _is_known(device, adv) -> bool:
    """A gaitimu sensor or a device an adapter reads (`sensors.adapters.kind_of`)."""
    return kind_of(adv.local_name or device.name, adv.service_uuids) is not None


def _scan_error(e: Exception) -> DeviceError:
    return DeviceError(f"cannot scan for BLE devices ({type(e).__name__}: {e}); is Bluetooth "
                       "on and available? ('--device virtual' uses the built-in virtual sensor)")


def _backend_kwargs(backend) -> dict[str, Any]:
    return {} if backend is None else {"backend": backend}


# =========================================================================== scan
@dataclass(frozen=True)
class FoundSensor:
    name: str
    address: str
    rssi: int
    battery_pct: int | None = None
    kind: str = KIND_GAITIMU


async def scan(timeout_s: float = 5.0, *, scanner_backend=None, client_backend=None,
               read_battery: bool = True) -> list[FoundSensor]:
    """Nearby gaitimu sensors (name prefix or service UUID) and devices an adapter reads
    (`sensors.adapters`), each with its ``kind``, strongest first.

    With ``read_battery`` each gaitimu sensor is briefly connected to read its Battery Level.
    """
    from bleak import BleakClient, BleakScanner
    from bleak.exc import BleakError

    try:
        found = await BleakScanner.discover(timeout=timeout_s, return_adv=True,
                                            **_backend_kwargs(scanner_backend))
    except Exception as e:  # BleakError, OSError (no BlueZ), D-Bus errors
        raise _scan_error(e) from None
    sensors = []
    for device, adv in found.values():
        kind = kind_of(adv.local_name or device.name, adv.service_uuids)
        if kind is None:
            continue
        battery = None
        if read_battery and kind == KIND_GAITIMU:
            try:
                async with asyncio.timeout(5.0):
                    async with BleakClient(device, **_backend_kwargs(client_backend)) as c:
                        battery = int((await c.read_gatt_char(P.BATTERY_LEVEL_UUID))[0])
            except (BleakError, OSError, TimeoutError, IndexError) as e:
                log.info("battery of %s not read: %s", device.address, e)
        sensors.append(FoundSensor(adv.local_name or device.name or "", device.address,
                                   int(adv.rssi), battery, kind))
    return sorted(sensors, key=lambda s: -s.rssi)


async def scan_sensors(timeout_s: float = 5.0, *, include_virtual: bool = False) -> list[FoundSensor]:
    """`scan` on the platform adapter; with ``include_virtual`` also on an in-process radio
    where one virtual sensor of each kind advertises (the platform scan may then fail
    quietly)."""
    if not include_virtual:
        return await scan(timeout_s)
    from gaitimu.sensors.bumble_backend import virtual_kinds, virtual_link

    async with virtual_link(kinds=tuple(virtual_kinds())) as (scanner_cls, client_cls):
        found = await scan(min(timeout_s, 2.0), scanner_backend=scanner_cls,
                           client_backend=client_cls)
    try:
        found += await scan(timeout_s)
    except DeviceError as e:
        log.warning("%s", e)
    return found


# =========================================================================== record
class _SessionSink:
    """The recorder's end of the ingest step: the session writer, then the live analysis
    hook (``on_samples``), which is dropped with a warning the first time it fails."""

    def __init__(self, writer: Any,
                 on_samples: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None) -> None:
        self.writer = writer
        self.on_samples = on_samples

    def event(self, event: dict[str, Any]) -> None:
        self.writer.add_event(event)

    def samples(self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        self.writer.write_samples(t_s, acc, gyr)
        if self.on_samples is not None:
            try:
                self.on_samples(t_s, acc, gyr)
            except Exception as e:  # live analysis must never stop the recording
                log.warning("live analysis hook failed: %s", e)
                self.on_samples = None


class Recorder:
    """Record one session; see the module docstring for the data path.

    Parameters
    ----------
    options
        What to record.
    scanner_backend, client_backend
        bleak backend classes (``None``: the platform's).
    on_status
        Called with a `Status` about 4 times a second (the live view).
    sink_factory
        ``(path, meta) -> writer`` with the `SessionWriter` API; default `SessionWriter`.
    on_samples
        Called with ``(t_s, acc, gyr)`` for every block written (the live analysis hook: a
        streaming pipeline computes strides and running CPD from these and shows them through
        `gaitimu.live.status.LiveStatus(analysis_hook=...)`). Must be quick; runs in the consumer.
    """

    def __init__(self, options: RecordOptions, *, scanner_backend=None, client_backend=None,
                 on_status: Callable[[Status], None] | None = None, sink_factory=None,
                 on_samples: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
                 ) -> None:
        options.validate()
        self.opts = options
        self.scanner_backend = scanner_backend
        self.client_backend = client_backend
        self.on_status = on_status
        self.sink_factory = sink_factory
        self.on_samples = on_samples
        self.stop_event = asyncio.Event()
        self.stopped_by = "duration"
        self._queue: asyncio.Queue = asyncio.Queue()
        self._link_lost = asyncio.Event()
        self._client = None
        self._ble_device = None
        self._decoder: P.StreamDecoder | None = None
        self._clock = ClockMap()
        self._ingest: Ingest | None = None
        self._writer = None
        self._t0_host = time.monotonic()
        self._n_written = 0
        self._target_samples: int | None = None
        self._consumed = 0  # samples + lost samples within the duration
        self._reconnects = 0
        self._battery: int | None = None
        self._status = Status(device=options.device or "")
        self._recent: list[tuple[float, int]] = []
        self._done_receiving = asyncio.Event()
        self._config: P.SensorConfig | None = None
        self._adapter = None  # an adapter (`sensors.adapters`); None: the gaitimu protocol
        self.consumer_busy_s = 0.0  # time spent decoding and writing (benchmark)

    # ------------------------------------------------------------------ public
    def stop(self, reason: str = "stopped") -> None:
        """Ask the recording to finish cleanly (safe from signal handlers)."""
        self.stopped_by = reason
        self.stop_event.set()

    def host_time_s(self) -> float:
        return time.monotonic() - self._t0_host

    async def run(self, *, install_signal_handlers: bool = False) -> RecordResult:
        """Record until the duration, `stop`, or a link that cannot be re-established."""
        loop = asyncio.get_running_loop()
        previous = {}
        if install_signal_handlers:
            for sig in (signal.SIGINT, signal.SIGTERM):
                name = signal.Signals(sig).name
                try:
                    loop.add_signal_handler(sig, self.stop, name)
                except NotImplementedError:  # Windows: no loop signal handlers
                    previous[sig] = signal.signal(
                        sig, lambda *_a, _n=name: loop.call_soon_threadsafe(self.stop, _n))
        try:
            return await self._run()
        finally:
            if install_signal_handlers:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    if sig in previous:
                        signal.signal(sig, previous[sig])
                    else:
                        with contextlib.suppress(NotImplementedError, RuntimeError):
                            loop.remove_signal_handler(sig)

    # ------------------------------------------------------------------ stages
    async def _resolve(self, timeout_s: float):
        from bleak import BleakScanner

        kw = _backend_kwargs(self.scanner_backend)
        target = self.opts.device
        try:
            if target is None:
                return await BleakScanner.find_device_by_filter(_is_known, timeout=timeout_s, **kw)
            if is_address(target):
                return await BleakScanner.find_device_by_address(target, timeout=timeout_s, **kw)
            return await BleakScanner.find_device_by_name(target, timeout=timeout_s, **kw)
        except Exception as e:  # BleakError, OSError (no BlueZ), D-Bus errors
            raise _scan_error(e) from None

    async def _connect(self, device, attempts: int):
        from bleak import BleakClient
        from bleak_retry_connector import establish_connection

        return await establish_connection(
            BleakClient, device, device.name or device.address,
            disconnected_callback=self._on_disconnected, max_attempts=attempts, pair=self.opts.pair,
            **_backend_kwargs(self.client_backend),
        )

    def _on_disconnected(self, _client) -> None:
        log.info("link to %s lost", self._status.device)
        self._link_lost.set()

    async def _read_info(self, client) -> dict[str, Any]:
        info: dict[str, Any] = {}
        for key, uuid in (("model", P.MODEL_NUMBER_UUID), ("firmware", P.FIRMWARE_REVISION_UUID),
                          ("serial", P.SERIAL_NUMBER_UUID), ("manufacturer", P.MANUFACTURER_NAME_UUID)):
            try:
                info[key] = bytes(await client.read_gatt_char(uuid)).decode("utf-8", "replace")
            except Exception as e:  # optional characteristics
                log.debug("device info %s not read: %s", key, e)
        try:
            self._battery = int((await client.read_gatt_char(P.BATTERY_LEVEL_UUID))[0])
        except Exception as e:
            log.debug("battery not read: %s", e)
        return info

    def _start_clock_and_callback(self):
        """Session time starts with the first stream; the notification callback only
        timestamps and enqueues."""
        if self._decoder is None:  # first connection: session time starts with the stream
            self._t0_host = time.monotonic()

        def on_data(_char, data: bytearray) -> None:  # only timestamp and enqueue
            self._queue.put_nowait((time.monotonic() - self._t0_host, bytes(data)))

        return on_data

    async def _configure_adapter(self, client) -> P.SensorConfig:
        """Configure and start a device through its adapter (no config to read back: the
        rate and ranges are the ones set)."""
        o, a = self.opts, self._adapter
        for cmd in a.configure_commands(o.rate_hz, o.acc_range_g, o.gyr_range_dps):
            await client.write_gatt_char(a.control_char_uuid, cmd, response=a.write_response)
        await client.start_notify(a.data_char_uuid, self._start_clock_and_callback())
        for cmd in a.start_commands(o.rate_hz):
            await client.write_gatt_char(a.control_char_uuid, cmd, response=a.write_response)
        scales = a.scales(o.acc_range_g, o.gyr_range_dps)
        return P.SensorConfig(protocol_version=0, rate_hz=o.rate_hz,
                              acc_range_g=int(scales.acc_range_g),
                              gyr_range_dps=int(scales.gyr_range_dps), samples_per_packet=1)

    async def _configure_and_start(self, client) -> P.SensorConfig:
        if self._adapter is not None:
            return await self._configure_adapter(client)
        o = self.opts
        ctrl = P.CONTROL_CHAR_UUID
        for cmd in (P.encode_command(P.Command.SET_RANGES, o.acc_range_g, o.gyr_range_dps),
                    P.encode_command(P.Command.SET_SAMPLES_PER_PACKET, o.samples_per_packet),
                    P.encode_command(P.Command.SET_RATE, o.rate_hz)):
            await client.write_gatt_char(ctrl, cmd, response=True)
        cfg = P.decode_config(await client.read_gatt_char(P.CONFIG_CHAR_UUID))
        if cfg.protocol_version != P.PROTOCOL_VERSION:
            raise DeviceError(f"sensor speaks protocol version {cfg.protocol_version}; "
                              f"this gaitimu supports {P.PROTOCOL_VERSION}")
        if cfg.rate_hz != o.rate_hz:
            raise DeviceError(f"sensor refused rate {o.rate_hz} Hz (reports {cfg.rate_hz} Hz)")
        await client.start_notify(P.DATA_CHAR_UUID, self._start_clock_and_callback())
        await client.write_gatt_char(ctrl, P.encode_command(P.Command.START), response=True)
        return cfg

    async def _open_link(self, device, attempts: int) -> None:
        """Connect, configure and start streaming; raise DeviceError on failure."""
        from bleak.exc import BleakError

        try:
            client = await self._connect(device, attempts)
        except (BleakError, OSError, TimeoutError) as e:
            raise DeviceError(f"cannot connect to {device.name or device.address}: {e}") from None
        try:
            self._client = client
            self._link_lost.clear()
            info = await self._read_info(client)
            if self._decoder is not None:  # in-band: after every packet of the old link
                self._queue.put_nowait((self.host_time_s(), None))
            cfg = await self._configure_and_start(client)
        except (BleakError, OSError, TimeoutError, DeviceError) as e:
            with contextlib.suppress(Exception):
                await client.disconnect()
            if isinstance(e, DeviceError):
                raise
            raise DeviceError(f"cannot configure {device.name or device.address}: {e}") from None
        self._config = cfg
        if self._ingest is not None:  # what follows is in the ranges the sensor reports now
            self._ingest.scales = cfg.scales
        self._info = info

    # ------------------------------------------------------------------ consumer
    async def _consume(self) -> None:
        """Decode, time-stamp and write; the only place that touches the decoder/writer."""
        while True:
            item = await self._queue.get()
            if item is None:
                return
            t_host, data = item
            if data is None:
                self._ingest_step().mark_reconnect()
                continue
            c0 = time.perf_counter()
            self._handle(t_host, data)
            self.consumer_busy_s += time.perf_counter() - c0

    def _handle(self, t_host: float, data: bytes) -> None:
        """Store one notification and ingest it (decode, session time, gaps, physical units,
        into the writer and the live hook); count what it added."""
        if self._target_samples is not None and self._consumed >= self._target_samples:
            return  # past the requested duration: ignore the tail
        self._writer.write_packet(t_host, data)
        n = self._ingest_step().feed(t_host, data)
        if n:
            self._n_written += n
            self._recent.append((t_host, n))
        if self._target_samples is not None and self._consumed >= self._target_samples:
            self.stop("duration")

    def _ingest_step(self) -> Ingest:
        """The ingest step replay shares, into this recording's writer and live hook.

        Made on first use: it needs the decoder, the sensor's config and the writer, which
        exist once the sensor streams (the fault tests set them by hand and call `_handle`).
        """
        if self._ingest is None:
            self._ingest = Ingest(self._decoder, MappedClock(self._clock),
                                  _SessionSink(self._writer, self.on_samples),
                                  self._config.scales, keep=self._within_duration)
        return self._ingest

    def _within_duration(self, lost: int, n: int) -> tuple[int, int]:
        """How much of a gap and of the block after it the requested duration still holds
        (all without a duration); counted as consumed."""
        if self._target_samples is not None:
            room = self._target_samples - self._consumed
            lost = min(lost, room)
            n = min(n, max(0, room - lost))
        self._consumed += lost + n
        return lost, n

    # ------------------------------------------------------------------ status
    def _publish(self, state: str | None = None) -> None:
        st = self._status
        if state:
            st.state = state
        now = self.host_time_s()
        self._recent = [(t, n) for t, n in self._recent if t > now - 2.0]
        st.elapsed_s = now
        st.samples = self._n_written
        st.rate_hz = sum(n for _, n in self._recent) / 2.0 if now > 2.0 else 0.0
        if self._decoder is not None:
            s = self._decoder.stats
            st.lost_samples, st.loss_fraction, st.gaps = s.lost_samples, s.loss_fraction, s.gaps
        st.battery_pct = self._battery
        st.reconnects = self._reconnects
        warning = getattr(self._writer, "warning", None)  # disk full: data held in memory
        if warning or "disk" in st.extra:
            st.extra["disk"] = warning or "ok"
        if self.on_status is not None:
            try:
                self.on_status(st)
            except Exception as e:  # the view must never stop the recording
                log.debug("status callback failed: %s", e)

    async def _status_loop(self) -> None:
        while True:
            self._publish()
            await asyncio.sleep(0.25)

    # ------------------------------------------------------------------ supervisor
    def _host_deadline(self) -> float | None:
        d = self.opts.duration_s
        return None if d is None else d + max(2.0, 0.05 * d)

    async def _wait(self, *events: asyncio.Event, timeout: float | None) -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def _remaining(self) -> float | None:
        deadline = self._host_deadline()
        return None if deadline is None else max(0.0, deadline - self.host_time_s())

    async def _reconnect(self) -> bool:
        """Reconnect with backoff until it works, the recording stops or the timeout passes."""
        lost_at = self.host_time_s()
        self._writer.add_event({"kind": "link_lost", "t_host_s": lost_at})
        self._publish("reconnecting")
        delay = 0.25
        while not self.stop_event.is_set():
            if self.host_time_s() - lost_at > self.opts.reconnect_timeout_s:
                return False
            rem = self._remaining()
            if rem is not None and rem <= 0:
                self.stop("duration")
                return False
            try:
                device = await self._resolve(timeout_s=min(2.0, max(0.5, delay * 2)))
                if device is not None:
                    await self._open_link(device, attempts=1)
                    self._reconnects += 1
                    self._writer.add_event({"kind": "reconnected", "t_host_s": self.host_time_s(),
                                            "down_s": self.host_time_s() - lost_at})
                    self._publish("recording")
                    log.info("reconnected after %.1f s", self.host_time_s() - lost_at)
                    return True
            except DeviceError as e:
                log.info("reconnect attempt failed: %s", e)
            await self._wait(self.stop_event, timeout=delay)
            delay = min(delay * 2, 4.0)
        return False

    async def _unless_stopped(self, coro):
        """Await ``coro`` unless a stop (Ctrl-C) comes first: then cancel it and give up."""
        task = asyncio.ensure_future(coro)
        stop = asyncio.ensure_future(self.stop_event.wait())
        try:
            await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await self._close_link()
            raise KeyboardInterrupt  # the CLI reports "interrupted" (exit 130); nothing written
        return task.result()

    async def _run(self) -> RecordResult:
        from gaitimu.sessions import SessionWriter

        o = self.opts
        device = await self._unless_stopped(self._resolve(o.scan_timeout_s))
        if device is None:
            what = f"named or at {o.device!r}" if o.device else "(no gaitimu sensor advertising)"
            raise DeviceError(f"sensor {what} not found within {o.scan_timeout_s:g} s; "
                              "is it switched on and in range? try 'gaitimu scan'")
        self._ble_device = device
        self._status.device = device.name or device.address
        kind = o.sensor_kind or kind_of(device.name, []) or KIND_GAITIMU
        if kind != KIND_GAITIMU:
            self._adapter = adapter_for(kind)
            self._adapter.check(o.rate_hz, o.acc_range_g, o.gyr_range_dps)
        self._publish("connecting")
        await self._unless_stopped(self._open_link(device, attempts=o.connect_attempts))
        cfg = self._config
        self._decoder = (P.StreamDecoder(cfg.rate_hz) if self._adapter is None
                         else self._adapter.new_decoder(cfg.rate_hz))
        self._clock.enabled = o.correct_drift
        if o.duration_s is not None:
            self._target_samples = round(o.duration_s * cfg.rate_hz)
        meta = {
            "source": "record",
            "sensor": {"name": device.name, "address": device.address,
                       "model": self._info.get("model"), "firmware": self._info.get("firmware"),
                       "serial": self._info.get("serial"), "protocol_version": cfg.protocol_version},
            "sample_rate_hz": float(cfg.rate_hz), "acc_range_g": float(cfg.acc_range_g),
            "gyr_range_dps": float(cfg.gyr_range_dps), "axes": o.axes, "subject": o.subject,
            "activity": o.activity, "notes": o.notes, "calibration": None,
            **_body_meta(o),
            "recording": {"samples_per_packet": cfg.samples_per_packet,
                          "att_mtu": getattr(self._client, "mtu_size", None),
                          "requested_duration_s": o.duration_s},
            "battery_pct": self._battery,
        }
        if self._adapter is not None:  # replay decodes the packets with the same adapter
            meta["sensor"].update(kind=self._adapter.kind, model=meta["sensor"]["model"]
                                  or self._adapter.label, protocol_version=None)
        factory = self.sink_factory or (lambda p, m: SessionWriter(p, m, flush_interval_s=o.flush_interval_s))
        self._writer = factory(o.out, meta)
        consumer = asyncio.ensure_future(self._consume())
        status = asyncio.ensure_future(self._status_loop())
        self._publish("recording")
        gave_up = False
        try:
            while not self.stop_event.is_set():
                await self._wait(self.stop_event, self._link_lost, timeout=self._remaining())
                if self.stop_event.is_set():
                    break
                rem = self._remaining()
                if rem is not None and rem <= 0:
                    self.stop("duration")
                    break
                if self._link_lost.is_set():
                    if not await self._reconnect() and not self.stop_event.is_set():
                        gave_up = True
                        self.stop("link lost")
        finally:
            self._publish("stopping")
            await self._close_link()
            await asyncio.sleep(0.05)  # let the last notifications in
            self._queue.put_nowait(None)
            await consumer
            status.cancel()
            stats = self._decoder.stats.as_dict()
            self._writer.update_meta({
                "record_stats": stats, "reconnects": self._reconnects, "battery_pct": self._battery,
                "clock": {"drift_ppm": self._clock.drift_ppm, "unreliable": self._clock.unreliable,
                          "corrected": self._clock.enabled and not self._clock.unreliable},
                "stopped_by": self.stopped_by,
            })
            self._writer.close()
            self._publish("stopped")
        n = self._n_written
        result = RecordResult(
            path=Path(o.out), n_samples=n, duration_s=n / cfg.rate_hz, stats=stats,
            reconnects=self._reconnects, battery_pct=self._battery,
            drift_ppm=self._clock.drift_ppm, stopped_by=self.stopped_by,
        )
        if gave_up:
            raise DeviceError(
                f"link to {self._status.device} lost and not re-established within "
                f"{o.reconnect_timeout_s:g} s; {n} samples saved in {o.out}")
        return result

    async def _close_link(self) -> None:
        client = self._client
        if client is None:
            return
        self._link_lost.clear()
        with contextlib.suppress(Exception):
            if client.is_connected and self._adapter is not None:
                for cmd in self._adapter.stop_commands():
                    await client.write_gatt_char(self._adapter.control_char_uuid, cmd,
                                                 response=self._adapter.write_response)
            elif client.is_connected:
                await client.write_gatt_char(P.CONTROL_CHAR_UUID, P.encode_command(P.Command.STOP),
                                             response=True)
        with contextlib.suppress(Exception):
            await client.disconnect()


async def record_session(options: RecordOptions, *, scanner_backend=None, client_backend=None,
                         on_status=None, on_samples=None, virtual_source=None,
                         virtual_speed: float = 1.0,
                         install_signal_handlers: bool = False) -> RecordResult:
    """Record a session (see `Recorder`). ``options.device == 'virtual'`` records from the
    built-in virtual sensor on an in-process bumble radio (`bumble_backend.virtual_link`),
    ``'virtual:<kind>'`` from the virtual twin of that kind (e.g. ``virtual:witmotion``),
    through bleak, serving ``virtual_source`` (a source factory, e.g.
    `gaitimu.simulate.source.simulated_factory(...)`, which the caller builds: `sensors`
    never imports the simulator; default the synthetic signal) at ``virtual_speed`` x real
    time. ``options`` is not changed."""
    options.validate()
    kind = virtual_kind(options.device)
    if kind is not None and scanner_backend is None:
        from gaitimu.sensors.bumble_backend import virtual_link, virtual_name

        name = virtual_name(kind)
        async with virtual_link(kinds=(kind,), source_factory=virtual_source, speed=virtual_speed,
                                source_from_stream_start=True) as backends:
            rec = Recorder(dataclasses.replace(options, device=name, sensor_kind=kind),
                           scanner_backend=backends[0], client_backend=backends[1],
                           on_status=on_status, on_samples=on_samples)
            return await rec.run(install_signal_handlers=install_signal_handlers)
    rec = Recorder(options, scanner_backend=scanner_backend, client_backend=client_backend,
                   on_status=on_status, on_samples=on_samples)
    return await rec.run(install_signal_handlers=install_signal_handlers)
