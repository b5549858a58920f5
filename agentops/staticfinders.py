"""Static files that installed Python packages ship, served as ours without a copy in the repository.

plotly.js comes inside the pinned `plotly` package (plotly/package_data/plotly.min.js), so the pages
use exactly the plotly.js of the pinned version, offline, and the repository does not carry 4.6 MB of
it. Served at {% static 'vendor/plotly.min.js' %}, found by `findstatic` and copied by `collectstatic`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

# URL path under STATIC_URL -> (package, file inside the package).
PACKAGED = {"vendor/plotly.min.js": ("plotly", "package_data/plotly.min.js")}


def _file(package: str, inner: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"the package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / inner


class PackagedAssetsFinder(BaseFinder):
    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        # As Django's own finders answer: a miss is [] (never "" or None), a hit the path or [path].
        if path not in PACKAGED:
            return []
        found = str(_file(*PACKAGED[path]))
        return [found] if find_all or kwargs.get("all") else found

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        for path, (package, inner) in PACKAGED.items():
            source = _file(package, inner)
            storage = FileSystemStorage(location=str(source.parent))
            # collectstatic and whitenoise put the file at prefix/name.
            storage.prefix = str(Path(path).parent)  # type: ignore[attr-defined]
            yield source.name, storage
