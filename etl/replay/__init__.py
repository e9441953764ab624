"""A local replay of Watcha Pedia's API and Naver's search-result review pages, with
synthetic reviews and fault injection: for the scraper tests, the benchmark and `make demo`.

Start it with :func:`start_replay` (or ``python -m etl.replay serve``) and point the
``sources.*`` base URLs at it (:meth:`ReplaySite.overrides`, :meth:`ReplaySite.env`).
"""

from pathlib import Path

from etl.replay.corpus import Corpus
from etl.replay.faults import Fault
from etl.replay.server import ReplaySite, start_replay

DEMO_TITLES = Path(__file__).with_name("demo_titles.txt")


def demo_env(site: ReplaySite) -> dict[str, str]:
    """``KREVIEW_*`` variables for a `kreview scrape` of the replay (as `make demo` runs it).

    The pace is quicker than the 1 s default, which is meant for the real sites: this one is
    on loopback, and the demo should finish in about a minute.
    """
    return {
        **site.env(),
        "KREVIEW_SCRAPE__MIN_INTERVAL_S": "0.05",
        "KREVIEW_SCRAPE__JITTER_S": "0.02",
    }


__all__ = ["DEMO_TITLES", "Corpus", "Fault", "ReplaySite", "demo_env", "start_replay"]
