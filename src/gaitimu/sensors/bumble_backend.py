"""A bleak backend over bumble's in-process virtual radio (`bumble.link.LocalLink`).

bleak 3 lets `BleakScanner(backend=...)` and `BleakClient(..., backend=...)` take a backend
class. The classes here drive a bumble `Device` (the host's "adapter", with an emulated
controller) on a `LocalLink` shared with the virtual sensor (`gaitimu.sensors.virtual`), so
the recorder runs unchanged through bleak's public API with real advertising, connection,
MTU exchange, GATT discovery, reads, writes and notifications. Real hardware uses bleak's
normal platform backends.

Backends are bound to one `VirtualRadio` by `make_backends`, so each test can use a fresh
`LocalLink`::

    radio = VirtualRadio(LocalLink())
    scanner_cls, client_cls = make_backends(radio)
    device = await BleakScanner.find_device_by_name("gaitimu-virtual", backend=scanner_cls)
    async with BleakClient(device, backend=client_cls) as client: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as _uuid
from collections.abc import AsyncIterator
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError

log = logging.getLogger(__name__)

HOST_ADDRESS = "F0:0D:F0:0D:F0:0D"
REQUESTED_ATT_MTU = 247  # 244-byte notifications; bumble otherwise cuts them to 20 bytes

_PROPERTY_NAMES = (
    (0x01, "broadcast"), (0x02, "read"), (0x04, "write-without-response"), (0x08, "write"),
    (0x10, "notify"), (0x20, "indicate"), (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)


def _uuid_str(u) -> str:
    """bumble UUID -> bleak's normalised lowercase 128-bit string."""
    return str(_uuid.UUID(bytes=bytes(reversed(u.to_bytes(force_128=True)))))


class VirtualRadio:
    """The host's BLE adapter on a bumble `LocalLink`: one central bumble `Device`.

    Parameters
    ----------
    link
        The link shared with the virtual sensor(s); a fresh one per test.
    address
        Random static address of the host.
    """

    def __init__(self, link=None, address: str = HOST_ADDRESS) -> None:
        from bumble.link import LocalLink

        self.link = link if link is not None else LocalLink()
        self.address = address
        self.device = None
        self._on_lock = asyncio.Lock()
        self.connect_lock = asyncio.Lock()  # bumble allows one pending LE connection
        self._scanners = 0

    async def ensure_on(self):
        async with self._on_lock:
            if self.device is None:
                from bumble.controller import Controller
                from bumble.device import Device
                from bumble.hci import Address
                from bumble.host import Host
                from bumble.transport.common import AsyncPipeSink

                controller = Controller("gaitimu-host-ctrl", link=self.link)
                device = Device(name="gaitimu-host", address=Address(self.address),
                                host=Host(controller, AsyncPipeSink(controller)))
                await device.power_on()
                self.device = device
        return self.device

    async def scanner_started(self) -> None:
        device = await self.ensure_on()
        self._scanners += 1
        if self._scanners == 1:
            await device.start_scanning(filter_duplicates=False)

    async def scanner_stopped(self) -> None:
        self._scanners = max(0, self._scanners - 1)
        if self._scanners == 0 and self.device is not None and self.device.scanning:
            await self.device.stop_scanning()


