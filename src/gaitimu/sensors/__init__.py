"""Sensors: the gaitimu BLE protocol, decoders, the bleak client and the virtual sensor."""
