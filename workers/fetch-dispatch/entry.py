"""The fetch-dispatch Worker (wrangler/fetch-dispatch.toml): serves the HTTP API (the FastAPI
app of api/leadminer_api through the SDK's ASGI bridge, over the Cloudflare backend, with the
fetcher's routes), consumes mining-fetch-<env> (a queued upload read into raw batches for
extract, or a stored IMAP mailbox handed to the fetcher container) and its dead letters, and
runs the cron cleanup of minings that died. FetcherContainer is the Durable Object class of the
fetcher container ([[containers]]): one per mining. Thin: the loop is
leadminer.adapters.cloudflare.worker, the container's start leadminer.adapters.cloudflare.fetcher,
the app leadminer_api."""

import json

import js
from workers import DurableObject, WorkerEntrypoint, asgi

from leadminer.adapters.cloudflare.fetcher import start_container
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


class FetcherContainer(DurableObject):
    async def fetch(self, request):
        await start_container(self.ctx, self.env, json.loads(await request.text()))
        return js.Response.new("started")
