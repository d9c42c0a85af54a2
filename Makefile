# Two commands a new user needs (each sets up .venv on first use):
#   make search   run the default ENAS search on the embedded CIFAR-10 subset (minutes on a CPU)
#   make test     run the test suite
# Extra arguments go to the command: make search ARGS="trainer.epochs=2", make test ARGS="-m slow".
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: search train test install clean

$(STAMP): setup.cfg setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

search: $(STAMP)
	$(BIN)/enas-search $(ARGS)

train: $(STAMP)
	$(BIN)/enas-train $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
