"""Training data for a retraining: the rows the production model learned from plus the
production rows whose labels have since arrived (the feedback loop)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def combine_training_data(original_path: str, feedback_paths: Sequence[str], columns: Sequence[str],
                          out_path: str) -> int:
    """Write the original rows and every labelled feedback row, restricted to ``columns``, to
    ``out_path`` (Parquet). Feedback rows without a label were never labelled and are dropped by
    the caller's choice of files. Returns the number of rows written."""
    from app.ml.errors import DataFileError
    from app.ml.tabular import read_table

    frames = [read_table(original_path)]
    for path in feedback_paths:
        frame = read_table(path)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataFileError(f"labelled batch {path} lacks column(s) {', '.join(missing)} the model trains on")
        frames.append(frame)
    combined = pd.concat([f[list(columns)] for f in frames], ignore_index=True)
    combined.to_parquet(out_path, index=False)
    return len(combined)
