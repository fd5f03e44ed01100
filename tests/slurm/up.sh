#!/usr/bin/env bash
# up.sh - bring up a REAL single-node SLURM cluster on localhost, without systemd.
#   The project's copy of /work/shared/slurm/up.sh, used by tests/test_slurm.py. Adapted:
#   sacct keeps the job comment (the slurm executor plugin writes `rule_<rule>` there); jobs
#   are requeueable only when submitted with --requeue (JobRequeue=0).
#   Debian 12 (bookworm): slurm-wlm 22.05.8, munge 0.5.15, optional slurmdbd + MariaDB 10.11
#   so that `sacct` works (the default status command of snakemake-executor-plugin-slurm).
# Run as root. Idempotent: daemons already running (per pid file) are left alone.
#
# Knobs (environment):
#   SLURM_ACCOUNTING=1      1 = munged + mariadbd + slurmdbd + slurmctld + slurmd (sacct/sacctmgr work)
#                           0 = munged + slurmctld + slurmd only (sacct fails: use
#                               `slurm-status-command: squeue` in the Snakemake profile)
#   FAKE_GPUS=2             fake "gpu" GRES on the node (0 = none); jobs with --gpus/--gres get
#                           CUDA_VISIBLE_DEVICES=0[,1] (dummy char devices, major 1 minor 3)
#   SLURM_TEST_ACCOUNT=testacct   account created with sacctmgr (only with SLURM_ACCOUNTING=1)
#   SLURM_PARTITION=debug   the single (default) partition
#   LOCALSLURM_DIR=/var/lib/localslurm   pid files, fake devices, MariaDB datadir
#   SLURM_DB_PORT=3307      private MariaDB TCP port (127.0.0.1 only)
#   UP_TIMEOUT=60           seconds to wait for each daemon
#   SLURM_KEEP_JOBS=0       1 = keep jobs restored from an earlier run's state (default: scancel them)
# Ports used on 127.0.0.1: 6817 slurmctld, 6818 slurmd, 6819 slurmdbd, $SLURM_DB_PORT mariadbd.
# slurm.conf/gres.conf/slurmdbd.conf are written to /etc/slurm (the compiled-in default path;
# do NOT relocate via SLURM_CONF: slurmd/slurmstepd and the `srun` inside each Snakemake job read
# the default path, and the plugin's job step strips SLURM_* variables before that `srun`).
set -euo pipefail

ACCOUNTING=${SLURM_ACCOUNTING:-1}
NGPU=${FAKE_GPUS:-2}
ACCOUNT=${SLURM_TEST_ACCOUNT:-testacct}
PARTITION=${SLURM_PARTITION:-debug}
D=${LOCALSLURM_DIR:-/var/lib/localslurm}
DB_PORT=${SLURM_DB_PORT:-3307}
TIMEOUT=${UP_TIMEOUT:-60}
CLUSTER=localcluster
RUN=$D/run            # pid files
LOGD=/var/log/slurm

