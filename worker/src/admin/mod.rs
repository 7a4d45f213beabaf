//! The admin endpoint: `/metrics` (Prometheus text), `/healthz` (the process answers and no
//! rule call is stuck) and `/readyz` (connected to the broker, rules loaded), on `--admin-addr`.

mod metrics;
mod server;
mod stalls;

pub(crate) use metrics::{Metrics, Settled};
pub(crate) use server::{Target, serve};
