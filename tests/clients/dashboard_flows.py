"""The dashboard in a real browser (Debian's Chromium, driven by Playwright), as people use it:
sign in by keyboard, add a repository, back up into it with the real borg client using the
command the page shows, follow it on its page and in the monitoring view, manage its keys, edit
everything, compact it, make and revoke tokens, delete it. Each defect of the dashboard issue
(D1-D8) has its step, marked with its number, and each feature its own. Every view is scanned
for accessibility and photographed at 1280 px and 375 px, light and dark.

Run by tests/e2e/dashboard.rs, which starts our server, sshd and gives the settings in the
environment. Exits non-zero, saying why, at the first thing that is not as it should be.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request

from playwright.sync_api import expect, sync_playwright

from dashboard_checks import FOCUS_CONTRAST, scan, screenshots

URL = os.environ["BW_URL"]
ADMIN_USER = os.environ["BW_ADMIN_USER"]
ADMIN_PASSWORD = os.environ["BW_ADMIN_PASSWORD"]
CLIENT_KEY = os.environ["CLIENT_KEY"]
CLIENT_PUB = open(os.environ["CLIENT_PUB"]).read().strip()
OTHER_PUB = open(os.environ["OTHER_PUB"]).read().strip()
SSH_USER = os.environ["SSH_USER"]
SSH_PORT = os.environ["SSH_PORT"]
ARTIFACTS = os.environ["ARTIFACTS"]
TARGET_PATH = os.environ["TARGET_PATH"]
TARGET_NAME = os.environ["TARGET_NAME"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ADMIN_AUTH = "Basic " + base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
XSS = "<img src=x onerror=alert(1)>"
KEYS = tempfile.mkdtemp(prefix="dashboard-keys-")
# The e2e tests run side by side on 2 shared cores (borg, sshd, servers): a wait that takes
# 5 s on a busy machine is not a defect of the page.
expect.set_options(timeout=20_000)


def api(method, path, auth=ADMIN_AUTH, body=None, url=URL):
    """The API directly, to compare what the page shows with what the API says."""
    req = urllib.request.Request(url + path, method=method, headers={"Authorization": auth})
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read() or b"null"), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), e.headers


def new_key(name):
    """A fresh ed25519 public key (ssh-keygen), for a repository or a key of its own."""
    path = os.path.join(KEYS, name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path], check=True)
    return open(path + ".pub").read().strip()


def human_bytes(n):
    """The page's own formatting of a byte count (dom.js `bytes`)."""
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


class Watch:
    """Console errors and page errors, except the failures a step provokes on purpose."""

    def __init__(self):
        self.problems = []
        self.expected = []
        self.failed = []

    def attach(self, page):
        def on_console(msg):
            if msg.type != "error":
                return
            for status in list(self.expected):
                if f"status of {status}" in msg.text:
                    self.expected.remove(status)
                    return
            self.problems.append(msg.text)

        page.on("console", on_console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        # Which address failed: the console says only the status.
        page.on("response", lambda r: self.failed.append(f"{r.status} {r.request.method} {r.url}") if r.status >= 400 else None)
        return page


def sign_in_admin(page):
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#nav")).to_be_visible()


def sign_in_cookie(context):
    """The sign-in cookie of a browser context: its value and attributes (Playwright sees
    HttpOnly cookies; the page's scripts do not)."""
    cookies = [c for c in context.cookies() if c["name"] == "bw_sign_in"]
    check(len(cookies) == 1, f"sign-in cookies: {cookies}")
    return cookies[0]


def sign_in_token(page, token):
    page.get_by_label("API token", exact=True).check()
    page.get_by_label("Token", exact=True).fill(token)
    page.get_by_role("button", name="Sign in").click()


class Flow:
    """What the steps share: the browser, its page, and what each step leaves for the next."""


def open_browser(flow, p):
    """The browser, a page that records its requests, dialogs and console errors."""
    flow.watch = Watch()
    flow.requests = []
    flow.dialogs = []
    flow.a11y = []
    flow.browser = p.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    )
    flow.context = flow.browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="light")
    flow.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=URL)
    flow.page = flow.watch.attach(flow.context.new_page())
    flow.page.on("request", lambda r: flow.requests.append(r.url))
    flow.page.on("dialog", lambda d: (flow.dialogs.append(d.message), d.dismiss()))


def the_page_and_its_headers(flow):
    # The page and its headers; no Basic challenge, no CORS.
    response = flow.page.goto(URL + "/")
    headers = response.headers
    check("default-src 'self'" in headers.get("content-security-policy", ""), f"CSP: {headers}")
    check("'unsafe-inline'" not in headers.get("content-security-policy", ""), "inline script allowed")
    check(headers.get("x-frame-options") == "DENY", "X-Frame-Options")
    check(headers.get("referrer-policy") == "no-referrer", "Referrer-Policy")
    status, _, api_headers = api("GET", "/api/v1/repositories", auth="Basic " + base64.b64encode(b"x:y").decode())
    check(status == 401 and "www-authenticate" not in {k.lower() for k in api_headers.keys()}, "WWW-Authenticate sent")
    check("access-control-allow-origin" not in {k.lower() for k in api_headers.keys()}, "CORS opened")


