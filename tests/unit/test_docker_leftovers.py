"""The Docker tests remove what interrupted sessions left on the engine (their stacks' networks
used up its address pools and failed a CI run), and nothing of this session or of a user's."""

from __future__ import annotations

from tests.docker.leftovers import Leftover, docker_created, stale

STARTED = 1_000_000.0


def test_docker_times_with_nanoseconds_and_quotes_are_read() -> None:
    assert docker_created('"1970-01-12T13:46:40.123456789Z"') == STARTED + 0.123456


def test_only_test_stacks_created_before_the_session_are_stale() -> None:
    found = [Leftover("network", "wa-e2e-85a4b128_default", STARTED - 3600),
             Leftover("container", "wa-e2e-85a4b128_worker_1", STARTED - 3600),
             Leftover("container", "wa-e2e-aws-1a2b3c4d-localstack", STARTED - 60),
             Leftover("network", "wa-e2e-f00dbabe_default", STARTED + 5),  # this session's
             Leftover("network", "whisper-automation_default", STARTED - 3600),  # a user's
             Leftover("container", "my-wa-e2e-thing", STARTED - 3600)]
    assert [(item.kind, item.name) for item in stale(found, STARTED)] == [
        ("container", "wa-e2e-85a4b128_worker_1"),
        ("container", "wa-e2e-aws-1a2b3c4d-localstack"),
        ("network", "wa-e2e-85a4b128_default")]
