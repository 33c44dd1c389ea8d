#!/bin/bash
# Start a throwaway single-node Ceph cluster (1 mon, 1 OSD, no mgr, no cephx) and radosgw on
# 127.0.0.1, for tests. Every daemon writes its pid to $BASE/run/*.pid;
# stop-rgw.sh stops them by those pids.
#
# Usage:  start-rgw.sh BASE_DIR            (BASE_DIR must be empty or absent)
# Env:    RGW_PORT, MON_V2_PORT, MON_V1_PORT   ports on 127.0.0.1 (required)
#         S3_ACCESS_KEY, S3_SECRET_KEY         credentials of the S3 user 'ferry-test' (required)
#         OSD_STORE=memstore|bluestore         memstore (default): OSD data in RAM, capped at
#                                              STORE_BYTES, ready in ~1.3 s; bluestore: a sparse
#                                              file of STORE_BYTES on disk, ready in ~4.5 s
#         STORE_BYTES                          OSD capacity (default 3 GiB; writes fail when full)
# Needs:  apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common curl
# Prints timing lines on stdout; daemon logs are in $BASE/log.
set -euo pipefail

BASE=${1:?usage: start-rgw.sh BASE_DIR}
: "${RGW_PORT:?set RGW_PORT}" "${MON_V2_PORT:?set MON_V2_PORT}" "${MON_V1_PORT:?set MON_V1_PORT}"
: "${S3_ACCESS_KEY:?set S3_ACCESS_KEY}" "${S3_SECRET_KEY:?set S3_SECRET_KEY}"
OSD_STORE=${OSD_STORE:-memstore}
STORE_BYTES=${STORE_BYTES:-$((3*1024*1024*1024))}

t0=$(date +%s%N)
ts() { local ms=$(( ($(date +%s%N) - t0) / 1000000 )); printf '[%d.%03ds] %s\n' $((ms/1000)) $((ms%1000)) "$*"; }
wait_for() {  # wait_for <timeout_s> <what> <command...>
  local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "timed out after $1 s waiting for $what; logs in $BASE/log" >&2; exit 1; fi
    sleep 0.1
  done
}

if [ -d "$BASE" ] && [ -n "$(ls -A "$BASE")" ]; then echo "$BASE is not empty; refusing to reuse it" >&2; exit 1; fi
mkdir -p "$BASE"/{mon,osd,rgw,log,run,crash}
CONF=$BASE/ceph.conf
FSID=$(cat /proc/sys/kernel/random/uuid)

cat > "$CONF" <<CONF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]
mon initial members = a
public network = 127.0.0.0/8
ms bind ipv6 = false
# no cephx: S3 auth is RGW's own access/secret keys
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
# radosgw defaults ms_mon_client_mode to "secure", impossible without cephx: it would hang
ms mon client mode = crc secure
mon warn on insecure global id reclaim allowed = false
run dir = $BASE/run
admin socket = $BASE/run/\$name.asok
pid file = $BASE/run/\$name.pid
log file = $BASE/log/\$name.log
crash dir = $BASE/crash
keyring = $BASE/keyring
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0

[mon]
mon data = $BASE/mon/\$cluster-\$id
# commit map changes fast: the default 1 s per proposal makes rgw's first start take ~15 s
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $BASE/osd/\$cluster-\$id
osd objectstore = $OSD_STORE
memstore device bytes = $STORE_BYTES
bluestore block size = $STORE_BYTES
bluestore block create = true
bluestore fsck on mkfs = false
bluestore fsck on mount = false
osd memory target = 1073741824

[client.rgw.gw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $BASE/rgw
# reclaim deleted objects' space soon (defaults: 2 h / 1 h): memstore holds them in RAM until then
rgw gc obj min wait = 5
rgw gc processor period = 10
CONF
export CEPH_CONF=$CONF

monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]" \
  --enable-all-features --clobber "$BASE/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$BASE/monmap"
ceph-mon -i a                                   # daemonizes; pid -> run/mon.a.pid
wait_for 30 "ceph-mon on 127.0.0.1:$MON_V2_PORT" ceph --connect-timeout 2 mon stat
ts "mon up"

OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(ceph osd new "$OSD_UUID")
mkdir -p "$BASE/osd/ceph-$OSD_ID"
ceph-osd -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" 2>"$BASE/log/osd-mkfs.err"
ts "osd.$OSD_ID mkfs done"
ceph-osd -i "$OSD_ID" 2>>"$BASE/log/osd.err"     # pid -> run/osd.N.pid
wait_for 60 "osd.$OSD_ID up" sh -c "ceph osd dump | grep -q '^osd.$OSD_ID up  *in'"
ts "osd.$OSD_ID up ($OSD_STORE)"

radosgw -n client.rgw.gw                         # pid -> run/client.rgw.gw.pid; creates its pools
wait_for 120 "radosgw on 127.0.0.1:$RGW_PORT" curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/"
ts "rgw answering on 127.0.0.1:$RGW_PORT"

# The secret goes on the command line of a short-lived local process only; never echoed.
radosgw-admin user create --uid=ferry-test --display-name="Ferry tests" \
  --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" >/dev/null
ts "S3 user ferry-test created"
