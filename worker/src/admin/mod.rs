//! The admin endpoint: `/metrics` (Prometheus text), `/healthz` (the process answers) and
//! `/readyz` (connected to the broker, rules loaded), on `--admin-addr`.

mod metrics;
mod server;

pub(crate) use metrics::Metrics;
pub(crate) use server::{Target, serve};
