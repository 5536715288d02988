#!/usr/bin/env bash
# A one-node SLURM cluster on 127.0.0.1, for tests and for trying the submitit launcher locally.
#
#   slurm/local-cluster.sh start [--fake-gpus N]   install if needed, start, wait for an idle node
#   slurm/local-cluster.sh stop                    stop what `start` started (by recorded PIDs)
#   slurm/local-cluster.sh status                  say which daemons run; exit 0 only if all do
#
# Root only. Everything lives in one state directory ($REASONING_SLURM_DIR, default
# /tmp/reasoning-slurm): configs, pidfiles, logs, spool, the MariaDB data dir, the munge socket.
# Client commands (sbatch, squeue, sacct, submitit) find the cluster through
#   export SLURM_CONF=$REASONING_SLURM_DIR/etc/slurm.conf
# and, as a convenience, through a symlink /etc/slurm/slurm.conf -> that file, which `start`
# creates only when /etc/slurm/slurm.conf does not exist yet and `stop` removes again.
#
# Daemons (in start order): munged (as the munge user), mariadbd (unix socket only), slurmdbd,
# slurmctld, slurmd. No systemd is needed or used. `start` is idempotent: daemons already running
# are left alone, except that a changed slurm.conf/gres.conf (e.g. a different --fake-gpus)
# restarts slurmctld and slurmd, because SLURM only reads GRES at daemon start.
set -euo pipefail

STATE_DIR=${REASONING_SLURM_DIR:-/tmp/reasoning-slurm}
CLUSTER_NAME=reasoning
PARTITION=debug
NODE=localhost                      # NodeName; the machine's hostname need not resolve
CTLD_PORT=${REASONING_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${REASONING_SLURM_SLURMD_PORT:-6818}
DBD_PORT=${REASONING_SLURM_DBD_PORT:-6819}
WAIT_S=${REASONING_SLURM_WAIT_S:-60}  # how long each wait loop may take before giving up
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)

ETC=$STATE_DIR/etc
RUN=$STATE_DIR/run
LOG=$STATE_DIR/log
SPOOL=$STATE_DIR/spool
DB_DIR=$STATE_DIR/mysql
MUNGE_DIR=$STATE_DIR/munge          # owned by munge: munged refuses dirs it does not trust
DEV_DIR=$STATE_DIR/dev              # fake GPU device nodes
DB_SOCKET=$RUN/mysqld.sock
MUNGE_SOCKET=$MUNGE_DIR/munge.socket
SYSTEM_CONF=/etc/slurm/slurm.conf

export SLURM_CONF=$ETC/slurm.conf
# slurmdbd's MySQL client library connects to "localhost" through this socket.
export MYSQL_UNIX_PORT=$DB_SOCKET

T0=$(date +%s.%N)

