# vsftpd on 127.0.0.1:2121, passive ports 30000-30099, explicit TLS (FTPS) optional per connection,
# with a self-signed certificate for 127.0.0.1 that tests trust through NODE_EXTRA_CA_CERTS.
FTP_PORT="${CAIRN_FTP_PORT:-2121}"
FTP_DIR="$RUN_DIR/ftp"
FTP_PASSWORD=cairn-ftp-pass

ftp_install() {
  apt_install vsftpd openssl
  mkdir -p "$FTP_DIR/empty"
  if [ ! -f "$FTP_DIR/cert.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
      -keyout "$FTP_DIR/key.pem" -out "$FTP_DIR/cert.pem" 2>/dev/null
  fi
  # vsftpd's PAM service checks /etc/shells: the user needs a real shell to log in.
  ensure_user cairn-ftp "$FTP_PASSWORD" /bin/bash
  as_root mkdir -p /home/cairn-ftp/readonly && as_root chown root:root /home/cairn-ftp/readonly && as_root chmod 755 /home/cairn-ftp/readonly
  ensure_small_disk "$RUN_DIR/small-ftp" 8m
  as_root chown cairn-ftp: "$RUN_DIR/small-ftp"
  cat >"$FTP_DIR/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$FTP_PORT
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=NO
userlist_enable=NO
pam_service_name=vsftpd
secure_chroot_dir=$FTP_DIR/empty
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=30000
pasv_max_port=30099
connect_from_port_20=NO
seccomp_sandbox=NO
max_clients=200
max_per_ip=100
xferlog_enable=YES
vsftpd_log_file=$FTP_DIR/vsftpd.log
ssl_enable=YES
force_local_logins_ssl=NO
force_local_data_ssl=NO
ssl_tlsv1=YES
ssl_sslv2=NO
ssl_sslv3=NO
ssl_ciphers=HIGH
rsa_cert_file=$FTP_DIR/cert.pem
rsa_private_key_file=$FTP_DIR/key.pem
CONF
}

ftp_start() {
  setsid /usr/sbin/vsftpd "$FTP_DIR/vsftpd.conf" >"$FTP_DIR/out.log" 2>&1 </dev/null &
  echo $! >"$FTP_DIR/vsftpd.pid"
}

ftp_ready() { pid_alive "$FTP_DIR/vsftpd.pid" && [[ "$(banner "$FTP_PORT")" == 220* ]]; }

ftp_stop() { stop_pid "$FTP_DIR/vsftpd.pid"; }

ftp_env() {
  cat <<ENV
export CAIRN_TEST_FTP_HOST=127.0.0.1
export CAIRN_TEST_FTP_PORT=$FTP_PORT
export CAIRN_TEST_FTP_USER=cairn-ftp
export CAIRN_TEST_FTP_PASSWORD=$FTP_PASSWORD
export CAIRN_TEST_FTP_HOME=/home/cairn-ftp
export CAIRN_TEST_FTP_READONLY_DIR=/home/cairn-ftp/readonly
export CAIRN_TEST_FTP_SMALL_DIR=$RUN_DIR/small-ftp
export CAIRN_TEST_FTP_CA=$FTP_DIR/cert.pem
export NODE_EXTRA_CA_CERTS=$RUN_DIR/ca-bundle.pem
ENV
}
