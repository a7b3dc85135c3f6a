# Shell functions shared by .ci/check-deb and .ci/check-guide: a real sshd on a free 127.0.0.1
# port, and a real borg backup through it. Sourced, not run.

# free_port: a port nothing listens on.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_sshd DIR USER [EXTRA_FILE]: sshd with StrictModes yes for USER, its files in DIR, the
# lines of EXTRA_FILE appended; sets SSHD_PID and SSHD_PORT.
start_sshd() {
  local dir=$1 user=$2 extra=${3:-/dev/null}
  mkdir -p /run/sshd "$dir"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
  SSHD_PORT=$(free_port)
  {
    printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\n' "$SSHD_PORT" "$dir/host_key" "$dir/sshd.pid"
    printf 'StrictModes yes\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n'
    printf 'UsePAM no\nAllowUsers %s\n' "$user"
    cat "$extra"
  } >"$dir/sshd_config"
  /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
  SSHD_PID=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT") 2>/dev/null && break; sleep 0.1; done
}

# borg_backup DIR KEY URL FILE: borg init and create of FILE into URL with the client KEY.
borg_backup() {
  local dir=$1 key=$2 url=$3 file=$4
  export BORG_RSH="ssh -i $key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -p $SSHD_PORT"
  export BORG_BASE_DIR="$dir/borg" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
  borg init -e none "$url" 2>"$dir/borg.err" || { cat "$dir/borg.err" "$dir/sshd.log" >&2; return 1; }
  borg create "$url::first" "$file" 2>"$dir/borg.err" || { cat "$dir/borg.err" >&2; return 1; }
}

# fresh_log LOG OWNER: LOG emptied (or made) and given to OWNER, before a server is started
# in the background writing to it (>>). Emptied here, not by the background job's own ">": the
# job opens its file after this script goes on, and wait_listening then read the previous
# server's "listening on" line (a restart failed once: the old line found, the file emptied
# before its port was read).
fresh_log() {
  : >"$1"
  chown "$2" "$1"
}

# wait_listening LOG: the port our server says it listens on, once it says so. Up to a minute:
# a start fsyncs the store and the key files, which a busy disk (a build writing beside it) can
# hold up for seconds.
wait_listening() {
  local log=$1
  for _ in $(seq 600); do grep -q 'listening on http://' "$log" && break; sleep 0.1; done
  sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -1
}

# create_repo PORT TOKEN PUBKEY_FILE: the new repository's name.
create_repo() {
  curl -sf -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    -d "{\"alias\":\"ci\",\"sshPublicKey\":\"$(cat "$3")\",\"storageSize\":1,\"alert\":90000}" \
    "http://127.0.0.1:$1/api/v1/repositories" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["repositoryName"])'
}

# block HEADING N: the Nth indented code block of docs/deployment.md's section HEADING (up to
# the next "## " heading), dedented: the scripts run the guide's own commands.
block() {
  python3 - docs/deployment.md "$1" "$2" <<'PY'
import sys
text, heading, n = open(sys.argv[1]).read().split("\n"), sys.argv[2], int(sys.argv[3])
start = text.index(heading)
end = next((i for i in range(start + 1, len(text)) if text[i].startswith("## ")), len(text))
blocks, cur = [], []
for line in text[start + 1:end] + [""]:
    if line.startswith("    ") or (cur and line == ""):
        cur.append(line[4:])
    elif cur:
        blocks.append("\n".join(cur).strip("\n")); cur = []
if cur: blocks.append("\n".join(cur).strip("\n"))
print(blocks[n - 1])
PY
}
