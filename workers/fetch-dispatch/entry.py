"""The fetch-dispatch Worker (wrangler/fetch-dispatch.toml): serves the HTTP API (the FastAPI
app of api/leadminer_api through the SDK's ASGI bridge, over the Cloudflare backend), consumes
mining-fetch-<env> (a queued upload read into raw batches for extract) and its dead letters,
and runs the cron cleanup of minings that died. Thin: the loop is
leadminer.adapters.cloudflare.worker, the app leadminer_api."""

from workers import WorkerEntrypoint, asgi

from leadminer.adapters.cloudflare.worker import cleanup, consume
from leadminer_api.cloudflare import app_for


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if not hasattr(self, "_app"):
            self._app = app_for(self.env)
        return await asgi.fetch(self._app, getattr(request, "js_object", request), self.env)

    async def queue(self, batch):
        await consume(batch, self.env)

    async def scheduled(self, controller, env=None, ctx=None):
        await cleanup(self.env)
