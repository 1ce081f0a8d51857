"""A virtual gaitimu sensor: a real BLE GATT peripheral on Google's bumble stack.

The peripheral runs a bumble `Device` with an emulated controller on a `bumble.link.LocalLink`
(an in-process radio). The host side talks to it through bleak's public API with the backend
in `gaitimu.sensors.bumble_backend`, so the record path exercises real advertising, scanning,
connection, MTU exchange, GATT discovery, writes and notifications.

It serves the GATT layout of firmware_notes/PROTOCOL.md: the gaitimu service (data notify,
control write, config/status read), Battery (0x180F) and Device Information (0x180A), and:

- paces samples in real time on its own (optionally drifting) clock, or faster (``speed``),
- stamps every packet with its sensor clock (``t0_us``) and a sequence number,
- checks write permissions itself (bumble's GATT server does not) and can require pairing,
- injects faults from the peripheral side: a packet-loss fraction, a link drop for N seconds
  (disconnect and stop advertising), ATT errors on the next control writes.

The samples come from a `SampleSource` built by the source factory the sensor is given:
sample ``k`` is a deterministic function of ``k`` so a test can compare a recorded session
with the exact source data. The sensor knows no simulator: `SyntheticSource` is its
dependency-free default, and `gaitimu.simulate.source.simulated_factory` serves a simulated
session (the demo and ``record --device virtual`` pass it in).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from gaitimu.consts import G
from gaitimu.sensors import protocol as P

log = logging.getLogger(__name__)

VIRTUAL_NAME = "gaitimu-virtual"
VIRTUAL_ADDRESS = "C0:FF:EE:1A:17:01"
FIRMWARE_REVISION = "virtual-1.0"
MODEL_NUMBER = "gaitimu-virtual"


# =========================================================================== sample sources
class SampleSource(Protocol):
    """Where the virtual sensor's samples come from: sample ``k`` at sensor time ``k / rate``."""

    def read(self, start: int, n: int) -> np.ndarray:
        """Samples ``start .. start + n - 1`` as an (n, 6) int16 array in sensor LSB."""
        ...


@dataclass
class SyntheticSource:
    """A simple walking-like signal: gravity on x (up), step-frequency oscillations, noise.

    Deterministic in the sample index (noise from a seeded table), so any stretch can be
    regenerated exactly. The sensor's default source; needs nothing but numpy.
    """

    sampling_rate_hz: float = 200.0
    scales: P.Scales = P.DEFAULT_SCALES
    seed: int = 0
    step_hz: float = 1.8
    _noise: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self._noise = rng.normal(0.0, 1.0, size=(4096, 6))

    def read(self, start: int, n: int) -> np.ndarray:
        k = np.arange(start, start + n)
        t = k / self.sampling_rate_hz
        w = 2 * np.pi * self.step_hz * t
        acc = np.column_stack([
            G + 2.5 * np.cos(w), 1.2 * np.sin(w / 2), 0.8 * np.sin(w + 0.5),
        ]) + 0.05 * self._noise[k % 4096, :3]
        gyr = np.column_stack([
            10 * np.sin(w / 2), 6 * np.sin(w / 2 + 1.0), 25 * np.cos(w / 2),
        ]) + 0.5 * self._noise[k % 4096, 3:]
        return P.physical_to_raw(acc, gyr, self.scales)


@dataclass
class ArraySource:
    """Serves a fixed (m, 6) int16 array, looping (e.g. a simulated session)."""

    raw: np.ndarray

    def read(self, start: int, n: int) -> np.ndarray:
        idx = np.arange(start, start + n) % self.raw.shape[0]
        return np.asarray(self.raw[idx], dtype=np.int16)


SourceFactory = Callable[[int, P.Scales], SampleSource]


def synthetic_factory(seed: int = 0) -> SourceFactory:
    """A factory building a `SyntheticSource` for the rate and ranges the host configures."""
    return lambda rate_hz, scales: SyntheticSource(float(rate_hz), scales, seed)


# =========================================================================== faults
@dataclass
class Faults:
    """Faults injected by the peripheral.

    ``loss_fraction`` of the data packets are produced (sequence number consumed) but not sent,
    as when the sensor's buffer overflows; the choice is seeded.
    """

    loss_fraction: float = 0.0
    seed: int = 0
    att_errors: list[int] = field(default_factory=list)  # error codes for the next control writes


