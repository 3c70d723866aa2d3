//! The part of the configuration that reloads: names, views, allow list, TTL, rate. Built
//! whole and swapped in one store, so a query sees either the old or the new policy.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use settings::DnsConfig;
use settings::dns::{NameSet, ViewTable};

use crate::DnsError;
use crate::rate_limit::Rates;
use crate::stats::{Counters, ViewCounters};

/// One generation of the reloadable policy.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) names: NameSet,
    pub(crate) views: ViewTable,
    /// Indexed like `views.views()`.
    pub(crate) counters: Vec<Arc<ViewCounters>>,
    pub(crate) allow: Vec<IpNet>,
    pub(crate) ttl: u32,
    pub(crate) rates: Rates,
    pub(crate) query_log: settings::QueryLog,
    /// Query log lines per second (0: no limit).
    pub(crate) query_log_rate: u32,
    /// Bumped on every reload; the SOA serial of negative answers.
    pub(crate) serial: u32,
}

impl Live {
    pub(crate) fn from_config(
        dns: &DnsConfig,
        counters: &Counters,
        serial: u32,
    ) -> Result<Self, DnsError> {
        let names =
            NameSet::from_config(dns.builtin_names, &dns.names).map_err(DnsError::Config)?;
        let views = ViewTable::from_config(dns);
        let counters = views
            .views()
            .iter()
            .map(|v| counters.view(&v.name))
            .collect();
        Ok(Self {
            names,
            views,
            counters,
            allow: dns.allow.iter().map(IpNet::trunc).collect(),
            ttl: dns.ttl,
            rates: Rates {
                answers: dns.rate_limit,
                bytes: dns.rate_limit_bytes,
            },
            query_log: dns.query_log,
            query_log_rate: dns.query_log_rate,
            serial,
        })
    }

    /// Whether `client` may query at all.
    pub(crate) fn allowed(&self, client: IpAddr) -> bool {
        // An IPv4 client on a dual-stack socket (`::ffff:10.1.2.3`) counts as IPv4.
        let client = client.to_canonical();
        self.allow.iter().any(|net| net.contains(&client))
    }
}
