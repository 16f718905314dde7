#!/usr/bin/env bash
# Starts a one-node Ceph cluster on loopback in DIR: one monitor, one OSD on memstore (objects in
# memory, nothing on disk but the monitor's store) and one radosgw, the real S3 server that the
# vault tests run against. Usage: start-radosgw.sh DIR MON_PORT RGW_PORT ACCESS_KEY SECRET_KEY.
# Every daemon writes its pid file under DIR/run; stopping is killing those pids (radosgw.ts).
set -euo pipefail
D="$1"; MONPORT="$2"; RGWPORT="$3"; ACCESS="$4"; SECRET="$5"
mkdir -p "$D"/{run,log,mon/a,osd/0,rgw}
FSID=$(cat /proc/sys/kernel/random/uuid)
cat > "$D/ceph.conf" <<EOF
[global]
fsid = $FSID
mon host = 127.0.0.1:$MONPORT
keyring = $D/keyring
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
ms bind ipv6 = false
public addr = 127.0.0.1
mon data = $D/mon/\$id
osd data = $D/osd/\$id
osd objectstore = memstore
memstore device bytes = ${SNAPTAPE_MEMSTORE_BYTES:-1073741824}
mon warn on pool no redundancy = false
osd pool default pg autoscale mode = off
mon data avail warn = 1
mon data avail crit = 0
auth allow insecure global id reclaim = true
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$RGWPORT
rgw data = $D/rgw
EOF
C="-c $D/ceph.conf"
ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$D/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$D/keyring" --gen-key -n client.rgw --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
ceph-authtool "$D/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' >/dev/null
monmaptool --create --add a "127.0.0.1:$MONPORT" --fsid "$FSID" "$D/monmap" >/dev/null
ceph-mon $C --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
ceph-mon $C -i a
ceph $C auth import -i "$D/keyring" 2>/dev/null
ceph $C osd create >/dev/null
ceph-osd $C -i 0 --mkfs 2>/dev/null
ceph-osd $C -i 0 2>/dev/null
# radosgw daemonizes once it has reached the cluster; the timeout bounds a cluster that never forms.
timeout 120 radosgw $C -n client.rgw
radosgw-admin $C user create --uid=snaptape --display-name=snaptape --access-key="$ACCESS" --secret="$SECRET" >/dev/null
