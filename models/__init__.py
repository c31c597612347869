"""Model manifest, fetcher (official sources or a mirror, sha256-checked) and locator."""

from .registry import (MissingModelError, ModelSpec, fetch_model, installed_path, load_manifest,
                       models_home)

__all__ = ["MissingModelError", "ModelSpec", "fetch_model", "installed_path", "load_manifest", "models_home"]
