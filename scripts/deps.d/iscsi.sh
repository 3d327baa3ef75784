#!/usr/bin/env bash
# Dependencies of source/iscsi's tests and tools/fixtures/tgt.sh: tgt (the
# userspace iSCSI target daemon tgtd and its admin tool tgtadm; no kernel
# module needed) and libiscsi-bin (a userspace iSCSI initiator: iscsi-inq,
# iscsi-ls, iscsi-perf; it keeps a session open so tgtadm shows an I_T
# nexus). The tests start their own tgtd on a private control port and a
# loopback portal; nothing is started here. Idempotent: installs only what
# is missing.
set -euo pipefail

source "$(dirname "$0")/../apt-install.sh"
apt_install iscsi.sh tgt libiscsi-bin
