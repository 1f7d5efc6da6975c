"""The plan: per-job settings are canonical, so key order in config.yaml changes nothing."""

from __future__ import annotations

import copy

import yaml

from prettyflow.workflow import PRIORITY_PRIOR, PRIORITY_UPSTREAM, Plan, canonical


def test_canonical_sorts_nested_keys():
    assert list(canonical({"b": 1, "a": {"d": 2, "c": [{"f": 1, "e": 2}]}})) == [
        "a",
        "b",
    ]
    assert canonical({"b": 1, "a": {"d": 2, "c": [{"f": 1, "e": 2}]}}) == {
        "a": {"c": [{"e": 2, "f": 1}], "d": 2},
        "b": 1,
    }


def test_reordered_refined_options_give_identical_params(repo_root):
    config = yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))
    reordered = copy.deepcopy(config)
    options = {"b_option": 1, "a_option": 2}
    config["tasks"]["translation"]["priors"]["refined"]["options"] = options
    reordered["tasks"]["translation"]["priors"]["refined"]["options"] = dict(
        reversed(list(options.items()))
    )
    first = Plan(config).refined_settings("translation", "en-pt")
    second = Plan(reordered).refined_settings("translation", "en-pt")
    assert repr(first) == repr(second)


def test_systems_follow_the_paper_order(repo_root):
    plan = Plan(yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8")))
    names = [system.name for system in plan.systems("translation", "gemma3-270m")]
    assert names == [
        "sft-smollm2-135m-instruct",
        "prompting",
        "base",
        "prior-sft-k2",
        "prior-pseudo-k1",
        "prior-refined-k2",
    ]
    assert [s.name for s in plan.systems("pos", "gemma3-270m")][
        -1
    ] == "prior-refined-k1"


def test_sft_reference_decodes_are_scheduled_before_other_decodes(repo_root):
    config = yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))
    config["models"]["other-sft"] = dict(config["models"]["smollm2-135m-instruct"])
    config["families"]["gemma3-270m"]["sft"].append("other-sft")
    plan = Plan(config)
    priorities = {
        system.name: plan.decode_priority("gemma3-270m", system.name)
        for system in plan.systems("translation", "gemma3-270m")
    }
    # Only the reference feeds the SFT priors; the other SFT model waits like the rest.
    assert priorities.pop("sft-smollm2-135m-instruct") == PRIORITY_UPSTREAM
    assert set(priorities.values()) == {0}
    assert PRIORITY_UPSTREAM > PRIORITY_PRIOR > 0
