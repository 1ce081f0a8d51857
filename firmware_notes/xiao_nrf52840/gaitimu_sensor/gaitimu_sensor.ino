// gaitimu reference firmware: Seeed Studio XIAO nRF52840 Sense (LSM6DS3TR-C IMU).
//
// Implements firmware_notes/PROTOCOL.md (protocol v1): gaitimu service (data notify, control
// write, config/status read), Battery and Device Information services, a ring buffer of
// packets with overflow accounting (SIZING.md), optional LE Secure Connections pairing
// (SECURITY.md) and the nominal axis map x=up, y=right, z=forward (MOUNTING.md).
//
// NOT COMPILED OR RUN HERE: the gaitimu repository's CI has no Arduino toolchain or board.
// It is written against the "Seeed nRF52 Boards" (non-mbed) core with Adafruit Bluefruit and
// the "Seeed Arduino LSM6DS3" library; see README.md next to it for build/flash steps and for
// what to verify on hardware first.

#include <Arduino.h>
#include <bluefruit.h>
#include <Wire.h>
#include "LSM6DS3.h"

// ----------------------------------------------------------------------------- options
#define REQUIRE_PAIRING 0      // 1: control writes need an encrypted (paired) link
#define RING_PACKETS 40        // ~2 s at the default ~20 packets/s
#define MAX_SPP 19             // samples per packet at ATT MTU 247
// Chip axis -> sensor axis for the recommended enclosure orientation (MOUNTING.md): USB-C
// down, components facing away from the skin. out[i] = SIGN[i] * chip[SRC[i]].
// VERIFY ON HARDWARE: at rest upright acc_x must read about +1 g.
static const uint8_t AXIS_SRC[3] = {1, 0, 2};
static const int8_t AXIS_SIGN[3] = {-1, 1, -1};

// ----------------------------------------------------------------------------- protocol
static const uint8_t PROTOCOL_VERSION = 1;
static const uint8_t FLAG_OVERFLOW = 0x01;
static const uint8_t ST_STREAMING = 0x01, ST_PAIRING_REQUIRED = 0x02, ST_OVERFLOWED = 0x04;
enum { CMD_START = 1, CMD_STOP, CMD_SET_RATE, CMD_SET_RANGES, CMD_IDENTIFY, CMD_SET_SPP };

// 6b1e000X-7c3d-4f5a-9a21-3c8e5d0b7f42, little-endian
#define GAITIMU_UUID(x) {0x42, 0x7F, 0x0B, 0x5D, 0x8E, 0x3C, 0x21, 0x9A, \
                         0x5A, 0x4F, 0x3D, 0x7C, (x), 0x00, 0x1E, 0x6B}
static const uint8_t UUID_SERVICE[16] = GAITIMU_UUID(0x01);
static const uint8_t UUID_DATA[16] = GAITIMU_UUID(0x02);
static const uint8_t UUID_CONTROL[16] = GAITIMU_UUID(0x03);
static const uint8_t UUID_CONFIG[16] = GAITIMU_UUID(0x04);

BLEService gaitimuService(UUID_SERVICE);
BLECharacteristic dataChar(UUID_DATA);
BLECharacteristic controlChar(UUID_CONTROL);
BLECharacteristic configChar(UUID_CONFIG);
BLEDis bledis;
BLEBas blebas;

LSM6DS3 imu(I2C_MODE, 0x6A);

// ----------------------------------------------------------------------------- state
struct Config {
  uint16_t rate_hz = 200;
  uint8_t acc_range_g = 16;
  uint16_t gyr_range_dps = 2000;
  uint8_t spp_request = 0;   // 0 = choose
  uint8_t spp = 10;
} cfg;

struct Packet {
  uint8_t len;
  uint8_t bytes[10 + 12 * MAX_SPP];
};

static Packet ring[RING_PACKETS];
static volatile uint16_t ringHead = 0, ringTail = 0;   // head: next write, tail: next send
static volatile bool streaming = false;
static volatile bool overflowPending = false;
static uint32_t overflowPackets = 0;
static uint8_t statusBits = REQUIRE_PAIRING ? ST_PAIRING_REQUIRED : 0;
static uint16_t seq = 0;
static uint16_t attMtu = 23;

