"""JupyterHub wiring for HAI Hub: the lease culler service, hub pages and handlers."""
