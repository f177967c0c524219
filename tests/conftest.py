import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# For the JAX processes the tests start: they run a step or two, so compiling is most of their time, and XLA's
# lowest optimisation level halves it (measured); results stay within the tests' tolerances.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import pytest  # noqa: E402

from keras_ser.datasets.cache import CACHE_ENV  # noqa: E402
from keras_ser.datasets.paths import default_data_root  # noqa: E402

ISOLATED_CHILD = "KERAS_SER_ISOLATED_TEST"  # in a child: the file its test reports go to
_IN_CHILD = bool(os.environ.get(ISOLATED_CHILD))  # this process runs one group of isolated tests
_lane = None  # this session's background lane, when it has isolated tests
_cache_folder = None  # this session's feature caches, removed at its end
_previous_cache = os.environ.get(CACHE_ENV)  # restored at the session's end


def pytest_configure(config):
    """Feature caches go to a folder of this session (children, isolated tests' included, inherit it), never to
    ~/.cache; in a child, test reports go back to the parent."""
    global _cache_folder
    if not _IN_CHILD:
        _cache_folder = tempfile.mkdtemp(prefix="keras-ser-test-features-")
        os.environ[CACHE_ENV] = _cache_folder
    else:
        config.pluginmanager.register(_ReportSender(config), "keras_ser_report_sender")


def pytest_unconfigure(config):
    if _lane is not None:
        _lane.stop()
    if _cache_folder is not None:
        if _previous_cache is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = _previous_cache
        shutil.rmtree(_cache_folder, ignore_errors=True)


def pytest_collection_modifyitems(items):
    """Isolated tests report last: their children run beside this process meanwhile."""
    if not _IN_CHILD:
        items.sort(key=lambda item: _isolation_group(item) is not None)


def pytest_collection_finish(session):
    global _lane
    groups = {}
    for item in session.items:
        group = _isolation_group(item)
        if group is not None:
            groups.setdefault(group, []).append(item.nodeid)
    if groups and not _IN_CHILD and not session.config.option.collectonly:
        _lane = _BackgroundLane(groups, session.config.rootpath)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """An `isolated` test ran in a child of the background lane: report what it reported there."""
    group = _isolation_group(item)
    if group is None or _lane is None:
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reports = [item.config.hook.pytest_report_from_serializable(config=item.config, data=data)
               for data in _lane.reports(group, item.nodeid)]
    for report in reports:  # a skip's (path, line, reason), which JSON made a list
        if isinstance(report.longrepr, list):
            report.longrepr = tuple(report.longrepr)
    if not any(report.when == "teardown" for report in reports):  # the child died before the test ended
        returncode, output = _lane.outcome(group)
        reports.append(pytest.TestReport(
            item.nodeid, item.location, {}, "failed",
            f"{item.nodeid} did not finish in its own process (exit status {returncode}):\n{output[-4000:]}",
            "teardown" if any(report.when == "call" for report in reports) else "call"))
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _isolation_group(item):
    """The child process an `isolated` test runs in: its marker's group, else its own; None when not isolated."""
    marker = item.get_closest_marker("isolated")
    return None if marker is None else marker.kwargs.get("group", item.nodeid)


class _BackgroundLane:
    """Runs each group of `isolated` tests in a child pytest, one group at a time, beside this process.

    TensorFlow never gives back the memory of a full-size network (building VGG16's 165 M weights leaves 2 GB
    behind), so the full-size networks run in children; so do whole slow modules, which the second CPU core then
    runs while this process runs the rest. The suite's largest process went from 5.6 GB to 3.0-3.8 GB (measured).
    Each child spends 8 s of CPU importing TensorFlow, so the five slow modules share one ("slow_modules": 2.3 GB).
    """

    def __init__(self, groups, rootpath):
        self._groups, self._rootpath = groups, rootpath
        self._done = {group: threading.Event() for group in groups}
        self._outcomes, self._reports, self._process = {}, {}, None
        self._stopped = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        for group, nodeids in self._groups.items():
            with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as sent:
                try:
                    self._outcomes[group] = self._run_child(nodeids, sent.name)
                except Exception as error:  # noqa: BLE001 - reported as the group's tests' failure
                    self._outcomes[group] = None, f"the child pytest could not run: {error!r}"
                for line in sent.read().splitlines():
                    data = json.loads(line)
                    self._reports.setdefault(data["nodeid"], []).append(data)
            self._done[group].set()

    def _run_child(self, nodeids, report_file):
        if self._stopped:
            return None, "the session ended first"
        with tempfile.TemporaryFile("w+") as output:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *nodeids],
                cwd=self._rootpath, env={**os.environ, ISOLATED_CHILD: report_file},
                stdout=output, stderr=subprocess.STDOUT, text=True,
            )
            try:
                returncode = self._process.wait(timeout=900)
            except subprocess.TimeoutExpired:
                self._process.kill()
                returncode = self._process.wait()
            output.seek(0)
            return returncode, output.read()

    def reports(self, group, nodeid):
        self._done[group].wait()
        return self._reports.get(nodeid, [])

    def outcome(self, group):
        return self._outcomes[group]

    def stop(self):
        self._stopped = True
        if self._process is not None and self._process.poll() is None:
            self._process.kill()


class _ReportSender:
    """In an isolated test's child: appends each test report to the file the parent reads."""

    def __init__(self, config):
        self._config, self._path = config, os.environ[ISOLATED_CHILD]

    def pytest_runtest_logreport(self, report):
        data = self._config.hook.pytest_report_to_serializable(config=self._config, report=report)
        with open(self._path, "a") as sent:
            sent.write(json.dumps(data) + "\n")


@pytest.fixture(scope="module", autouse=True)
def free_keras_state_after_each_module():
    """Clear Keras's global state (and collect) after each test module, so that the suite stays under 6 GB: it had
    grown to 6.0 GB, and five of its modules (test_models, test_rhemo among them) went from 4.5 to 3.2 GB."""
    yield
    import keras

    keras.backend.clear_session(free_memory=True)


@pytest.fixture(scope="session")
def data_root():
    """The shared corpora folder; tests using it skip when it is absent."""
    root = default_data_root()
    if root is None or not root.is_dir():
        pytest.skip("shared corpora not found: set $KERAS_SER_DATA or place ../shared/datasets beside the checkout")
    return root


@pytest.fixture(scope="session")
def corpus_root(data_root):
    """Return a function giving one corpus folder, skipping when it is missing."""

    def get(name):
        path = data_root / name
        if not path.is_dir():
            pytest.skip(f"corpus {name!r} not found under {data_root}")
        return path

    return get
