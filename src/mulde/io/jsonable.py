"""JSON of values that may be NumPy (or PyTorch) scalars and arrays, without importing either."""

from __future__ import annotations

from typing import Any


def json_default(value: Any) -> Any:
    """`json.dumps(..., default=json_default)`: a NumPy or PyTorch scalar as the Python number
    it holds (`.item()`), an array as nested lists (`.tolist()`); anything else is refused as
    `json` refuses it. Parameters come as NumPy scalars from a grid (np.arange(100, 400,
    100) gives np.int64, a float32 array np.float32), which json cannot write."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
