"""The virtual sensor and the bleak backend over bumble: real GATT traffic through bleak's API.

Each test builds a fresh `LocalLink` (its own in-process radio) and runs in its own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError
from bleak_retry_connector import establish_connection

from gaitimu.errors import DeviceError
from gaitimu.sensors import protocol as P
from gaitimu.sensors.bumble_backend import VirtualRadio, make_backends
from gaitimu.sensors.client import Recorder, RecordOptions, scan
from gaitimu.sensors.virtual import VIRTUAL_NAME, Faults, SyntheticSource, VirtualSensor

pytest.importorskip("bumble")


@contextlib.asynccontextmanager
async def rig(**sensor_kwargs):
    from bumble.link import LocalLink

    link = LocalLink()
    sensor = VirtualSensor(link, **sensor_kwargs)
    await sensor.start()
    scanner_cls, client_cls = make_backends(VirtualRadio(link))
    try:
        yield sensor, scanner_cls, client_cls
    finally:
        await sensor.stop()


def run(coro, timeout_s: float = 60.0):
    async def with_timeout():
        async with asyncio.timeout(timeout_s):
            return await coro
    return asyncio.run(with_timeout())


def test_scan_finds_virtual_sensor_with_battery():
    async def main():
        async with rig(battery_pct=64) as (_sensor, S, C):
            return await scan(1.0, scanner_backend=S, client_backend=C)
    found = run(main())
    assert [(f.name, f.address, f.battery_pct) for f in found] == [
        (VIRTUAL_NAME, "C0:FF:EE:1A:17:01", 64)]


def test_gatt_layout_mtu_config_and_full_size_notifications():
    async def main():
        async with rig() as (sensor, S, C):
            dev = await BleakScanner.find_device_by_name(VIRTUAL_NAME, timeout=5, backend=S)
            assert dev is not None
            async with BleakClient(dev, backend=C) as c:
                uuids = {s.uuid for s in c.services}
                assert {P.SERVICE_UUID, P.BATTERY_SERVICE_UUID, P.DEVICE_INFO_SERVICE_UUID} <= uuids
                svc = c.services.get_service(P.SERVICE_UUID)
                props = {ch.uuid: ch.properties for ch in svc.characteristics}
                assert props[P.DATA_CHAR_UUID] == ["notify"]
                assert "write" in props[P.CONTROL_CHAR_UUID]
                assert "read" in props[P.CONFIG_CHAR_UUID]
                assert c.mtu_size >= 247
                fw = bytes(await c.read_gatt_char(P.FIRMWARE_REVISION_UUID)).decode()
                assert fw.startswith("virtual")
                got: list[bytes] = []
                await c.start_notify(P.DATA_CHAR_UUID, lambda _ch, d: got.append(bytes(d)))
                for cmd in (P.encode_command(P.Command.SET_SAMPLES_PER_PACKET, 19),
                            P.encode_command(P.Command.SET_RATE, 400),
                            P.encode_command(P.Command.START)):
                    await c.write_gatt_char(P.CONTROL_CHAR_UUID, cmd, response=True)
                cfg = P.decode_config(await c.read_gatt_char(P.CONFIG_CHAR_UUID))
                assert (cfg.rate_hz, cfg.samples_per_packet, cfg.streaming) == (400, 19, True)
                await asyncio.sleep(0.5)
                return got, sensor
    got, sensor = run(main())
    assert len(got) >= 5
    assert {len(g) for g in got} == {P.HEADER_SIZE + 19 * 12}  # 238 bytes, not cut to 20
    pkts = [P.decode_packet(g) for g in got]
    k0 = sensor.sent_log[0][0]
    np.testing.assert_array_equal(pkts[0].raw, sensor.source.read(k0, 19))
    assert [p.seq for p in pkts] == list(range(pkts[0].seq, pkts[0].seq + len(pkts)))


def test_sensor_checks_write_permissions_itself():
    async def main():
        async with rig(require_pairing=True) as (sensor, S, C):
            dev = await BleakScanner.find_device_by_address(sensor.address, timeout=5, backend=S)
            async with BleakClient(dev, backend=C) as c:
                cfg = P.decode_config(await c.read_gatt_char(P.CONFIG_CHAR_UUID))
                assert cfg.status & P.STATUS_PAIRING_REQUIRED
                with pytest.raises(BleakGATTProtocolError) as e:
                    await c.write_gatt_char(P.CONTROL_CHAR_UUID, P.encode_command(P.Command.START),
                                            response=True)
                return e.value
    err = run(main())
    assert "Authentication" in str(err)


def test_invalid_command_gets_att_error_and_identify_works():
    async def main():
        async with rig() as (sensor, S, C):
            dev = await BleakScanner.find_device_by_name(VIRTUAL_NAME, timeout=5, backend=S)
            async with BleakClient(dev, backend=C) as c:
                with pytest.raises(BleakGATTProtocolError):
                    await c.write_gatt_char(P.CONTROL_CHAR_UUID, b"\x03\x00\x10", response=True)
                await c.write_gatt_char(P.CONTROL_CHAR_UUID,
                                        P.encode_command(P.Command.IDENTIFY, 3), response=True)
            return sensor.identify_requests
    assert run(main()) == 1


def test_bleak_retry_connector_and_reconnect_after_drop():
    async def main():
        async with rig() as (sensor, S, C):
            dev = await BleakScanner.find_device_by_name(VIRTUAL_NAME, timeout=5, backend=S)
            lost = asyncio.Event()
            client = await establish_connection(BleakClient, dev, dev.name,
                                                disconnected_callback=lambda _c: lost.set(),
                                                max_attempts=2, backend=C)
            await sensor.drop_link(0.5)
            await asyncio.wait_for(lost.wait(), 5)
            assert not client.is_connected
            dev = await BleakScanner.find_device_by_address(sensor.address, timeout=5, backend=S)
            client = await establish_connection(BleakClient, dev, dev.name, max_attempts=3, backend=C)
            battery = (await client.read_gatt_char(P.BATTERY_LEVEL_UUID))[0]
            await client.disconnect()
            return battery, sensor.connections
    assert run(main()) == (87, 2)


def test_recorder_reports_missing_device_as_device_error(tmp_path):
    async def main():
        async with rig() as (_sensor, S, C):
            rec = Recorder(RecordOptions(out=tmp_path / "x.gaitimu", device="no-such-sensor",
                                         scan_timeout_s=0.5), scanner_backend=S, client_backend=C)
            await rec.run()
    with pytest.raises(DeviceError, match="not found"):
        run(main())
    assert not (tmp_path / "x.gaitimu").exists()


def test_recorder_turns_att_error_during_configuration_into_device_error(tmp_path):
    async def main():
        async with rig(faults=Faults(att_errors=[0x0E])) as (_sensor, S, C):
            rec = Recorder(RecordOptions(out=tmp_path / "x.gaitimu", device=VIRTUAL_NAME,
                                         duration_s=1), scanner_backend=S, client_backend=C)
            await rec.run()
    with pytest.raises(DeviceError, match="cannot configure"):
        run(main())


def test_synthetic_source_is_a_function_of_the_sample_index():
    src = SyntheticSource(200.0, P.Scales(), seed=3)
    whole = src.read(100, 50)
    np.testing.assert_array_equal(whole[10:20], src.read(110, 10))
    assert whole.dtype == np.int16


def test_virtual_sensor_does_not_import_the_simulator():
    import subprocess
    import sys

    code = ("import sys, gaitimu.sensors.virtual as v; v.synthetic_factory()(200, v.P.Scales()); "
            "print(sorted(m for m in sys.modules if m.startswith('gaitimu.simulate')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_paired_central_may_control_a_sensor_that_requires_pairing():
    async def main():
        async with rig(require_pairing=True) as (sensor, S, C):
            dev = await BleakScanner.find_device_by_name(VIRTUAL_NAME, timeout=5, backend=S)
            async with BleakClient(dev, backend=C, pair=True) as c:
                await c.write_gatt_char(P.CONTROL_CHAR_UUID,
                                        P.encode_command(P.Command.IDENTIFY, 1), response=True)
            return sensor.identify_requests
    assert run(main(), timeout_s=30) == 1


def test_recorder_pairs_when_asked_and_records_from_a_pairing_only_sensor(tmp_path):
    from gaitimu.sessions import open_session

    async def main():
        async with rig(require_pairing=True, speed=10.0) as (_sensor, S, C):
            rec = Recorder(RecordOptions(out=tmp_path / "p.gaitimu", device=VIRTUAL_NAME,
                                         duration_s=2, pair=True, correct_drift=False),
                           scanner_backend=S, client_backend=C)
            return await rec.run()
    res = run(main())
    assert res.n_samples == 400
    assert open_session(tmp_path / "p.gaitimu").t_s.size == 400