T0=$EPOCHREALTIME
log() { echo "[up.sh $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%5.1fs", b-a}')] $*"; }
alive() { # pid file names a live (non-zombie) process
  local st; [ -s "$1" ] && st=$(ps -o stat= -p "$(cat "$1")" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
wait_for() { # wait_for DESCRIPTION CMD...
  local what=$1; shift; local end=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then echo "up.sh: timed out waiting for $what" >&2; return 1; fi
    sleep 0.2
  done
}

[ "$(id -u)" = 0 ] || { echo "up.sh: run as root" >&2; exit 1; }

# ---------------------------------------------------------------- 1. packages
pkgs=(slurm-wlm munge)
[ "$ACCOUNTING" = 1 ] && pkgs+=(slurmdbd mariadb-server)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  # keep maintainer scripts from starting daemons through init scripts
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > "/tmp/localslurm-apt.log" 2>&1 \
    || { tail -30 /tmp/localslurm-apt.log >&2; exit 1; }
  log "packages installed"
fi

# ---------------------------------------------------------------- 2. configuration
NODE=$(hostname -s)
mkdir -p "$D" "$RUN" "$LOGD" /etc/slurm /var/spool/slurmctld /var/spool/slurmd /run/munge
HW=$(slurmd -C | head -1)   # NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
hw() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$HW"; }
CPUS=$(hw CPUs); MEM=$(hw RealMemory)
MEM=$((MEM * 95 / 100))     # leave headroom, else the node drains with "Low RealMemory"
NODELINE="NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS Boards=$(hw Boards) SocketsPerBoard=$(hw SocketsPerBoard) CoresPerSocket=$(hw CoresPerSocket) ThreadsPerCore=$(hw ThreadsPerCore) RealMemory=$MEM"

GRESLINES=""
if ((NGPU > 0)); then
  NODELINE+=" Gres=gpu:$NGPU"
  GRESLINES="GresTypes=gpu"
  for ((i = 0; i < NGPU; i++)); do
    [ -c "$D/fakegpu$i" ] || { rm -f "$D/fakegpu$i"; mknod -m 666 "$D/fakegpu$i" c 1 3; }
  done
  cat > /etc/slurm/gres.conf <<EOF
AutoDetect=off
NodeName=$NODE Name=gpu File=$D/fakegpu[0-$((NGPU - 1))]
EOF
else
  rm -f /etc/slurm/gres.conf
fi

if [ "$ACCOUNTING" = 1 ]; then
  ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment"
else
  ACCT="AccountingStorageType=accounting_storage/none"
fi

# down.sh removes this file (and gres.conf, slurmdbd.conf) only when its first line is this marker
cat > /etc/slurm/slurm.conf <<EOF
# written by up.sh - single node on localhost, no cgroups, no systemd
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=300
# requeueable only when submitted with --requeue (profiles/slurm: slurm-requeue), so that the
# requeue test shows the profile's flag, not this cluster's default
JobRequeue=0
MailProg=/bin/true
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGD/slurmctld.log
SlurmdLogFile=$LOGD/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
JobCompType=jobcomp/none
$ACCT
$GRESLINES
$NODELINE State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# ---------------------------------------------------------------- 3. munged
chown munge:munge /run/munge; chmod 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
if ! alive /run/munge/munged.pid; then
  rm -f /run/munge/munged.pid /run/munge/munge.socket.2*
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
fi
wait_for munged sh -c 'munge -n | unmunge'
log "munged up (pid $(cat /run/munge/munged.pid))"

# ---------------------------------------------------------------- 4. mariadbd + slurmdbd
if [ "$ACCOUNTING" = 1 ]; then
  DB=$D/mysql; DBRUN=$D/mysql-run
  mkdir -p "$DBRUN"; chown mysql:mysql "$DBRUN"
  if [ ! -d "$DB/mysql" ]; then
    mariadb-install-db --no-defaults --user=mysql --datadir="$DB" --skip-test-db \
      --auth-root-authentication-method=socket > "$LOGD/mariadb-install.log" 2>&1
    log "mariadb datadir initialised"
  fi
  if ! alive "$DBRUN/mysqld.pid"; then
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DB" \
      --socket="$DBRUN/mysqld.sock" --pid-file="$DBRUN/mysqld.pid" \
      --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve \
      --innodb-buffer-pool-size=512M --innodb-lock-wait-timeout=900 \
      --log-error="$LOGD/mariadb.log" < /dev/null > /dev/null 2>&1 &
  fi
  wait_for mariadbd mariadb-admin --socket="$DBRUN/mysqld.sock" ping
  mariadb --socket="$DBRUN/mysqld.sock" -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
  log "mariadbd up (pid $(cat "$DBRUN/mysqld.pid"), 127.0.0.1:$DB_PORT)"

  cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
LogFile=$LOGD/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  chmod 600 /etc/slurm/slurmdbd.conf
  alive "$RUN/slurmdbd.pid" || /usr/sbin/slurmdbd
  wait_for slurmdbd sacctmgr -n list cluster
  log "slurmdbd up (pid $(cat "$RUN/slurmdbd.pid"))"
fi

# ---------------------------------------------------------------- 5. slurmctld + slurmd
fresh_ctld=0
alive "$RUN/slurmctld.pid" || { /usr/sbin/slurmctld; fresh_ctld=1; }
wait_for slurmctld sh -c 'scontrol ping | grep -q UP'
log "slurmctld up (pid $(cat "$RUN/slurmctld.pid"))"
# jobs restored from the state of an earlier (killed) run would be requeued and run again
if [ "$fresh_ctld" = 1 ] && [ "${SLURM_KEEP_JOBS:-0}" != 1 ]; then
  old_jobs=$(squeue -h -o %i 2>/dev/null || true)
  # shellcheck disable=SC2086
  if [ -n "$old_jobs" ]; then scancel $old_jobs; log "cancelled leftover jobs: ${old_jobs//$'\n'/ }"; fi
fi
alive "$RUN/slurmd.pid" || /usr/sbin/slurmd
# a drained/down node left over from an earlier run is resumed
node_idle() {
  local s; s=$(sinfo -h -n "$NODE" -o %t 2>/dev/null)
  case "$s" in
    idle|mix|alloc) return 0 ;;
    drain*|down*|drng) scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1; return 1 ;;
    *) return 1 ;;
  esac
}
wait_for "node $NODE idle" node_idle
# "idle" can be restored from saved state before slurmd has registered: prove it with a real step
wait_for "a test job step" timeout 20 srun --quiet -t 1 -n1 --mem=10 -J up-sh-smoke true
log "slurmd up (pid $(cat "$RUN/slurmd.pid")), node $NODE: $(sinfo -h -n "$NODE" -o '%t cpus=%c mem=%m gres=%G')"

# ---------------------------------------------------------------- 6. account for -A / sacctmgr checks
if [ "$ACCOUNTING" = 1 ]; then
  wait_for "cluster registration" sh -c "sacctmgr -n -P list cluster format=cluster | grep -qx $CLUSTER"
  if ! sacctmgr -n -P list account format=account | grep -qx "$ACCOUNT"; then
    sacctmgr -i add account "$ACCOUNT" Cluster=$CLUSTER Description=ci Organization=ci > /dev/null
  fi
  for u in root ${SUDO_USER:-}; do
    sacctmgr -n -P list assoc user="$u" account="$ACCOUNT" format=user | grep -qx "$u" \
      || sacctmgr -i add user "$u" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" > /dev/null
  done
  log "account '$ACCOUNT' ready"
fi
log "SLURM cluster '$CLUSTER' ready: partition=$PARTITION accounting=$ACCOUNTING fake_gpus=$NGPU"
