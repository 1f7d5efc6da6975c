"""The sample page in a real browser: headless Chromium opens a page built by the real
generator from synthetic tables, applies filters and sorts through its controls and
checks which rows it shows (tests/browser.py drives Chromium; CI installs it)."""

from __future__ import annotations

import json
import time

import pytest
from browser import Browser, chromium_path
from sample_page_setup import HOSTILE, TABLE, build_page, demo_plan, expected

SENTENCES = 60  # per subset: 120 rows, 5 pages of 25


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    session = Browser(chromium_path(), tmp_path_factory.mktemp("chromium-profile"))
    yield session
    session.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory, repo_root):
    root = tmp_path_factory.mktemp("samples")
    plan = demo_plan(repo_root, root / "results")
    path, payload = build_page(plan, SENTENCES)
    return path, payload


def shown(browser) -> list[str]:
    """The ids of the sentences the page lists (every page of them), and checks
    that the rendered page holds the first of them, in order."""
    ids = browser.evaluate("window.samplePage.shown")
    rendered = browser.evaluate(
        "[...document.querySelectorAll('article.sample')].map(a => a.dataset.id)"
    )
    assert rendered == ids[:25]
    return ids


def ids_where(condition, subsets=("en-pt", "pt-en")) -> list[str]:
    return [
        f"{subset}-{i:04d}"
        for subset in subsets
        for i in range(SENTENCES)
        if condition(i)
    ]


def system_index(payload, name: str) -> str:
    return str([s["name"] for s in payload["systems"]].index(name))


def test_filters_show_the_matching_sentences(browser, page, tmp_path):
    path, payload = page
    browser.open(path.as_uri())
    assert len(payload["systems"]) == 7
    assert shown(browser) == ids_where(lambda i: True)
    assert browser.evaluate("document.querySelector('.pager .count').textContent") == (
        "1–25 of 120 sentences, page 1 of 5"
    )
    # Wrong language of the foundation model.
    browser.choose("#f-focus", system_index(payload, "base"))
    browser.choose("#f-wrong", "yes")
    wrong = ids_where(lambda i: expected("base", i)["wrong"])
    assert shown(browser) == wrong
    assert "wrong=yes" in browser.evaluate("location.hash")
    # Every listed row's foundation-model answer is flagged in the table.
    flags = browser.evaluate(
        "[...document.querySelectorAll('tr[data-system=base] td.flag')]"
        ".map(td => td.firstChild.textContent)"
    )
    assert flags and set(flags) == {"yes"}
    browser.screenshot(tmp_path / "wrong-language.png")
    # One subset, and the pseudo prior's empty answers.
    browser.choose("#f-wrong", "any")
    browser.choose("#f-subset", "1")
    browser.choose("#f-focus", system_index(payload, "prior-pseudo-k1"))
    browser.choose("#f-empty", "yes")
    assert shown(browser) == ids_where(lambda i: i % 5 == 0, subsets=("pt-en",))
    # Hiding a system hides its rows, not the sentences.
    browser.evaluate("document.querySelector('#f-sys-0').click()")
    systems = browser.evaluate(
        "[...document.querySelectorAll('article.sample:first-of-type tbody tr')]"
        ".map(tr => tr.dataset.system)"
    )
    assert payload["systems"][0]["name"] not in systems and len(systems) == 6
    # The filters live in the address: opening it again shows the same rows.
    url = path.as_uri() + browser.evaluate("location.hash")
    browser.open(url)
    assert shown(browser) == ids_where(lambda i: i % 5 == 0, subsets=("pt-en",))
    browser.evaluate("document.querySelector('#f-reset').click()")
    assert len(shown(browser)) == 2 * SENTENCES
    # An address made by hand (or for another page) falls back to the defaults.
    browser.open(path.as_uri() + "#focus=99&subset=x&delta=up&metric=7&hidden=1,42")
    assert len(shown(browser)) == 2 * SENTENCES
    assert (
        browser.evaluate("document.querySelectorAll('#f-systems input:checked').length")
        == 6
    )


