"""What the job forkserver imports once when the process that starts it only renders PDFs
(``mlwb report``): reportlab, matplotlib's Agg canvas, pypdf and the document builders, and the
services whose dataclasses travel in the render's payload.

``app.ml.worker_preload`` (NumPy, pandas, SciPy, scikit-learn, skops: 2–5 s) is what a
training or analysis job needs; a report build needs none of it, and in a one-shot command
the server is started for that one build, so preloading the ML libraries was the largest
part of `mlwb report`'s time. The guard comes first, as in every forkserver
(``app.ml.forkserver_guard``). Imported only in the forkserver process, never in the
workbench's own; a worker forked from it imports whatever else its task needs, so a server
started with this preload still runs any task, only slower.

Why services in a worker's server: the collected records hold the services' views (``RunView``,
``ModelVersionView``, …), and unpickling them imports their modules, and with them SQLAlchemy
and the models: 0.4–1.2 s in the render worker, after the fork, on the critical path of every
build. Imported here they load in the server, while the parent collects. The worker still never
opens the registry (``reports.tasks`` gets rows and a key, no database URL); the import-linter
contract keeps ``reports`` itself free of them, which is why this module is a service's.
"""

from __future__ import annotations

import app.ml.forkserver_guard  # (first: see its docstring)

import matplotlib.backends.backend_agg  # noqa: E402,F401
import matplotlib.figure  # noqa: E402,F401
import pypdf  # noqa: E402,F401
import reportlab.pdfbase.ttfonts  # noqa: E402,F401
import reportlab.platypus  # noqa: E402,F401
import reportlab.platypus.tableofcontents  # noqa: E402,F401

import reports.charts  # noqa: E402,F401
import reports.compliance  # noqa: E402,F401
import reports.documents  # noqa: E402,F401
import reports.drift  # noqa: E402,F401
import reports.model_card  # noqa: E402,F401
import reports.render  # noqa: E402,F401
import reports.statement  # noqa: E402,F401
import reports.tasks  # noqa: E402,F401
import reports.validation  # noqa: E402,F401

import app.audit  # noqa: E402,F401  (the chain check the worker runs)
import app.services.reporting  # noqa: E402,F401  (every collector: the views in the records)

app.ml.forkserver_guard.preloaded()
