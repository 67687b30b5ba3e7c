"""Record the golden metrics that `tests/test_golden.py` asks the model to reproduce exactly.

    .venv/bin/python scripts/record_golden.py

Re-record only when a change is meant to alter results (a new mechanism, a changed random
stream), and say why in the commit: the golden file is what "results do not change" means.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.golden_cases import CASES, play  # noqa: E402

GOLDEN = ROOT / "tests" / "golden" / "metrics.json"


def main() -> None:
    recorded = {}
    for case in CASES:
        recorded[case] = play(case)
        print(f"recorded {case}")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    # json writes floats with repr, which reads back to the same double: an exact record.
    GOLDEN.write_text(json.dumps(recorded, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {GOLDEN.relative_to(ROOT)} ({GOLDEN.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
