# Debian's Chromium for the dashboard's end-to-end tests, driven by playwright-core (Playwright's
# own browser download cannot work here). Not a server: "running" means installed, and the tests
# start their own headless browser, which talks only to the 127.0.0.1 server they start.
CHROMIUM_BIN=/usr/bin/chromium

chromium_install() { apt_install chromium chromium-driver; }

chromium_start() { :; }

chromium_ready() { [ -x "$CHROMIUM_BIN" ]; }

chromium_stop() { :; }

chromium_env() { echo "export CAIRN_TEST_CHROMIUM=$CHROMIUM_BIN"; }