// Sampling clock: sample k is taken at t_us = k * 1e6 / rate on the micros() clock.
// VERIFY ON HARDWARE: micros() must come from a crystal-driven timer (nRF52 RTC/TIMER with
// the 32.768 kHz LFXO or the 32 MHz HFXO), not the RC oscillator.
static uint32_t streamStartUs = 0;
static uint32_t sampleIndex = 0;      // samples since START
static int16_t pending[MAX_SPP][6];
static uint8_t nPending = 0;
static uint32_t packetT0 = 0;
static uint32_t identifyUntilMs = 0;

// LSM6DS3 gyro sensitivity is 1.1469x the nominal range / 32768 (e.g. 70 mdps/LSB at
// 2000 dps vs 61.04); the protocol defines LSB = range / 32768, so rescale (PROTOCOL.md).
static const float GYR_RESCALE = 1.1469f;

static uint8_t chooseSpp() {
  uint16_t maxByMtu = (attMtu > 13) ? (attMtu - 3 - 10) / 12 : 0;
  uint8_t want = cfg.spp_request ? cfg.spp_request : max(1, min(MAX_SPP, cfg.rate_hz / 20));
  return (uint8_t)min((uint16_t)want, min((uint16_t)MAX_SPP, maxByMtu));
}

static void updateConfigChar() {
  uint8_t v[13];  // PROTOCOL.md section 5: 13 bytes
  v[0] = PROTOCOL_VERSION;
  v[1] = statusBits | (streaming ? ST_STREAMING : 0) | (overflowPackets ? ST_OVERFLOWED : 0);
  v[2] = cfg.rate_hz & 0xFF; v[3] = cfg.rate_hz >> 8;
  v[4] = cfg.acc_range_g;
  v[5] = cfg.gyr_range_dps & 0xFF; v[6] = cfg.gyr_range_dps >> 8;
  v[7] = cfg.spp;
  v[8] = 0;
  memcpy(&v[9], &overflowPackets, 4);  // nRF52 is little-endian
  configChar.write(v, sizeof(v));
}

// ----------------------------------------------------------------------------- IMU
static bool configureImu() {
  imu.settings.accelEnabled = 1;
  imu.settings.accelRange = cfg.acc_range_g;           // 2, 4, 8, 16
  imu.settings.accelSampleRate = 833;                  // chip ODRs are 52/104/208/416/833:
  imu.settings.accelBandWidth = cfg.rate_hz >= 400 ? 200 : 100;  // sample it on our timer
  imu.settings.gyroEnabled = 1;
  imu.settings.gyroRange = cfg.gyr_range_dps == 250 ? 245 : cfg.gyr_range_dps;
  imu.settings.gyroSampleRate = 833;
  return imu.begin() == 0;
}

static inline int16_t sat16(float v) {
  return v > 32767.f ? 32767 : (v < -32768.f ? -32768 : (int16_t)lroundf(v));
}

static void readSample(int16_t out[6]) {
  int16_t a[3] = {imu.readRawAccelX(), imu.readRawAccelY(), imu.readRawAccelZ()};
  int16_t g[3] = {imu.readRawGyroX(), imu.readRawGyroY(), imu.readRawGyroZ()};
  for (int i = 0; i < 3; i++) {
    out[i] = sat16(AXIS_SIGN[i] * (float)a[AXIS_SRC[i]]);
    out[3 + i] = sat16(AXIS_SIGN[i] * (float)g[AXIS_SRC[i]] * GYR_RESCALE);
  }
}

// ----------------------------------------------------------------------------- ring buffer
static void pushPacket() {
  Packet &p = ring[ringHead];
  uint8_t *b = p.bytes;
  b[0] = PROTOCOL_VERSION;
  b[1] = overflowPending ? FLAG_OVERFLOW : 0;
  b[2] = seq & 0xFF; b[3] = seq >> 8;
  memcpy(&b[4], &packetT0, 4);
  b[8] = nPending;
  b[9] = 0;
  memcpy(&b[10], pending, 12 * nPending);
  p.len = 10 + 12 * nPending;
  seq++;
  overflowPending = false;
  uint16_t next = (ringHead + 1) % RING_PACKETS;
  if (next == ringTail) {                  // full: drop the oldest, flag the loss
    ringTail = (ringTail + 1) % RING_PACKETS;
    overflowPackets++;
    overflowPending = true;                // the next packet produced carries the flag
  }
  ringHead = next;
}

