"""The Docker stack, run for real as a user runs it: `./build.sh deploy` of the project's own
docker-compose.yml and images (2 workers x 1 CPU, tiny.en) on a nested tree of long
recordings; `docker kill` of a worker mid-file and `./build.sh down` while files still wait;
`./build.sh deploy` again (workers of 1.5 CPUs) until everything is done; then the clips'
folder renamed and a third deploy, which must move their transcripts, not transcribe them.

The whole run happens once (the `run` fixture) and records what it saw; each test checks one
promise against that record, the destination folder and the containers' logs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from tests.docker.recordings import CLIPS_FOLDER, build_tree, is_long
from tests.docker.stack import (
    FORMATS,
    IMAGE_SETTINGS,
    STATE_DIR,
    DockerStack,
    docker,
    events,
    host_ids,
    logs,
    new_stack,
    wait_for,
)

# One test process runs the whole module (`--dist loadgroup`): its module fixture is one
# scenario, and its teardown removes what another process's copy would still be using.
pytestmark = [pytest.mark.docker, pytest.mark.integration,
              pytest.mark.xdist_group("docker-stack")]

RUN_TIMEOUT = 1800  # about 20 minutes of audio on two loaded 1-CPU containers, with margin
SECOND_CPUS = "1.5"


@dataclass
class Run:
    stack: DockerStack
    keys: dict[str, float | None]
    refused: object = None
    refused_containers: list[str] = field(default_factory=list)
    locked: Path | None = None
    first_transcript_seconds: float = 0.0
    status_text: str = ""
    status_bounds: tuple[int, int] = (0, 0)
    page: dict = field(default_factory=dict)
    page_html: str = ""
    page_bounds: tuple[int, int] = (0, 0)
    uids: dict[str, str] = field(default_factory=dict)
    killed: tuple[str, str] = ("", "")
    done_at_kill: set[str] = field(default_factory=set)
    waiting_at_down: int = 0
    done_before_second: set[str] = field(default_factory=set)
    first_logs: dict[str, list[dict]] = field(default_factory=dict)
    second_logs: dict[str, list[dict]] = field(default_factory=dict)
    final_status_text: str = ""
    final_page: dict = field(default_factory=dict)
    done_after_second: set[str] = field(default_factory=set)
    renamed: dict[str, str] = field(default_factory=dict)  # old key -> new key
    third_logs: dict[str, list[dict]] = field(default_factory=dict)

    def current_keys(self) -> list[str]:
        """The recordings' keys at the end, after the third deploy's folder rename."""
        return [self.renamed.get(key, key) for key in self.keys]


@pytest.fixture(scope="module")
def run(stack_images: dict[str, str], docker_report: dict) -> Iterator[Run]:
    folder = Path(tempfile.mkdtemp(prefix="wa-docker-stack-"))
    folder.chmod(0o755)
    # Greedy decoding (WA_BEAM_SIZE=1, a .env setting) halves the transcription time; what is
    # checked here is the stack, not the transcripts' quality.
    stack = new_stack(folder, WA_BEAM_SIZE="1")
    record = Run(stack, build_tree(folder / "recordings"))
    try:
        refuse_a_destination_the_workers_cannot_write(record)
        first_deploy(record)
        second_deploy(record)
        deploy_after_a_folder_rename(record)
        docker_report["stack"] = {
            "recordings": len(record.keys),
            "first_transcript_seconds": round(record.first_transcript_seconds, 1),
            "timings": {name: round(seconds, 1) for name, seconds in stack.timings.items()}}
        yield record
    finally:
        stack.build_sh("down", timeout=300)
        shutil.rmtree(folder, ignore_errors=True)


def refuse_a_destination_the_workers_cannot_write(record: Run) -> None:
    stack = record.stack
    good = stack.settings["DESTINATION_DIR"]
    record.locked = stack.folder / "locked"
    record.locked.mkdir()
    record.locked.chmod(0o555)  # not the containers' user's, and not writable for anyone else
    stack.write_env(DESTINATION_DIR=str(record.locked))
    record.refused = stack.build_sh("deploy", timeout=300)
    record.refused_containers = stack.containers("localstack") + stack.containers("director")
    stack.write_env(DESTINATION_DIR=good)


def first_deploy(record: Run) -> None:
    stack = record.stack
    started = time.monotonic()
    result = stack.build_sh("deploy", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wait_for(lambda: transcripts(stack), RUN_TIMEOUT, "the first transcript")
    record.first_transcript_seconds = time.monotonic() - started

    for container in running(stack.containers("worker")):
        status = docker("exec", container, "cat", "/proc/1/status")
        record.uids[container] = re.search(r"^Uid:(.*)$", status.stdout, re.MULTILINE)[1]
    record.status_bounds, record.status_text = bracketed(stack, lambda: stack.build_sh("status"))
    record.page_bounds, page = bracketed(stack, stack.status_page)
    record.page = json.loads(page)
    record.page_html = stack.status_page("/")

    container, key = wait_for(lambda: worker_mid_long_file(stack), RUN_TIMEOUT,
                              "a worker in the middle of a long recording")
    kill = docker("kill", container)
    assert kill.returncode == 0, kill.stderr
    record.killed = (container, key)
    record.done_at_kill = stack.done_keys()
    record.waiting_at_down = waiting_messages(stack)
    # The other workers go on finishing files until they are stopped: their logs are read
    # only once they have stopped (by the same SIGTERM `down` sends), or a file done in
    # between would be done, and skipped by the second deploy, with its "done" line in
    # neither deploy's logs (seen as "two clips absent from both deploys' logs").
    for container in running(stack.containers("worker")):
        stopped = docker("stop", container)
        assert stopped.returncode == 0, stopped.stderr
    record.first_logs = all_logs(stack)
    down = stack.build_sh("down", timeout=300)
    assert down.returncode == 0, down.stderr[-3000:]
    record.done_before_second = stack.done_keys()


def second_deploy(record: Run) -> None:
    stack = record.stack
    stack.write_env(WORKER_CPUS=SECOND_CPUS)
    result = stack.build_sh("deploy", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wait_for(lambda: stack.done_keys() >= set(record.keys), RUN_TIMEOUT, "every recording done")
    wait_for(lambda: not running(stack.containers("worker")), 300,
             "the workers to exit on an empty queue")
    record.final_status_text = stack.build_sh("status").stdout
    record.final_page = json.loads(stack.status_page())
    record.second_logs = all_logs(stack)
    record.done_after_second = stack.done_keys()


RENAMED_FOLDER = "clips, sorted"


def deploy_after_a_folder_rename(record: Run) -> None:
    """Rename the clips' folder as a user tidying the archive would, and deploy again."""
    stack = record.stack
    down = stack.build_sh("down", timeout=300)  # fresh containers: their logs are this run's
    assert down.returncode == 0, down.stderr[-3000:]
    source = stack.settings["SOURCE_DIR"]
    Path(source, CLIPS_FOLDER).rename(Path(source, RENAMED_FOLDER))
    record.renamed = {key: RENAMED_FOLDER + key[len(CLIPS_FOLDER):] for key in record.keys
                      if key.startswith(CLIPS_FOLDER + "/")}
    result = stack.build_sh("deploy", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wait_for(lambda: stack.done_keys() >= set(record.renamed.values()), RUN_TIMEOUT,
             "the renamed folder's recordings done")
    wait_for(lambda: not running(stack.containers("worker")), 300,
             "the workers to exit on an empty queue")
    record.third_logs = all_logs(stack)


def transcripts(stack: DockerStack) -> list[Path]:
    return [path for path in stack.destination.rglob("*.txt")
            if STATE_DIR not in path.relative_to(stack.destination).parts]


def running(containers: list[str]) -> list[str]:
    if not containers:
        return []
    result = docker("inspect", "--format", "{{.Name}} {{.State.Running}}", *containers)
    return [line.split()[0].lstrip("/") for line in result.stdout.splitlines()
            if line.endswith(" true")]


def bracketed(stack: DockerStack, call) -> tuple[tuple[int, int], str]:
    """What `call` returns, with the done records counted just before and just after it."""
    before = len(stack.done_keys())
    value = call()
    after = len(stack.done_keys())
    text = value if isinstance(value, str) else value.stdout + value.stderr
    assert isinstance(value, str) or value.returncode == 0, text[-3000:]
    return (before, after), text


def worker_mid_long_file(stack: DockerStack) -> tuple[str, str] | None:
    """A running worker that started a long recording and has not finished it, once at least
    one transcript is done."""
    if not stack.done_keys():
        return None
    for container in running(stack.containers("worker")):
        entries = logs(container)
        started = [entry["key"] for entry in events(entries, "start")]
        finished = {entry["key"] for entry in events(entries, "done")}
        if started and is_long(started[-1]) and started[-1] not in finished:
            return container, started[-1]
    return None


def waiting_messages(stack: DockerStack) -> int:
    sqs = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{stack.settings['LOCALSTACK_PORT']}",
                       region_name="us-east-1", aws_access_key_id="local",
                       aws_secret_access_key="local")
    url = sqs.get_queue_url(QueueName="whisper-automation.fifo")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url,
                                          AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def all_logs(stack: DockerStack) -> dict[str, list[dict]]:
    return {container: logs(container) for service in ("director", "worker")
            for container in stack.containers(service)}


