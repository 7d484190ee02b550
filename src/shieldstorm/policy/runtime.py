"""One call for a Shield process: the holder, hot reload from a bundle source, shadow recording, status.

```python
runtime = PolicyRuntime.create(source="http://bundles/shield.tar.gz", public_keys=[pem], database_url=url)
runtime.start()                 # background polling with jitter
decision = runtime.holder.evaluate(document)
runtime.status()                # revision, digest, signer, polls, rejections, shadow candidate
runtime.stop()
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shieldstorm.policy.activation import PolicyManager
from shieldstorm.policy.engine import PolicyEngine
from shieldstorm.policy.holder import PolicyHolder
from shieldstorm.policy.reload import BundleSource, DatabaseSource, PolicyWatcher, source_for
from shieldstorm.policy.shadow import ShadowRecorder


@dataclass
class PolicyRuntime:
    holder: PolicyHolder
    manager: PolicyManager
    watcher: PolicyWatcher | None = None
    recorder: ShadowRecorder | None = None
    store: Any | None = None

    @classmethod
    def create(
        cls,
        *,
        bundle: str | Path | None = None,
        source: str | None = None,
        follow_database: bool = False,
        public_keys: list[bytes] | None = None,
        require_signature: bool = True,
        run_tests: bool = True,
        fail_mode: str = "closed",
        presets: list[str] | None = None,
        database_url: str | None = None,
        audit: Any | None = None,
        shadow_sample_rate: float = 0.0,
        shadow_in_background: bool = False,
        min_delay: float = 10.0,
        max_delay: float = 20.0,
    ) -> PolicyRuntime:
        """Start from `bundle` (trusted local path) or the built-in policy; then follow `source` (directory,
        archive or bundle-server URL) or, with `follow_database`, the activation history."""
        engine = (
            PolicyEngine.from_bundle(bundle, fail_mode=fail_mode)
            if bundle is not None
            else PolicyEngine.default(fail_mode=fail_mode, presets=presets)
        )
        holder = PolicyHolder(engine, shadow_in_background=shadow_in_background)
        store = None
        if database_url is not None or follow_database or shadow_sample_rate > 0:
            from shieldstorm.policy.store import PolicyStore

            store = PolicyStore.open(database_url)
        # Replicas do not write history (the operator's `policy activate` does); they only follow and swap.
        manager = PolicyManager(
            holder,
            None,
            public_keys=public_keys,
            require_signature=require_signature,
            run_tests=run_tests,
            audit=audit,
            fail_mode=fail_mode,
        )
        watched: BundleSource | None = None
        if source is not None:
            watched = source_for(source)
        elif follow_database and store is not None:
            watched = DatabaseSource(store)
        watcher = PolicyWatcher(watched, manager, min_delay=min_delay, max_delay=max_delay) if watched else None
        recorder = None
        if store is not None:
            recorder = ShadowRecorder(store, sample_rate=shadow_sample_rate)
            recorder.attach(holder)
        return cls(holder, manager, watcher, recorder, store)

    def shadow(self, bundle: str | Path) -> PolicyEngine:
        """Evaluate a (verified, tested) candidate bundle beside the active one on live traffic."""
        from shieldstorm.policy.bundle import load_bundle

        return self.manager.stage_candidate(load_bundle(bundle), actor="shadow", source=str(bundle))

    def promote(self) -> None:
        """Make the shadow candidate active through the normal activation path (anti-rollback, audit)."""
        candidate = self.holder.candidate
        if candidate is None:
            raise ValueError("no shadow candidate to promote")
        self.manager.activate(candidate.bundle, actor="shadow-promote", source="shadow candidate")
        self.holder.set_candidate(None)

    def start(self) -> None:
        if self.watcher is not None:
            self.watcher.poll_once()  # the first bundle is in place before traffic, when the source is up
            self.watcher.start()

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        if self.recorder is not None:
            self.recorder.close()
        if self.store is not None:
            self.store.close()

    def status(self) -> dict[str, Any]:
        engine = self.holder.engine
        status: dict[str, Any] = {
            "revision": engine.revision,
            "digest": engine.digest,
            "signer": engine.signer,
            "builtin": engine.builtin,
            "fail_mode": engine.fail_mode,
            "candidate": self.holder.candidate.revision if self.holder.candidate is not None else None,
            "shadow_evaluated": self.holder.shadow_evaluated,
            "divergences": len(self.holder.divergences),
        }
        if self.watcher is not None:
            status["reload"] = self.watcher.status()
        return status