def sign_in(flow):
    # 1. A deep link before signing in, a skip link first, a wrong password, then sign in by
    # keyboard: the view asked for opens, with focus on its heading (D8: focus, skip link,
    # deep links).
    flow.page.goto(URL + "/#/monitoring")
    signin = flow.page.get_by_role("region", name="Sign in")
    for label in ["Name and password", "API token", "Name", "Password", "Token"]:
        expect(signin.get_by_label(label, exact=True)).to_have_count(1)
    flow.a11y += scan(flow.page, "sign-in")
    signin.get_by_label("Password", exact=True).fill("not the password")
    flow.watch.expected.append(401)
    signin.get_by_label("Password", exact=True).press("Enter")
    # #33: the refusal in the words of the person signing in.
    expect(flow.page.get_by_role("alert")).to_have_text("Wrong name or password.")
    flow.page.goto(URL + "/#/monitoring")
    first = flow.page.evaluate("document.querySelector('a[href], button, input, select, textarea').id")
    check(first == "skip-link", f"the skip link is not the first stop of Tab: {first}")
    focused = []
    for _ in range(12):
        flow.page.keyboard.press("Tab")
        focused.append(flow.page.evaluate("document.activeElement.id"))
    check("signin-password" in focused and "signin-submit" in focused, f"Tab order: {focused}")
    signin.get_by_label("Password", exact=True).focus()
    flow.page.keyboard.type(ADMIN_PASSWORD)
    flow.page.keyboard.press("Tab")
    check(flow.page.evaluate("document.activeElement.id") == "signin-submit", "Tab from the password reaches Sign in")
    flow.page.keyboard.press("Enter")
    expect(flow.page.get_by_role("heading", name="Monitoring")).to_be_visible()
    check(flow.page.evaluate("location.hash") == "#/monitoring", "the deep link asked for before signing in")
    expect(flow.page.locator("#monitoring-title")).to_be_focused()  # focus after sign-in is on the view
    # The password is not kept: only a sign-in token that expires.
    stored = flow.page.evaluate("JSON.stringify(Object.assign({}, sessionStorage, localStorage))")
    check(ADMIN_PASSWORD not in stored and base64.b64encode(ADMIN_PASSWORD.encode()).decode()[:16] not in stored
          and "Basic" not in stored, f"the password is kept in the tab: {stored}")
    # #33: the sign-in is an HttpOnly, SameSite=Strict cookie, out of the scripts' reach.
    cookie = sign_in_cookie(flow.context)
    check(cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"].startswith("bws_"), f"cookie: {cookie}")
    check(cookie["value"] not in flow.page.evaluate("document.cookie"), "a script can read the sign-in")
    check(cookie["value"] not in stored, "the sign-in is kept in the tab's storage")
    flow.credential = {"kind": "signIn", "token": cookie["value"]}
    me = api("GET", "/api/v1/whoami", auth=f"Bearer {flow.credential['token']}")[1]
    check(me["kind"] == "signIn" and me["expiresAt"] > 0, f"whoami: {me}")
    # #33: a new tab, a deep link: signed in already, no password asked.
    second = flow.watch.attach(flow.context.new_page())
    second.goto(URL + "/#/server")
    expect(second.get_by_role("heading", name="Server")).to_be_visible()
    # An unsafe request with the cookie and without the CSRF header is refused (a form of
    # another site could send the cookie, never the header).
    flow.watch.expected.append(403)
    refused = second.evaluate("""async () => {
        const r = await fetch('/api/v1/repositories/refresh', {method: 'POST', credentials: 'same-origin'});
        return [r.status, await r.text()];
    }""")
    check(refused[0] == 403 and "x-bw-csrf" in refused[1], f"an unsafe request without the CSRF header: {refused}")
    second.close()
    # The skip link shows when focused, and takes focus past the navigation.
    flow.page.locator("#skip-link").focus()
    check(flow.page.locator("#skip-link").bounding_box()["y"] >= 0, "the focused skip link is off screen")
    flow.page.keyboard.press("Enter")
    check(flow.page.evaluate("document.activeElement.id") == "main", "the skip link does not reach the content")

    # D8: the empty state says what to do first.
    flow.page.get_by_role("link", name="Repositories", exact=True).click()
    empty = flow.page.locator("#repo-empty")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("borg init")
    expect(flow.page.get_by_role("link", name="Add your first repository")).to_be_visible()
    flow.a11y += scan(flow.page, "empty repositories")


def add_a_repository(flow):
    # 2. Add a repository: every field the API takes, checked next to the field.
    flow.page.get_by_role("link", name="Add your first repository").click()
    add = flow.page.get_by_role("region", name="Add a repository")
    for label in ["Alias", "SSH public key", "Quota (GB)", "Alert when no backup for", "Append-only",
                  "Show the local-network URL", "Storage target", "Comment"]:
        expect(add.get_by_label(label, exact=True)).to_be_visible()
    submit = add.get_by_role("button", name="Add repository")
    expect(submit).to_be_disabled()  # feature 3: submit waits for a valid form
    # D8: a 200-character alias is not cut by the field; the API's reason shows on it.
    add.get_by_label("Alias", exact=True).fill("a" * 200)
    check(len(add.get_by_label("Alias", exact=True).input_value()) == 200, "the alias field cut the text")
    add.get_by_label("SSH public key").fill(new_key("long-alias"))
    expect(submit).to_be_enabled()
    flow.watch.expected.append(422)
    submit.click()
    expect(flow.page.locator("#add-alias-error")).to_have_text("alias must be at most 100 characters")
    expect(add.get_by_label("Alias", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(flow.page.locator("#error")).to_be_hidden()
    add.get_by_label("Alias", exact=True).fill("laptop")
    expect(flow.page.locator("#add-alias-error")).to_be_hidden()
    add.get_by_label("SSH public key").fill(CLIENT_PUB + "\n")
    add.get_by_label("Quota (GB)").fill("1")
    add.get_by_label("Alert when no backup for").select_option("90000")
    add.get_by_label("Show the local-network URL").check()
    submit.click()
    expect(flow.page.locator("#add-result")).to_be_visible()
    flow.name = flow.page.locator("#add-result-name").text_content()
    command = flow.page.locator("#add-result-command").text_content()
    flow.url = f"ssh://{SSH_USER}@127.0.0.1:{SSH_PORT}/./{flow.name}"
    check(command == f"borg init --encryption=repokey-blake2 {flow.url}", f"the command shown: {command}")
    flow.page.get_by_role("button", name="Copy the command").click()
    expect(flow.page.get_by_role("button", name="Copied")).to_be_visible()
    check(flow.page.evaluate("navigator.clipboard.readText()") == command, "the copied command")
    check(api("GET", f"/api/v1/repositories/{flow.name}")[1]["repo"]["lanCommand"] is True, "lanCommand on add (D7)")
    # D5: a server error, then a mistake the form catches: the old error goes, the field says.
    add.get_by_label("Alias", exact=True).fill("again")
    add.get_by_label("SSH public key").fill(CLIENT_PUB)
    flow.watch.expected.append(409)
    submit.click()
    # #33: a key in use is said on the key's field, not in the banner.
    expect(flow.page.locator("#add-key-error")).to_have_text("The SSH key is already used in another repository.")
    expect(add.get_by_label("SSH public key")).to_have_attribute("aria-invalid", "true")
    expect(flow.page.locator("#error")).to_be_hidden()
    add.get_by_label("Quota (GB)").fill("0")
    expect(flow.page.locator("#error")).to_be_hidden()
    expect(flow.page.locator("#add-quota-error")).to_be_visible()
    expect(submit).to_be_disabled()
    add.get_by_label("Quota (GB)").fill("1")
    expect(flow.page.locator("#add-quota-error")).to_be_hidden()
    # D7: the storage target.
    add.get_by_label("Alias", exact=True).fill("on the target")
    add.get_by_label("SSH public key").fill(new_key("on-target"))
    add.get_by_label("Storage target").select_option(TARGET_PATH)
    expect(add.get_by_label("Storage target")).to_contain_text(TARGET_NAME)
    submit.click()
    expect(flow.page.locator("#add-result-name")).not_to_have_text(flow.name)
    flow.on_target = flow.page.locator("#add-result-name").text_content()
    check(api("GET", f"/api/v1/repositories/{flow.on_target}")[1]["repo"].get("storageTarget") == TARGET_PATH, "target")
    flow.a11y += scan(flow.page, "add")

    # D6: leaving the add page, the URL and the command stay on the repository's page.
    flow.page.get_by_role("link", name="Repositories", exact=True).click()
    flow.row = flow.page.locator(f'tr[data-name="{flow.name}"]')
    expect(flow.row).to_contain_text("laptop")
    expect(flow.row).to_contain_text("no backup yet")
    # Feature 1: the URL with a copy button on every row.
    expect(flow.row.locator(".url")).to_have_text(flow.url)
    flow.page.get_by_role("button", name="Copy the URL of laptop").click()
    check(flow.page.evaluate("navigator.clipboard.readText()") == flow.url, "the row's copied URL")
    flow.row.get_by_role("link", name="laptop", exact=True).click()
    check(flow.page.evaluate("location.hash") == f"#/repositories/{flow.name}", "the repository's address")
    expect(flow.page.locator("#repo-url")).to_have_text(flow.url)
    expect(flow.page.locator("#guide-init")).to_have_text(command)


def a_real_backup(flow):
    # 3. A real backup with the command the page gave, then "check now": the light turns
    # green and the used figure is the API's storageUsed.
    borg(flow.page.locator("#guide-init").text_content())
    source = os.path.join(ARTIFACTS, "backed-up.bin")
    with open(source, "wb") as f:
        f.write(os.urandom(3 * 1024 * 1024))
    borg(f"borg create {flow.url}::first {source}")
    held = []
    flow.page.route("**/api/v1/repositories/refresh", lambda route: held.append(route))
    flow.page.get_by_role("button", name="Check now").click()
    expect(flow.page.locator("#progress")).to_have_text("Working…")
    while not held:
        flow.page.wait_for_timeout(50)
    held[0].continue_()
    expect(flow.page.get_by_role("status").filter(has_text="Repositories refreshed")).to_be_visible()
    flow.page.unroute("**/api/v1/repositories/refresh")
    expect(flow.page.locator("#progress")).to_be_hidden()
    _, one, _ = api("GET", f"/api/v1/repositories/{flow.name}")
    flow.used_kib = one["repo"]["storageUsed"]
    check(one["repo"]["status"] is True and flow.used_kib > 3000, f"the API after the backup: {one}")
    expect(flow.page.locator("#repo-badges .light")).to_have_text("OK")

    # Feature 2: the guide, per client, with the real URL and the host keys to compare.
    expect(flow.page.locator("#guide-create")).to_contain_text(f"borg create --stats --compression auto,zstd {flow.url}::")
    flow.page.get_by_role("tab", name="borgmatic").click()
    expect(flow.page.locator("#guide-borgmatic-config")).to_contain_text(f"- path: {flow.url}")
    expect(flow.page.locator("#guide-borgmatic-config")).to_contain_text("label: 'laptop'")
    flow.page.get_by_role("tab", name="borgmatic").press("ArrowRight")
    expect(flow.page.get_by_role("tab", name="Vorta")).to_be_focused()
    expect(flow.page.locator("#guide-vorta")).to_contain_text("Initialize a new repository")
    expect(flow.page.locator("#guide-borgmatic-config")).to_contain_text("keep_yearly: 1")
    expect(flow.page.locator("#guide-borgmatic-config")).to_contain_text("on_error:")
    flow.page.get_by_role("tab", name="Vorta").press("ArrowRight")
    expect(flow.page.get_by_role("tab", name="Restore")).to_be_focused()
    info = api("GET", "/api/v1/server-info")[1]
    for k in info["hostKeyFingerprints"]:
        expect(flow.page.locator("#host-keys")).to_contain_text(k["sha256"].replace("SHA256:", ""))
    expect(flow.page.locator("#repo-lan")).to_be_hidden()  # lanCommand on, but no FQDN_LAN: no LAN URL
    # Feature 6: its history chart and its sessions, as the API has them.
    expect(flow.page.locator("#repo-chart svg[role=img]")).to_be_visible()
    # Sessions are taken in within seconds of the end of each (init, create): wait for
    # the two, then read the page again.
    for _ in range(100):
        sessions = api("GET", f"/api/v1/repositories/{flow.name}/sessions")[1]["sessions"]
        if len(sessions) >= 2:
            break
        flow.page.wait_for_timeout(100)
    flow.page.reload()
    expect(flow.page.locator("#repo-url")).to_have_text(flow.url)
    expect(flow.page.locator("#session-rows tr")).to_have_count(len(sessions))
    if sessions:
        # The newest session is the client's backup: it wrote (not borg serve's exit code).
        expect(flow.page.locator("#session-rows tr").first).to_contain_text("wrote a backup")
    flow.a11y += scan(flow.page, "repository")

    # Feature 5: its keys: add one (append-only, named), switch its mode, remove it.
    keys = flow.page.get_by_role("region", name="Keys")
    expect(keys.get_by_role("button", name="Add key")).to_be_disabled()
    keys.get_by_label("SSH public key").fill(OTHER_PUB)
    keys.get_by_label("Key name").fill("admin-prune")
    keys.get_by_label("Mode").select_option("append-only")
    keys.get_by_role("button", name="Add key").click()
    key_row = flow.page.locator("#key-rows tr").filter(has_text="admin-prune")
    expect(key_row).to_contain_text("append-only")
    expect(key_row).to_contain_text("never")
    api_keys = api("GET", f"/api/v1/repositories/{flow.name}/keys")[1]["keys"]
    check([(k["name"], k["mode"]) for k in api_keys][1:] == [("admin-prune", "append-only")], f"keys: {api_keys}")
    # Both kinds of key: the page says what append-only mode does not protect.
    expect(flow.page.locator("#mixed-keys")).to_be_visible()
    expect(flow.page.locator("#mixed-keys")).to_contain_text("borg list")
    flow.page.get_by_role("button", name="Make admin-prune full").click()
    expect(key_row).to_contain_text("full")
    expect(flow.page.locator("#mixed-keys")).to_be_hidden()
    check(api("GET", f"/api/v1/repositories/{flow.name}/keys")[1]["keys"][1]["mode"] == "full", "mode switched")
    flow.page.get_by_role("button", name="Remove admin-prune").click()
    flow.page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(flow.page.locator("#key-rows tr")).to_have_count(1)
    check(len(api("GET", f"/api/v1/repositories/{flow.name}/keys")[1]["keys"]) == 1, "key removed")
    expect(flow.page.locator("#key-rows button", has_text="Remove")).to_be_disabled()  # the last key stays

    # Feature 7: compact and break-lock, each confirmed first.
    flow.page.get_by_role("button", name="Compact").click()
    flow.page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(flow.page.locator("#notice")).to_be_hidden()
    flow.page.get_by_role("button", name="Compact").click()
    flow.page.get_by_role("dialog").get_by_role("button", name="Compact").click()
    expect(flow.page.get_by_role("status").filter(has_text=f"Repository {flow.name} has been compacted")).to_be_visible()
    flow.page.get_by_role("button", name="Break the lock").click()
    flow.page.get_by_role("dialog").get_by_role("button", name="Break the lock").click()
    expect(flow.page.get_by_role("status").filter(has_text=f"Lock on repository {flow.name} has been released")).to_be_visible()

    # #33: the restore commands, run with the real borg: the list shows the archive, and the
    # archive comes back as a tarball holding the file backed up.
    # (Last in this step: each borg command is a session, and the sessions were counted above.)
    restore = flow.page.locator("#guide-restore-commands").text_content()
    commands = [line for line in restore.splitlines() if line.startswith("borg ")]
    check(any(c == f"borg list {flow.url}" for c in commands), f"no list command: {restore}")
    for command in commands:
        if command.startswith(("borg list", "borg check")):
            borg(command)
    tarball = os.path.join(KEYS, "restore.tar")
    export = next(c for c in commands if c.startswith("borg export-tar"))
    borg(export.replace("::ARCHIVE", "::first").replace(" restore.tar", f" {tarball}"))
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    check(any(n.endswith("backed-up.bin") for n in names), f"the tarball holds: {names}")


def edit_everything(flow):
    # 4. Edit everything (D7: the SSH key and lanCommand too).
    flow.page.get_by_role("link", name="Edit", exact=True).click()
    check(flow.page.evaluate("location.hash") == f"#/repositories/{flow.name}/edit", "the edit page's address")
    edit = flow.page.get_by_role("region", name="Edit laptop")
    for label in ["Alias", "SSH public key (the first key)", "Quota (GB)", "Alert when no backup for",
                  "Append-only", "Show the local-network URL", "Comment"]:
        expect(edit.get_by_label(label, exact=True)).to_be_visible()
    expect(edit.get_by_label("SSH public key (the first key)")).to_have_value(CLIENT_PUB)
    replacement = new_key("replacement")
    edit.get_by_label("SSH public key (the first key)").fill(replacement)
    edit.get_by_label("Quota (GB)").fill("2")
    edit.get_by_label("Show the local-network URL").uncheck()
    # #33: BorgWarehouse 3.6's icon picker: its names, by category, with a preview.
    edit.get_by_label("Icon", exact=True).select_option("IconDeviceLaptop")
    expect(edit.locator("#edit-icon-preview svg[data-icon='IconDeviceLaptop']")).to_be_visible()
    flow.a11y += scan(flow.page, "edit")
    edit.get_by_role("button", name="Save").click()
    expect(flow.page.get_by_role("status").filter(has_text="Saved laptop.")).to_be_visible()
    saved = api("GET", f"/api/v1/repositories/{flow.name}")[1]["repo"]
    check((saved["storageSize"], saved["sshPublicKey"], saved["lanCommand"]) == (2, replacement, False), f"{saved}")
    check(saved.get("icon") == "IconDeviceLaptop", f"the icon: {saved}")
    # Shown beside the alias, drawn from the served sprite (a box with a size: the symbol was found).
    icon = flow.page.locator("#repo-alias svg.repo-icon")
    expect(icon).to_have_attribute("data-icon", "IconDeviceLaptop")
    box = icon.bounding_box()
    check(box and box["width"] > 8, f"the icon is not drawn: {box}")
    sprite = flow.page.evaluate("""async () => { const r = await fetch('/dashboard/icons.svg');
        return [r.status, r.headers.get('content-type'), (await r.text()).includes('<symbol id="IconDeviceLaptop"')]; }""")
    check(sprite == [200, "image/svg+xml", True], f"the sprite: {sprite}")
    # An icon a BorgWarehouse client set through the API shows in the list too.
    api("PATCH", f"/api/v1/repositories/{flow.name}", body={"icon": "IconServer"})
    flow.page.get_by_role("link", name="Repositories", exact=True).click()
    expect(flow.row.locator("a.alias svg.repo-icon")).to_have_attribute("data-icon", "IconServer")
    flow.row.locator("a.alias").click()
    edit_again = flow.page.get_by_role("link", name="Edit", exact=True)
    edit_again.click()
    edit.get_by_label("SSH public key (the first key)").fill(CLIENT_PUB)
    edit.get_by_role("button", name="Save").click()
    expect(flow.page.get_by_role("status").filter(has_text="Saved laptop.")).to_be_visible()
    # Archive (the client is shut out, the data kept) and back.
    flow.page.get_by_role("link", name="Edit", exact=True).click()
    flow.page.get_by_role("button", name="Archive repository").click()
    expect(flow.row.locator(".light")).to_have_text("archived")
    check(api("GET", f"/api/v1/repositories/{flow.name}")[1]["repo"]["archived"] is True, "archived through the API")
    flow.page.get_by_role("link", name="Edit laptop").click()
    flow.page.get_by_role("button", name="Unarchive repository").click()
    expect(flow.row.locator(".light")).to_have_text("OK")
    expect(flow.row.locator(".used")).to_contain_text(f"{human_bytes(flow.used_kib * 1024)} of 2 GB")
    flow.page.screenshot(path=os.path.join(ARTIFACTS, "repositories.png"))


def tokens(flow):
    # 5. Tokens. D4: a token with no permission cannot be asked for.
    flow.page.get_by_role("link", name="Tokens").click()
    tokens = flow.page.get_by_role("region", name="API tokens")
    for label in ["Token name", "read", "create", "update", "delete", "Expires after (days, empty: never)"]:
        expect(tokens.get_by_label(label, exact=True)).to_be_visible()
    tokens.get_by_label("Token name").fill("nothing")
    tokens.get_by_label("read", exact=True).uncheck()
    expect(tokens.get_by_role("button", name="Create token")).to_be_disabled()
    expect(flow.page.locator("#token-permissions-error")).to_have_text(re.compile("at least one permission"))
    tokens.get_by_label("read", exact=True).check()
    expect(tokens.get_by_role("button", name="Create token")).to_be_enabled()
    tokens.get_by_label("Token name").fill("dashboard-ci")
    tokens.get_by_role("button", name="Create token").click()
    value = flow.page.locator("#token-value")
    expect(value).to_have_text(re.compile(r"^bw_[A-Za-z0-9_-]{40,}$"))
    reader = value.text_content()
    flow.page.get_by_role("button", name="Copy the token").click()
    expect(flow.page.get_by_role("button", name="Copied")).to_be_visible()
    expect(flow.page.locator('tr[data-token="dashboard-ci"]')).to_contain_text("read")
    flow.a11y += scan(flow.page, "tokens")
    # D3: the secret goes when the view is left, and after signing out and in.
    flow.page.get_by_role("link", name="Repositories", exact=True).click()
    flow.page.get_by_role("link", name="Tokens").click()
    expect(value).to_be_hidden()
    check(value.text_content() == "", "the secret stayed after leaving the view")
    tokens.get_by_label("Token name").fill("second")
    tokens.get_by_role("button", name="Create token").click()
    expect(value).to_have_text(re.compile("^bw_"))
    # #33: a name in use is said on the name's field, not in the banner.
    tokens.get_by_label("Token name").fill("second")
    flow.watch.expected.append(400)
    tokens.get_by_role("button", name="Create token").click()
    expect(flow.page.locator("#token-name-error")).to_have_text("A token with this name already exists")
    expect(flow.page.locator("#error")).to_be_hidden()
    # #33: signing out ends the sign-in in every tab of the browser, at once.
    other_tab = flow.watch.attach(flow.context.new_page())
    other_tab.goto(URL + "/#/repositories")
    expect(other_tab.get_by_role("heading", name="Repositories")).to_be_visible()
    flow.page.get_by_role("button", name="Sign out").click()
    expect(flow.page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(other_tab.get_by_role("alert")).to_have_text(re.compile("signed out in another tab"))
    expect(other_tab.get_by_role("heading", name="Sign in")).to_be_visible()
    other_tab.close()
    check(not [c for c in flow.context.cookies() if c["name"] == "bw_sign_in"], "the cookie outlived the sign-out")
    check(api("GET", "/api/v1/repositories", auth=f"Bearer {flow.credential['token']}")[0] == 403, "sign-out ended it")
    check(value.text_content() == "" and flow.page.locator("#repo-rows tr").count() == 0, "the screen kept data")
    sign_in_admin(flow.page)
    flow.page.goto(URL + "/#/tokens")
    expect(flow.page.locator('tr[data-token="second"]')).to_be_visible()
    expect(value).to_be_hidden()
    check(value.text_content() == "", "D3: the secret was shown again")

    # D1: a token sees only what its permissions allow, and never a view that cannot work.
    as_reader = flow.watch.attach(flow.browser.new_context().new_page())
    as_reader.goto(URL + "/")
    sign_in_token(as_reader, reader)
    expect(as_reader.locator(f'tr[data-name="{flow.name}"]')).to_be_visible()
    nav = as_reader.get_by_role("navigation", name="Views")
    for shown in ["Repositories", "Monitoring", "Server"]:
        expect(nav.get_by_role("link", name=shown)).to_be_visible()
    for hidden in ["Add a repository", "Tokens", "Users", "Audit", "Account"]:
        expect(nav.get_by_role("link", name=hidden)).to_be_hidden()
    expect(nav.get_by_role("button", name="Check now")).to_be_hidden()
    expect(as_reader.get_by_role("link", name="Edit laptop")).to_have_count(0)
    as_reader.goto(URL + "/#/tokens")
    expect(as_reader.locator("#missing-text")).to_have_text(re.compile("API tokens are managed by admins and operators"))
    expect(as_reader.locator("#nav")).to_be_visible()
    as_reader.goto(URL + f"/#/repositories/{flow.name}")
    expect(as_reader.locator("#repo-url")).to_have_text(flow.url)
    expect(as_reader.get_by_role("region", name="Maintenance")).to_be_hidden()
    expect(as_reader.locator("#key-form")).to_be_hidden()
    # The reader follows the list live while the adder below adds and the admin deletes.
    as_reader.goto(URL + "/#/repositories")
    expect(as_reader.locator("#repo-summary")).to_contain_text("repositories")
    # #33: a create-only token gets what works for it, the add form and its result, and no
    # link to a view that would only say it needs the read permission.
    status, made, _ = api("POST", "/api/v1/integration/token-manager",
                          body={"name": "adder", "permissions": {"create": True, "read": False, "update": False, "delete": False}})
    check(status == 200, f"create-only token: {made}")
    as_adder = flow.watch.attach(flow.browser.new_context().new_page())
    as_adder.goto(URL + "/")
    sign_in_token(as_adder, made["token"])
    expect(as_adder.get_by_role("heading", name="Add a repository")).to_be_visible()
    adder_nav = as_adder.get_by_role("navigation", name="Views")
    expect(adder_nav.get_by_role("link", name="Add a repository")).to_be_visible()
    for hidden in ["Repositories", "Monitoring", "Server", "Tokens"]:
        expect(adder_nav.get_by_role("link", name=hidden)).to_be_hidden()
    check(as_adder.locator("a.home").get_attribute("href") == "#/add", "the title leads to a view it cannot see")
    added = as_adder.get_by_role("region", name="Add a repository")
    added.get_by_label("Alias", exact=True).fill("from the adder")
    added.get_by_label("SSH public key").fill(new_key("adder"))
    added.get_by_role("button", name="Add repository").click()
    expect(as_adder.locator("#add-result")).to_be_visible()
    expect(as_adder.locator("#add-result-command")).to_contain_text("borg init")
    expect(as_adder.locator("#add-result-open")).to_be_hidden()
    adders = as_adder.locator("#add-result-name").text_content()
    as_adder.context.close()
    # Gone again, so that the later steps count the repositories they made.
    expect(as_reader.locator("#repo-rows")).to_contain_text("from the adder")  # live, for a token too
    check(api("DELETE", f"/api/v1/repositories/{adders}")[0] == 200, "the adder's repository deleted")
    expect(as_reader.locator("#repo-rows")).not_to_contain_text("from the adder")
    check(api("DELETE", "/api/v1/integration/token-manager", body={"name": "adder"})[0] == 200, "adder revoked")
    # Let the live updates of that change settle (the watcher looks every 0.5 s, the page
    # coalesces for 1 s): a redraw after the revoke below would end the sign-in before the click.
    as_reader.wait_for_timeout(2500)
    # D2: revoked in another tab, the token's sign-in ends with a message that says so.
    check(api("DELETE", "/api/v1/integration/token-manager", body={"name": "dashboard-ci"})[0] == 200, "revoke")
    flow.watch.expected.append(403)
    as_reader.get_by_role("link", name="Server").click()
    expect(as_reader.get_by_role("alert")).to_have_text(re.compile("no longer accepted"))
    expect(as_reader.get_by_role("heading", name="Sign in")).to_be_visible()
    check(as_reader.locator("#repo-rows tr").count() == 0, "rows left after the sign-in ended")
    as_reader.context.close()
    # D2 for a person's sign-in, ended elsewhere (signed out from another tab).
    elsewhere = flow.watch.attach(flow.browser.new_context().new_page())
    elsewhere.goto(URL + "/")
    sign_in_admin(elsewhere)
    expect(elsewhere.locator("#repo-summary")).to_contain_text("repositories")  # the list is in
    ended = sign_in_cookie(elsewhere.context)["value"]
    check(api("POST", "/api/v1/sign-out", auth=f"Bearer {ended}")[0] == 200, "sign-out through the API")
    flow.watch.expected.append(403)
    elsewhere.get_by_role("link", name="Server").click()
    expect(elsewhere.get_by_role("alert")).to_have_text(re.compile("Your sign-in has ended"))
    elsewhere.context.close()


def server_facts(flow):
    # 6. The server's facts and the storage target.
    flow.page.get_by_role("link", name="Server").click()
    expect(flow.page.locator("#server-info")).to_contain_text(SSH_USER)
    expect(flow.page.locator("#server-info")).to_contain_text("Pool disk")
    expect(flow.page.locator("#target-rows")).to_contain_text(TARGET_NAME)
    expect(flow.page.locator("#target-rows .light")).to_have_text("available")
    # #33: the alert channels and their state (none is set on this host), and the test button,
    # which waits for a channel.
    expect(flow.page.locator("#channel-rows li")).to_have_count(3)
    for name in ["email", "webhook", "apprise"]:
        expect(flow.page.locator("#channel-rows")).to_contain_text(f"off {name}")
    expect(flow.page.get_by_role("button", name="Send a test alert")).to_be_disabled()
    alerts_changed_in_the_page(flow)
    flow.a11y += scan(flow.page, "server")


def alerts_changed_in_the_page(flow):
    # #33: an admin sends the alerts to a webhook from the page, over the host's settings: a
    # refusal shows on its field, the secret is never shown back, a test alert reaches a real
    # HTTP receiver signed with the page's secret, and "Use the host's settings" turns it off.
    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((self.headers.get("X-BorgWarehouse-Signature"), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    page = flow.page
    form = page.locator("#alert-settings-form")
    address = form.get_by_label("Webhook address (http or https)")
    address.fill("ftp://hooks.example.org/bw")
    # A change on the host redraws the view live: what was typed and not saved stays.
    page.locator("#server-title").focus()
    status, made, _ = api("POST", "/api/v1/repositories", body={"alias": "live redraw", "sshPublicKey": new_key("redraw"), "storageSize": 1})
    check(status == 200, f"a repository for the redraw: {made}")
    page.wait_for_timeout(2500)
    expect(address).to_have_value("ftp://hooks.example.org/bw")
    api("DELETE", f"/api/v1/repositories/{made['repositoryName']}")
    flow.watch.expected.append(422)
    form.get_by_role("button", name="Save the alert settings").click()
    expect(page.locator("#as-webhookUrl-error")).to_contain_text("http:// or https://")
    expect(page.locator("#channel-rows")).to_contain_text("off webhook")
    secret = "a secret typed in the page"
    address.fill(f"http://127.0.0.1:{hook.server_port}/bw")
    form.get_by_label("Signing secret").fill(secret)
    form.get_by_role("button", name="Save the alert settings").click()
    expect(page.locator("#notice")).to_contain_text("Alert settings saved")
    expect(page.locator("#channel-rows")).to_contain_text("on webhook")
    expect(page.locator("#as-webhookUrl-source")).to_have_text("Set in this page.")
    expect(page.locator("#as-emailTo-source")).to_be_hidden()
    check(form.get_by_label("Signing secret").input_value() == "", "the secret was shown back")
    # For the README: the channels and the form, set from the page.
    top = page.get_by_role("heading", name="Alert channels").bounding_box()
    bottom = form.bounding_box()
    scrolled = page.evaluate("() => window.scrollY")  # boxes are the viewport's; the clip, the page's
    page.screenshot(path=os.path.join(ARTIFACTS, "alert-settings.png"), full_page=True, clip={
        "x": top["x"] - 16, "y": top["y"] + scrolled - 16, "width": 900,
        "height": bottom["y"] + bottom["height"] - top["y"] + 32})
    check(secret not in json.dumps(api("GET", "/api/v1/alerts/settings")[1]), "the API answered the secret")
    page.get_by_role("button", name="Send a test alert").click()
    expect(page.locator("#test-alert-result")).to_contain_text("delivered webhook")
    for _ in range(50):
        if received:
            break
        time.sleep(0.1)
    check(len(received) == 1, f"the receiver got {len(received)} posts")
    signature, body = received[0]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    check(signature == expected, f"signed {signature!r}, not with the page's secret")
    check(json.loads(body)["status"] == "test", f"the test alert's body: {body!r}")
    form.get_by_role("button", name="Use the host's settings").click()
    expect(page.locator("#channel-rows")).to_contain_text("off webhook")
    expect(address).to_have_value("")
    hook.shutdown()


def an_html_alias_stays_text(flow):
    # 7. An alias that is HTML stays text: no image, no script.
    _, created, _ = api("POST", "/api/v1/repositories",
                        body={"alias": XSS, "sshPublicKey": new_key("xss"), "storageSize": 1, "comment": XSS})
    # A late one (monitored, never backed up) and a long alias (D8).
    _, flow.late, _ = api("POST", "/api/v1/repositories",
                     body={"alias": "never backed up", "sshPublicKey": new_key("late"), "storageSize": 1, "alert": 3600})
    long_alias = "x" * 100
    api("POST", "/api/v1/repositories", body={"alias": long_alias, "sshPublicKey": new_key("long"), "storageSize": 1})
    check(api("POST", "/api/v1/repositories/refresh")[0] == 200, "refresh")
    flow.page.get_by_role("link", name="Repositories", exact=True).click()
    hostile = flow.page.locator(f'tr[data-name="{created["repositoryName"]}"]')
    expect(hostile.locator(".alias")).to_have_text(XSS)
    check(flow.page.locator("#repo-rows img").count() == 0, "an alias became an element")
    expect(hostile.locator(".light")).to_have_text("not monitored")
    # D8: a long alias does not squeeze the buttons or the figures onto two lines.
    long_row = flow.page.locator("tr").filter(has_text=long_alias)
    edit_box = long_row.get_by_role("link", name="Edit").bounding_box()
    short_edit = flow.row.get_by_role("link", name="Edit").bounding_box()
    check(abs(edit_box["height"] - short_edit["height"]) < 2 and edit_box["width"] >= short_edit["width"] - 1,
          f"Edit broke: {edit_box} vs {short_edit}")
    used_box = long_row.locator(".used").bounding_box()
    check(used_box["height"] < 1.6 * float(flow.page.evaluate("parseFloat(getComputedStyle(document.body).lineHeight)")),
          f"the used figure wraps: {used_box}")
    flow.a11y += scan(flow.page, "repositories")


def search_filter_and_sort(flow):
    # 8. Search, the late filter and sort, kept in the address (a reload, a bookmark, Back).
    flow.page.get_by_label("Search").fill("lapt")
    expect(flow.page.locator("#repo-rows tr")).to_have_count(1)
    check(flow.page.evaluate("location.hash") == "#/repositories?q=lapt", flow.page.evaluate("location.hash"))
    flow.page.reload()
    expect(flow.page.locator("#repo-rows tr")).to_have_count(1)
    expect(flow.page.get_by_label("Search")).to_have_value("lapt")
    flow.page.get_by_label("Search").fill("")
    flow.page.get_by_label("Late only").check()
    # Monitored and never backed up: the one added through the API, and the one on the
    # target (the form's alert is 1 day unless changed).
    expect(flow.page.locator("#repo-rows tr")).to_have_count(2)
    expect(flow.page.locator(f'tr[data-name="{flow.late["repositoryName"]}"]')).to_be_visible()
    expect(flow.page.locator(f'tr[data-name="{flow.on_target}"]')).to_be_visible()
    flow.page.get_by_label("Late only").uncheck()
    flow.page.get_by_label("Sort by").select_option("size")
    expect(flow.page.locator("#repo-rows tr").first).to_have_attribute("data-name", flow.name)
    flow.page.locator(f'tr[data-name="{flow.name}"]').get_by_role("link", name="laptop", exact=True).click()
    flow.page.go_back()
    check(flow.page.evaluate("location.hash") == "#/repositories?sort=size", "Back returns to the list as it was")
    expect(flow.page.get_by_label("Sort by")).to_have_value("size")

    # #33, live: a second, real backup shows in the open list within 5 s, without a reload
    # (its session is taken in, the server tells the page, the page reads the list again).
    flow.page.get_by_role("link", name="Repositories", exact=True).click()
    row_used = flow.page.locator(f'tr[data-name="{flow.name}"] .used')
    expect(row_used).to_be_visible()
    before = row_used.text_content()
    flow.page.evaluate("window.notReloaded = true")
    second = os.path.join(ARTIFACTS, "backed-up-2.bin")
    with open(second, "wb") as f:
        f.write(os.urandom(2 * 1024 * 1024))
    borg(f"borg create {flow.url}::second {second}")
    expect(row_used).not_to_have_text(before, timeout=5000)
    check(flow.page.evaluate("window.notReloaded === true"), "the page reloaded to show the backup")
    # Taken in by its session and by no check yet: the totals move, and the host's history
    # has no point of it (#33: the chart lagged the totals).
    # Feature 4: the monitoring view.
    flow.page.get_by_role("link", name="Monitoring").click()
    totals = flow.page.locator("#totals")
    expect(totals).to_contain_text("Repositories5")
    expect(flow.page.locator("#attention")).to_contain_text("Late never backed up")
    expect(flow.page.locator("#usage li").first).to_contain_text("laptop")
    expect(flow.page.locator("#host-chart svg[role=img]")).to_be_visible()
    # #33: the chart ends where the totals stand now (a session moves them before any check).
    used_total = flow.page.locator("#totals .total-value").nth(2).text_content().split(" of ")[0]
    chart_label = flow.page.locator("#host-chart svg[role=img]").get_attribute("aria-label")
    check(f" to {used_total} on " in chart_label, f"the chart ends at {chart_label!r}; the totals say {used_total}")
    expect(flow.page.locator("#projection")).to_contain_text("free of")
    expect(flow.page.locator("#fired")).to_contain_text("late")
    expect(flow.page.locator("#fired")).to_contain_text("never backed up")
    fired = api("GET", "/api/v1/alerts")[1]["alerts"]
    check(any(a["kind"] == "late" and a["alias"] == "never backed up" for a in fired), f"alerts: {fired}")
    flow.a11y += scan(flow.page, "monitoring")
    # The disk-full projection's arithmetic, on made-up points (the module as the page has it).
    projected = flow.page.evaluate("""async () => {
      const m = await import("/dashboard/monitor.js");
      const day = 86400;
      const growing = [...Array(11).keys()].map((i) => ({ at: 1e9 + i * day, value: 1e9 + i * 1e8 }));
      const flat = growing.map((p) => ({ at: p.at, value: 1e9 }));
      const disk = { totalBytes: 1e12, usedBytes: 2e9, freeBytes: 5e9 };
      return [m.projection(growing, disk), m.projection(flat, disk), m.projection(growing.slice(0, 1), disk),
              m.projection(growing, null)];
    }""")
    check(round(projected[0]["days"]) == 50 and "in 50 days" in projected[0]["text"], f"projection: {projected[0]}")
    check("not growing" in projected[1]["text"], f"flat: {projected[1]}")
    check("not enough history" in projected[2]["text"], f"one point: {projected[2]}")
    check("unknown" in projected[3]["text"], f"no disk: {projected[3]}")
    # The commands a person pastes stay one argument, whatever a URL holds (the server also
    # refuses such an FQDN at start); a plain URL is shown as it is.
    guide = flow.page.evaluate("""async () => {
      const g = await import("/dashboard/guide.js");
      const bad = "ssh://u@h;touch${IFS}/tmp/pwned;#/./n'x";
      return [g.borgInit(bad), g.borgCreate(bad), g.borgInit("ssh://u@h:2222/./n"), g.borgmaticConfig(bad, "a")];
    }""")
    check(guide[0] == "borg init --encryption=repokey-blake2 'ssh://u@h;touch${IFS}/tmp/pwned;#/./n'\\''x'", f"init: {guide[0]}")
    check("auto,zstd 'ssh://u@h;touch${IFS}/tmp/pwned;#/./n'\\''x'::{hostname}-{now}" in guide[1], f"create: {guide[1]}")
    check(guide[2] == "borg init --encryption=repokey-blake2 ssh://u@h:2222/./n", f"plain: {guide[2]}")
    check("- path: 'ssh://u@h;touch${IFS}/tmp/pwned;#/./n''x'" in guide[3], f"yaml: {guide[3]}")


def a_phone(flow):
    # 9. A phone: no horizontal scrolling, and the cards keep their labels (D8).
    flow.page.set_viewport_size({"width": 375, "height": 740})
    for view in ["repositories", f"repositories/{flow.name}", f"repositories/{flow.name}/edit", "add", "monitoring", "tokens", "server"]:
        flow.page.goto(URL + f"/#/{view}")
        flow.page.wait_for_timeout(300)
        width = flow.page.evaluate("document.documentElement.scrollWidth")
        check(width <= 375, f"{view} at 375 px is {width} px wide")
    flow.page.goto(URL + "/#/tokens")
    expect(flow.page.locator("#token-rows tr").first).to_be_visible()
    label = flow.page.evaluate("getComputedStyle(document.querySelector('#token-rows td'), '::before').content")
    check(label == '"Name"', f"a token card lost its label: {label}")
    flow.page.goto(URL + "/#/server")
    expect(flow.page.locator("#target-rows tr").first).to_be_visible()
    label = flow.page.evaluate("getComputedStyle(document.querySelector('#target-rows td'), '::before').content")
    check(label == '"Target"', f"a storage target card lost its label: {label}")
    flow.page.set_viewport_size({"width": 1280, "height": 860})


def every_view_scanned(flow):
    # 10. Every view: the accessibility scan in dark too, and the screenshots.
    views = {"repositories": "repositories", "repository": f"repositories/{flow.name}", "edit": f"repositories/{flow.name}/edit",
             "add": "add", "monitoring": "monitoring", "tokens": "tokens", "server": "server", "users": "users",
             "audit": "audit", "account": "account"}
    for shot, view in views.items():
        flow.page.goto(URL + f"/#/{view}")
        flow.page.wait_for_timeout(400)
        screenshots(flow.page, ARTIFACTS, shot, True)
        flow.page.evaluate("document.documentElement.setAttribute('data-theme', 'dark')")
        flow.a11y += scan(flow.page, f"{shot} (dark)")
        flow.page.evaluate("document.documentElement.removeAttribute('data-theme')")
    # D8: the focus ring is seen on both themes.
    flow.page.goto(URL + "/#/add")
    flow.page.bring_to_front()  # :focus-visible needs the page to have the window's focus
    for theme in ["light", "dark"]:
        flow.page.evaluate("(t) => document.documentElement.setAttribute('data-theme', t)", theme)
        ring = flow.page.evaluate(FOCUS_CONTRAST, "add-alias")
        check(ring["ratio"] >= 3 and ring["style"] != "none", f"focus ring on {theme}: {ring}")
    flow.page.evaluate("document.documentElement.removeAttribute('data-theme')")


def delete(flow):
    # 11. Delete, with its confirmation; cancel first.
    flow.page.goto(URL + f"/#/repositories/{flow.name}/edit")
    flow.page.get_by_role("button", name="Delete repository").click()
    flow.page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    check(api("GET", f"/api/v1/repositories/{flow.name}")[0] == 200, "cancel deleted it")
    flow.page.get_by_role("button", name="Delete repository").click()
    flow.page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(flow.page.locator(f'tr[data-name="{flow.name}"]')).to_have_count(0)
    check(api("GET", f"/api/v1/repositories/{flow.name}")[0] == 404, "the repository is still there")
    flow.watch.expected.append(404)
    flow.page.goto(URL + f"/#/repositories/{flow.name}")
    expect(flow.page.locator("#missing-text")).to_have_text(re.compile("There is no repository"))


def a_larger_host(flow):
    # 12. A larger host, where deleting is disabled: pages of rows from one list request,
    # no request per row; the page does not offer delete.
    locked_url = os.environ["BW_URL_DELETE_DISABLED"]
    check(api("POST", "/api/v1/repositories", url=locked_url,
              body={"alias": "kept", "sshPublicKey": CLIENT_PUB, "storageSize": 1})[0] == 200, "kept")
    locked = flow.watch.attach(flow.browser.new_context().new_page())
    seen = []
    locked.on("request", lambda r: seen.append(r.url))
    locked.goto(locked_url + "/#/repositories")
    sign_in_admin(locked)
    expect(locked.locator("#repo-summary")).to_contain_text("511 repositories")
    expect(locked.locator("#repo-rows tr")).to_have_count(100)
    expect(locked.locator("#page-where")).to_have_text("Page 1 of 6")
    per_row = [u for u in seen if "/api/v1/repositories/" in u]
    check(not per_row, f"requests per row: {per_row[:5]}")
    first = locked.locator("#repo-rows tr").first.get_attribute("data-name")
    locked.get_by_role("button", name="Next page").click()
    expect(locked.locator("#page-where")).to_have_text("Page 2 of 6")
    check(locked.evaluate("location.hash") == "#/repositories?page=2", locked.evaluate("location.hash"))
    check(locked.locator("#repo-rows tr").first.get_attribute("data-name") != first, "page 2 shows page 1")
    locked.go_back()
    expect(locked.locator("#page-where")).to_have_text("Page 1 of 6")
    locked.get_by_label("Search").fill("kept")
    expect(locked.locator("#repo-rows tr")).to_have_count(1)
    locked.get_by_role("link", name="Edit kept").click()
    expect(locked.get_by_role("button", name="Save")).to_be_visible()
    expect(locked.get_by_role("button", name="Delete repository")).to_be_hidden()
    # #33: "Needs attention" with 510 late: the first five, then how many in all and the way to
    # them (listed whole, 2,500 late made the view 48,000 px tall).
    locked.get_by_role("link", name="Monitoring", exact=True).click()
    expect(locked.locator("#attention li.late")).to_have_count(6)
    more = locked.locator("#attention li.late.more")
    expect(more).to_contain_text("510 late in all")
    height = locked.evaluate("document.documentElement.scrollHeight")
    check(height < 4000, f"the monitoring view is {height} px tall with 510 late")
    more.get_by_role("link", name="see them in the list").click()
    check(locked.evaluate("location.hash") == "#/repositories?late=1", locked.evaluate("location.hash"))
    expect(locked.locator("#repo-rows tr")).to_have_count(100)
    locked.context.close()
    # #33: after the throttle, the page says how long to wait (this server is done with).
    wrong = "Basic " + base64.b64encode(b"admin:not-the-password").decode()
    for _ in range(21):
        api("POST", "/api/v1/sign-in", auth=wrong, url=locked_url)
    throttled = flow.watch.attach(flow.browser.new_context().new_page())
    throttled.goto(locked_url + "/#/sign-in")
    throttled.get_by_label("Password", exact=True).fill("still-not-the-password")
    flow.watch.expected.append(429)
    throttled.get_by_role("button", name="Sign in").click()
    expect(throttled.get_by_role("alert")).to_have_text(
        "Too many failed sign-ins from this address: wait a minute, then try again.")
    throttled.context.close()

    # Feature 8: dark mode follows the system, and the theme button overrides it.
    dark = flow.watch.attach(flow.browser.new_context(color_scheme="dark").new_page())
    dark.goto(URL + "/")

    def brightness(pg):
        bg = pg.evaluate("getComputedStyle(document.body).backgroundColor")
        return sum(int(x) for x in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]) / 3

    check(brightness(dark) < 60, "dark mode does not follow the system")
    theme = dark.locator("#theme")
    while theme.text_content() != "Theme: light":
        theme.click()
    check(brightness(dark) > 200, "the light theme does not override a dark system")
    dark.reload()
    expect(theme).to_have_text("Theme: light")
    check(brightness(dark) > 200, "the chosen theme is not kept")
    dark.context.close()


def swagger_ui(flow):
    # 13. Swagger UI at /docs, where people type tokens too: its own CSP, and another origin
    # cannot frame it.
    docs_problems = []
    docs = flow.context.new_page()
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
    framer = flow.browser.new_context().new_page()
    framer.set_content(f'<iframe src="{URL}/docs" width="800" height="600"></iframe>')
    framer.wait_for_timeout(1500)
    framed = [f for f in framer.frames if f != framer.main_frame]
    check(all(f.query_selector(".swagger-ui") is None for f in framed), "/docs rendered in another origin's frame")
    framer.context.close()


def people(flow):
    # #32: the admin adds an operator bound to a tenant in the users view; the operator signs in
    # in another tab-less context and sees only its tenant's repositories, monitoring of them; its
    # account view changes its email; the audit view shows who did what, filtered.
    page = flow.page
    page.goto(URL + "/#/users")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.locator("#user-rows tr[data-user='admin']")).to_be_visible()
    form = page.locator("#user-form")  # the sign-in and first-run forms have a "Name" too
    form.get_by_label("Name", exact=True).fill("olga")
    form.get_by_label("Role").select_option("operator")
    form.get_by_label("Tenant (empty: the whole host)").fill("acme")
    form.get_by_label("Password (at least 12 characters)").fill("olga's long password")
    form.get_by_role("button", name="Add user").click()
    expect(page.locator("#user-rows tr[data-user='olga']")).to_contain_text("acme")
    status, users, _ = api("GET", "/api/v1/users")
    check(status == 200 and any(u["name"] == "olga" and u["tenant"] == "acme" and u["role"] == "operator" for u in users), f"users: {users}")
    # A taken name is said next to the field, and nothing is added.
    form.get_by_label("Name", exact=True).fill("olga")
    form.get_by_label("Password (at least 12 characters)").fill("another long password")
    flow.watch.expected.append(409)
    form.get_by_role("button", name="Add user").click()
    expect(page.locator("#user-name-error")).to_contain_text("already exists")
    flow.a11y += scan(page, "users")
    # The last admin's own removal is not offered.
    check(page.locator("#user-rows tr[data-user='admin'] button").is_disabled(), "the admin may remove itself")
    # A repository of the tenant, made by the admin through the API, and one of the host.
    status, made, _ = api("POST", "/api/v1/repositories", body={"alias": "acme-web", "sshPublicKey": new_key("acme"), "storageSize": 5, "tenant": "acme"})
    check(status == 200, f"a tenant's repository: {made}")

    other = flow.browser.new_context(viewport={"width": 1280, "height": 860})
    olga = flow.watch.attach(other.new_page())
    olga.goto(URL + "/")
    signin = olga.get_by_role("region", name="Sign in")
    signin.get_by_label("Name", exact=True).fill("olga")
    signin.get_by_label("Password", exact=True).fill("olga's long password")
    signin.get_by_role("button", name="Sign in").click()
    expect(olga.locator("#nav")).to_be_visible()
    expect(olga.get_by_role("link", name="Users")).to_be_hidden()
    olga.goto(URL + "/#/repositories")
    expect(olga.locator("#repo-rows tr")).to_have_count(1)
    expect(olga.locator("#repo-rows")).to_contain_text("acme-web")
    # Monitoring sums up her tenant's repositories only (the API filters the host's history).
    olga.get_by_role("link", name="Monitoring").click()
    expect(olga.locator("#totals")).to_contain_text("Repositories1")
    expect(olga.locator("#usage")).not_to_contain_text("laptop")
    expect(olga.locator("#view-monitoring")).not_to_contain_text("never backed up")
    expect(olga.locator("#fired")).not_to_contain_text("late")
    olga.goto(URL + "/#/account")
    expect(olga.get_by_role("heading", name="Your account")).to_be_visible()
    expect(olga.locator("#account-facts")).to_contain_text("acme")
    olga.get_by_label("Email (empty: none)").fill("olga@example.org")
    olga.get_by_role("button", name="Save").click()
    expect(olga.locator("#notice")).to_contain_text("Saved")
    check(api("GET", "/api/v1/users")[1][1]["email"] == "olga@example.org", "the email was not saved")
    flow.a11y += scan(olga, "account (operator)")
    other.close()

    page.goto(URL + "/#/audit")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.locator("#audit-rows")).to_contain_text("user.add")
    expect(page.locator("#audit-rows")).to_contain_text("account.edit")
    page.get_by_label("Who", exact=True).fill("olga")
    page.get_by_role("button", name="Show").click()
    # Olga signed in, then changed her email: newest first.
    expect(page.locator("#audit-rows tr")).to_have_count(2)
    expect(page.locator("#audit-rows tr").first).to_contain_text("account.edit")
    expect(page.locator("#audit-rows tr").last).to_contain_text("sign-in")
    page.get_by_label("What", exact=True).select_option("user")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#audit-none")).to_be_visible()
    flow.a11y += scan(page, "audit")


def first_run(flow):
    # #32: a server with no user offers the first run on its sign-in view, and creates the
    # first admin only with the setup code from its log.
    url = os.environ["BW_URL_FIRST_RUN"]
    context = flow.browser.new_context(viewport={"width": 1280, "height": 860})
    page = flow.watch.attach(context.new_page())
    page.goto(url + "/")
    expect(page.locator("#signin-first-run")).to_be_visible()
    page.get_by_role("link", name="Create the first admin").click()
    expect(page.get_by_role("heading", name="Create the first admin")).to_be_visible()
    flow.a11y += scan(page, "first run")
    screenshots(page, ARTIFACTS, "setup", True)
    setup = page.get_by_role("region", name="Create the first admin")
    setup.get_by_label("Setup code").fill("0000-0000")
    setup.get_by_label("Name", exact=True).fill("root")
    setup.get_by_label("Password (at least 12 characters)").fill("the first admin password")
    flow.watch.expected.append(403)
    setup.get_by_role("button", name="Create the admin and sign in").click()
    expect(page.locator("#setup-code-error")).to_contain_text("Wrong setup code")
    check(api("GET", "/api/v1/setup", url=url)[1] == {"needed": True}, "a wrong code made someone")
    setup.get_by_label("Setup code").fill(os.environ["SETUP_CODE"])
    setup.get_by_role("button", name="Create the admin and sign in").click()
    expect(page.locator("#nav")).to_be_visible()
    expect(page.locator("#notice")).to_contain_text("first admin")
    check(api("GET", "/api/v1/setup", url=url)[1] == {"needed": False}, "the first run is still open")
    context.close()


def provider_sign_in(flow):
    # #32: the sign-in view offers the provider; the browser goes there, logs in, consents, and
    # comes back signed in (the cookie), as the user whose verified email the provider gave.
    url = os.environ["BW_URL_SSO"]
    context = flow.browser.new_context(viewport={"width": 1280, "height": 860})
    # Not watched for console errors: the provider's own development pages load fonts from
    # elsewhere, which this machine cannot reach. Ours are checked by what they show.
    page = context.new_page()
    page.goto(url + "/#/repositories")
    link = page.get_by_role("link", name="Sign in with Company SSO")
    expect(link).to_be_visible()
    flow.a11y += scan(page, "sign-in with a provider")
    link.click()
    page.locator("input[name=login]").fill("alice@example.org")
    page.locator("input[name=password]").fill("anything")
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]").click()  # the provider's consent
    expect(page.locator("#nav")).to_be_visible()
    expect(page.get_by_role("heading", name="Repositories")).to_be_visible()
    page.goto(url + "/#/account")
    expect(page.locator("#account-facts")).to_contain_text("alice")
    expect(page.locator("#error")).to_be_hidden()
    check(any(c["name"] == "bw_sign_in" and c["httpOnly"] for c in context.cookies()), "no sign-in cookie after the provider")
    # Someone the provider knows but this server does not: told so, not signed in.
    stranger = flow.browser.new_context().new_page()
    stranger.goto(url + "/")
    stranger.get_by_role("link", name="Sign in with Company SSO").click()
    stranger.locator("input[name=login]").fill("bob@example.org")
    stranger.locator("input[name=password]").fill("anything")
    stranger.locator("button[type=submit]").click()
    stranger.locator("button[type=submit]").click()
    expect(stranger.get_by_role("alert")).to_contain_text("no account here has your email")
    expect(stranger.locator("#nav")).to_be_hidden()
    stranger.context.close()
    context.close()


def nothing_went_wrong(flow):
    check(not flow.a11y, "accessibility:\n" + "\n".join(flow.a11y))
    check(not flow.dialogs, f"a dialog opened (a script ran?): {flow.dialogs}")
    foreign = [u for u in flow.requests if not u.startswith(URL + "/")]
    check(not foreign, f"resources from elsewhere: {foreign}")
    check(not flow.watch.problems, f"console errors: {flow.watch.problems} (failed answers: {flow.watch.failed})")
    check(not flow.watch.expected, f"an error provoked on purpose was not shown: {flow.watch.expected}")
    flow.browser.close()


STEPS = [the_page_and_its_headers, sign_in, add_a_repository, a_real_backup, edit_everything, tokens, server_facts, an_html_alias_stays_text, search_filter_and_sort, a_phone, people, first_run, provider_sign_in, every_view_scanned, delete, a_larger_host, swagger_ui]


def main():
    flow = Flow()
    with sync_playwright() as p:
        open_browser(flow, p)
        for step in STEPS:
            step(flow)
        nothing_went_wrong(flow)
    print("dashboard flows: ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"dashboard flows: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