static void sendFromRing() {
  while (ringTail != ringHead && dataChar.notifyEnabled()) {
    Packet &p = ring[ringTail];
    if (!dataChar.notify(p.bytes, p.len)) return;   // stack busy: retry later
    ringTail = (ringTail + 1) % RING_PACKETS;
  }
}

// ----------------------------------------------------------------------------- control
static void startStream() {
  cfg.spp = chooseSpp();
  if (cfg.spp == 0) return;                 // MTU too small (< 25)
  ringHead = ringTail = 0;
  nPending = 0;
  sampleIndex = 0;
  streamStartUs = micros();
  streaming = true;
  updateConfigChar();
}

static void stopStream() {
  streaming = false;
  updateConfigChar();
}

static bool linkEncrypted(uint16_t conn) {
  BLEConnection *c = Bluefruit.Connection(conn);
  return c && c->secured();
}

static void onControlWrite(uint16_t conn, BLECharacteristic *chr, uint8_t *d, uint16_t len) {
  // With REQUIRE_PAIRING the characteristic's write permission is SECMODE_ENC_NO_MITM, so the
  // SoftDevice already answers an unencrypted write with Insufficient Authentication; this
  // check is a second line. Invalid commands are ignored here (Bluefruit's write callback
  // cannot return an ATT error; use an authorised-write handler for 0x13 if needed).
  if (REQUIRE_PAIRING && !linkEncrypted(conn)) return;
  if (len < 1) return;
  bool wasStreaming = streaming;
  switch (d[0]) {
    case CMD_START: if (len == 1) startStream(); break;
    case CMD_STOP: if (len == 1) stopStream(); break;
    case CMD_SET_RATE:
      if (len == 3) {
        uint16_t r = d[1] | (d[2] << 8);
        if (r >= 50 && r <= 400) { stopStream(); cfg.rate_hz = r; cfg.spp = chooseSpp();
                                   if (wasStreaming) startStream(); }
      }
      break;
    case CMD_SET_RANGES:
      if (len == 4) {
        uint8_t a = d[1]; uint16_t g = d[2] | (d[3] << 8);
        bool okA = a == 2 || a == 4 || a == 8 || a == 16;
        bool okG = g == 125 || g == 250 || g == 500 || g == 1000 || g == 2000;
        if (okA && okG) { stopStream(); cfg.acc_range_g = a; cfg.gyr_range_dps = g;
                          configureImu(); if (wasStreaming) startStream(); }
      }
      break;
    case CMD_IDENTIFY: if (len == 2) identifyUntilMs = millis() + 1000UL * d[1]; break;
    case CMD_SET_SPP:
      if (len == 2 && d[1] <= MAX_SPP) { cfg.spp_request = d[1]; cfg.spp = chooseSpp(); }
      break;
  }
  updateConfigChar();
}

// ----------------------------------------------------------------------------- BLE setup
static void onConnect(uint16_t conn) {
  BLEConnection *c = Bluefruit.Connection(conn);
  c->requestPHY();                      // 2M PHY when the central supports it
  c->requestDataLengthUpdate();         // DLE: 251-byte link-layer packets
  c->requestMtuExchange(247);
  c->requestConnectionParameter(12, 0, 400);   // 15 ms (x1.25 ms units), latency 0, 4 s
}

static void onDisconnect(uint16_t conn, uint8_t reason) {
  (void)conn; (void)reason;
  streaming = false;                    // the host restarts the stream after reconnecting
  updateConfigChar();
}