def done_events(*runs: dict[str, list[dict]]) -> Counter[str]:
    return Counter(entry["key"] for logs_of_run in runs for entries in logs_of_run.values()
                   for entry in events(entries, "done"))


def ready_threads(logs_of_run: dict[str, list[dict]]) -> list[int]:
    return [int(match[1]) for entries in logs_of_run.values() for entry in entries
            if (match := re.search(r" ready: .*'threads': (\d+)", entry.get("message", "")))]


def director_line(logs_of_run: dict[str, list[dict]]) -> str:
    (line,) = [entry["message"] for name, entries in logs_of_run.items() if "director" in name
               for entry in entries if entry.get("message", "").startswith("director: found")]
    return line


def expected_threads(cpus: float) -> int:
    # The quota rounded half up, never more than the cores the container may run on.
    return min(os.cpu_count() or 1, max(1, int(cpus + 0.5)))


# --- the checks -----------------------------------------------------------------------------


def test_deploy_refuses_a_destination_the_containers_user_cannot_write(run: Run) -> None:
    uid, gid = host_ids()
    assert run.refused.returncode != 0
    message = run.refused.stderr
    assert f"the containers run as HOST_UID={uid} HOST_GID={gid}" in message, message
    assert f"sudo chown -R {uid}:{gid} {run.locked}" in message, message
    assert run.refused_containers == []  # nothing was started