def test_gain_against_the_foundation_model_filters_and_sorts(browser, page):
    path, payload = page
    browser.open(path.as_uri())
    refined = system_index(payload, "prior-refined-k2")
    browser.choose("#f-focus", refined)
    browser.choose("#f-metric", "0")  # BLEU: spBLEU is not computed, so not shown
    assert browser.evaluate(
        "document.querySelector('#f-metric option').textContent"
    ) == ("BLEU")
    browser.choose("#f-delta", "loss")
    assert shown(browser) == ids_where(lambda i: i % 2 == 1)
    browser.choose("#f-delta", "any")
    # Sorted by the refined prior's gain, largest first: the gains, then the losses.
    browser.choose("#f-sort", "gain")
    browser.choose("#f-dir", "desc")
    order = shown(browser)
    gains = [int(sample_id[-4:]) % 2 == 0 for sample_id in order]
    assert gains == sorted(gains, reverse=True) and gains.count(True) == SENTENCES
    # Sorted by its score, ascending.
    browser.choose("#f-sort", "score")
    browser.choose("#f-dir", "asc")
    scores = [
        expected("prior-refined-k2", int(sample_id[-4:]))["bleu"]
        for sample_id in shown(browser)
    ]
    assert scores == sorted(scores)
    # A lower-is-better metric: a gain is a lower rate.
    browser.choose("#f-sort", "data")
    wrong = str(payload["wrong"])
    browser.choose("#f-metric", wrong)
    browser.choose("#f-focus", system_index(payload, "prior-pseudo-k1"))
    browser.choose("#f-delta", "gain")
    # The pseudo prior is right where the foundation model is wrong, and not wrong
    # itself (empty answers count as wrong language).
    assert shown(browser) == ids_where(
        lambda i: (
            expected("base", i)["wrong"] and not expected("prior-pseudo-k1", i)["wrong"]
        )
    )


def test_model_output_is_text_and_nothing_is_fetched(browser, page):
    path, payload = page
    browser.open(path.as_uri())
    # The hostile answers are shown as text: no script ran, no element was made.
    assert browser.evaluate("window.pwned === undefined")
    assert browser.evaluate("document.querySelectorAll('#rows b').length") == 0
    assert HOSTILE in browser.evaluate("document.querySelector('#rows').innerText")
    # The prior is highlighted in the answer, with where it came from.
    origin = browser.evaluate(
        "document.querySelector('tr[data-system=\"prior-pseudo-k1\"]:not(.empty) .origin')"
        ".innerText"
    )
    assert (
        "dictionary entry Brazilian → brasileiro (MUSE, Wiktionary; rank 181)" in origin
    )
    marks = browser.evaluate(
        "[...document.querySelectorAll('tr[data-system=\"prior-sft-k2\"] .answer mark')]"
        ".map(m => m.textContent)"
    )
    assert marks and set(marks) == {"O planeta"}
    sft_origin = browser.evaluate(
        "document.querySelector('tr[data-system=\"prior-sft-k2\"] .origin').innerText"
    )
    assert "the SFT reference's answer (gemma3-270m-alpaca)" in sft_origin
    # Nothing but the page itself was requested.
    assert browser.requested_urls() == [path.as_uri()]


def test_a_full_flores_table_opens_fast(browser, tmp_path, repo_root):
    """1,012 sentences x 7 systems x 2 directions: load, parse, render page 1."""
    plan = demo_plan(repo_root, tmp_path / "results")
    path, payload = build_page(plan, 1012, TABLE)
    assert len(payload["rows"]) == 2024
    started = time.perf_counter()
    browser.open(path.as_uri())
    wall = time.perf_counter() - started
    timing = json.loads(
        browser.evaluate(
            "JSON.stringify({load: performance.timing.loadEventEnd -"
            " performance.timing.navigationStart, render: window.samplePage.renderMs})"
        )
    )
    print(
        f"\nsample page 2024 rows x 7 systems, {path.stat().st_size / 1e6:.1f} MB: "
        f"load event {timing['load']} ms, script {timing['render']:.0f} ms, "
        f"navigate to load {wall * 1000:.0f} ms"
    )
    assert len(shown(browser)) == 2024
    # Generous for a shared 2-core CI machine; the report gives the measured times.
    assert wall < 10 and timing["render"] < 5000
    started = time.perf_counter()
    browser.choose("#f-wrong", "yes")
    filtered = (time.perf_counter() - started) * 1000
    print(f"filter (wrong language, any system) {filtered:.0f} ms")
    assert filtered < 3000


def test_a_cell_not_configured_reads_na(browser, tmp_path, repo_root):
    plan = demo_plan(repo_root, tmp_path / "results", pseudo_on={"flores": ["en-pt"]})
    path, payload = build_page(plan, 3)
    browser.open(path.as_uri())
    assert len(shown(browser)) == 6  # the page renders every row
    pseudo = system_index(payload, "prior-pseudo-k1")
    cells = browser.evaluate(
        "[...document.querySelectorAll('article.sample')].map(a => a.dataset.subset"
        " + ':' + a.querySelector('tr[data-system=prior-pseudo-k1] .answer-cell')"
        ".textContent.slice(0, 35))"
    )
    assert [cell.split(":")[0] for cell in cells] == ["en-pt"] * 3 + ["pt-en"] * 3
    assert all("not configured" not in cell for cell in cells[:3])
    assert all(
        cell.endswith("n/a: not configured on this subset") for cell in cells[3:]
    )
    # Filters on that system count only the rows where it answered.
    browser.choose("#f-focus", pseudo)
    browser.choose("#f-wrong", "yes")
    assert shown(browser) == [
        f"en-pt-{i:04d}" for i in range(3) if expected("prior-pseudo-k1", i)["wrong"]
    ]
