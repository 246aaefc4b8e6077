"""Read a JSON object file (metrics, weights, model metadata) with the project's error contract.

Every problem is a :class:`~voxrecipes.errors.DataError` naming the file: absent, unreadable,
not valid JSON (with the line of the syntax error), or valid JSON that is not an object. The
callers say in their own words what to do about an absent file or a wrong content.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from voxrecipes.errors import DataError


def read_json_object(path: str | os.PathLike, missing: str, not_object: str) -> dict[str, Any]:
    """The JSON object in ``path``; DataError with reason ``missing`` when the file is absent, ``not_object``
    when its JSON is not an object."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, missing)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(path, err.lineno, f"not valid JSON: {err.msg}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, None, f"cannot read: {err}") from None
    if not isinstance(value, dict):
        raise DataError(path, None, not_object)
    return value
