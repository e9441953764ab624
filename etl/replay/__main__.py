"""``python -m etl.replay serve`` serves the replay site until interrupted;
``python -m etl.replay titles N`` prints a titles list of the first N replay films."""

from __future__ import annotations

import argparse
import json
import sys
import time

from etl.replay.corpus import film_names
from etl.replay.faults import Fault
from etl.replay.server import start_replay


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m etl.replay")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="serve both sites on 127.0.0.1 until interrupted")
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--titles", type=int, default=None, help="number of films (default: 42)")
    serve.add_argument("--reviews-per-title", type=int, default=None, help="default: varied")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="added to every response")
    serve.add_argument("--watcha-port", type=int, default=0)
    serve.add_argument("--naver-port", type=int, default=0)
    serve.add_argument(
        "--fault", action="append", default=[], help='JSON, e.g. {"kind": "error", "times": 2}'
    )
    titles = sub.add_parser("titles", help="print a titles list (name<TAB>year) of N films")
    titles.add_argument("count", type=int)
    args = parser.parse_args(argv)

    if args.cmd == "titles":
        for name, year, _genre in film_names(args.count):
            print(f"{name}\t{year}")
        return
    site = start_replay(
        args.seed,
        n_titles=args.titles,
        reviews_per_title=args.reviews_per_title,
        latency_s=args.latency_ms / 1000,
        ports=(args.watcha_port, args.naver_port),
    )
    site.faults.add(*(Fault.from_json(json.loads(f)) for f in args.fault))
    # One JSON line first, so a parent process can read the chosen ports.
    print(json.dumps({"watcha": site.watcha_url, "naver": site.naver_url, "env": site.env()}))
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        site.stop()


if __name__ == "__main__":
    main()
