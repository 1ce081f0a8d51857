"""A virtual WitMotion WT901BLECL / BWT901BLE5.0 on the bumble radio, byte for byte.

`VirtualWitMotion` is the built-in virtual sensor (`gaitimu.sensors.virtual.VirtualSensor`:
radio, advertising, connection, link drops, pacing on its own drifting clock, ``speed``,
sample sources) with the WitMotion GATT layout and behaviour of
`gaitimu.sensors.adapters.witmotion` (firmware_notes/witmotion_wt901ble.md):

- advertises a ``WT...`` name; service ``ffe5`` (WitMotion's ``...9a34fb`` base) with
  ``ffe4`` notify and ``ffe9`` write-without-response, nothing else;
- streams from the moment notifications are enabled (no start command), at the default
  10 Hz until the rate register is written;
- one 20-byte ``0x55 0x61`` frame per notification (acc, gyr and angles; no counter, no
  time), the frames sampled since the last connection event sent together every
  ``connection_interval_s``;
- register writes count only within 10 s of the unlock command and are otherwise ignored
  (as the device does); ``FF AA 27 reg 00`` is answered with a ``0x55 0x71`` frame;
  malformed command bytes are ignored (write-without-response cannot refuse them).
"""

from __future__ import annotations

import asyncio
import logging
import math

from gaitimu.sensors import protocol as P
from gaitimu.sensors.adapters import witmotion as W
from gaitimu.sensors.virtual import SourceFactory, VirtualSensor, synthetic_factory

log = logging.getLogger(__name__)

VIRTUAL_NAME = "WT901BLE-virtual"
VIRTUAL_ADDRESS = "C0:FF:EE:1A:17:02"
BATTERY_CENTIVOLT = 395  # register 0x64: 3.95 V


class VirtualWitMotion(VirtualSensor):
    """The WitMotion twin; parameters as `VirtualSensor`'s, plus ``connection_interval_s``
    (how often the frames taken since the last connection event go out)."""

    def __init__(self, link, *, name: str = VIRTUAL_NAME, address: str = VIRTUAL_ADDRESS,
                 source_factory: SourceFactory | None = None,
                 connection_interval_s: float = 0.0075, **options) -> None:
        super().__init__(link, name=name, address=address,
                         source_factory=lambda _rate, _scales: None, **options)
        self.source_factory = source_factory or synthetic_factory()
        self.config = P.SensorConfig(protocol_version=0, rate_hz=W.DEFAULT_RATE_HZ,
                                     acc_range_g=W.ACC_RANGE_G, gyr_range_dps=W.GYR_RANGE_DPS,
                                     samples_per_packet=1)
        self.source = None  # built when the rate is set or the stream starts (can be slow)
        self.connection_interval_s = connection_interval_s
        self._unlocked_at = -math.inf
        self.ignored_writes = 0

    # ------------------------------------------------------------------ GATT
    def _build_services(self):
        from bumble import gatt

        self._data_char = gatt.Characteristic(
            W.NOTIFY_UUID, gatt.Characteristic.Properties.NOTIFY, gatt.Characteristic.READABLE,
            b"")
        self._data_char.on("subscription", self._on_subscription)
        write = gatt.Characteristic(
            W.WRITE_UUID, gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE, gatt.CharacteristicValue(write=self._on_write))
        return [gatt.Service(W.SERVICE_UUID, [self._data_char, write])]

    def _on_subscription(self, _bearer, notify_enabled: bool, _indicate: bool) -> None:
        if notify_enabled:
            self._start_stream()
        else:
            self._stop_stream()

    def _on_write(self, _connection, value: bytes) -> None:
        try:
            reg, val = W.decode_command(bytes(value))
        except W.CommandError as e:
            self.ignored_writes += 1
            log.info("virtual WitMotion ignored %s", e)
            return
        now = self.sensor_time_s()
        if reg == W.REG_UNLOCK and val == W.UNLOCK_VALUE:
            self._unlocked_at = now
        elif reg == W.REG_READ:
            self._reply(val & 0xFF)
        elif now - self._unlocked_at > W.UNLOCK_WINDOW_S:
            self.ignored_writes += 1  # locked: the device ignores register writes
        elif reg == W.REG_RATE and val in W.CODE_RATES and W.CODE_RATES[val] >= 1:
            self._reconfigure(rate_hz=int(W.CODE_RATES[val]))

    def _reply(self, reg: int) -> None:
        registers = {W.REG_RATE: W.RATE_CODES[self.config.rate_hz], W.REG_BATTERY: BATTERY_CENTIVOLT}
        frame = W.encode_reply(reg, [registers.get(reg + i, 0) for i in range(8)])
        if self._connection is not None:
            task = asyncio.ensure_future(self._device.notify_subscribers(self._data_char, frame))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # ------------------------------------------------------------------ streaming
    async def _stream(self) -> None:
        rate = self.config.rate_hz
        if self.source is None:
            self.source = self.source_factory(rate, self.config.scales)
        k = math.ceil(self.sensor_time_s() * rate)  # first sample not yet taken
        if self._source_origin_k is None:
            self._source_origin_k = k if self.source_from_stream_start else 0
        try:
            while True:
                taken = math.floor(self.sensor_time_s() * rate) + 1  # samples taken by now
                if taken > k and self._connection is not None:
                    raw = self.source.read(k - self._source_origin_k, taken - k)
                    angles = W.angles_lsb(raw)
                    for i in range(raw.shape[0]):  # one frame per notification
                        await self._device.notify_subscribers(
                            self._data_char, W.encode_frame(raw[i], angles[i]))
                        self.sent_log.append((k + i, 1))
                    self.packets_sent += raw.shape[0]
                    self.samples_sent += raw.shape[0]
                k = max(k, taken)
                await asyncio.sleep(self.connection_interval_s)
        except asyncio.CancelledError:
            pass
        except Exception as e:  # a failed notify ends this stream; a new subscription restarts it
            log.info("virtual WitMotion stream ended: %s", e)
