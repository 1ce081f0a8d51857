"""Names and constants of the on-disk session format (docs/sessions.md). Writing files
(atomically, never into a session, one line on failure) is `gaitimu.sessions.files`."""

from __future__ import annotations

import numpy as np

FORMAT_NAME = "gaitimu-session"
FORMAT_VERSION = 1  # bump on incompatible changes; readers refuse newer versions
SUFFIX = ".gaitimu"

META_FILE = "meta.json"
SAMPLES_FILE = "samples.bin"
PACKETS_FILE = "packets.bin"
EVENTS_FILE = "events.bin"
TRUTH_FILE = "truth.json"
TRUTH_ARRAYS_FILE = "truth.npz"
#: held (O_EXCL) while a writer creates the session; removed on a clean close
WRITER_LOCK_FILE = ".writing"

# One decoded sample on disk: t_s, acc_x..z (m/s^2), gyr_x..z (deg/s), float64 little-endian.
SAMPLE_DTYPE = np.dtype("<f8")
SAMPLE_FIELDS = 7
SAMPLE_BYTES = SAMPLE_FIELDS * SAMPLE_DTYPE.itemsize  # 56

# Events whose interval is a hole in the sample stream.
GAP_KINDS = ("gap", "disconnect", "overflow")
