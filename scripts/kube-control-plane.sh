#!/usr/bin/env bash
# A real, local Kubernetes cluster for Mayday's tests and for `npm run local`: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and KUBE_NODES simulated nodes (kubemark's hollow kubelet:
# real Node objects whose pods "run" on a fake runtime, no images, no containers). KUBE_NODES=0
# (default 2) starts etcd and kube-apiserver only, as before.
#
#   scripts/kube-control-plane.sh install                 make sure the binaries exist
#   scripts/kube-control-plane.sh start  [RUN_DIR]        start everything on free loopback ports
#   scripts/kube-control-plane.sh stop   [RUN_DIR]        stop everything
#   scripts/kube-control-plane.sh status [RUN_DIR]
#   scripts/kube-control-plane.sh stop-apiserver  RUN_DIR  (fault tests: etcd keeps the data, the
#   scripts/kube-control-plane.sh start-apiserver RUN_DIR   controllers and nodes reconnect; same port)
#
# Binaries: $KUBEBUILDER_ASSETS/{etcd,kube-apiserver} when KUBEBUILDER_ASSETS is set (the envtest
# convention, e.g. from setup-envtest on any OS), and kube-controller-manager, kube-scheduler and
# kubemark from there too, else from the cache. Otherwise etcd comes from Debian's etcd-server
# package and the four Kubernetes binaries are built once from Debian's `kubernetes` source package
# (1.20, with its complete vendor/ tree) with Debian's Go, into $MAYDAY_CACHE_DIR (default
# ~/.cache/mayday). The build takes about 15 minutes on 2 cores and needs root for apt-get (or sudo).
#
# RUN_DIR (default $MAYDAY_CACHE_DIR/run) receives: kubeconfig (admin token, CA), env (ports,
# tokens, pids, sourceable), logs, etcd data, certificates.
set -euo pipefail

ACTION=${1:-start}
CACHE=${MAYDAY_CACHE_DIR:-$HOME/.cache/mayday}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
RUN=${2:-$CACHE/run}
BUILD_BIN=$CACHE/k8s/bin
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubemark)
KUBE_NODES=${KUBE_NODES:-2}
[[ "$KUBE_NODES" =~ ^[0-9]+$ ]] && [ "$KUBE_NODES" -le 20 ] || { echo "KUBE_NODES must be a number from 0 to 20 (got \"$KUBE_NODES\")" >&2; exit 2; }
# The Services' cluster IP range: a /24 (254 IPs) by default; the scale benchmark (1000 experiments, 2 Services
# each) starts the cluster with KUBE_SERVICE_CIDR=10.0.0.0/20. Kept in RUN/env, so a restarted API server keeps it.
KUBE_SERVICE_CIDR=${KUBE_SERVICE_CIDR:-10.0.0.0/24}
[[ "$KUBE_SERVICE_CIDR" =~ ^10\.0\.0\.0/(1[6-9]|2[0-4])$ ]] || { echo "KUBE_SERVICE_CIDR must be 10.0.0.0/16 to 10.0.0.0/24 (got \"$KUBE_SERVICE_CIDR\")" >&2; exit 2; }
export DEBIAN_FRONTEND=noninteractive

log() { echo "[control-plane $(date -u +%H:%M:%S)] $*" >&2; }
die() { log "$*"; exit 1; }
now() { date +%s%N; }
secs() { local d=$(( $(now) - $1 )); printf '%d.%01d' $((d / 1000000000)) $(( (d / 100000000) % 10 )); }

SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=$(command -v sudo || true); fi
APT_UPDATED=0
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif [ -n "$SUDO" ]; then "$SUDO" -n "$@"
  else die "need root (or sudo) to run: $* ; or set KUBEBUILDER_ASSETS to a folder with etcd and kube-apiserver"
  fi
}
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand, or set KUBEBUILDER_ASSETS"
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  log "apt-get install ${missing[*]}"
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# deb-src entries are not enabled on Debian images: copy the binary sources as source ones.
ensure_deb_src() {
  if apt-get indextargets --format '$(TARGET_OF)' 2>/dev/null | grep -qx deb-src; then return 0; fi
  local f n=0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    case "$f" in *-deb-src.sources) continue ;; esac
    grep -qE '^Types:.*\bdeb\b' "$f" || continue
    sed -E 's/^Types:.*/Types: deb-src/' "$f" | as_root tee "${f%.sources}-deb-src.sources" >/dev/null; n=$((n + 1))
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    case "$f" in *-deb-src.list) continue ;; esac
    if grep -qE '^deb[[:space:]]' "$f"; then
      sed -nE 's/^deb([[:space:]])/deb-src\1/p' "$f" | as_root tee "/etc/apt/sources.list.d/$(basename "${f%.list}")-deb-src.list" >/dev/null
      n=$((n + 1))
    fi
  done
  [ "$n" -gt 0 ] || die "no apt source entries to copy as deb-src"
  log "enabled deb-src ($n file(s))"
  as_root apt-get update -qq; APT_UPDATED=1
}

# The vendored modern-go/reflect2 1.0.1 crashes the API server when built with Go >= 1.18
# (SIGSEGV on the first YAML or pretty-JSON answer); Debian's 1.0.2 package has the fix.
replace_reflect2() {
  local pkgdir dst=vendor/github.com/modern-go/reflect2
  pkgdir=$(dpkg -L golang-github-modern-go-reflect2-dev | awk '/\/github\.com\/modern-go\/reflect2$/ && !f { print; f = 1 }')
  [ -f "$pkgdir/go_above_118.go" ] || die "golang-github-modern-go-reflect2-dev has no Go 1.18 fix"
  find "$dst" -mindepth 1 -maxdepth 1 ! -name LICENSE -exec rm -rf {} +
  find "$pkgdir" -maxdepth 1 -type f -name '*.go' ! -name '*_test.go' -exec cp -t "$dst" {} +
}

build_apiserver() {
  local t0 src work
  t0=$(now)
  ensure_deb_src
  apt_install golang-go make rsync dpkg-dev golang-github-modern-go-reflect2-dev
  work=$CACHE/k8s/src
  rm -rf "$work"; mkdir -p "$work"
  log "fetching Debian's kubernetes source package"
  (cd "$work" && apt-get source -qq kubernetes >"$CACHE/k8s/source.log" 2>&1) || { tail -n 20 "$CACHE/k8s/source.log"; die "apt-get source kubernetes failed"; }
  src=$(ls -d "$work"/kubernetes-*/ | head -n1)
  [ -f "$src/vendor/modules.txt" ] || die "no vendor/ tree in $src"
  cd "$src"
  [ -f vendor/github.com/modern-go/reflect2/go_above_118.go ] || replace_reflect2
  log "building ${K8S_BINARIES[*]} (GOPATH mode, as debian/rules does; ~15 min on 2 cores)"
  env -u GOFLAGS -u GO111MODULE -u GOPATH -u GOCACHE -u GOROOT -u GOBIN CGO_ENABLED=0 \
    make WHAT="${K8S_BINARIES[*]/#/cmd/}" >"$CACHE/k8s/build.log" 2>&1 \
    || { tail -n 40 "$CACHE/k8s/build.log"; die "build failed, see $CACHE/k8s/build.log"; }
  mkdir -p "$BUILD_BIN"
  local b
  for b in "${K8S_BINARIES[@]}"; do
    install -m 0755 "_output/bin/$b" "$BUILD_BIN/.$b.tmp"
    mv -f "$BUILD_BIN/.$b.tmp" "$BUILD_BIN/$b"
  done
  cd "$CACHE"
  rm -rf "$work"
  log "built $("$BUILD_BIN/kube-apiserver" --version) in $(secs "$t0") s"
}

