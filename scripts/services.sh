#!/usr/bin/env bash
# Starts, stops and describes the real components berth's tests talk to: dockerd, etcd,
# PostgreSQL, sshd and a registry. Everything listens on 127.0.0.1 only, on uncommon ports,
# and is started without systemd (PID 1 here is not systemd), so the same script works on a
# laptop, a CI runner and these machines.
#
#   scripts/services.sh start   # idempotent; a no-op (< 1 s) when everything is already up
#   scripts/services.sh stop    # stops only what this script started, by pid file
#   scripts/services.sh env     # prints `export BERTH_TEST_...=...` lines for the tests
#   scripts/services.sh status  # one line per component
#
# Overrides: BERTH_TEST_SERVICES_DIR (run dir), BERTH_TEST_SSH_DIR (sshd keys; must not be
# under /tmp because sshd's StrictModes refuses world-writable parents), BERTH_TEST_*_PORT.
set -euo pipefail

RUN_DIR=${BERTH_TEST_SERVICES_DIR:-/tmp/berth-test-services}
SSH_DIR=${BERTH_TEST_SSH_DIR:-/var/lib/berth-test/ssh}
PG_BIN=${BERTH_TEST_PG_BIN:-/usr/lib/postgresql/15/bin}
ETCD_PORT=${BERTH_TEST_ETCD_PORT:-23790}
ETCD_PEER_PORT=${BERTH_TEST_ETCD_PEER_PORT:-23800}
PG_PORT=${BERTH_TEST_PG_PORT:-54329}
SSH_PORT=${BERTH_TEST_SSH_PORT:-22220}
REGISTRY_PORT=${BERTH_TEST_REGISTRY_PORT:-5055}
PG_DB=berth_test
ENV_FILE=$RUN_DIR/env

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

# --- small helpers -------------------------------------------------------------------------

