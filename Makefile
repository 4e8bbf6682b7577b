# Developer entry points. `make local` and `make test` are the two commands in README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
STAMP := $(VENV)/.installed-stamp
CLAUDE_CODE_VERSION := 2.1.328
TOOLS := .tools
CLAUDE_CODE_STAMP := $(TOOLS)/.installed-claude-code-$(CLAUDE_CODE_VERSION)

.PHONY: local test lint typecheck sam-tools sam-check bench clean claude-code

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tollway needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Start the local stack (emulator, mock upstream, relay + admin on one port).
local: $(STAMP)
	$(BIN)/tollway local

## The whole test suite: unit and integration (loopback, emulator, mock upstream, Claude Code).
test: $(STAMP) $(CLAUDE_CODE_STAMP)
	$(BIN)/python -m pytest

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
sam-check: sam-tools
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint -t template.yaml
	SAM_CLI_TELEMETRY=0 PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(SAM_VENV)/bin/sam build -t template.yaml

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam $(TOOLS)
