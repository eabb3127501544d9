"""The log writer of every process: a stalled log pipe holds no caller, and what waits is written at exit."""

import json
import subprocess
import sys
import textwrap

import pytest

# Run in a process of their own: each sets up logging for the whole process, as the commands do.
_STALLED_PIPE = """
import logging, logging.config, threading, time
from backend.settings import LogSettings
from entrypoints.logs import dict_config

release = threading.Event()

class Stalled:
    "A log pipe nobody reads, until released."
    def __init__(self):
        self.lines = []
    def write(self, text):
        release.wait()
        self.lines.append(text)
    def flush(self):
        pass

stream = Stalled()
config = dict_config(LogSettings())
config["handlers"]["stderr"]["stream"] = stream
logging.config.dictConfig(config)
started = time.monotonic()
for n in range(1000):
    logging.getLogger("shuxiang.http").info("request %d", n)
print(time.monotonic() - started, flush=True)
release.set()
logging.shutdown()
print(sum(text.count('"message":"request ') for text in stream.lines))
"""

_FORKED_WORKER = """
import logging, logging.config, multiprocessing
from backend.settings import LogSettings
from entrypoints.logs import configure, dict_config

def worker():
    logging.config.dictConfig(dict_config(LogSettings()))  # as granian sets up each of its worker processes
    for n in range(2000):
        logging.getLogger("shuxiang.http").info("request %d", n)

configure(LogSettings())  # as `shuxiang serve` does before granian forks its workers
logging.getLogger("shuxiang").info("serving")
process = multiprocessing.get_context("fork").Process(target=worker)
process.start()
process.join()
logging.getLogger("shuxiang").info("stopped")
"""


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=20, check=True
    )


def test_a_stalled_log_pipe_holds_no_caller_and_gets_every_line_once_it_drains() -> None:
    try:
        seconds, written = _run(_STALLED_PIPE).stdout.split()
    except subprocess.TimeoutExpired:
        pytest.fail("logging waited on the stalled pipe")

    assert float(seconds) < 5  # not waiting: the first write would never return
    assert int(written) == 1000


def test_a_forked_worker_process_writes_every_line_before_it_ends() -> None:
    lines = [json.loads(line) for line in _run(_FORKED_WORKER).stderr.splitlines()]

    requests = [line["message"] for line in lines if line["logger"] == "shuxiang.http"]
    assert requests == [f"request {n}" for n in range(2000)]
    assert [line["message"] for line in lines if line["logger"] == "shuxiang"] == ["serving", "stopped"]
