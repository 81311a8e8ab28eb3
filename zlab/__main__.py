"""``python -m zlab`` = the ``zlab`` command."""

from .cli import main

if __name__ == "__main__":
    main()
