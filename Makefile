# Two commands do all the set-up: `make table1` (the main job) and `make test`.
# Each creates .venv when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TRAIN := $(PY) -m ftn.train
# QUICK=1: a rough Table 1 in a few minutes (at most 8 epochs of 10^3 instead of 10^4 batches)
QUICK ?= 0
# Table 2/4 knobs: SCHEDULE=medium|short|paper (medium: the committed results/table2.md), DATASET=cifar10_jpeg|cifar10|cifar100, DEVICE=cpu|gpu, SEEDS=0,1,2
SCHEDULE ?= medium
DATASET ?= cifar10_jpeg
DEVICE ?= cpu
SEEDS ?= 0,1,2  # a claim needs 3 seeds (ftn.results.stats.MIN_PAIRS)
WIDTHS ?= 8
POOLINGS ?= max,avg,lstm_shared,lstm
# JOBS=N: N runs of the sweep at once, each a separate process (Hydra's submitit local launcher, in batches of N),
# each with one torch thread (THREADS) and its own run folder, checkpoints and wandb run; DEVICE=gpu shares GPU 0.
JOBS ?= 1
THREADS ?= 1
ifeq ($(JOBS),1)
LAUNCH :=
else
LAUNCH := hydra/launcher=local hydra.sweeper.max_batch_size=$(JOBS) \
	$(if $(filter gpu,$(DEVICE)),hydra.launcher.gpus_per_node=1)
endif
JOBS_ENV := $(if $(filter-out 1,$(JOBS)),OMP_NUM_THREADS=$(THREADS))
# PACK=1: the runs of each width train as one pack in one process (ftn.packing), each member with its own crop/flip
# stream (dataset.augmentation=crop_flip: packs need it, and it is a run identity of its own). Meant for a GPU; on the
# CPU small packs gain a little and large ones lose (docs/scaling.md, "Packs").
PACK ?= 0
ifeq ($(PACK),1)
ifneq ($(JOBS),1)
$(error PACK=1 trains each width's runs as one pack in one process, so JOBS=$(JOBS) would do nothing; allowed: PACK=1 or JOBS=N)
endif
LAUNCH := hydra/launcher=packed dataset.augmentation=crop_flip
endif

ifeq ($(QUICK),1)
T1_NAME := table1_quick
T1_SEEDS := 0
T1_SIZE := dataset.train_batches=1000 dataset.eval_batches=1000 trainer.max_epochs=8 name=$(T1_NAME)
else
T1_NAME := table1
T1_SEEDS := $(SEEDS)
T1_SIZE :=
endif

.PHONY: setup test test-all table1 table2 table4 bench results clean-runs gpu-kit gpu-rehearsal

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch>=2.6,<3" "torchvision>=0.18"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# Fast suite (about 10 minutes on 2 CPU cores); `make test-all` adds the slow tests. TEST_JOBS pytest workers
# (pytest-xdist; auto: one per core), one torch thread each: most of the time goes to end-to-end runs in
# subprocesses, which overlap well.
TEST_JOBS ?= auto
TEST := OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_JOBS)
test: $(STAMP)
	$(TEST) -m "not slow"

test-all: $(STAMP)
	$(TEST)

# Table 1: max and avg sweeps run side by side (one thread each), then every table, claim and figure is rebuilt
# (`make results`: the claims read Table 1 too), or for QUICK=1 its own rough table in runs/table1_quick.md: quick
# runs never reach results/ (ftn.identity.not_a_result).
table1: $(STAMP)
	OMP_NUM_THREADS=$(THREADS) $(TRAIN) -m experiment=table1 dataset.seq_len=4,9,16,64 task.target=max seed=$(T1_SEEDS) $(T1_SIZE) & max=$$!; \
	OMP_NUM_THREADS=$(THREADS) $(TRAIN) -m experiment=table1 dataset.seq_len=4,9,16,64 task.target=avg seed=$(T1_SEEDS) $(T1_SIZE) & avg=$$!; \
	wait $$max; m=$$?; wait $$avg; a=$$?; test $$m -eq 0 && test $$a -eq 0  # a failed sweep fails make
	$(if $(filter 1,$(QUICK)),$(PY) -m ftn.results table1 --experiment $(T1_NAME) --out runs,$(MAKE) --no-print-directory results)

table2: $(STAMP)
	$(JOBS_ENV) $(TRAIN) -m experiment=table2 model.width=$(WIDTHS) pooling=$(POOLINGS) seed=$(SEEDS) \
		schedule=$(SCHEDULE) dataset=$(DATASET) trainer=$(DEVICE) $(LAUNCH)
	$(MAKE) --no-print-directory results

table4: $(STAMP)
	$(JOBS_ENV) $(TRAIN) -m experiment=table4 pooling=max,lstm seed=$(SEEDS) schedule=$(SCHEDULE) \
		dataset=$(DATASET) trainer=$(DEVICE) $(LAUNCH)
	$(MAKE) --no-print-directory results

bench: $(STAMP)
	$(PY) scripts/bench_pooling.py --threads 1  # one thread, as the committed section (g) was measured
	$(PY) scripts/bench_cpu_step.py
	$(PY) scripts/bench_table3.py --record results/runs
	$(PY) scripts/bench_zoo.py --record results/runs
	$(MAKE) --no-print-directory results  # the claims and the zoo table read the bench records

# Rebuild the tables, the claims and every figure from the run records under runs/ and the committed results/runs/
# (the timing pages are written by the benchmarks: table3.md and throughput_cpu.md's (f) and (g) by make bench, its
# (a)-(e) by scripts/bench_throughput.py)
# (a fresh clone has only the latter); every target that makes records ends with it, so nothing committed goes stale.
results: $(STAMP)
	$(PY) -m ftn.results --all
	$(PY) -m ftn.figures

# Local run folders and Hydra's own output folders; never results/ (the committed records and tables).
clean-runs:
	rm -rf runs outputs multirun

# GPU kit (docs/scaling.md, "GPU kit"): wheels for the GPU image in .whl/, the data in .gpu_data/; then the whole
# scripts/gpu_run.sh rehearsed here on the CPU with tiny sizes (wheels for this Python in a temp target).
gpu-kit:
	scripts/gpu_kit.sh

gpu-rehearsal: $(STAMP)
	scripts/gpu_kit.sh rehearse $(VENV)
