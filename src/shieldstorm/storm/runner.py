"""The storm runner: send every mutation to the agent concurrently and check every invariant.

asyncio with a fixed pool of workers (default 16) pulling from one queue, an optional rate limit, a per-call
timeout, and a Rich progress bar. Results keep the mutations' order, so the same seed and config give the
same result list regardless of which call finished first.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from shieldstorm.storm.adapters import Agent, AgentError, CallMeta, build_agent
from shieldstorm.storm.config import GoldenCase, StormConfig
from shieldstorm.storm.generation import build_mutations
from shieldstorm.storm.invariants.base import BuildContext, Check, CheckContext, Invariant
from shieldstorm.storm.invariants.registry import all_invariants
from shieldstorm.storm.models import AgentReply, CaseResult, InvariantOutcome, StormRun
from shieldstorm.storm.mutations.base import Message, Mutation, Mutator
from shieldstorm.storm.scoring import score_run

BASELINE_TYPE = "baseline"
AGENT_RESPONDED = "agent_responded"


class RateLimiter:
    """Spaces calls at least 1/rate apart across all workers (a leaky bucket without bursts)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next_slot = 0.0
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self.lock:
            now = time.monotonic()
            wait = self.next_slot - now
            self.next_slot = max(now, self.next_slot) + self.interval
        if wait > 0:
            await asyncio.sleep(wait)


def build_invariants(config: StormConfig) -> tuple[list[Invariant], dict[str, list[Invariant]]]:
    """Run-wide invariants, and per golden case its extra ones."""
    registry = all_invariants()
    build = BuildContext(base_dir=config.base_dir, system_prompt=config.system_prompt, canary=config.canary)
    shared = [registry[spec.type](spec, build) for spec in config.invariants]
    per_case = {case.id or "": [registry[spec.type](spec, build) for spec in case.invariants] for case in config.golden}
    return shared, per_case


@dataclass
class _Call:
    agent: Agent
    timeout: float
    limiter: RateLimiter | None
    system_prompt: str | None


async def _call_once(call: _Call, messages: list[Message], meta: CallMeta) -> AgentReply:
    if call.limiter is not None:
        await call.limiter.acquire()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(call.timeout):
            output = await call.agent.call(messages, meta)
    except TimeoutError:
        elapsed = (time.perf_counter() - started) * 1000
        return AgentReply(latency_ms=elapsed, error=f"timeout: no reply within {call.timeout:g} s")
    except AgentError as exc:
        return AgentReply(latency_ms=(time.perf_counter() - started) * 1000, error=str(exc))
    except Exception as exc:  # an adapter bug must not abort the whole run; record it as this case's cause
        return AgentReply(latency_ms=(time.perf_counter() - started) * 1000, error=f"{type(exc).__name__}: {exc}")
    elapsed_ms = (time.perf_counter() - started) * 1000
    return AgentReply(text=output.text, tool_calls=output.tool_calls, latency_ms=elapsed_ms)


async def ask(call: _Call, messages: list[Message], meta: CallMeta, *, interactive: bool) -> AgentReply:
    """One case. Interactive (multi-turn) cases are played turn by turn: each user turn not followed by a
    scripted assistant turn is answered by the agent, and that answer becomes part of the history."""
    if not interactive:
        return await _call_once(call, messages, meta)
    history: list[Message] = []
    reply = AgentReply(error="conversation has no user turn")
    total_ms = 0.0
    for index, message in enumerate(messages):
        history.append(message)
        following = messages[index + 1] if index + 1 < len(messages) else None
        if message.role == "user" and (following is None or following.role == "user"):
            reply = await _call_once(call, list(history), meta)
            total_ms += reply.latency_ms
            if reply.error is not None:
                break
            history.append(Message(role="assistant", content=reply.text))
    return reply.model_copy(update={"latency_ms": total_ms})


async def evaluate(invariants: Sequence[Invariant], reply: AgentReply, ctx: CheckContext) -> list[InvariantOutcome]:
    outcomes: list[InvariantOutcome] = []
    error = reply.error
    if error is not None:
        # Only recorded when it fails: a reply that merely arrived must not raise the score.
        outcomes.append(
            InvariantOutcome(
                invariant=AGENT_RESPONDED,
                type=AGENT_RESPONDED,
                severity="high",
                passed=False,
                reason=f"agent error: {error}",
            )
        )
    mutation_type = ctx.mutation.mutation_type
    for invariant in invariants:
        if not invariant.applies(mutation_type):
            continue
        if error is not None:
            check = Check(False, f"no reply to check (agent error: {error})")
        else:
            try:
                check = invariant.check(ctx) if invariant.is_sync else await invariant.acheck(ctx)
            except Exception as exc:  # a broken check is a failed check with its cause, not a crashed run
                check = Check(False, f"invariant raised {type(exc).__name__}: {exc}")
        outcomes.append(
            InvariantOutcome(
                invariant=invariant.name,
                type=invariant.config.type,
                severity=invariant.severity,
                passed=check.passed,
                reason=check.reason,
            )
        )
    return outcomes


