"""LitServe serving the same identity model (benchmark comparison only; not a packflow dependency)."""

import sys

import litserve as ls


class IdentityAPI(ls.LitAPI):
    def setup(self, device):
        pass

    def decode_request(self, request):
        return request

    def predict(self, x):
        return x

    def encode_response(self, output):
        return output


if __name__ == "__main__":
    server = ls.LitServer(IdentityAPI(), accelerator="cpu", devices=1, workers_per_device=1)
    server.run(host="127.0.0.1", port=int(sys.argv[1]), num_api_servers=1, log_level="warning", generate_client_file=False)
