import json

import numpy as np
import pytest
import torch

from mulde.io.jsonable import json_default


def test_numpy_and_torch_scalars_and_arrays_become_plain_json():
    value = {"steps": np.int64(300), "gamma": np.float32(0.5), "on": np.bool_(True),
             "levels": np.array([1.0, 2.0]), "t": torch.tensor(3), "rows": torch.ones(2, 1)}
    assert json.loads(json.dumps(value, default=json_default)) == {
        "steps": 300, "gamma": 0.5, "on": True, "levels": [1.0, 2.0], "t": 3,
        "rows": [[1.0], [1.0]]}


def test_anything_else_is_refused_as_json_refuses_it():
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        json.dumps({"x": object()}, default=json_default)
