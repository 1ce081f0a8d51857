"""What a batch reads: finding the sessions in its inputs, their content keys, and turning a
BIDS-Motion recording or a CSV listed in a manifest into a session for the analysis.

Inputs (docs/contracts.md#batch):

* a session folder, or any folder: searched recursively for sessions (a session's own folder
  is not searched further), BIDS-Motion datasets (a folder holding
  ``dataset_description.json``: every ``sub-*/**/motion/*_motion.tsv``) and manifests;
* a BIDS-Motion dataset as ``gaitimu export --format bids`` writes it, or one ``_motion.tsv``;
* a manifest: a CSV whose header has the columns ``file`` and ``rate_hz`` (`MANIFEST_COLUMNS`),
  one row per CSV of samples (``file`` relative to the manifest's folder). A CSV of samples
  given directly must be listed in a manifest among the inputs.

Each session is keyed by a content hash (`item_key`): its files' names and bytes, the manifest
row or BIDS sidecars, the software version and the options that change the result. The key
names its part file, so a batch started again skips what is done.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gaitimu import __version__
from gaitimu.consts import AUTO_AXES
from gaitimu.errors import BadInputError, quote
from gaitimu.sessions.files import is_session_dir

#: A manifest's columns: ``file`` and ``rate_hz`` are required (they make a CSV a manifest),
#: the others optional (``axes`` default ``auto``, units m/s2 and deg/s).
MANIFEST_COLUMNS = ("file", "rate_hz", "axes", "acc_unit", "gyr_unit", "subject", "activity",
                    "leg_length_m", "height_m")
MANIFEST_REQUIRED = ("file", "rate_hz")
BIDS_DESCRIPTION = "dataset_description.json"
MOTION_SUFFIX = "_motion.tsv"
_BIDS_DIRECTIONS = {"S": "up", "I": "down", "R": "right", "L": "left", "A": "forward",
                    "P": "backward"}
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class Item:
    """One session of a batch: ``kind`` (``session``, ``bids``, ``csv``), ``path`` (the
    session folder, the ``_motion.tsv`` or the CSV of samples) and, for a CSV, its manifest
    row (``params``, sorted ``(column, value)`` pairs)."""

    kind: str
    path: str
    params: tuple[tuple[str, str], ...] = field(default=())

    @property
    def name(self) -> str:
        return self.path


def _is_manifest(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader([f.readline()]), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    cols = {c.strip().lower() for c in header}
    return all(c in cols for c in MANIFEST_REQUIRED)


def read_manifest(path: str | os.PathLike[str]) -> list[Item]:
    """The sessions a manifest lists (`MANIFEST_COLUMNS`); `BadInputError` (one line) for a
    manifest that cannot be read or a row without a file. A row's values are checked when its
    session is analysed (a bad row fails alone, in failed.csv)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise BadInputError(f"{path}: cannot read the manifest ({e})") from e
    items = []
    for i, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()
               if isinstance(v, str)}
        if not row.get("file"):
            raise BadInputError(f"{path}, line {i}: the manifest row names no file")
        unknown = sorted(set(row) - set(MANIFEST_COLUMNS))
        if unknown:
            raise BadInputError(f"{path}: unknown manifest column(s) {', '.join(unknown)}; the "
                                f"columns are {', '.join(MANIFEST_COLUMNS)}")
        file = Path(row.pop("file"))
        file = file if file.is_absolute() else path.parent / file
        params = tuple(sorted((k, v) for k, v in row.items() if v))
        items.append(Item("csv", str(file), params))
    return items


def _bids_items(root: Path) -> list[Item]:
    return [Item("bids", str(p)) for p in sorted(root.rglob(f"sub-*/**/*{MOTION_SUFFIX}"))]


