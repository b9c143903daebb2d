"""The compose stack "as processes": what each container would run, with the environment and
folder mounts the compose file gives it, against a real LocalStack (host mode)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.cli import SAMPLES, cli_environment
from tests.support.compose import compose_binary, host_command, host_environment, resolved_config
from tests.support.counting_engine import read_calls
from tests.support.require import require

pytestmark = pytest.mark.integration


def run_service(service: dict, env: dict[str, str], replicas: int = 1) -> list[str]:
    processes = [subprocess.Popen(host_command(service), env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(replicas)]
    outputs = []
    for process in processes:
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output
        outputs.append(output)
    return outputs


def test_stack_as_processes_transcribes_every_file_once_and_redeploy_does_nothing(
        localstack, tmp_path: Path, engine_log: Path, tiny_model_dir: Path) -> None:
    require(compose_binary() is not None, "docker-compose (Debian package) is not installed")
    recordings, transcripts = tmp_path / "recordings", tmp_path / "transcripts"
    shutil.copytree(SAMPLES, recordings)
    transcripts.mkdir()
    config = resolved_config({"SOURCE_DIR": str(recordings),
                              "DESTINATION_DIR": str(transcripts),
                              "WA_QUEUE_NAME": f"stack-{uuid.uuid4().hex[:10]}.fifo",
                              "WA_IDLE_EXIT_SECONDS": "3"})
    director, worker = config["services"]["director"], config["services"]["worker"]
    # What the images add to the compose environment: the baked model (tiny.en stands in for
    # it here) and the engine, wrapped to count its calls.
    extra = cli_environment(engine_log, WA_MODEL="tiny.en")
    director_env = extra | host_environment(director, localstack.endpoint)
    worker_env = extra | host_environment(worker, localstack.endpoint)
    assert worker_env["WA_SOURCE"] == str(recordings)
    assert worker_env["AWS_ENDPOINT_URL_SQS"] == localstack.endpoint

    (output,) = run_service(director, director_env)
    assert "found 8, already done 0" in output and "queued 8" in output
    run_service(worker, worker_env, replicas=max(2, int(worker["deploy"]["replicas"])))

    calls = sorted(Path(call).relative_to(recordings).as_posix()
                   for call in read_calls(engine_log))
    expected = sorted(p.relative_to(recordings).as_posix()
                      for p in recordings.rglob("*") if p.suffix in
                      {".flac", ".mp3", ".wav", ".m4a", ".opus", ".ogg"})
    assert calls == expected, "every file exactly once"
    for key in expected:
        stem = (transcripts / key).with_suffix("")
        for fmt in ("txt", "vtt", "srt"):
            assert stem.with_name(f"{stem.name}.{fmt}").is_file(), (key, fmt)

    # ./build.sh deploy again: the director finds everything done, workers find nothing.
    engine_log.unlink()
    (output,) = run_service(director, director_env)
    assert "already done 8" in output and "queued 0" in output
    run_service(worker, worker_env)
    assert read_calls(engine_log) == []
