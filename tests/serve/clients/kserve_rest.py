"""Drive a server with the KServe SDK's REST client (V1 and V2); print what it saw as JSON."""

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


def v2_request(model: str, binary: bool) -> InferRequest:
    age = InferInput("age", [2], "INT64")
    age.set_data_from_numpy(np.array([30, 40], dtype=np.int64), binary_data=binary)
    income = InferInput("income", [2], "FP64")
    income.set_data_from_numpy(np.array([1.5, 2.0]), binary_data=binary)
    name = InferInput("name", [2], "BYTES")
    name.set_data_from_numpy(np.array(["ann", "bob"], dtype=np.object_), binary_data=binary)
    return InferRequest(model, [age, income, name], request_id="k1")


async def main(base: str, model: str) -> None:
    out: dict = {}
    v2 = InferenceRESTClient(RESTConfig(protocol="v2", timeout=20))
    out["v2_live"] = await v2.is_server_live(base)
    out["v2_ready"] = await v2.is_server_ready(base)
    out["v2_model_ready"] = await v2.is_model_ready(base, model)
    for binary in (False, True):
        response = await v2.infer(base, v2_request(model, binary), model_name=model)
        tensors = {o.name: o.as_numpy().tolist() for o in response.outputs}
        tensors["label"] = [v.decode() if isinstance(v, bytes) else v for v in tensors["label"]]
        out[f"v2_binary={binary}"] = {"model_name": response.model_name, "id": response.id, **tensors}
    await v2.close()
    v1 = InferenceRESTClient(RESTConfig(protocol="v1", timeout=20))
    out["v1_model_ready"] = await v1.is_model_ready(base, model)
    out["v1_predict"] = await v1.infer(base, {"instances": [{"age": 2, "income": 1.0, "name": "x"}]}, model_name=model)
    try:
        await v1.infer(base, {"instances": [{"age": "two", "income": 1.0, "name": "x"}]}, model_name=model)
    except Exception as exc:  # httpx.HTTPStatusError
        out["v1_invalid"] = {"status": exc.response.status_code, "message": str(exc)}
    await v1.close()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
