# Sourced by scripts/deps.d/*.sh (not run by itself): apt_install NAME
# PKG... installs, as root, those of PKG that are not installed yet, with
# retries (the package lists may be stale, or dpkg locked by another
# install), and fails naming NAME and the package that could not be
# installed. Installs nothing when everything is there.
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_install() {
	local name=$1 pkg attempt
	shift
	local missing=()
	for pkg in "$@"; do
		have "$pkg" || missing+=("$pkg")
	done
	((${#missing[@]})) || return 0
	export DEBIAN_FRONTEND=noninteractive
	for attempt in 1 2 3 4 5 6; do
		if apt-get install -y --no-install-recommends "${missing[@]}"; then
			break
		fi
		apt-get update || true
		sleep $((attempt * 5))
	done
	for pkg in "${missing[@]}"; do
		have "$pkg" || { echo "$name: could not install $pkg" >&2; exit 1; }
	done
}
