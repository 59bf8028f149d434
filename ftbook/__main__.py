"""Command line: ``python -m ftbook interpreter 3.14t`` and friends.

Useful on its own (to pre-build an interpreter, or to see which one the
project would use) and from the noxfile.
"""

from __future__ import annotations

import argparse
import sys

from ftbook import ProvisionError
from ftbook.provision.envs import BOOK_ENVS, book_env_python, prepare_book_env
from ftbook.provision.interpreters import INTERPRETERS, find_or_build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbook", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    interpreter = commands.add_parser("interpreter", help="find or build an interpreter; print its path")
    interpreter.add_argument("key", choices=INTERPRETERS)
    env = commands.add_parser("env", help="prepare a book environment; print its python")
    env.add_argument("name", choices=BOOK_ENVS)
    where = commands.add_parser("where", help="print a prepared book environment's python (never builds)")
    where.add_argument("name", choices=BOOK_ENVS)
    args = parser.parse_args(argv)

    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731 - keep stdout for the path
    try:
        if args.command == "interpreter":
            print(find_or_build(args.key, log=log))
        elif args.command == "env":
            print(prepare_book_env(args.name, log=log))
        else:
            print(book_env_python(args.name))
    except ProvisionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
