"""Drive a server with the Triton gRPC client; print what it saw as JSON (run as a subprocess)."""

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException


def main(url: str, model: str) -> None:
    client = grpcclient.InferenceServerClient(url=url)
    meta = client.get_model_metadata(model, as_json=True)
    out = {
        "live": client.is_server_live(), "ready": client.is_server_ready(), "model_ready": client.is_model_ready(model),
        "server": client.get_server_metadata(as_json=True), "metadata": meta,
    }
    age = grpcclient.InferInput("age", [2], "INT64")
    age.set_data_from_numpy(np.array([30, 40], dtype=np.int64))
    income = grpcclient.InferInput("income", [2], "FP64")
    income.set_data_from_numpy(np.array([1.5, 2.0]))
    name = grpcclient.InferInput("name", [2], "BYTES")
    name.set_data_from_numpy(np.array([b"ann", "bob".encode()], dtype=np.object_))
    outputs = [grpcclient.InferRequestedOutput(n) for n in ("score", "label", "flags")]
    result = client.infer(model, [age, income, name], outputs=outputs, request_id="g1")
    response = result.get_response(as_json=True)
    out["infer"] = {
        "score": result.as_numpy("score").tolist(), "label": [v.decode() for v in result.as_numpy("label").tolist()],
        "flags": result.as_numpy("flags").tolist(), "model_name": response["model_name"], "id": response["id"],
    }
    name.set_data_from_numpy(np.array([b"ann", b"forbidden"], dtype=np.object_))
    for label, call in (("invalid", lambda: client.infer(model, [age, income, name])),
                        ("missing", lambda: client.infer("missing-model", [age, income, name])),
                        ("missing_meta", lambda: client.get_model_metadata("missing-model"))):
        try:
            call()
        except InferenceServerException as exc:
            out[label] = {"status": exc.status(), "message": exc.message()}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
