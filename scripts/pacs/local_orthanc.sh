#!/usr/bin/env bash
# A private Orthanc with its DICOMweb plugin on free loopback ports, everything (config,
# storage, log) under DIR: for trying `spinescan worker`, and for its test and benchmark.
#
#   scripts/pacs/local_orthanc.sh start DIR [STABLE_AGE_S=1]   # prints the URL once it answers
#   scripts/pacs/local_orthanc.sh stop DIR
#
# Needs Debian's orthanc and orthanc-dicomweb (scripts/setup.sh installs them).
set -euo pipefail
action=${1:?usage: $0 start|stop DIR}
dir=$(realpath -m "${2:?usage: $0 start|stop DIR}")
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

case "$action" in
start)
  stable_age=${3:-1}
  mkdir -p "$dir/db"
  http=$(free_port)
  cat > "$dir/orthanc.json" <<CONF
{
  "Name": "spinescan-local",
  "StorageDirectory": "$dir/db",
  "IndexDirectory": "$dir/db",
  "HttpPort": $http,
  "DicomPort": $(free_port),
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "StableAge": $stable_age,
  "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
  "DicomWeb": {"Enable": true, "Root": "/dicom-web/"}
}
CONF
  Orthanc "$dir/orthanc.json" > "$dir/orthanc.log" 2>&1 &
  echo $! > "$dir/orthanc.pid"
  for _ in $(seq 150); do
    if curl -sf "http://127.0.0.1:$http/system" > /dev/null; then
      echo "http://127.0.0.1:$http"
      exit 0
    fi
    sleep 0.2
  done
  echo "local_orthanc: Orthanc did not answer; log in $dir/orthanc.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$dir/orthanc.pid" ]; then
    pid=$(cat "$dir/orthanc.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/orthanc.pid"
  fi
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
