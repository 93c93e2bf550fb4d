"""``python -m kiln``: the ``kiln`` command, for callers that only know the interpreter
(the server launches ``python -m kiln pipelines resume RUN`` this way)."""

from kiln.cli import main

if __name__ == "__main__":
    main()
