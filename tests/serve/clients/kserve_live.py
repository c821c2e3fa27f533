"""Ask a server ``is_server_live`` with the KServe SDK's REST client, V1 (``GET /``) and V2; print JSON."""

import asyncio
import json
import sys

from kserve import InferenceRESTClient, RESTConfig


async def live(base: str, protocol: str) -> object:
    client = InferenceRESTClient(RESTConfig(protocol=protocol, timeout=20))
    try:
        return await client.is_server_live(base)
    except Exception as exc:  # noqa: BLE001 - reported to the test, which names the failure
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.close()


async def main(base: str) -> None:
    print(json.dumps({"v1_live": await live(base, "v1"), "v2_live": await live(base, "v2")}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
