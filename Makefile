# The two commands of the README:
#   make demo   set up what is missing, then run the mini emotion recipe end to end
#   make test   set up what is missing, then run the whole test suite (the recipe tests at their test size)
# and `make test-recipes` (the recipe tests at the recipes' demo size, with the reference floors; slow)
# and `make lint` (ruff).

VENV := tools/venv
PY := $(VENV)/bin/python
DEMO_RECIPE := egs/mini_podcast/emo1

.PHONY: setup demo test test-podcast-recipe test-rest test-recipes lint clean-demo
setup:
	$(MAKE) -C tools

demo: setup
	cd $(DEMO_RECIPE) && ./run.sh   # it ends with a summary table and the path of RESULTS.md

# make test runs the suite in two halves side by side, one per core (the recipe stages run
# one thread each): the mini podcast recipe test (the longest module) with the toxicity
# recipe's pretrained Whisper-base check, and everything else (unit tests and the toxicity
# and MuTox recipes' tiny runs). Measured 2026-12-02 06:27 on the quiet machine: 8 min 10 s wall; the
# halves 7 min 16 s (podcast run 195 s, pretrained check 216 s) and 8 min 6 s (toxicity tiny run 221 s).
# -O prints each half's output when it ends.
PYTEST := $(PY) -m pytest -q -p no:cacheprovider --durations=10
PODCAST_TEST := tests/recipes/test_mini_podcast_recipe.py
TOX_PRETRAINED_TEST := tests/recipes/test_mini_toxicity_recipe.py::test_pretrained_baseline_learns_the_words

test: setup
	$(MAKE) --no-print-directory -j2 -O test-podcast-recipe test-rest

test-podcast-recipe:
	$(PYTEST) $(PODCAST_TEST) $(TOX_PRETRAINED_TEST)

test-rest:
	$(PYTEST) --ignore=$(PODCAST_TEST) --deselect $(TOX_PRETRAINED_TEST) tests

test-recipes: setup
	$(PYTEST) --recipe-size full tests/recipes

lint: setup
	$(VENV)/bin/ruff check .

clean-demo:
	rm -rf $(DEMO_RECIPE)/data $(DEMO_RECIPE)/exp $(DEMO_RECIPE)/downloads $(DEMO_RECIPE)/RESULTS.md
