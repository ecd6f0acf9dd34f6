"""The two scheduled ways to reconcile, run as their schedulers run them, end to end: the
example workflow's reconcile job (example-repo/.github/workflows/gitops-edge.yaml) as the
GitHub runner runs it on a `schedule` (and a `workflow_dispatch`) event — its `${{ }}`
expressions evaluated with that event's contexts (tests/workflow_expressions.py; on `schedule`
the event payload has no `repository`, so `github.event.repository.default_branch` is null, and
`github.ref_name` is the default branch), each `run:` in `bash -e` — and the container of
deploy/reconciler-cronjob.yaml (its args expanded from its env as the kubelet does). Both
reconcile a file:// remote into the stand-in API server (tests/kube_standin.py) with their
command lines unchanged: the workflow's https://github.com URL reaches the local remote through
git's own `url.<base>.insteadOf`, the CronJob's REPO_URL is set as its comment says. Each must
stamp the spec commit on what it applies and push a status commit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kube_standin import StandIn, running
from standin_rbac import service_account_grants
from test_git_source import run
from workflow_expressions import condition, evaluate, substitute

from gitops_edge.model.desired import DEFAULT_STATUS_BRANCH, REVISION_ANNOTATION
from gitops_edge.repository.yamldoc import load_documents

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example-repo"
WORKFLOW = EXAMPLE / ".github" / "workflows" / "gitops-edge.yaml"
BIN = Path(sys.executable).parent  # gitops-edge and python, as installed on the runner / image
# The CronJob's service account: the ClusterRole, and the Role for the Lease in its namespace.
RECONCILER_GRANTS = service_account_grants(
    ROOT / "deploy" / "reconciler-rbac.yaml",
    cluster_role_name="gitops-edge-reconciler",
    account="gitops-edge-reconciler",
)
DEFAULT_BRANCH = "trunk"  # not gitops-edge's default (main): the branch must really be passed
STATUS_AUTHOR = "gitops-edge"


def load_yaml(path: Path) -> list[dict[str, Any]]:
    documents, problems = load_documents(path.name, path.read_text())
    assert problems == []
    return [d.data for d in documents]


def publish(tmp: Path, *, subpath: str, branch: str) -> tuple[Path, str]:
    """A bare remote whose `branch` holds example-repo under `subpath`: (bare path, commit)."""
    bare, work = tmp / "remotes" / "example" / "edge-fleet.git", tmp / "work"
    run("init", "-q", "--bare", "-b", branch, str(bare), cwd=tmp)
    run("init", "-q", "-b", branch, str(work), cwd=tmp)
    shutil.copytree(EXAMPLE, work / subpath, dirs_exist_ok=True)
    run("add", "-A", cwd=work)
    run("-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "fleet", cwd=work)
    run("push", "-q", str(bare), branch, cwd=work)
    return bare, run("rev-parse", "HEAD", cwd=work)


def seed_nodes(api: StandIn) -> None:
    api.job_versions = ["v1alpha1", "v1alpha2"]
    for pool in ("hangzhou", "shanghai", "beijing"):
        api.put(
            "nodes",
            {
                "metadata": {
                    "name": f"{pool}-0",
                    "labels": {
                        "apps.openyurt.io/nodepool": pool,
                        "node-role.kubernetes.io/edge": "",
                    },
                },
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
        )


def assert_reconciled(api: StandIn, bare: Path, *, branch: str, spec: str) -> None:
    """What a real pass leaves: the spec commit stamped on every DaemonSet applied (not
    `worktree`), and one status commit by gitops-edge on top of it (on the status branch),
    recording it."""
    stamps = {
        key: ds["metadata"].get("annotations", {}).get(REVISION_ANNOTATION)
        for key, ds in api.store["daemonsets"].items()
    }
    assert ("edge-system", "log-agent-hangzhou") in stamps
    assert set(stamps.values()) == {spec}
    # The spec branch is left as the user pushed it; status goes to its own branch, grown from
    # the spec head (spec.status.branch, default DEFAULT_STATUS_BRANCH).
    assert run("log", "--format=%H", branch, cwd=bare).splitlines() == [spec]
    log = run("log", "--format=%H %an %s", DEFAULT_STATUS_BRANCH, cwd=bare).splitlines()
    assert len(log) == 2 and log[1].startswith(f"{spec} u fleet")
    status_commit, author, subject = log[0].split(" ", 2)
    assert author == STATUS_AUTHOR and subject.startswith("status: ")
    files = run("show", "--name-only", "--format=", status_commit, cwd=bare).splitlines()
    summary = next(f for f in files if f.endswith("status/README.md"))
    text = run("show", f"{status_commit}:{summary}", cwd=bare)
    assert f"<!-- gitops-edge last-good-revision: {spec} -->" in text


# ── the example workflow on a schedule ──────────────────────────────────────────────────────


def contexts(event_name: str, *, tmp: Path, kubeconfig: str) -> dict[str, Any]:
    """The contexts a runner gives this workflow's expressions. On `schedule` the event payload
    is only `{"schedule": "<cron>"}` (no repository, so no default_branch) and GITHUB_REF is the
    default branch; a `workflow_dispatch` carries the repository and runs on the branch it was
    started from (here another one)."""
    repository = {"full_name": "example/edge-fleet", "default_branch": DEFAULT_BRANCH}
    events: dict[str, dict[str, Any]] = {
        "schedule": {"schedule": "*/15 * * * *"},
        "workflow_dispatch": {"ref": "refs/heads/feature", "repository": repository, "inputs": {}},
    }
    event = events[event_name]
    ref_name = DEFAULT_BRANCH if event_name == "schedule" else "feature"
    return {
        "github": {
            "event_name": event_name,
            "event": event,
            "repository": "example/edge-fleet",
            "ref": f"refs/heads/{ref_name}",
            "ref_name": ref_name,
            "workspace": str(tmp / "workspace"),
        },
        "secrets": {"KUBECONFIG": kubeconfig, "GITOPS_EDGE_PUSH_TOKEN": "not-a-real-token"},
        "runner": {"temp": str(tmp / "runner-temp")},
    }


def runner_env(tmp: Path, ctx: dict[str, Any]) -> dict[str, str]:
    """A fresh runner's environment: its own HOME (so `git config --global` writes there),
    RUNNER_TEMP and the GITHUB_* variables; nothing of this machine's git or cache settings."""
    github = ctx["github"]
    for folder in ("home", "runner-temp", "workspace"):
        (tmp / folder).mkdir()
    return {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(tmp / "home"),
        "CI": "true",
        "RUNNER_TEMP": ctx["runner"]["temp"],
        "GITHUB_EVENT_NAME": github["event_name"],
        "GITHUB_REPOSITORY": github["repository"],
        "GITHUB_REF": github["ref"],
        "GITHUB_REF_NAME": github["ref_name"],
        "GITHUB_WORKSPACE": github["workspace"],
    }