static void setupBle() {
  Bluefruit.configPrphBandwidth(BANDWIDTH_MAX);   // MTU 247, DLE, larger event length
  Bluefruit.begin();
  Bluefruit.setTxPower(4);
  char name[16];
  uint8_t mac[6];
  Bluefruit.getAddr(mac);
  snprintf(name, sizeof(name), "gaitimu-%02X%02X", mac[1], mac[0]);
  Bluefruit.setName(name);
  Bluefruit.Periph.setConnectCallback(onConnect);
  Bluefruit.Periph.setDisconnectCallback(onDisconnect);
  Bluefruit.Periph.setConnInterval(12, 24);        // 15..30 ms
  Bluefruit.Security.setIOCaps(false, false, false);  // Just Works (SECURITY.md)
  Bluefruit.Security.setMITM(false);

  bledis.setManufacturer("gaitimu");
  bledis.setModel("xiao-nrf52840-sense");
  bledis.setFirmwareRev("1.0.0");
  bledis.begin();
  blebas.begin();

  gaitimuService.begin();
  dataChar.setProperties(CHR_PROPS_NOTIFY);
  dataChar.setPermission(SECMODE_OPEN, SECMODE_NO_ACCESS);
  dataChar.setMaxLen(10 + 12 * MAX_SPP);
  dataChar.begin();
  controlChar.setProperties(CHR_PROPS_WRITE);
  controlChar.setPermission(SECMODE_NO_ACCESS, REQUIRE_PAIRING ? SECMODE_ENC_NO_MITM : SECMODE_OPEN);
  controlChar.setMaxLen(4);
  controlChar.setWriteCallback(onControlWrite);
  controlChar.begin();
  configChar.setProperties(CHR_PROPS_READ);
  configChar.setPermission(SECMODE_OPEN, SECMODE_NO_ACCESS);
  configChar.setFixedLen(13);
  configChar.begin();
  updateConfigChar();

  Bluefruit.Advertising.addFlags(BLE_GAP_ADV_FLAGS_LE_ONLY_GENERAL_DISC_MODE);
  Bluefruit.Advertising.addService(gaitimuService);  // 128-bit UUID in the advertising data
  Bluefruit.ScanResponse.addName();                  // the name in the scan response
  Bluefruit.Advertising.restartOnDisconnect(true);
  Bluefruit.Advertising.setInterval(160, 1600);      // 100 ms fast, then 1 s
  Bluefruit.Advertising.setFastTimeout(60);
  Bluefruit.Advertising.start(0);
}

// ----------------------------------------------------------------------------- battery
static uint8_t batteryPercent() {
  // XIAO nRF52840: VBAT through a 1M/510k divider on PIN_VBAT, enabled by VBAT_ENABLE low.
  digitalWrite(VBAT_ENABLE, LOW);
  analogReference(AR_INTERNAL_2_4);
  analogReadResolution(12);
  float v = analogRead(PIN_VBAT) * 2.4f / 4096.f * (1510.f / 510.f);
  // LiPo: 3.3 V empty .. 4.2 V full, linear is good enough for a status display
  float pct = (v - 3.3f) / (4.2f - 3.3f) * 100.f;
  return (uint8_t)constrain(pct, 0.f, 100.f);
}

// ----------------------------------------------------------------------------- main
void setup() {
  pinMode(LED_BLUE, OUTPUT);
  pinMode(VBAT_ENABLE, OUTPUT);
#ifdef PIN_LSM6DS3TR_C_POWER
  pinMode(PIN_LSM6DS3TR_C_POWER, OUTPUT);
  digitalWrite(PIN_LSM6DS3TR_C_POWER, HIGH);   // the IMU is powered from a GPIO on the Sense
  delay(10);
#endif
  Wire.setClock(400000);
  if (!configureImu()) {
    while (true) { digitalToggle(LED_BLUE); delay(100); }   // fast blink: IMU not found
  }
  setupBle();
}

void loop() {
  static uint32_t lastBatteryMs = 0;
  if (streaming) {
    // Take every sample that is due (catch up after a busy moment; timestamps stay exact).
    uint32_t now = micros();
    while (true) {
      uint32_t dueUs = streamStartUs + (uint32_t)((uint64_t)sampleIndex * 1000000ULL / cfg.rate_hz);
      if ((int32_t)(now - dueUs) < 0) break;
      if (nPending == 0) packetT0 = dueUs;
      readSample(pending[nPending++]);
      sampleIndex++;
      if (nPending == cfg.spp) { pushPacket(); nPending = 0; }
    }
    sendFromRing();
  }
  if (millis() - lastBatteryMs > 10000) {
    lastBatteryMs = millis();
    blebas.write(batteryPercent());
    attMtu = Bluefruit.connected() ? Bluefruit.Connection(0)->getMtu() : 23;
  }
  digitalWrite(LED_BLUE, (millis() < identifyUntilMs) ? ((millis() / 125) & 1) : HIGH);
  yield();
}
