"""Cloudflare adapters: the storage and queue ports over Worker bindings (D1, R2, Queues,
fetch). Pure Python over the bindings' methods, so they run in a Python Worker (where the
`workers` SDK wraps the JS bindings) and on CPython against the local stack's bridges
(tests, tools). Nothing here imports ``js`` at module level: the core still imports on CPython."""