# True when something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp: no extra tools).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when process $1 exists and is not a zombie (a zombie keeps its /proc entry and name).
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [[ ${stat##*) } != Z* ]]
}

# True when the pid in file $1 is alive and its command name is $2: a stale pid file whose
# number was reused by another program must not count as ours.
pid_is() {
  local file=$1 comm=$2 pid
  [[ -s $file ]] || return 1
  pid=$(head -n1 "$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]]
}

# Says who holds a port, for the error message (ss may be missing on minimal machines).
port_holder() {
  if command -v ss >/dev/null; then ss -Hltnp "sport = :$1" 2>/dev/null | sed 's/^/    /'; fi
}

# Polls `$3...` every 0.1 s for at most $2 seconds; on time-out shows the log named $1.
wait_until() {
  local logfile=$1 seconds=$2 i
  shift 2
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  log "gave up after ${seconds}s waiting for: $*"
  [[ -f $logfile ]] && tail -n 20 "$logfile" >&2
  return 1
}

# Decides what to do for one component: "up" (ours, running), "start" (port free), or dies
# when the port belongs to someone else, because tests must never talk to a stranger's server.
claim() {
  local name=$1 port=$2 pidfile=$3 comm=$4 portvar=$5
  if pid_is "$pidfile" "$comm"; then
    if port_open "$port"; then echo up; return; fi
    # Ours but not listening yet (another start still waiting?): give it a moment.
    if wait_until "$RUN_DIR/$name.log" 15 port_open "$port"; then echo up; return; fi
    die "$name (pid $(head -n1 "$pidfile")) runs but does not listen on 127.0.0.1:$port; see $RUN_DIR/$name.log, or run: $0 stop"
  fi
  if port_open "$port"; then
    die "127.0.0.1:$port is taken by a process this script did not start:
$(port_holder "$port")
    stop it, or choose another port with $portvar"
  fi
  echo start
}

# Runs a server in its own session (so a test runner killing its process group leaves it
# alone), output to a log file, and records its pid. setsid execs without forking here
# because a background job of a non-interactive shell is not a process-group leader.
# `9>&-`: a server must not inherit the lock, or the next start would wait for it forever.
spawn() {
  local name=$1
  shift
  setsid "$@" >>"$RUN_DIR/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN_DIR/$name.pid"
}

# --- components ----------------------------------------------------------------------------

start_dockerd() {
  # A dockerd someone else started (by hand, or systemd on a laptop) is fine to share: tests
  # name and remove their own containers by id.
  if docker info >/dev/null 2>&1; then return; fi
  pid_is "$RUN_DIR/dockerd.pid" dockerd && die "our dockerd (pid $(head -n1 "$RUN_DIR/dockerd.pid")) does not answer; see $RUN_DIR/dockerd.log"
  log "starting dockerd"
  # Local clusters take their subnets from 10.210.0.0/16 (src/local-cluster/subnet.ts) and
  # run a plain-HTTP registry at .2 of each: trusting the pool lets images be pushed from
  # here directly instead of through a node (30 s less for the main job's 315 MB installer).
  spawn dockerd dockerd --insecure-registry 10.210.0.0/16
  wait_until "$RUN_DIR/dockerd.log" 60 eval 'docker info >/dev/null 2>&1' || die "dockerd did not come up; see $RUN_DIR/dockerd.log"
}

etcd_healthy() { ETCDCTL_API=3 etcdctl --endpoints="http://127.0.0.1:$ETCD_PORT" --dial-timeout=1s endpoint health >/dev/null 2>&1; }

start_etcd() {
  local state
  state=$(claim etcd "$ETCD_PORT" "$RUN_DIR/etcd.pid" etcd BERTH_TEST_ETCD_PORT) # dies (set -e) when the port is not ours
  [[ $state == up ]] && return
  port_open "$ETCD_PEER_PORT" && die "etcd's peer port 127.0.0.1:$ETCD_PEER_PORT is taken; choose another with BERTH_TEST_ETCD_PEER_PORT"
  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  mkdir -p "$RUN_DIR/etcd" && chmod 700 "$RUN_DIR/etcd"
  # Peer URLs on loopback too: a single member, but etcd still binds its peer listener.
  spawn etcd etcd --name berth-test --data-dir "$RUN_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "berth-test=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new
  wait_until "$RUN_DIR/etcd.log" 30 etcd_healthy || die "etcd did not become healthy; see $RUN_DIR/etcd.log"
}

pg_psql() { runuser -u postgres -- "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtX "$@"; }

start_postgres() {
  local dir=$RUN_DIR/pg state
  state=$(claim postgres "$PG_PORT" "$dir/data/postmaster.pid" postgres BERTH_TEST_PG_PORT) # dies (set -e) when the port is not ours
  [[ $state == up ]] && return
  [[ -x $PG_BIN/initdb ]] || die "PostgreSQL not found in $PG_BIN; run scripts/setup.sh or set BERTH_TEST_PG_BIN"
  # initdb and the server refuse to run as root, so the cluster belongs to postgres.
  mkdir -p "$dir/sock"
  chown -R postgres:postgres "$dir"
  if [[ ! -s $dir/data/PG_VERSION ]]; then
    log "creating a PostgreSQL cluster in $dir/data"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync --no-locale -E UTF8 >"$dir/initdb.log" 2>&1 ||
      { tail -n 20 "$dir/initdb.log" >&2; die "initdb failed; see $dir/initdb.log"; }
  fi
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  # Durability is not a test concern; skipping fsync makes schema set-up per test cheap.
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null 9>&- || { tail -n 20 "$dir/postgres.log" >&2; die "PostgreSQL did not start; see $dir/postgres.log"; }
  if [[ -z $(pg_psql -c "select 1 from pg_database where datname = '$PG_DB'") ]]; then
    pg_psql -c "create database $PG_DB" || die "could not create database $PG_DB"
  fi
}

# Writes sshd's keys and config; keys survive restarts so known host keys stay valid.
prepare_sshd() {
  install -d -m 700 "$SSH_DIR"
  install -d -m 755 /run/sshd # sshd's privilege-separation directory; /run is empty at boot
  [[ -s $SSH_DIR/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C berth-test-host -f "$SSH_DIR/ssh_host_ed25519_key"
  [[ -s $SSH_DIR/client_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C berth-test-client -f "$SSH_DIR/client_ed25519"
  install -m 600 "$SSH_DIR/client_ed25519.pub" "$SSH_DIR/authorized_keys"
  cat >"$SSH_DIR/sshd_config" <<EOF
# Written by scripts/services.sh: a test sshd on loopback, keys only.
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSH_DIR/ssh_host_ed25519_key
PidFile $RUN_DIR/sshd.pid
AuthorizedKeysFile $SSH_DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
# Tests fan out to many sessions at once (uploads to 9 machines are simulated here).
MaxStartups 100
MaxSessions 100
# In-process SFTP: an external sftp-server is started through root's login shell, and
# this host's shell start-up files (pyenv and the like) cost 0.2 s of CPU per session.
Subsystem sftp internal-sftp
EOF
  chmod 600 "$SSH_DIR/sshd_config"
}

start_sshd() {
  local state
  state=$(claim sshd "$SSH_PORT" "$RUN_DIR/sshd.pid" sshd BERTH_TEST_SSH_PORT) # dies (set -e) when the port is not ours
  [[ $state == up ]] && return
  log "starting sshd on 127.0.0.1:$SSH_PORT"
  prepare_sshd
  /usr/sbin/sshd -t -f "$SSH_DIR/sshd_config" || die "sshd rejects $SSH_DIR/sshd_config"
  # Without -D sshd daemonises itself and writes PidFile once it listens.
  /usr/sbin/sshd -f "$SSH_DIR/sshd_config" -E "$RUN_DIR/sshd.log" 9>&-
  wait_until "$RUN_DIR/sshd.log" 10 port_open "$SSH_PORT" || die "sshd did not listen; see $RUN_DIR/sshd.log"
  wait_until "$RUN_DIR/sshd.log" 5 pid_is "$RUN_DIR/sshd.pid" sshd || die "sshd wrote no pid file; see $RUN_DIR/sshd.log"
}

start_registry() {
  local dir=$RUN_DIR/registry state
  state=$(claim registry "$REGISTRY_PORT" "$RUN_DIR/registry.pid" docker-registry BERTH_TEST_REGISTRY_PORT) # dies (set -e) when the port is not ours
  [[ $state == up ]] && return
  log "starting the registry on 127.0.0.1:$REGISTRY_PORT"
  mkdir -p "$dir/data"
  # No auth and no health probe of storage: a throwaway registry for pushes from tests.
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
EOF
  spawn registry docker-registry serve "$dir/config.yml"
  wait_until "$RUN_DIR/registry.log" 15 port_open "$REGISTRY_PORT" || die "the registry did not listen; see $RUN_DIR/registry.log"
  pid_is "$RUN_DIR/registry.pid" docker-registry || die "the registry's pid file does not point at it; see $RUN_DIR/registry.log"
}

write_env() {
  local tmp=$ENV_FILE.tmp
  cat >"$tmp" <<EOF
export BERTH_TEST_ETCD='http://127.0.0.1:$ETCD_PORT'
export BERTH_TEST_PG='postgres://postgres@127.0.0.1:$PG_PORT/$PG_DB'
export BERTH_TEST_SSH_HOST='127.0.0.1'
export BERTH_TEST_SSH_PORT='$SSH_PORT'
export BERTH_TEST_SSH_USER='root'
export BERTH_TEST_SSH_KEY='$SSH_DIR/client_ed25519'
export BERTH_TEST_SSH_HOSTKEY_PUB='$SSH_DIR/ssh_host_ed25519_key.pub'
export BERTH_TEST_REGISTRY='127.0.0.1:$REGISTRY_PORT'
export BERTH_TEST_DOCKER='unix:///var/run/docker.sock'
EOF
  if ! cmp -s "$tmp" "$ENV_FILE"; then mv "$tmp" "$ENV_FILE"; else rm -f "$tmp"; fi
}

# --- stopping ------------------------------------------------------------------------------

# Sends SIGTERM to the pid in file $1 if it is ours ($2 = command name) and waits for it.
stop_pid() {
  local file=$1 comm=$2 pid i
  pid_is "$file" "$comm" || { rm -f "$file"; return 0; }
  pid=$(head -n1 "$file")
  log "stopping $comm (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  alive "$pid" && die "$comm (pid $pid) did not stop within 30 s"
  rm -f "$file"
}

stop_all() {
  rm -f "$ENV_FILE"
  stop_pid "$RUN_DIR/registry.pid" docker-registry
  stop_pid "$RUN_DIR/sshd.pid" sshd
  stop_pid "$RUN_DIR/etcd.pid" etcd
  if pid_is "$RUN_DIR/pg/data/postmaster.pid" postgres; then
    log "stopping PostgreSQL"
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg/data" -m fast -w stop >/dev/null
  fi
  # Only a dockerd this script started; one started by hand or by systemd is left alone.
  stop_pid "$RUN_DIR/dockerd.pid" dockerd
}

# Prints "up" or "down" for the check "$@".
up_or_down() { if "$@" >/dev/null 2>&1; then echo up; else echo down; fi; }

status_all() {
  printf '%-9s %s\n' dockerd "$(up_or_down docker info)" \
    etcd "$(up_or_down pid_is "$RUN_DIR/etcd.pid" etcd) 127.0.0.1:$ETCD_PORT" \
    postgres "$(up_or_down pid_is "$RUN_DIR/pg/data/postmaster.pid" postgres) 127.0.0.1:$PG_PORT" \
    sshd "$(up_or_down pid_is "$RUN_DIR/sshd.pid" sshd) 127.0.0.1:$SSH_PORT" \
    registry "$(up_or_down pid_is "$RUN_DIR/registry.pid" docker-registry) 127.0.0.1:$REGISTRY_PORT"
}

main() {
  [[ $(id -u) == 0 ]] || die "run as root: it starts sshd and runs PostgreSQL as the postgres user"
  # 0755 so the postgres user can reach its data directory below it.
  install -d -m 755 "$RUN_DIR"
  # One start or stop at a time: two test runs starting at once must not race for a port.
  exec 9>"$RUN_DIR/lock"
  flock -w 120 9 || die "another services.sh has held $RUN_DIR/lock for 2 minutes"
  case ${1:-} in
    start)
      start_dockerd
      start_etcd
      start_postgres
      start_sshd
      start_registry
      write_env
      ;;
    dockerd) start_dockerd ;; # the local cluster needs only dockerd
    stop) stop_all ;;
    env)
      [[ -s $ENV_FILE ]] || die "no services are running; run: $0 start"
      cat "$ENV_FILE"
      ;;
    status) status_all ;;
    *) die "usage: $0 start|dockerd|stop|env|status" ;;
  esac
}

main "$@"
