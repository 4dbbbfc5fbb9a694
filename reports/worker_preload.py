"""What the job forkserver imports once when the process that starts it only renders PDFs
(``mlwb report``): reportlab, matplotlib's Agg canvas, pypdf and the document builders.

``app.ml.worker_preload`` (NumPy, pandas, SciPy, scikit-learn, skops: 2–5 s) is what a
training or analysis job needs; a report build needs none of it, and in a one-shot command
the server is started for that one build, so preloading the ML libraries was the largest
part of `mlwb report`'s time. The guard comes first, as in every forkserver
(``app.ml.forkserver_guard``). Imported only in the forkserver process, never in the
workbench's own; a worker forked from it imports whatever else its task needs, so a server
started with this preload still runs any task, only slower.
"""

from __future__ import annotations

import app.ml.forkserver_guard  # noqa: F401  (first: see its docstring)

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
