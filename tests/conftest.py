import os
import tempfile

import pytest

# Never reach for a wandb account or the network from a test.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# Runs started by tests (subprocesses too) never copy records into the repository's results/runs/.
os.environ.setdefault("FTN_RECORDS", tempfile.mkdtemp(prefix="ftn-test-records-"))
# One data cache for every run the tests start that names none (the workers of one parallel run share it; its
# writes are atomic): a synthetic split's whitening is fitted once, not once per run (half a minute each on a core).
_run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
os.environ.setdefault("FTN_CACHE", os.path.join(tempfile.gettempdir(), f"ftn-test-data-{_run}") if _run
                      else tempfile.mkdtemp(prefix="ftn-test-data-"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # the fused kernel's build cache is shared by the whole session, in a temp dir
    monkeypatch.setenv("FTN_KERNEL_CACHE", str(tmp_path_factory.getbasetemp() / "ftn-kernels"))


@pytest.fixture(scope="session")
def warm_cache() -> str:
    """The synthetic split and its fitted whitening in the shared data cache, built before the test: the runs it
    starts then skip the 3072-d ZCA fit. Returns the override that names the cache."""
    from ftn.data.cifar import CifarData

    cache = os.environ["FTN_CACHE"]
    CifarData("synthetic", "synthetic", ".", cache_dir=cache).prepare_data()
    CifarData("synthetic", "synthetic", ".", cache_dir=cache).setup()
    return f"dataset.cache_dir={cache}"


@pytest.fixture
def compose_cfg():
    """Compose the training config as `python -m ftn.train <overrides>` would, into run_dir.

    Records are not copied anywhere (records_dir=null) unless a test asks: a test must never write into the
    repository's committed results/runs/."""
    from ftn.config import compose_train

    def _compose(overrides, run_dir):
        keep = [] if any(o.startswith("records_dir=") for o in overrides) else ["records_dir=null"]
        return compose_train([*overrides, f"run_dir={run_dir}", *keep])

    return _compose
