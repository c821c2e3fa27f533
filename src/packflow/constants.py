"""File names and environment variables shared across packflow."""

PACKAGING_CONFIG_NAME = "packflow.yaml"
REQUIREMENTS_TEXT_NAME = "requirements.txt"
MANIFEST_NAME = "packflow-manifest.json"
SAMPLE_INPUTS_NAME = "sample_inputs.jsonl"

#: Environment variable naming a JSON file whose top-level ``configs`` object overrides backend config.
BACKEND_CONFIG_FILE_PATH_ENV = "BACKEND_CONFIG_FILE_PATH"
#: Environment variable setting the level of the ``packflow`` logger (e.g. ``DEBUG``).
LOG_LEVEL_ENV = "PACKFLOW_LOG_LEVEL"

#: Pipeline step names, in execution order.
STEPS = ("preprocess", "transform_inputs", "execute", "transform_outputs")

#: Exit codes shared by every command.
EXIT_OK = 0
#: Unexpected failure, or (validate/verify) checks that did not pass.
EXIT_FAILURE = 1
#: The command could not start: bad target, bad configuration, bad usage.
EXIT_CANNOT_START = 2
#: The run finished but some records were dead-lettered.
EXIT_DEAD_LETTERS = 3