log() { printf '[local-cluster %5ss] %s\n' "$(elapsed)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# Exit status 3 means "could not install SLURM" (no apt-get, no package registry): callers such
# as the pytest fixture skip on it instead of failing.
die_install() { log "ERROR: $*"; exit 3; }
elapsed() { awk -v t0="$T0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f", t1 - t0 }'; }

# ---------------------------------------------------------------------------------------------
# Processes: every daemon has a pidfile in $RUN, and we only ever signal a PID from there after
# checking that /proc/PID/comm still names the daemon we expect (PIDs get reused).
# ---------------------------------------------------------------------------------------------
pidfile() { echo "$RUN/$1.pid"; }

# proc_is PID COMM: true if PID is alive (not a zombie) and is the expected program.
proc_is() {
    [[ -n $1 && -r /proc/$1/comm && $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]] || return 1
    [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# recorded_pid NAME: the PID in NAME's pidfile, or nothing (daemons delete it when they exit).
recorded_pid() { tr -dc '0-9' 2>/dev/null <"$(pidfile "$1")" || true; }

# running NAME COMM: true if the PID recorded for NAME is alive and is the expected program.
running() { proc_is "$(recorded_pid "$1")" "$2"; }

# wait_for DESCRIPTION LOGFILE COMMAND...: poll COMMAND until it succeeds or WAIT_S pass.
wait_for() {
    local what=$1 logfile=$2 deadline
    shift 2
    deadline=$(($(date +%s) + WAIT_S))
    until "$@" >/dev/null 2>&1; do
        if (($(date +%s) >= deadline)); then
            log "timed out after ${WAIT_S}s waiting for $what"
            [[ -n $logfile && -f $logfile ]] && { log "last lines of $logfile:"; tail -n 20 "$logfile" >&2; }
            exit 1
        fi
        sleep 0.2
    done
}

# ensure_port_free PORT WHO: a second cluster (or a system slurm) on the same port would answer
# our readiness checks in our daemon's stead, so refuse to start on a busy port.
ensure_port_free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        die "port $1 (for $2) is already in use: another SLURM running? (ports: REASONING_SLURM_*_PORT)"
    fi
}

# stop_daemon NAME COMM: SIGTERM the recorded PID, wait, SIGKILL if it will not go.
stop_daemon() {
    local name=$1 comm=$2 pid i
    pid=$(recorded_pid "$name")
    if proc_is "$pid" "$comm"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do          # 20 s
            proc_is "$pid" "$comm" || break
            sleep 0.2
        done
        if proc_is "$pid" "$comm"; then
            log "$name did not exit on SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    rm -f "$(pidfile "$name")"
}

# ---------------------------------------------------------------------------------------------
# Installation
# ---------------------------------------------------------------------------------------------
have_binaries() {
    local b
    for b in slurmctld slurmd slurmdbd munged mariadbd mariadb-install-db sbatch sacct sacctmgr; do
        command -v "$b" >/dev/null 2>&1 || return 1
    done
}

install_packages() {
    have_binaries && return 0
    command -v apt-get >/dev/null || die_install "slurm is not installed and there is no apt-get to install it"
    log "installing ${PACKAGES[*]} (log: $LOG/apt.log)"
    # Without systemd, package scripts would try to start munge/mariadb/slurm with Debian's
    # default configs; a policy-rc.d that says 101 ("not allowed") keeps them from doing so.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    local rc=0
    {
        export DEBIAN_FRONTEND=noninteractive
        local apt=(apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold)
        # Try the package lists we have first; refresh them only if that fails (saves ~5-10 s).
        "${apt[@]}" "${PACKAGES[@]}" || { apt-get update -q && "${apt[@]}" "${PACKAGES[@]}"; }
    } >>"$LOG/apt.log" 2>&1 || rc=$?
    ((made_policy)) && rm -f "$policy"
    ((rc == 0)) || { tail -n 20 "$LOG/apt.log" >&2; die_install "apt-get install failed (see $LOG/apt.log)"; }
    have_binaries || die_install "packages installed but some daemons are still missing"
    log "installed"
}

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
make_dirs() {
    mkdir -p "$ETC" "$RUN" "$LOG" "$SPOOL/ctld" "$SPOOL/d" "$DEV_DIR"
    chmod 755 "$STATE_DIR"
    # munged checks that its socket/pid/seed/log locations are owned by it and not writable
    # by others, so its log lives here and not in $LOG.
    mkdir -p "$MUNGE_DIR"
    chown munge:munge "$MUNGE_DIR"
    chmod 755 "$MUNGE_DIR"
}

# write_if_changed FILE: read new contents from stdin; return 0 if FILE changed.
write_if_changed() {
    local tmp
    tmp=$(mktemp "$1.XXXX")
    cat >"$tmp"
    if [[ -f $1 ]] && cmp -s "$tmp" "$1"; then
        rm -f "$tmp"
        return 1
    fi
    mv "$tmp" "$1"
    return 0
}

# write_configs FAKE_GPUS: writes slurm.conf, gres.conf, slurmdbd.conf. Sets CONF_CHANGED=1
# when slurm.conf or gres.conf differ from what was there (running daemons must restart).
write_configs() {
    local gpus=$1 cpus mem_mib real_mem gres_line=""
    cpus=$(nproc)
    mem_mib=$(free -m | awk '/^Mem:/ {print $2}')
    # Slightly below the total: slurmd drains a node that reports less memory than configured.
    real_mem=$((mem_mib * 95 / 100))
    # With no GresTypes at all, a GPU request is refused at submit time with "Invalid generic
    # resource (gres) specification" -- a clearer failure than "node configuration not available".
    local gres_types="# no GRES: GPU requests are refused"
    if ((gpus > 0)); then
        gres_types="GresTypes=gpu"
        gres_line="Gres=gpu:$gpus"
    fi
    CONF_CHANGED=0

    write_if_changed "$ETC/slurm.conf" <<EOF && CONF_CHANGED=1
# Generated by slurm/local-cluster.sh; edits are overwritten on the next start.
ClusterName=$CLUSTER_NAME
# The machine's hostname is not "localhost"; the address in brackets is what clients dial.
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job otherwise waits 120 s before it may run again.
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=5
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$(pidfile slurmctld)
SlurmdPidFile=$(pidfile slurmd)
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
# No cgroups needed: track processes by parent PID, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=300
InactiveLimit=0
# Schedule every couple of seconds instead of every 30/60 s.
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((real_mem / cpus))
# Accounting: submitit reads job states with sacct, which needs slurmdbd.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# For slurmdbd connections (sacct, sacctmgr, slurmctld) this names the munge socket; AuthInfo's
# socket= is not used there.
AccountingStoragePass=$MUNGE_SOCKET
JobCompType=jobcomp/none
$gres_types
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem $gres_line State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

    local gres=""
    if ((gpus > 0)); then
        # GRES files must be character devices; clones of /dev/null (1,3) do.
        local i
        for ((i = 0; i < gpus; i++)); do
            [[ -c $DEV_DIR/fakegpu$i ]] || mknod "$DEV_DIR/fakegpu$i" c 1 3
        done
        gres="NodeName=$NODE Name=gpu File=$DEV_DIR/fakegpu[0-$((gpus - 1))]"
    fi
    printf '# Generated by slurm/local-cluster.sh\n%s\n' "$gres" \
        | write_if_changed "$ETC/gres.conf" && CONF_CHANGED=1

    # slurmdbd insists on mode 600 and ownership by SlurmUser.
    write_if_changed "$ETC/slurmdbd.conf" <<EOF || true
# Generated by slurm/local-cluster.sh
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$LOG/slurmdbd.log
PidFile=$(pidfile slurmdbd)
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$ETC/slurmdbd.conf"
}

# Point /etc/slurm/slurm.conf at ours so that shells without SLURM_CONF find the cluster, but
# never replace a slurm.conf that someone else put there.
link_system_conf() {
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    if [[ -L $SYSTEM_CONF && $(readlink "$SYSTEM_CONF") == "$ETC/slurm.conf" ]]; then
        return 0
    elif [[ -e $SYSTEM_CONF || -L $SYSTEM_CONF ]]; then
        log "note: $SYSTEM_CONF exists and is not ours; clients need SLURM_CONF=$ETC/slurm.conf"
    else
        ln -s "$ETC/slurm.conf" "$SYSTEM_CONF"
    fi
}

unlink_system_conf() {
    if [[ -L $SYSTEM_CONF && $(readlink "$SYSTEM_CONF") == "$ETC/slurm.conf" ]]; then
        rm -f "$SYSTEM_CONF"
    fi
}

# ---------------------------------------------------------------------------------------------
# Daemons
# ---------------------------------------------------------------------------------------------
start_munge() {
    running munged munged && return 0
    local key=/etc/munge/munge.key
    if [[ ! -s $key ]]; then
        log "creating $key"
        mkdir -p /etc/munge
        mungekey --create --keyfile="$key" 2>/dev/null \
            || dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
        chown munge:munge "$key"
        chmod 400 "$key"
    fi
    log "starting munged"
    rm -f "$(pidfile munged)"
    # munged refuses to run as root with a key owned by munge; it daemonizes itself, and its pid
    # file lives in a dir it owns, so we copy it into $RUN with the others once it appears.
    runuser -u munge -- munged --key-file="$key" --socket="$MUNGE_SOCKET" \
        --pid-file="$MUNGE_DIR/munged.pid" --log-file="$MUNGE_DIR/munged.log" \
        --seed-file="$MUNGE_DIR/munged.seed" </dev/null >>"$LOG/munged.out" 2>&1 \
        || die "munged failed to start: $(cat "$LOG/munged.out")"
    wait_for "munged's pidfile" "$MUNGE_DIR/munged.log" test -s "$MUNGE_DIR/munged.pid"
    cp "$MUNGE_DIR/munged.pid" "$(pidfile munged)"
    wait_for "munge to work" "$MUNGE_DIR/munged.log" \
        sh -c "munge -S '$MUNGE_SOCKET' -n | unmunge -S '$MUNGE_SOCKET'"
}

db_ready() { mariadb --no-defaults -S "$DB_SOCKET" -u root -e 'SELECT 1'; }

start_mariadb() {
    running mariadbd mariadbd && return 0
    if [[ ! -d $DB_DIR/mysql ]]; then
        log "initialising MariaDB in $DB_DIR"
        rm -rf "$DB_DIR"
        mariadb-install-db --no-defaults --datadir="$DB_DIR" --user=root \
            --auth-root-authentication-method=socket --skip-test-db \
            >>"$LOG/mariadb.log" 2>&1 || die "mariadb-install-db failed (see $LOG/mariadb.log)"
    fi
    log "starting mariadbd (unix socket only)"
    rm -f "$(pidfile mariadbd)"
    # --skip-networking: no TCP port, nothing to clash with another MariaDB on this machine.
    # root on the socket authenticates by its uid (unix_socket plugin), so no password anywhere.
    setsid mariadbd --no-defaults --datadir="$DB_DIR" --socket="$DB_SOCKET" \
        --pid-file="$(pidfile mariadbd)" --skip-networking --user=root \
        --log-error="$LOG/mariadb.log" --innodb-buffer-pool-size=64M \
        </dev/null >>"$LOG/mariadb.log" 2>&1 &
    wait_for "MariaDB to accept connections" "$LOG/mariadb.log" db_ready
    running mariadbd mariadbd || die "mariadbd answers but its pidfile does not name it"
}

start_slurmdbd() {
    running slurmdbd slurmdbd && return 0
    log "starting slurmdbd"
    rm -f "$(pidfile slurmdbd)"
    slurmdbd </dev/null >>"$LOG/slurmdbd.log" 2>&1 || die "slurmdbd failed (see $LOG/slurmdbd.log)"
    wait_for "slurmdbd" "$LOG/slurmdbd.log" sacctmgr -n list cluster
    running slurmdbd slurmdbd || die "slurmdbd runs but its pidfile is missing"
    # The cluster must exist in the accounting database before slurmctld registers with it.
    if [[ -z $(sacctmgr -n -P list cluster "$CLUSTER_NAME" format=cluster) ]]; then
        sacctmgr -i add cluster "$CLUSTER_NAME" >>"$LOG/slurmdbd.log" 2>&1 \
            || die "sacctmgr add cluster failed"
    fi
}

start_slurmctld() {
    running slurmctld slurmctld && return 0
    log "starting slurmctld"
    rm -f "$(pidfile slurmctld)"
    slurmctld </dev/null >>"$LOG/slurmctld.log" 2>&1 || die "slurmctld failed (see $LOG/slurmctld.log)"
    wait_for "slurmctld to answer" "$LOG/slurmctld.log" scontrol ping
    wait_for "slurmctld's pidfile" "$LOG/slurmctld.log" running slurmctld slurmctld
}

start_slurmd() {
    running slurmd slurmd && return 0
    log "starting slurmd"
    rm -f "$(pidfile slurmd)"
    # -N: this machine plays the node called "localhost", whatever its hostname.
    slurmd -N "$NODE" </dev/null >>"$LOG/slurmd.log" 2>&1 || die "slurmd failed (see $LOG/slurmd.log)"
    wait_for "slurmd's pidfile" "$LOG/slurmd.log" running slurmd slurmd
}

node_state() { sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -n 1; }

node_idle() {
    local state
    state=$(node_state)
    case $state in
        idle | mix | alloc) return 0 ;;
        # A node left down/drained by an earlier run (e.g. after a config change): bring it back.
        down* | drain* | drng* | fail*)
            scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
            return 1 ;;
        *) return 1 ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
