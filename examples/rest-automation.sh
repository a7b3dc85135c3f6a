#!/usr/bin/env bash
# REST automation against a BorgWarehouse-compatible server: add, list, edit and delete a
# repository with an API token, as a curl script, an Ansible role or Terraform would.
#
#   BW_URL=http://127.0.0.1:3000 BW_TOKEN=$(borgwarehouse token create --name demo \
#       --permissions create,read,update,delete | tail -n1) ./examples/rest-automation.sh
#
# Needs curl and jq. SSH_PUBLIC_KEY (a client's public key line) is generated when unset.
set -euo pipefail
: "${BW_URL:=http://127.0.0.1:3000}"
: "${BW_TOKEN:?set BW_TOKEN to a token with create,read,update,delete}"

api() { # METHOD PATH [JSON]
  local args=(-sS --fail-with-body -X "$1" -H "Authorization: Bearer $BW_TOKEN" "$BW_URL$2")
  if [ $# -ge 3 ]; then args+=(-H "Content-Type: application/json" --data-raw "$3"); fi
  curl "${args[@]}"
}

if [ -z "${SSH_PUBLIC_KEY:-}" ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  ssh-keygen -q -t ed25519 -N "" -C "demo@example" -f "$tmp/key"
  SSH_PUBLIC_KEY=$(cat "$tmp/key.pub")
fi

echo "server version: $(curl -sS "$BW_URL/api/v1/version" | jq -r .version)"

created=$(api POST /api/v1/repositories "$(jq -n --arg key "$SSH_PUBLIC_KEY" \
  '{alias: "demo", sshPublicKey: $key, storageSize: 10, alert: 90000, comment: "made by rest-automation.sh"}')")
name=$(jq -r .repositoryName <<<"$created")
echo "created repository $name (id $(jq -r .id <<<"$created"))"

echo "repositories:"
api GET /api/v1/repositories | jq -r '.repoList[] | "  \(.id)\t\(.repositoryName)\t\(.alias)\t\(.storageSize) GB"'

api PATCH "/api/v1/repositories/$name" '{"storageSize": 20, "appendOnlyMode": true}' >/dev/null
echo "edited: $(api GET "/api/v1/repositories/$name" | jq -c '.repo | {storageSize, appendOnlyMode}')"

echo "a client backs up with: borg init -e repokey ssh://BORG_USER@HOST/./$name"

api DELETE "/api/v1/repositories/$name" >/dev/null
echo "deleted $name"
