# Developer entry points. `make local` and `make test` are the two commands in README.md.
PYTHON ?= python3
# bash with pipefail: a failing install piped through a filter still fails the target.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
STAMP := $(VENV)/.installed-stamp
CLAUDE_CODE_VERSION := 2.1.328
TOOLS := .tools
CLAUDE_CODE_STAMP := $(TOOLS)/.installed-claude-code-$(CLAUDE_CODE_VERSION)

.PHONY: local test browser lint typecheck sam-tools sam-check bench clean claude-code

## The root project (layer, functions, local stack, dev tools) and cli/ (the `tollway` command), both
## editable. A first install downloads ~60 packages: about a minute on a fast link, more on a slow one.
$(STAMP): pyproject.toml cli/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tollway needs Python 3.11 or newer")'
	@echo "tollway: creating $(VENV) and installing the dependencies (first time: about a minute)…"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==25.3
	@echo "tollway: installing tollway, the tollway command and the test tools (pip prints each download)…"
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -e '.[dev]' -e ./cli \
		| { grep --line-buffered -E '^(Collecting|Successfully installed)' | sed -u 's/^/  /'; true; }
	@touch $(STAMP)
	@echo "tollway: installed."

## Start the local stack (emulator, mock upstream, relay + admin on one port). `make local PORT=8092`
## picks another port.
PORT ?= 8080
local: $(STAMP)
	$(BIN)/tollway local --port $(PORT)

## The whole test suite: unit and integration (loopback, emulator, mock upstream), and the console in
## a real headless browser (Debian's chromium, driven by Playwright). Parallel: TEST_WORKERS
## pytest-xdist workers (default 2, one per core on the reference machine), each with its own local
## stack; `make test TEST_WORKERS=0` runs in one process. Claude Code (npm) for its integration tests.
## Bytecode caching stays on for the run even where PYTHONDONTWRITEBYTECODE is set: the suite starts
## over a hundred Python processes (stacks, emulators, `tollway admin`), each of which would otherwise
## compile every tollway module again, and each worker would rewrite every test module's asserts again.
## Where the CPU goes: `TOLLWAY_TEST_CPU_LOG=cpu.jsonl make test`, then
## `.venv/bin/python -m tests.support.cpu_log cpu.jsonl` (per directory and per file).
TEST_WORKERS ?= 2
test: $(STAMP) browser $(CLAUDE_CODE_STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

## Debian's chromium for the console's browser tests, and a CJK font for its Chinese pages: installed
## when missing and we are root (never `playwright install`: no browser download). Without chromium
## those tests skip and say why.
browser:
	@if command -v chromium >/dev/null 2>&1 && [ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null \
			|| echo "chromium could not be installed: the console's browser tests will skip"; \
	else echo "chromium is missing and this is not root: the console's browser tests will skip"; fi

## Claude Code, pinned, in a project-local folder (.tools, gitignored): tests/integration/claude runs the
## real CLI through the local stack, offline. The npm package carries the native binary for this
## platform in an optional dependency; install.cjs (its postinstall, run again explicitly because newer
## npm versions hold install scripts back) puts it in place of the bin stub. No download at run time.

$(CLAUDE_CODE_STAMP):
	@command -v npm >/dev/null || { echo "npm (Node.js) is needed to install Claude Code for the tests"; exit 1; }
	rm -rf $(TOOLS)/node_modules/@anthropic-ai
	mkdir -p $(TOOLS)
	npm install --prefix $(TOOLS) --no-save --no-audit --no-fund --loglevel=error \
		@anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION)
	cd $(TOOLS)/node_modules/@anthropic-ai/claude-code && node install.cjs
	$(TOOLS)/node_modules/.bin/claude --version
	@rm -f $(TOOLS)/.installed-claude-code-*
	@touch $@

claude-code: $(CLAUDE_CODE_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## SAM CLI pins its own boto3, so it lives in a venv of its own (never in .venv). The stamp names the
## versions, so changing a pin here reinstalls.
SAM_CLI_VERSION := 1.170.0
CFN_LINT_VERSION := 1.58.0
SAM_STAMP := $(SAM_VENV)/.installed-sam-$(SAM_CLI_VERSION)-cfn-lint-$(CFN_LINT_VERSION)

$(SAM_STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "the SAM tools need Python 3.11 or newer")'
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip==25.3
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		aws-sam-cli==$(SAM_CLI_VERSION) cfn-lint==$(CFN_LINT_VERSION)
	@rm -f $(SAM_VENV)/.installed-*
	@touch $@

sam-tools: $(SAM_STAMP)

## Offline: no AWS credentials, no Docker. `sam build` runs the makefile targets in layers/common and
## functions/*, which cross-install Lambda (CPython 3.13, arm64) wheels with the SAM venv's python3.
## Both relay shapes: VolumeMode off (the default) and on (docs/cost.md), linted and validated.
VOLUME_ON := VolumeMode=fargate RelayImageUri=123456789012.dkr.ecr.us-east-1.amazonaws.com/tollway-relay:1 \
	VolumeVpcId=vpc-0123456789abcdef0 VolumeSubnetIds=subnet-0123456789abcdef0,subnet-0123456789abcdef1
sam-check: sam-tools
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/cfn-lint template.yaml --parameters $(VOLUME_ON)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint -t template.yaml
	sed 's/^    Default: "off"  # `make sam-check`.*/    Default: fargate/' template.yaml > .template-volume-on.yaml
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint -t .template-volume-on.yaml; \
		status=$$?; rm -f .template-volume-on.yaml; exit $$status
	SAM_CLI_TELEMETRY=0 PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(SAM_VENV)/bin/sam build -t template.yaml

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam $(TOOLS)
