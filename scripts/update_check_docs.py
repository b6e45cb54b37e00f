"""Write the examples of docs/checks.md from the cases in tests/cases/*.yaml.

Each example sits between ``<!-- case: <check>/<name> -->`` and ``<!-- /case -->``; this
rewrites what is between them (the code, the command and its output) and leaves the prose
alone. tests/test_docs.py fails when the docs and the cases differ; tests/test_cases.py runs
the cases. Usage: ``python scripts/update_check_docs.py`` from anywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from check_cases import DOCS, all_cases, update_docs  # noqa: E402


def main() -> int:
    text = DOCS.read_text(encoding="utf-8")
    updated = update_docs(text, all_cases())
    if updated == text:
        print(f"{DOCS}: the examples are the cases")
    else:
        DOCS.write_text(updated, encoding="utf-8")
        print(f"{DOCS}: examples written from the cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
