//! Part 2, round trip: one pair of lab clients plays ping-pong.

use std::time::{Duration, Instant};

use lab::{LabConfig, LabServer};

use crate::STALL;
use crate::gateway::{Gateway, Route};
use crate::ims::login_all;
use crate::settings::Settings;

pub(crate) struct LatencyRow {
    pub(crate) rounds: usize,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) mean_ms: f64,
}

pub(crate) async fn ping_pong(
    route: Route,
    s: &Settings,
) -> (Result<LatencyRow, String>, Option<tempfile::TempDir>) {
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let gateway = match route.capture() {
        Some(mode) => {
            Some(Gateway::start(lab.auth_addr, mode, s.base.as_deref(), route.policy()).await)
        }
        None => None,
    };
    let entry = gateway.as_ref().map_or(lab.auth_addr, |g| g.addr);
    let result = async {
        let mut clients = login_all(entry, vec!["pinga".into(), "pingb".into()]).await?;
        let mut b = clients.pop().unwrap();
        let mut a = clients.pop().unwrap();
        let warmup = 20;
        let limit = Duration::from_secs_f64(s.latency_secs);
        let mut rtts = Vec::with_capacity(s.latency_rounds);
        let mut started = Instant::now();
        for i in 0..warmup + s.latency_rounds {
            if i == warmup {
                started = Instant::now();
            }
            if i > warmup && started.elapsed() >= limit {
                break;
            }
            let t = Instant::now();
            a.send_im("pingb", "ping")
                .await
                .map_err(|e| e.to_string())?;
            b.expect_im("pinga", STALL)
                .await
                .map_err(|e| e.to_string())?;
            b.send_im("pinga", "pong")
                .await
                .map_err(|e| e.to_string())?;
            a.expect_im("pingb", STALL)
                .await
                .map_err(|e| e.to_string())?;
            if i >= warmup {
                rtts.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let mean_ms = rtts.iter().sum::<f64>() / rtts.len().max(1) as f64;
        rtts.sort_by(f64::total_cmp);
        Ok(LatencyRow {
            rounds: rtts.len(),
            p50_ms: percentile(&rtts, 0.5),
            p99_ms: percentile(&rtts, 0.99),
            mean_ms,
        })
    }
    .await;
    let dir = match gateway {
        Some(g) => g.shutdown().await,
        None => None,
    };
    lab.stop().await;
    (result, dir)
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
