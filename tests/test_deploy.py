"""deploy/: the manifests parse, the RBAC grants exactly what the adapter (and the leader
election, a namespaced Role) uses (derived from what
the requests it makes against the stand-in API server are authorized as), the agent needs no
RBAC (it acts as its node, which may do all it does) and stays on loopback, the liveness and
readiness probes reach the addresses the reconciler and the agent serve them on, and the
Dockerfile builds the console script."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_identity import EVERYONE, NODE_RULES, Identities, User, node_user
from kube_standin import StandIn, running

from gitops_edge.agent.server import is_loopback
from gitops_edge.cli.agent_cmd import DEFAULT_LISTEN, parse_listen
from gitops_edge.cluster import kube
from gitops_edge.cluster.base import NotFoundError
from gitops_edge.cluster.kube import Retrier
from gitops_edge.cluster.kube_cluster import KubeCluster
from gitops_edge.cluster.kube_lease import KubeLeaseStore
from gitops_edge.cluster.kube_node import KubeNodeClient
from gitops_edge.model.events import Event, ObjectRef
from gitops_edge.model.observed import Condition
from gitops_edge.model.prepull import pull_job
from gitops_edge.reconciler.addresses import parse_address
from gitops_edge.reconciler.health_server import EXAMPLE
from gitops_edge.reconciler.leader_election import Timings
from gitops_edge.reconciler.leader_elector import LeaderElector
from gitops_edge.repository.yamldoc import load_documents

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
Grant = tuple[str, str, str]  # (apiGroup, resource, verb)


def manifests(name: str) -> list[dict[str, Any]]:
    documents, problems = load_documents(name, (DEPLOY / name).read_text())
    assert problems == []
    return [d.data for d in documents]


def granted(name: str, role: str) -> set[Grant]:
    (cluster_role,) = [
        d for d in manifests(name) if d["kind"] == "ClusterRole" and d["metadata"]["name"] == role
    ]
    return {
        (group, resource, verb)
        for rule in cluster_role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used(api: StandIn) -> set[Grant]:
    """What the requests made were authorized as, the way the API server maps them
    (`standin_rbac.request_attributes`: an apply that creates its object is `create` too, list
    and watch differ, subresources count apart); discovery needs no grant."""
    return {(a.group, a.combined, a.verb) for a in api.authorizations}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[StandIn, KubeCluster]]:
    with running() as standin:
        client = kube.api_client_for(str(standin.kubeconfig(tmp_path / "kubeconfig")), None)
        with KubeCluster(client, retrier=Retrier(sleep=lambda _: None)) as cluster:
            yield standin, cluster


def add_pod(api: StandIn, name: str) -> str:
    pod = api.put(
        "pods",
        {
            "metadata": {
                "name": name,
                "namespace": "edge",
                "ownerReferences": [{"kind": "DaemonSet", "name": "d", "controller": True}],
            },
            "spec": {"nodeName": "n1"},
            "status": {"conditions": []},
        },
    )
    return str(pod["metadata"]["uid"])


def test_reconciler_rbac_is_exactly_what_the_adapter_uses(
    api: tuple[StandIn, KubeCluster],
) -> None:
    standin, cluster = api
    standin.job_versions = ["v1alpha1", "v1alpha2"]
    cluster.observe()
    cluster.start_cache(idle_delay=0.02)  # the loop's watches
    deadline = time.monotonic() + 10
    while len({p for _, p, params in standin.requests if params.get("watch")}) < 4:
        assert time.monotonic() < deadline, "the cache did not start its four watches"
        time.sleep(0.02)
    cluster.observe()
    for kind in ("NodeUpgradeJob", "ImagePrePullJob", "ConfigUpdateJob"):
        manifest = {"apiVersion": "operations.kubeedge.io/v1alpha2", "kind": kind}
        cluster.create_node_job({**manifest, "metadata": {"name": "j"}, "spec": {}})
        cluster.delete_node_job(manifest["apiVersion"], kind, "j")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "edge"}}
    cluster.apply_namespace(namespace)  # create
    cluster.apply_namespace(namespace)  # patch
    cluster.apply_daemonset({"metadata": {"name": "d", "namespace": "edge"}, "spec": {}})
    cluster.annotate_daemonset("edge", "d", {"gitops-edge.io/halted": None})
    with pytest.raises(NotFoundError):  # lists the revisions, finds none: no patch
        cluster.rollback_daemonset("edge", "d", "uid-x", "h1")
    uid = add_pod(standin, "p1")
    cluster.set_pod_condition("edge", "p1", uid, Condition("PodNeedUpgrade", "True"))
    cluster.delete_pod("edge", "p1", uid)
    cluster.delete_daemonset("edge", "d")
    job = pull_job(namespace="edge", pod="p1", node="n1", revision="h2", pod_spec={})
    cluster.create_pull_job(job)
    cluster.delete_job("edge", job["metadata"]["name"])
    ref = ObjectRef("apps/v1", "DaemonSet", "d", "default")
    applied = Event(ref, "Normal", "Applied", "apply d", revision="r1", time=1.0)
    cluster.record_events([applied, applied])  # create, then count on (patch)
    restarted = KubeCluster(cluster.api, retrier=Retrier(sleep=lambda _: None))
    restarted.record_events([applied])  # another process: create (409), get, then patch
    cluster.delete_namespace("edge")
    assert used(standin) == granted("reconciler-rbac.yaml", "gitops-edge-reconciler")


def agent_requests(standin: StandIn, node: KubeNodeClient) -> set[Grant]:
    """Every kind of request the agent makes, on a pod of its node (n1)."""
    uid = add_pod(standin, "p1")
    node.who_am_i()
    node.list_pods()
    node.get_pod("edge", "p1")
    node.set_pod_condition("edge", "p1", uid, Condition("PodImageReady", "False"))
    node.delete_pod("edge", "p1", uid)
    return used(standin)


def test_agent_needs_nothing_but_what_its_node_may_do(tmp_path: Path) -> None:
    """deploy/agent.yaml grants the agent nothing: it acts as its node, and everything it does
    is what the API server allows a node (the stand-in enforcing the Node authorizer's rules and
    NodeRestriction: tests/kube_identity.py)."""
    assert {d["kind"] for d in manifests("agent.yaml")} == {"DaemonSet"}  # no RBAC at all
    with running() as standin:
        identities = Identities(tokens={"node-n1": node_user("n1")})
        standin.gate = identities
        path = standin.kubeconfig(tmp_path / "kubelet.conf", token="node-n1")
        cluster = KubeCluster(kube.api_client_for(str(path), None))
        requests = agent_requests(standin, KubeNodeClient(cluster, "n1"))
    assert identities.refused == []
    assert requests == {
        ("authentication.k8s.io", "selfsubjectreviews", "create"),  # every user may
        ("", "pods", "list"),
        ("", "pods", "get"),
        ("", "pods/status", "patch"),
        ("", "pods", "delete"),
    }
    assert requests <= NODE_RULES | EVERYONE


def test_agent_daemonset_mounts_the_kubelets_identity_read_only() -> None:
    (daemonset,) = manifests("agent.yaml")
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and "serviceAccountName" not in pod
    (container,) = pod["containers"]
    args = container["args"]
    kubeconfig = args[args.index("--kubeconfig") + 1]
    assert kubeconfig == "/etc/kubernetes/kubelet.conf"
    volumes = {v["name"]: v["hostPath"] for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    for path, kind in ((kubeconfig, "File"), ("/var/lib/kubelet/pki", "Directory")):
        # at the host's own path: the kubeconfig names the certificate by its absolute path
        assert mounts[path]["readOnly"] is True
        assert volumes[mounts[path]["name"]] == {"path": path, "type": kind}


def test_agent_vap_alternative_grants_exactly_what_the_agent_uses(tmp_path: Path) -> None:
    """The service account of the alternative, held to its ClusterRole by the stand-in (the
    ValidatingAdmissionPolicy that ties it to its node is not evaluated here: no CEL)."""
    grants = granted("alternatives/agent-vap.yaml", "gitops-edge-agent")
    account = User("system:serviceaccount:gitops-edge:gitops-edge-agent", grants=frozenset(grants))
    with running() as standin:
        identities = Identities(tokens={"sa": account})
        standin.gate = identities
        path = standin.kubeconfig(tmp_path / "kubeconfig", token="sa")
        cluster = KubeCluster(kube.api_client_for(str(path), None))
        requests = agent_requests(standin, KubeNodeClient(cluster, "n1")) - EVERYONE
    assert identities.refused == []
    assert requests == grants
    documents = {d["kind"]: d for d in manifests("alternatives/agent-vap.yaml")}
    policy = documents["ValidatingAdmissionPolicy"]["spec"]
    (rule,) = policy["matchConstraints"]["resourceRules"]
    assert set(rule["operations"]) == {"DELETE", "UPDATE"}
    assert set(rule["resources"]) == {"pods", "pods/status"}
    assert "authentication.kubernetes.io/node-name" in policy["variables"][0]["expression"]
    assert any("oldObject.spec.nodeName" in v["expression"] for v in policy["validations"])
    binding = documents["ValidatingAdmissionPolicyBinding"]["spec"]
    assert binding == {"policyName": "gitops-edge-agent-own-node", "validationActions": ["Deny"]}
    pod = documents["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gitops-edge-agent"
    (alternative,) = pod["containers"]
    (node_identity,) = manifests("agent.yaml")[0]["spec"]["template"]["spec"]["containers"]
    args = node_identity["args"]
    without_kubeconfig = args[: args.index("--kubeconfig")] + args[args.index("--kubeconfig") + 2 :]
    assert alternative["args"] == without_kubeconfig
    assert alternative["image"] == node_identity["image"]


def test_agent_daemonset_stays_on_loopback_and_knows_its_node() -> None:
    (daemonset,) = [d for d in manifests("agent.yaml") if d["kind"] == "DaemonSet"]
    (container,) = daemonset["spec"]["template"]["spec"]["containers"]
    assert "--allow-remote" not in container["args"] and "--listen" not in container["args"]
    assert container["args"][:3] == ["agent", "--node", "$(NODE_NAME)"]
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"


def test_cronjob_runs_one_pass_with_the_reconciler_account() -> None:
    (cron,) = [d for d in manifests("reconciler-cronjob.yaml") if d["kind"] == "CronJob"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gitops-edge-reconciler"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = pod["containers"]
    assert container["args"][0] == "reconcile" and "--once" in container["args"]


# Options only the loop uses (a single pass logs as text, serves no metrics and no probes).
LOOP_ONLY = ("--log-format=", "--metrics-addr=", "--health-addr=")


def test_cronjob_runs_the_deployments_git_source_pass_once() -> None:
    """The CronJob is the Deployment's reconcile, one pass at a time: the same container (image,
    env, cache volume, resources, security) with `--once` for the loop's `--interval` (and its
    loop-only options, LOOP_ONLY), status written back (no `--no-status`), no read-only clone of
    its own (so nothing is stamped `worktree`), under the same service account."""
    (cron,) = [d for d in manifests("reconciler-cronjob.yaml") if d["kind"] == "CronJob"]
    (deployment,) = [
        d for d in manifests("reconciler-deployment.yaml") if d["kind"] == "Deployment"
    ]
    assert cron["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    loop_pod = deployment["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    for same in ("serviceAccountName", "securityContext", "volumes"):
        assert pod[same] == loop_pod[same], same
    assert pod["volumes"] == [{"name": "cache", "emptyDir": {}}]
    (container,) = pod["containers"]
    (loop,) = loop_pod["containers"]
    for same in ("image", "env", "volumeMounts", "resources", "securityContext"):
        assert container[same] == loop[same], same
    args = container["args"]
    assert args[:2] == ["reconcile", "$(REPO_URL)"] and "--once" in args
    loop_args = [a for a in loop["args"] if not a.startswith(LOOP_ONLY)]
    assert args == ["--once" if a == "--interval=60" else a for a in loop_args]
    assert "--no-status" not in args and not any(a.startswith("/repo") for a in args)
    assert "--cache-dir=/cache/git" in args


def test_dockerfile_installs_the_console_script() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["gitops-edge"]' in text
    assert "USER 10001" in text


def test_deployment_runs_two_leader_elected_replicas_of_the_loop_with_a_disruption_budget() -> None:
    documents = manifests("reconciler-deployment.yaml")
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2  # one leads, one stands by
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gitops-edge-reconciler"
    (container,) = pod["containers"]
    assert container["args"][:2] == ["reconcile", "$(REPO_URL)"]
    assert "--interval=60" in container["args"] and "--cluster=kube" in container["args"]
    assert "--leader-elect" in container["args"]  # never two reconcilers driving the fleet
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    (budget,) = [d for d in documents if d["kind"] == "PodDisruptionBudget"]
    assert budget["apiVersion"] == "policy/v1"
    assert budget["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert budget["spec"]["minAvailable"] == 1
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_leader_election_rbac_is_exactly_what_the_elector_uses(tmp_path: Path) -> None:
    """The elector's requests (create the Lease, read it, renew it, release it) are exactly
    what the namespaced Role grants, in the reconciler's namespace."""
    (role,) = [d for d in manifests("reconciler-rbac.yaml") if d["kind"] == "Role"]
    (binding,) = [d for d in manifests("reconciler-rbac.yaml") if d["kind"] == "RoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == "gitops-edge-reconciler"
    grants = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    with running() as standin:
        standin.add_namespace("gitops-edge")
        client = kube.api_client_for(str(standin.kubeconfig(tmp_path / "kubeconfig")), None)
        store = KubeLeaseStore(
            KubeCluster(client), namespace="gitops-edge", name="lease", timeout=5
        )
        elector = LeaderElector(store, identity="me", timings=Timings())
        elector.start()  # create
        elector.step()  # get, update (renew)
        assert elector.leading()
        elector.stop(release=True)  # get, update
    assert {a.namespace for a in standin.authorizations} == {role["metadata"]["namespace"]}
    assert used(standin) == grants


def test_cronjob_takes_the_deployments_lease() -> None:
    (cron,) = [d for d in manifests("reconciler-cronjob.yaml") if d["kind"] == "CronJob"]
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert "--leader-elect" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert cron["metadata"]["namespace"] == "gitops-edge"


def test_image_has_git_for_git_sources() -> None:
    assert "install -y --no-install-recommends git" in (ROOT / "Dockerfile").read_text()


def test_metrics_service_and_servicemonitor_reach_the_reconcilers_metrics_port() -> None:
    (deployment,) = [
        d for d in manifests("reconciler-deployment.yaml") if d["kind"] == "Deployment"
    ]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert "--metrics-addr=:8080" in container["args"]  # every interface: Prometheus scrapes it
    ports = {p["name"]: p for p in container["ports"]}
    assert ports["metrics"]["containerPort"] == 8080
    objects = manifests("reconciler-metrics.yaml")
    (service,) = [d for d in objects if d["kind"] == "Service"]
    (monitor,) = [d for d in objects if d["kind"] == "ServiceMonitor"]
    namespace = deployment["metadata"]["namespace"]
    assert service["metadata"]["namespace"] == monitor["metadata"]["namespace"] == namespace
    selector = service["spec"]["selector"]
    assert selector and selector.items() <= pod["metadata"]["labels"].items()
    (service_port,) = service["spec"]["ports"]
    assert service_port["name"] == "metrics" and service_port["targetPort"] == "metrics"
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    wanted = monitor["spec"]["selector"]["matchLabels"]
    assert wanted and wanted.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service_port["name"] and endpoint["path"] == "/metrics"


def probe_port(container: dict[str, Any], probe: str) -> int:
    """The port a probe's httpGet reaches: a number, or the name of a container port."""
    port = container[probe]["httpGet"]["port"]
    if isinstance(port, int):
        return port
    (named,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(named)


def test_reconciler_probes_reach_its_health_address() -> None:
    (deployment,) = [
        d for d in manifests("reconciler-deployment.yaml") if d["kind"] == "Deployment"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (address,) = [a.split("=", 1)[1] for a in container["args"] if a.startswith("--health-addr=")]
    host, port = parse_address(address, example=EXAMPLE)
    assert not is_loopback(host)  # kubelet probes reach the pod IP, not its loopback
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert probe_port(container, probe) == port
        assert "host" not in container[probe]["httpGet"]  # the pod IP
        assert container[probe]["timeoutSeconds"] >= 1


@pytest.mark.parametrize("name", ["agent.yaml", "alternatives/agent-vap.yaml"])
def test_agent_probes_reach_its_loopback_address(name: str) -> None:
    (daemonset,) = [d for d in manifests(name) if d["kind"] == "DaemonSet"]
    pod = daemonset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    host, port = parse_listen(DEFAULT_LISTEN)  # the agent's --listen is left at its default
    assert "--listen" not in container["args"]
    # On the host network the pod IP is the node's IP, where the agent does not listen: the
    # probes must name the loopback the kubelet shares with the pod.
    assert pod["hostNetwork"] is True and is_loopback(host)
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert (get["host"], get["path"], probe_port(container, probe)) == (host, "/healthz", port)
