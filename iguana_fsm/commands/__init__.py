"""The verbs of ``iguana``, one module each: ``add_parser(subparsers)`` declares the verb and
its flags, ``handle(args) -> int`` does it. A verb module imports at its top only what its flags
need; its handler imports the rest, so that ``iguana status`` loads no engine."""
