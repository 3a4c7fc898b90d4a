//! Who a request comes from, for the rate limits: the TCP peer, or behind a trusted
//! reverse proxy the address it forwards, grouped the way addresses are handed out.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Finds a request's client. Without trusted proxies it is the TCP peer; with them, and
/// when the peer is one, it is the last address of `X-Forwarded-For` that is not a
/// trusted proxy (the ones before it are whatever the client chose to send).
#[derive(Debug, Clone, Default)]
pub struct ClientResolver {
    trusted: Vec<IpNet>,
}

impl ClientResolver {
    /// A resolver that believes the forwarding header of these proxies only.
    pub fn new(trusted: Vec<IpNet>) -> ClientResolver {
        ClientResolver { trusted }
    }

    /// The client's group: its IPv4 address, or its IPv6 /64 (one subscriber's network,
    /// in which a device picks addresses freely).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        group(self.forwarded_client(peer, headers).unwrap_or(peer))
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&unmapped(ip)))
    }

    fn forwarded_client(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        if !self.is_trusted(peer) {
            return None;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|hop| hop.trim().parse::<IpAddr>().ok())
            .collect::<Option<_>>()?;
        hops.into_iter().rev().find(|hop| !self.is_trusted(*hop))
    }
}

/// An IPv4-mapped IPv6 address as IPv4, any other address as is.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// IPv4 addresses stand alone; IPv6 ones are grouped by their /64.
fn group(ip: IpAddr) -> IpAddr {
    match unmapped(ip) {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let resolver = ClientResolver::default();
        let client = resolver.client(ip("127.0.0.1"), &forwarded("203.0.113.9"));
        assert_eq!(client, ip("127.0.0.1"));
    }

    #[test]
    fn a_trusted_proxy_forwards_the_last_untrusted_hop() {
        let resolver = ClientResolver::new(vec!["127.0.0.1/32".parse().unwrap()]);
        let headers = forwarded("198.51.100.1, 203.0.113.9, 127.0.0.1");
        assert_eq!(
            resolver.client(ip("127.0.0.1"), &headers),
            ip("203.0.113.9")
        );
        let spoofed = forwarded("203.0.113.9");
        assert_eq!(
            resolver.client(ip("192.0.2.7"), &spoofed),
            ip("192.0.2.7"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            resolver.client(ip("127.0.0.1"), &forwarded("not an address")),
            ip("127.0.0.1")
        );
        assert_eq!(
            resolver.client(ip("::ffff:127.0.0.1"), &forwarded("203.0.113.9")),
            ip("203.0.113.9"),
            "a dual-stack socket's mapped address is the proxy too"
        );
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64() {
        let resolver = ClientResolver::default();
        let a = resolver.client(ip("2001:db8:1:2:aaaa::1"), &HeaderMap::new());
        let b = resolver.client(ip("2001:db8:1:2:bbbb::9"), &HeaderMap::new());
        let c = resolver.client(ip("2001:db8:1:3::1"), &HeaderMap::new());
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
