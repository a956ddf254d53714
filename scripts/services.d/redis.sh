# Redis from Debian on 127.0.0.1:6390, no persistence, for BullMQ (which wants maxmemory-policy
# noeviction, Redis' default).
REDIS_PORT="${CAIRN_REDIS_PORT:-6390}"
REDIS_DIR="$RUN_DIR/redis"

redis_install() { apt_install redis-server; mkdir -p "$REDIS_DIR"; }

redis_start() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" >/dev/null
}

redis_ready() { pid_alive "$REDIS_DIR/redis.pid" && [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_stop() { redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; stop_pid "$REDIS_DIR/redis.pid"; }

redis_env() { echo "export CAIRN_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"; }