def make_backends(radio: VirtualRadio) -> tuple[type[BaseBleakScanner], type[BaseBleakClient]]:
    """Scanner and client backend classes bound to ``radio`` (for ``backend=`` in bleak)."""
    scanner = type("BumbleScanner", (BumbleScanner,), {"radio": radio})
    client = type("BumbleClient", (BumbleClient,), {"radio": radio})
    return scanner, client


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend: bumble advertising reports -> bleak detection callbacks."""

    radio: VirtualRadio

    def __init__(self, detection_callback=None, service_uuids=None, scanning_mode="active",
                 **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._listening = False

    async def start(self) -> None:
        self.seen_devices = {}
        await self.radio.ensure_on()
        self.radio.device.on("advertisement", self._on_advertisement)
        self._listening = True
        await self.radio.scanner_started()

    async def stop(self) -> None:
        if self._listening:
            self._listening = False
            self.radio.device.remove_listener("advertisement", self._on_advertisement)
            await self.radio.scanner_stopped()

    def _on_advertisement(self, advertisement) -> None:
        from bumble.core import AdvertisingData

        data = advertisement.data
        name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(
            AdvertisingData.SHORTENED_LOCAL_NAME)
        uuids: list[str] = []
        for t in (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                  AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                  AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                  AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS):
            uuids += [_uuid_str(u) for u in (data.get(t) or [])]
        if not self.is_allowed_uuid(uuids):
            return
        address = advertisement.address.to_string(False)
        rssi = advertisement.rssi
        if rssi == advertisement.RSSI_NOT_AVAILABLE:
            rssi = -127
        adv = AdvertisementData(
            local_name=name, manufacturer_data={}, service_data={}, service_uuids=uuids,
            tx_power=None, rssi=rssi, platform_data=(advertisement,),
        )
        device = self.create_or_update_device(address, address, name, advertisement.address, adv)
        self.call_detection_callbacks(device, adv)


class BumbleClient(BaseBleakClient):
    """bleak client backend: connect, discover, read, write and notify over bumble."""

    radio: VirtualRadio

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        # bleak and bleak-retry-connector pass extra keyword arguments (bluez, winrt, services...)
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.get("disconnected_callback"),
            timeout=kwargs.get("timeout", 10.0),
        )
        self._name = (address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice)
                      else None) or self.address
        self._connection = None
        self._peer = None
        self._mtu = 23
        self._closing = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def mtu_size(self) -> int:
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool = False, **kwargs: Any) -> None:
        from bumble.core import BaseBumbleError
        from bumble.device import Peer
        from bumble.hci import Address

        device = await self.radio.ensure_on()
        try:
            async with self.radio.connect_lock:
                connection = await device.connect(
                    Address(self.address), timeout=self._timeout)
        except (BaseBumbleError, TimeoutError) as e:
            raise BleakDeviceNotFoundError(self.address, f"cannot connect: {e}") from None
        self._closing = False
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            self._peer = Peer(connection)
            if pair:
                await self.pair()
            self._mtu = await self._peer.request_mtu(REQUESTED_ATT_MTU)
            await self._peer.discover_all()
            self.services = self._collect_services()
        except Exception as e:
            await self.disconnect()
            raise BleakError(f"service discovery failed: {e}") from None

    def _collect_services(self) -> BleakGATTServiceCollection:
        coll = BleakGATTServiceCollection()
        for s in self._peer.services:
            bs = BleakGATTService(s, s.handle, _uuid_str(s.uuid))
            coll.add_service(bs)
            for c in s.characteristics:
                props = [name for bit, name in _PROPERTY_NAMES if c.properties & bit]
                bc = BleakGATTCharacteristic(
                    c, c.handle, _uuid_str(c.uuid), props, lambda: self._mtu - 3, bs)
                coll.add_characteristic(bc)
                for d in c.descriptors:
                    coll.add_descriptor(BleakGATTDescriptor(d, d.handle, _uuid_str(d.type), bc))
        return coll

    def _on_disconnection(self, *_args) -> None:
        self._connection = None
        self._peer = None
        if not self._closing and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        self._closing = True
        connection = self._connection
        if connection is None:
            return
        try:
            await connection.disconnect()
        except Exception as e:  # already gone
            log.debug("disconnect: %s", e)
        self._connection = None
        self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        if self._connection is None:
            raise BleakError("Not connected")
        await self._connection.pair()

    async def unpair(self) -> None:
        log.debug("unpair is a no-op on the virtual radio")

    def _require_peer(self):
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def _att(self, coro):
        from bumble.att import ATT_Error
        from bumble.core import BaseBumbleError

        try:
            return await coro
        except ATT_Error as e:
            raise BleakGATTProtocolError(e.error_code) from None
        except (BaseBumbleError, ConnectionError) as e:
            raise BleakError(str(e)) from None

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._att(peer.read_value(characteristic.obj)))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._att(peer.read_value(descriptor.obj)))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data,
                              response: bool) -> None:
        peer = self._require_peer()
        await self._att(peer.write_value(characteristic.obj, bytes(data), with_response=response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data) -> None:
        peer = self._require_peer()
        await self._att(peer.write_value(descriptor.obj, bytes(data), with_response=True))

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        peer = self._require_peer()
        await self._att(peer.subscribe(characteristic.obj, lambda v: callback(bytearray(v)),
                                       prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        await self._att(peer.unsubscribe(characteristic.obj))


def require_bumble() -> None:
    """`DeviceError` (one line, exit 3) when the optional ``bumble`` package is missing."""
    from gaitimu.errors import DeviceError

    try:
        import bumble  # noqa: F401
    except ImportError:
        raise DeviceError("the virtual sensor needs the optional 'bumble' package "
                          "(pip install 'gaitimu[virtual]')") from None


def virtual_kinds() -> dict[str, type]:
    """The virtual twin class of every sensor kind (the gaitimu sensor and each adapter's)."""
    from gaitimu.sensors.virtual import VirtualSensor
    from gaitimu.sensors.virtual_movesense import VirtualMovesense
    from gaitimu.sensors.virtual_witmotion import VirtualWitMotion

    return {"gaitimu": VirtualSensor, "witmotion": VirtualWitMotion,
            "movesense": VirtualMovesense}


def virtual_name(kind: str) -> str:
    """The name the virtual sensor of ``kind`` advertises."""
    from gaitimu.sensors import virtual, virtual_movesense, virtual_witmotion

    return {"gaitimu": virtual.VIRTUAL_NAME, "witmotion": virtual_witmotion.VIRTUAL_NAME,
            "movesense": virtual_movesense.VIRTUAL_NAME}[kind]


@contextlib.asynccontextmanager
async def virtual_link(*, kinds: tuple[str, ...] = ("gaitimu",),
                       **sensor_options: Any) -> AsyncIterator[tuple[type, type]]:
    """The built-in virtual sensor advertising on a fresh in-process radio, for as long as
    the context lasts; yields the bleak ``(scanner_backend, client_backend)`` that reach it.

    ``sensor_options`` go to `gaitimu.sensors.virtual.VirtualSensor` (``source_factory``:
    what it serves, e.g. `gaitimu.simulate.source.simulated_factory(...)`; default the
    synthetic signal; ``speed``, ``source_from_stream_start``, ...). ``kinds``: which
    virtual sensors advertise (`virtual_kinds`; e.g. the WitMotion twin), each with those
    options. The one place the record, scan, demo and self-test paths set up the virtual
    radio.
    """
    require_bumble()
    classes = virtual_kinds()
    radio = VirtualRadio()
    sensors = [classes[kind](radio.link, **sensor_options) for kind in kinds]
    for sensor in sensors:
        await sensor.start()
    try:
        yield make_backends(radio)
    finally:
        for sensor in sensors:
            await sensor.stop()
