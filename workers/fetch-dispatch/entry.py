"""The fetch-dispatch Worker (wrangler/fetch-dispatch.toml): consumes mining-fetch-<env> (a
queued mining's source read into raw batches for extract) and its dead letters, and runs the
cron cleanup of minings that died. Thin: the loop is leadminer.adapters.cloudflare.worker."""

from workers import WorkerEntrypoint

from leadminer.adapters.cloudflare.worker import cleanup, consume


class Default(WorkerEntrypoint):
    async def queue(self, batch):
        await consume(batch, self.env)

    async def scheduled(self, controller, env=None, ctx=None):
        await cleanup(self.env)