def _case_result(mutation: Mutation, reply: AgentReply, outcomes: list[InvariantOutcome]) -> CaseResult:
    failures = [o for o in outcomes if not o.passed]
    return CaseResult(
        id=mutation.id,
        golden_id=mutation.golden_id,
        mutation_type=mutation.mutation_type,
        variant=mutation.variant,
        weight=mutation.weight,
        input=mutation.prompt,
        messages=list(mutation.messages),
        output=reply.text,
        tool_calls=reply.tool_calls,
        latency_ms=round(reply.latency_ms, 3),
        error=reply.error,
        passed=not failures,
        failures=failures,
        checks=outcomes,
    )


class _Progress:
    def __init__(self, enabled: bool, total: int, description: str) -> None:
        self.progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.task = self.progress.add_task(description, total=total, failed=0)
        self.failed = 0
        # Rich updates take a lock and recompute speed samples: batch them, at most every 0.1 s.
        self.pending = 0
        self.next_update = 0.0

    def __enter__(self) -> _Progress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.flush()
            self.progress.stop()

    def flush(self) -> None:
        if self.progress is not None and self.pending:
            self.progress.update(self.task, advance=self.pending, failed=self.failed)
            self.pending = 0

    def advance(self, passed: bool) -> None:
        if not passed:
            self.failed += 1
        if self.progress is not None:
            self.pending += 1
            now = time.monotonic()
            if now >= self.next_update:
                self.next_update = now + 0.1
                self.flush()


async def run_storm(
    config: StormConfig,
    *,
    seed: int | None = None,
    concurrency: int | None = None,
    target_url: str | None = None,
    progress: bool = True,
    mutators: Mapping[str, Mutator] | None = None,
    mutations: Sequence[Mutation] | None = None,
) -> StormRun:
    """Generate the mutations, send them all, check every invariant and score the run."""
    run_seed = config.run.seed if seed is None else seed
    workers = concurrency or config.run.concurrency
    if mutations is not None:
        all_mutations = list(mutations)
    else:
        # In a worker thread: LLM-backed mutators (optional) run their own event loop there.
        all_mutations = await asyncio.to_thread(build_mutations, config, run_seed, mutators)
    shared, per_case = build_invariants(config)
    goldens: dict[str, GoldenCase] = {case.id or "": case for case in config.golden}
    agent = build_agent(config, target_url=target_url, connections=workers)
    limiter = RateLimiter(config.run.rate_limit) if config.run.rate_limit else None
    call = _Call(agent, config.agent.timeout or config.run.timeout, limiter, config.system_prompt)
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    baselines: dict[str, AgentReply] = {}
    baseline_results: list[CaseResult] = []
    results: list[CaseResult | None] = [None] * len(all_mutations)
    by_golden: dict[str, list[Invariant]] = {}

    async def check_case(mutation: Mutation, reply: AgentReply, baseline: AgentReply | None) -> CaseResult:
        case = goldens.get(mutation.golden_id)
        ctx = CheckContext(
            reply=reply,
            mutation=mutation,
            expected=case.expected if case else None,
            baseline=baseline,
            system_prompt=config.system_prompt,
            canary=config.canary,
        )
        invariants = by_golden.get(mutation.golden_id)
        if invariants is None:
            invariants = by_golden[mutation.golden_id] = [*shared, *per_case.get(mutation.golden_id, [])]
        return _case_result(mutation, reply, await evaluate(invariants, reply, ctx))

    async with agent:
        if config.run.baseline:
            for case in config.golden:
                golden_id = case.id or ""
                original = Mutation(
                    id=f"baseline-{golden_id}",
                    mutation_type=BASELINE_TYPE,
                    golden_id=golden_id,
                    variant=0,
                    messages=case.conversation(),
                    weight=1.0,
                )
                meta = CallMeta(golden_id, BASELINE_TYPE, config.system_prompt)
                reply = await ask(call, original.messages, meta, interactive=case.interactive)
                baselines[golden_id] = reply
                baseline_results.append(await check_case(original, reply, None))

        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(all_mutations)):
            queue.put_nowait(index)

        with _Progress(progress, len(all_mutations), f"storm {config.name}") as bar:

            async def worker() -> None:
                while True:
                    try:
                        index = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    mutation = all_mutations[index]
                    case = goldens.get(mutation.golden_id)
                    meta = CallMeta(mutation.golden_id, mutation.mutation_type, config.system_prompt)
                    reply = await ask(call, list(mutation.messages), meta, interactive=bool(case and case.interactive))
                    result = await check_case(mutation, reply, baselines.get(mutation.golden_id))
                    results[index] = result
                    bar.advance(result.passed)

            await asyncio.gather(*(worker() for _ in range(min(workers, max(1, len(all_mutations))))))

    finished = [r for r in results if r is not None]
    card = score_run(
        finished,
        min_score=config.run.min_score,
        fail_on_critical=config.run.fail_on_critical,
        bootstrap_samples=config.run.bootstrap_samples,
        seed=run_seed,
    )
    every = [*shared, *(inv for group in per_case.values() for inv in group)]
    similarity_modes = sorted({inv.backend.mode for inv in every if hasattr(inv, "backend")})
    return StormRun(
        run_id=uuid.uuid4().hex[:12],
        name=config.name,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        duration_s=round(time.perf_counter() - clock, 3),
        seed=run_seed,
        score=card.score,
        total=len(finished),
        passed=sum(r.passed for r in finished),
        agent=agent.description,
        config_digest=config.digest(),
        similarity_mode=",".join(similarity_modes) or "lexical",
        concurrency=workers,
        score_card=card,
        results=finished,
        baselines=baseline_results,
    )
