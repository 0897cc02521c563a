# Two commands on a fresh machine (see README):
#   make run    set up, train the reference MLP on MNIST, then build the book
#   make test   set up, then lint and run every test (in parallel)
# For development (CONTRIBUTING.md): make test-fast, make lint.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH_STAMP := $(VENV)/.torch

# Use the course's shared copy of MNIST when it sits beside the checkout;
# otherwise the loader looks in $MNIST_DIR or the user cache (see README).
SHARED_MNIST := $(abspath ../shared/datasets/mnist)
ifneq ($(wildcard $(SHARED_MNIST)),)
export MNIST_DIR ?= $(SHARED_MNIST)
endif

# nbgrader runs tools such as alembic from PATH: put the venv's scripts first.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup book-assets run book pdf lint test test-fast bench clean

setup: book-assets $(STAMP) $(TORCH_STAMP)

# MathJax for the offline book, from the npm registry (git-ignored).
book-assets:
	bash book/tools/setup_offline_assets.sh

# Reinstall whenever the project's dependencies change. The instructor wheel carries
# MathJax for offline feedback pages, so the assets come first.
$(STAMP): pyproject.toml packaging/autograder/pyproject.toml packaging/dependencies.py | book-assets
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The book's PyTorch appendix runs on PyTorch's CPU build (local wheel cache);
# without it the page builds with a note instead of its numbers.
$(TORCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	touch $(TORCH_STAMP)

run: setup
	$(BIN)/python -m solutions train mnist --epochs 10 --save runs/mnist.npz --plot runs/mnist_curves.png
	$(MAKE) --no-print-directory book

# Strict build (warnings are errors); clears the execution cache when the
# packages the chapters import have changed.
book: setup
	$(BIN)/python book/tools/build_book.py
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# The whole book as one PDF, printed from the built site by Debian's headless
# chromium (apt-get install chromium chromium-driver): _build/html/backprop-book.pdf.
pdf: book
	$(BIN)/python book/tools/print_pdf.py

# ruff's lint rules and formatting (pyproject.toml [tool.ruff]); 0 findings.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every test, on every core: a module's tests stay on one worker (tests/conftest.py,
# xdist_scope). PYTEST_ARGS adds options, e.g. PYTEST_ARGS=-x.
test: lint
	$(BIN)/python -m pytest -n auto --dist loadscope $(PYTEST_ARGS)

# The development loop: no book build, no browser, no PostgreSQL, nothing slow.
test-fast: setup
	$(BIN)/python -m pytest -n auto --dist loadscope -m "not (book or browser or postgres or slow)" $(PYTEST_ARGS)

# Speed baseline against PyTorch (CPU build from the local wheel cache).
bench: setup
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m benchmarks.mnist_epoch

clean:
	rm -rf $(VENV) runs _build