# Sets ETCD_BIN, APISERVER_BIN, KCM_BIN, SCHEDULER_BIN and KUBEMARK_BIN, installing or building what
# is missing. (Not named `install`: that would shadow the install(1) command the build uses.)
ensure_binaries() {
  local b
  if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
    ETCD_BIN=$KUBEBUILDER_ASSETS/etcd
    APISERVER_BIN=$KUBEBUILDER_ASSETS/kube-apiserver
    [ -x "$ETCD_BIN" ] && [ -x "$APISERVER_BIN" ] || die "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks etcd or kube-apiserver"
    if [ "$KUBE_NODES" -gt 0 ]; then
      # setup-envtest ships no controllers or kubelet: look beside the API server, then in the cache.
      for b in kube-controller-manager kube-scheduler kubemark; do
        [ -x "$KUBEBUILDER_ASSETS/$b" ] || [ -x "$BUILD_BIN/$b" ] \
          || die "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks $b (and $BUILD_BIN has none): add it there, or set KUBE_NODES=0 for a bare API server"
      done
    fi
  else
    apt_install etcd-server openssl curl
    ETCD_BIN=$(command -v etcd) || die "etcd not found after installing etcd-server"
    APISERVER_BIN=$BUILD_BIN/kube-apiserver
    if ! all_built; then
      mkdir -p "$CACHE/k8s"
      exec 8>"$CACHE/k8s/.build.lock"
      flock 8
      all_built || build_apiserver
      flock -u 8
    fi
  fi
  KCM_BIN=$(binary kube-controller-manager)
  SCHEDULER_BIN=$(binary kube-scheduler)
  KUBEMARK_BIN=$(binary kubemark)
}
all_built() { local b; for b in "${K8S_BINARIES[@]}"; do [ -x "$BUILD_BIN/$b" ] || return 1; done; }
binary() {
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$1" ]; then echo "$KUBEBUILDER_ASSETS/$1"; else echo "$BUILD_BIN/$1"; fi
}

