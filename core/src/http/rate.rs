//! Rate limiting per client, with `governor`'s GCRA limiter keyed by client address.
//!
//! The client is the peer of the TCP connection, unless that peer is a configured trusted
//! proxy: then the client is the nearest address in `Forwarded` (RFC 7239) or, without it,
//! `X-Forwarded-For` that is not itself a trusted proxy, read from the right (the end a proxy
//! appends to; the left end is whatever the client chose to send). The same headers from an
//! untrusted peer are ignored, so nobody buys a fresh bucket by sending a header.
//!
//! IPv6 clients are keyed by their /64 network: one end site usually holds a whole /64 and
//! could otherwise take a new address for every request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;

/// Keyed buckets are forgotten when idle once there are this many.
const MAX_TRACKED: usize = 100_000;
/// How many requests pass between two checks of [`MAX_TRACKED`].
const SWEEP_EVERY: u64 = 1024;

/// A token bucket per client network. On several nodes each node keeps its own buckets with
/// its share of the rate (the rate divided by the number of nodes present, see
/// [`RateLimiter::share_among`]): behind a balancer that spreads a client's requests over the
/// nodes, the client gets the configured rate in total, without a store round trip per request.
pub struct RateLimiter {
    per_second: u32,
    burst: u32,
    nodes: std::sync::atomic::AtomicU32,
    limiter: std::sync::RwLock<std::sync::Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    clock: DefaultClock,
    taken: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_second", &self.per_second)
            .field("nodes", &self.nodes)
            .finish()
    }
}

fn keyed(per_second: u32, burst: u32) -> DefaultKeyedRateLimiter<IpAddr> {
    let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
    governor::RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
}

impl RateLimiter {
    /// `per_second` sustained with bursts of `burst`; `None` when the rate is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        NonZeroU32::new(per_second)?;
        Some(Self {
            per_second,
            burst,
            nodes: std::sync::atomic::AtomicU32::new(1),
            limiter: std::sync::RwLock::new(std::sync::Arc::new(keyed(per_second, burst))),
            clock: DefaultClock::default(),
            taken: AtomicU64::new(0),
        })
    }

    /// Shares the rate among `nodes` nodes: this node allows its part (rounded up). The
    /// buckets start afresh when the number changes.
    pub fn share_among(&self, nodes: usize) {
        let nodes = u32::try_from(nodes.max(1)).unwrap_or(u32::MAX);
        if self.nodes.swap(nodes, Ordering::AcqRel) == nodes {
            return;
        }
        let fresh = keyed(self.per_second.div_ceil(nodes), self.burst.div_ceil(nodes));
        *self.limiter.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(fresh);
    }

    /// The number of nodes the rate is shared among.
    pub fn nodes(&self) -> u32 {
        self.nodes.load(Ordering::Acquire)
    }

    /// Takes one request from `client`'s bucket; on refusal returns the whole seconds to wait.
    pub fn take(&self, client: IpAddr) -> Result<(), u64> {
        let limiter = self
            .limiter
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // Counting the keyed buckets visits every shard: do it once in a while, not on every
        // request.
        let n = self.taken.fetch_add(1, Ordering::Relaxed);
        if n % SWEEP_EVERY == 0 && limiter.len() > MAX_TRACKED {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(&bucket_key(client)).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }
}

/// The address a bucket is kept for: IPv4 as it is, IPv6 by its /64.
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Parses `--trusted-proxy` values: addresses (`10.0.0.7`, `::1`) or networks (`10.0.0.0/8`).
pub fn parse_trusted(values: &[String]) -> Result<Vec<IpNet>, String> {
    values
        .iter()
        .map(|v| {
            let v = v.trim();
            v.parse::<IpNet>()
                .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "trusted proxy {v:?} is neither an address nor a network; give e.g. 10.0.0.7 or 10.0.0.0/8"
                    )
                })
        })
        .collect()
}