cmd_start() {
    local gpus=0
    while (($#)); do
        case $1 in
            --fake-gpus) gpus=${2:?--fake-gpus needs a number}; shift 2 ;;
            --fake-gpus=*) gpus=${1#*=}; shift ;;
            *) die "unknown option for start: $1" ;;
        esac
    done
    [[ $gpus =~ ^[0-9]+$ ]] || die "--fake-gpus wants a non-negative integer, got '$gpus'"
    ((EUID == 0)) || die "must run as root (daemons, munge user, /etc/slurm)"
    mkdir -p "$LOG"
    install_packages
    local t_installed
    t_installed=$(elapsed)
    make_dirs
    write_configs "$gpus"
    link_system_conf
    if ((CONF_CHANGED)) && { running slurmctld slurmctld || running slurmd slurmd; }; then
        log "slurm.conf/gres.conf changed: restarting slurmctld and slurmd"
        stop_daemon slurmd slurmd
        stop_daemon slurmctld slurmctld
    fi
    # Check all ports before starting anything, so that a clash leaves nothing half-started.
    running slurmdbd slurmdbd || ensure_port_free "$DBD_PORT" slurmdbd
    running slurmctld slurmctld || ensure_port_free "$CTLD_PORT" slurmctld
    running slurmd slurmd || ensure_port_free "$SLURMD_PORT" slurmd
    start_munge
    start_mariadb
    start_slurmdbd
    start_slurmctld
    start_slurmd
    wait_for "node $NODE to become idle" "$LOG/slurmd.log" node_idle
    wait_for "sacct to answer" "$LOG/slurmdbd.log" sacct -n -X -S now-1minutes
    log "cluster up: partition '$PARTITION', node $NODE ($(nproc) CPUs, ${gpus} fake GPUs);" \
        "install ${t_installed}s, total $(elapsed)s"
    echo "export SLURM_CONF=$ETC/slurm.conf"
}

