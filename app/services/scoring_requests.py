"""A scoring request checked before any model sees it: ``parse_request`` turns the JSON body into
a ``ScoredRow`` or raises ``BadRequest`` with a message naming the field and what to send."""

from __future__ import annotations

import math
import uuid
from typing import Any

from app.errors import WorkbenchError
from app.ml.served_model import ScoredRow
from app.services.prediction_log import MAX_REQUEST_ID


class BadRequest(WorkbenchError):
    """A request the client must fix (HTTP 400); the message names the field."""

    status = 400


#: The longest categorical value a request may send: far above any real category, far below a
#: string that would bloat the prediction log (every request's features are stored).
MAX_CATEGORY_CHARS = 1_000


def parse_request(payload: Any, features: dict[str, str]) -> ScoredRow:
    """Check one request ``{"features": {...}, "request_id": "..."}``; raise ``BadRequest`` naming the field."""
    if not isinstance(payload, dict):
        raise BadRequest(f"the request must be a JSON object like {{\"features\": {{...}}}}, not {_json_kind(payload)}")
    unknown_fields = sorted(set(payload) - {"features", "request_id"})
    if unknown_fields:
        raise BadRequest(f"unknown field(s) {', '.join(map(repr, unknown_fields))}: a request has 'features' "
                         "and optionally 'request_id'")
    request_id = payload.get("request_id")
    if request_id is None:
        request_id = uuid.uuid4().hex
    elif not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID or not request_id.isprintable():
        raise BadRequest(f"'request_id' must be a printable string of 1 to {MAX_REQUEST_ID} characters")
    given = payload.get("features")
    if not isinstance(given, dict):
        what = "missing" if given is None else _json_kind(given)
        raise BadRequest(f"'features' must be an object of feature values, not {what}: send "
                         f"{{\"features\": {{{', '.join(repr(n) + ': ...' for n in features)}}}}}")
    missing = [n for n in features if n not in given]
    unknown = sorted(n for n in given if n not in features)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing feature(s) {', '.join(map(repr, missing))}")
        if unknown:
            parts.append(f"unknown feature(s) {', '.join(map(repr, unknown))}")
        raise BadRequest(f"{' and '.join(parts)}: the model takes exactly {', '.join(features)} "
                         "(send null for a missing value)")
    values: dict[str, Any] = {}
    numbers: dict[str, float] = {}
    for name, kind in features.items():
        value = given[name]
        if kind == "numeric":
            number = _number(name, value)
            numbers[name] = number
            values[name] = None if math.isnan(number) else number
        else:
            values[name] = _category(name, value)
    return ScoredRow(request_id, values, numbers)


def _number(name: str, value: Any) -> float:
    value = _plain(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan  # null; or pandas' missing value from an in-process caller (JSON cannot carry NaN)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRequest(f"feature '{name}' is numeric: send a number or null, not {_json_kind(value)}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise BadRequest(f"feature '{name}' is numeric but {show_value(value)} is not a number: "
                         "send a number or null") from None
    if not math.isfinite(number):
        raise BadRequest(f"feature '{name}' must be a finite number, or null when it is missing, "
                         f"not {show_value(value)}")
    return number


def _category(name: str, value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, str) and len(value) > MAX_CATEGORY_CHARS:
        raise BadRequest(f"feature '{name}' is {len(value):,} characters long; a category is at most "
                         f"{MAX_CATEGORY_CHARS:,} (each request is kept in the prediction log)")
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # pandas' missing value, as the training frame had it
    raise BadRequest(f"feature '{name}' is categorical: send a string, number, true/false or null, "
                     f"not {_json_kind(value)}")


def _plain(value: Any) -> Any:
    """A numpy scalar from an in-process caller as the Python value JSON would have given."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


def show_value(value: Any) -> str:
    """A value quoted in an error message, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
