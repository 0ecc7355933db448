from typing import Any

def scan(data: bytes, pos: int, seq: int, prev: str, evaluations: dict[str, Any], latest: dict[str, Any],
         first: dict[str, Any], /) -> tuple[int, int, int, str, str]: ...
