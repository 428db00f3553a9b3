"""Our own schemas for the custom resources we use, written from the operators' published CRDs.

They cover the fields our manifests use, with the types, enums and bounds the published schemas give
them, and refuse any other field (additionalProperties: false), so a misspelt or invented field fails
here instead of being pruned silently by the API server. Fields of core Kubernetes types (resources,
affinity) are checked separately against the Kubernetes schemas. Read from:
- RabbitmqCluster: rabbitmq/cluster-operator, config/crd/bases/rabbitmq.com_rabbitmqclusters.yaml
  (rabbitmq.com/v1beta1; commit 06cda8e8e1a927a652dda20a1b169fe7667f4916);
- Cluster: cloudnative-pg/cloudnative-pg, config/crd/bases/postgresql.cnpg.io_clusters.yaml
  (postgresql.cnpg.io/v1; commit a95a534dbe0854495b863bbc1b7651f74d310916).
To use another field, look it up in those files and add it here with its published type.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

# A Kubernetes resource quantity such as 10Gi, 500m or 1.5 (the CRDs' int-or-string quantity pattern).
QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
NAME = {"type": "string", "minLength": 1, "maxLength": 253, "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}


def _object(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _resource(api_version: str, kind: str, spec: Schema) -> Schema:
    return _object(
        {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": {
                "type": "object",
                "properties": {
                    "name": NAME,
                    "namespace": NAME,
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "required": ["name", "namespace"],
            },
            "spec": spec,
        },
        required=("apiVersion", "kind", "metadata", "spec"),
    )


# Core types embedded in the CRDs; their inside is validated with the Kubernetes schemas (see the test).
CORE_OBJECT: Schema = {"type": "object"}

RABBITMQ_CLUSTER = _resource(
    "rabbitmq.com/v1beta1",
    "RabbitmqCluster",
    _object(
        {
            "replicas": {"type": "integer", "minimum": 0},
            "image": {"type": "string"},
            "resources": CORE_OBJECT,
            "affinity": CORE_OBJECT,
            "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0},
            "persistence": _object(
                {
                    "storageClassName": {"type": "string"},
                    "storage": {"type": "string", "pattern": QUANTITY},
                }
            ),
            "rabbitmq": _object(
                {
                    "additionalConfig": {"type": "string", "maxLength": 2000},
                    "additionalPlugins": {"type": "array", "items": {"type": "string"}, "maxItems": 100},
                    "advancedConfig": {"type": "string", "maxLength": 100000},
                }
            ),
            "service": _object({"type": {"enum": ["ClusterIP", "LoadBalancer", "NodePort"]}}),
            "tls": _object(
                {
                    "secretName": {"type": "string"},
                    "caSecretName": {"type": "string"},
                    "disableNonTLSListeners": {"type": "boolean"},
                }
            ),
        }
    ),
)

_VOLUME = _object(
    {
        "size": {"type": "string", "pattern": QUANTITY},
        "storageClass": {"type": "string"},
        "resizeInUseVolumes": {"type": "boolean"},
    }
)

CNPG_CLUSTER = _resource(
    "postgresql.cnpg.io/v1",
    "Cluster",
    _object(
        {
            "description": {"type": "string"},
            "instances": {"type": "integer", "minimum": 1},
            "imageName": {"type": "string"},
            "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
            "primaryUpdateMethod": {"enum": ["switchover", "restart"]},
            "enablePDB": {"type": "boolean"},
            "bootstrap": _object(
                {
                    "initdb": _object(
                        {
                            "database": {"type": "string"},
                            "owner": {"type": "string"},
                            "dataChecksums": {"type": "boolean"},
                            "secret": _object({"name": {"type": "string"}}, required=("name",)),
                        }
                    )
                }
            ),
            "storage": _VOLUME,
            "walStorage": _VOLUME,
            "postgresql": _object(
                {
                    # The published schema: a map of strings (PostgreSQL parameters are given as text).
                    "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
                    "synchronous": _object(
                        {
                            "method": {"enum": ["any", "first"]},
                            "number": {"type": "integer"},
                            "dataDurability": {"enum": ["required", "preferred"]},
                        },
                        required=("method", "number"),
                    ),
                }
            ),
            "resources": CORE_OBJECT,
            "affinity": _object(
                {
                    "enablePodAntiAffinity": {"type": "boolean"},
                    "topologyKey": {"type": "string"},
                    "podAntiAffinityType": {"type": "string"},
                }
            ),
        },
        required=("instances",),
    ),
)

SCHEMAS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): RABBITMQ_CLUSTER,
    ("postgresql.cnpg.io/v1", "Cluster"): CNPG_CLUSTER,
}
