import os

import pytest

# Never reach for a wandb account or the network from a test.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # the fused kernel's build cache is shared by the whole session, in a temp dir
    monkeypatch.setenv("FTN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ftn-cache"))
