"""``python -m haienv`` runs the command line (what the ``haienv`` bash script executes)."""

from .entry import main

if __name__ == "__main__":
    main()