def run_job(job: dict[str, Any], ctx: dict[str, Any], env: dict[str, str]) -> list[str]:
    """The job's `run:` steps as the runner runs them (no `shell:` → `bash -e {file}`), with
    their `${{ }}` substituted; `uses:` steps and the pip install are this test's environment.
    Returns each step's output; a failing step fails the test, with its output."""
    outputs = []
    for number, step in enumerate(job["steps"]):
        if "uses" in step or str(step["run"]).startswith("pip install"):
            continue
        if not condition(str(step.get("if", "")), ctx):
            continue
        assert "shell" not in step and "working-directory" not in step, "not simulated here"
        script = Path(ctx["runner"]["temp"]) / f"step-{number}.sh"
        script.write_text(substitute(str(step["run"]), ctx))
        step_env = {k: substitute(str(v), ctx) for k, v in (step.get("env") or {}).items()}
        done = subprocess.run(
            ["bash", "-e", str(script)],
            cwd=ctx["github"]["workspace"],
            env={**env, **step_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"step {step.get('name', number)} failed:\n{done.stdout}"
        outputs.append(done.stdout)
    return outputs


def test_expressions_evaluate_as_on_the_runner() -> None:
    ctx = {"github": {"event": {"schedule": "x"}, "ref_name": "trunk", "event_name": "schedule"}}
    assert evaluate("github.event.repository.default_branch", ctx) is None
    assert substitute("--branch '${{ github.event.repository.default_branch }}'", ctx) == (
        "--branch ''"
    )
    assert evaluate("github.event.repository.default_branch || github.ref_name", ctx) == "trunk"
    assert evaluate("github.event.schedule || github.ref_name", ctx) == "x"
    assert condition("github.event_name != 'pull_request'", ctx)
    assert not condition("${{ github.event_name == 'PULL_REQUEST' || '' }}", ctx)
    assert condition("github.event_name == 'SCHEDULE' && ('a' != 'b')", ctx)
    for unsupported in ("format('{0}', github.ref)", "github.event['schedule']", "!true"):
        with pytest.raises(ValueError):
            evaluate(unsupported, ctx)


@pytest.mark.parametrize("event_name", ["schedule", "workflow_dispatch"])
def test_the_example_workflow_reconciles_the_default_branch_when_scheduled(
    tmp_path: Path, event_name: str
) -> None:
    workflow = load_yaml(WORKFLOW)[0]
    assert "schedule" in workflow["on"] and event_name in workflow["on"]
    bare, spec = publish(tmp_path, subpath=".", branch=DEFAULT_BRANCH)
    with running() as api:
        seed_nodes(api)
        kubeconfig = api.kubeconfig(tmp_path / "standin-kubeconfig").read_text()
        ctx = contexts(event_name, tmp=tmp_path, kubeconfig=kubeconfig)
        env = runner_env(tmp_path, ctx)
        remotes = (tmp_path / "remotes").as_uri()
        global_config = f"{env['HOME']}/.gitconfig"
        insteadof = (f"url.{remotes}/.insteadOf", "https://github.com/")
        run("config", "--file", global_config, *insteadof, cwd=tmp_path)
        jobs = {name: job for name, job in workflow["jobs"].items() if condition(job["if"], ctx)}
        assert set(jobs) == {"reconcile"}  # the preview is for pull requests only
        outputs = run_job(jobs["reconcile"], ctx, env)
        assert_reconciled(api, bare, branch=DEFAULT_BRANCH, spec=spec)
    assert any(f"pass over revision {spec}" in out for out in outputs)
    assert "not-a-real-token" not in "".join(outputs)


# ── the CronJob's container ─────────────────────────────────────────────────────────────────


def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """`$(VAR)` in a container's args as the kubelet expands them (k8s.io/kubernetes
    third_party/forked/golang/expansion): `$$` is `$`, an undefined `$(VAR)` stays as is."""

    def one(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return env.get(match[1], match[0])

    return re.sub(r"\$\$|\$\(([^)]*)\)", one, text)


def env_value(var: dict[str, Any], *, pod: dict[str, Any]) -> str:
    """A container's environment variable as the kubelet sets it: its value, or the field of
    its pod that `valueFrom.fieldRef` names (only metadata.namespace is used here)."""
    if "value" in var:
        return str(var["value"])
    assert var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace", var
    return str(pod["metadata"]["namespace"])


def test_the_cronjob_container_reconciles_the_remote_and_pushes_status(tmp_path: Path) -> None:
    manifests = load_yaml(ROOT / "deploy" / "reconciler-cronjob.yaml")
    (cron,) = [d for d in manifests if d["kind"] == "CronJob"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "initContainers" not in pod  # the reconciler clones the remote itself
    (container,) = pod["containers"]
    bare, spec = publish(tmp_path, subpath="fleet", branch="main")
    settings = {"REPO_URL": bare.as_uri(), "REPO_PATH": "fleet"}  # what the comment says to set
    env = {e["name"]: settings.get(e["name"], env_value(e, pod=cron)) for e in container["env"]}
    volumes = {}  # each volume mounted at its mountPath is a temporary folder here
    for mount in container["volumeMounts"]:
        volumes[mount["mountPath"]] = tmp_path / "volumes" / mount["name"]
        volumes[mount["mountPath"]].mkdir(parents=True)

    def mounted(text: str) -> str:
        for path, local in volumes.items():
            text = re.sub(rf"(?<![\w/]){re.escape(path)}(?=/|$)", str(local), text)
        return text

    env = {name: mounted(value) for name, value in env.items()}
    args = [mounted(kubelet_expand(arg, env)) for arg in container["args"]]
    with running() as api:
        seed_nodes(api)
        api.add_namespace(cron["metadata"]["namespace"])  # deploy/reconciler-rbac.yaml's
        api.authorizer = RECONCILER_GRANTS.allows  # the CronJob's service account
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")  # in a pod: the service account
        done = subprocess.run(
            [str(BIN / "gitops-edge"), *args],  # the image's ENTRYPOINT
            env={"PATH": f"{BIN}:/usr/bin:/bin", "KUBECONFIG": str(kubeconfig), **env},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stdout
        assert_reconciled(api, bare, branch="main", spec=spec)
    assert f"pass over revision {spec}" in done.stdout
    assert any((volumes["/cache"] / "git").iterdir())  # the clone is on the cache volume
