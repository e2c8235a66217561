"""The refine Worker: consumes mining-refine-<env> and its dead letters (wrangler/refine.toml).
Thin: the loop is leadminer.adapters.cloudflare.worker, the mining the shared flow."""

from workers import WorkerEntrypoint

from leadminer.adapters.cloudflare.worker import consume


class Default(WorkerEntrypoint):
    async def queue(self, batch):
        await consume(batch, self.env)
