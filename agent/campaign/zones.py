"""The customer's local time from the area code (data: ``area_zones.yaml``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from .phones import area_code

DEFAULT_ZONE = "America/Mexico_City"
MEXICO_CITY = ZoneInfo(DEFAULT_ZONE)  # reports' days and recordings' folders are counted in it


@lru_cache(maxsize=1)
def _zones_by_area() -> dict[str, str]:
    data = yaml.safe_load(Path(__file__).with_name("area_zones.yaml").read_text(encoding="utf-8"))
    return {area: zone for zone, areas in data.items() for area in areas}


def zone_name(e164: str) -> str:
    return _zones_by_area().get(area_code(e164), DEFAULT_ZONE)


def zone_for(e164: str) -> ZoneInfo:
    return ZoneInfo(zone_name(e164))
