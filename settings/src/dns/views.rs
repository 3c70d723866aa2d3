//! Client groups for DNS: which gateway a client is sent to, by longest-prefix match on its
//! address, Unbound `access-control-view` style.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{DnsConfig, FailPolicy};

/// One group's answer policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Its name (`default` for the default view).
    pub name: String,
    /// The gateway addresses its clients are sent to. Empty: the responder's own address
    /// towards the client.
    pub gateway: Vec<IpAddr>,
    /// What happens when every gateway is down.
    pub fail: FailPolicy,
    /// Whether its clients are redirected at all.
    pub redirect: bool,
}

/// The views with their subnets, for lookup by client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewTable {
    views: Vec<View>,
    /// (subnet, index into `views`), longest prefix first.
    subnets: Vec<(IpNet, usize)>,
}

impl ViewTable {
    /// The default view (index 0) from the `[dns]` keys, then each `[[dns.views]]`.
    pub fn from_config(dns: &DnsConfig) -> Self {
        let mut views = vec![View {
            name: "default".to_owned(),
            gateway: dns.gateway.clone(),
            fail: dns.fail,
            redirect: true,
        }];
        let mut subnets = Vec::new();
        for v in &dns.views {
            let index = views.len();
            views.push(View {
                name: v.name.clone(),
                gateway: if v.gateway.is_empty() {
                    dns.gateway.clone()
                } else {
                    v.gateway.clone()
                },
                fail: v.fail.unwrap_or(dns.fail),
                redirect: v.redirect,
            });
            subnets.extend(v.subnets.iter().map(|n| (n.trunc(), index)));
        }
        // Stable: among equal prefixes the view listed first wins.
        subnets.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix_len()));
        Self { views, subnets }
    }

    /// The view for a client, and its index (0 is the default view).
    pub fn lookup(&self, client: IpAddr) -> (usize, &View) {
        // An IPv4 client on a dual-stack socket (`::ffff:10.1.2.3`) is matched as IPv4.
        let client = client.to_canonical();
        let index = self
            .subnets
            .iter()
            .find(|(net, _)| net.contains(&client))
            .map_or(0, |(_, i)| *i);
        (index, &self.views[index])
    }

    /// Every view, the default first; indexes match [`lookup`](Self::lookup).
    pub fn views(&self) -> &[View] {
        &self.views
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DnsViewConfig;

    fn view(name: &str, subnets: &[&str], gw: &str) -> DnsViewConfig {
        DnsViewConfig {
            name: name.into(),
            subnets: subnets.iter().map(|s| s.parse().unwrap()).collect(),
            group: None,
            gateway: vec![gw.parse().unwrap()],
            fail: None,
            redirect: true,
        }
    }

    #[test]
    fn longest_prefix_wins_regardless_of_order() {
        let dns = DnsConfig {
            gateway: vec!["192.0.2.1".parse().unwrap()],
            views: vec![
                view("wide", &["10.0.0.0/8"], "192.0.2.10"),
                view("narrow", &["10.1.0.0/16"], "192.0.2.20"),
            ],
            ..DnsConfig::default()
        };
        let t = ViewTable::from_config(&dns);
        assert_eq!(t.lookup("10.1.2.3".parse().unwrap()).1.name, "narrow");
        assert_eq!(t.lookup("10.2.2.3".parse().unwrap()).1.name, "wide");
        assert_eq!(
            t.lookup("::ffff:10.1.0.9".parse().unwrap()).1.name,
            "narrow"
        );
        let (i, d) = t.lookup("172.16.0.1".parse().unwrap());
        assert_eq!((i, d.name.as_str()), (0, "default"));
        assert_eq!(d.gateway, vec!["192.0.2.1".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn views_inherit_gateway_and_fail_policy() {
        let mut v = view("x", &["10.0.0.0/8"], "192.0.2.9");
        v.gateway.clear();
        let dns = DnsConfig {
            gateway: vec!["192.0.2.1".parse().unwrap()],
            fail: FailPolicy::Open,
            views: vec![v],
            ..DnsConfig::default()
        };
        let t = ViewTable::from_config(&dns);
        let (_, x) = t.lookup("10.0.0.1".parse().unwrap());
        assert_eq!(x.gateway, dns.gateway);
        assert_eq!(x.fail, FailPolicy::Open);
    }
}
