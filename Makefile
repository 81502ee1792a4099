# cgtvigil: two commands for a fresh machine.
#   make demo   set up, build the demo data and serve the web application on 127.0.0.1:8000
#   make test   set up and run every test (lint, layer contract, types, pytest with PostgreSQL)
SHELL := /bin/bash
COMMA := ,
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup spark bench clean

VENDOR := src/cgtvigil/web/static/vendor
ASSETS := $(VENDOR)/swagger-ui-bundle.js

# Front-end libraries from the npm registry, pinned by web-assets/package-lock.json, copied into
# the package's static folder: never committed, never loaded from a CDN.
$(ASSETS): web-assets/package.json web-assets/package-lock.json
	cd web-assets && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	rm -f $(VENDOR)/htmx.min.js  # no page uses it: not shipped
	cp web-assets/node_modules/vega/build/vega.min.js web-assets/node_modules/vega-lite/build/vega-lite.min.js \
	   web-assets/node_modules/vega-embed/build/vega-embed.min.js \
	   web-assets/node_modules/swagger-ui-dist/swagger-ui-bundle.js web-assets/node_modules/swagger-ui-dist/swagger-ui.css \
	   $(VENDOR)/

$(STAMP): pyproject.toml constraints.txt $(ASSETS)
	@# WeasyPrint (PDF reports) needs Pango from the system; install it where it is missing (Debian)
	@ldconfig -p | grep -q libpangoft2-1.0 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	   apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The Spark counting engine (signals --engine spark): PySpark from PyPI (the 'spark' extra) and
# Java 17+ from Debian's default-jre-headless where there is no `java`.
SPARK_STAMP := $(VENV)/.spark-installed
$(SPARK_STAMP): $(STAMP)
	@command -v java >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	   apt-get install -y -qq default-jre-headless >/dev/null; }
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]'
	touch $(SPARK_STAMP)

spark: $(SPARK_STAMP)

demo: $(STAMP)
	$(BIN)/cgtvigil demo

test: $(STAMP) $(SPARK_STAMP)
	scripts/test.sh

# Every benchmark of benchmarks/README.md at sizes one machine affords in minutes; FULL=1 runs the
# sizes the README records (1M and 5M reports, all of FAERS at real scale, a day of 10,000
# monitored patients: hours on two cores).
bench: $(STAMP) $(SPARK_STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench,spark]'
	$(BIN)/python benchmarks/run.py $(if $(FULL),--sizes 1000000$(COMMA)5000000 --repeat 3)
	$(BIN)/python benchmarks/monitoring.py
	$(if $(FULL),$(BIN)/python benchmarks/monitoring.py --postgres --workers 2 --patients 10000 --hours 24)
	$(BIN)/python benchmarks/web.py --postgres --workers 4 --rounds 5
	$(BIN)/python benchmarks/spark.py $(if $(FULL),--sizes 1000000$(COMMA)5000000,--sizes 100000)
	$(BIN)/python benchmarks/ranking.py $(if $(FULL),--sizes 1000000$(COMMA)5000000,--sizes 100000)
	$(BIN)/python benchmarks/forecast.py
	$(BIN)/python benchmarks/faers_history.py $(if $(FULL),--quarters 89 --scale 1,--quarters 4 --scale 0.01)
	$(BIN)/python benchmarks/genotox.py
	$(BIN)/python benchmarks/cases.py
	$(BIN)/python benchmarks/e2b.py
	$(BIN)/python benchmarks/ingest_hostile.py

clean:
	rm -rf $(VENV) cgtvigil-output .pytest_cache .mypy_cache .ruff_cache
