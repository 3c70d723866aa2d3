//! Which hosts the login API forwards to: the names the gateway intercepts (the built-in
//! AIM/ICQ names and `dns.names`, as `RelaySettings::api_names`) and `upstream.api`'s host.
//! Without this check, a client could name any host (`Host: 10.0.0.5`) and the gateway
//! would fetch it from its egress address: an open HTTPS proxy into and out of the network.

use std::net::IpAddr;

use hyper::header::HOST;

use super::host_of;
use crate::config::RelaySettings;

/// The first host `parts` names (its Host header, its absolute URL's host, and `chosen`,
/// the host the request was taken to be for) that the gateway does not forward to, if any.
/// Every one must pass: a request whose Host and URL disagree is not forwarded on the
/// strength of either.
pub(super) fn foreign_host(
    config: &RelaySettings,
    parts: &hyper::http::request::Parts,
    chosen: &str,
) -> Option<String> {
    let header = parts.headers.get_all(HOST).iter().map(|h| {
        h.to_str()
            .map_or_else(|_| String::from("<not text>"), host_of)
    });
    let url = parts.uri.host().map(host_of);
    std::iter::once(chosen.to_owned())
        .chain(header)
        .chain(url)
        .find(|host| !forwards_to(config, host))
}

/// Whether the login API forwards to `host` (lower case, no port, no trailing dot).
pub(super) fn forwards_to(config: &RelaySettings, host: &str) -> bool {
    let api = config.upstream_api.as_ref().map(|api| host_of(api.host()));
    if api.as_deref() == Some(host) {
        return true;
    }
    // An address literal is never an intercepted name, whatever a name list holds.
    host.parse::<IpAddr>().is_err() && config.api_names.lookup(host).is_some()
}

#[cfg(test)]
mod tests {
    use hyper::Request;

    use super::*;

    fn config(api: Option<&str>, extra: &[&str]) -> RelaySettings {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        RelaySettings {
            upstream_api: api.map(|a| settings::HostPort::parse(a).unwrap()),
            api_names: settings::dns::NameSet::from_config(true, &extra).unwrap(),
            ..RelaySettings::default()
        }
    }

    #[test]
    fn intercepted_names_and_upstream_api_only() {
        let plain = config(None, &["*.im.example.net"]);
        for ok in [
            "api.screenname.aol.com",
            "api.oscar.aol.com",
            "api.login.icq.net",
            "api.im.example.net",
        ] {
            assert!(forwards_to(&plain, ok), "{ok}");
        }
        for refused in [
            "127.0.0.7",
            "::1",
            "www.example.org",
            "im.example.net",
            "aol.com",
            "screenname.aol.com.evil.example",
            "",
        ] {
            assert!(!forwards_to(&plain, refused), "{refused}");
        }
        let api = config(Some("127.0.0.1:8443"), &[]);
        assert!(forwards_to(&api, "127.0.0.1"));
        assert!(!forwards_to(&api, "127.0.0.2"));
    }

    #[test]
    fn every_host_a_request_names_must_pass() {
        let config = config(None, &[]);
        let parts = |req: Request<()>| req.into_parts().0;
        let good = parts(
            Request::post("/auth/clientLogin")
                .header(HOST, "api.screenname.aol.com:443")
                .body(())
                .unwrap(),
        );
        assert_eq!(foreign_host(&config, &good, "api.screenname.aol.com"), None);
        let by_header = parts(
            Request::post("/auth/clientLogin")
                .header(HOST, "127.0.0.7")
                .body(())
                .unwrap(),
        );
        assert_eq!(
            foreign_host(&config, &by_header, "api.screenname.aol.com").as_deref(),
            Some("127.0.0.7")
        );
        let by_url = parts(
            Request::get("https://127.0.0.7/aim/startOSCARSession")
                .header(HOST, "api.oscar.aol.com")
                .body(())
                .unwrap(),
        );
        assert_eq!(
            foreign_host(&config, &by_url, "api.oscar.aol.com").as_deref(),
            Some("127.0.0.7")
        );
        let two_hosts = parts(
            Request::post("/auth/clientLogin")
                .header(HOST, "api.screenname.aol.com")
                .header(HOST, "10.0.0.5")
                .body(())
                .unwrap(),
        );
        assert_eq!(
            foreign_host(&config, &two_hosts, "api.screenname.aol.com").as_deref(),
            Some("10.0.0.5")
        );
    }
}