/// The client a request comes from: see the module documentation.
pub fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let Some(peer) = peer else {
        // Requests handed to the router without a connection (in-process callers).
        return IpAddr::V4(Ipv4Addr::LOCALHOST);
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            // A hop the proxy could not name ends the walk at the last address it vouched for.
            None => break,
            Some(ip) => {
                client = *ip;
                if !is_trusted(ip) {
                    break;
                }
            }
        }
    }
    client
}

/// The `for=` addresses of `Forwarded`, else the entries of `X-Forwarded-For`, left to right;
/// `None` where an entry is not an address (`unknown`, an obfuscated name, garbage).
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<Option<IpAddr>> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| parse_node(v))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(parse_node)
        .collect()
}

/// One node: `192.0.2.7`, `192.0.2.7:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let v = raw.trim().trim_matches('"');
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = v.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted = parse_trusted(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        let h = headers(&[("x-forwarded-for", "198.51.100.9, 203.0.113.7")]);
        // Behind the proxy: the right-most address the proxy appended.
        assert_eq!(
            client_address(Some(ip("10.1.2.3")), &h, &trusted),
            ip("203.0.113.7")
        );
        // The same header straight from a client on the internet is ignored.
        assert_eq!(
            client_address(Some(ip("198.51.100.1")), &h, &trusted),
            ip("198.51.100.1")
        );
        // A chain of trusted proxies is walked through to the first untrusted address.
        let chain = headers(&[("x-forwarded-for", "203.0.113.7, 10.9.9.9")]);
        assert_eq!(
            client_address(Some(ip("::1")), &chain, &trusted),
            ip("203.0.113.7")
        );
        // Nothing forwarded: the proxy itself is the client.
        assert_eq!(
            client_address(Some(ip("10.1.2.3")), &HeaderMap::new(), &trusted),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_garbage_stops_the_walk() {
        let trusted = parse_trusted(&["127.0.0.1".into()]).unwrap();
        let h = headers(&[
            (
                "forwarded",
                r#"for="[2001:db8:cafe::17]:4711";proto=https, for=192.0.2.60:80"#,
            ),
            ("x-forwarded-for", "198.51.100.9"),
        ]);
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), &h, &trusted),
            ip("192.0.2.60")
        );
        let unknown = headers(&[("x-forwarded-for", "203.0.113.7, unknown")]);
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), &unknown, &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn bad_trusted_proxies_are_refused_with_an_example() {
        let err = parse_trusted(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(err.contains("10.0.0.0/8"), "{err}");
    }

    #[test]
    fn buckets_refuse_after_the_burst_and_ipv6_shares_its_64() {
        let rl = RateLimiter::new(1, 2).unwrap();
        let a = ip("2001:db8:1:2::1");
        assert!(rl.take(a).is_ok());
        assert!(rl.take(ip("2001:db8:1:2::ffff")).is_ok());
        let wait = rl.take(ip("2001:db8:1:2:abcd::9")).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        assert!(
            rl.take(ip("2001:db8:1:3::1")).is_ok(),
            "another /64 has its own bucket"
        );
        assert!(RateLimiter::new(0, 5).is_none());
    }

    #[test]
    fn the_rate_is_shared_among_the_nodes_present() {
        let rl = RateLimiter::new(10, 10).unwrap();
        let c = ip("192.0.2.7");
        assert_eq!((0..30).filter(|_| rl.take(c).is_ok()).count(), 10);
        // Two nodes: each allows half; the buckets start afresh.
        rl.share_among(2);
        assert_eq!(rl.nodes(), 2);
        assert_eq!((0..30).filter(|_| rl.take(c).is_ok()).count(), 5);
        // Three nodes: a third, rounded up.
        rl.share_among(3);
        assert_eq!((0..30).filter(|_| rl.take(c).is_ok()).count(), 4);
        rl.share_among(0);
        assert_eq!(rl.nodes(), 1, "never fewer than this node");
    }
}
