"""The one-process reference run the Ray runs of these tests must equal."""

from __future__ import annotations

import pytest
from train_helpers import reference_loop


@pytest.fixture(scope="session")
def reference(train_inputs, tmp_path_factory):
    return reference_loop(train_inputs["params"], tmp_path_factory.mktemp("reference"))
