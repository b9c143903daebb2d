"""The SQS FIFO work queue and its dead-letter queue, through boto3 (AWS, LocalStack or embedded).

Queue attributes come from create_queue.json; nothing here repeats them. Workers learn the
visibility timeout and the receive limit from the queue itself, so the one file stays the truth.
Every failed call leaves this module as a QueueError, whatever botocore raised.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any, ParamSpec, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from whisper_automation.errors import QueueError, QueueMissing
from whisper_automation.jobs.messages import Job, encode
from whisper_automation.settings import TUNING, Settings

SEND_BATCH = 10  # SendMessageBatch's limit
P = ParamSpec("P")
T = TypeVar("T")


def queue_errors(method: Callable[P, T]) -> Callable[P, T]:
    """botocore's exceptions raised by a queue call -> QueueError."""
    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except (BotoCoreError, ClientError) as error:
            raise QueueError(f"{method.__name__.lstrip('_')}: {error}") from error
    return call


@dataclass(frozen=True)
class Message:
    body: str
    receipt_handle: str
    receive_count: int


def queue_template() -> dict:
    text = resources.files("whisper_automation").joinpath("create_queue.json").read_text()
    return json.loads(text)


def dead_letter_name(queue_name: str) -> str:
    return queue_name.removesuffix(".fifo") + "-dlq.fifo"


def sqs_client(settings: Settings, max_attempts: int = TUNING.aws_max_attempts) -> Any:
    session = boto3.session.Session()
    credentials = {}
    if settings.queue_endpoint and session.get_credentials() is None:
        # LocalStack and the embedded server accept any key; real AWS never gets here.
        credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=TUNING.aws_connect_timeout_seconds,
        read_timeout=TUNING.queue_read_timeout_seconds,
    )
    return session.client("sqs", endpoint_url=settings.queue_endpoint,
                           region_name=settings.region, config=config, **credentials)


class WorkQueue:
    def __init__(self, client: Any, url: str, dead_letter_url: str | None = None) -> None:
        self.client = client
        self.url = url
        self.dead_letter_url = dead_letter_url

    @classmethod
    @queue_errors
    def connect(cls, settings: Settings, client: Any = None) -> WorkQueue:
        """Open existing queues; raise QueueMissing if the director has not created them."""
        client = client or sqs_client(settings)
        url = _queue_url(client, settings.queue_name)
        if url is None:
            raise QueueMissing(f"queue {settings.queue_name!r} does not exist; run the director")
        return cls(client, url, _queue_url(client, dead_letter_name(settings.queue_name)))

    @classmethod
    @queue_errors
    def ensure(cls, settings: Settings, client: Any = None) -> WorkQueue:
        """Create (or update) the queue and its dead-letter queue from create_queue.json."""
        client = client or sqs_client(settings)
        template = queue_template()
        dead_url = _create_or_update(client, dead_letter_name(settings.queue_name),
                                     _strings(template["DeadLetterQueue"]))
        dead_arn = client.get_queue_attributes(
            QueueUrl=dead_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = _strings(template["Queue"])
        redrive = dict(template["RedrivePolicy"], deadLetterTargetArn=dead_arn)
        if settings.max_receives:
            redrive["maxReceiveCount"] = settings.max_receives
        if settings.visibility_timeout:
            attributes["VisibilityTimeout"] = str(settings.visibility_timeout)
        attributes["RedrivePolicy"] = json.dumps(redrive)
        url = _create_or_update(client, settings.queue_name, attributes)
        return cls(client, url, dead_url)

    # --- director side ---

    @queue_errors
    def send(self, jobs: Iterable[Job]) -> int:
        """Send jobs in batches of ten; return how many SQS accepted (duplicates count too)."""
        sent = 0
        batch: list[Job] = []
        for job in jobs:
            batch.append(job)
            if len(batch) == SEND_BATCH:
                sent += self._send_batch(batch)
                batch = []
        if batch:
            sent += self._send_batch(batch)
        return sent

    def _send_batch(self, jobs: list[Job]) -> int:
        entries = [{
            "Id": str(index),
            "MessageBody": encode(job),
            "MessageGroupId": job.group_id(),
            "MessageDeduplicationId": job.deduplication_id(),
        } for index, job in enumerate(jobs)]
        response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
        failed = response.get("Failed", [])
        if failed:
            reasons = "; ".join(f"{entry.get('Code')}: {entry.get('Message')}" for entry in failed)
            raise QueueError(f"SQS refused {len(failed)} of {len(jobs)} messages: {reasons}")
        return len(response.get("Successful", []))

    # --- worker side ---

    @queue_errors
    def receive(self, wait_seconds: int = TUNING.long_poll_seconds) -> Message | None:
        response = self.client.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=1, WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"])
        for item in response.get("Messages", []):
            count = int(item.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            return Message(item["Body"], item["ReceiptHandle"], count)
        return None

    @queue_errors
    def extend(self, message: Message, seconds: int) -> None:
        self.client.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=seconds)

    def release(self, message: Message) -> None:
        """Make the message visible again at once, for another worker."""
        self.extend(message, 0)

    @queue_errors
    def delete(self, message: Message) -> None:
        self.client.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle)

    # --- queue tags: notes that must not depend on the destination (write_errors.py) ---

    @queue_errors
    def set_tag(self, key: str, value: str) -> None:
        self.client.tag_queue(QueueUrl=self.url, Tags={key: value})

    @queue_errors
    def remove_tags(self, keys: list[str]) -> None:
        if keys:
            self.client.untag_queue(QueueUrl=self.url, TagKeys=keys)

    # --- read-only inspection (never receives) ---

    @queue_errors
    def attributes(self) -> dict[str, str]:
        return self.client.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["All"])["Attributes"]

    def visibility_timeout(self) -> int:
        return int(self.attributes()["VisibilityTimeout"])

    def max_receives(self) -> int | None:
        policy = self.attributes().get("RedrivePolicy")
        return int(json.loads(policy)["maxReceiveCount"]) if policy else None

    @queue_errors
    def tags(self) -> dict[str, str]:
        return self.client.list_queue_tags(QueueUrl=self.url).get("Tags", {})

    @queue_errors
    def counts(self) -> dict[str, int]:
        attributes = self.attributes()
        counts = {
            "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "dead": 0,
        }
        if self.dead_letter_url:
            dead = self.client.get_queue_attributes(
                QueueUrl=self.dead_letter_url,
                AttributeNames=["ApproximateNumberOfMessages",
                                "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            counts["dead"] = sum(int(value) for value in dead.values())
        return counts


def _queue_url(client: Any, name: str) -> str | None:
    try:
        return client.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        if "NonExistentQueue" in str(error) or "QueueDoesNotExist" in str(error):
            return None
        raise


def _create_or_update(client: Any, name: str, attributes: dict[str, str]) -> str:
    """CreateQueue is idempotent for equal attributes; for changed ones, update them in place."""
    url = _queue_url(client, name)
    if url is None:
        return client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    mutable = {key: value for key, value in attributes.items() if key != "FifoQueue"}
    client.set_queue_attributes(QueueUrl=url, Attributes=mutable)
    return url


def _strings(attributes: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in attributes.items()}
