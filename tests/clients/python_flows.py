"""The main flows through a client that openapi-python-client generated from the committed
document, as an automation engineer would write them. Run by tests/api/generated_clients.rs:

    python3 python_flows.py BASE_URL ADMIN_USER ADMIN_PASSWORD CRON_KEY SSH_KEY

The only hand-written authentication is the administrator's Basic header: openapi-python-client
has no support for HTTP Basic. Every answer must parse into the generated models, and a status
the document does not list raises (raise_on_unexpected_status).
"""

import base64
import sys

from borg_warehouse_api_client import AuthenticatedClient, Client
from borg_warehouse_api_client.api.cron_2_x_paths import check_status
from borg_warehouse_api_client.api.cron_v_1_3_x_paths import run_storage_check_by_get
from borg_warehouse_api_client.api.repositories_2_x_paths import add_repo, edit_repo_by_id, get_repo_by_id, list_repos
from borg_warehouse_api_client.api.repositories_v_1_3_x_paths import (
    create_repository,
    delete_repository_by_name,
    get_repository_by_name,
    list_repositories,
    update_repository_by_name,
)
from borg_warehouse_api_client.api.tokens_v_1_3_x_paths import (
    create_integration_token,
    delete_integration_token,
    list_integration_tokens,
)
from borg_warehouse_api_client.api.version import get_server_version, get_version
from borg_warehouse_api_client.models import (
    CronSuccess,
    Error,
    Message,
    Permissions,
    RepoCreate,
    RepoCreateAlert,
    RepoCreateV1,
    RepoEdit,
    RepoEditAlert,
    RepoOne,
    RepositoryList,
    TokenCreate,
    TokenCreated,
    TokenDelete,
    VersionBody,
)

base_url, admin_user, admin_password, cron_key, ssh_key = sys.argv[1:6]
steps = []


def check(what, condition):
    if not condition:
        raise AssertionError(what)
    steps.append(what)


public = Client(base_url=base_url, raise_on_unexpected_status=True)
check("version", isinstance(get_version.sync(client=public), VersionBody))
check("v1 version", get_server_version.sync(client=public).version == get_version.sync(client=public).version)

basic = base64.b64encode(f"{admin_user}:{admin_password}".encode()).decode()
admin = Client(base_url=base_url, headers={"Authorization": f"Basic {basic}"}, raise_on_unexpected_status=True)
all_four = Permissions(create=True, read=True, update=True, delete=True)
created_token = create_integration_token.sync(client=admin, body=TokenCreate(name="python", permissions=all_four))
check("token created", isinstance(created_token, TokenCreated) and len(created_token.token) > 40)
names = [t.name for t in list_integration_tokens.sync(client=admin)]
check("token listed", "python" in names)

api = AuthenticatedClient(base_url=base_url, token=created_token.token, raise_on_unexpected_status=True)
created = create_repository.sync(client=api, body=RepoCreateV1(alias="python", ssh_public_key=ssh_key, storage_size=10))
check("repository created (v1)", created is not None and len(created.repository_name) == 8)
listed = list_repositories.sync(client=api)
check("repository listed", isinstance(listed, RepositoryList) and [r.alias for r in listed.repo_list] == ["python"])
one = get_repository_by_name.sync(created.repository_name, client=api)
check("repository by name", isinstance(one, RepoOne) and one.repo.storage_size == 10 and one.repo.id == created.id)
edited = update_repository_by_name.sync(
    created.repository_name, client=api, body=RepoEdit(alias="python, edited", alert=RepoEditAlert.VALUE_90000)
)
check("repository edited (v1)", isinstance(edited, Message) and edited.message == "success")
by_id = get_repo_by_id.sync(created.id, client=api)
check("repository by id", by_id.repo.alias == "python, edited" and by_id.repo.alert == 90000)
check("repository edited by id", edit_repo_by_id.sync(created.id, client=api, body=RepoEdit(comment="seed path")).message == "success")
check("seed list", list_repos.sync(client=api).repo_list[0].comment == "seed path")

# A refusal parses into the document's error model.
missing = get_repository_by_name.sync_detailed("abcdef12", client=api)
check("404 parses", missing.status_code == 404 and isinstance(missing.parsed, Error) and "abcdef12" in missing.parsed.message)
taken = add_repo.sync_detailed(
    client=api,
    body=RepoCreate(
        alias="twin", ssh_public_key=ssh_key, storage_size=1, comment="", alert=RepoCreateAlert.VALUE_0,
        lan_command=False, append_only_mode=False,
    ),
)
check("409 parses", taken.status_code == 409 and isinstance(taken.parsed, Error))
stranger = AuthenticatedClient(base_url=base_url, token="bw_unknown", raise_on_unexpected_status=True)
refused = list_repositories.sync_detailed(client=stranger)
check("403 parses", refused.status_code == 403 and refused.parsed.message == "Invalid API key")

cron = AuthenticatedClient(base_url=base_url, token=cron_key, raise_on_unexpected_status=True)
check("status check", isinstance(check_status.sync(client=cron), CronSuccess))
check("storage check by GET", isinstance(run_storage_check_by_get.sync(client=cron), CronSuccess))

check("repository deleted", delete_repository_by_name.sync(created.repository_name, client=api).message == "success")
check("none left", list_repositories.sync(client=api).repo_list == [])
check("token revoked", delete_integration_token.sync(client=admin, body=TokenDelete(name="python")).message == "success")
print(f"python client: {len(steps)} steps passed: " + ", ".join(steps))
