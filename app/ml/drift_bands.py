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
#: ``wasserstein`` is the normed Wasserstein distance (numeric features only): see ``app.ml.drift``
#: for why it is there and how 0.1 was checked.
DEFAULT_THRESHOLDS: dict[str, float] = {"psi": PSI_WATCH, "ks": 0.1, "js": 0.1, "wasserstein": 0.1}

#: How each effect size is named to people (screens, CLI help, reports), in ``DEFAULT_THRESHOLDS`` order.
EFFECT_SIZE_NAMES: dict[str, str] = {
    "psi": "PSI", "ks": "KS", "js": "JS", "wasserstein": "normed Wasserstein",
}


def effect_sizes_text(thresholds: dict[str, float] | None = None) -> str:
    """"PSI 0.1, KS 0.1, JS 0.1, normed Wasserstein 0.1": the one sentence part every report,
    screen and help text uses when it names the effect sizes and their thresholds."""
    values = thresholds if thresholds is not None else DEFAULT_THRESHOLDS
    return ", ".join(f"{EFFECT_SIZE_NAMES[key]} {values[key]:g}" for key in EFFECT_SIZE_NAMES if key in values)
