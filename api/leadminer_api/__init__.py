"""The mining service's HTTP API: Leadminer's mining routes over the mining flow
(``leadminer.flow``), one ASGI app for the self-host service and the Cloudflare
fetch-dispatch Worker."""
