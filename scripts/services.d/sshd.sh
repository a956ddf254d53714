# OpenSSH's sshd on 127.0.0.1:2222 serving internal-sftp, with its own host key and config.
# Users: cairn-sftp (password) and cairn-sftpkey (keys only: one plain, one with a passphrase).
SSHD_PORT="${CAIRN_SFTP_PORT:-2222}"
SSHD_DIR="$RUN_DIR/sshd"
SFTP_PASSWORD=cairn-sftp-pass
SFTP_KEY_PASSPHRASE=cairn-key-pass

sshd_install() {
  apt_install openssh-server openssh-client
  mkdir -p "$SSHD_DIR"
  as_root mkdir -p /run/sshd
  [ -f "$SSHD_DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C cairn-test-host -f "$SSHD_DIR/host_ed25519"
  [ -f "$SSHD_DIR/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C cairn-test-client -f "$SSHD_DIR/client_ed25519"
  [ -f "$SSHD_DIR/client_passphrase" ] || ssh-keygen -q -t ed25519 -N "$SFTP_KEY_PASSPHRASE" -C cairn-test-passphrase -f "$SSHD_DIR/client_passphrase"
  ensure_user cairn-sftp "$SFTP_PASSWORD" /usr/sbin/nologin
  ensure_user cairn-sftpkey "$(openssl rand -hex 16)" /usr/sbin/nologin
  local keyhome=/home/cairn-sftpkey
  as_root mkdir -p "$keyhome/.ssh"
  cat "$SSHD_DIR/client_ed25519.pub" "$SSHD_DIR/client_passphrase.pub" | as_root tee "$keyhome/.ssh/authorized_keys" >/dev/null
  as_root chown -R cairn-sftpkey: "$keyhome/.ssh" && as_root chmod 700 "$keyhome/.ssh" && as_root chmod 600 "$keyhome/.ssh/authorized_keys"
  # A folder the user may read but not write, and a nearly full disk, for the error tests.
  as_root mkdir -p /home/cairn-sftp/readonly && as_root chown root:root /home/cairn-sftp/readonly && as_root chmod 755 /home/cairn-sftp/readonly
  ensure_small_disk "$RUN_DIR/small-sftp" 8m
  as_root chown cairn-sftp: "$RUN_DIR/small-sftp"
  echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$SSHD_DIR/host_ed25519.pub")" >"$SSHD_DIR/known_hosts"
  cat >"$SSHD_DIR/sshd_config" <<CONF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/host_ed25519
PidFile $SSHD_DIR/sshd.pid
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers cairn-sftp cairn-sftpkey
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
Match User cairn-sftp,cairn-sftpkey
    ForceCommand internal-sftp
    AllowTcpForwarding no
    X11Forwarding no
CONF
}

sshd_start() {
  /usr/sbin/sshd -t -f "$SSHD_DIR/sshd_config" || die "sshd rejects its config $SSHD_DIR/sshd_config"
  as_root /usr/sbin/sshd -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/sshd.log"
}

sshd_ready() { pid_alive "$SSHD_DIR/sshd.pid" && [[ "$(banner "$SSHD_PORT")" == SSH-2.0-* ]]; }

sshd_stop() { stop_pid "$SSHD_DIR/sshd.pid"; }

sshd_env() {
  cat <<ENV
export CAIRN_TEST_SFTP_HOST=127.0.0.1
export CAIRN_TEST_SFTP_PORT=$SSHD_PORT
export CAIRN_TEST_SFTP_USER=cairn-sftp
export CAIRN_TEST_SFTP_PASSWORD=$SFTP_PASSWORD
export CAIRN_TEST_SFTP_HOME=/home/cairn-sftp
export CAIRN_TEST_SFTP_READONLY_DIR=/home/cairn-sftp/readonly
export CAIRN_TEST_SFTP_SMALL_DIR=$RUN_DIR/small-sftp
export CAIRN_TEST_SFTP_KEY_USER=cairn-sftpkey
export CAIRN_TEST_SFTP_KEY_HOME=/home/cairn-sftpkey
export CAIRN_TEST_SFTP_KEY=$SSHD_DIR/client_ed25519
export CAIRN_TEST_SFTP_PASSPHRASE_KEY=$SSHD_DIR/client_passphrase
export CAIRN_TEST_SFTP_KEY_PASSPHRASE=$SFTP_KEY_PASSPHRASE
export CAIRN_TEST_SFTP_KNOWN_HOSTS=$SSHD_DIR/known_hosts
export CAIRN_TEST_SFTP_FINGERPRINT=$(ssh-keygen -l -E sha256 -f "$SSHD_DIR/host_ed25519.pub" 2>/dev/null | cut -d' ' -f2)
ENV
}
