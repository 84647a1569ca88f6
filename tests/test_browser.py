"""The timeline page in a real browser: headless Chromium (Debian's ``chromium``)
driven by Playwright.

The page is loaded from ``git runr serve`` and, as ``git runr audit --html`` writes
it, from a file; in both the rows, their classes and colours, the summary bar, the
links to runs, interventions and evidence, and the plans are checked as a person
would see them, and no request leaves the page's own origin.

``GITRUNR_SCREENSHOT=docs/timeline.png`` saves the served page's screenshot there
(that is how ``docs/timeline.png`` is made).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_api import TIMELINE, Built, copy_built, serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary here: `apt-get install chromium` "
                             "(.ci/run installs it, so CI always runs this test)")

#: The CSS colours of the classes (gitrunr/timeline_html.py), as a browser computes them.
COLOURS = {"RUNR": "rgb(26, 127, 55)", "MANUAL": "rgb(9, 105, 218)",
           "UNVERIFIED": "rgb(130, 80, 223)", "GAP": "rgb(207, 34, 46)"}


@pytest.fixture
def built(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The repository of tests/test_api.py: one commit of each class, a run, plans."""
    return copy_built(tmp_path, tmp_path_factory)


@pytest.fixture
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Chromium keeps a profile, crash reports and a cache under $HOME and the XDG
    # directories: give it its own, so the test's $HOME stays empty.
    home = tmp_path_factory.mktemp("chromium-home")
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache")}
    with sync_playwright() as playwright:
        # Debian's chromium, never a downloaded one (`playwright install` is not used).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              env=env)
        try:
            yield chromium
        finally:
            chromium.close()


def check_timeline(page: Any) -> None:
    """The rows, classes, colours and summary bar of the fixture's timeline."""
    rows = page.locator("table.timeline tr.commit")
    assert rows.count() == len(TIMELINE)
    assert rows.evaluate_all("rows => rows.map(r => r.className)") == \
        [f"commit {cls.lower()}" for _, cls in TIMELINE]
    assert page.locator("tr.commit .badge").all_inner_texts() == [c for _, c in TIMELINE]
    assert page.locator("tr.commit .subject").all_inner_texts() == [s for s, _ in TIMELINE]
    for cls, colour in COLOURS.items():
        badge = page.locator(f"tr.{cls.lower()} .badge").first
        assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == colour, cls
        assert badge.is_visible()
    bar = page.locator(".summary .bar span").evaluate_all(
        "spans => spans.map(s => [s.className, getComputedStyle(s).flexGrow])")
    assert bar == [["runr", "2"], ["manual", "1"], ["unverified", "1"], ["gap", "2"]]
    legend = page.locator("ul.legend li.count").evaluate_all(
        "items => items.map(i => [i.dataset.class, i.dataset.count])")
    assert legend == [["RUNR", "2"], ["MANUAL", "1"], ["UNVERIFIED", "1"], ["GAP", "2"]]
    assert "50% with verified provenance" in page.locator("ul.legend").inner_text()
    unverified = page.locator("tr.unverified td.provenance").inner_text()
    assert "run-0000made0up" in unverified and "does not know" in unverified


def check_links(page: Any, built: Built) -> None:
    """Each commit row leads to its run, its intervention and its evidence."""
    page.locator("tr.runr a.run-link").first.click()
    assert page.url.endswith(f"#{built.run_id}")
    section = page.locator(f"section.run[id='{built.run_id}']")
    assert section.evaluate("e => e.matches(':target')")
    assert section.get_attribute("data-state") == "finalized/passed"
    assert "accepted" in section.locator("h3").inner_text()

    page.locator("tr.manual a.intervention-link").click()
    intervention = page.locator(f"li[id='{built.intervention_id}']")
    assert intervention.evaluate("e => e.matches(':target')")
    text = intervention.inner_text()
    assert "Fixed the type error by hand" in text and "✓ true" in text

    page.locator("tr.runr a.evidence-link").first.click()
    evidence = page.locator(f"[id='evidence-{built.run_id}']")
    assert evidence.evaluate("e => e.matches(':target')")
    text = evidence.inner_text()
    assert "junit.xml" in text and "verifying/passed" in text and "3 passed" in text
    assert "implement" in text and "verify" in text  # the steps, first reached

    plans = {p.get_attribute("data-plan"): p for p in page.locator("section.plan").all()
             if p.get_attribute("data-plan")}
    polish = plans["feature-01/phase-01.10/01"]
    assert polish.locator("tr.run-row").count() == 1
    assert "finalized/passed" in polish.inner_text() and "done" in polish.inner_text()
    assert "finalized/aborted" in plans["feature-02/phase-02.1/03"].inner_text()
    assert "No runs yet" in plans["feature-01/phase-01.2/03"].inner_text()
    assert "Lane" in polish.locator(".lane").inner_text()


def test_served_page_in_chromium(built: Built, browser: Any, tmp_path: Path) -> None:
    with serving(built.repo.path) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{url}/")
        check_timeline(page)
        shot = Path(os.environ.get("GITRUNR_SCREENSHOT") or tmp_path / "timeline.png")
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        check_links(page, built)

        # The evidence is served: the artifact's link gives its bytes back.
        link = page.locator("li.artifact a").first.get_attribute("href")
        assert link == f"/runs/{built.run_id}/artifacts/junit.xml"
        assert page.request.get(url + link).body() == b"<testsuite tests='3' failures='0'/>\n"

        # Another range, through the page's form.
        page.goto(f"{url}/")
        page.fill("input#range", "HEAD~2..HEAD")
        with page.expect_navigation():
            page.click("form.range button")
        assert page.locator("tr.commit").evaluate_all(
            "rows => rows.map(r => r.dataset.class)") == ["GAP", "UNVERIFIED"]
        assert page.locator("h1 code").inner_text() == "HEAD~2..HEAD"

        page.goto(f"{url}/?range=nope..HEAD")
        assert "does not resolve" in page.locator("#problem").inner_text()
    assert requests and all(r.startswith(url) for r in requests), requests


def test_audit_html_file_in_chromium(built: Built, browser: Any) -> None:
    out = built.repo.path.parent / "timeline.html"
    built.repo.runr("audit", "--html", str(out))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(out.as_uri())
    check_timeline(page)
    check_links(page, built)
    assert page.locator("form.range").count() == 0  # no server to ask
    assert requests == [out.as_uri()]  # self-contained: the file and nothing else
