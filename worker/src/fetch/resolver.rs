//! The HTTP client's DNS resolver: the system's (getaddrinfo), keeping only the addresses
//! the destination policy allows. The client connects to nothing else, so a name that
//! resolves (or is rebound) to a private address between two checks cannot slip through.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::policy::{Policy, Refused};

pub(super) struct PolicyResolver {
    pub(super) policy: Policy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (kept, refused) = filter(policy, found);
            if kept.is_empty()
                && let Some(detail) = refused
            {
                return Err(Box::new(Refused { host, detail }) as _);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The addresses `policy` allows, and a description of the first it refused.
fn filter(policy: Policy, found: Vec<SocketAddr>) -> (Vec<SocketAddr>, Option<String>) {
    let mut refused = None;
    let kept = found
        .into_iter()
        .filter(|a| match policy.check_ip(a.ip()) {
            Ok(()) => true,
            Err(r) => {
                refused.get_or_insert_with(|| {
                    format!("it resolves to {}, a {} address", a.ip(), r.label())
                });
                false
            }
        })
        .collect();
    (kept, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_addresses_are_dropped_and_the_rest_kept() {
        let found: Vec<SocketAddr> = ["10.0.0.1:0", "93.184.215.14:0", "[::1]:0"]
            .iter()
            .map(|a| a.parse().expect("addr"))
            .collect();
        let deny = Policy {
            allow_private: false,
        };
        let (kept, refused) = filter(deny, found.clone());
        assert_eq!(kept, [found[1]]);
        assert_eq!(
            refused.as_deref(),
            Some("it resolves to 10.0.0.1, a private address")
        );
        let (kept, refused) = filter(
            Policy {
                allow_private: true,
            },
            found.clone(),
        );
        assert_eq!((kept, refused), (found, None));
    }

    #[tokio::test]
    async fn a_name_resolving_only_to_refused_addresses_is_an_error() {
        let resolver = PolicyResolver {
            policy: Policy {
                allow_private: false,
            },
        };
        let name: Name = "localhost".parse().expect("name");
        let Err(e) = resolver.resolve(name).await else {
            panic!("localhost was resolved");
        };
        let refused = e.downcast_ref::<Refused>().expect("a Refused error");
        assert_eq!(refused.host, "localhost");
        assert!(refused.detail.contains("loopback"), "{refused}");
    }
}