def test_transcripts_are_mirrored_in_every_format_and_owned_by_the_env_user(run: Run) -> None:
    uid, gid = host_ids()
    destination = run.stack.destination
    for key in run.current_keys():
        for suffix in FORMATS:
            transcript = destination / Path(key).with_suffix(suffix)
            assert transcript.is_file() and transcript.stat().st_size > 0, transcript
            assert (transcript.stat().st_uid, transcript.stat().st_gid) == (uid, gid)
    owners = {(path.stat().st_uid, path.stat().st_gid) for path in destination.rglob("*")}
    assert owners == {(uid, gid)}


def test_every_recording_is_transcribed_exactly_once_over_both_deploys(run: Run) -> None:
    done = done_events(run.first_logs, run.second_logs)
    assert done == Counter(dict.fromkeys(run.keys, 1))
    assert run.done_after_second == set(run.keys)
    assert run.stack.done_keys() == set(run.current_keys())
    # The killed worker's file was not done by it, and was done once by the second deploy.
    container, key = run.killed
    assert key not in {entry["key"] for entry in events(run.first_logs[container], "done")}
    assert key not in run.done_at_kill and key not in run.done_before_second
    assert key in done_events(run.second_logs)


def test_no_partial_or_temporary_file_is_left(run: Run) -> None:
    destination = run.stack.destination
    expected = {Path(key).with_suffix(suffix).as_posix() for key in run.current_keys()
                for suffix in FORMATS}
    visible = {path.relative_to(destination).as_posix() for path in destination.rglob("*")
               if path.is_file() and STATE_DIR not in path.relative_to(destination).parts}
    assert visible == expected
    hidden = [path for path in destination.rglob(".*") if path.name != STATE_DIR]
    assert hidden == []
    assert [path for path in destination.rglob("*.tmp")] == []


