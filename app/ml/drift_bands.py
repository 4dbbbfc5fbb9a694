"""The PSI bands risk teams use, apart from the drift engine so that reading them is free.

``app.ml.drift`` imports numpy, pandas and scipy; the monitoring services, the monitoring
screen and the reports (which render in a worker process that must start quickly) only need
the two numbers, so they live here, imported by all of them, the engine included.
"""

from __future__ import annotations

#: Above it a shift is worth a look: the drift verdict's default PSI threshold (the "watch" band).
PSI_WATCH = 0.1
#: Above it, on an important feature, a shift needs action (the "act" band): a critical alert
#: and a retraining trigger.
PSI_ALERT_THRESHOLD = 0.25
