"""Drive a server with the Triton HTTP client; print what it saw as JSON (run as a subprocess)."""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def inputs(binary: bool):
    age = httpclient.InferInput("age", [2], "INT64")
    age.set_data_from_numpy(np.array([30, 40], dtype=np.int64), binary_data=binary)
    income = httpclient.InferInput("income", [2], "FP64")
    income.set_data_from_numpy(np.array([1.5, 2.0]), binary_data=binary)
    name = httpclient.InferInput("name", [2], "BYTES")
    name.set_data_from_numpy(np.array([b"ann", "bob".encode()], dtype=np.object_), binary_data=binary)
    return [age, income, name]


def main(url: str, model: str) -> None:
    client = httpclient.InferenceServerClient(url=url, network_timeout=20)
    out = {
        "live": client.is_server_live(), "ready": client.is_server_ready(), "model_ready": client.is_model_ready(model),
        "server": client.get_server_metadata(), "metadata": client.get_model_metadata(model),
    }
    for binary in (False, True):
        outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("score", "label", "flags")]
        result = client.infer(model, inputs(binary), outputs=outputs, request_id="r1")
        out[f"binary={binary}"] = {
            "score": result.as_numpy("score").tolist(), "label": [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label").tolist()],
            "flags": result.as_numpy("flags").tolist(), "model_name": result.get_response()["model_name"],
        }
    default = client.infer(model, inputs(True))  # no outputs named: the client asks for all, binary
    out["default_outputs"] = sorted(o["name"] for o in default.get_response()["outputs"])
    try:
        client.infer("missing-model", inputs(False))
    except InferenceServerException as exc:
        out["missing"] = {"status": exc.status(), "message": exc.message()}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
