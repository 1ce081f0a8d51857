"""The radio: protocol-v1 packets, packet loss and host timing (step 8 of `simulate`).

The samples travel as the sensor would send them: packets of ``samples_per_packet``
samples encoded with `gaitimu.sensors.protocol` (the one codec, many packets at once), a
fraction lost (independently or in bursts), host timestamps with latency and jitter. What
survives is decoded as a recorder stores it (sensor clock, unwrapped, + i / rate), so the
simulated session has the same holes as a real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gaitimu.sensors.protocol import Scales, decode_packets, encode_packets, raw_to_physical
from gaitimu.simulate.config import SimConfig


@dataclass(frozen=True)
class Transmission:
    """What went over the radio and what a recorder made of it.

    Attributes
    ----------
    packets
        ``[(t_host_s, payload_bytes), ...]`` packets that survived, in order.
    lost
        One dict per lost packet: ``seq``, ``index``, ``first_sample``, ``n_samples``, ``t_s``.
    t_s, acc, gyr
        Samples decoded from the surviving packets: (m,) s, (m, 3) m/s^2, (m, 3) deg/s.
    gaps
        Holes in the decoded stream as session gap events.
    """

    packets: list[tuple[float, bytes]]
    lost: list[dict[str, Any]]
    t_s: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray
    gaps: list[dict[str, Any]]


def transmit(raw: np.ndarray, cfg: SimConfig, samples_per_packet: int,
             rng: np.random.Generator) -> Transmission:
    """Send the (n, 6) int16 samples ``raw`` and receive what survives.

    Draws from ``rng`` in this order: the host-time jitter, then the lost packets.
    """
    fs = float(cfg.sampling_rate_hz)
    packets, lost = _packetise(raw, fs, samples_per_packet, cfg, rng)
    t_s, acc, gyr = _receive(packets, fs, cfg.scales)
    return Transmission(packets=packets, lost=lost, t_s=t_s, acc=acc, gyr=gyr,
                        gaps=_gaps(t_s, fs))


def _loss_mask(n: int, fraction: float, burst: float, rng: np.random.Generator) -> np.ndarray:
    """Which of ``n`` packets are lost: independent, or alternating geometric good/bad runs."""
    if fraction <= 0:
        return np.zeros(n, dtype=bool)
    if burst <= 1.0:
        return rng.random(n) < fraction
    mean_good = burst * (1 - fraction) / fraction
    mask = np.zeros(0, dtype=bool)
    while mask.size < n:  # about 2 n packets per round: one round in practice
        k = int(2 * n / (burst + mean_good)) + 16
        good = rng.geometric(1 / (mean_good + 1), k) - 1  # good runs may be empty
        bad = rng.geometric(1 / burst, k)
        runs = np.empty(2 * k, dtype=np.int64)
        runs[0::2], runs[1::2] = good, bad
        mask = np.concatenate([mask, np.repeat(np.tile([False, True], k), runs)])
    return mask[:n]


def _packetise(raw: np.ndarray, fs: float, spp: int, cfg: SimConfig,
               rng: np.random.Generator) -> tuple[list[tuple[float, bytes]], list[dict[str, Any]]]:
    """Protocol-v1 packets of ``spp`` samples; lose a fraction; host times with jitter."""
    n = raw.shape[0]
    starts = np.arange(0, n, spp)
    n_pk = starts.size
    t_last = (np.minimum(starts + spp, n) - 1) / fs
    host = t_last + cfg.host_latency_s
    if cfg.host_jitter_s > 0:
        host = host + rng.exponential(cfg.host_jitter_s, n_pk)
    lost_mask = _loss_mask(n_pk, cfg.packet_loss, cfg.packet_loss_burst, rng)
    # The first and last packets always arrive, so every loss is a gap between good samples.
    lost_mask[[0, -1]] = False
    keep = np.flatnonzero(~lost_mask)
    host_kept = np.maximum.accumulate(host[keep])
    t0_us = np.rint(starts * 1e6 / fs).astype(np.int64)
    seq = np.arange(n_pk)
    n_full = n // spp
    payloads = encode_packets(seq[:n_full], t0_us[:n_full],
                              raw[: n_full * spp].reshape(n_full, spp, 6))
    if n_full < n_pk:  # a shorter last packet
        payloads += encode_packets(seq[n_full:], t0_us[n_full:], raw[np.newaxis, n_full * spp:])
    packets = [(h, payloads[i]) for h, i in zip(host_kept.tolist(), keep.tolist(), strict=True)]
    lost = [{"seq": int(i & 0xFFFF), "index": int(i), "first_sample": int(starts[i]),
             "n_samples": int(min(spp, n - starts[i])), "t_s": float(starts[i] / fs)}
            for i in np.flatnonzero(lost_mask).tolist()]
    return packets, lost


def _receive(packets: list[tuple[float, bytes]], fs: float,
             scales: Scales) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode packets as a recorder does: sensor clock (unwrapped) + i / rate.

    The first and last packets always arrive, so there is at least one.
    """
    batch = decode_packets([d for _, d in packets])
    t0_us = np.repeat(batch.t0_us, batch.n)
    idx = np.arange(t0_us.size) - np.repeat(np.cumsum(batch.n) - batch.n, batch.n)
    # Unwrap the 32-bit microsecond clock.
    wraps = np.cumsum(np.concatenate([[0], np.diff(t0_us) < -(2**31)]))
    t_s = (t0_us + wraps * 2**32) / 1e6 + idx / fs
    acc, gyr = raw_to_physical(batch.raw, scales)
    return t_s, acc, gyr


def _gaps(t: np.ndarray, fs: float) -> list[dict[str, Any]]:
    """Holes in the decoded stream as session gap events (start/end = good samples around)."""
    if t.size < 2:
        return []
    dt = np.diff(t)
    holes = np.flatnonzero(dt > 1.5 / fs)
    return [{"kind": "gap", "start_s": float(t[i]), "end_s": float(t[i + 1]),
             "lost_samples": round((t[i + 1] - t[i]) * fs) - 1} for i in holes.tolist()]

