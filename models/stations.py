"""Station codes of the magnetometer network.

The 24 codes of the original system's ``config/pipeline_config.yaml`` (``valid_stations``,
names from its comments) plus ``SMG``, which is not in that list but appears in the real
benchmark (7 of its 296 rows). No torch here.
"""

from __future__ import annotations

STATION_NAMES: dict[str, str] = {
    "SBG": "Sabang",
    "SCN": "Sicincin",
    "KPY": "Kepahiang",
    "LWA": "Liwa",
    "LPS": "Lampung Selatan",
    "SRG": "Serang",
    "SKB": "Sukabumi",
    "CLP": "Cilacap",
    "YOG": "Yogyakarta",
    "TRT": "Tretes",
    "LUT": "Lombok Utara",
    "ALR": "Alor",
    "SMI": "Saumlaki",
    "SRO": "Sorong",
    "TNT": "Ternate",
    "TND": "Tondano",
    "GTO": "Gorontalo",
    "LWK": "Luwuk",
    "PLU": "Palu",
    "TRD": "Tarakan",
    "JYP": "Jayapura",
    "AMB": "Ambon",
    "GSI": "Gunungsitoli",
    "MLB": "Meulaboh",
    "SMG": "",  # in the real benchmark, not in pipeline_config.yaml; name not recorded there
}

STATIONS: tuple[str, ...] = tuple(STATION_NAMES)

# Rows per station in the real 296-row benchmark (stations absent there count 0).
BENCHMARK_ROWS: dict[str, int] = {
    "TRD": 129, "SCN": 34, "SKB": 23, "MLB": 20, "TRT": 15, "SBG": 14, "GTO": 13, "LUT": 7,
    "SMG": 7, "KPY": 6, "PLU": 5, "YOG": 5, "LWK": 4, "SMI": 4, "ALR": 3, "LWA": 2, "TNT": 2,
    "LPS": 1, "SRG": 1, "CLP": 1,
}
