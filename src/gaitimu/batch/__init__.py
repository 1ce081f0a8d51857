"""``gaitimu batch``: many sessions analysed in parallel, on local processes or a Dask
cluster, into Parquet tables, a failed list and a cohort page (docs/contracts.md#batch).

Each session is analysed exactly as ``gaitimu analyze`` + ``report --json`` do
(`gaitimu.workflows.analyze_path`, `gaitimu.report.summarize`). The package:

* `inputs`: finding sessions (folders, BIDS-Motion, CSV + manifest), content keys, and
  BIDS/CSV recordings imported into a temporary session;
* `task`: one session in a worker, its part file ``DIR/.parts/<key>.parquet`` (atomic);
* `engines`: local processes or Dask, at most two tasks in flight per worker; progress;
* `outputs`: sessions.parquet, strides.parquet, failed.csv assembled from the parts;
* `cohort`: DIR/cohort.html;
* `run`: `run_batch`, the whole command.
"""

from gaitimu.batch.inputs import MANIFEST_COLUMNS, find_items
from gaitimu.batch.run import BatchResult, run_batch
from gaitimu.batch.task import SESSION_COLUMNS

__all__ = ["MANIFEST_COLUMNS", "SESSION_COLUMNS", "BatchResult", "find_items", "run_batch"]