# =========================================================================== the peripheral
class VirtualSensor:
    """A bumble GATT peripheral speaking the gaitimu protocol on a `LocalLink`.

    Parameters
    ----------
    link
        The `bumble.link.LocalLink` shared with the host's (central's) controller.
    name, address
        Advertised local name (must fit the 31-byte advertising packet) and random static address.
    source_factory
        ``(rate_hz, scales) -> SampleSource``; called when the sensor is built and whenever
        the rate or ranges change. Default: `synthetic_factory()`;
        `gaitimu.simulate.source.simulated_factory(...)` serves a simulated session.
    speed
        1.0 = real time; larger runs the sensor clock faster than real time (tests).
    clock_drift_ppm
        How fast the sensor clock runs against the host clock (a crystal is off by ~±50 ppm).
    t0_offset_us
        Sensor clock reading at power on (e.g. close to 2**32 to exercise the wrap-around).
    battery_pct, require_pairing, faults
        Battery level served, refuse control writes from an unencrypted link, injected faults.
    source_from_stream_start
        Serve the source from its first sample when streaming first starts (the demo and
        ``record --device virtual``: a recording then begins with the simulated quiet standing
        however long scanning and connecting took). Off, sample k of the sensor clock since
        power-on is source sample k, as the tests that compare against the source expect.
    """

    def __init__(
        self,
        link,
        *,
        name: str = VIRTUAL_NAME,
        address: str = VIRTUAL_ADDRESS,
        source_factory: SourceFactory | None = None,
        speed: float = 1.0,
        clock_drift_ppm: float = 0.0,
        t0_offset_us: int = 0,
        battery_pct: int = 87,
        require_pairing: bool = False,
        faults: Faults | None = None,
        advertising_interval_ms: float = 100.0,
        source_from_stream_start: bool = False,
    ) -> None:
        if len(name.encode()) > 31 - 3 - 2:
            raise ValueError(f"name {name!r} does not fit the advertising packet")
        self.link = link
        self.name = name
        self.address = address
        self.source_factory = source_factory or synthetic_factory()
        self.speed = float(speed)
        self.clock_drift_ppm = float(clock_drift_ppm)
        self.t0_offset_us = int(t0_offset_us)
        self.battery_pct = int(battery_pct)
        self.require_pairing = require_pairing
        self.faults = faults or Faults()
        self.advertising_interval_ms = advertising_interval_ms
        self.source_from_stream_start = source_from_stream_start
        self._source_origin_k: int | None = None
        self.config = P.SensorConfig(
            rate_hz=P.DEFAULT_RATE_HZ,
            samples_per_packet=P.default_samples_per_packet(P.DEFAULT_RATE_HZ),
            status=P.STATUS_PAIRING_REQUIRED if require_pairing else 0,
        )
        self.source: SampleSource = self.source_factory(self.config.rate_hz, self.config.scales)
        self._rng = np.random.default_rng(self.faults.seed)
        self._seq = 0
        self._device = None
        self._connection = None
        self._stream_task: asyncio.Task | None = None
        self._away_until = -math.inf
        self._boot_loop_s = 0.0
        self._spp_request = 0
        self._stopped = False
        self._overflowed = False
        # Counters, for tests and benchmarks.
        self.packets_sent = 0
        self.packets_dropped = 0
        self.samples_sent = 0
        self.sent_log: list[tuple[int, int]] = []  # (first sample index, n) of every sent packet
        self.dropped_log: list[tuple[int, int]] = []  # the same for packets lost on purpose
        self.identify_requests = 0
        self.connections = 0

    # ------------------------------------------------------------------ clock
    def _loop_s(self) -> float:
        return asyncio.get_running_loop().time()

    def sensor_time_s(self) -> float:
        """Current reading of the sensor clock, seconds since power on."""
        return (self._loop_s() - self._boot_loop_s) * self.speed * (1 + self.clock_drift_ppm * 1e-6)

    def _loop_time_of(self, sensor_s: float) -> float:
        return self._boot_loop_s + sensor_s / (self.speed * (1 + self.clock_drift_ppm * 1e-6))

    def sample_time_s(self, k: int) -> float:
        """Sensor-clock time of sample ``k`` (seconds since power on)."""
        return k / self.config.rate_hz

    # ------------------------------------------------------------------ GATT
    def _build_services(self):
        from bumble import gatt
        from bumble.att import ATT_Error
        from bumble.profiles.battery_service import BatteryService
        from bumble.profiles.device_information_service import DeviceInformationService

        def read_config(_connection) -> bytes:
            return P.encode_config(self.config)

        def write_control(connection, value: bytes) -> None:
            if self.faults.att_errors:
                code = self.faults.att_errors.pop(0)
                raise ATT_Error(code, message="injected fault")
            if self.require_pairing and not connection.is_encrypted:
                raise ATT_Error(0x05, message="pairing required")  # insufficient authentication
            try:
                opcode, args = P.decode_command(bytes(value))
            except P.CommandError as e:
                log.info("virtual sensor refused command %s: %s", bytes(value).hex(), e)
                raise ATT_Error(0x13, message=str(e)) from None  # value not allowed
            self._apply_command(opcode, args)

        self._data_char = gatt.Characteristic(
            P.DATA_CHAR_UUID, gatt.Characteristic.Properties.NOTIFY, gatt.Characteristic.READABLE, b"",
        )
        control = gatt.Characteristic(
            P.CONTROL_CHAR_UUID, gatt.Characteristic.Properties.WRITE,
            gatt.Characteristic.WRITEABLE, gatt.CharacteristicValue(write=write_control),
        )
        config = gatt.Characteristic(
            P.CONFIG_CHAR_UUID, gatt.Characteristic.Properties.READ,
            gatt.Characteristic.READABLE, gatt.CharacteristicValue(read=read_config),
        )
        return [
            gatt.Service(P.SERVICE_UUID, [self._data_char, control, config]),
            BatteryService(lambda _c: self.battery_pct),
            DeviceInformationService(
                manufacturer_name="gaitimu", model_number=MODEL_NUMBER,
                serial_number=self.address.replace(":", ""), firmware_revision=FIRMWARE_REVISION,
            ),
        ]

    def _apply_command(self, opcode: int, args: tuple[int, ...]) -> None:
        cfg = self.config
        if opcode == P.Command.START:
            self._start_stream()
        elif opcode == P.Command.STOP:
            self._stop_stream()
        elif opcode == P.Command.SET_RATE:
            spp = self._spp_request or P.default_samples_per_packet(args[0])
            self._reconfigure(rate_hz=args[0], samples_per_packet=spp)
        elif opcode == P.Command.SET_RANGES:
            self._reconfigure(acc_range_g=args[0], gyr_range_dps=args[1])
        elif opcode == P.Command.SET_SAMPLES_PER_PACKET:
            self._spp_request = args[0]
            self._reconfigure(samples_per_packet=args[0] or P.default_samples_per_packet(cfg.rate_hz))
        elif opcode == P.Command.IDENTIFY:
            self.identify_requests += 1
            log.info("virtual sensor: identify for %d s (LED blinks)", args[0])

    def _reconfigure(self, **changes) -> None:
        streaming = self._stream_task is not None
        if streaming:
            self._stop_stream()
        old = (self.config.rate_hz, self.config.scales)
        self.config = P.SensorConfig(**{**self.config.__dict__, **changes})
        if (self.config.rate_hz, self.config.scales) != old:  # sources can be slow to build
            self.source = self.source_factory(self.config.rate_hz, self.config.scales)
            self._source_origin_k = None  # sample indices count at the new rate
        if streaming:
            self._start_stream()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Power on, serve the GATT database and advertise."""
        from bumble.controller import Controller
        from bumble.device import Device
        from bumble.hci import Address
        from bumble.host import Host
        from bumble.transport.common import AsyncPipeSink

        controller = Controller(f"{self.name}-ctrl", link=self.link)
        device = Device(name=self.name, address=Address(self.address),
                        host=Host(controller, AsyncPipeSink(controller)))
        device.le_enabled = True
        device.add_services(self._build_services())
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self._device = device
        await device.power_on()
        self._boot_loop_s = self._loop_s()
        await self._advertise()
        log.info("virtual sensor %s (%s) advertising", self.name, self.address)

    async def _advertise(self) -> None:
        from bumble.core import AdvertisingData

        adv = AdvertisingData([
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
        ])
        await self._device.start_advertising(
            advertising_data=bytes(adv),
            advertising_interval_min=self.advertising_interval_ms,
            advertising_interval_max=self.advertising_interval_ms,
        )

    async def stop(self) -> None:
        """Stop streaming, disconnect and stop advertising."""
        self._stopped = True
        self._stop_stream()
        if self._device is None:
            return
        try:
            if self._connection is not None:
                await self._connection.disconnect()
            if self._device.is_advertising:
                await self._device.stop_advertising()
        except Exception as e:  # best effort at shutdown
            log.debug("virtual sensor stop: %s", e)

    def _on_connection(self, connection) -> None:
        self.connections += 1
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, lambda *_: self._on_disconnection())
        log.info("virtual sensor: connected to %s", connection.peer_address)

    def _on_disconnection(self) -> None:
        log.info("virtual sensor: disconnected")
        self._connection = None
        self._stop_stream()
        delay = max(0.0, self._away_until - self._loop_s())
        asyncio.get_running_loop().call_later(delay, self._readvertise)

    def _readvertise(self) -> None:
        if self._connection is None and self._device is not None and not self._stopped:
            task = asyncio.ensure_future(self._advertise())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def drop_link(self, away_s: float, *, reboot: bool = False) -> None:
        """Fault: drop the connection and stay silent (no advertising) for ``away_s`` seconds.

        With ``reboot`` the sensor also restarts: its clock and sequence number start again
        from zero when it comes back (configuration back to defaults is not simulated).
        """
        self._away_until = self._loop_s() + away_s
        if reboot:
            self._seq = 0
            self._boot_loop_s = self._away_until
        if self._connection is not None:
            await self._connection.disconnect()
        else:
            await self._device.stop_advertising()
            asyncio.get_running_loop().call_later(away_s, self._readvertise)

    # ------------------------------------------------------------------ streaming
    def _start_stream(self) -> None:
        if self._stream_task is None:
            self.config = P.SensorConfig(**{**self.config.__dict__,
                                            "status": self.config.status | P.STATUS_STREAMING})
            self._stream_task = asyncio.ensure_future(self._stream())

    def _stop_stream(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            self._stream_task = None
            self.config = P.SensorConfig(**{**self.config.__dict__,
                                            "status": self.config.status & ~P.STATUS_STREAMING})

    def _encode(self, k: int, raw: np.ndarray) -> list[bytes]:
        """The notifications carrying samples ``k ..`` (``raw``): one gaitimu packet. A twin
        of another device overrides it with that device's format."""
        t0_us = round(k * 1e6 / self.config.rate_hz) + self.t0_offset_us
        packet = P.encode_packet(self._seq, t0_us, raw, P.FLAG_OVERFLOW if self._overflowed else 0)
        self._seq += 1
        return [packet]

    async def _stream(self) -> None:
        cfg = self.config
        rate = cfg.rate_hz
        spp = cfg.samples_per_packet
        k = math.ceil(self.sensor_time_s() * rate)  # first sample not yet taken
        if self._source_origin_k is None:
            self._source_origin_k = k if self.source_from_stream_start else 0
        try:
            while True:
                k_last = k + spp - 1
                due = self._loop_time_of(k_last / rate)
                delay = due - self._loop_s()
                if delay > 0:
                    await asyncio.sleep(delay)
                packets = self._encode(k, self.source.read(k - self._source_origin_k, spp))
                if self.faults.loss_fraction and self._rng.random() < self.faults.loss_fraction:
                    # as a real sensor whose ring buffer overflowed: the packet is gone and the
                    # next one carries the overflow flag
                    self.packets_dropped += 1
                    self.dropped_log.append((k, spp))
                    self._overflowed = True
                    self.config = P.SensorConfig(**{**self.config.__dict__,
                                                    "overflow_packets": self.packets_dropped})
                elif self._connection is not None:
                    for packet in packets:
                        await self._device.notify_subscribers(self._data_char, packet)
                    self.packets_sent += 1
                    self.samples_sent += spp
                    self._overflowed = False
                    self.sent_log.append((k, spp))
                k += spp
                if delay <= 0:
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            pass
        except Exception as e:  # a failed notify ends this stream; the host restarts it
            log.info("virtual sensor stream ended: %s", e)
