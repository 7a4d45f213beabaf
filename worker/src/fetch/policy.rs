//! Which destinations a fetch may connect to: public unicast addresses only, unless the
//! operator allows private hosts (`--allow-private-hosts`). Checked on literal-IP hosts
//! before connecting and on every address a name resolves to (`resolver.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why an address is refused; rendered in the error a refused fetch is dead-lettered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Unspecified,
    Loopback,
    Private,
    SharedCgnat,
    LinkLocal,
    Multicast,
    Broadcast,
    /// Documentation, benchmarking, IETF protocol assignments, reserved and discard ranges.
    Reserved,
}

impl Refusal {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refusal::Unspecified => "unspecified",
            Refusal::Loopback => "loopback",
            Refusal::Private => "private",
            Refusal::SharedCgnat => "shared (CGNAT)",
            Refusal::LinkLocal => "link-local",
            Refusal::Multicast => "multicast",
            Refusal::Broadcast => "broadcast",
            Refusal::Reserved => "reserved",
        }
    }
}

/// A destination the policy refuses: the error a refusing resolver returns, recognised in
/// reqwest's error chain by `client.rs`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host} is refused: {detail} (pass --allow-private-hosts to allow it)")]
pub(crate) struct Refused {
    pub(crate) host: String,
    pub(crate) detail: String,
}

/// The destination policy of one fetcher.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) allow_private: bool,
}

impl Policy {
    /// Whether `ip` may be connected to.
    pub(crate) fn check_ip(self, ip: IpAddr) -> Result<(), Refusal> {
        if self.allow_private {
            return Ok(());
        }
        refusal(ip).map_or(Ok(()), Err)
    }

    /// Checks a URL whose host is an IP literal (a name is checked when it resolves).
    pub(crate) fn check_url(self, url: &Url) -> Result<(), Refused> {
        let ip = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(Host::Domain(_)) | None => return Ok(()),
        };
        self.check_ip(ip).map_err(|r| Refused {
            host: url.host_str().unwrap_or_default().to_owned(),
            detail: format!("{ip} is a {} address", r.label()),
        })
    }
}

/// Why `ip` is not a public unicast address, if it is not.
fn refusal(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let [a, b, c, _] = ip.octets();
    let refused = if ip.is_broadcast() {
        Refusal::Broadcast
    } else if a == 0 && ip.is_unspecified() {
        Refusal::Unspecified
    } else if a == 0 || a >= 240 {
        // "This network" (0/8) and the reserved class E (240/4).
        Refusal::Reserved
    } else if a == 127 {
        Refusal::Loopback
    } else if a == 10 || (a == 172 && (16..32).contains(&b)) || (a == 192 && b == 168) {
        Refusal::Private
    } else if a == 100 && (64..128).contains(&b) {
        Refusal::SharedCgnat
    } else if a == 169 && b == 254 {
        Refusal::LinkLocal
    } else if (224..240).contains(&a) {
        Refusal::Multicast
    } else if (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        // IETF protocol assignments, TEST-NET-1/2/3, benchmarking.
        Refusal::Reserved
    } else {
        return None;
    };
    Some(refused)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<Refusal> {
    if ip.is_unspecified() {
        return Some(Refusal::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Refusal::Loopback);
    }
    // Addresses that carry an IPv4 address are judged by it: mapped (::ffff:0:0/96),
    // compatible (::/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
    if let Some(v4) = embedded_v4(ip) {
        return refusal_v4(v4);
    }
    let s = ip.segments();
    let refused = if (s[0] & 0xfe00) == 0xfc00 {
        Refusal::Private
    } else if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
        // Link-local, and the deprecated site-local.
        Refusal::LinkLocal
    } else if (s[0] & 0xff00) == 0xff00 {
        Refusal::Multicast
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) {
        // Documentation, discard-only.
        Refusal::Reserved
    } else {
        return None;
    };
    Some(refused)
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DENY: Policy = Policy {
        allow_private: false,
    };

    #[test]
    fn only_public_unicast_addresses_pass() {
        use Refusal::*;
        let table: &[(&str, Option<Refusal>)] = &[
            ("93.184.215.14", None),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("198.20.0.1", None),
            ("192.0.1.1", None),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Reserved)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("100.64.0.1", Some(SharedCgnat)),
            ("100.127.255.255", Some(SharedCgnat)),
            ("169.254.169.254", Some(LinkLocal)),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("255.255.255.255", Some(Broadcast)),
            ("240.0.0.1", Some(Reserved)),
            ("192.0.0.8", Some(Reserved)),
            ("192.0.2.1", Some(Reserved)),
            ("198.18.0.1", Some(Reserved)),
            ("198.51.100.1", Some(Reserved)),
            ("203.0.113.1", Some(Reserved)),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001::200e", None),
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("fec0::1", Some(LinkLocal)),
            ("ff02::1", Some(Multicast)),
            ("2001:db8::1", Some(Reserved)),
            ("100::1", Some(Reserved)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some(Loopback)),
            ("::192.168.0.1", Some(Private)),
            ("64:ff9b::a9fe:a9fe", Some(LinkLocal)),
            ("64:ff9b::808:808", None),
            ("2002:7f00:1::", Some(Loopback)),
            ("2002:c0a8:101::1", Some(Private)),
            ("2002:808:808::1", None),
        ];
        for (text, want) in table {
            let ip: IpAddr = text.parse().expect(text);
            assert_eq!(refusal(ip), *want, "{text}");
            assert_eq!(DENY.check_ip(ip), want.map_or(Ok(()), Err), "{text}");
            let open = Policy {
                allow_private: true,
            };
            assert_eq!(
                open.check_ip(ip),
                Ok(()),
                "{text} with private hosts allowed"
            );
        }
    }

    #[test]
    fn literal_hosts_are_checked_and_names_left_to_the_resolver() {
        let table: &[(&str, bool)] = &[
            ("http://127.0.0.1:8080/x", false),
            ("http://2130706433/", false),
            ("http://0x7f.1/", false),
            ("http://[::1]/", false),
            ("http://[::ffff:7f00:1]/", false),
            ("http://169.254.169.254/latest/meta-data/", false),
            ("http://8.8.8.8/", true),
            ("http://localhost/", true),
            ("https://example.com/", true),
        ];
        for (url, ok) in table {
            let url = Url::parse(url).expect(url);
            assert_eq!(DENY.check_url(&url).is_ok(), *ok, "{url}");
        }
    }
}
