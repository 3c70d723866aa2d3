#!/usr/bin/env bash
# Installs the real third-party peers the end-to-end tests talk to (run as root).
#
# * bitlbee-libpurple + libpurple0 from the machine's own Debian release (bookworm), and
# * libaim.so / libicq.so / liboscar.so* taken out of Debian *bullseye*'s libpurple0 2.14.1-1,
#   the last Debian build that still ships the AIM/ICQ protocol plugins
#   (see docs/protocol/real-peers.md). Nothing here is committed: it is fetched from
#   Debian's archive at run time and checked against a known sha256.
# * tshark and dig, to decode captures and query the DNS responder.
# * dante-server (SOCKS5) and tinyproxy (HTTP CONNECT), the corporate proxies the relay
#   can reach its upstream through.
# * dnsmasq, a DNS server for the relay's configurable upstream resolver.
# * tcpreplay and tcpdump, for the sensor benchmark (a capture replayed through a veth, and a
#   peer capturing on the same interface).
# * openssl, to make the test CA of the DNS-over-TLS test (tests/dns_tls.rs), which runs
#   unbound as its DoT upstream.
# * curl, which must trust the gateway CA's exported certificate (tests/ca_cli.rs); openssl
#   checks that CA's leaves and name constraints there and in certs/tests.
# * dnsperf and unbound, for the DNS benchmark (dns/benches/dns.rs), which runs unbound and
#   dnsmasq itself on loopback ports: no unbound daemon is left running or enabled on port 53.
# * python3-cryptography, a verifier of export signatures that is not IMtegrity (OpenSSL's
#   `pkeyutl` is the other; tests/export_integrity.rs).
# * chromium and chromium-driver, the real browser (headless, over WebDriver) the reviewer
#   console's pages are tested in (tests/console_browser.rs).
# * valgrind, which runs the Sametime SPI's C host program (spi/tests/c_host.rs) to prove
#   the library has no memory errors or definite leaks.
#
# The plugins land in $IMT_PEERS_DIR (default /var/cache/imtegrity-peers); the tests look there.
set -euo pipefail

PEERS_DIR=${IMT_PEERS_DIR:-/var/cache/imtegrity-peers}
DEB_SHA256=f676ff9761f3c370853cf2b3ee69ceb5325d64f69a9dafe8e2b332f1ccdfa0bf

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: must run as root (apt-get)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in bitlbee-libpurple libpurple0 libevent-2.1-7 tshark bind9-dnsutils iproute2 dante-server tinyproxy dnsmasq-base dnsperf unbound openssl curl valgrind tcpreplay tcpdump python3-cryptography chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
    apt-get update -qq
    # unbound's postinst starts its daemon on port 53 unless policy-rc.d forbids it (a
    # container image usually ships one that does). Forbid it for this install only.
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# install.sh: no service starts during this install\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
        { [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
    [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
# The bench starts its own unbound; the packaged one must neither run nor start at boot.
if [ -x /usr/sbin/unbound ]; then
    if [ -d /run/systemd/system ]; then
        systemctl disable --now unbound.service unbound-resolvconf.service >/dev/null 2>&1 || true
    else
        [ ! -x /etc/init.d/unbound ] || /etc/init.d/unbound stop >/dev/null 2>&1 || true
        update-rc.d unbound disable >/dev/null 2>&1 || true
    fi
fi

plugins="$PEERS_DIR/plugins/purple"
if [ -f "$plugins/libaim.so" ] && [ -f "$plugins/liboscar.so.0" ]; then
    echo "install.sh: peers already in $PEERS_DIR"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
# Same mirror the machine already uses, bullseye suite, through a private apt config so the
# system's own sources and package lists stay untouched.
uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
uri=${uri:-http://deb.debian.org/debian}
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bullseye main" >"$work/sources.list"
cat >"$work/apt.conf" <<EOF
Dir::Etc::sourcelist "$work/sources.list";
Dir::Etc::sourceparts "/nonexistent";
Dir::State::lists "$work/lists";
Dir::Cache "$work/cache";
Dir::State::status "/var/lib/dpkg/status";
APT::Sandbox::User "root";
EOF
APT_CONFIG="$work/apt.conf" apt-get update -qq
(cd "$work" && APT_CONFIG="$work/apt.conf" apt-get download -qq libpurple0=2.14.1-1)
deb=$(ls "$work"/libpurple0_2.14.1-1_*.deb)
echo "$DEB_SHA256  $deb" | sha256sum -c --quiet
dpkg-deb -x "$deb" "$work/x"
mkdir -p "$plugins"
cp -a "$work"/x/usr/lib/purple-2/{libaim.so,libicq.so,liboscar.so,liboscar.so.0,liboscar.so.0.0.0} "$plugins/"
echo "install.sh: AIM/ICQ plugins installed in $plugins"