def test_a_kill_and_a_stop_mid_run_resume_where_they_stopped(run: Run) -> None:
    # Stopped while recordings still waited in the queue, with some already done ...
    assert run.waiting_at_down > 0
    assert 0 < len(run.done_before_second) < len(run.keys)
    # ... the second director's summary says what was already done and queues only the rest.
    line = director_line(run.second_logs)
    total, done = len(run.keys), len(run.done_before_second)
    assert line == f"director: found {total}, already done {done}, queued {total - done}"
    assert director_line(run.first_logs) == \
        f"director: found {total}, already done 0, queued {total}"


def test_workers_run_as_the_env_user_with_threads_following_worker_cpus(run: Run) -> None:
    uid, _ = host_ids()
    assert len(run.uids) == 2
    for ids in run.uids.values():
        assert set(ids.split()) == {str(uid)}  # real, effective, saved and filesystem uid
    assert ready_threads(run.first_logs) == [expected_threads(1.0)] * 2
    assert ready_threads(run.second_logs) == [expected_threads(float(SECOND_CPUS))] * 2


def test_status_and_the_status_page_agree_with_the_destination_during_the_run(run: Run) -> None:
    total = len(run.keys)
    low, high = run.status_bounds
    match = re.search(r"recordings (\d+): done (\d+), to do (\d+), failed (\d+)", run.status_text)
    assert match, run.status_text
    recordings, done, _, failed = map(int, match.groups())
    assert (recordings, failed) == (total, 0) and low <= done <= high
    assert "queue: " in run.status_text and "workers: " in run.status_text

    low, high = run.page_bounds
    assert run.page["recordings"] == total and low <= run.page["done"] <= high
    assert run.page["failed"] == 0 and run.page["queue"] is not None
    assert run.page["write_errors"] == []
    assert f'id="recordings" data-value="{total}"' in run.page_html

    assert f"recordings {total}: done {total}, to do 0, failed 0" in run.final_status_text
    assert (run.final_page["done"], run.final_page["to_do"]) == (total, 0)


def test_a_renamed_folder_moves_its_transcripts_and_transcribes_nothing(run: Run) -> None:
    destination = run.stack.destination
    assert run.renamed
    assert done_events(run.third_logs) == Counter()  # no worker transcribed anything
    assert f"moved {len(run.renamed)}" in director_line(run.third_logs)
    for old, new in run.renamed.items():
        for suffix in FORMATS:
            assert (destination / Path(new).with_suffix(suffix)).is_file(), new
            assert not (destination / Path(old).with_suffix(suffix)).exists(), old
    assert not set(run.renamed) & run.stack.done_keys()


def test_done_records_name_the_model_not_the_images_model_link(run: Run) -> None:
    done = run.stack.destination / STATE_DIR / "done"
    models = {json.loads(path.read_text())["model"] for path in done.rglob("*.json")}
    assert models == {IMAGE_SETTINGS["MODEL"]}