cmd_stop() {
    ((EUID == 0)) || die "must run as root"
    if [[ ! -d $RUN ]]; then
        log "nothing to stop (no $RUN)"
        return 0
    fi
    # Cancel this cluster's jobs first so that slurmd takes its job steps down with it instead of
    # leaving orphaned slurmstepd processes behind.
    if running slurmctld slurmctld; then
        local jobs
        jobs=$(squeue -h -o %A 2>/dev/null || true)
        if [[ -n $jobs ]]; then
            log "cancelling jobs: ${jobs//$'\n'/ }"
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            local i
            for ((i = 0; i < 50; i++)); do
                [[ -z $(squeue -h -o %A 2>/dev/null) ]] && break
                sleep 0.2
            done
        fi
    fi
    stop_daemon slurmd slurmd
    stop_daemon slurmctld slurmctld
    stop_daemon slurmdbd slurmdbd
    stop_daemon mariadbd mariadbd
    stop_daemon munged munged
    unlink_system_conf
    log "stopped (state kept in $STATE_DIR; delete it for a fresh cluster)"
}

cmd_status() {
    local all=0 name
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        if running "$name" "$name"; then
            echo "$name: running (pid $(recorded_pid "$name"))"
        else
            echo "$name: stopped"
            all=1
        fi
    done
    if ((all == 0)); then
        sinfo 2>/dev/null || true
    fi
    return $all
}

main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
        start) cmd_start "$@" ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        *) echo "usage: $0 start [--fake-gpus N] | stop | status" >&2; exit 2 ;;
    esac
}

main "$@"
