"""The HTML leaderboard: escaping of record strings, and the page in a real (headless) Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib import pyplot as plt

from freqbench.leaderboard import all_views
from freqbench.leaderboard.html import render_html
from freqbench.records import Record
from tests.test_leaderboard import TRAINING, hand_wilson, make_record

EVIL_NAME = "<script>alert(1)</script>"
EVIL_VENUE = '<img src=x onerror="alert(2)">'
SCREENSHOT_COPY = Path("/tmp/freqbench-leaderboard.png")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
)


def _records(folder: Path) -> list[Record]:
    """Five models with heat map and filter images beside their records, one with hostile
    strings and one evaluated with a non-standard protocol."""
    folder.mkdir(parents=True, exist_ok=True)
    specs = [
        ("smallcnn-natural", dict(clean=0.91, autoattack=0.00, tail_share=0.41)),
        ("smallcnn-trades", dict(recipe="trades", clean=0.81, autoattack=0.71, tail_share=0.20)),
        ("smallcnn-trades-bass", dict(recipe="trades+bass", bass_mode="augment", clean=0.80, autoattack=0.72, tail_share=0.15)),
        (EVIL_NAME, dict(clean=0.95, autoattack=0.30, tail_share=0.33, venue=EVIL_VENUE)),
        ("smallcnn-quick", dict(recipe="pgd-at", clean=0.34, autoattack=0.90, autoattack_n_examples=200)),
    ]  # fmt: skip
    records = []
    rng = np.random.default_rng(0)
    for i, (name, options) in enumerate(specs):
        stem = f"model{i}"
        artifacts = {"heatmap_png": f"{stem}.heatmap.png", "filters_png": f"{stem}.filters.png"}
        plt.imsave(folder / artifacts["heatmap_png"], rng.random((28, 28)), cmap="viridis")
        plt.imsave(folder / artifacts["filters_png"], rng.random((12, 12)), cmap="gray")
        record = make_record(name, artifacts=artifacts, **options)
        record["model"]["training"] = {**TRAINING, "recipe": record["model"]["recipe"]}
        records.append(Record(record, folder / f"{stem}.json"))
    return records


def _page(folder: Path) -> Path:
    records = _records(folder)
    page = folder / "index.html"
    page.write_text(render_html("fashion-mnist", all_views(records, "fashion-mnist"), folder))
    return page


def test_record_strings_are_escaped(tmp_path):
    html = _page(tmp_path).read_text()
    assert EVIL_NAME not in html and EVIL_VENUE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
    assert html.count("<script") == 1  # the page's own sorting script, inlined
    assert 'src="model0.heatmap.png"' in html  # images linked relative to the page
    assert "http://" not in html and "https://" not in html  # nothing fetched from the network


@pytest.fixture
def browser(tmp_path):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (CI installs them)")
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1500,1300",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=options)
    yield driver
    driver.quit()


def _column(driver, table_id: str, title: str) -> list[str]:
    from selenium.webdriver.common.by import By

    table = driver.find_element(By.ID, table_id)
    headers = [th.text.rstrip(" ↕▲▼") for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    index = headers.index(title) + 1
    return [td.text for td in table.find_elements(By.CSS_SELECTOR, f"tbody td:nth-child({index})")]


def _click_header(driver, table_id: str, title: str) -> None:
    from selenium.webdriver.common.by import By

    for button in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th button"):
        if button.text == title:
            button.click()
            return
    raise AssertionError(f"no header {title} in {table_id}")


@pytest.mark.slow
def test_page_in_chromium_sorts_and_loads_images(tmp_path, browser):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    page = _page(tmp_path / "leaderboards" / "fashion-mnist")
    browser.get(page.as_uri())
    assert browser.title == "freqbench leaderboard: fashion-mnist"
    main = "view-linf-main"
    ranked = ["smallcnn-trades-bass", "smallcnn-trades", EVIL_NAME, "smallcnn-natural"]
    assert _column(browser, main, "Model") == ranked  # the evil name shown as text, not run
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018 (the property access is the check)

    assert _column(browser, main, "Group") == ["1", "1", "2", "3"]
    low, high = hand_wilson(0.80, 10_000)
    assert _column(browser, main, "Clean")[0] == f"80.00 ±{100 * max(0.8 - low, high - 0.8):.2f}"

    def clean():
        return [text.split(" ±")[0] for text in _column(browser, main, "Clean")]

    _click_header(browser, main, "Clean")
    assert clean() == ["95.00", "91.00", "81.00", "80.00"]
    _click_header(browser, main, "Clean")
    assert clean() == ["80.00", "81.00", "91.00", "95.00"]
    _click_header(browser, main, "Model")
    assert _column(browser, main, "Model") == sorted(ranked, key=str.lower)
    _click_header(browser, main, "Group")
    assert _column(browser, main, "Group") == ["1", "1", "2", "3"]
    _click_header(browser, main, "Rank")
    assert _column(browser, main, "Rank") == ["1", "2", "3", "4"]
    assert _column(browser, "view-linf-bass", "With BaSS") == ["smallcnn-trades-bass"]

    cell = browser.find_element(By.CSS_SELECTOR, f"#{main} tbody td.col-autoattack")
    low, high = hand_wilson(0.72, 1000)
    assert cell.get_attribute("title") == (
        f"95% interval {100 * low:.2f} to {100 * high:.2f} (Wilson, n = 1000 images)"
    )

    off = "view-linf-unranked"
    assert _column(browser, off, "Model") == ["smallcnn-quick"]  # not ranked above the others
    deviation = browser.find_element(By.CSS_SELECTOR, f"#{off} td.col-why")
    assert deviation.text == "autoattack_n_examples 200 (standard >= 1000)"
    right = browser.execute_script("return arguments[0].getBoundingClientRect().right", deviation)
    assert right <= browser.execute_script("return document.documentElement.clientWidth")

    images = browser.find_elements(By.CSS_SELECTOR, ".card img")
    assert len(images) == 10
    assert all(
        browser.execute_script("return arguments[0].naturalWidth", img) > 0 for img in images
    )
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []

    _click_header(browser, main, "AutoAttack")  # leave the table ranked for the screenshot
    shot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    shutil.copyfile(shot, SCREENSHOT_COPY)
