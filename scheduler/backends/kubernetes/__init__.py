"""The Kubernetes backend: each rank of a job is a pod, each job has a headless service.

Modules: :mod:`.names` (labels, annotations, object names), :mod:`.manifests` (pure:
launch → pod/service dicts), :mod:`.mapping` (pure: pod → rank observation),
:mod:`.client` (the few API calls, over the official client), :mod:`.watch` (list+watch
cache), :mod:`.sweep` (orphans and finished pods), :mod:`.logs`, :mod:`.rankrun` (the
in-pod supervisor) and :mod:`.backend` (:class:`KubernetesBackend`).

Nothing is imported here: the in-pod supervisor imports this package and must start fast.
"""
