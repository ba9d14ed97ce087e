"""Build ingest/data/townships.tsv.gz, the gazetteer of township-level divisions.

Source: the administrative-division table shipped in the JioNLP wheel
(``jionlp/dictionary/china_location.zip``, Apache-2.0, maintained with the
民政部 division codes: province → city → county → township → village). Only
the township level is kept (镇, 乡 incl. 民族乡, 街道, 苏木), with its county,
city and province, so the project does not need JioNLP (and its 85 MB
tokenizer dependency) at run time. Re-run after a JioNLP release to refresh:

    pip download --no-deps jionlp -d /tmp/jionlp
    python scripts/build_gazetteer.py /tmp/jionlp/jionlp-*.whl
"""

from __future__ import annotations

import gzip
import io
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "ingest" / "data" / "townships.tsv.gz"
UNITS = ("镇", "乡", "街道", "苏木")


def rows(table: str):
    """Yield (township, county, city, province) from the tab-indented table."""
    province = city = county = ""
    for line in table.splitlines():
        name = line.strip().split("\t")[0] if line.strip() else ""
        if not name:
            continue
        depth = len(line) - len(line.lstrip("\t"))
        if depth == 0:
            province, city, county = name, "", ""
        elif depth == 1:
            city, county = name, ""
        elif depth == 2:
            county = name
        elif depth == 3 and name.endswith(UNITS):
            yield name, county, city, province


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as whl:
        inner = whl.read("jionlp/dictionary/china_location.zip")
    with zipfile.ZipFile(io.BytesIO(inner)) as z:
        table = z.read("china_location.txt").decode("utf-8")
    out = sorted(set(rows(table)), key=lambda r: (r[3], r[2], r[1], r[0]))
    header = f"# township\tcounty\tcity\tprovince — from {Path(wheel).name} (JioNLP, Apache-2.0)\n"
    body = "".join("\t".join(r) + "\n" for r in out)
    # mtime=0: the same input gives the same bytes, so a refresh shows up in git only when the data changes.
    with open(OUT, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
        gz.write((header + body).encode("utf-8"))
    print(f"{len(out)} townships -> {OUT} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
