"""Run at the start of every haienv kernel (``IPKernelApp.exec_lines``): ``%hai`` and
``import haienv`` work there although the env has neither installed.

The platform's packages are put on ``sys.path`` only while ``hai_client`` (with what it
imports: httpx, click, rich, ipywidgets) and ``haienv`` are imported, and taken off again,
so the env's own packages are never shadowed and nothing else of the platform leaks into
the kernel. Then the ``%hai`` magics are loaded. Any failure (an env of another Python
version than the platform's C extensions, say) leaves the kernel as it was, with one
line on stderr. This file is executed, not imported: the kernel cannot import the
platform yet.
"""

import sys as _sys


def _hai_startup(paths, ipython):
    added = [p for p in paths if p not in _sys.path]
    _sys.path.extend(added)
    try:
        import hai_client.magics
        import hai_client.widgets
        import haienv  # noqa: F401

        hai_client.magics.load_ipython_extension(ipython)
    except Exception as exc:  # the kernel must start whatever happens here
        print(f"haienv kernel: %hai magics not loaded ({exc})", file=_sys.stderr)
    finally:
        for p in added:
            if p in _sys.path:
                _sys.path.remove(p)


_hai_startup(_hai_paths, get_ipython())  # noqa: F821 - given by the exec_lines call
del _hai_startup
