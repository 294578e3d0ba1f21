"""Well-known cloud regions and great-circle distance between them.

Coordinates are the approximate locations of the metro areas the big cloud
providers name their regions after (public geography, rounded to 0.1°).  A
scenario can say ``region: eu-west`` and get Dublin; it can also declare its
own regions with ``lat``/``lon``, or skip coordinates and give a latency
matrix instead.

>>> round(great_circle_km(REGIONS["us-east"], REGIONS["eu-west"]))
5439
"""

from __future__ import annotations

import math

__all__ = ["EARTH_RADIUS_KM", "REGIONS", "great_circle_km"]

#: Mean Earth radius (IUGG), km.
EARTH_RADIUS_KM = 6371.0

#: name → (latitude, longitude) in degrees.  Short names point at the first
#: region of that area (AWS naming): ``us-east`` = N. Virginia.
REGIONS: dict[str, tuple[float, float]] = {
    "us-east": (38.9, -77.0),  # N. Virginia (us-east-1)
    "us-east-2": (40.0, -83.0),  # Ohio
    "us-central": (41.3, -95.9),  # Iowa (GCP us-central1)
    "us-west": (45.6, -121.2),  # Oregon (us-west-2)
    "us-west-1": (37.4, -121.9),  # N. California
    "ca-central": (45.5, -73.6),  # Montréal
    "sa-east": (-23.5, -46.6),  # São Paulo
    "eu-west": (53.3, -6.3),  # Dublin (eu-west-1)
    "eu-west-2": (51.5, -0.1),  # London
    "eu-west-3": (48.9, 2.4),  # Paris
    "eu-central": (50.1, 8.7),  # Frankfurt
    "eu-north": (59.3, 18.1),  # Stockholm
    "me-central": (25.2, 55.3),  # UAE
    "af-south": (-33.9, 18.4),  # Cape Town
    "ap-south": (19.1, 72.9),  # Mumbai
    "ap-southeast": (1.35, 103.8),  # Singapore
    "ap-southeast-2": (-33.9, 151.2),  # Sydney
    "ap-northeast": (35.7, 139.7),  # Tokyo
    "ap-northeast-2": (37.6, 127.0),  # Seoul
    "ap-east": (22.3, 114.2),  # Hong Kong
}


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the great-circle distance in km between two (lat, lon) points (haversine)."""
    lat1, lon1 = map(math.radians, a)
    lat2, lon2 = map(math.radians, b)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
