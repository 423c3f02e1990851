# crimefusion: two commands. `make run` installs and runs the main job on the
# bundled data; `make test` installs and runs the whole test suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 3000
# optional extras installed with the project: vision-train brings torch and ultralytics (training YOLO);
# inference needs only ONNX Runtime and OpenCV. llm brings llama.cpp for crimefusion ask's optional language
# model. CI (.ci/run) installs both to run their tests; EXTRAS= installs neither.
EXTRAS ?= vision-train,llm
# llama.cpp (extra llm) compiled for this machine's CPU, the library only: no tools, examples or multimodal part
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_SERVER=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
comma := ,

export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := false
export DAGSTER_DISABLE_TELEMETRY := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install run test ui ask clean lock

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt infra/setup-system.sh
	bash infra/setup-system.sh
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "crimefusion needs Python 3.11, found " + sys.version' \
		|| { echo "error: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[test$(if $(EXTRAS),$(comma)$(EXTRAS))]'
	touch $(STAMP)

run: install
	$(BIN)/crimefusion run

test: install
	$(BIN)/pytest

ui: install
	$(BIN)/python -m orchestration.ui --port $(PORT)

# the analyst assistant's read-only page (questions in plain language, the query shown and editable)
ASK_PORT ?= 8765
ask: install
	$(BIN)/crimefusion ask --serve --port $(ASK_PORT)

# refresh the pins after changing dependencies in pyproject.toml
lock: install
	$(BIN)/pip freeze --exclude-editable | grep -v '^crimefusion' > constraints.txt

clean:
	rm -rf $(VENV) lake .crimefusion landing
