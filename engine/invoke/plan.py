"""What a sandbox is built from, planned in pure code: the state directory's paths, its cgroup's
name, its limits (with Lambda's init CPU boost) and its `SandboxSpec`. `Pool` carries the plan
out, one step per line."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from engine.config import SandboxConfig
from engine.model.function import FunctionConfig
from engine.runtime.catalog import RuntimeKind
from engine.runtime.variables import runtime_environment
from sandbox.limits import CgroupLimits, limits_for
from sandbox.spec import SandboxSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolPaths:
    """Where sandboxes find what the daemon prepared in its state directory."""

    rootfs_dir: Path  # an empty mount point for every sandbox's root (inside its own mount ns)
    etc_dir: Path  # the read-only /etc every sandbox sees
    logs_dir: Path  # log groups and their streams (`engine.runtime.log_store`)


def cgroup_name(sandbox_id: str) -> str:
    """A sandbox's cgroup, under the daemon's parent (`sandbox.cgroup_parent`)."""
    return f"sb-{sandbox_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvironmentLimits:
    init: CgroupLimits  # from specialization until the runtime is Ready
    run: CgroupLimits  # from Ready on: CPU proportional to memory


def plan_limits(
    function: FunctionConfig, sandbox: SandboxConfig, *, host_cpus: int, boost: bool = True
) -> EnvironmentLimits:
    """`boost`: init may use every vCPU a function may have (for `sandbox.init_boost_s` at
    most; the pool ends it). Without it init runs at the memory-proportional quota."""
    run = limits_for(
        memory_mb=function.memory_mb,
        host_cpus=host_cpus,
        mb_per_vcpu=sandbox.mb_per_vcpu,
        max_vcpus=sandbox.max_vcpus,
        pids_max=sandbox.pids_max,
    )
    # Lambda boosts CPU during init: the platform's set-up and the function's init run with
    # every vCPU a function may have (max_vcpus, at most the host's: node and awslambdaric
    # start multi-threaded); the memory-proportional quota applies from Ready.
    if not boost or sandbox.init_boost_s <= 0:
        return EnvironmentLimits(init=run, run=run)
    boost_vcpus = min(float(host_cpus), sandbox.max_vcpus)
    boost_us = max(run.cpu_quota_us, int(boost_vcpus * run.cpu_period_us))
    return EnvironmentLimits(init=dataclasses.replace(run, cpu_quota_us=boost_us), run=run)


def plan_spec(
    function: FunctionConfig,
    kind: RuntimeKind,
    *,
    sandbox_id: str,
    uid: int,
    code_dir: Path,
    opt_dir: Path | None,
    region: str,
    log_stream_name: str,
    init_type: str,
    netns: bool,
) -> SandboxSpec:
    """The spec the spawner turns a stem into: one function version's runtime."""
    return SandboxSpec(
        sandbox_id=sandbox_id,
        runtime=function.runtime,
        handler=function.handler,
        uid=uid,
        gid=uid,
        hostname=f"lambdalet-{sandbox_id}",
        code_dir=os.fspath(code_dir),
        opt_dir=os.fspath(opt_dir or ""),
        runtime_dir=os.fspath(kind.runtime_dir),
        tmp_size_mb=function.ephemeral_storage_mb,
        env=runtime_environment(
            function,
            region=region,
            log_stream_name=log_stream_name,
            runtime_vars=kind.env,
            init_type=init_type,
        ),
        netns=netns,
        entrypoint=kind.entrypoint,
        args=kind.args,
        api=kind.api,
    )
