# MariaDB from Debian on 127.0.0.1:3307 with its own data directory (not the system instance),
# a TCP user for the tests, and the socket for root. Debian's defaults are read on purpose
# (no --no-defaults): they make utf8mb4 the default character set, as on a real install.
MARIADB_PORT="${CAIRN_MARIADB_PORT:-3307}"
MARIADB_DIR="$RUN_DIR/mariadb"
MARIADB_USER=cairn
MARIADB_PASSWORD=cairn-db-pass

mariadb_install() {
  apt_install mariadb-server mariadb-client mariadb-backup
  mkdir -p "$MARIADB_DIR"
  as_root chown mysql:mysql "$MARIADB_DIR"
  if [ ! -d "$MARIADB_DIR/data/mysql" ]; then
    as_root mariadb-install-db --user=mysql --datadir="$MARIADB_DIR/data" --auth-root-authentication-method=socket \
      --skip-test-db >"$MARIADB_DIR/install.log" 2>&1 || die "mariadb-install-db failed; see $MARIADB_DIR/install.log"
  fi
}

mariadb_start() {
  setsid mariadbd --user=mysql --datadir="$MARIADB_DIR/data" --socket="$MARIADB_DIR/mysqld.sock" \
    --pid-file="$MARIADB_DIR/mysqld.pid" --port="$MARIADB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --innodb-file-per-table=1 --log-error="$MARIADB_DIR/error.log" >/dev/null 2>&1 </dev/null &
  wait_until mariadb mariadb_alive
  mariadb --socket="$MARIADB_DIR/mysqld.sock" -uroot -e "
    CREATE USER IF NOT EXISTS '$MARIADB_USER'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
    GRANT ALL ON *.* TO '$MARIADB_USER'@'127.0.0.1' WITH GRANT OPTION;" || die "cannot create the MariaDB test user"
}

mariadb_alive() { mariadb-admin --socket="$MARIADB_DIR/mysqld.sock" -uroot ping >/dev/null 2>&1; }

mariadb_ready() {
  pid_alive "$MARIADB_DIR/mysqld.pid" && mariadb_alive \
    && mariadb -h127.0.0.1 -P"$MARIADB_PORT" -u"$MARIADB_USER" -p"$MARIADB_PASSWORD" -e 'SELECT 1' >/dev/null 2>&1
}

mariadb_stop() { stop_pid "$MARIADB_DIR/mysqld.pid"; }

mariadb_env() {
  cat <<ENV
export CAIRN_TEST_MYSQL_HOST=127.0.0.1
export CAIRN_TEST_MYSQL_PORT=$MARIADB_PORT
export CAIRN_TEST_MYSQL_USER=$MARIADB_USER
export CAIRN_TEST_MYSQL_PASSWORD=$MARIADB_PASSWORD
export CAIRN_TEST_MYSQL_SOCKET=$MARIADB_DIR/mysqld.sock
export CAIRN_TEST_MYSQL_DATADIR=$MARIADB_DIR/data
ENV
}
