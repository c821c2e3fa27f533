"""The Open Inference Protocol over gRPC (``packflow serve --grpc-port``; extra ``packflow[grpc]``)."""