def _walk(root: Path, skip: Path | None) -> Iterator[Item | Path]:
    """Sessions, BIDS recordings and manifests (as Paths) below a folder, sorted by name."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames.sort()
        keep = []
        for d in dirnames:
            sub = here / d
            if d.startswith(".") or (skip is not None and sub.resolve() == skip):
                continue
            if is_session_dir(sub):
                yield Item("session", str(sub))
            elif (sub / BIDS_DESCRIPTION).is_file():
                yield from _bids_items(sub)
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.lower().endswith(".csv") and _is_manifest(here / name):
                yield here / name


def find_items(inputs: Iterable[str | os.PathLike[str]], *,
               skip: str | os.PathLike[str] | None = None) -> list[Item]:
    """The sessions of a batch's inputs (module docstring), each once, in the order found.

    ``skip``: a folder never searched (the batch's own output folder). `BadInputError` (one
    line) for an input that does not exist, a file of another kind, or a CSV of samples no
    manifest lists."""
    skip_real = Path(skip).resolve() if skip is not None else None
    found: list[Item] = []
    loose_csv: list[Path] = []
    for given in inputs:
        p = Path(given)
        if not p.exists():
            raise BadInputError(f"{given}: no such file or folder")
        if p.is_dir():
            if is_session_dir(p):
                found.append(Item("session", str(p)))
            elif (p / BIDS_DESCRIPTION).is_file():
                found += _bids_items(p)
            else:
                for x in _walk(p, skip_real):
                    found += read_manifest(x) if isinstance(x, Path) else [x]
        elif p.name.endswith(MOTION_SUFFIX):
            found.append(Item("bids", str(p)))
        elif p.suffix.lower() in (".csv", ".tsv", ".txt"):
            if _is_manifest(p):
                found += read_manifest(p)
            else:
                loose_csv.append(p)
        else:
            raise BadInputError(f"{given}: not a session, a folder, a BIDS-Motion dataset, a "
                                "manifest or a CSV of samples")
    listed = {Path(it.path).resolve() for it in found if it.kind == "csv"}
    for p in loose_csv:
        if p.resolve() not in listed:
            raise BadInputError(
                f"{p}: a CSV of samples needs its rate and axes: list it in a manifest "
                f"(columns {', '.join(MANIFEST_COLUMNS)}) and give the manifest")
    seen: set[tuple[str, Path]] = set()
    out = []
    for it in found:
        k = (it.kind, Path(it.path).resolve())
        if k not in seen:
            seen.add(k)
            out.append(it)
    return out


# --------------------------------------------------------------------------- content keys
def _files_of(item: Item) -> list[Path]:
    p = Path(item.path)
    if item.kind == "session":
        return sorted(f for f in p.rglob("*") if f.is_file())
    if item.kind == "bids":
        stem = p.name[: -len(MOTION_SUFFIX)]
        return [p, *(p.with_name(stem + s) for s in ("_motion.json", "_channels.tsv",
                                                       "_channels.json"))]
    return [p]


def item_key(item: Item, settings: Iterable[tuple[str, object]] = ()) -> str:
    """The content key of a session: a hash of its files' names (relative) and bytes, the
    manifest row, the software version and ``settings`` (the options that change a result).
    Raises `OSError` when a file cannot be read."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([item.kind, list(item.params), __version__, sorted(
        (k, str(v)) for k, v in settings)]).encode())
    base = Path(item.path)
    for f in _files_of(item):
        if not f.exists():
            continue
        rel = f.relative_to(base) if item.kind == "session" else f.name
        h.update(f"\0{rel}\0".encode())
        with open(f, "rb") as fh:
            while block := fh.read(_HASH_BLOCK):
                h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- as a session
def _bids_import_args(motion: Path) -> dict[str, object]:
    """`import_csv` arguments for a BIDS-Motion recording written by ``gaitimu export``."""
    stem = motion.name[: -len(MOTION_SUFFIX)]
    try:
        sidecar = json.loads(motion.with_name(stem + "_motion.json").read_text())
    except (OSError, ValueError) as e:
        raise BadInputError(f"{motion}: cannot read its _motion.json sidecar ({e})") from e
    axes = AUTO_AXES
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
        channels = json.loads(motion.with_name(stem + "_channels.json").read_text())
        letters = channels["reference_frame"]["Levels"]["sensor"]["SpatialAxes"]
        if len(letters) == 3 and all(c in _BIDS_DIRECTIONS for c in letters):
            axes = ",".join(f"{a}={_BIDS_DIRECTIONS[c]}" for a, c in zip("xyz", letters,
                                                                       strict=True))
    labels = dict(part.split("-", 1) for part in stem.split("_") if "-" in part)
    rate = sidecar.get("SamplingFrequency") if isinstance(sidecar, dict) else None
    if not isinstance(rate, (int, float)):
        raise BadInputError(f"{motion}: its _motion.json has no SamplingFrequency")
    return {"rate_hz": float(rate), "axes": axes, "subject": labels.get("sub"),
            "activity": sidecar.get("TaskName") or labels.get("task")}


def _number(item: Item, params: dict[str, str], name: str) -> float | None:
    if not params.get(name):
        return None
    try:
        return float(params[name])
    except ValueError:
        raise BadInputError(f"{item.path}: manifest {name} {quote(params[name])} is not a "
                            "number") from None


@contextlib.contextmanager
def as_session(item: Item, work: Path) -> Iterator[Path]:
    """The session folder of ``item``: a session as it is; a BIDS recording or a manifest's
    CSV imported (`gaitimu.sessions.import_csv`, as ``gaitimu import`` does) into a
    temporary session inside ``work``, removed afterwards."""
    if item.kind == "session":
        yield Path(item.path)
        return
    from gaitimu.sessions import import_csv

    work.mkdir(parents=True, exist_ok=True)
    try:
        out = work / "session.gaitimu"
        if item.kind == "bids":
            motion = Path(item.path)
            args = _bids_import_args(motion)
            table = work / "samples.tsv"
            with open(table, "wb") as dst, open(motion, "rb") as src:
                dst.write(("\t".join(["t_s", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y",
                                      "gyr_z"]) + "\n").encode())
                shutil.copyfileobj(src, dst)
            import_csv(table, out, **args)  # type: ignore[arg-type]
        else:
            params = dict(item.params)
            import_csv(item.path, out, rate_hz=_number(item, params, "rate_hz"),
                       axes=params.get("axes") or AUTO_AXES,
                       acc_unit=params.get("acc_unit") or "m/s2",
                       gyr_unit=params.get("gyr_unit") or "deg/s",
                       subject=params.get("subject"), activity=params.get("activity"),
                       leg_length_m=_number(item, params, "leg_length_m"),
                       height_m=_number(item, params, "height_m"))
        yield out
    finally:
        shutil.rmtree(work, ignore_errors=True)


__all__ = ["MANIFEST_COLUMNS", "Item", "as_session", "find_items", "item_key", "read_manifest"]
