"""The dashboard in a real browser (Debian's Chromium, driven by Playwright), as a person uses it:
sign in by keyboard, add a repository, back up into it with the real borg client using the
command the page shows, "check now", edit its quota, make and revoke a token, delete it; and the
care a page for people needs: phone width, dark mode, labels, errors from the API, progress, no
resource from elsewhere, no console error, no script from an alias.

Run by tests/e2e/dashboard.rs, which starts our server, sshd and gives the settings in the
environment. Exits non-zero, saying why, at the first thing that is not as it should be.
"""

import base64
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request

from playwright.sync_api import expect, sync_playwright

URL = os.environ["BW_URL"]
ADMIN_USER = os.environ["BW_ADMIN_USER"]
ADMIN_PASSWORD = os.environ["BW_ADMIN_PASSWORD"]
CLIENT_KEY = os.environ["CLIENT_KEY"]
CLIENT_PUB = open(os.environ["CLIENT_PUB"]).read().strip()
OTHER_PUB = open(os.environ["OTHER_PUB"]).read().strip()
SSH_USER = os.environ["SSH_USER"]
SSH_PORT = os.environ["SSH_PORT"]
ARTIFACTS = os.environ["ARTIFACTS"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ADMIN_AUTH = "Basic " + base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
XSS = "<img src=x onerror=alert(1)>"


def api(method, path, auth=ADMIN_AUTH, body=None):
    """The API directly, to compare what the page shows with what the API says."""
    req = urllib.request.Request(URL + path, method=method, headers={"Authorization": auth})
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read() or b"null"), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), e.headers


