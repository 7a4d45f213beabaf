# Shared by scripts/demo and scripts/test: make sure a RabbitMQ broker answers on
# 127.0.0.1:5672, starting the local one if it is installed but not running.
# Fails with one clear line, never a hang.

port_open() {
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/5672" 2>/dev/null
}

ensure_broker() {
    if [ -n "${AMQP_URL:-}" ] && ! printf '%s' "$AMQP_URL" | grep -qE '@(127\.0\.0\.1|localhost)(:5672)?/'; then
        return 0 # a remote broker was named; nothing to start here
    fi
    if port_open; then
        return 0
    fi
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
        echo "error: no RabbitMQ on 127.0.0.1:5672 and none installed; install it ('apt-get install rabbitmq-server') or run the official image ('docker run -d -p 5672:5672 rabbitmq:3-management')" >&2
        exit 1
    fi
    echo "starting RabbitMQ (rabbitmq-server -detached)..." >&2
    rabbitmq-server -detached >/dev/null 2>&1 || true
    for _ in $(seq 1 90); do
        if port_open; then
            # The port opens a moment before the broker accepts connections.
            timeout 60 rabbitmqctl -q await_startup >/dev/null 2>&1 || sleep 2
            return 0
        fi
        sleep 1
    done
    echo "error: RabbitMQ was started but did not open 127.0.0.1:5672 within 90 s; see /var/log/rabbitmq/" >&2
    exit 1
}

ensure_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "error: cargo is not installed; install Rust with rustup (https://rustup.rs)" >&2
        exit 1
    fi
}
