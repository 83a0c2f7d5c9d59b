"""The cold start's plan: limits with and without Lambda's init CPU boost, and the spec."""

from __future__ import annotations

from pathlib import Path

from engine.config import SandboxConfig
from engine.invoke.plan import cgroup_name, plan_limits, plan_spec
from engine.model.function import FunctionConfig
from engine.runtime.catalog import PYTHON_RUNTIME_DIR, RuntimeKind

FUNCTION = FunctionConfig(
    name="fn",
    runtime="python3.11",
    handler="app.handler",
    role="arn:aws:iam::000000000000:role/r",
    memory_mb=128,
    code_digest="0" * 64,
    code_sha256="x",
    code_size=1,
    last_modified="2024-01-01T00:00:00.000+0000",
    revision_id="r1",
)


def test_init_is_boosted_to_every_vcpu_a_function_may_have() -> None:
    limits = plan_limits(FUNCTION, SandboxConfig(), host_cpus=2)
    assert limits.run.cpu_quota_us == 7236  # 128/1769 of a vCPU
    assert limits.init.cpu_quota_us == 200_000  # both host CPUs (below max_vcpus = 6)
    assert limits.init.memory_max_bytes == limits.run.memory_max_bytes
    assert limits.init.cpu_shares == limits.run.cpu_shares == 74  # contention: by memory


def test_no_boost_for_a_version_that_keeps_crashing_or_when_turned_off() -> None:
    backed_off = plan_limits(FUNCTION, SandboxConfig(), host_cpus=2, boost=False)
    assert backed_off.init == backed_off.run
    off = plan_limits(FUNCTION, SandboxConfig(init_boost_s=0), host_cpus=2)
    assert off.init == off.run


def test_the_spec_names_the_stem_uid_and_environment() -> None:
    kind = RuntimeKind(name="python3.11", runtime_dir=PYTHON_RUNTIME_DIR)
    spec = plan_spec(
        FUNCTION,
        kind,
        sandbox_id="abc",
        uid=200001,
        code_dir=Path("/state/code/x"),
        opt_dir=None,
        region="us-east-1",
        log_stream_name="2024/01/01/[$LATEST]ab",
        init_type="on-demand",
        netns=True,
    )
    assert (spec.sandbox_id, spec.uid, spec.gid, spec.hostname) == (
        "abc", 200001, 200001, "lambdalet-abc",
    )  # fmt: skip
    assert spec.opt_dir == "" and spec.netns
    assert spec.env["AWS_LAMBDA_FUNCTION_NAME"] == "fn"
    assert cgroup_name("abc") == "sb-abc"
