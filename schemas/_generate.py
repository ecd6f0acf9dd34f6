"""Writes the JSON Schemas in this folder from one set of shared definitions.

Owns: the structure of every kind a desired-state repository may hold (types, required fields,
enums, patterns, ranges). Semantic rules (exactly one of nodeNames/labelSelector, version skew,
image references, OpenYurt annotations...) live in the Python validator, not here.

The `*.schema.json` files next to this script are its committed output: run
`python schemas/_generate.py` after editing (standard library only; the output is byte-identical
from run to run), or `python schemas/_generate.py --check` to fail when a file is stale.
Side effects: writes (or, with --check, only reads) the schema files in this folder.

Conventions: every property carries a `description`; objects whose fields are known are closed
(`additionalProperties: false`); `x-hint` is a short fix hint placed on the subschema whose
failure it explains (the validator prints it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

HERE = Path(__file__).resolve().parent
DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://gitops-edge.dev/schemas/"

# --- patterns -------------------------------------------------------------------------------
# Every pattern is anchored with `^...$(?!\n)`: Python's `$` (used by the jsonschema library)
# also matches before a final newline, so "v1.16.0\n" would pass a plain `^...$`.


def anchored(body: str) -> str:
    return f"^{body}$(?!\\n)"


DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_SUBDOMAIN = rf"{DNS_LABEL}(\.{DNS_LABEL})*"
QUALIFIED_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_KEY = rf"({DNS_SUBDOMAIN}/)?{QUALIFIED_NAME}"
LABEL_VALUE = rf"({QUALIFIED_NAME})?"
VERSION = r"v[0-9]+\.[0-9]+\.[0-9]+(-[A-Za-z0-9_.]+)*"
PERCENT = r"(100|[0-9]{1,2})%"
QUANTITY = r"([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?"
IMAGE_SECRET = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
SHA256_DIGEST = r"sha256:[a-f0-9]{64}"
RELATIVE_PATH = r"(?!/)(?!(.*/)?\.{1,2}(/|$))[^\\\n]+"
BRANCH = r"(?!.*\.\.)([A-Za-z0-9_][A-Za-z0-9._/-]*)?"
GLOB = r"[^/\n][^\n]*"

HINT_SUBDOMAIN = (
    "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, "
    "at most 253 characters (e.g. edge-node-01)"
)
HINT_LABEL = (
    "lowercase letters, digits and '-', starting and ending with a letter or digit, "
    "at most 63 characters (e.g. hangzhou)"
)
HINT_VERSION = "use a release tag like v1.16.0; no build metadata, spaces or shell characters"
HINT_LABEL_KEY = (
    "a label key: optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.' "
    "(e.g. apps.openyurt.io/nodepool)"
)
HINT_LABEL_VALUE = (
    "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, "
    'or empty; quote numbers and booleans (e.g. "1.0", "true")'
)
HINT_INT_OR_PERCENT = (
    "a whole number of pods (e.g. 1) or a percentage as a string (e.g. 30%, at most 100%)"
)
HINT_QUANTITY = "a Kubernetes quantity, e.g. 250m, 0.5, 128Mi or 1Gi"

# --- small builders -------------------------------------------------------------------------


def ref(name: str, description: str) -> Schema:
    return {"description": description, "$ref": f"#/$defs/{name}"}


def with_hint(schema: Schema, hint: str | None) -> Schema:
    if hint:
        schema["x-hint"] = hint
    return schema


def string(description: str, *, hint: str | None = None, **extra: Any) -> Schema:
    return with_hint({"description": description, "type": "string", **extra}, hint)


def boolean(description: str) -> Schema:
    return {"description": description, "type": "boolean"}


def integer(description: str, *, hint: str | None = None, **extra: Any) -> Schema:
    return with_hint({"description": description, "type": "integer", **extra}, hint)


def string_list(description: str, item: str) -> Schema:
    return {"description": description, "type": "array", "items": string(item)}


def open_object(description: str) -> Schema:
    """An object whose interior Kubernetes defines at length; checked by the API server."""
    return {"description": description, "type": "object"}


def open_object_list(description: str, item: str) -> Schema:
    return {"description": description, "type": "array", "items": open_object(item)}


def closed(description: str, properties: Schema, *, required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"description": description, "type": "object"}
    if required:
        schema["required"] = list(required)
    schema["properties"] = properties
    schema["additionalProperties"] = False
    return schema


def dns_label(description: str) -> Schema:
    return string(description, maxLength=63, pattern=anchored(DNS_LABEL), hint=HINT_LABEL)


def dns_subdomain(description: str) -> Schema:
    return string(description, maxLength=253, pattern=anchored(DNS_SUBDOMAIN), hint=HINT_SUBDOMAIN)


def label_key(description: str, *, hint: str = HINT_LABEL_KEY) -> Schema:
    return string(description, pattern=anchored(LABEL_KEY), hint=hint)


def label_map(description: str, *, hint: str | None = None, **extra: Any) -> Schema:
    return {
        "description": description,
        "type": "object",
        **extra,
        **({"x-hint": hint} if hint else {}),
        "propertyNames": label_key("A label key."),
        "additionalProperties": string(
            "A label value.", pattern=anchored(LABEL_VALUE), hint=HINT_LABEL_VALUE
        ),
    }


def annotation_map(description: str) -> Schema:
    return {
        "description": description,
        "type": "object",
        "propertyNames": label_key(
            "An annotation key.", hint=HINT_LABEL_KEY.replace("a label key", "an annotation key")
        ),
        "additionalProperties": string(
            "An annotation value (any text).",
            hint='annotation values are strings: quote numbers and booleans (e.g. "3")',
        ),
    }


LABELS = "Labels: string keys and values used to organise and select objects."
ANNOTATIONS = "Annotations: arbitrary non-identifying metadata (string keys and values)."


def object_meta(*, kind: str, namespaced: bool, name: Schema) -> Schema:
    properties: Schema = {"name": name}
    if namespaced:
        properties["namespace"] = dns_label(
            f"Namespace of the {kind}; when absent, the repository's spec.defaultNamespace "
            "(default: default)."
        )
    properties["labels"] = label_map(LABELS)
    properties["annotations"] = annotation_map(ANNOTATIONS)
    scope = "" if namespaced else f" {kind} is cluster-scoped: there is no namespace."
    return closed(
        f"Standard object metadata: name, labels and annotations.{scope}",
        properties,
        required=("name",),
    )


# --- shared Kubernetes definitions ($defs) --------------------------------------------------

DEFS: dict[str, Schema] = {}

DEFS["LabelSelector"] = {
    "description": (
        "A Kubernetes label selector: matchLabels and matchExpressions, ANDed. An empty "
        "selector would select everything, so at least one requirement is needed."
    ),
    "type": "object",
    "minProperties": 1,
    "x-hint": "give matchLabels or matchExpressions; an empty selector selects everything",
    "properties": {
        "matchLabels": label_map(
            "Labels that must all be present with exactly these values.",
            minProperties=1,
            hint="give at least one label, or leave matchLabels out",
        ),
        "matchExpressions": {
            "description": "Set-based requirements on label keys; all must hold.",
            "type": "array",
            "minItems": 1,
            "x-hint": "give at least one expression, or leave matchExpressions out",
            "items": {"$ref": "#/$defs/LabelSelectorRequirement"},
        },
    },
    "additionalProperties": False,
}

DEFS["NodeJobLabelSelector"] = {
    "description": (
        "A Kubernetes label selector over nodes: matchLabels and matchExpressions, ANDed. "
        "Empty, it selects every node, as KubeEdge reads it (validate warns)."
    ),
    "type": "object",
    "properties": {
        "matchLabels": label_map("Labels that must all be present with exactly these values."),
        "matchExpressions": {
            "description": "Set-based requirements on label keys; all must hold.",
            "type": "array",
            "items": {"$ref": "#/$defs/LabelSelectorRequirement"},
        },
    },
    "additionalProperties": False,
}

DEFS["LabelSelectorRequirement"] = {
    "description": "One set-based requirement: key, operator and (for In/NotIn) values.",
    "type": "object",
    "required": ["key", "operator"],
    "properties": {
        "key": label_key("The label key the requirement applies to."),
        "operator": {
            "description": "How the key relates to the values: In, NotIn, Exists or DoesNotExist.",
            "enum": ["In", "NotIn", "Exists", "DoesNotExist"],
            "x-hint": "use In, NotIn, Exists or DoesNotExist (case matters)",
        },
        "values": {
            "description": "Values for In/NotIn (non-empty); none for Exists/DoesNotExist.",
            "type": "array",
            "items": string("A label value.", pattern=anchored(LABEL_VALUE), hint=HINT_LABEL_VALUE),
        },
    },
    "additionalProperties": False,
    "allOf": [
        {
            "if": {
                "properties": {
                    "operator": {"description": "In or NotIn.", "enum": ["In", "NotIn"]}
                },
                "required": ["operator"],
            },
            "then": {
                "required": ["values"],
                "properties": {
                    "values": {
                        "description": "At least one value.",
                        "minItems": 1,
                        "x-hint": "In and NotIn need at least one value",
                    }
                },
                "x-hint": "In and NotIn need a values list, e.g. values: [hangzhou]",
            },
        },
        {
            "if": {
                "properties": {
                    "operator": {
                        "description": "Exists or DoesNotExist.",
                        "enum": ["Exists", "DoesNotExist"],
                    }
                },
                "required": ["operator"],
            },
            "then": {
                "properties": {
                    "values": {
                        "description": "No values.",
                        "maxItems": 0,
                        "x-hint": "Exists and DoesNotExist take no values: remove them",
                    }
                }
            },
        },
    ],
}

DEFS["IntOrPercent"] = {
    "description": "A whole number (0 to 2147483647, a 32-bit integer) or a percentage string "
    "such as 30% (at most 100%).",
    "type": ["integer", "string"],
    "minimum": 0,
    "maximum": 2147483647,
    "pattern": anchored(PERCENT),
    "x-hint": HINT_INT_OR_PERCENT,
}

DEFS["Quantity"] = {
    "description": "A Kubernetes resource quantity (e.g. 250m, 0.5, 128Mi, 1Gi).",
    "type": ["string", "number"],
    "minimum": 0,
    "pattern": anchored(QUANTITY),
    "x-hint": HINT_QUANTITY,
}

DEFS["ResourceList"] = {
    "description": "Resource name (cpu, memory, ephemeral-storage, ...) to quantity.",
    "type": "object",
    "propertyNames": label_key(
        "A resource name.", hint="a resource name such as cpu, memory or nvidia.com/gpu"
    ),
    "additionalProperties": {"$ref": "#/$defs/Quantity"},
}

DEFS["ResourceRequirements"] = closed(
    "Compute resources: requests (guaranteed) and limits (maximum).",
    {
        "limits": ref("ResourceList", "Maximum amount of each resource the container may use."),
        "requests": ref("ResourceList", "Amount of each resource reserved for the container."),
        "claims": open_object_list(
            "Dynamic resource claims (by name) used by the container.", "A resource claim."
        ),
    },
)

DEFS["EnvVar"] = closed(
    "One environment variable: a literal value or a reference (valueFrom).",
    {
        "name": string("Variable name.", minLength=1),
        "value": string(
            "Literal value (a string).",
            hint='environment values are strings: quote numbers and booleans ("8080")',
        ),
        "valueFrom": open_object(
            "Source of the value: fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef..."
        ),
    },
    required=("name",),
)

DEFS["ContainerPort"] = closed(
    "A port the container exposes.",
    {
        "name": string(
            "Port name (IANA service name, at most 15 characters).",
            maxLength=15,
            pattern=anchored(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"),
            hint="at most 15 lowercase letters, digits and '-'",
        ),
        "containerPort": integer(
            "Port number on the pod's IP address.",
            minimum=1,
            maximum=65535,
            hint="a port number between 1 and 65535",
        ),
        "hostPort": integer(
            "Port number on the node (with hostNetwork, equal to containerPort).",
            minimum=1,
            maximum=65535,
            hint="a port number between 1 and 65535",
        ),
        "hostIP": string("Node IP address to bind the host port to."),
        "protocol": {
            "description": "TCP (default), UDP or SCTP.",
            "enum": ["TCP", "UDP", "SCTP"],
            "x-hint": "use TCP, UDP or SCTP",
        },
    },
    required=("containerPort",),
)

DEFS["VolumeMount"] = closed(
    "Where a pod volume is mounted in the container.",
    {
        "name": string("Name of a volume in the pod's volumes list.", minLength=1),
        "mountPath": string("Path inside the container.", minLength=1),
        "subPath": string("Sub-path of the volume to mount instead of its root."),
        "subPathExpr": string("Like subPath, with $(VAR) expanded from the environment."),
        "readOnly": boolean("Mount read-only."),
        "recursiveReadOnly": string(
            "Recursive read-only handling: Disabled, IfPossible or Enabled."
        ),
        "mountPropagation": string("Mount propagation: None, HostToContainer or Bidirectional."),
        "bindMountOptions": string_list("Options for bind mounts.", "A bind mount option."),
    },
    required=("name", "mountPath"),
)

DEFS["Container"] = closed(
    "A container of the pod (Kubernetes core/v1 Container).",
    {
        "name": dns_label("Container name, unique within the pod."),
        "image": string(
            "Container image reference, e.g. registry.example.com/team/app:1.2.3.",
            minLength=1,
        ),
        "command": string_list(
            "Entrypoint (replaces the image's ENTRYPOINT).", "An argument of the entrypoint."
        ),
        "args": string_list("Arguments (replace the image's CMD).", "An argument."),
        "workingDir": string("Working directory."),
        "env": {
            "description": "Environment variables.",
            "type": "array",
            "items": {"$ref": "#/$defs/EnvVar"},
        },
        "envFrom": open_object_list(
            "Sources (ConfigMaps, Secrets) whose keys become environment variables.",
            "A configMapRef or secretRef source.",
        ),
        "ports": {
            "description": "Ports the container exposes.",
            "type": "array",
            "items": {"$ref": "#/$defs/ContainerPort"},
        },
        "resources": ref("ResourceRequirements", "Compute resource requests and limits."),
        "resizePolicy": open_object_list(
            "How each resource is resized in place.", "A resource resize policy."
        ),
        "restartPolicy": {
            "description": "Container restart policy (Always makes an init container a sidecar).",
            "enum": ["Always", "OnFailure", "Never"],
            "x-hint": "use Always, OnFailure or Never",
        },
        "restartPolicyRules": open_object_list(
            "Rules that override restartPolicy for particular exit codes.", "A restart rule."
        ),
        "volumeMounts": {
            "description": "Pod volumes mounted into the container.",
            "type": "array",
            "items": {"$ref": "#/$defs/VolumeMount"},
        },
        "volumeDevices": open_object_list(
            "Raw block devices used by the container.", "A volume device (name, devicePath)."
        ),
        "livenessProbe": open_object("Probe that restarts the container when it fails."),
        "readinessProbe": open_object("Probe that marks the container (and pod) ready."),
        "startupProbe": open_object("Probe that must succeed before the other probes run."),
        "lifecycle": open_object("postStart / preStop hooks and stop signal."),
        "terminationMessagePath": string("File the termination message is read from."),
        "terminationMessagePolicy": {
            "description": "File (default) or FallbackToLogsOnError.",
            "enum": ["File", "FallbackToLogsOnError"],
            "x-hint": "use File or FallbackToLogsOnError",
        },
        "imagePullPolicy": {
            "description": "When to pull the image: Always, IfNotPresent or Never.",
            "enum": ["Always", "IfNotPresent", "Never"],
            "x-hint": "use Always, IfNotPresent or Never (case matters)",
        },
        "securityContext": open_object(
            "Container security options (privileged, capabilities, runAsUser...)."
        ),
        "stdin": boolean("Allocate a buffer for stdin."),
        "stdinOnce": boolean("Close stdin after the first attach."),
        "tty": boolean("Allocate a TTY."),
    },
    required=("name", "image"),
)

DEFS["Toleration"] = closed(
    "Lets the pod run on nodes with a matching taint (edge nodes are often tainted).",
    {
        "key": string(
            "Taint key to match; empty with operator Exists matches every taint.",
            pattern=anchored(f"({LABEL_KEY})?"),
            hint=HINT_LABEL_KEY,
        ),
        "operator": {
            "description": "Equal (default), Exists, or numeric Lt / Gt.",
            "enum": ["Equal", "Exists", "Lt", "Gt"],
            "x-hint": "use Equal, Exists, Lt or Gt",
        },
        "value": string("Taint value to match (empty with Exists)."),
        "effect": {
            "description": "Taint effect to match; empty matches all effects.",
            "enum": ["", "NoSchedule", "PreferNoSchedule", "NoExecute"],
            "x-hint": "use NoSchedule, PreferNoSchedule or NoExecute",
        },
        "tolerationSeconds": integer(
            "For NoExecute: how long the pod stays bound after the taint appears."
        ),
    },
)

DEFS["PodSpec"] = closed(
    "The pod specification (Kubernetes core/v1 PodSpec).",
    {
        "containers": {
            "description": "The pod's containers; the first one is the primary container.",
            "type": "array",
            "minItems": 1,
            "x-hint": "a pod needs at least one container",
            "items": {"$ref": "#/$defs/Container"},
        },
        "initContainers": {
            "description": "Containers run to completion (or as sidecars) before the others.",
            "type": "array",
            "items": {"$ref": "#/$defs/Container"},
        },
        "ephemeralContainers": {
            "description": "Debug containers; added to running pods only, never in a template.",
            "type": "array",
            "maxItems": 0,
            "x-hint": "ephemeral containers are added with kubectl debug, not in a template",
            "items": open_object("An ephemeral container."),
        },
        "volumes": {
            "description": "Volumes the containers can mount.",
            "type": "array",
            "items": {
                "description": "A volume: a name and one volume source (hostPath, configMap...).",
                "type": "object",
                "required": ["name"],
                "properties": {"name": dns_label("Volume name, unique within the pod.")},
            },
        },
        "nodeSelector": label_map("Node labels the pod's node must carry."),
        "nodeName": dns_subdomain("Bind the pod to this node directly (bypasses scheduling)."),
        "affinity": open_object("Node affinity, pod affinity and anti-affinity rules."),
        "tolerations": {
            "description": "Taints the pod tolerates.",
            "type": "array",
            "items": {"$ref": "#/$defs/Toleration"},
        },
        "topologySpreadConstraints": open_object_list(
            "How pods spread across topology domains.", "A topology spread constraint."
        ),
        "schedulerName": string("Scheduler that places the pod."),
        "schedulingGates": open_object_list(
            "Gates that hold the pod unscheduled until removed.", "A scheduling gate (name)."
        ),
        "schedulingGroup": open_object("Group of pods scheduled together (gang scheduling)."),
        "priority": integer("Pod priority value (normally set from priorityClassName)."),
        "priorityClassName": string("PriorityClass of the pod."),
        "preemptionPolicy": {
            "description": "PreemptLowerPriority (default) or Never.",
            "enum": ["PreemptLowerPriority", "Never"],
            "x-hint": "use PreemptLowerPriority or Never",
        },
        "runtimeClassName": string("RuntimeClass used to run the pod."),
        "overhead": ref("ResourceList", "Resources the pod's sandbox uses on top of containers."),
        "resources": ref("ResourceRequirements", "Pod-level resource requests and limits."),
        "resourceClaims": open_object_list(
            "Dynamic resource claims the pod uses.", "A pod resource claim."
        ),
        "restartPolicy": {
            "description": "Pod restart policy; DaemonSet pods must use Always (the default).",
            "enum": ["Always"],
            "x-hint": "DaemonSet pods restart Always: remove restartPolicy or set Always",
        },
        "terminationGracePeriodSeconds": integer(
            "Seconds the pod gets to stop gracefully.",
            minimum=0,
            hint="0 or more seconds",
        ),
        "activeDeadlineSeconds": integer(
            "Seconds the pod may run before it is failed.",
            minimum=1,
            hint="1 or more seconds",
        ),
        "dnsPolicy": {
            "description": "ClusterFirst (default), ClusterFirstWithHostNet, Default or None.",
            "enum": ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
            "x-hint": "use ClusterFirst, ClusterFirstWithHostNet, Default or None",
        },
        "dnsConfig": open_object("Extra DNS settings (nameservers, searches, options)."),
        "hostAliases": open_object_list(
            "Extra /etc/hosts entries.", "A host alias (ip, hostnames)."
        ),
        "hostNetwork": boolean("Use the node's network namespace."),
        "hostPID": boolean("Use the node's PID namespace."),
        "hostIPC": boolean("Use the node's IPC namespace."),
        "hostUsers": boolean("Use the node's user namespace (false: a user namespace per pod)."),
        "shareProcessNamespace": boolean("Share one process namespace between containers."),
        "hostname": dns_label("Pod hostname (default: the pod name)."),
        "hostnameOverride": string("Hostname to report, overriding hostname/subdomain."),
        "subdomain": dns_label("Subdomain for the pod's FQDN (<hostname>.<subdomain>...)."),
        "setHostnameAsFQDN": boolean("Set the kernel hostname to the pod's FQDN."),
        "serviceAccountName": dns_subdomain("ServiceAccount the pod runs as."),
        "serviceAccount": string("Deprecated alias of serviceAccountName."),
        "automountServiceAccountToken": boolean("Mount the ServiceAccount token."),
        "enableServiceLinks": boolean("Inject Service environment variables."),
        "imagePullSecrets": {
            "description": "Secrets (in the pod's namespace) used to pull images.",
            "type": "array",
            "items": closed(
                "A reference to a Secret by name.",
                {"name": dns_subdomain("Secret name.")},
                required=("name",),
            ),
        },
        "securityContext": open_object(
            "Pod security options (runAsUser, fsGroup, seccompProfile...)."
        ),
        "readinessGates": open_object_list(
            "Extra pod conditions required for readiness.", "A readiness gate (conditionType)."
        ),
        "os": closed(
            "Operating system of the pod's containers.",
            {
                "name": {
                    "description": "linux or windows.",
                    "enum": ["linux", "windows"],
                    "x-hint": "use linux or windows",
                }
            },
            required=("name",),
        ),
        "evictionResponders": open_object_list(
            "Components asked to respond before the pod is evicted.", "An eviction responder."
        ),
    },
    required=("containers",),
)

DEFS["PodTemplateSpec"] = closed(
    "The pod template: labels/annotations of the pods and their spec.",
    {
        "metadata": closed(
            "Pod labels and annotations.",
            {
                "labels": label_map("Labels of the pods."),
                "annotations": annotation_map("Annotations of the pods."),
            },
        ),
        "spec": ref("PodSpec", "Specification of the pods."),
    },
    required=("spec",),
)

DEFS["ContainerOverride"] = closed(
    "Per-group changes to one container; fields not given keep the template's value.",
    {
        "image": string(
            "Image for this group, e.g. registry.example.com/edge/log-agent:1.4.3.", minLength=1
        ),
        "env": {
            "description": "Environment variables merged by name into the container's env.",
            "type": "array",
            "items": {"$ref": "#/$defs/EnvVar"},
        },
        "command": string_list("Replaces the container's command.", "An argument."),
        "args": string_list("Replaces the container's args.", "An argument."),
        "resources": ref("ResourceRequirements", "Replaces the container's resources."),
    },
)

# --- kinds ----------------------------------------------------------------------------------


def top_level(
    *, api_version: str, kind: str, description: str, metadata: Schema, spec: Schema
) -> Schema:
    return closed(
        description,
        {
            "apiVersion": {"description": "API group and version.", "const": api_version},
            "kind": {"description": "Kind of object.", "const": kind},
            "metadata": metadata,
            "spec": spec,
        },
        required=("apiVersion", "kind", "metadata", "spec"),
    )


def version_field(description: str) -> Schema:
    return string(description, pattern=anchored(VERSION), hint=HINT_VERSION)


def repository_config() -> Schema:
    spec = closed(
        "Repository-wide settings. Every field is optional.",
        {
            "cloudVersion": version_field(
                "KubeEdge cloudcore version of the cluster (e.g. v1.16.0): NodeUpgradeJob "
                "versions must be within 2 minor versions of it."
            ),
            "defaultNamespace": dns_label(
                "Namespace for namespaced objects that set none (default: default)."
            ),
            "owner": dns_label(
                "Owner identity of this repository (or folder) in the cluster: every object "
                "the reconciler applies carries it as the label gitops-edge.io/owner, and only "
                "objects carrying the same identity are ever pruned. Unique per cluster: two "
                "repositories, or two folders of one repository, reconciled into one cluster "
                "must use different identities (default: metadata.name)."
            ),
            "defaults": closed(
                "Defaults for EdgeDaemonSets.",
                {
                    "maxUnavailable": ref(
                        "IntOrPercent",
                        "maxUnavailable for EdgeDaemonSets that set none (default: 10%).",
                    )
                },
            ),
            "status": closed(
                "Where the reconciler writes status back.",
                {
                    "path": string(
                        "Folder (relative to the repository root) for status files "
                        "(default: status). It is not read as desired state.",
                        pattern=anchored(RELATIVE_PATH),
                        hint=(
                            "a relative folder such as status; "
                            "no leading '/', no '.' or '..' segments"
                        ),
                    ),
                    "branch": string(
                        "Branch to commit status to (default: gitops-edge/status, created "
                        "from the spec branch's head); empty means the branch being reconciled.",
                        pattern=anchored(BRANCH),
                        hint=(
                            "a branch name such as gitops-edge/status: letters, digits, "
                            "'.', '_', '-' and '/', no '..'"
                        ),
                    ),
                },
            ),
            "prune": closed(
                "What the reconciler deletes when it leaves the repository.",
                {
                    "workloads": boolean(
                        "Delete DaemonSets this tool created that are no longer in the "
                        "repository (default: true)."
                    ),
                    "jobs": boolean(
                        "Delete KubeEdge jobs that are no longer in the repository "
                        "(default: false)."
                    ),
                    "namespaces": boolean(
                        "Delete Namespaces this source created (owner label) whose declaration "
                        "left the repository, with everything in them (default: false). Never "
                        "default, kube-system, kube-public or kube-node-lease, nor one that "
                        "still holds a DaemonSet or pod the same pass does not prune."
                    ),
                    "allowEmpty": boolean(
                        "Allow a revision to prune every workload this source owns "
                        "(default: false: such a revision is refused, nothing is pruned, and "
                        "the pass fails with an error saying so)."
                    ),
                },
            ),
            "openyurt": closed(
                "Cooperation with OpenYurt's yurt-manager.",
                {
                    "annotatedDaemonSets": {
                        "description": "Plain DaemonSets carrying apps.openyurt.io/update-strategy "
                        "in a cluster where OpenYurt is installed: delegate (default: yurt-manager "
                        "moves their pods; gitops-edge applies and observes only) or drive "
                        "(gitops-edge moves them; disable yurt-manager's daemonpodupdater "
                        "controller first, or both will delete pods).",
                        "enum": ["delegate", "drive"],
                        "x-hint": "use delegate or drive",
                    }
                },
            ),
            "jobs": closed(
                "KubeEdge node job settings.",
                {
                    "apiVersion": {
                        "description": "operations.kubeedge.io version to create jobs in: auto "
                        "(what the cluster serves, default), v1alpha1 (KubeEdge 1.16-1.20) "
                        "or v1alpha2 (KubeEdge >= 1.21).",
                        "enum": ["auto", "v1alpha1", "v1alpha2"],
                        "x-hint": "use auto, v1alpha1 or v1alpha2",
                    }
                },
            ),
            "ignore": {
                "description": "Glob patterns (relative to the repository root, e.g. ci/*.yaml) "
                "of YAML files the tool does not read.",
                "type": "array",
                "items": string(
                    "A glob pattern such as ci/*.yaml.",
                    pattern=anchored(GLOB),
                    hint="a relative glob such as ci/*.yaml (no leading '/')",
                ),
            },
        },
    )
    return top_level(
        api_version="gitops-edge.io/v1alpha1",
        kind="RepositoryConfig",
        description="Repository settings (one per repository, in gitops-edge.yaml at the root).",
        metadata=object_meta(
            kind="RepositoryConfig",
            namespaced=False,
            name=dns_subdomain("Name of the repository configuration (e.g. edge-fleet)."),
        ),
        spec=spec,
    )


def node_group() -> Schema:
    spec: Schema = {
        "description": "Which nodes belong to the group: nodes matching selector, plus the "
        "nodes listed in nodes. At least one of the two.",
        "type": "object",
        "anyOf": [{"required": ["selector"]}, {"required": ["nodes"]}],
        "x-hint": "give the group a selector (e.g. matchLabels: {apps.openyurt.io/nodepool: "
        "hangzhou}), a nodes list, or both",
        "properties": {
            "selector": ref(
                "LabelSelector",
                "Node label selector, e.g. matchLabels {apps.openyurt.io/nodepool: hangzhou} "
                "or {apps.kubeedge.io/belonging-to: beijing}.",
            ),
            "maintenanceWindow": closed(
                "When pods of this group may be replaced and node jobs dispatched: windows "
                "open at each time the cron schedule names, for duration. Outside them the "
                "group's rollout is deferred.",
                {
                    "schedule": string(
                        "Cron schedule of window starts, as a Kubernetes CronJob's: minute hour "
                        "day-of-month month day-of-week, e.g. '0 2 * * *' (02:00 daily), "
                        "'30 1 * * SAT,SUN', or a descriptor such as '@daily'.",
                        minLength=6,
                        hint="five fields or a descriptor, e.g. '0 2 * * *' or '@daily'",
                    ),
                    "duration": string(
                        "How long each window stays open, e.g. 4h, 90m, 1h30m.",
                        pattern="^([0-9]+h)?([0-9]+m)?([0-9]+s)?$",
                        minLength=2,
                        hint="like 4h, 90m or 1h30m",
                    ),
                    "timeZone": string(
                        "IANA time zone of the schedule, e.g. Asia/Shanghai (default UTC).",
                        minLength=1,
                        hint="an IANA name such as Asia/Shanghai",
                    ),
                },
                required=("schedule", "duration"),
            ),
            "nodes": {
                "description": "Node names that belong to the group whatever their labels.",
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "x-hint": "list each node once, at least one (or leave nodes out)",
                "items": dns_subdomain("A node name."),
            },
        },
        "additionalProperties": False,
    }
    return top_level(
        api_version="gitops-edge.io/v1alpha1",
        kind="NodeGroup",
        description="A named set of edge nodes that per-group workloads target.",
        metadata=object_meta(
            kind="NodeGroup",
            namespaced=False,
            name=dns_label("Group name; part of generated DaemonSet names (<workload>-<group>)."),
        ),
        spec=spec,
    )


def edge_daemonset() -> Schema:
    group_entry = closed(
        "One node group the workload runs in, with that group's overrides. The primary "
        "container is the template's first container.",
        {
            "name": dns_label("Name of a NodeGroup in the repository."),
            "image": string(
                "Image of the primary container for this group "
                "(e.g. registry.example.com/edge/log-agent:1.4.3).",
                minLength=1,
            ),
            "env": {
                "description": "Environment variables merged by name into the primary container.",
                "type": "array",
                "items": {"$ref": "#/$defs/EnvVar"},
            },
            "command": string_list("Replaces the primary container's command.", "An argument."),
            "args": string_list("Replaces the primary container's args.", "An argument."),
            "resources": ref("ResourceRequirements", "Replaces the primary container's resources."),
            "containers": {
                "description": "Overrides for other containers, keyed by container name.",
                "type": "object",
                "propertyNames": dns_label("A container name of the template."),
                "additionalProperties": {"$ref": "#/$defs/ContainerOverride"},
            },
        },
        required=("name",),
    )
    spec = closed(
        "The workload, its upgrade strategy and the node groups it runs in.",
        {
            "strategy": closed(
                "How pods move to a new version.",
                {
                    "type": {
                        "description": "AdvancedRollingUpdate (OpenYurt: budgeted, NotReady "
                        "nodes skipped and caught up later), OTA (nodes upgrade themselves "
                        "through the edge API) or RollingUpdate (native Kubernetes).",
                        "enum": ["AdvancedRollingUpdate", "OTA", "RollingUpdate"],
                        "x-hint": "use AdvancedRollingUpdate, OTA or RollingUpdate (case matters)",
                    },
                    "maxUnavailable": ref(
                        "IntOrPercent",
                        "Pods that may be unavailable at once per group, for "
                        "AdvancedRollingUpdate and RollingUpdate (default: the repository's "
                        "spec.defaults.maxUnavailable).",
                    ),
                },
                required=("type",),
            ),
            "minReadySeconds": integer(
                "Seconds a new pod must be ready before it counts as available.",
                minimum=0,
                hint="0 or more seconds",
            ),
            "prePull": closed(
                "Pre-pull the images before pods move (AdvancedRollingUpdate and OTA): when a "
                "group's DaemonSet gets a new revision, gitops-edge first creates a KubeEdge "
                "ImagePrePullJob for the group's Ready nodes that run an old pod, and deletes "
                "or marks pods only once the job has completed; a failed job halts the group.",
                {
                    "concurrency": integer(
                        "Nodes pulling at the same time (default: 1).",
                        minimum=1,
                        maximum=2147483647,
                        hint="at least 1 node at a time",
                    ),
                    "timeoutSeconds": integer(
                        "Time limit per node in seconds (default: 300).",
                        minimum=1,
                        maximum=2147483647,
                        hint="between 1 and 2147483647 seconds",
                    ),
                    "failureTolerate": string(
                        "Fraction of nodes whose pull may fail before the job fails and the "
                        'group halts, as a quoted number between 0 and 1 (default: "0").',
                        hint='quote the number, e.g. failureTolerate: "0.1"',
                    ),
                    "retryTimes": integer(
                        "Retries of a failed image pull on each node (default: 0).",
                        minimum=0,
                        maximum=2147483647,
                        hint="0 or more retries",
                    ),
                },
            ),
            "rollout": closed(
                "Order and safety across groups: waves (e.g. a canary group first), bake time "
                "between waves, a progress deadline that halts a group whose new pods do not "
                "become available, and optional automatic rollback of a halted group.",
                {
                    "waves": {
                        "description": "Groups in the order they roll out: a wave starts only "
                        "when every Ready node of the previous waves runs the new revision and "
                        "has been available for the bake time. Groups not listed form a last "
                        "wave.",
                        "type": "array",
                        "minItems": 1,
                        "x-hint": "e.g. waves: [{groups: [canary], bakeSeconds: 600}, {groups: "
                        "[hangzhou, shanghai]}]",
                        "items": closed(
                            "One wave.",
                            {
                                "groups": {
                                    "description": "Names of groups of spec.groups.",
                                    "type": "array",
                                    "minItems": 1,
                                    "items": dns_label("A group of spec.groups."),
                                    "x-hint": "list at least one group of spec.groups",
                                },
                                "bakeSeconds": integer(
                                    "Seconds this wave must run the new revision, available, "
                                    "before the next wave starts (default: rollout.bakeSeconds).",
                                    minimum=0,
                                    hint="0 or more seconds",
                                ),
                            },
                            required=("groups",),
                        ),
                    },
                    "bakeSeconds": integer(
                        "Default bake time of every wave, in seconds (default 0).",
                        minimum=0,
                        hint="0 or more seconds",
                    ),
                    "waitForNotReady": {
                        "description": "Whether NotReady nodes of a wave hold later waves back "
                        "until they return and are upgraded (default false: they are caught up "
                        "later).",
                        "type": "boolean",
                        "x-hint": "true or false",
                    },
                    "progressDeadlineSeconds": integer(
                        "Seconds a pod of the new revision has to become available; after that "
                        "it counts as failed (default 600).",
                        minimum=1,
                        hint="at least 1 second",
                    ),
                    "maxFailedPods": ref(
                        "IntOrPercent",
                        "Failed pods of the new revision (not available by the deadline) a "
                        "group tolerates; one more halts the group (default 0).",
                    ),
                    "autoRollback": {
                        "description": "Roll a halted group back to the last revision that was "
                        "fully available (recorded in the status; the repository is not "
                        "changed). Default false.",
                        "type": "boolean",
                        "x-hint": "true or false",
                    },
                },
            ),
            "template": ref("PodTemplateSpec", "The pod template shared by every group."),
            "groups": {
                "description": "Node groups to run in: one DaemonSet <workload>-<group> each.",
                "type": "array",
                "minItems": 1,
                "x-hint": "list at least one node group, e.g. - name: hangzhou",
                "items": group_entry,
            },
        },
        required=("strategy", "template", "groups"),
    )
    return top_level(
        api_version="gitops-edge.io/v1alpha1",
        kind="EdgeDaemonSet",
        description="A DaemonSet rolled out per node group, with per-group versions and "
        "overrides; renders one apps/v1 DaemonSet per group.",
        metadata=object_meta(
            kind="EdgeDaemonSet",
            namespaced=True,
            name=dns_subdomain("Workload name; generated DaemonSets are <name>-<group>."),
        ),
        spec=spec,
    )


def daemonset() -> Schema:
    spec = closed(
        "DaemonSet specification (apps/v1).",
        {
            "selector": ref(
                "LabelSelector", "Pod label selector; must match the template's labels."
            ),
            "template": ref("PodTemplateSpec", "The pod template."),
            "updateStrategy": closed(
                "How pods are replaced. For OpenYurt AdvancedRollingUpdate or OTA (set with "
                "the apps.openyurt.io/update-strategy annotation) the type must be OnDelete.",
                {
                    "type": {
                        "description": "RollingUpdate (default) or OnDelete.",
                        "enum": ["RollingUpdate", "OnDelete"],
                        "x-hint": "use RollingUpdate or OnDelete; AdvancedRollingUpdate and "
                        "OTA are set with the apps.openyurt.io/update-strategy annotation "
                        "together with type OnDelete",
                    },
                    "rollingUpdate": closed(
                        "Parameters of RollingUpdate.",
                        {
                            "maxUnavailable": ref(
                                "IntOrPercent", "Pods that may be unavailable at once."
                            ),
                            "maxSurge": ref(
                                "IntOrPercent",
                                "Nodes that may run an old and a new pod at once.",
                            ),
                        },
                    ),
                },
            ),
            "minReadySeconds": integer(
                "Seconds a new pod must be ready before it counts as available.",
                minimum=0,
                hint="0 or more seconds",
            ),
            "revisionHistoryLimit": integer(
                "Old ControllerRevisions kept for rollback (default: 10).",
                minimum=0,
                hint="0 or more",
            ),
        },
        required=("selector", "template"),
    )
    return top_level(
        api_version="apps/v1",
        kind="DaemonSet",
        description="A plain Kubernetes DaemonSet. OpenYurt upgrade models are chosen with the "
        "annotations apps.openyurt.io/update-strategy (AdvancedRollingUpdate or OTA) and "
        "apps.openyurt.io/max-unavailable, and need updateStrategy.type OnDelete.",
        metadata=object_meta(
            kind="DaemonSet",
            namespaced=True,
            name=dns_subdomain("DaemonSet name."),
        ),
        spec=spec,
    )


def namespace() -> Schema:
    return closed(
        "A Kubernetes Namespace (v1), applied before the objects in it. Only its metadata is "
        "written: name, labels, annotations (the API server fills in spec and status).",
        {
            "apiVersion": {"description": "API group and version.", "const": "v1"},
            "kind": {"description": "Kind of object.", "const": "Namespace"},
            "metadata": object_meta(
                kind="Namespace",
                namespaced=False,
                name=dns_label("Namespace name (a DNS-1123 label, at most 63 characters)."),
            ),
        },
        required=("apiVersion", "kind", "metadata"),
    )


def job_common(*, what: str, concurrency: str, v2: bool) -> Schema:
    """Fields NodeUpgradeJob and ImagePrePullJob share (in both API versions; v1alpha2 has no
    default timeout: without one, the controller-manager never times a node task out)."""
    return {
        "nodeNames": {
            "description": f"Nodes to {what}. Set exactly one of nodeNames and labelSelector.",
            "type": "array",
            "items": dns_subdomain("A node name."),
        },
        "labelSelector": ref(
            "NodeJobLabelSelector",
            f"Selects the nodes to {what} by label. Set exactly one of nodeNames and "
            "labelSelector. An empty selector ({}) selects every node (a warning says so).",
        ),
        "concurrency": integer(
            concurrency,
            minimum=1,
            maximum=2147483647,
            hint="at least 1 node at a time",
        ),
        "timeoutSeconds": integer(
            "Time limit in seconds per node task, counted from its last action (no default: "
            "without it a node task never times out)."
            if v2
            else "Time limit in seconds (default: 300).",
            minimum=1,
            maximum=2147483647,
            hint="between 1 and 2147483647 seconds; leave it out for no timeout"
            if v2
            else "between 1 and 2147483647 seconds; leave it out for the default 300",
        ),
        "failureTolerate": string(
            "Fraction of nodes that may fail before the job fails, as a quoted number between "
            '0 and 1 (e.g. "0.1").',
            hint='quote the number, e.g. failureTolerate: "0.1"',
        ),
    }


def check_items(description: str) -> Schema:
    return {
        "description": description,
        "type": "array",
        "uniqueItems": True,
        "x-hint": "list each check once",
        "items": {
            "description": "cpu, mem or disk.",
            "enum": ["cpu", "mem", "disk"],
            "x-hint": "check items are cpu, mem and disk",
        },
    }


def node_upgrade_job(api: str) -> Schema:
    v2 = api == "v1alpha2"
    concurrency = (
        "Nodes upgraded at the same time per CloudCore instance (default: 1)."
        if v2
        else "Nodes upgraded at the same time (default: 1)."
    )
    properties: Schema = {
        "version": version_field("KubeEdge version to upgrade the nodes to, e.g. v1.16.0."),
        "image": string(
            (
                "Installation package image (keadm and edgecore), registry/repository without "
                "a tag, e.g. kubeedge/installation-package: version selects the tag."
                if v2
                else "Installation package image (keadm and edgecore), e.g. "
                "kubeedge/installation-package (the default); version replaces any tag."
            ),
            minLength=1,
        ),
    }
    properties.update(job_common(what="upgrade", concurrency=concurrency, v2=v2))
    properties["checkItems"] = check_items(
        "Pre-checks run on each node before it is upgraded (none by default)."
    )
    properties["requireConfirmation"] = boolean(
        "Wait for a confirmation on each node before upgrading (default: false; v1alpha1 "
        "since KubeEdge 1.19)."
    )
    registry_api = closed(
        "Registry v2 API used to fetch the digests. The token is stored in the "
        "repository in clear text: prefer the digests.",
        {
            "host": string("Registry host.", minLength=1),
            "token": string("Registry token.", minLength=1),
        },
        required=("host", "token"),
    )
    if not v2:
        properties["imageDigestGatter"] = closed(
            "Image digest verification (field name as spelled by KubeEdge; v1alpha1 since "
            "KubeEdge 1.19): the expected digest, or a registry API to read it from.",
            {
                "registryAPI": registry_api,
                "value": string(
                    "The expected image digest, set directly (e.g. sha256:<64 hex digits>).",
                    minLength=1,
                ),
            },
        )
    if v2:
        digest = string(
            "Expected image digest, e.g. sha256:<64 hex digits>.",
            pattern=anchored(SHA256_DIGEST),
            hint="write sha256: followed by 64 lowercase hex digits",
        )
        properties["imageDigestGatter"] = closed(
            "Image digest verification (field name as spelled by KubeEdge): set the digests, "
            "or a registry API to read them from.",
            {
                "amd64": {**digest, "description": "Expected digest of the amd64 image."},
                "arm64": {**digest, "description": "Expected digest of the arm64 image."},
                "registryAPI": registry_api,
            },
        )
    required = ("version", "image") if v2 else ("version",)
    kubeedge = "KubeEdge >= 1.21" if v2 else "KubeEdge 1.16"
    return top_level(
        api_version=f"operations.kubeedge.io/{api}",
        kind="NodeUpgradeJob",
        description=f"Upgrades edgecore on a set of edge nodes ({kubeedge}). The spec is "
        "immutable once created: change the name to run a new upgrade.",
        metadata=object_meta(
            kind="NodeUpgradeJob", namespaced=False, name=dns_subdomain("Job name.")
        ),
        spec=closed("What to upgrade, where, and how carefully.", properties, required=required),
    )


def image_prepull_job(api: str) -> Schema:
    v2 = api == "v1alpha2"
    concurrency = (
        "Nodes pulling at the same time per CloudCore instance (default: 1)."
        if v2
        else "Nodes pulling at the same time (default: 1)."
    )
    properties: Schema = {
        "images": {
            "description": "Images to pull, e.g. docker.io/library/nginx:1.25.",
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "x-hint": "list each image once, at least one",
            "items": string("An image reference.", minLength=1),
        },
        "imageSecrets": string(
            "Pull secret for private registries, as <namespace>/<secret-name>.",
            pattern=anchored(IMAGE_SECRET),
            hint="write <namespace>/<secret-name>, e.g. kubeedge/registry-credentials",
        ),
    }
    properties.update(job_common(what="pull the images on", concurrency=concurrency, v2=v2))
    properties["checkItems"] = check_items(
        "Pre-checks run on each node before pulling (default: disk)."
    )
    properties["retryTimes"] = integer(
        "Retries per node when a pull fails (default: 0).",
        minimum=0,
        maximum=2147483647,
        hint="0 or more retries",
    )
    template = closed(
        "Which images to pull, on which nodes, and how carefully.",
        properties,
        required=("images",),
    )
    kubeedge = "KubeEdge >= 1.21" if v2 else "KubeEdge 1.16"
    return top_level(
        api_version=f"operations.kubeedge.io/{api}",
        kind="ImagePrePullJob",
        description=f"Pre-pulls images on a set of edge nodes ({kubeedge}). The spec is "
        "immutable once created: change the name to pull again.",
        metadata=object_meta(
            kind="ImagePrePullJob", namespaced=False, name=dns_subdomain("Job name.")
        ),
        spec=closed(
            "The pre-pull job.",
            {"imagePrePullTemplate": template},
            required=("imagePrePullTemplate",),
        ),
    )


def config_update_job() -> Schema:
    """ConfigUpdateJob (operations.kubeedge.io/v1alpha2 only, KubeEdge >= 1.21): the fields
    of its Go type ConfigUpdateJobSpec; updateFields is required there."""
    properties: Schema = {
        "updateFields": {
            "description": "EdgeCore configuration fields to set on each node, as "
            "<dotted.path.in.edgecore.yaml>: <value> (strings), e.g. "
            'modules.edged.tailoredKubeletConfig.maxPods: "200".',
            "type": "object",
            "minProperties": 1,
            "x-hint": 'set at least one field, e.g. updateFields: {modules.edged.x: "1"}',
            "propertyNames": string(
                "A dotted path into edgecore's configuration.",
                pattern=anchored(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*"),
                hint="write the dotted path of the field, e.g. modules.edged.enable",
            ),
            "additionalProperties": string(
                "The new value, as a string.",
                hint='quote the value, e.g. "true" or "200"',
            ),
        },
    }
    properties.update(
        job_common(
            what="update the edgecore configuration of",
            concurrency="Nodes updated at the same time per CloudCore instance (default: 1).",
            v2=True,
        )
    )
    return top_level(
        api_version="operations.kubeedge.io/v1alpha2",
        kind="ConfigUpdateJob",
        description="Updates edgecore's configuration on a set of edge nodes (KubeEdge >= 1.21, "
        "v1alpha2 only). The spec is immutable once created: change the name to update again.",
        metadata=object_meta(
            kind="ConfigUpdateJob", namespaced=False, name=dns_subdomain("Job name.")
        ),
        spec=closed(
            "Which edgecore fields to set, where, and how carefully.",
            properties,
            required=("updateFields",),
        ),
    )


# --- assembly -------------------------------------------------------------------------------


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        target = node.get("$ref")
        if isinstance(target, str) and target.startswith("#/$defs/"):
            found.add(target.removeprefix("#/$defs/"))
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


KEYWORDS = frozenset(
    (
        *("$schema", "$id", "$ref", "$defs", "title", "description", "x-hint"),
        *("type", "const", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum"),
        *("items", "minItems", "maxItems", "uniqueItems"),
        *("properties", "required", "additionalProperties", "propertyNames", "minProperties"),
        *("anyOf", "allOf", "if", "then"),
    )
)
SUBSCHEMA_MAPS = ("properties", "$defs")
SUBSCHEMAS = ("items", "additionalProperties", "propertyNames", "if", "then")


def lint(node: Schema, where: str) -> None:
    """Fail on a keyword we do not use on purpose (a typo) or a property without description."""
    unknown = set(node) - KEYWORDS
    if unknown:
        raise ValueError(f"{where}: unknown keywords {sorted(unknown)}")
    for key in SUBSCHEMA_MAPS:
        for name, sub in node.get(key, {}).items():
            if key == "properties" and not sub.get("description"):
                raise ValueError(f"{where}/{key}/{name}: no description")
            lint(sub, f"{where}/{key}/{name}")
    for key in SUBSCHEMAS:
        if isinstance(node.get(key), dict):
            lint(node[key], f"{where}/{key}")
    for key in ("anyOf", "allOf"):
        for i, sub in enumerate(node.get(key, [])):
            lint(sub, f"{where}/{key}/{i}")


def document(filename: str, title: str, body: Schema) -> Schema:
    needed: set[str] = set()
    todo = _refs(body)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo |= _refs(DEFS[name])
    out: Schema = {"$schema": DRAFT, "$id": BASE_ID + filename, "title": title, **body}
    if needed:
        out["$defs"] = {name: DEFS[name] for name in DEFS if name in needed}
    lint(out, filename)
    return out


def schemas() -> dict[str, Schema]:
    kinds: list[tuple[str, str, Schema]] = [
        (
            "repositoryconfig.gitops-edge.io.v1alpha1",
            "RepositoryConfig (gitops-edge.io/v1alpha1)",
            repository_config(),
        ),
        ("nodegroup.gitops-edge.io.v1alpha1", "NodeGroup (gitops-edge.io/v1alpha1)", node_group()),
        (
            "edgedaemonset.gitops-edge.io.v1alpha1",
            "EdgeDaemonSet (gitops-edge.io/v1alpha1)",
            edge_daemonset(),
        ),
        ("daemonset.apps.v1", "DaemonSet (apps/v1)", daemonset()),
        ("namespace.v1", "Namespace (v1)", namespace()),
    ]
    for api in ("v1alpha1", "v1alpha2"):
        kinds.append(
            (
                f"nodeupgradejob.operations.kubeedge.io.{api}",
                f"NodeUpgradeJob (operations.kubeedge.io/{api})",
                node_upgrade_job(api),
            )
        )
        kinds.append(
            (
                f"imageprepulljob.operations.kubeedge.io.{api}",
                f"ImagePrePullJob (operations.kubeedge.io/{api})",
                image_prepull_job(api),
            )
        )
    kinds.append(
        (
            "configupdatejob.operations.kubeedge.io.v1alpha2",
            "ConfigUpdateJob (operations.kubeedge.io/v1alpha2)",
            config_update_job(),
        )
    )
    return {
        f"{stem}.schema.json": document(f"{stem}.schema.json", title, body)
        for stem, title, body in kinds
    }


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for filename, schema in schemas().items():
        path = HERE / filename
        text = render(schema)
        current = path.read_text("utf-8") if path.exists() else None
        if current == text:
            continue
        if check:
            stale.append(filename)
        else:
            path.write_text(text, "utf-8")
            print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print("stale (run python schemas/_generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
