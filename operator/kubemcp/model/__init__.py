"""The lower layer shared by the gateway, the operator and every runtime: what a server is (its spec
and lifecycle), how one is reached (the JSON-RPC link) and started (the `Runtime` protocol), and the
rules for names. Nothing here imports from the layers above."""
