"""The PSI bands risk teams use and the drift verdict's default effect-size thresholds, apart
from the drift engine so that reading them is free.

``app.ml.drift`` imports numpy, pandas and scipy; the monitoring services, the monitoring
screen and the reports (which render in a worker process that must start quickly) only need
these numbers, so they live here, imported by all of them, the engine included.
"""

from __future__ import annotations

#: Above it a shift is worth a look: the drift verdict's default PSI threshold (the "watch" band).
PSI_WATCH = 0.1
#: Above it, on an important feature, a shift needs action (the "act" band): a critical alert
#: and a retraining trigger.
PSI_ALERT_THRESHOLD = 0.25

#: The effect size at or above which a significant shift counts as drift, per statistic, when no
#: threshold is set for the feature (the engine's, the monitoring policy's and the reports' note).
DEFAULT_THRESHOLDS: dict[str, float] = {"psi": PSI_WATCH, "ks": 0.1, "js": 0.1}