def human_bytes(n):
    """The page's own formatting of a byte count (app.js `bytes`)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{round(n) if n >= 100 or i == 0 else f'{n:.1f}'} {units[i]}"


def borg(command):
    env = dict(os.environ)
    env.update({
        "BORG_RSH": f"ssh -i {CLIENT_KEY} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                    "-o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR",
        "BORG_PASSPHRASE": "dashboard e2e passphrase",
    })
    out = subprocess.run(shlex.split(command), env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"{command}: {out.stderr}"


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    problems = []  # console errors and page errors not caused on purpose
    expected_failures = []  # the statuses a step provokes on purpose (401, 409)
    requests = []
    dialogs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=URL)
        page = context.new_page()

        def on_console(msg):
            if msg.type != "error":
                return
            text = msg.text
            for status in list(expected_failures):
                if f"status of {status}" in text:
                    expected_failures.remove(status)
                    return
            problems.append(text)

        page.on("console", on_console)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("request", lambda r: requests.append(r.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        # The page and its headers.
        response = page.goto(URL + "/")
        headers = response.headers
        check("default-src 'self'" in headers.get("content-security-policy", ""), f"CSP: {headers}")
        check("'unsafe-inline'" not in headers.get("content-security-policy", ""), "inline script allowed")
        check(headers.get("x-frame-options") == "DENY", "X-Frame-Options")
        check(headers.get("referrer-policy") == "no-referrer", "Referrer-Policy")
        # No Basic challenge from the API: the browser never shows its own prompt.
        status, _, api_headers = api("GET", "/api/v1/repositories", auth="Basic " + base64.b64encode(b"x:y").decode())
        check(status == 401 and "www-authenticate" not in {k.lower() for k in api_headers.keys()}, "WWW-Authenticate sent")
        check("access-control-allow-origin" not in {k.lower() for k in api_headers.keys()}, "CORS opened")

        # 1. Sign in, by keyboard: a wrong password first, whose error is the API's.
        signin = page.get_by_role("region", name="Sign in")
        for label in ["Administrator", "API token", "Name", "Password", "Token"]:
            expect(signin.get_by_label(label, exact=True)).to_have_count(1)
        signin.get_by_label("Password", exact=True).fill("not the password")
        expected_failures.append(401)
        signin.get_by_label("Password", exact=True).press("Enter")
        expect(page.get_by_role("alert")).to_have_text("Unauthorized")
        page.goto(URL + "/")
        focused = []
        for _ in range(12):
            page.keyboard.press("Tab")
            focused.append(page.evaluate("document.activeElement.id"))
        check("signin-password" in focused and "signin-submit" in focused, f"Tab order: {focused}")
        signin.get_by_label("Password", exact=True).focus()
        page.keyboard.type(ADMIN_PASSWORD)
        page.keyboard.press("Tab")
        check(page.evaluate("document.activeElement.id") == "signin-submit", "Tab from the password reaches Sign in")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Repositories")).to_be_visible()

        # 2. Add a repository (alert 1 day), see the command to run and the row.
        page.get_by_role("button", name="Add a repository").click()
        add = page.get_by_role("region", name="Add a repository")
        for label in ["Alias", "SSH public key", "Quota (GB)", "Alert when no backup for", "Append-only", "Comment"]:
            expect(add.get_by_label(label, exact=True)).to_be_visible()
        add.get_by_label("Alias", exact=True).fill("laptop")
        add.get_by_label("SSH public key").fill(CLIENT_PUB + "\n")
        add.get_by_label("Quota (GB)").fill("1")
        add.get_by_label("Alert when no backup for").select_option("90000")
        add.get_by_role("button", name="Add repository").click()
        expect(page.locator("#add-result")).to_be_visible()
        name = page.locator("#add-result-name").text_content()
        command = page.locator("#add-result-command").text_content()
        url = f"ssh://{SSH_USER}@127.0.0.1:{SSH_PORT}/./{name}"
        check(command == f"borg init --encryption=repokey-blake2 {url}", f"the command shown: {command}")
        page.get_by_role("button", name="Copy the command").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        check(page.evaluate("navigator.clipboard.readText()") == command, "the copied command")
        # The same key again: the API's 409 message, shown as it is.
        add.get_by_label("Alias", exact=True).fill("again")
        add.get_by_label("SSH public key").fill(CLIENT_PUB)
        expected_failures.append(409)
        add.get_by_role("button", name="Add repository").click()
        expect(page.get_by_role("alert")).to_have_text("The SSH key is already used in another repository.")
        page.get_by_role("button", name="Repositories").click()
        row = page.locator(f'tr[data-name="{name}"]')
        expect(row).to_contain_text("laptop")
        expect(row).to_contain_text("no backup yet")

        # 3. A real backup with the command the page gave, then "check now": the light turns
        # green and the used figure is the API's storageUsed. Progress shows while it runs.
        borg(command)
        source = os.path.join(ARTIFACTS, "backed-up.bin")
        with open(source, "wb") as f:
            f.write(os.urandom(3 * 1024 * 1024))
        borg(f"borg create {url}::first {source}")
        held = []
        page.route("**/api/v1/repositories/refresh", lambda route: held.append(route))
        page.get_by_role("button", name="Check now").click()
        expect(page.locator("#progress")).to_be_visible()
        expect(page.locator("#progress")).to_have_text("Working…")
        while not held:
            page.wait_for_timeout(50)
        held[0].continue_()
        expect(page.get_by_role("status").filter(has_text="Repositories refreshed")).to_be_visible()
        page.unroute("**/api/v1/repositories/refresh")
        expect(page.locator("#progress")).to_be_hidden()
        _, one, _ = api("GET", f"/api/v1/repositories/{name}")
        used_kib = one["repo"]["storageUsed"]
        check(one["repo"]["status"] is True and used_kib > 3000, f"the API after the backup: {one}")
        expect(row.locator(".light")).to_have_text("OK")
        expect(row.locator(".light")).to_have_class("light ok")
        expect(row.locator(".used")).to_contain_text(f"{human_bytes(used_kib * 1024)} of 1 GB")
        expect(row.locator(".last")).to_have_text(re.compile(r"^last backup (just now|\d+ min ago)$"))
        page.screenshot(path=os.path.join(ARTIFACTS, "repositories.png"))

        # 4. Edit the quota.
        page.get_by_role("button", name="Edit laptop").click()
        edit = page.get_by_role("region", name="Edit laptop")
        for label in ["Alias", "Quota (GB)", "Alert when no backup for", "Append-only", "Comment"]:
            expect(edit.get_by_label(label, exact=True)).to_be_visible()
        edit.get_by_label("Quota (GB)").fill("2")
        edit.get_by_role("button", name="Save").click()
        expect(row.locator(".used")).to_contain_text("of 2 GB")
        check(api("GET", f"/api/v1/repositories/{name}")[1]["repo"]["storageSize"] == 2, "the quota through the API")

        # Archive (the client is shut out, the data kept) and back.
        page.get_by_role("button", name="Edit laptop").click()
        page.get_by_role("button", name="Archive repository").click()
        expect(row.locator(".light")).to_have_text("archived")
        expect(row.locator(".badge")).to_have_text(["archived"])
        check(api("GET", f"/api/v1/repositories/{name}")[1]["repo"]["archived"] is True, "archived through the API")
        page.get_by_role("button", name="Edit laptop").click()
        page.get_by_role("button", name="Unarchive repository").click()
        expect(row.locator(".light")).to_have_text("OK")

        # 5. A token: made (shown once, copied), used to sign in elsewhere, revoked.
        page.get_by_role("button", name="Tokens").click()
        tokens = page.get_by_role("region", name="API tokens")
        for label in ["Token name", "read", "create", "update", "delete", "Expires after (days, empty: never)"]:
            expect(tokens.get_by_label(label, exact=True)).to_be_visible()
        tokens.get_by_label("Token name").fill("dashboard-ci")
        tokens.get_by_role("button", name="Create token").click()
        value = page.locator("#token-value")
        expect(value).to_have_text(re.compile(r"^bw_[A-Za-z0-9_-]{40,}$"))
        token = value.text_content()
        page.get_by_role("button", name="Copy the token").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        expect(page.locator('tr[data-token="dashboard-ci"]')).to_contain_text("read")
        check(api("GET", "/api/v1/repositories", auth=f"Bearer {token}")[0] == 200, "the new token works")
        other = browser.new_context().new_page()
        other.goto(URL + "/")
        other.get_by_label("API token", exact=True).check()
        other.get_by_label("Token", exact=True).fill(token)
        other.get_by_role("button", name="Sign in").click()
        expect(other.locator(f'tr[data-name="{name}"]')).to_be_visible()
        other.context.close()
        page.get_by_role("button", name="Revoke dashboard-ci").click()
        page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
        expect(page.locator('tr[data-token="dashboard-ci"]')).to_have_count(0)
        check(api("GET", "/api/v1/repositories", auth=f"Bearer {token}")[0] == 403, "the revoked token still works")

        # 6. The server's facts.
        page.get_by_role("button", name="Server").click()
        expect(page.locator("#server-info")).to_contain_text(SSH_USER)
        expect(page.locator("#targets-none")).to_be_visible()

        # 7. An alias that is HTML stays text: no image, no script.
        _, created, _ = api("POST", "/api/v1/repositories",
                            body={"alias": XSS, "sshPublicKey": OTHER_PUB, "storageSize": 1, "comment": XSS})
        page.get_by_role("button", name="Repositories").click()
        hostile = page.locator(f'tr[data-name="{created["repositoryName"]}"]')
        expect(hostile.locator(".alias")).to_have_text(XSS)
        check(page.locator("#repo-rows img").count() == 0, "an alias became an element")
        expect(hostile.locator(".light")).to_have_text("not monitored")

        # 8. Search and the late filter.
        page.get_by_label("Search").fill("lapt")
        expect(page.locator("#repo-rows tr")).to_have_count(1)
        page.get_by_label("Search").fill("")
        page.get_by_label("Late only").check()
        expect(page.locator("#repo-rows tr")).to_have_count(0)
        page.get_by_label("Late only").uncheck()
        expect(page.locator("#repo-rows tr")).to_have_count(2)

        # 9. A phone: no horizontal scrolling, on the table and the form.
        page.set_viewport_size({"width": 375, "height": 740})
        for view in ["Repositories", "Add a repository", "Tokens", "Server"]:
            page.get_by_role("button", name=view).click()
            width = page.evaluate("document.documentElement.scrollWidth")
            check(width <= 375, f"{view} at 375 px is {width} px wide")
        page.get_by_role("button", name="Repositories").click()
        page.screenshot(path=os.path.join(ARTIFACTS, "repositories-phone.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 860})

        # 10. Delete, with its confirmation; cancel first.
        page.get_by_role("button", name="Edit laptop").click()
        page.get_by_role("button", name="Delete repository").click()
        page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
        check(api("GET", f"/api/v1/repositories/{name}")[0] == 200, "cancel deleted it")
        page.get_by_role("button", name="Delete repository").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        expect(row).to_have_count(0)
        check(api("GET", f"/api/v1/repositories/{name}")[0] == 404, "the repository is still there")

        # 11. Where deleting is disabled, the page does not offer it.
        locked_url = os.environ["BW_URL_DELETE_DISABLED"]
        req = urllib.request.Request(locked_url + "/api/v1/repositories", method="POST",
                                     headers={"Authorization": ADMIN_AUTH, "Content-Type": "application/json"},
                                     data=json.dumps({"alias": "kept", "sshPublicKey": CLIENT_PUB, "storageSize": 1}).encode())
        urllib.request.urlopen(req).close()
        locked = browser.new_context().new_page()
        locked.goto(locked_url + "/")
        locked.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
        locked.get_by_role("button", name="Sign in").click()
        expect(locked.locator("#repo-summary")).to_contain_text("511 repositories")
        expect(locked.locator("#repo-summary")).to_contain_text("the first 500 are shown")
        expect(locked.locator("#repo-rows tr")).to_have_count(500)
        locked.get_by_label("Search").fill("kept")
        expect(locked.locator("#repo-rows tr")).to_have_count(1)
        locked.get_by_role("button", name="Edit kept").click()
        expect(locked.get_by_role("button", name="Save")).to_be_visible()
        expect(locked.get_by_role("button", name="Delete repository")).to_be_hidden()
        locked.context.close()

        # 12. Dark mode follows the system.
        dark = browser.new_context(color_scheme="dark").new_page()
        dark.goto(URL + "/")
        background = dark.evaluate("getComputedStyle(document.body).backgroundColor")
        rgb = [int(x) for x in background[background.index("(") + 1:background.index(")")].split(",")[:3]]
        check(sum(rgb) / 3 < 60, f"dark mode background {background}")
        dark.context.close()

        # 13. Swagger UI at /docs, where people type tokens too: it runs under its own CSP (its
        # inline scripts named by hash), and another origin cannot frame it.
        docs_problems = []
        docs = context.new_page()
        # The browser asks for /favicon.ico on its own (the page names no icon): its 404 is the
        # browser's, not the page's.
        docs.on("console", lambda m: docs_problems.append(f"{m.text} ({m.location.get('url')})")
                if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico") else None)
        docs.on("pageerror", lambda e: docs_problems.append(f"page error: {e}"))
        response = docs.goto(URL + "/docs")
        csp = response.headers.get("content-security-policy", "")
        check("frame-ancestors 'none'" in csp and "script-src 'sha256-" in csp, f"/docs CSP: {csp}")
        check("script-src 'unsafe-inline'" not in csp, "/docs allows any inline script")
        check(response.headers.get("x-frame-options") == "DENY", "/docs X-Frame-Options")
        expect(docs.locator(".opblock-summary-path").first).to_be_visible()
        check(docs.locator(".opblock-summary-path").count() > 20, "Swagger UI did not list the operations")
        check(not docs_problems, f"/docs console errors (its CSP blocks it?): {docs_problems}")
        docs.close()
        framer = browser.new_context().new_page()
        framer.set_content(f'<iframe src="{URL}/docs" width="800" height="600"></iframe>')
        framer.wait_for_timeout(1500)
        framed = [f for f in framer.frames if f != framer.main_frame]
        check(all(f.query_selector(".swagger-ui") is None for f in framed), "/docs rendered in another origin's frame")
        framer.context.close()

        check(not dialogs, f"a dialog opened (a script ran?): {dialogs}")
        foreign = [u for u in requests if not u.startswith(URL + "/")]
        check(not foreign, f"resources from elsewhere: {foreign}")
        check(not problems, f"console errors: {problems}")
        check(not expected_failures, f"an error provoked on purpose was not shown: {expected_failures}")
        browser.close()
    print("dashboard flows: ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"dashboard flows: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
