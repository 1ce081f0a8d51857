"""A virtual Movesense sensor speaking the GATT SensorData Protocol on the bumble radio.

`VirtualMovesense` is the built-in virtual sensor (`gaitimu.sensors.virtual.VirtualSensor`:
radio, advertising, connection, link drops, pacing on its own drifting clock, ``speed``,
sample sources, injected loss) with the GSP layout and behaviour of
`gaitimu.sensors.adapters.movesense` (firmware_notes/movesense.md), byte for byte:

- advertises a ``Movesense ...`` name; the GSP service with its write (commands) and notify
  (results and data) characteristics, nothing else;
- HELLO is answered ``01 ref 'Hello'``; SUBSCRIBE ``/Meas/IMU6/<rate>`` (13 ... 1666 Hz)
  starts the stream at that rate tagged with the command's reference; UNSUBSCRIBE with that
  reference stops it; a path it does not serve is ignored (the sample firmware answers
  nothing when the subscription fails); a second subscription gets ``01 ref FB 01`` (507);
- streams the samples in messages of the rate's batch (`SAMPLES_PER_MESSAGE`: 16 at
  208 Hz), each sent once its last sample is taken: uint32 ms timestamp of the first sample
  (its clock, offset by ``t0_offset_us``, wrapping at 2**32 ms), all acc vectors, all gyro
  vectors, float32; a message longer than a 155-byte notification continues in DATA_PART2
  and DATA_PART3 notifications;
- a dropped connection ends every subscription (the host subscribes again); its clock goes on.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from gaitimu.sensors import protocol as P
from gaitimu.sensors.adapters import movesense as M
from gaitimu.sensors.virtual import SourceFactory, VirtualSensor, synthetic_factory

log = logging.getLogger(__name__)

VIRTUAL_NAME = "Movesense virtual"  # real ones: "Movesense <12-digit serial>"
VIRTUAL_ADDRESS = "C0:FF:EE:1A:17:03"
DEFAULT_RATE_HZ = 104
STATUS_INSUFFICIENT_STORAGE = 507


class VirtualMovesense(VirtualSensor):
    """The Movesense twin; parameters as `VirtualSensor`'s (``t0_offset_us`` shifts its
    clock, e.g. to just before the 32-bit ms wrap)."""

    def __init__(self, link, *, name: str = VIRTUAL_NAME, address: str = VIRTUAL_ADDRESS,
                 source_factory: SourceFactory | None = None, **options) -> None:
        super().__init__(link, name=name, address=address,
                         source_factory=lambda _rate, _scales: None, **options)
        self.source_factory = source_factory or synthetic_factory()
        self.config = P.SensorConfig(protocol_version=0, rate_hz=DEFAULT_RATE_HZ,
                                     acc_range_g=M.ACC_RANGE_G, gyr_range_dps=M.GYR_RANGE_DPS,
                                     samples_per_packet=M.SAMPLES_PER_MESSAGE[DEFAULT_RATE_HZ])
        self.source = None  # built when a subscription starts the stream (can be slow)
        self.reference: int | None = None  # the client reference of the subscription
        self.ignored_commands = 0

    # ------------------------------------------------------------------ GATT
    def _build_services(self):
        from bumble import gatt

        self._data_char = gatt.Characteristic(
            M.NOTIFY_UUID, gatt.Characteristic.Properties.NOTIFY, gatt.Characteristic.READABLE,
            b"")
        write = gatt.Characteristic(
            M.WRITE_UUID, gatt.Characteristic.Properties.WRITE, gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_write))
        return [gatt.Service(M.SERVICE_UUID, [write, self._data_char])]

    def _on_write(self, _connection, value: bytes) -> None:
        value = bytes(value)
        if len(value) < 2:
            self.ignored_commands += 1
            return
        cmd, ref, data = value[0], value[1], value[2:]
        if cmd == M.CMD_HELLO:
            self._notify_soon(bytes([M.RESP_COMMAND_RESULT, ref]) + M.HELLO_REPLY)
        elif cmd == M.CMD_SUBSCRIBE and self.reference is not None:
            self._notify_soon(M.command_result(ref, STATUS_INSUFFICIENT_STORAGE))
        elif cmd == M.CMD_SUBSCRIBE and (rate := _imu6_rate(data)) is not None:
            self.reference = ref
            self._reconfigure(rate_hz=rate, samples_per_packet=M.SAMPLES_PER_MESSAGE[rate])
            if self.source is None:
                self.source = self.source_factory(rate, self.config.scales)
            self._start_stream()
        elif cmd == M.CMD_UNSUBSCRIBE and ref == self.reference:
            self.reference = None
            self._stop_stream()
        else:
            self.ignored_commands += 1
            log.info("virtual Movesense ignored command %s", value.hex())

    def _notify_soon(self, value: bytes) -> None:
        if self._connection is not None:
            task = asyncio.ensure_future(self._device.notify_subscribers(self._data_char, value))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _on_disconnection(self) -> None:
        self.reference = None  # the sensor ends its subscriptions when the peer goes
        super()._on_disconnection()

    # ------------------------------------------------------------------ streaming
    def _encode(self, k: int, raw: np.ndarray) -> list[bytes]:
        """One IMU6 message: samples ``k ..`` at the sensor's ms clock, float32 SI units."""
        acc, gyr = P.raw_to_physical(raw, self.config.scales)
        timestamp_ms = (k * 1_000_000 // self.config.rate_hz + self.t0_offset_us) // 1000
        return M.data_notifications(self.reference or 0, M.encode_imu6(timestamp_ms, acc, gyr))


def _imu6_rate(path: bytes) -> int | None:
    """The rate of ``/Meas/IMU6/<rate>`` (a rate the sensor has), else None."""
    text = path.split(b"\0", 1)[0].decode("utf-8", "replace")
    prefix = M.imu6_path(0)[:-1]
    if not text.startswith(prefix) or not text[len(prefix):].isdigit():
        return None
    rate = int(text[len(prefix):])
    return rate if rate in M.SAMPLES_PER_MESSAGE else None
