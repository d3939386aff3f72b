"""Run at the start of every haienv kernel (``IPKernelApp.exec_lines``): ``%hai`` and
``import haienv`` work there although the env has neither installed.

The folder of :mod:`haienv_kernels.kernel_site` (hai_client, haienv and the distributions
they need, nothing else of the platform) is appended to ``sys.path``, after the env's own
packages, which therefore always win; then the ``%hai`` magics are loaded. Any failure
(an env of another Python version than the platform's C extensions, say) leaves the
kernel as it was, with one line on stderr. This file is executed, not imported: the
kernel cannot import the platform yet.
"""

import sys as _sys


def _hai_startup(paths, ipython):
    for path in paths:
        if path not in _sys.path:
            _sys.path.append(path)
    try:
        import hai_client.magics

        hai_client.magics.load_ipython_extension(ipython)
    except Exception as exc:  # the kernel must start whatever happens here
        print(f"haienv kernel: %hai magics not loaded ({exc})", file=_sys.stderr)


_hai_startup(_hai_paths, get_ipython())  # noqa: F821 - given by the exec_lines call
del _hai_startup
