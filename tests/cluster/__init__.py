"""A real Kubernetes cluster (one node by default, more on request) for the kubemcp test suite.

Public entry points (see README.md in this folder):

- ``tests.cluster.harness``: ``up()``, ``down()``, ``status()``, ``Cluster``, ``nodes()``,
  ``stop_node()``, ``start_node()``
- ``tests.cluster.images``: ``build_image()``, ``load_image()``, ``base_image()``
- ``tests.cluster.attach``: ``attach()`` (pods/attach over an aiohttp WebSocket)
"""