pid_alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
all_components_alive() {
  local c
  [ "$KUBE_NODES" -eq 0 ] && return 0
  for c in controller-manager scheduler $(node_names); do pid_alive "$c" || return 1; done
}
stop_one() {
  local p i
  [ -f "$RUN/$1.pid" ] || return 0
  p=$(cat "$RUN/$1.pid")
  if kill -0 "$p" 2>/dev/null; then
    kill "$p" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  fi
  rm -f "$RUN/$1.pid"
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Below Linux's ephemeral range (32768+), so no outgoing connection holds the port we pick.
free_port() { local p; while :; do p=$(( 10000 + RANDOM % 22000 )); port_busy "$p" || { echo "$p"; return; }; done; }
ready() { [ "$(curl -sk --max-time 2 "https://127.0.0.1:$1/readyz" 2>/dev/null)" = ok ]; }

start_apiserver() {
  # shellcheck disable=SC1091
  . "$RUN/env"
  local extra=() minor i t
  minor=$("$APISERVER_BIN" --version | sed -nE 's/.*v1\.([0-9]+).*/\1/p')
  # --insecure-port was removed in 1.24; before that it must be turned off explicitly.
  if [ -n "$minor" ] && [ "$minor" -lt 24 ]; then extra+=(--insecure-port=0); fi
  t=$(now)
  setsid "$APISERVER_BIN" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port="$API_PORT" "${extra[@]}" --cert-dir="$RUN/certs" \
    --token-auth-file="$RUN/tokens.csv" --authorization-mode=RBAC \
    --service-account-key-file="$RUN/sa.pub" --service-account-signing-key-file="$RUN/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="${KUBE_SERVICE_CIDR}" --endpoint-reconciler-type=none \
    >>"$RUN/apiserver.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$RUN/apiserver.pid"
  for i in $(seq 1 $(( ${READY_TIMEOUT:-120} * 5 ))); do
    ready "$API_PORT" && break
    pid_alive apiserver || { tail -n 30 "$RUN/apiserver.log"; die "kube-apiserver exited"; }
    sleep 0.2
  done
  ready "$API_PORT" || { tail -n 30 "$RUN/apiserver.log"; die "kube-apiserver not ready"; }
  log "kube-apiserver ready on https://127.0.0.1:$API_PORT after $(secs "$t") s"
}

# Runs one of the cluster's components in the background as RUN/<name>.pid, logging to RUN/<name>.log.
spawn() {
  local name=$1; shift
  setsid "$@" >>"$RUN/$name.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$RUN/$name.pid"
}

# The node names this run has (hollow-node-1 ...), one per line.
node_names() { local i; for ((i = 1; i <= KUBE_NODES; i++)); do echo "hollow-node-$i"; done; }
running_nodes() { local n; for n in "$RUN"/hollow-node-*.pid; do [ -f "$n" ] && basename "$n" .pid; done; }

# kube-controller-manager (Deployments -> ReplicaSets -> Pods, their status, service accounts),
# kube-scheduler, and KUBE_NODES hollow kubelets; returns once every node reports Ready.
start_controllers_and_nodes() {
  local node kubelet_port readonly_port t i ready_count
  t=$(now)
  spawn controller-manager "$KCM_BIN" --kubeconfig="$RUN/kubeconfig" --leader-elect=false --port=0 --secure-port=0 \
    --service-account-private-key-file="$RUN/sa.key" --root-ca-file="$RUN/certs/apiserver.crt" --cluster-name=local
  spawn scheduler "$SCHEDULER_BIN" --kubeconfig="$RUN/kubeconfig" --leader-elect=false --port=0 --secure-port=0
  for node in $(node_names); do
    kubelet_port=$(free_port); readonly_port=$(free_port)
    # The hollow kubelet's fake runtime listens on a fixed path, /tmp/kubelet_remote.sock, so every
    # node (of this cluster and of any other on the machine) would share one socket and race for it:
    # each node gets a /tmp of its own in a private mount namespace, with its kubeconfig inside.
    rm -rf "$RUN/$node.tmp"; mkdir -p "$RUN/$node.tmp"; chmod 700 "$RUN/$node.tmp"
    cp "$RUN/kubeconfig" "$RUN/$node.tmp/kubeconfig"
    spawn "$node" unshare --mount --propagation private sh -c 'mount --bind "$1" /tmp && shift && exec "$@"' sh "$RUN/$node.tmp" \
      "$KUBEMARK_BIN" --morph=kubelet --name="$node" --kubeconfig=/tmp/kubeconfig \
      --kubelet-port="$kubelet_port" --kubelet-read-only-port="$readonly_port"
  done
  for i in $(seq 1 $(( ${READY_TIMEOUT:-120} * 5 ))); do
    ready_count=$(curl -sk --max-time 2 -A mayday-control-plane -H "Authorization: Bearer $(sed -n 's/^ADMIN_TOKEN=//p' "$RUN/env")" \
      "$(sed -n 's/^API_SERVER=//p' "$RUN/env")/api/v1/nodes" 2>/dev/null | grep -o '"type":"Ready","status":"True"' | wc -l)
    [ "$ready_count" -ge "$KUBE_NODES" ] && break
    for c in controller-manager scheduler $(node_names); do
      pid_alive "$c" || { tail -n 30 "$RUN/$c.log" >&2; die "$c exited (log: $RUN/$c.log)"; }
    done
    sleep 0.2
  done
  [ "$ready_count" -ge "$KUBE_NODES" ] || die "only $ready_count of $KUBE_NODES nodes Ready (logs in $RUN)"
  log "kube-controller-manager, kube-scheduler and $KUBE_NODES hollow node(s) ready after $(secs "$t") s"
}

stop_all() {
  local n
  for n in $(running_nodes); do stop_one "$n"; done
  stop_one scheduler; stop_one controller-manager; stop_one apiserver; stop_one etcd
}

# Starts etcd and kube-apiserver on fresh free ports; returns non-zero (after cleaning up) on failure.
start_etcd_and_apiserver() {
  local admin=$1 limited=$2 etcd_port peer_port api_port i
  stop_one apiserver; stop_one etcd
  rm -rf "$RUN/etcd-data"; mkdir -p "$RUN/etcd-data"; chmod 700 "$RUN/etcd-data"
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  setsid "$ETCD_BIN" --name mayday --data-dir "$RUN/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "mayday=http://127.0.0.1:$peer_port" --unsafe-no-fsync \
    >"$RUN/etcd.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$RUN/etcd.pid"
  for i in $(seq 1 100); do curl -sf --max-time 1 "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 && break; sleep 0.1; done
  if ! curl -sf --max-time 1 "http://127.0.0.1:$etcd_port/health" >/dev/null; then
    tail -n 20 "$RUN/etcd.log" >&2; log "etcd not healthy"; stop_one etcd; return 1
  fi
  cat >"$RUN/env" <<ENV
API_PORT=$api_port
ETCD_PORT=$etcd_port
API_SERVER=https://127.0.0.1:$api_port
KUBECONFIG=$RUN/kubeconfig
ADMIN_TOKEN=$admin
LIMITED_TOKEN=$limited
KUBE_SERVICE_CIDR=$KUBE_SERVICE_CIDR
ENV
  chmod 600 "$RUN/env"
  if ! ( start_apiserver ); then stop_one apiserver; stop_one etcd; return 1; fi
}

start() {
  local t0 api_port admin limited attempt
  t0=$(now)
  if pid_alive apiserver && pid_alive etcd && [ -f "$RUN/env" ] && all_components_alive; then
    api_port=$(sed -n 's/^API_PORT=//p' "$RUN/env")
    if ready "$api_port"; then log "already running on https://127.0.0.1:$api_port"; return 0; fi
  fi
  stop_all
  mkdir -p "$RUN/certs"
  rm -rf "$RUN/certs"/*
  chmod 700 "$RUN"
  [ -f "$RUN/sa.key" ] || openssl genrsa -out "$RUN/sa.key" 2048 2>/dev/null
  openssl rsa -in "$RUN/sa.key" -pubout -out "$RUN/sa.pub" 2>/dev/null
  admin=$(openssl rand -hex 24); limited=$(openssl rand -hex 24)
  ( umask 077; printf '%s,admin,uid-admin,"system:masters"\n%s,limited,uid-limited\n' "$admin" "$limited" >"$RUN/tokens.csv" )

  # A port can be taken between the check and the bind: try up to three sets of ports.
  for attempt in 1 2 3; do
    if start_etcd_and_apiserver "$admin" "$limited"; then break; fi
    [ "$attempt" = 3 ] && die "control plane did not start (logs in $RUN)"
    log "retrying with other ports"
  done
  api_port=$(sed -n 's/^API_PORT=//p' "$RUN/env")

  cat >"$RUN/kubeconfig.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: mayday-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(base64 -w0 "$RUN/certs/apiserver.crt")
users:
- name: admin
  user:
    token: $admin
- name: limited
  user:
    token: $limited
contexts:
- name: mayday-local
  context: {cluster: mayday-local, user: admin}
- name: mayday-local-limited
  context: {cluster: mayday-local, user: limited}
current-context: mayday-local
KUBECONFIG
  chmod 600 "$RUN/kubeconfig.tmp"; mv -f "$RUN/kubeconfig.tmp" "$RUN/kubeconfig"
  echo "KUBE_NODES=$KUBE_NODES" >>"$RUN/env"
  if [ "$KUBE_NODES" -gt 0 ] && ! ( start_controllers_and_nodes ); then stop_all; die "cluster did not start (logs in $RUN)"; fi
  log "control plane up in $(secs "$t0") s; KUBECONFIG=$RUN/kubeconfig"
}

case "$ACTION" in
  install)
    ensure_binaries
    echo "etcd: $ETCD_BIN"; echo "kube-apiserver: $APISERVER_BIN"
    echo "kube-controller-manager: $KCM_BIN"; echo "kube-scheduler: $SCHEDULER_BIN"; echo "kubemark: $KUBEMARK_BIN" ;;
  start) ensure_binaries; mkdir -p "$RUN"; RUN=$(cd "$RUN" && pwd); start ;;
  stop) stop_all ;;
  stop-apiserver) stop_one apiserver ;;
  start-apiserver) ensure_binaries; pid_alive apiserver || start_apiserver ;;
  status)
    for c in etcd apiserver controller-manager scheduler $(running_nodes); do
      if pid_alive "$c"; then echo "$c running (pid $(cat "$RUN/$c.pid"))"; else echo "$c not running"; fi
    done ;;
  *) echo "usage: $0 install|start|stop|status|stop-apiserver|start-apiserver [RUN_DIR]" >&2; exit 2 ;;
esac
