//! Where webhooks may go: no server-side request forgery.
//!
//! A target must be `https://` and reach only public addresses; loopback, private, link-local,
//! shared (CGNAT), multicast, reserved and cloud-metadata addresses are refused, in every
//! spelling (IPv4-mapped and NAT64 IPv6 included). An admin's allow-list (`--webhook-allow`)
//! names addresses and networks that may be reached anyway, over plain `http://` too.
//!
//! The check runs where the connection is made: the HTTP client resolves names through
//! [`GuardedResolver`], which hands it only permitted addresses, so the address checked is the
//! address connected to (a name that resolves differently a second later gains nothing).
//! Redirects are not followed and proxies from the environment are not used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;

/// How long resolving a target's name may take.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Parses an allow-list: comma- or space-separated addresses and networks (`127.0.0.1`,
/// `10.0.0.0/8`, `::1`).
pub fn parse_allow_list(text: &str) -> Result<Vec<IpNet>, String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("{s:?} is not an address or network (write 127.0.0.1 or 10.0.0.0/8)")
                })
        })
        .collect()
}

/// The addresses webhooks may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow: Vec<IpNet>,
}

impl AddressPolicy {
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    fn listed(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allow.iter().any(|n| n.contains(&ip))
    }

    /// Whether a connection to `ip` is permitted, and if not, why.
    pub fn permits(&self, ip: IpAddr, https: bool) -> Result<(), String> {
        if self.listed(ip) {
            return Ok(());
        }
        if let Some(kind) = non_public(ip) {
            return Err(format!(
                "{ip} is a {kind} address, which webhooks may not reach; an admin can allow it with `verbund serve --webhook-allow {ip}`"
            ));
        }
        if !https {
            return Err(format!(
                "plain http:// is allowed only to addresses on the allow-list; use https:// (or allow {ip} with `verbund serve --webhook-allow`)"
            ));
        }
        Ok(())
    }

    /// Checks a target URL: its syntax, and every address its name resolves to now.
    pub async fn check(&self, url: &str) -> Result<(), String> {
        let parsed = parse_target(url)?;
        let https = parsed.scheme() == "https";
        let port = parsed.port_or_known_default().unwrap_or(443);
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => self.permits(IpAddr::V4(ip), https),
            Some(url::Host::Ipv6(ip)) => self.permits(IpAddr::V6(ip), https),
            Some(url::Host::Domain(name)) => {
                let addrs: Vec<SocketAddr> =
                    tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port)))
                        .await
                        .map_err(|_| {
                            format!(
                                "the host {name} could not be resolved within {} s",
                                RESOLVE_TIMEOUT.as_secs()
                            )
                        })?
                        .map_err(|e| format!("the host {name} cannot be resolved: {e}"))?
                        .collect();
                if addrs.is_empty() {
                    return Err(format!("the host {name} resolves to no address"));
                }
                for a in addrs {
                    self.permits(a.ip(), https)
                        .map_err(|why| format!("{name} resolves to {}: {why}", a.ip()))?;
                }
                Ok(())
            }
            None => Err("the URL has no host".into()),
        }
    }

    /// Checks an IP-literal host before a request (names go through [`GuardedResolver`]).
    pub(crate) fn check_literal(&self, url: &Url) -> Result<(), String> {
        let https = url.scheme() == "https";
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.permits(IpAddr::V4(ip), https),
            Some(url::Host::Ipv6(ip)) => self.permits(IpAddr::V6(ip), https),
            _ => Ok(()),
        }
    }
}

/// Parses a target URL: `http(s)://host[:port]/path`, without credentials or a fragment.
pub(crate) fn parse_target(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(format!(
            "a webhook URL starts with https:// (got {}://)",
            parsed.scheme()
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "a webhook URL may not hold credentials (they would be stored and logged); send them in a custom header instead".into(),
        );
    }
    if parsed.fragment().is_some() {
        return Err("a webhook URL has no #fragment".into());
    }
    if parsed.host().is_none() {
        return Err("the URL has no host".into());
    }
    Ok(parsed)
}

