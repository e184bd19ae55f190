from ..data.verified import fetch, load_split


def add(sub):
    p = sub.add_parser("data", help="fetch and verify the data sets")
    s = p.add_subparsers(dest="action", metavar="ACTION")
    s.required = True
    f = s.add_parser("fetch", help="put the four verified IDX files into the cache")
    f.add_argument("--dataset", default="mnist", help="mnist | fashion-mnist | custom")
    f.add_argument("--data-dir", default=None)
    f.set_defaults(func=run_fetch)


def run_fetch(ns):
    folder = fetch(ns.dataset, ns.data_dir)
    train, test = load_split(ns.dataset, True, folder), load_split(ns.dataset, False, folder)
    print(f"{ns.dataset}: {len(train)} training and {len(test)} test images, SHA-256 verified, in {folder}")
