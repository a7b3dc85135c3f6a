"""The dashboard at a large host, timed in a real browser (Debian's Chromium, Playwright):
sign-in to the table drawn, then a search and a sort measured in the page (the filter, the sort
and drawing the rows, to the next layout), and the requests the page made. Then a burst: with
the list open, it prints `figure ready 1` and waits for a line on its input, while
bench/benches/dashboard.rs drops 1,000 ended sessions into the server's spool; it times the
first row of the burst to show its backup (no reload), and the longest frame the page took
meanwhile. Prints one `figure NAME VALUE` line per figure; no target is checked here.
"""

import json
import os
import re
import sys
import statistics
import time

from playwright.sync_api import sync_playwright

URL = os.environ["BW_URL"]
PASSWORD = os.environ["BW_ADMIN_PASSWORD"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
RUNS = int(os.environ.get("RUNS", "5"))

# Runs in the page: every frame's distance from the one before, kept as the longest and the
# count over 200 ms, from now on.
WATCH_FRAMES = """
() => {
  const f = { max: 0, long: 0, last: performance.now() };
  window.benchFrames = f;
  const tick = (t) => {
    const gap = t - f.last;
    if (gap > f.max) f.max = gap;
    if (gap > 200) f.long += 1;
    f.last = t;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
"""

# Runs in the page: one change of a control, timed through the page's own handler to the
# layout that follows.
TIMED_CHANGE = """
([id, value, event]) => {
  const control = document.getElementById(id);
  const t = performance.now();
  control.value = value;
  control.dispatchEvent(new Event(event));
  document.body.offsetHeight;
  return performance.now() - t;
}
"""


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        signins, searches, sorts = [], [], []
        api_calls = []
        for run in range(RUNS):
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            page = context.new_page()
            calls = []
            page.on("request", lambda r: calls.append(r.url) if "/api/" in r.url else None)
            page.goto(URL + "/")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            t = time.perf_counter()
            page.get_by_role("button", name="Sign in").click()
            # (wait_for_function would evaluate a string, which the page's CSP refuses.)
            page.locator("#repo-rows tr").nth(99).wait_for(state="attached", timeout=30000)
            signins.append((time.perf_counter() - t) * 1000)
            api_calls = calls
            for query in ["host-9", "seeded", "host-12345", ""]:
                searches.append(page.evaluate(TIMED_CHANGE, ["repo-search", query, "input"]))
            for order in ["used", "last", "status", "alias"]:
                sorts.append(page.evaluate(TIMED_CHANGE, ["repo-sort", order, "change"]))
            summary = page.locator("#repo-summary").text_content()
            context.close()
        burst_row_ms, frames = burst(browser)
        browser.close()
    print(f"figure summary {json.dumps(summary)}")
    print(f"figure signin_median_ms {statistics.median(signins):.0f}")
    print(f"figure signin_max_ms {max(signins):.0f}")
    print(f"figure search_median_ms {statistics.median(searches):.1f}")
    print(f"figure search_max_ms {max(searches):.1f}")
    print(f"figure sort_median_ms {statistics.median(sorts):.1f}")
    print(f"figure sort_max_ms {max(sorts):.1f}")
    print(f"figure api_requests {len(api_calls)}")
    print(f"figure burst_row_ms {burst_row_ms:.0f}")
    print(f"figure burst_max_frame_ms {frames['max']:.0f}")
    print(f"figure burst_long_frames {frames['long']}")
    print(f"figure api_paths {json.dumps(sorted(set(u.split('?')[0].replace(URL, '') for u in api_calls)))}")


def burst(browser):
    """The list open at its first page; 1,000 sessions end at once (the bench drops them when
    told `ready`): how long until the first row shows its backup, and the page's frames."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(URL + "/")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#repo-rows tr").nth(99).wait_for(state="attached", timeout=30000)
    row = page.locator("#repo-rows tr", has=page.locator("a.alias", has_text=re.compile("^host-0$")))
    row.locator("td.last").filter(has_text="no backup yet").wait_for(timeout=30000)
    page.evaluate(WATCH_FRAMES)
    print("figure ready 1", flush=True)
    sys.stdin.readline()
    t = time.perf_counter()
    row.locator("td.last").filter(has_text="last backup").wait_for(timeout=60000)
    took = (time.perf_counter() - t) * 1000
    # The rest of the burst's redraws, and the ticking times, after the first row.
    page.wait_for_timeout(3000)
    frames = page.evaluate("() => window.benchFrames")
    context.close()
    return took, frames


if __name__ == "__main__":
    main()
