"""Scale-out files checked without a cluster: the AWS-only compose file, the Kubernetes/KEDA
manifests and the IAM policy against the calls the code really makes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.compose import compose_binary
from tests.support.require import require
from whisper_automation.settings import setting_fields

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src" / "whisper_automation"
KNOWN_ENV = {item.metadata["env"] for item in setting_fields()} | {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"}
# boto3 method -> the IAM action it needs.
IAM_ACTIONS = {
    "get_queue_url": "sqs:GetQueueUrl", "create_queue": "sqs:CreateQueue",
    "get_queue_attributes": "sqs:GetQueueAttributes",
    "set_queue_attributes": "sqs:SetQueueAttributes",
    "send_message_batch": "sqs:SendMessage", "receive_message": "sqs:ReceiveMessage",
    "change_message_visibility": "sqs:ChangeMessageVisibility",
    "delete_message": "sqs:DeleteMessage", "list_objects_v2": "s3:ListBucket",
    "head_object": "s3:GetObject", "get_object": "s3:GetObject", "download_file": "s3:GetObject",
    "put_object": "s3:PutObject", "delete_object": "s3:DeleteObject",
    "tag_queue": "sqs:TagQueue", "untag_queue": "sqs:UntagQueue",
    "list_queue_tags": "sqs:ListQueueTags",
}


def test_aws_compose_file_is_valid_and_sets_only_known_variables() -> None:
    require(compose_binary() is not None, "docker-compose (Debian package) is not installed")
    env = {"WA_SOURCE": "s3://in/recordings", "WA_DESTINATION": "s3://out/transcripts",
           "AWS_DEFAULT_REGION": "eu-west-1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([compose_binary() or "docker-compose", "-f",
                             str(REPO / "docker-compose.aws.yml"), "config"],
                            capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr
    service = yaml.safe_load(result.stdout)["services"]["worker"]
    assert set(service["environment"]) - KNOWN_ENV == set()
    assert service["environment"]["WA_SOURCE"] == "s3://in/recordings"
    assert service["environment"].get("AWS_ENDPOINT_URL") is None  # real AWS: passed only if set
    missing = subprocess.run([compose_binary() or "docker-compose", "-f",
                              str(REPO / "docker-compose.aws.yml"), "config", "-q"],
                             capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                             cwd=REPO)
    assert missing.returncode != 0 and "WA_SOURCE" in missing.stderr


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    documents = yaml.safe_load_all((REPO / "deploy/kubernetes/workers.yaml").read_text())
    return {document["kind"]: document for document in documents}


def test_keda_scaled_object_scales_the_worker_deployment_on_the_queue(manifests) -> None:
    scaled = manifests["ScaledObject"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == manifests["Deployment"]["metadata"]["name"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["metadata"]["queueURL"].endswith("/whisper-automation.fifo")
    assert int(trigger["metadata"]["queueLength"]) >= 1
    assert trigger["authenticationRef"]["name"] == manifests["TriggerAuthentication"][
        "metadata"]["name"]


def test_worker_deployment_runs_the_worker_as_non_root_with_known_settings(manifests) -> None:
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["worker"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    names = {item["name"] for item in container["env"]}
    assert names - KNOWN_ENV == set()
    assert {"WA_SOURCE", "WA_DESTINATION", "AWS_DEFAULT_REGION"} <= names
    assert pod["serviceAccountName"] == manifests["ServiceAccount"]["metadata"]["name"]


def test_iam_policy_allows_every_aws_call_the_code_makes() -> None:
    text = (REPO / "docs/aws.md").read_text()
    block = re.search(r"<!-- iam-policy:start -->\n```json\n(.*?)```", text, re.DOTALL)
    assert block, "docs/aws.md lost its policy"
    policy = json.loads(block.group(1))
    allowed = {action for statement in policy["Statement"] for action in statement["Action"]}
    code = "\n".join(path.read_text() for path in SRC.rglob("*.py"))
    used = {method for method in IAM_ACTIONS if re.search(rf"[.\"']{method}\b", code)}
    assert len(used) >= 12, used  # the scan really finds the calls
    needed = {IAM_ACTIONS[method] for method in used}
    assert needed - allowed == set()
    assert allowed - needed == set(), "the policy grants more than the code uses"


# --- GPU workers ------------------------------------------------------------------------------

KUBERNETES_FILES = ("workers.yaml", "workers-gpu.yaml")
KEDA = "keda.sh/v1alpha1"  # KEDA's kinds: no schema in kubernetes-validate; checked above


def kubernetes_documents(name: str) -> list[dict]:
    return list(yaml.safe_load_all((REPO / "deploy/kubernetes" / name).read_text()))


@pytest.mark.parametrize("name", KUBERNETES_FILES)
def test_kubernetes_examples_validate_against_kubernetes_own_schemas_offline(name: str) -> None:
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    core = [doc for doc in kubernetes_documents(name) if doc["apiVersion"] != KEDA]
    assert core, name
    for document in core:  # raises ValidationError naming the field
        kubernetes_validate.validate(document, version, strict=True)


def test_kubernetes_validation_rejects_a_broken_gpu_request() -> None:
    import kubernetes_validate

    deployment = next(doc for doc in kubernetes_documents("workers-gpu.yaml")
                      if doc["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container["resources"]["limits"]["nvidia.com/gpu"] = {"count": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(),
                                     strict=True)


def test_kubernetes_gpu_workers_request_one_gpu_each_and_insist_on_it() -> None:
    documents = {doc["kind"]: doc for doc in kubernetes_documents("workers-gpu.yaml")}
    pod = documents["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    for bound in ("requests", "limits"):
        assert container["resources"][bound]["nvidia.com/gpu"] == "1"
    env = {item["name"]: item["value"] for item in container["env"]}
    assert set(env) - KNOWN_ENV == set()
    assert env["WA_DEVICE"] == "cuda" and container["image"].endswith("-cuda")
    assert pod["securityContext"]["runAsNonRoot"] is True
    scaled = documents["ScaledObject"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == documents["Deployment"]["metadata"]["name"]
    cpu = {doc["kind"]: doc for doc in kubernetes_documents("workers.yaml")}
    assert scaled["triggers"][0]["authenticationRef"]["name"] == \
        cpu["TriggerAuthentication"]["metadata"]["name"]


def test_aws_compose_gpu_profile_reserves_a_gpu_per_worker() -> None:
    require(compose_binary() is not None, "docker-compose (Debian package) is not installed")
    env = {"WA_SOURCE": "s3://in/recordings", "WA_DESTINATION": "s3://out/transcripts",
           "AWS_DEFAULT_REGION": "eu-west-1", "PATH": "/usr/bin:/bin", "GPU_WORKERS": "4",
           "COMPOSE_PROFILES": "gpu"}
    result = subprocess.run([compose_binary() or "docker-compose", "-f",
                             str(REPO / "docker-compose.aws.yml"), "config"],
                            capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr
    service = yaml.safe_load(result.stdout)["services"]["worker-gpu"]
    assert service["profiles"] == ["gpu"] and int(service["deploy"]["replicas"]) == 4
    (reservation,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert reservation["count"] == 1 and reservation["capabilities"] == ["gpu"]
    assert set(service["environment"]) - KNOWN_ENV == set()
    assert service["environment"]["WA_DEVICE"] == "cuda"