/// An IPv4 address inside an IPv6 one (mapped, compatible, NAT64, 6to4) as that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    // ::a.b.c.d (deprecated IPv4-compatible) and 64:ff9b::a.b.c.d (NAT64).
    if s[..6] == [0, 0, 0, 0, 0, 0] && (s[6] != 0 || s[7] > 1) {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    // 2002:AABB:CCDD::/48 (6to4).
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// What kind of non-public address `ip` is, if it is one.
pub(crate) fn non_public(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_unspecified() || o[0] == 0 {
                Some("unspecified")
            } else if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                // 169.254.169.254 is the cloud metadata service.
                Some("link-local (cloud metadata)")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("shared (carrier-grade NAT)")
            } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
                Some("IETF protocol")
            } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
                Some("benchmarking")
            } else if v4.is_documentation() {
                Some("documentation")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if o[0] >= 240 {
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_loopback() {
                Some("loopback")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                // fd00:ec2::254 is a cloud metadata service.
                Some("unique local (private)")
            } else if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Some("documentation")
            } else if s[0] == 0x2001 && s[1] == 0 {
                Some("Teredo tunnel")
            } else if (s[0] & 0xe000) != 0x2000 {
                Some("reserved")
            } else {
                None
            }
        }
    }
}

/// The HTTP client's resolver: only addresses the policy permits (for https, or for plain
/// http when `https` is false) reach the connector.
pub(crate) struct GuardedResolver {
    pub policy: Arc<AddressPolicy>,
    pub https: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let https = self.https;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host.as_str(), 0)))
                    .await
                    .map_err(|_| format!("{host} could not be resolved in time"))??
                    .collect();
            let mut refused = None;
            let permitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.permits(a.ip(), https) {
                    Ok(()) => true,
                    Err(why) => {
                        refused.get_or_insert(why);
                        false
                    }
                })
                .collect();
            if permitted.is_empty() {
                let why = refused.unwrap_or_else(|| "no address".into());
                return Err(format!("{host} was refused: {why}").into());
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        non_public(s.parse().unwrap()).is_some()
    }

    #[test]
    fn private_and_special_addresses_are_refused_in_every_spelling() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.178.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
            "2002:7f00:0001::",
            "::127.0.0.1",
        ] {
            assert!(refused(a), "{a} should be refused");
        }
        for a in [
            "93.184.215.14",
            "2a00:1450:4001:80b::200e",
            "::ffff:93.184.215.14",
        ] {
            assert!(!refused(a), "{a} is public");
        }
    }

    #[test]
    fn the_allow_list_permits_plain_http_and_private_addresses() {
        let p = AddressPolicy::new(parse_allow_list("127.0.0.1, 10.0.0.0/8").unwrap());
        assert!(p.permits("127.0.0.1".parse().unwrap(), false).is_ok());
        assert!(
            p.permits("::ffff:127.0.0.1".parse().unwrap(), false)
                .is_ok()
        );
        assert!(p.permits("10.9.8.7".parse().unwrap(), false).is_ok());
        assert!(p.permits("127.0.0.2".parse().unwrap(), true).is_err());
        assert!(p.permits("93.184.215.14".parse().unwrap(), false).is_err());
        assert!(p.permits("93.184.215.14".parse().unwrap(), true).is_ok());
        assert!(parse_allow_list("localhost").is_err());
    }

    #[test]
    fn urls_with_credentials_or_other_schemes_are_refused() {
        assert!(parse_target("ftp://example.org/").is_err());
        assert!(parse_target("https://user:pw@example.org/").is_err());
        assert!(parse_target("https://example.org/#x").is_err());
        assert!(parse_target("https://example.org/hook?x=1").is_ok());
    }
}
